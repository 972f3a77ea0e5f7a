/*
 * cloudsim_pinecone.c — the Pinecone data plane (API version 2025-10
 * shapes), with the limits a client must respect enforced:
 *
 *   - "Api-Key" must match --pinecone-key (401), and
 *     "X-Pinecone-Api-Version" must be one of --pinecone-versions (400;
 *     stricter than Pinecone, which falls back to its oldest version, so a
 *     client that forgets to pin is caught);
 *   - upsert: 1..1000 vectors, body ≤ 2 MB, ids 1..512 bytes, values of the
 *     index dimension (fixed by --index-dimension or the first upsert) with
 *     at least one non-zero, metadata flat (strings, numbers, booleans,
 *     lists of strings; no null) and ≤ 40 KB;
 *   - query: topK 1..10000, exactly one of vector and id, cosine scores,
 *     best first; filter with $eq $ne $in $nin $gt $gte $lt $lte $exists
 *     $and $or and the {"field": value} shorthand;
 *   - delete: exactly one of ids (≤ 1000), deleteAll and filter;
 *   - fetch (repeated ids=), list (prefix, limit, paginationToken),
 *     describe_index_stats.
 *
 * Vectors really are stored (per namespace, in memory) and searched.
 */
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudsim.h"
#include "sb_json.h"

#define MAX_UPSERT_BYTES (2u * 1024u * 1024u)
#define MAX_META_BYTES   40960
#define MAX_BATCH        1000
#define MAX_TOPK         10000

/* Namespaces: {ns: {id: {"values": [...], "metadata": {...}}}} — jansson as the store keeps this short. */
static struct {
	pthread_mutex_t mu;
	json_t         *ns;
	int             dim;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Answer with Pinecone's rpcStatus error shape; returns -1 so operations can end with it. */
static int fail(sim_resp *r, int status, const char *msg)
{
	sim_json(r, status, json_pack("{s:i,s:s,s:[]}", "code", status == 401 ? 16 : status == 404 ? 5 : 3, "message",
				      msg, "details"));
	return -1;
}

static const char *ns_of(const json_t *body)
{
	const char *ns = sb_json_str(body, "namespace");
	return ns && *ns ? ns : "__default__";
}

/* ---- validation ------------------------------------------------------------------------------- */

static bool metadata_ok(const json_t *m, char *why, size_t len)
{
	const char *k;
	json_t *v;
	if (!json_is_object(m)) {
		snprintf(why, len, "metadata must be an object");
		return false;
	}
	json_object_foreach((json_t *)m, k, v) {
		bool ok = json_is_string(v) || json_is_number(v) || json_is_boolean(v);
		if (json_is_array(v)) {
			size_t i;
			json_t *x;
			ok = true;
			json_array_foreach(v, i, x) ok &= json_is_string(x);
		}
		if (!ok) {
			snprintf(why, len, "Metadata value for field '%s' must be a string, number, boolean or list of strings", k);
			return false;
		}
	}
	size_t size = json_dumpb(m, NULL, 0, JSON_COMPACT);
	if (size > MAX_META_BYTES) {
		snprintf(why, len, "Metadata size is %zu bytes, which exceeds the limit of %d bytes per vector", size, MAX_META_BYTES);
		return false;
	}
	return true;
}

/* Check one vector of an upsert (P.mu held: reads/sets the index dimension). */
static bool vector_ok(const json_t *v, char *why, size_t len)
{
	const char *id = sb_json_str(v, "id");
	json_t *vals = json_object_get(v, "values"), *meta = json_object_get(v, "metadata");
	size_t n = json_array_size(vals), i;
	json_t *x;
	bool nonzero = false;
	if (!id || !*id || strlen(id) > 512) {
		snprintf(why, len, "Vector ID must be 1 to 512 characters");
		return false;
	}
	if (!json_is_array(vals) || n == 0) {
		snprintf(why, len, "Vector %.100s has no dense values", id);
		return false;
	}
	json_array_foreach(vals, i, x) {
		if (!json_is_number(x)) {
			snprintf(why, len, "Vector %.100s: values must be numbers", id);
			return false;
		}
		nonzero |= json_number_value(x) != 0;
	}
	if (P.dim && (int)n != P.dim) {
		snprintf(why, len, "Vector dimension %zu does not match the dimension of the index %d", n, P.dim);
		return false;
	}
	if (!nonzero) {
		snprintf(why, len, "Dense vectors must contain at least one non-zero value");
		return false;
	}
	return !meta || metadata_ok(meta, why, len);
}

/* ---- filters ------------------------------------------------------------------------------------ */

static bool match(const json_t *filter, const json_t *meta);

static int cmp_values(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) < json_number_value(b) ? -1 : json_number_value(a) > json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b) ? 0 : 2;
}

