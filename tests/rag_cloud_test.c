/*
 * rag_cloud_test.c — sb-rag-worker's cloud backends (OpenAI embeddings,
 * Pinecone) against sb-cloudsim on loopback, and the mixed pairs.
 *
 * Cases: index → query round trips for openai/pinecone, openai/local and
 * local/pinecone; tenant isolation in one shared Pinecone namespace; an
 * update and a delete removing old vectors from Pinecone; batching of
 * embedding inputs and of upserts (≤ 1000 records, ≤ 2 MB); the embedding
 * cache; retries of 429 (Retry-After and retry-after-ms), 5xx and slow
 * answers; insufficient_quota and a bad key failing fast and recorded; and
 * garbage answers (truncated JSON, not JSON, wrong types, a 200 MB body, a
 * cut transfer, bad indexes, wrong sizes) never crashing the worker, with
 * the document indexed by a background retry once the simulator behaves.
 *
 * Nothing leaves loopback: every base URL points at sb-cloudsim.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "rag_testkit.h"

static rt_worker OP, OL, LP; /* openai+pinecone, openai+local, local+pinecone */

/* Flags of a worker: its backends, pointed at the simulator, plus quick retries. */
static void flags(const char **a, const char *emb, const char *idx, const char *ns, const char *dims)
{
	static char url[64];
	snprintf(url, sizeof url, "%s", rt_sim_url());
	const char *v[] = {"--embedder", emb, "--index", idx, "--openai-base-url", url, "--openai-api-key", "sk-cloudsim",
			   "--pinecone-host", url, "--pinecone-api-key", "pc-cloudsim", "--pinecone-namespace", ns,
			   "--max-retries", "3", "--http-timeout-ms", "1000", "--retry-base-ms", "200", "--retry-max-ms",
			   "1000", "--dimensions", dims, "--query-timeout-ms", "800", NULL};
	memcpy(a, v, sizeof v);
}

static int setup(void **state)
{
	const char *a[40];
	if (rt_store_up() < 0 || rt_sim_up() < 0)
		return -1;
	/* Every worker reconciles with the (shared) store at start: let that finish before any document
	 * exists, or a worker would also index the others' pending documents into its own backend. */
	flags(a, "openai", "pinecone", "op", "256");
	if (rt_worker_start(&OP, "rag-op", a) < 0 || rt_wait_idle(&OP, RT_WAIT_MS) < 0)
		return -1;
	flags(a, "openai", "local", "ol", "256");
	if (rt_worker_start(&OL, "rag-ol", a) < 0 || rt_wait_idle(&OL, RT_WAIT_MS) < 0)
		return -1;
	flags(a, "local", "pinecone", "lp", "256"); /* one Pinecone index, one dimension */
	return rt_worker_start(&LP, "rag-lp", a) < 0 || rt_wait_idle(&LP, RT_WAIT_MS) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	int bad = 0;
	rt_worker *all[] = {&OP, &OL, &LP};
	for (int i = 0; i < 3; i++) {
		bad += rt_worker_stop(all[i], SIGTERM) != 0;
		rt_worker_close(all[i]);
	}
	bad += sbt_stop(&rt.sim, SIGTERM, RT_WAIT_MS) != 0;
	sb_http_free(rt.http);
	sb_client_close(rt.s);
	sbt_stop(&rt.store, SIGTERM, RT_WAIT_MS);
	return bad ? -1 : 0;
}

static const char *const DOCS[][3] = {
	{"Shipping abroad", "shipping", "We ship orders to Canada and Mexico by tracked courier."},
	{"Opening hours", "hours", "The store opens at nine in the morning and closes at six in the evening."},
	{"Refunds", "returns", "Refunds go back to your credit card within seven business days."},
	{"Router setup", "equipment", "Plug the router into the wall socket and wait for the green light."},
	{"Premium plan price", "pricing", "The premium plan costs seventy nine dollars per month."},
};

/* Store and index DOCS under biz with ids prefix-0.. ; assert all indexed. */
static void load(rt_worker *w, const char *biz, const char *prefix)
{
	assert_int_equal(rt_business(biz), 0);
	for (int i = 0; i < 5; i++) {
		char id[64];
		snprintf(id, sizeof id, "%s-%d", prefix, i);
		sb_error err = {0};
		json_t *r = rt_doc(w, biz, id, DOCS[i][0], DOCS[i][1], DOCS[i][2], &err);
		if (!r || strcmp(sb_json_str(r, "status"), "indexed") != 0)
			fail_msg("%s: %s", id, r ? sb_json_str(r, "error") : err.message);
		json_decref(r);
	}
}

