/*
 * rag_indexer.c — what one index or delete job does (rag_jobs.c runs them).
 *
 * Indexing a document, with the store (sb-store, knowledge.* ops) as the
 * source of truth:
 *
 *   1. knowledge.get: the document must exist and belong to the business
 *      asked for (a tenant can never index into another's id); without a
 *      request, its content comes from here too.
 *   2. chunk (rag_chunk.c).
 *   3. knowledge.set_status pending, with chunks = max(previous, new): while
 *      pending, "chunks" is a high-water mark of the chunk ids that may
 *      exist in the index, so a crash after a partial upsert never leaves
 *      chunks nobody will delete.
 *   4. embed "title\n\nchunk" of every chunk, through the cache.
 *   5. put_doc (replaces the document's chunks; durable before it returns).
 *   6. update the embedder's corpus statistics (local IDF).
 *   7. knowledge.set_status indexed, with the exact chunk count.
 *
 * A failure at 3–7 is recorded as knowledge.set_status failed with the
 * reason; transient failures (codes unavailable and deadline_exceeded, from
 * the store or a backend) are retried by rag_jobs.c, others are not. If the
 * document disappears from the store meanwhile, its chunks are removed
 * again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag.h"
#include "sb_hmac.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_schema_gen.h"

static bool transient(const sb_error *e)
{
	return e->code == SB_UNAVAILABLE || e->code == SB_DEADLINE_EXCEEDED;
}

/* Map a failed store call (at step `what`) to an outcome. */
static rag_outcome store_failure(const char *doc, const char *what, const sb_error *e)
{
	if (e->code == SB_NOT_FOUND)
		return RAG_GONE;
	char q[200];
	sb_warn("rag.store_failed", "id=%s step=%s code=%s msg=%s", doc, what, sb_code_name(e->code),
		sb_log_quote(e->message, q, sizeof q));
	return transient(e) ? RAG_RETRY : RAG_FAILED;
}

/* knowledge.set_status; chunks < 0 and error NULL are left out. Returns the call's result. */
static int set_status(rag_ctx *r, const char *doc, const char *status, const char *error, int chunks, sb_error *err)
{
	json_t *args = json_pack("{s:s,s:s}", "id", doc, "status", status);
	if (error)
		json_object_set_new(args, "error", json_string(error));
	if (chunks >= 0)
		json_object_set_new(args, "chunks", json_integer(chunks));
	if (!strcmp(status, "indexed")) {
		char vid[160];
		snprintf(vid, sizeof vid, "%s#0", doc);
		json_object_set_new(args, "vectorId", json_string(vid));
	}
	json_t *data = NULL;
	int rc = store_knowledge_set_status(r->store, args, &data, err);
	json_decref(data);
	return rc;
}

/* Record res as failed in the store (best effort) and classify it. */
static void fail(rag_ctx *r, const char *doc, rag_result *res)
{
	res->outcome = transient(&res->err) ? RAG_RETRY : RAG_FAILED;
	char reason[sizeof res->err.message + 32];
	snprintf(reason, sizeof reason, "%s: %s", sb_code_name(res->err.code), res->err.message);
	sb_error ignored = {0};
	res->recorded = set_status(r, doc, "failed", reason, -1, &ignored) == 0;
	char q[200];
	sb_warn("rag.index_failed", "id=%s retry=%s code=%s msg=%s", doc, res->outcome == RAG_RETRY ? "yes" : "no",
		sb_code_name(res->err.code), sb_log_quote(res->err.message, q, sizeof q));
}

/* Step 1: the stored document, checked against biz. */
static json_t *stored_doc(rag_ctx *r, const char *biz, const char *doc, rag_result *res)
{
	json_t *data = NULL;
	if (store_knowledge_get(r->store, json_pack("{s:s}", "id", doc), &data, &res->err) < 0) {
		res->outcome = store_failure(doc, "knowledge.get", &res->err);
		return NULL;
	}
	const char *owner = sb_json_str(data, "businessId");
	if (!owner || (biz && strcmp(owner, biz) != 0)) {
		json_decref(data);
		sb_error_set(&res->err, SB_NOT_FOUND, "knowledge document %s not found for business %s", doc, biz);
		res->outcome = RAG_REFUSED;
		return NULL;
	}
	return data;
}

typedef struct prepared {
	const char *biz, *title, *category;
	char        fingerprint[33];
	rag_chunks  chunks;
	char      **texts; /* what is embedded */
	float      *vecs;
} prepared;

static void prepared_free(prepared *p)
{
	for (size_t i = 0; p->texts && i < p->chunks.n; i++)
		free(p->texts[i]);
	free(p->texts);
	free(p->vecs);
	rag_chunks_free(&p->chunks);
}

