/*
 * rag_query.c — rag.query, the path that sits inside a live call.
 *
 *   embed the question (cache hit for a repeated question when the model
 *   allows it) → top-k of the business's own chunks (rag_index.h) →
 *   [{id, chunkId, chunk, score, title, category, content}], best first.
 *
 * Runs on a request thread, never behind indexing (jobs have their own
 * threads). A hit whose text was cut to fit Pinecone's metadata limit gets
 * its full text from the store (the document, chunked the same way).
 * Publishes rag.queried with the number of results and the latency.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag.h"
#include "sb_json.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

#define MAX_TOPK 50 /* schemas/rag.json */

void rag_hits_free(rag_hit *h, int n)
{
	for (int i = 0; i < n; i++) {
		free(h[i].doc_id);
		free(h[i].title);
		free(h[i].category);
		free(h[i].text);
	}
}

/* Replace a truncated hit's text with the chunk re-made from the stored document. */
static void complete_text(rag_ctx *r, rag_hit *h)
{
	json_t *doc = NULL;
	sb_error err;
	if (store_knowledge_get(r->store, json_pack("{s:s}", "id", h->doc_id), &doc, &err) < 0)
		return; /* keep the truncated text: better than nothing */
	rag_chunks c;
	rag_chunk_split(sb_json_str(doc, "content"), r->chunk_size, r->chunk_overlap, &c);
	if (h->chunk >= 0 && (size_t)h->chunk < c.n) {
		free(h->text);
		h->text = strdup(c.text[h->chunk]);
		h->truncated = false;
	}
	rag_chunks_free(&c);
	json_decref(doc);
}

static json_t *hit_json(const rag_hit *h)
{
	char chunk_id[160];
	snprintf(chunk_id, sizeof chunk_id, "%s#%d", h->doc_id, h->chunk);
	return json_pack("{s:o,s:o,s:i,s:f,s:o,s:o,s:o}", "id", sb_json_string_or_null(h->doc_id), "chunkId",
			 sb_json_string_or_null(chunk_id), "chunk", h->chunk, "score", (double)h->score, "title",
			 sb_json_string_or_null(h->title), "category", sb_json_string_or_null(h->category), "content",
			 sb_json_string_or_null(h->text));
}

/* Embed and search; 0 with hits, or -1 with err. */
static int search(rag_ctx *r, json_t *args, rag_hit *hits, int *n, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId"), *q = sb_json_str(args, "query");
	int k = (int)sb_json_int(args, "topK", r->default_topk);
	float min_score = (float)sb_json_num(args, "minScore", -INFINITY);
	float *v = malloc((size_t)r->emb->dim * sizeof *v);
	if (!v)
		abort();
	int rc = rag_embed_query_cached(r, biz, q, v, err);
	if (rc == 0)
		rc = r->idx->ops->query(r->idx, biz, v, k > MAX_TOPK ? MAX_TOPK : k, min_score, hits, n, err);
	free(v);
	for (int i = 0; rc == 0 && i < *n; i++)
		if (hits[i].truncated)
			complete_text(r, &hits[i]);
	return rc;
}

void rag_op_query(sb_req *req, json_t *args, void *ctx)
{
	rag_ctx *r = ctx;
	int64_t t0 = sb_mono_us();
	rag_hit hits[MAX_TOPK];
	int n = 0;
	sb_error err = {0};
	sb_counter_inc(r->m.queries);
	if (search(r, args, hits, &n, &err) < 0) {
		sb_counter_inc(r->m.query_errors);
		sb_req_fail_err(req, &err);
		return;
	}
	json_t *out = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(out, hit_json(&hits[i]));
	rag_hits_free(hits, n);
	double ms = (double)(sb_mono_us() - t0) / 1000.0;
	sb_histogram_observe(r->m.query_ms, ms);
	sb_histogram_observe(r->m.query_results, n);
	rag_publish(r, SB_EV_RAG_QUERIED, json_pack("{s:s,s:i,s:f}", "businessId", sb_json_str(args, "businessId"),
						    "results", n, "latencyMs", ms));
	sb_req_ok(req, out);
}