/* The top hit of q is prefix-<want>. */
static void expect_top(rt_worker *w, const char *biz, const char *q, const char *prefix, int want)
{
	sb_error err = {0};
	json_t *res = rt_query(w, biz, q, 3, &err);
	if (!res)
		fail_msg("%s: query failed: %s", w->name, err.message);
	char id[64];
	snprintf(id, sizeof id, "%s-%d", prefix, want);
	if (strcmp(rt_hit(res, 0), id) != 0)
		fail_msg("%s: \"%s\" gave %s, want %s", w->name, q, rt_hit(res, 0), id);
	json_decref(res);
}

static void round_trip(rt_worker *w, const char *biz, const char *prefix)
{
	load(w, biz, prefix);
	expect_top(w, biz, "do you ship to canada", prefix, 0);
	expect_top(w, biz, "what time does the store open", prefix, 1);
	expect_top(w, biz, "when do refunds reach my credit card", prefix, 2);
	expect_top(w, biz, "how much is the premium plan per month", prefix, 4);
}

static void test_round_trips(void **state)
{
	round_trip(&OP, "biz_op", "op");
	round_trip(&OL, "biz_ol", "ol");
	round_trip(&LP, "biz_lp", "lp");
	assert_int_equal(rt_sim_stat("authFailures"), 0);
	assert_int_equal(rt_sim_stat("badVersions"), 0);       /* the version header is always sent */
	assert_int_equal(rt_sim_stat("unfilteredQueries"), 0); /* every query is filtered by business */
	assert_int_equal(rt_sim_stat("lastDimensions"), 256);
	assert_true(rt_sim_stat("base64Requests") > 0);
	assert_true(rt_sim_stat("pinecone.namespaces.op.vectorCount") == 5);
	assert_true(rt_sim_stat("pinecone.namespaces.lp.vectorCount") == 5);
}

static void test_isolation_in_pinecone(void **state)
{
	load(&OP, "biz_op2", "op2"); /* same texts as biz_op, same namespace */
	for (int round = 0; round < 2; round++) {
		const char *biz = round ? "biz_op2" : "biz_op", *prefix = round ? "op2-" : "op-";
		sb_error err = {0};
		json_t *res = rt_query(&OP, biz, "do you ship to canada", 10, &err);
		assert_int_equal(json_array_size(res), 5);
		for (size_t i = 0; i < json_array_size(res); i++)
			if (strncmp(rt_hit(res, i), prefix, strlen(prefix)) != 0)
				fail_msg("%s got %s", biz, rt_hit(res, i));
		json_decref(res);
	}
	assert_int_equal(rt_sim_stat("unfilteredQueries"), 0);
}

/* How many of the chunk ids doc#0..n-1 Pinecone still holds in namespace ns. */
static int stored_chunks(const char *ns, const char *doc, int n)
{
	char path[4096];
	int o = snprintf(path, sizeof path, "/vectors/fetch?namespace=%s", ns);
	for (int k = 0; k < n && o < (int)sizeof path - 64; k++)
		o += snprintf(path + o, sizeof path - (size_t)o, "&ids=%s%%23%d", doc, k);
	json_t *r = rt_sim("GET", path, NULL, NULL);
	int have = (int)json_object_size(json_object_get(r, "vectors"));
	json_decref(r);
	return have;
}

static char *many_paragraphs(int n, const char *word)
{
	size_t cap = (size_t)n * 300, o = 0;
	char *s = malloc(cap);
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%sParagraph %d about %s number %d: the technician visits on weekday "
				      "mornings and brings a replacement %s if the old one is faulty.", i ? "\n\n" : "", i,
				      word, i, word);
	return s;
}

