/*
 * embed_openai.c — the OpenAI embeddings backend: POST {base}/v1/embeddings.
 *
 * Request: {"model", "input": [texts], "encoding_format": "base64",
 * "dimensions"?} with "Authorization: Bearer <key>". Texts are batched by
 * count (≤ 2048, default 256) and by an estimate of tokens (a token is at
 * least one byte, so bytes/3 + 1 is a generous estimate; the API allows
 * 300k per request). Empty strings are rejected by the API, so an empty
 * text is sent as "(empty)".
 *
 * Response checks (a garbage answer is an error, never a crash): "data" is
 * an array with exactly one item per input, each "index" in range and
 * unique (results are placed by index, not by position), each "embedding"
 * a base64 string of dim float32s or an array of dim finite numbers. Every
 * vector is re-normalised.
 *
 * Retries (sb_http): 429 rate_limit_exceeded, 408, 409, 5xx, timeouts and
 * connection errors, with backoff and jitter, honouring retry-after-ms and
 * Retry-After; never 429 insufficient_quota (a billing problem) or any
 * other 4xx. Errors map to SB_UNAVAILABLE (transient: the job is retried
 * later), SB_PERMISSION_DENIED (bad key, quota) or SB_INVALID_ARGUMENT
 * (input or model rejected).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_embed.h"
#include "sb_base64.h"
#include "sb_http.h"
#include "sb_json.h"
#include "sb_log.h"

#define MAX_INPUT_BYTES 8192 /* ≤ 8192 tokens per input, and a token is ≥ 1 byte */

typedef struct openai_embedder {
	rag_embedder  base;
	sb_http      *http;
	char          url[512];
	char          auth[512];
	int           dimensions; /* sent when > 0 */
	int           batch_inputs, batch_tokens;
	sb_http_retry retry;       /* indexing: patient */
	sb_http_retry query_retry; /* a question inside a live call: one quick retry within the budget */
	int           query_timeout_ms;
} openai_embedder;

int embed_openai_model_dim(const char *model)
{
	if (!strcmp(model, "text-embedding-3-small") || !strcmp(model, "text-embedding-ada-002"))
		return 1536;
	if (!strcmp(model, "text-embedding-3-large"))
		return 3072;
	return 0;
}

/* ---- errors ------------------------------------------------------------------ */

/* error.code (or error.type) and error.message of an OpenAI error body, if any. */
static void error_fields(const sb_http_resp *r, char *code, size_t clen, char *msg, size_t mlen)
{
	code[0] = msg[0] = '\0';
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *c = sb_json_str(e, "code") ? sb_json_str(e, "code") : sb_json_str(e, "type");
	snprintf(code, clen, "%s", c ? c : "");
	snprintf(msg, mlen, "%s", sb_json_str(e, "message") ? sb_json_str(e, "message") : "");
	json_decref(j);
}

static sb_http_verdict classify(const sb_http_resp *r, void *arg)
{
	if (r->status == 429) {
		char code[64], msg[8];
		error_fields(r, code, sizeof code, msg, sizeof msg);
		if (!strcmp(code, "insufficient_quota"))
			return SB_HTTP_GIVE_UP;
	}
	return sb_http_classify_default(r, arg);
}

/* Turn the last response of a failed call into an sb_error. */
static int http_error(const sb_http_resp *r, sb_error *err)
{
	char d[200], code[64], msg[160];
	sb_http_describe(r, d, sizeof d);
	if (r->status == 0)
		return sb_error_set(err, SB_UNAVAILABLE, "openai: %s", d);
	error_fields(r, code, sizeof code, msg, sizeof msg);
	sb_code c = SB_UNAVAILABLE;
	if (r->status == 401 || r->status == 403 || (r->status == 429 && !strcmp(code, "insufficient_quota")))
		c = SB_PERMISSION_DENIED;
	else if (r->status >= 400 && r->status < 500 && r->status != 408 && r->status != 409 && r->status != 429)
		c = SB_INVALID_ARGUMENT;
	return sb_error_set(err, c, "openai: %s%s%s%s%.150s", d, *code ? " " : "", code, *msg ? ": " : "", msg);
}

