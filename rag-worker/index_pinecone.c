/*
 * index_pinecone.c — the Pinecone backend (data plane, REST) of the vector
 * index interface.
 *
 * Every request goes to the index host with "Api-Key", a pinned
 * "X-Pinecone-Api-Version" and an explicit namespace (--pinecone-namespace).
 * All businesses share the namespace; isolation comes from metadata:
 *
 *   record id   "<docId>#<n>"
 *   metadata    {businessId, docId, chunk, title, category?, fingerprint,
 *                text, truncated}
 *               flat, under 40 KB: a long chunk text is cut (truncated:
 *               true) and the full text is read back from the store
 *   query       {"vector", "topK", "filter": {"businessId": {"$eq": biz}},
 *                "includeMetadata": true}; matches of any other business
 *               are dropped again on our side, in case a filter is ever lost
 *
 * put_doc upserts in batches of at most 1000 records and 2 MB of JSON
 * (floats with 9 significant digits), then deletes the chunk ids
 * [n, stale_upto) an older, longer version may have left. delete_doc
 * deletes by metadata filter (docId, and businessId when known), which
 * needs no chunk count. Upserts and deletes are idempotent, so every call
 * is retried on 429, 408 and 5xx (sb_http policy); other 4xx are permanent.
 * Pinecone is eventually consistent: a query right after an upsert may not
 * see it yet.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_index.h"
#include "sb_http.h"
#include "sb_json.h"

#define MAX_BATCH_BYTES  (2000u * 1000u)  /* under Pinecone's 2 MB, with room for the envelope */
#define MAX_BATCH_COUNT  1000
#define MAX_META_BYTES   (40u * 1000u)    /* 40 KB, counted conservatively */
#define DUMP_FLAGS       (JSON_COMPACT | JSON_REAL_PRECISION(9))

typedef struct pinecone_index {
	rag_index     base;
	sb_http      *http;
	char          url[512]; /* scheme://host, no trailing slash */
	char          key_hdr[512];
	char          ver_hdr[96];
	char          ns[128];
	sb_http_retry retry;       /* writes: patient */
	sb_http_retry query_retry; /* a query inside a live call: one quick retry within the budget */
	int           query_timeout_ms;
} pinecone_index;

/* ---- transport --------------------------------------------------------------------- */

/* A printable summary of an error body (rpcStatus "message", or the raw text). */
static void error_message(const sb_http_resp *r, char *out, size_t len)
{
	json_t *j = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
	const char *m = json_is_string(j) ? json_string_value(j) : sb_json_str(j, "message");
	snprintf(out, len, "%.150s", m ? m : r->body);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	json_decref(j);
}

static int http_error(const char *what, const sb_http_resp *r, sb_error *err)
{
	char d[200], msg[160];
	sb_http_describe(r, d, sizeof d);
	if (r->status == 0)
		return sb_error_set(err, SB_UNAVAILABLE, "pinecone %s: %s", what, d);
	error_message(r, msg, sizeof msg);
	sb_code c = SB_UNAVAILABLE;
	if (r->status == 401 || r->status == 402 || r->status == 403)
		c = SB_PERMISSION_DENIED;
	else if (r->status >= 400 && r->status < 500 && r->status != 408 && r->status != 429)
		c = SB_INVALID_ARGUMENT;
	return sb_error_set(err, c, "pinecone %s: %s: %s", what, d, msg);
}

/* POST body (stolen) to path; *out gets the parsed reply when out is not NULL. */
static int post(pinecone_index *p, const char *path, json_t *body, json_t **out, sb_error *err)
{
	bool query = strcmp(path, "/query") == 0;
	char url[640];
	snprintf(url, sizeof url, "%s%s", p->url, path);
	char *js = json_dumps(body, DUMP_FLAGS);
	json_decref(body);
	if (!js)
		return sb_error_set(err, SB_INTERNAL, "pinecone %s: request could not be encoded", path);
	const char *hdrs[] = {p->key_hdr, p->ver_hdr, "Content-Type: application/json", "Accept: application/json", NULL};
	sb_http_req rq = {.url = url, .headers = hdrs, .body = js, .body_len = strlen(js),
			  .timeout_ms = query ? p->query_timeout_ms : 0};
	sb_http_resp rs;
	int rc = sb_http_call(p->http, &rq, query ? &p->query_retry : &p->retry, NULL, NULL, &rs);
	free(js);
	if (rc < 0) {
		rc = http_error(path, &rs, err);
	} else if (out) {
		json_error_t je;
		*out = json_loadb(rs.body, rs.len, 0, &je);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = sb_error_set(err, SB_UNAVAILABLE, "pinecone %s: malformed response: %s", path, je.text);
		}
	}
	sb_http_resp_free(&rs);
	return rc;
}

/* ---- upsert --------------------------------------------------------------------------- */