static void test_update_and_delete_in_pinecone(void **state)
{
	sb_error err = {0};
	char *big = many_paragraphs(30, "modem");
	assert_int_equal(rt_business("biz_upd"), 0);
	json_t *r = rt_doc(&LP, "biz_upd", "pc-upd", "Modems", NULL, big, &err);
	int n = (int)sb_json_int(r, "chunks", 0);
	assert_true(n > 4);
	json_decref(r);
	assert_int_equal(stored_chunks("lp", "pc-upd", n + 2), n);
	r = rt_doc(&LP, "biz_upd", "pc-upd", "Modems", NULL, "Modems are no longer sold; ask for a router.", &err);
	assert_int_equal(sb_json_int(r, "chunks", 0), 1);
	json_decref(r);
	assert_int_equal(stored_chunks("lp", "pc-upd", n + 2), 1); /* the stale chunks were deleted */
	int deleted = 0;
	assert_int_equal(rt_delete(&LP, "pc-upd", &deleted, &err), 0);
	assert_int_equal(stored_chunks("lp", "pc-upd", n + 2), 0);
	json_t *res = rt_query(&LP, "biz_upd", "modem", 5, &err);
	assert_int_equal(json_array_size(res), 0);
	json_decref(res);
	free(big);
}

static void test_batching(void **state)
{
	rt_worker w = {0};
	const char *a[40];
	flags(a, "openai", "pinecone", "batch", "1536");
	const char *more[] = {"--embed-batch", "8", "--chunk-size", "500", "--chunk-overlap", "100", NULL};
	memcpy(a + 26, more, sizeof more); /* after the 26 entries flags() filled */
	assert_int_equal(rt_worker_start(&w, "rag-batch", a), 0);
	assert_int_equal(rt_wait_idle(&w, RT_WAIT_MS), 0); /* its start-up reconcile retries the failed documents */
	json_decref(rt_sim("POST", "/_sim/reset", "{}", NULL)); /* a 1536-dimension index from here on */
	char *big = many_paragraphs(1000, "router"); /* ≈ 160 KB → ≈ 330 chunks of 1536 floats, > 2 MB of JSON */
	sb_error err = {0};
	assert_int_equal(rt_business("biz_batch"), 0);
	json_t *r = rt_doc(&w, "biz_batch", "batch-1", "Routers", NULL, big, &err);
	assert_non_null(r);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	int n = (int)sb_json_int(r, "chunks", 0);
	json_decref(r);
	assert_true(n > 250);
	assert_true(rt_sim_stat("maxInputsPerRequest") <= 8);
	assert_true(rt_sim_stat("requests.embeddings") >= n / 8);
	assert_true(rt_sim_stat("maxUpsertBytes") <= 2 * 1024 * 1024);
	assert_true(rt_sim_stat("requests.upsert") >= 2); /* cut by bytes, long before 1000 records */
	assert_int_equal(rt_sim_stat("upsertedVectors"), n);
	assert_int_equal(rt_sim_stat("lastDimensions"), 1536);
	assert_int_equal(rt_worker_stop(&w, SIGTERM), 0);
	rt_worker_close(&w);
	free(big);
}

static void test_cache(void **state)
{
	long before = rt_sim_stat("requests.embeddings");
	sb_error err = {0};
	json_t *r = rt_doc(&OL, "biz_ol", "ol-0", DOCS[0][0], DOCS[0][1], DOCS[0][2], &err); /* unchanged: re-index */
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	json_decref(r);
	assert_int_equal(rt_sim_stat("requests.embeddings"), before); /* no embedding call */
	json_decref(rt_query(&OL, "biz_ol", "is the store open on a sunday", 3, &err));
	json_decref(rt_query(&OL, "biz_ol", "is the store open on a sunday", 3, &err));
	assert_int_equal(rt_sim_stat("requests.embeddings"), before + 1); /* the repeat came from the cache */
	json_t *st = rt_stats(&OL, NULL);
	assert_true(sb_json_int(json_object_get(st, "cache"), "hits", 0) >= 2);
	json_decref(st);
}

/* Index a fresh document on w; its reply (owned); *took gets the milliseconds. */
static json_t *index_fresh(rt_worker *w, const char *biz, const char *id, int64_t *took)
{
	sb_error err = {0};
	char text[200];
	snprintf(text, sizeof text, "Fresh document %s about gift cards and store credit.", id);
	int64_t t0 = sb_mono_ms();
	json_t *r = rt_doc(w, biz, id, "Gift cards", NULL, text, &err);
	if (took)
		*took = sb_mono_ms() - t0;
	if (!r)
		fail_msg("%s: %s", id, err.message);
	return r;
}