/* ---- request ---------------------------------------------------------------- */

static json_t *request_body(const openai_embedder *o, const char *const *texts, size_t n)
{
	json_t *input = json_array();
	for (size_t i = 0; i < n; i++) {
		size_t len = strnlen(texts[i], MAX_INPUT_BYTES);
		bool cut = len == MAX_INPUT_BYTES;
		while (cut && len && ((unsigned char)texts[i][len] & 0xC0) == 0x80)
			len--; /* never cut a UTF-8 character */
		json_array_append_new(input, len ? sb_json_stringn_lossy(texts[i], len) : json_string("(empty)"));
	}
	json_t *body = json_pack("{s:s,s:o,s:s}", "model", o->base.model, "input", input, "encoding_format", "base64");
	if (o->dimensions > 0)
		json_object_set_new(body, "dimensions", json_integer(o->dimensions));
	return body;
}

/* ---- response ------------------------------------------------------------------ */

/* Decode one "embedding" value into v (dim floats), normalised. */
static int read_vector(const json_t *emb, float *v, int dim, sb_error *err)
{
	if (json_is_string(emb)) {
		size_t n = json_string_length(emb);
		unsigned char *raw = malloc(sb_b64_decoded_max(n) + 1);
		long got = raw ? sb_b64_decode(json_string_value(emb), n, raw) : -1;
		if (got == (long)dim * 4)
			memcpy(v, raw, (size_t)got); /* little-endian float32, as on every platform we build for */
		free(raw);
		if (got != (long)dim * 4)
			return sb_error_set(err, SB_UNAVAILABLE, "openai: embedding of %ld bytes, want %d", got, dim * 4);
	} else if (json_is_array(emb) && json_array_size(emb) == (size_t)dim) {
		for (int i = 0; i < dim; i++) {
			json_t *x = json_array_get(emb, (size_t)i);
			if (!json_is_number(x))
				return sb_error_set(err, SB_UNAVAILABLE, "openai: embedding holds a non-number");
			v[i] = (float)json_number_value(x);
		}
	} else {
		return sb_error_set(err, SB_UNAVAILABLE, "openai: embedding is not a %d-float vector", dim);
	}
	double norm = 0;
	for (int i = 0; i < dim; i++)
		norm += (double)v[i] * v[i];
	if (!isfinite(norm) || norm <= 0)
		return sb_error_set(err, SB_UNAVAILABLE, "openai: embedding is zero or not finite");
	float inv = (float)(1.0 / sqrt(norm));
	for (int i = 0; i < dim; i++)
		v[i] *= inv;
	return 0;
}

/* Place every item of a response into out by its index. */
static int read_response(const sb_http_resp *r, size_t n, int dim, float *out, sb_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(r->body, r->len, 0, &je);
	json_t *data = json_object_get(j, "data");
	int rc = 0;
	if (!json_is_array(data) || json_array_size(data) != n) {
		rc = sb_error_set(err, SB_UNAVAILABLE, "openai: malformed response (%s)",
				  j ? "data is not an array of one item per input" : je.text);
		goto out;
	}
	char *seen = calloc(n, 1);
	for (size_t k = 0; k < n && rc == 0; k++) {
		json_t *item = json_array_get(data, k), *ix = json_object_get(item, "index");
		json_int_t i = json_is_integer(ix) ? json_integer_value(ix) : -1;
		if (i < 0 || (size_t)i >= n || seen[i])
			rc = sb_error_set(err, SB_UNAVAILABLE, "openai: response item %zu has a bad index", k);
		else
			rc = read_vector(json_object_get(item, "embedding"), out + (size_t)i * (size_t)dim, dim, err);
		if (rc == 0)
			seen[i] = 1;
	}
	free(seen);
out:
	json_decref(j);
	return rc;
}