/* Steps 4–6: embed, store in the index, update corpus statistics. */
static int embed_and_put(rag_ctx *r, const char *doc, prepared *p, size_t stale_upto, sb_error *err)
{
	size_t n = p->chunks.n;
	int dim = r->emb->dim;
	p->texts = calloc(n, sizeof *p->texts);
	p->vecs = malloc(n * (size_t)dim * sizeof *p->vecs);
	rag_chunk_in *in = calloc(n, sizeof *in);
	if (!p->texts || !p->vecs || !in)
		abort();
	for (size_t i = 0; i < n; i++)
		p->texts[i] = rag_chunk_embed_text(p->title, p->chunks.text[i]);
	int rc = rag_embed_docs_cached(r, (const char *const *)p->texts, n, p->vecs, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		in[i] = (rag_chunk_in){p->chunks.text[i], p->vecs + i * (size_t)dim};
	rag_doc_in d = {.biz = p->biz, .id = doc, .title = p->title, .category = p->category,
			.fingerprint = p->fingerprint, .chunks = in, .n = n, .stale_upto = stale_upto};
	if (rc == 0)
		rc = r->idx->ops->put_doc(r->idx, &d, err);
	if (rc == 0 && r->emb->ops->doc_added)
		r->emb->ops->doc_added(r->emb, p->biz, doc, (const char *const *)p->texts, n);
	free(in);
	return rc;
}

/* The document was deleted from the store while we indexed it: take it out again. */
static void undo(rag_ctx *r, const char *biz, const char *doc, rag_result *res)
{
	rag_result del;
	rag_delete_document(r, biz, doc, &del);
	res->outcome = del.outcome == RAG_DONE ? RAG_GONE : RAG_RETRY;
	sb_error_set(&res->err, res->outcome == RAG_GONE ? SB_NOT_FOUND : SB_UNAVAILABLE,
		     "knowledge document %s was deleted while it was being indexed", doc);
}

void rag_fingerprint(const rag_ctx *r, const json_t *doc, char out[33])
{
	const char *parts[] = {sb_json_str(doc, "title"), sb_json_str(doc, "category"), sb_json_str(doc, "content")};
	char head[160];
	int hl = snprintf(head, sizeof head, "%s|%d|%d|%d|", r->emb->model, r->emb->dim, r->chunk_size, r->chunk_overlap);
	size_t len = (size_t)hl + 3;
	for (int i = 0; i < 3; i++)
		len += parts[i] ? strlen(parts[i]) : 0;
	char *buf = malloc(len), *o = buf;
	if (!buf)
		abort();
	memcpy(o, head, (size_t)hl);
	o += hl;
	for (int i = 0; i < 3; i++) {
		size_t n = parts[i] ? strlen(parts[i]) : 0;
		memcpy(o, parts[i] ? parts[i] : "", n);
		o += n;
		*o++ = '\0'; /* separators keep ("ab", "c") and ("a", "bc") apart */
	}
	unsigned char h[SB_SHA256_LEN];
	sb_sha256(buf, (size_t)(o - buf), h);
	free(buf);
	sb_hex(h, 16, out);
}

void rag_index_document(rag_ctx *r, const char *biz, const char *doc, json_t *args, rag_result *res)
{
	memset(res, 0, sizeof *res);
	json_t *stored = stored_doc(r, biz, doc, res);
	if (!stored) {
		if (res->outcome == RAG_GONE) /* the store has no such document: neither may the index */
			rag_delete_document(r, biz, doc, &(rag_result){0});
		return;
	}
	json_t *src = args ? args : stored;
	prepared p = {.biz = sb_json_str(stored, "businessId"), .title = sb_json_str(src, "title"),
		      .category = sb_json_str(src, "category")};
	rag_chunk_split(sb_json_str(src, "content"), r->chunk_size, r->chunk_overlap, &p.chunks);
	rag_fingerprint(r, src, p.fingerprint);
	json_int_t prev = sb_json_int(stored, "chunks", 0);
	size_t hwm = (size_t)prev > p.chunks.n ? (size_t)prev : p.chunks.n;
	if (set_status(r, doc, "pending", NULL, (int)hwm, &res->err) < 0) {
		res->outcome = store_failure(doc, "set_status pending", &res->err);
		if (res->outcome == RAG_GONE)
			rag_delete_document(r, p.biz, doc, &(rag_result){0});
	} else if (embed_and_put(r, doc, &p, hwm, &res->err) < 0) {
		fail(r, doc, res);
	} else if (set_status(r, doc, "indexed", NULL, (int)p.chunks.n, &res->err) < 0) {
		if (res->err.code == SB_NOT_FOUND)
			undo(r, p.biz, doc, res);
		else
			res->outcome = store_failure(doc, "set_status indexed", &res->err); /* the retry is cheap (cache) */
	} else {
		*res = (rag_result){.outcome = RAG_DONE, .chunks = (int)p.chunks.n, .recorded = true};
	}
	prepared_free(&p);
	json_decref(stored);
}

void rag_delete_document(rag_ctx *r, const char *biz, const char *doc, rag_result *res)
{
	memset(res, 0, sizeof *res);
	if (r->idx->ops->delete_doc(r->idx, biz, doc, &res->existed, &res->err) < 0) {
		res->outcome = transient(&res->err) ? RAG_RETRY : RAG_FAILED;
		return;
	}
	if (r->emb->ops->doc_removed)
		r->emb->ops->doc_removed(r->emb, biz, doc);
	res->outcome = RAG_DONE;
}