static void test_rate_limits_are_retried(void **state)
{
	long before = rt_sim_stat("requests.embeddings");
	assert_int_equal(rt_faults("{\"embeddings\":{\"status\":429,\"retryAfter\":1,\"count\":2}}"), 0);
	int64_t took;
	json_t *r = index_fresh(&OL, "biz_ol", "rl-1", &took);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	json_decref(r);
	assert_int_equal(rt_sim_stat("requests.embeddings"), before + 3);
	assert_true(took >= 1900); /* Retry-After: 1, twice */
	assert_int_equal(rt_faults("{\"embeddings\":{\"status\":429,\"retryAfterMs\":50,\"count\":3},"
				   "\"upsert\":{\"status\":429,\"retryAfterMs\":50,\"count\":2}}"), 0);
	r = index_fresh(&OP, "biz_op", "rl-2", &took);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	assert_true(took < 1900); /* retry-after-ms, not the default backoff */
	json_decref(r);
}

static void test_server_errors_and_slowness_are_retried(void **state)
{
	assert_int_equal(rt_faults("{\"embeddings\":{\"status\":500,\"count\":2},\"upsert\":{\"status\":503,\"count\":2},"
				   "\"query\":{\"status\":502,\"count\":1}}"), 0);
	json_t *r = index_fresh(&OP, "biz_op", "se-1", NULL);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	json_decref(r);
	expect_top(&OP, "biz_op", "do you ship to canada", "op", 0); /* the 502 on /query was retried */
	/* slower than --http-timeout-ms (1000): the attempt times out and the retry answers */
	long before = rt_sim_stat("requests.embeddings");
	assert_int_equal(rt_faults("{\"embeddings\":{\"delayMs\":3000,\"count\":1}}"), 0);
	int64_t took;
	r = index_fresh(&OL, "biz_ol", "slow-1", &took);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	json_decref(r);
	assert_int_equal(rt_sim_stat("requests.embeddings"), before + 2);
	assert_true(took >= 1000 && took < 3000);
}

/* A query runs inside a live call: a hanging API fails it within --query-timeout-ms, not after minutes. */
static void test_queries_fail_fast(void **state)
{
	sb_error err = {0};
	assert_int_equal(rt_faults("{\"query\":{\"delayMs\":5000,\"count\":2}}"), 0);
	int64_t t0 = sb_mono_ms();
	assert_null(rt_query(&LP, "biz_lp", "do you ship to canada", 3, &err));
	assert_true(err.code == SB_UNAVAILABLE);
	assert_true(sb_mono_ms() - t0 < 2500);
	assert_int_equal(rt_faults("{\"embeddings\":{\"delayMs\":5000,\"count\":2}}"), 0);
	t0 = sb_mono_ms();
	assert_null(rt_query(&OL, "biz_ol", "is there a store in the mall", 3, &err));
	assert_true(sb_mono_ms() - t0 < 2500);
	assert_int_equal(rt_faults("{}"), 0);
	expect_top(&LP, "biz_lp", "do you ship to canada", "lp", 0);
}

static void test_insufficient_quota_fails_fast(void **state)
{
	long before = rt_sim_stat("requests.embeddings");
	assert_int_equal(rt_faults("{\"embeddings\":{\"status\":429,\"code\":\"insufficient_quota\",\"count\":-1}}"), 0);
	int64_t took;
	json_t *r = index_fresh(&OL, "biz_ol", "quota-1", &took);
	assert_int_equal(rt_faults("{}"), 0);
	assert_string_equal(sb_json_str(r, "status"), "failed");
	assert_false(sb_json_bool(r, "retry", 1));
	assert_non_null(strstr(sb_json_str(r, "error"), "insufficient_quota"));
	json_decref(r);
	assert_int_equal(rt_sim_stat("requests.embeddings"), before + 1); /* one request, no retry */
	assert_true(took < 1000);
	json_t *doc = rt_store_get("quota-1");
	assert_string_equal(sb_json_str(doc, "indexStatus"), "failed");
	assert_non_null(strstr(sb_json_str(doc, "indexError"), "insufficient_quota"));
	json_decref(doc);
	json_t *st = rt_stats(&OL, NULL);
	assert_int_equal(sb_json_int(json_object_get(st, "jobs"), "retrying", -1), 0); /* permanent: not retried */
	json_decref(st);
}

/* Wait until the store says doc is indexed. */
static void wait_indexed(const char *doc)
{
	for (int64_t until = sb_mono_ms() + RT_WAIT_MS; sb_mono_ms() < until; rt_nap(20)) {
		json_t *d = rt_store_get(doc);
		bool ok = d && !strcmp(sb_json_str(d, "indexStatus"), "indexed");
		json_decref(d);
		if (ok)
			return;
	}
	fail_msg("%s was never indexed", doc);
}

