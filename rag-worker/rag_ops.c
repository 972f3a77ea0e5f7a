/*
 * rag_ops.c — the op table of schemas/rag.json and the small ops.
 *
 * Arguments arrive already validated against the schema (sb_rpc), so a
 * handler only reads them. rag.index and rag.delete become jobs
 * (rag_jobs.c) and are answered when the job ends; rag.query runs here, on
 * the request thread (rag_query.c); rag.reindex walks the store and queues
 * jobs; rag.stats reads counters.
 *
 * Replies:
 *   rag.index   {id, businessId, status: indexed|failed|pending, chunks,
 *                error?, retry?, retryInMs?} — "failed"/"pending" with
 *                retry:true are being retried; not_found if the store has no
 *                such document for that business
 *   rag.delete  {id, deleted}
 *   rag.query   [{id, chunkId, chunk, score, title, category, content}]
 *   rag.reindex {businessId, queued, removed}
 *   rag.stats   {embedder, index, cache, jobs, reconciled, ...}
 */
#include <stdio.h>
#include <string.h>

#include "rag.h"
#include "sb_json.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

void rag_publish(rag_ctx *r, int ev, json_t *body)
{
	char at[SB_ISO_LEN];
	if (body)
		json_object_set_new(body, "at", json_string(sb_time_iso(sb_now_ms(), at)));
	sb_publish(r->pub, ev, body);
}

void rag_update_gauges(rag_ctx *r)
{
	json_t *s = r->idx->ops->stats(r->idx, NULL);
	if (json_object_get(s, "documents")) {
		sb_gauge_set(r->m.documents, (double)sb_json_int(s, "documents", 0));
		sb_gauge_set(r->m.chunks, (double)sb_json_int(s, "chunks", 0));
	}
	json_decref(s);
}

static void op_index(sb_req *req, json_t *args, void *ctx)
{
	rag_ctx *r = ctx;
	rag_jobs_index(r->jobs, req, sb_json_str(args, "businessId"), sb_json_str(args, "id"), json_incref(args));
}

static void op_delete(sb_req *req, json_t *args, void *ctx)
{
	rag_ctx *r = ctx;
	rag_jobs_delete(r->jobs, req, sb_json_str(args, "businessId"), sb_json_str(args, "id"));
}

static void op_reindex(sb_req *req, json_t *args, void *ctx)
{
	rag_ctx *r = ctx;
	const char *biz = sb_json_str(args, "businessId");
	int queued, removed;
	sb_error err = {0};
	if (rag_reconcile_business(r, biz, true, &queued, &removed, &err) < 0)
		sb_req_fail_err(req, &err);
	else
		sb_req_ok(req, json_pack("{s:s,s:i,s:i}", "businessId", biz, "queued", queued, "removed", removed));
}

static void op_stats(sb_req *req, json_t *args, void *ctx)
{
	rag_ctx *r = ctx;
	const char *biz = sb_json_str(args, "businessId");
	rag_update_gauges(r);
	json_t *index = r->idx->ops->stats(r->idx, biz);
	json_object_set_new(index, "backend", json_string(r->idx->name));
	if (biz && r->idx->ops->list_docs)
		json_object_set_new(index, "docs", r->idx->ops->list_docs(r->idx, biz));
	json_t *out = json_pack("{s:{s:s,s:s,s:i},s:o,s:o,s:o,s:b,s:{s:i,s:i}}", "embedder", "backend",
				r->emb->name, "model", r->emb->model, "dimensions", r->emb->dim, "index", index,
				"cache", rag_cache_stats(r->cache), "jobs", rag_jobs_stats(r->jobs), "reconciled",
				atomic_load(&r->reconciled), "chunking", "size", r->chunk_size, "overlap",
				r->chunk_overlap);
	if (biz)
		json_object_set_new(out, "businessId", json_string(biz));
	sb_req_ok(req, out);
}

const sb_op_fn RAG_OPS[SB_RAG__COUNT] = {
	[SB_RAG_RAG_INDEX] = op_index,
	[SB_RAG_RAG_DELETE] = op_delete,
	[SB_RAG_RAG_QUERY] = rag_op_query,
	[SB_RAG_RAG_REINDEX] = op_reindex,
	[SB_RAG_RAG_STATS] = op_stats,
};
