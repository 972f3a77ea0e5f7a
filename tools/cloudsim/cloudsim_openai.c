/*
 * cloudsim_openai.c — POST /v1/embeddings as OpenAI serves it (the parts a
 * client can get wrong are checked the way the real API checks them).
 *
 *   - "Authorization: Bearer <key>" must match --openai-key: else 401
 *     invalid_api_key;
 *   - "model": text-embedding-3-small (1536), text-embedding-3-large (3072)
 *     or text-embedding-ada-002 (1536, no "dimensions"); anything else 404
 *     model_not_found;
 *   - "input": a non-empty string or an array of 1..2048 non-empty strings
 *     (token arrays are not simulated: 400), at most 8192 tokens each and
 *     300000 in total, a token being counted as 4 bytes (rounded up);
 *   - "dimensions": 1..the model's size; "encoding_format": float | base64.
 *
 * Embeddings are deterministic and crudely semantic, so a round trip
 * through a real index finds the right document: lowercase words (a plural
 * "s" dropped) and character trigrams, hashed with a sign into the
 * requested number of dimensions, L2-normalised. It is deliberately not
 * the worker's own local model.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudsim.h"
#include "sb_base64.h"
#include "sb_json.h"

#define MAX_INPUTS       2048
#define MAX_TOKENS_INPUT 8192
#define MAX_TOKENS_TOTAL 300000

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static void feature(float *v, int dim, const char *s, size_t n, float w)
{
	uint64_t h = fnv(s, n);
	v[h % (uint64_t)dim] += (h >> 63) ? -w : w;
}

/* One lowercase word: the word itself and its trigrams ("#ship#" → "#sh", "shi", ...). */
static void word(float *v, int dim, const char *w, size_t n)
{
	if (n > 3 && w[n - 1] == 's')
		n--;
	feature(v, dim, w, n, 1.0f);
	char b[70];
	int bl = snprintf(b, sizeof b, "#%.*s#", (int)(n < 64 ? n : 64), w);
	for (int i = 0; i + 3 <= bl; i++)
		feature(v, dim, b + i, 3, 0.35f);
}

void sim_embed(const char *text, size_t len, float *v, int dim)
{
	memset(v, 0, (size_t)dim * sizeof *v);
	char w[64];
	size_t wl = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)text[i] : ' ';
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
			if (wl < sizeof w)
				w[wl++] = (char)c;
		} else if (c >= 'A' && c <= 'Z') {
			if (wl < sizeof w)
				w[wl++] = (char)(c + 32);
		} else if (wl) {
			word(v, dim, w, wl);
			wl = 0;
		}
	}
	double norm = 0;
	for (int i = 0; i < dim; i++)
		norm += (double)v[i] * v[i];
	if (norm == 0) {
		v[0] = 1;
		return;
	}
	for (int i = 0; i < dim; i++)
		v[i] = (float)(v[i] / sqrt(norm));
}

/* ---- the endpoint ---------------------------------------------------------------------------- */

static void fail(sim_resp *r, int status, const char *type, const char *code, const char *msg)
{
	sim_json(r, status, json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", msg, "type", type, "param",
				      "code", code));
}

static int model_size(const char *model, bool *takes_dimensions)
{
	*takes_dimensions = strncmp(model, "text-embedding-3-", 17) == 0;
	if (!strcmp(model, "text-embedding-3-small") || !strcmp(model, "text-embedding-ada-002"))
		return 1536;
	return !strcmp(model, "text-embedding-3-large") ? 3072 : 0;
}