/* Does a metadata value satisfy $eq v (a list matches if any element does)? */
static bool eq(const json_t *have, const json_t *v)
{
	if (json_is_array(have)) {
		size_t i;
		json_t *x;
		json_array_foreach(have, i, x) if (json_equal(x, (json_t *)v)) return true;
		return false;
	}
	return have && cmp_values(have, v) == 0;
}

static bool in_list(const json_t *have, const json_t *list)
{
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x) if (eq(have, x)) return true;
	return false;
}

/* One field condition: {op: v, ...} or a bare value ($eq). */
static bool field_match(const json_t *cond, const json_t *have)
{
	if (!json_is_object(cond))
		return eq(have, cond);
	const char *op;
	json_t *v;
	json_object_foreach((json_t *)cond, op, v) {
		int c = have ? cmp_values(have, v) : 2;
		bool ok = !strcmp(op, "$eq") ? eq(have, v) : !strcmp(op, "$ne") ? !eq(have, v)
			: !strcmp(op, "$in") ? in_list(have, v) : !strcmp(op, "$nin") ? !in_list(have, v)
			: !strcmp(op, "$gt") ? c == 1 : !strcmp(op, "$gte") ? (c == 1 || c == 0)
			: !strcmp(op, "$lt") ? c == -1 : !strcmp(op, "$lte") ? (c == -1 || c == 0)
			: !strcmp(op, "$exists") ? (have != NULL) == json_is_true(v) : false;
		if (!ok)
			return false;
	}
	return true;
}

static bool match(const json_t *filter, const json_t *meta)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)filter, k, v) {
		size_t i;
		json_t *x;
		bool ok = true;
		if (!strcmp(k, "$and")) {
			json_array_foreach(v, i, x) ok &= match(x, meta);
		} else if (!strcmp(k, "$or")) {
			ok = false;
			json_array_foreach(v, i, x) ok |= match(x, meta);
		} else {
			ok = field_match(v, json_object_get(meta, k));
		}
		if (!ok)
			return false;
	}
	return true;
}

/* Operators we know, checked before any use. */
static bool filter_ok(const json_t *f)
{
	static const char *const ops[] = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", NULL};
	const char *k, *op;
	json_t *v, *x;
	if (!json_is_object(f))
		return false;
	json_object_foreach((json_t *)f, k, v) {
		size_t i;
		if (!strcmp(k, "$and") || !strcmp(k, "$or")) {
			if (!json_is_array(v))
				return false;
			json_array_foreach(v, i, x) if (!filter_ok(x)) return false;
			continue;
		}
		if (k[0] == '$')
			return false;
		json_object_foreach(json_is_object(v) ? v : NULL, op, x) {
			bool known = false;
			for (int j = 0; ops[j]; j++)
				known |= !strcmp(op, ops[j]);
			if (!known || ((!strcmp(op, "$in") || !strcmp(op, "$nin")) && !json_is_array(x)))
				return false;
		}
	}
	return true;
}

/* ---- operations ------------------------------------------------------------------------------------ */