static bool alive(rt_worker *w)
{
	json_t *data = NULL;
	int rc = sb_client_call(w->c, &SB_SVC_SYS, SB_SYS_SYS_HEALTH, NULL, &data, NULL);
	json_decref(data);
	return rc == 0 && sbt_alive(&w->proc);
}

static void test_garbage_never_crashes(void **state)
{
	static const char *const kinds[] = {"truncated", "garbage", "wrongtypes", "huge", "cut", "badindex", "dims"};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		char spec[200], id[64];
		long injected = rt_sim_stat("injected");
		snprintf(spec, sizeof spec, "{\"embeddings\":{\"body\":\"%s\",\"count\":1}}", kinds[i]);
		assert_int_equal(rt_faults(spec), 0);
		snprintf(id, sizeof id, "junk-%s", kinds[i]);
		json_t *r = index_fresh(&OL, "biz_ol", id, NULL);
		const char *status = sb_json_str(r, "status");
		if (strcmp(status, "indexed") != 0 && !sb_json_bool(r, "retry", 0))
			fail_msg("%s: %s without a retry: %s", kinds[i], status, sb_json_str(r, "error"));
		json_decref(r);
		assert_int_equal(rt_sim_stat("injected"), injected + 1);
		assert_true(alive(&OL));
		wait_indexed(id); /* the background retry, once the simulator behaves */
	}
	/* Pinecone answering garbage to a query: an error reply, then all is well */
	assert_int_equal(rt_faults("{\"query\":{\"body\":\"wrongtypes\",\"count\":1}}"), 0);
	sb_error err = {0};
	assert_null(rt_query(&OP, "biz_op", "do you ship to canada", 3, &err));
	assert_int_equal(err.code, SB_UNAVAILABLE);
	assert_true(alive(&OP));
	expect_top(&OP, "biz_op", "do you ship to canada", "op", 0);
	assert_int_equal(rt_faults("{\"upsert\":{\"body\":\"truncated\",\"count\":1}}"), 0);
	json_decref(index_fresh(&OP, "biz_op", "junk-upsert", NULL));
	assert_true(alive(&OP));
	wait_indexed("junk-upsert");
}

static void test_bad_credentials_and_versions(void **state)
{
	rt_worker w = {0};
	const char *a[40];
	flags(a, "openai", "pinecone", "bad", "256");
	a[7] = "sk-wrong"; /* the value of --openai-api-key */
	assert_int_equal(rt_worker_start(&w, "rag-badkey", a), 0);
	assert_int_equal(rt_wait_idle(&w, RT_WAIT_MS), 0); /* its start-up reconcile retries the failed documents */
	long before = rt_sim_stat("requests.embeddings");
	json_t *r = index_fresh(&w, "biz_ol", "badkey-1", NULL);
	assert_string_equal(sb_json_str(r, "status"), "failed");
	assert_false(sb_json_bool(r, "retry", 1));
	assert_non_null(strstr(sb_json_str(r, "error"), "permission_denied"));
	json_decref(r);
	assert_int_equal(rt_sim_stat("requests.embeddings"), before + 1);
	assert_int_equal(rt_worker_stop(&w, SIGTERM), 0);
	rt_worker_close(&w);
	/* an API version Pinecone does not know: a permanent failure, recorded */
	flags(a, "local", "pinecone", "bad", "256");
	a[26] = "--pinecone-api-version"; /* after the 26 entries flags() filled */
	a[27] = "1999-01";
	a[28] = NULL;
	assert_int_equal(rt_worker_start(&w, "rag-badver", a), 0);
	assert_int_equal(rt_wait_idle(&w, RT_WAIT_MS), 0);
	r = index_fresh(&w, "biz_ol", "badver-1", NULL);
	assert_string_equal(sb_json_str(r, "status"), "failed");
	assert_false(sb_json_bool(r, "retry", 1));
	json_decref(r);
	assert_int_equal(rt_worker_stop(&w, SIGTERM), 0);
	rt_worker_close(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_isolation_in_pinecone),
		cmocka_unit_test(test_update_and_delete_in_pinecone),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_rate_limits_are_retried),
		cmocka_unit_test(test_server_errors_and_slowness_are_retried),
		cmocka_unit_test(test_queries_fail_fast),
		cmocka_unit_test(test_insufficient_quota_fails_fast),
		cmocka_unit_test(test_garbage_never_crashes),
		cmocka_unit_test(test_bad_credentials_and_versions),
		cmocka_unit_test(test_batching),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