/* One request for texts[0..n); query: with the query's timeout and retry budget. */
static int embed_batch(openai_embedder *o, const char *const *texts, size_t n, float *out, bool query, sb_error *err)
{
	json_t *body = request_body(o, texts, n);
	size_t len;
	char *js = sb_json_dump(body, &len);
	json_decref(body);
	if (!js)
		return sb_error_set(err, SB_INTERNAL, "openai: request could not be encoded");
	const char *hdrs[] = {o->auth, "Content-Type: application/json", "Accept: application/json", NULL};
	sb_http_req rq = {.url = o->url, .headers = hdrs, .body = js, .body_len = len,
			  .timeout_ms = query ? o->query_timeout_ms : 0};
	sb_http_resp rs;
	int rc = sb_http_call(o->http, &rq, query ? &o->query_retry : &o->retry, classify, NULL, &rs);
	free(js);
	if (rc < 0)
		rc = http_error(&rs, err);
	else
		rc = read_response(&rs, n, o->base.dim, out, err);
	sb_http_resp_free(&rs);
	return rc;
}

static int openai_embed_docs(rag_embedder *e, const char *const *texts, size_t n, float *out, sb_error *err)
{
	openai_embedder *o = (openai_embedder *)e;
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		long tokens = 0;
		while (i + k < n && (int)k < o->batch_inputs) {
			long t = (long)strnlen(texts[i + k], MAX_INPUT_BYTES) / 3 + 1;
			if (k > 0 && tokens + t > o->batch_tokens)
				break;
			tokens += t;
			k++;
		}
		if (embed_batch(o, texts + i, k, out + i * (size_t)e->dim, false, err) < 0)
			return -1;
		i += k;
	}
	return 0;
}

static int openai_embed_query(rag_embedder *e, const char *biz, const char *text, float *out, sb_error *err)
{
	return embed_batch((openai_embedder *)e, &text, 1, out, true, err);
}

static void openai_destroy(rag_embedder *e)
{
	openai_embedder *o = (openai_embedder *)e;
	sb_http_free(o->http);
	free(o);
}

void embed_openai_cancel(rag_embedder *e)
{
	if (e && !strcmp(e->name, "openai"))
		sb_http_cancel(((openai_embedder *)e)->http);
}

static const rag_embed_ops openai_ops = {
	.embed_docs = openai_embed_docs,
	.embed_query = openai_embed_query,
	.destroy = openai_destroy,
};

rag_embedder *embed_openai_new(const embed_openai_config *cfg, sb_error *err)
{
	int dim = cfg->dimensions > 0 ? cfg->dimensions : embed_openai_model_dim(cfg->model);
	if (!cfg->api_key || !*cfg->api_key) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "the openai embedder needs an API key (OPENAI_API_KEY)");
		return NULL;
	}
	if (dim <= 0) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "unknown model %s: set --dimensions", cfg->model);
		return NULL;
	}
	openai_embedder *o = calloc(1, sizeof *o);
	if (!o)
		abort();
	o->base = (rag_embedder){.ops = &openai_ops, .name = "openai", .dim = dim, .query_cacheable = true};
	snprintf(o->base.model, sizeof o->base.model, "%s", cfg->model);
	const char *base = cfg->base_url;
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	snprintf(o->url, sizeof o->url, "%.*s/v1/embeddings", (int)bl, base);
	snprintf(o->auth, sizeof o->auth, "Authorization: Bearer %s", cfg->api_key);
	o->dimensions = cfg->dimensions;
	o->batch_inputs = cfg->batch_inputs > 0 && cfg->batch_inputs <= 2048 ? cfg->batch_inputs : 256;
	o->batch_tokens = cfg->batch_tokens > 0 && cfg->batch_tokens <= 300000 ? cfg->batch_tokens : 200000;
	o->retry = (sb_http_retry){.max_retries = cfg->max_retries > 0 ? cfg->max_retries : -1,
				   .base_ms = 500, .max_backoff_ms = 8000, .max_retry_after_ms = 60000};
	o->query_timeout_ms = cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 3000;
	o->query_retry = (sb_http_retry){.max_retries = cfg->max_retries > 0 ? 1 : -1, .base_ms = 100,
					 .max_backoff_ms = 500, .max_retry_after_ms = o->query_timeout_ms / 2,
					 .budget_ms = o->query_timeout_ms};
	o->http = sb_http_new(&(sb_http_opts){.name = "openai", .timeout_ms = cfg->timeout_ms,
					      .max_response = 64u << 20});
	return &o->base;
}