static int upsert(const sim_req *rq, const json_t *body, sim_resp *r)
{
	json_t *vecs = json_object_get(body, "vectors"), *v;
	size_t n = json_array_size(vecs), i;
	char why[200];
	if (rq->len > MAX_UPSERT_BYTES) {
		snprintf(why, sizeof why, "Request size %zu bytes exceeds the maximum supported size of 2MB", rq->len);
		return fail(r, 400, why);
	}
	if (!json_is_array(vecs) || n < 1 || n > MAX_BATCH)
		return fail(r, 400, "'vectors' must hold 1 to 1000 vectors");
	pthread_mutex_lock(&P.mu);
	int dim0 = P.dim;
	if (!P.dim)
		P.dim = (int)json_array_size(json_object_get(json_array_get(vecs, 0), "values"));
	bool ok = true;
	json_array_foreach(vecs, i, v) if (ok && !vector_ok(v, why, sizeof why)) ok = false;
	if (!ok) {
		P.dim = dim0;
		pthread_mutex_unlock(&P.mu);
		return fail(r, 400, why);
	}
	json_t *space = json_object_get(P.ns, ns_of(body));
	if (!space)
		json_object_set_new(P.ns, ns_of(body), space = json_object());
	json_array_foreach(vecs, i, v)
		json_object_set_new(space, sb_json_str(v, "id"),
				    json_pack("{s:O,s:o}", "values", json_object_get(v, "values"), "metadata",
					      json_object_get(v, "metadata") ? json_deep_copy(json_object_get(v, "metadata")) : json_object()));
	pthread_mutex_unlock(&P.mu);
	sim_stat("upsertedVectors", (long)n, SIM_ADD);
	sim_stat("maxUpsertCount", (long)n, SIM_MAX);
	sim_stat("maxUpsertBytes", (long)rq->len, SIM_MAX);
	sim_json(r, 200, json_pack("{s:I}", "upsertedCount", (json_int_t)n));
	return 0;
}

static double cosine(const json_t *a, const json_t *b)
{
	double dot = 0, na = 0, nb = 0;
	size_t n = json_array_size(a) < json_array_size(b) ? json_array_size(a) : json_array_size(b);
	for (size_t i = 0; i < n; i++) {
		double x = json_number_value(json_array_get(a, i)), y = json_number_value(json_array_get(b, i));
		dot += x * y;
		na += x * x;
		nb += y * y;
	}
	return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0;
}