static json_t *float_array(const float *v, int dim)
{
	json_t *a = json_array();
	for (int i = 0; i < dim; i++)
		json_array_append_new(a, json_real(isfinite(v[i]) ? v[i] : 0.0));
	return a;
}

/* Metadata of chunk k, with its text cut until the whole object fits the limit. */
static json_t *metadata(const rag_doc_in *d, size_t k)
{
	const char *text = d->chunks[k].text;
	size_t keep = strlen(text);
	for (;;) {
		json_t *m = json_pack("{s:s,s:s,s:I,s:s,s:o,s:b}", "businessId", d->biz, "docId", d->id, "chunk",
				      (json_int_t)k, "title", d->title, "text", sb_json_stringn_lossy(text, keep),
				      "truncated", keep < strlen(text));
		if (d->category)
			json_object_set_new(m, "category", json_string(d->category));
		if (d->fingerprint)
			json_object_set_new(m, "fingerprint", json_string(d->fingerprint));
		size_t size = json_dumpb(m, NULL, 0, DUMP_FLAGS);
		if (size <= MAX_META_BYTES || keep == 0)
			return m;
		json_decref(m);
		size_t over = size - MAX_META_BYTES + 64;
		keep = keep > over ? keep - over : 0;
		while (keep && ((unsigned char)text[keep] & 0xC0) == 0x80)
			keep--;
	}
}

static json_t *record(const pinecone_index *p, const rag_doc_in *d, size_t k)
{
	char id[160];
	snprintf(id, sizeof id, "%s#%zu", d->id, k);
	return json_pack("{s:s,s:o,s:o}", "id", id, "values", float_array(d->chunks[k].vec, p->base.dim), "metadata",
			 metadata(d, k));
}

static int upsert(pinecone_index *p, json_t *vectors, sb_error *err)
{
	json_t *reply = NULL;
	int rc = post(p, "/vectors/upsert", json_pack("{s:o,s:s}", "vectors", vectors, "namespace", p->ns), &reply, err);
	json_decref(reply);
	return rc;
}

/* Upsert every chunk of d, flushing a batch before it passes 1000 records or 2 MB. */
static int upsert_doc(pinecone_index *p, const rag_doc_in *d, sb_error *err)
{
	json_t *batch = json_array();
	size_t bytes = 0;
	int rc = 0;
	for (size_t k = 0; k < d->n && rc == 0; k++) {
		json_t *rec = record(p, d, k);
		size_t size = json_dumpb(rec, NULL, 0, DUMP_FLAGS) + 1;
		if (json_array_size(batch) && (bytes + size > MAX_BATCH_BYTES || json_array_size(batch) == MAX_BATCH_COUNT)) {
			rc = upsert(p, batch, err);
			batch = json_array();
			bytes = 0;
		}
		json_array_append_new(batch, rec);
		bytes += size;
	}
	if (rc == 0 && json_array_size(batch))
		return upsert(p, batch, err);
	json_decref(batch);
	return rc;
}

/* Delete chunk ids [from, to) of doc, 1000 per request. */
static int delete_range(pinecone_index *p, const char *doc, size_t from, size_t to, sb_error *err)
{
	for (size_t k = from; k < to;) {
		json_t *ids = json_array();
		char id[160];
		for (; k < to && json_array_size(ids) < MAX_BATCH_COUNT; k++) {
			snprintf(id, sizeof id, "%s#%zu", doc, k);
			json_array_append_new(ids, json_string(id));
		}
		if (post(p, "/vectors/delete", json_pack("{s:o,s:s}", "ids", ids, "namespace", p->ns), NULL, err) < 0)
			return -1;
	}
	return 0;
}

static int pc_put_doc(rag_index *x, const rag_doc_in *d, sb_error *err)
{
	pinecone_index *p = (pinecone_index *)x;
	if (upsert_doc(p, d, err) < 0)
		return -1;
	return d->stale_upto > d->n ? delete_range(p, d->id, d->n, d->stale_upto, err) : 0;
}

static int pc_delete_doc(rag_index *x, const char *biz, const char *doc, bool *existed, sb_error *err)
{
	pinecone_index *p = (pinecone_index *)x;
	json_t *filter = json_pack("{s:{s:s}}", "docId", "$eq", doc);
	if (biz)
		json_object_set_new(filter, "businessId", json_pack("{s:s}", "$eq", biz));
	*existed = true; /* Pinecone does not say whether anything matched */
	return post(p, "/vectors/delete", json_pack("{s:o,s:s}", "filter", filter, "namespace", p->ns), NULL, err);
}

/* ---- query ------------------------------------------------------------------------------ */