/* The inputs as an array of strings, checked; NULL after answering 400. */
static json_t *inputs(const json_t *in, sim_resp *r, long *tokens)
{
	json_t *a = json_is_string(in) ? json_pack("[O]", in) : json_incref((json_t *)in);
	size_t n = json_array_size(a), i;
	char msg[200];
	json_t *s;
	*tokens = 0;
	if (!json_is_array(a) || n == 0 || n > MAX_INPUTS) {
		snprintf(msg, sizeof msg, "'input' must be a string or an array of 1 to %d strings", MAX_INPUTS);
		goto bad;
	}
	json_array_foreach(a, i, s) {
		long t = json_is_string(s) ? (long)(json_string_length(s) + 3) / 4 : 0;
		if (!json_is_string(s) || json_string_length(s) == 0) {
			snprintf(msg, sizeof msg, "'$.input[%zu]' is invalid: expected a non-empty string", i);
			goto bad;
		}
		if (t > MAX_TOKENS_INPUT) {
			snprintf(msg, sizeof msg, "This model's maximum context length is %d tokens, however you requested %ld tokens",
				 MAX_TOKENS_INPUT, t);
			goto bad;
		}
		*tokens += t;
	}
	if (*tokens > MAX_TOKENS_TOTAL) {
		snprintf(msg, sizeof msg, "Requested %ld tokens, max %d tokens per request", *tokens, MAX_TOKENS_TOTAL);
		goto bad;
	}
	return a;
bad:
	json_decref(a);
	fail(r, 400, "invalid_request_error", NULL, msg);
	return NULL;
}

static json_t *encode(const float *v, int dim, bool base64)
{
	if (!base64) {
		json_t *a = json_array();
		for (int i = 0; i < dim; i++)
			json_array_append_new(a, json_real(v[i]));
		return a;
	}
	char *b = malloc(sb_b64_encoded_len((size_t)dim * 4) + 1);
	sb_b64_encode(v, (size_t)dim * 4, b);
	json_t *s = json_string(b);
	free(b);
	return s;
}

/* The "data" array; a scripted fault may make it subtly wrong. */
static json_t *embed_all(const json_t *in, int dim, bool base64, sim_body broken)
{
	json_t *data = json_array(), *s;
	size_t i, n = json_array_size(in);
	float *v = malloc((size_t)dim * sizeof *v);
	json_array_foreach(in, i, s) {
		sim_embed(json_string_value(s), json_string_length(s), v, dim);
		int d = broken == SIM_DIMS ? dim / 2 : dim;
		json_int_t index = broken == SIM_BADINDEX ? (json_int_t)(n + i) : (json_int_t)i;
		json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", index,
						      "embedding", encode(v, d, base64)));
	}
	free(v);
	return data;
}

void sim_embeddings(const sim_req *rq, sim_resp *r)
{
	char want[300];
	const char *auth = sim_header(rq, "Authorization");
	sim_count("embeddings");
	snprintf(want, sizeof want, "Bearer %s", SIM.openai_key);
	if (!auth || strcmp(auth, want) != 0) {
		sim_stat("authFailures", 1, SIM_ADD);
		fail(r, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.");
		return;
	}
	if (sim_fault("embeddings", "openai", r))
		return;
	json_t *req = json_loadb(rq->body, rq->len, 0, NULL);
	const char *model = sb_json_str(req, "model"), *fmt = sb_json_str(req, "encoding_format");
	json_t *dims = json_object_get(req, "dimensions");
	bool takes_dims;
	int size = model ? model_size(model, &takes_dims) : 0;
	long tokens = 0;
	json_t *in = NULL;
	if (!json_is_object(req) || !model)
		fail(r, 400, "invalid_request_error", NULL, "We could not parse the JSON body of your request, or 'model' is missing.");
	else if (!size)
		fail(r, 404, "invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it.");
	else if (dims && (!takes_dims || !json_is_integer(dims) || json_integer_value(dims) < 1 || json_integer_value(dims) > size))
		fail(r, 400, "invalid_request_error", NULL, "This model does not support specifying dimensions of that size.");
	else if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0)
		fail(r, 400, "invalid_request_error", NULL, "'encoding_format' must be float or base64.");
	else if ((in = inputs(json_object_get(req, "input"), r, &tokens))) {
		int dim = dims ? (int)json_integer_value(dims) : size;
		json_t *data = embed_all(in, dim, fmt && !strcmp(fmt, "base64"), r->broken);
		sim_json(r, 200, json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", model,
					   "usage", "prompt_tokens", (json_int_t)tokens, "total_tokens", (json_int_t)tokens));
		sim_stat("embeddedInputs", (long)json_array_size(in), SIM_ADD);
		sim_stat("maxInputsPerRequest", (long)json_array_size(in), SIM_MAX);
		sim_stat("lastDimensions", dims ? (long)json_integer_value(dims) : 0, SIM_SET);
		sim_stat("base64Requests", fmt && !strcmp(fmt, "base64"), SIM_ADD);
	}
	json_decref(in);
	json_decref(req);
}