static int by_score(const void *a, const void *b)
{
	double x = json_number_value(json_object_get(*(json_t *const *)a, "score"));
	double y = json_number_value(json_object_get(*(json_t *const *)b, "score"));
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Every record of the namespace that passes the filter, scored against q, best first. */
static json_t *scan(const json_t *space, const json_t *q, const json_t *filter, bool meta, bool values)
{
	size_t n = json_object_size(space), k = 0;
	json_t **all = calloc(n ? n : 1, sizeof *all);
	const char *id;
	json_t *rec;
	json_object_foreach((json_t *)space, id, rec) {
		if (filter && !match(filter, json_object_get(rec, "metadata")))
			continue;
		all[k] = json_pack("{s:s,s:f}", "id", id, "score", cosine(q, json_object_get(rec, "values")));
		if (meta)
			json_object_set(all[k], "metadata", json_object_get(rec, "metadata"));
		if (values)
			json_object_set(all[k], "values", json_object_get(rec, "values"));
		k++;
	}
	qsort(all, k, sizeof *all, by_score);
	json_t *out = json_array();
	for (size_t i = 0; i < k; i++)
		json_array_append_new(out, all[i]);
	free(all);
	return out;
}

static int query(const json_t *body, sim_resp *r)
{
	json_t *topk = json_object_get(body, "topK"), *vec = json_object_get(body, "vector");
	json_t *filter = json_object_get(body, "filter");
	const char *by_id = sb_json_str(body, "id");
	if (!json_is_integer(topk) || json_integer_value(topk) < 1 || json_integer_value(topk) > MAX_TOPK)
		return fail(r, 400, "topK must be an integer from 1 to 10000");
	if (!!vec == !!by_id)
		return fail(r, 400, "Exactly one of 'vector' and 'id' must be given");
	if (filter && !filter_ok(filter))
		return fail(r, 400, "Invalid filter");
	if (!filter)
		sim_stat("unfilteredQueries", 1, SIM_ADD);
	pthread_mutex_lock(&P.mu);
	json_t *space = json_object_get(P.ns, ns_of(body));
	json_t *q = by_id ? json_object_get(json_object_get(space, by_id), "values") : vec;
	if (!json_is_array(q) || (P.dim && (int)json_array_size(q) != P.dim)) {
		pthread_mutex_unlock(&P.mu);
		return fail(r, 400, "Query vector dimension does not match the dimension of the index");
	}
	json_t *all = scan(space, q, filter, sb_json_bool(body, "includeMetadata", 0), sb_json_bool(body, "includeValues", 0));
	pthread_mutex_unlock(&P.mu);
	while (json_array_size(all) > (size_t)json_integer_value(topk))
		json_array_remove(all, json_array_size(all) - 1);
	sim_json(r, 200, json_pack("{s:o,s:s,s:{s:i}}", "matches", all, "namespace", ns_of(body), "usage", "readUnits", 1));
	return 0;
}

static int delete_(const json_t *body, sim_resp *r)
{
	json_t *ids = json_object_get(body, "ids"), *filter = json_object_get(body, "filter");
	bool all = sb_json_bool(body, "deleteAll", 0);
	if ((ids != NULL) + all + (filter != NULL) != 1)
		return fail(r, 400, "Exactly one of 'ids', 'deleteAll' and 'filter' must be given");
	if (ids && (!json_is_array(ids) || json_array_size(ids) > MAX_BATCH))
		return fail(r, 400, "'ids' must be an array of at most 1000 ids");
	if (filter && !filter_ok(filter))
		return fail(r, 400, "Invalid filter");
	pthread_mutex_lock(&P.mu);
	json_t *space = json_object_get(P.ns, ns_of(body));
	size_t i;
	json_t *x;
	if (all)
		json_object_del(P.ns, ns_of(body));
	json_array_foreach(ids, i, x) if (json_is_string(x)) json_object_del(space, json_string_value(x));
	const char *id;
	void *tmp;
	if (filter && space)
		json_object_foreach_safe(space, tmp, id, x)
			if (match(filter, json_object_get(x, "metadata")))
				json_object_del(space, id);
	pthread_mutex_unlock(&P.mu);
	sim_json(r, 200, json_object());
	return 0;
}

/* GET query arguments: every value of a repeated key is appended to the array in cls. */
static enum MHD_Result collect_ids(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	if (!strcmp(key, "ids") && value)
		json_array_append_new(cls, json_string(value));
	return MHD_YES;
}

static void fetch(const sim_req *rq, sim_resp *r)
{
	json_t *ids = json_array(), *out = json_object(), *x;
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect_ids, ids);
	const char *ns = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "namespace");
	ns = ns && *ns ? ns : "__default__";
	size_t i;
	pthread_mutex_lock(&P.mu);
	json_t *space = json_object_get(P.ns, ns);
	json_array_foreach(ids, i, x) {
		json_t *rec = json_object_get(space, json_string_value(x));
		if (rec)
			json_object_set_new(out, json_string_value(x), json_pack("{s:O,s:O,s:O}", "id", x, "values",
					    json_object_get(rec, "values"), "metadata", json_object_get(rec, "metadata")));
	}
	pthread_mutex_unlock(&P.mu);
	json_decref(ids);
	sim_json(r, 200, json_pack("{s:o,s:s,s:{s:i}}", "vectors", out, "namespace", ns, "usage", "readUnits", 1));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void list(const sim_req *rq, sim_resp *r)
{
	const char *ns = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "namespace");
	const char *prefix = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "prefix");
	const char *token = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "paginationToken");
	const char *lim = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "limit");
	int limit = lim ? atoi(lim) : 100;
	ns = ns && *ns ? ns : "__default__";
	pthread_mutex_lock(&P.mu);
	json_t *space = json_object_get(P.ns, ns);
	size_t n = 0, cap = json_object_size(space) + 1;
	const char **ids = calloc(cap, sizeof *ids), *id;
	json_t *x;
	json_object_foreach(space, id, x) if (!prefix || !strncmp(id, prefix, strlen(prefix))) ids[n++] = id;
	qsort(ids, n, sizeof *ids, cmp_str);
	json_t *out = json_array();
	size_t i = 0;
	while (i < n && token && strcmp(ids[i], token) <= 0)
		i++;
	for (; i < n && (int)json_array_size(out) < limit; i++)
		json_array_append_new(out, json_pack("{s:s}", "id", ids[i]));
	json_t *reply = json_pack("{s:o,s:s,s:{s:i}}", "vectors", out, "namespace", ns, "usage", "readUnits", 1);
	if (i < n)
		json_object_set_new(reply, "pagination", json_pack("{s:s}", "next", ids[i - 1]));
	pthread_mutex_unlock(&P.mu);
	free(ids);
	sim_json(r, 200, reply);
}