/* Read one match into h; false (skipped) if it is malformed or not of business biz. */
static bool read_match(const json_t *m, const char *biz, rag_hit *h)
{
	const json_t *meta = json_object_get(m, "metadata"), *score = json_object_get(m, "score");
	const char *id = sb_json_str(m, "id"), *mbiz = sb_json_str(meta, "businessId");
	const char *doc = sb_json_str(meta, "docId"), *title = sb_json_str(meta, "title");
	const char *text = sb_json_str(meta, "text");
	const json_t *chunk = json_object_get(meta, "chunk");
	if (!id || !json_is_number(score) || !mbiz || strcmp(mbiz, biz) != 0 || !doc || !title || !text ||
	    !json_is_number(chunk))
		return false;
	h->doc_id = strdup(doc);
	h->title = strdup(title);
	h->category = sb_json_str(meta, "category") ? strdup(sb_json_str(meta, "category")) : NULL;
	h->text = strdup(text);
	h->chunk = (int)json_number_value(chunk);
	h->score = (float)json_number_value(score);
	h->truncated = json_is_true(json_object_get(meta, "truncated"));
	return true;
}

static int cmp_hit(const void *a, const void *b)
{
	float x = ((const rag_hit *)a)->score, y = ((const rag_hit *)b)->score;
	return x < y ? 1 : x > y ? -1 : 0;
}

static int pc_query(rag_index *x, const char *biz, const float *q, int k, float min_score, rag_hit *out,
		    int *nout, sb_error *err)
{
	pinecone_index *p = (pinecone_index *)x;
	json_t *body = json_pack("{s:o,s:i,s:{s:{s:s}},s:b,s:b,s:s}", "vector", float_array(q, x->dim), "topK", k,
				 "filter", "businessId", "$eq", biz, "includeMetadata", 1, "includeValues", 0,
				 "namespace", p->ns);
	json_t *reply = NULL;
	*nout = 0;
	if (post(p, "/query", body, &reply, err) < 0)
		return -1;
	json_t *matches = json_object_get(reply, "matches");
	if (!json_is_array(matches)) {
		json_decref(reply);
		return sb_error_set(err, SB_UNAVAILABLE, "pinecone /query: response has no matches array");
	}
	for (size_t i = 0; i < json_array_size(matches) && *nout < k; i++)
		if (read_match(json_array_get(matches, i), biz, &out[*nout])) {
			if (out[*nout].score >= min_score)
				(*nout)++;
			else
				rag_hits_free(&out[*nout], 1);
		}
	json_decref(reply);
	qsort(out, (size_t)*nout, sizeof *out, cmp_hit);
	return 0;
}

/* ---- the rest -------------------------------------------------------------------------------- */

static json_t *pc_stats(rag_index *x, const char *biz)
{
	pinecone_index *p = (pinecone_index *)x;
	return json_pack("{s:s,s:s,s:i}", "host", p->url, "namespace", p->ns, "dimensions", x->dim);
}

static void pc_cancel(rag_index *x)
{
	sb_http_cancel(((pinecone_index *)x)->http);
}

static void pc_destroy(rag_index *x)
{
	pinecone_index *p = (pinecone_index *)x;
	sb_http_free(p->http);
	free(p);
}

static const rag_index_ops pinecone_ops = {
	.put_doc = pc_put_doc,
	.delete_doc = pc_delete_doc,
	.query = pc_query,
	.stats = pc_stats,
	.cancel = pc_cancel,
	.destroy = pc_destroy,
};

rag_index *index_pinecone_new(const index_pinecone_config *cfg, int dim, sb_error *err)
{
	if (!cfg->host || !*cfg->host || !cfg->api_key || !*cfg->api_key) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "the pinecone index needs --pinecone-host and PINECONE_API_KEY");
		return NULL;
	}
	pinecone_index *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->base = (rag_index){.ops = &pinecone_ops, .name = "pinecone", .dim = dim};
	const char *h = cfg->host;
	size_t hl = strlen(h);
	while (hl && h[hl - 1] == '/')
		hl--;
	bool scheme = strstr(h, "://") != NULL;
	snprintf(p->url, sizeof p->url, "%s%.*s", scheme ? "" : "https://", (int)hl, h);
	snprintf(p->key_hdr, sizeof p->key_hdr, "Api-Key: %s", cfg->api_key);
	snprintf(p->ver_hdr, sizeof p->ver_hdr, "X-Pinecone-Api-Version: %s", cfg->api_version);
	snprintf(p->ns, sizeof p->ns, "%s", cfg->ns);
	p->retry = (sb_http_retry){.max_retries = cfg->max_retries > 0 ? cfg->max_retries : -1, .base_ms = 250,
				   .max_backoff_ms = 8000, .max_retry_after_ms = 60000};
	p->query_timeout_ms = cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 3000;
	p->query_retry = (sb_http_retry){.max_retries = cfg->max_retries > 0 ? 1 : -1, .base_ms = 100,
					 .max_backoff_ms = 500, .max_retry_after_ms = p->query_timeout_ms / 2,
					 .budget_ms = p->query_timeout_ms};
	p->http = sb_http_new(&(sb_http_opts){.name = "pinecone", .timeout_ms = cfg->timeout_ms,
					      .max_response = 16u << 20});
	return &p->base;
}