json_t *sim_pinecone_stats(void)
{
	pthread_mutex_lock(&P.mu);
	json_t *spaces = json_object(), *v;
	const char *ns;
	json_int_t total = 0;
	json_object_foreach(P.ns, ns, v) {
		json_object_set_new(spaces, ns, json_pack("{s:I}", "vectorCount", (json_int_t)json_object_size(v)));
		total += (json_int_t)json_object_size(v);
	}
	json_t *o = json_pack("{s:o,s:i,s:f,s:I,s:s,s:s}", "namespaces", spaces, "dimension", P.dim, "indexFullness", 0.0,
			      "totalVectorCount", total, "metric", "cosine", "vectorType", "dense");
	pthread_mutex_unlock(&P.mu);
	return o;
}

void sim_pinecone_reset(void)
{
	pthread_mutex_lock(&P.mu);
	json_decref(P.ns);
	P.ns = json_object();
	P.dim = SIM.index_dim;
	pthread_mutex_unlock(&P.mu);
}

void sim_pinecone_free(void)
{
	pthread_mutex_lock(&P.mu);
	json_decref(P.ns);
	P.ns = NULL;
	pthread_mutex_unlock(&P.mu);
}

/* ---- routing -------------------------------------------------------------------------------------- */

/* Auth and version headers; false after answering. */
static bool headers_ok(const sim_req *rq, sim_resp *r)
{
	const char *key = sim_header(rq, "Api-Key"), *ver = sim_header(rq, "X-Pinecone-Api-Version");
	if (!key || strcmp(key, SIM.pinecone_key) != 0) {
		sim_stat("authFailures", 1, SIM_ADD);
		return fail(r, 401, "Invalid API Key") == 0;
	}
	char list[256], *save = NULL;
	snprintf(list, sizeof list, "%s", SIM.versions);
	for (char *v = strtok_r(list, ",", &save); v && ver; v = strtok_r(NULL, ",", &save))
		if (!strcmp(v, ver))
			return true;
	sim_stat("badVersions", 1, SIM_ADD);
	fail(r, 400, "Missing or unsupported X-Pinecone-Api-Version header");
	return false;
}

bool sim_pinecone(const sim_req *rq, sim_resp *r)
{
	static const struct { const char *method, *path, *target; } routes[] = {
		{"POST", "/vectors/upsert", "upsert"}, {"POST", "/query", "query"}, {"POST", "/vectors/delete", "delete"},
		{"GET", "/vectors/fetch", "fetch"}, {"GET", "/vectors/list", "list"},
		{"POST", "/describe_index_stats", "stats"},
	};
	size_t i = 0;
	while (i < sizeof routes / sizeof routes[0] && (strcmp(rq->url, routes[i].path) || strcmp(rq->method, routes[i].method)))
		i++;
	if (i == sizeof routes / sizeof routes[0])
		return false;
	sim_count(routes[i].target);
	if (!headers_ok(rq, r) || sim_fault(routes[i].target, "pinecone", r))
		return true;
	json_t *body = strcmp(rq->method, "POST") == 0 ? json_loadb(rq->body, rq->len, 0, NULL) : json_object();
	if (!json_is_object(body))
		fail(r, 400, "The request body is not a JSON object");
	else if (i == 0)
		upsert(rq, body, r);
	else if (i == 1)
		query(body, r);
	else if (i == 2)
		delete_(body, r);
	else if (i == 3)
		fetch(rq, r);
	else if (i == 4)
		list(rq, r);
	else
		sim_json(r, 200, sim_pinecone_stats());
	json_decref(body);
	return true;
}
