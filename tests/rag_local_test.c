/*
 * rag_local_test.c — sb-rag-worker with its default backends (local
 * embedder, local index) against the real sb-store, over real sockets.
 *
 * Cases: the CLI (--help, --check-config refusing incomplete cloud
 * configurations); an index → query round trip and the reply's shape; a
 * long document cut into chunks; an update and a delete really removing the
 * old chunks; re-indexing (the same document again, rag.reindex) changing
 * nothing; tenant isolation between two businesses with overlapping topics;
 * bad requests; log compaction; the index surviving a restart (compacted
 * log included); identical concurrent
 * requests; a request overtaking a large re-index; the events on the PUB
 * socket, each valid against its schema; a change of dimension re-indexing
 * everything from the store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/wait.h>

#include "rag_testkit.h"
#include "sb_events.h"
#include "sb_schema.h"

static rt_worker W; /* the worker most cases share */

static int setup(void **state)
{
	if (rt_store_up() < 0 || rt_worker_start(&W, "rag-local", NULL) < 0) {
		fprintf(stderr, "setup failed (logs in %s)\n", sbt_dir());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	int rc = rt_worker_stop(&W, SIGTERM);
	rt_worker_close(&W);
	sb_client_close(rt.s);
	sbt_stop(&rt.store, SIGTERM, RT_WAIT_MS);
	return rc == 0 ? 0 : -1;
}

/* Run a shell command; its exit status, stdout+stderr in out. */
static int run(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, len - 1, p) : 0;
	out[n] = '\0';
	int st = p ? pclose(p) : -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
	static char out[16384];
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s --help", sbt_bin("sb-rag-worker"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	static const char *const want[] = {"--embedder", "SB_EMBEDDER", "--index", "SB_VECTOR_INDEX", "--openai-api-key",
					   "OPENAI_API_KEY_FILE", "--pinecone-host", "--pinecone-api-version", "2025-10",
					   "--chunk-size", "--data-dir", "./var/rag", "ipc://{run}/rag.sock", NULL};
	for (int i = 0; want[i]; i++)
		if (!strstr(out, want[i]))
			fail_msg("--help lacks %s", want[i]);
	static const char *const bad[] = {
		"--embedder openai", "--index pinecone", "--index pinecone --pinecone-host http://127.0.0.1:1",
		"--embedder bert", "--chunk-size 1000 --chunk-overlap 600",
		"--embedder openai --openai-api-key k --embedding-model my-model", NULL};
	for (int i = 0; bad[i]; i++) {
		snprintf(cmd, sizeof cmd, "env -u OPENAI_API_KEY -u PINECONE_API_KEY -u PINECONE_HOST %s %s --check-config 2>&1",
			 sbt_bin("sb-rag-worker"), bad[i]);
		if (run(cmd, out, sizeof out) != 2)
			fail_msg("\"%s\" should be refused; said: %s", bad[i], out);
	}
	snprintf(cmd, sizeof cmd, "OPENAI_API_KEY=sk-secret %s --embedder openai --check-config", sbt_bin("sb-rag-worker"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_non_null(strstr(out, "openai-api-key = [set]"));
	assert_null(strstr(out, "sk-secret"));
}

static void test_round_trip(void **state)
{
	const char *biz = "biz_rt";
	assert_int_equal(rt_business(biz), 0);
	sb_error err = {0};
	json_t *r = rt_doc(&W, biz, "rt-ship", "Shipping to Canada", "shipping",
			   "We ship to Canada and Mexico. Delivery takes 6 to 10 business days.", &err);
	assert_non_null(r);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	assert_int_equal(sb_json_int(r, "chunks", 0), 1);
	json_decref(r);
	json_decref(rt_doc(&W, biz, "rt-hours", "Opening hours", "hours", "We are open Monday to Friday, 9am to 5pm.", &err));
	json_decref(rt_doc(&W, biz, "rt-pay", "Payment methods", NULL, "We accept credit cards and PayPal.", &err));

	json_t *res = rt_query(&W, biz, "do you guys ship to canada", 3, &err);
	assert_non_null(res);
	assert_int_equal(json_array_size(res), 3);
	json_t *top = json_array_get(res, 0);
	assert_string_equal(rt_hit(res, 0), "rt-ship");
	assert_string_equal(sb_json_str(top, "chunkId"), "rt-ship#0");
	assert_int_equal(sb_json_int(top, "chunk", -1), 0);
	assert_string_equal(sb_json_str(top, "title"), "Shipping to Canada");
	assert_string_equal(sb_json_str(top, "category"), "shipping");
	assert_non_null(strstr(sb_json_str(top, "content"), "Canada and Mexico"));
	double s0 = sb_json_num(top, "score", -9), s1 = sb_json_num(json_array_get(res, 1), "score", -9);
	assert_true(s0 > 0 && s0 <= 1.0001 && s0 >= s1);
	assert_true(json_is_null(json_object_get(json_array_get(res, 2), "category")) ||
		    json_is_string(json_object_get(json_array_get(res, 2), "category")));
	json_decref(res);

	json_t *doc = rt_store_get("rt-ship");
	assert_string_equal(sb_json_str(doc, "indexStatus"), "indexed");
	assert_int_equal(sb_json_int(doc, "chunks", 0), 1);
	assert_string_equal(sb_json_str(doc, "vectorId"), "rt-ship#0");
	json_decref(doc);

	res = rt_query(&W, biz, "when are you open", 1, &err); /* topK is honoured */
	assert_int_equal(json_array_size(res), 1);
	assert_string_equal(rt_hit(res, 0), "rt-hours");
	json_decref(res);
	json_t *args = json_pack("{s:s,s:s,s:f}", "businessId", biz, "query", "zzzz qqqq", "minScore", 0.5);
	assert_int_equal(rag_rag_query(W.c, args, &res, &err), 0);
	assert_int_equal(json_array_size(res), 0); /* nothing scores 0.5 for gibberish */
	json_decref(res);
}

/* A document of n paragraphs, each naming its number. */
static char *long_doc(int n)
{
	size_t cap = (size_t)n * 400 + 1, o = 0;
	char *s = malloc(cap);
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o,
				      "%sSection %d explains item number %d of the warranty. Keep the receipt for item %d. "
				      "Claims for item %d go through the online form, and a technician calls back within two days.",
				      i ? "\n\n" : "", i, i, i, i);
	return s;
}

static void test_long_document_chunks(void **state)
{
	const char *biz = "biz_long";
	assert_int_equal(rt_business(biz), 0);
	char *content = long_doc(40); /* ≈ 7 KB */
	sb_error err = {0};
	json_t *r = rt_doc(&W, biz, "long-1", "Warranty handbook", "policies", content, &err);
	assert_non_null(r);
	int n = (int)sb_json_int(r, "chunks", 0);
	assert_true(n >= 7 && n <= 14);
	json_decref(r);
	json_t *st = rt_stats(&W, biz);
	json_t *docs = json_object_get(json_object_get(st, "index"), "docs");
	assert_int_equal(sb_json_int(json_object_get(docs, "long-1"), "chunks", -1), n);
	assert_int_equal(strlen(sb_json_str(json_object_get(docs, "long-1"), "fingerprint")), 32);
	json_decref(st);
	json_t *res = rt_query(&W, biz, "section 39 item number 39", 5, &err);
	assert_non_null(res);
	size_t i;
	json_t *h;
	json_array_foreach(res, i, h) {
		assert_true(strlen(sb_json_str(h, "content")) <= 1000); /* --chunk-size */
		assert_string_equal(sb_json_str(h, "title"), "Warranty handbook");
	}
	assert_non_null(strstr(sb_json_str(json_array_get(res, 0), "content"), "Section 39"));
	char want[32];
	snprintf(want, sizeof want, "long-1#%d", n - 1);
	assert_string_equal(sb_json_str(json_array_get(res, 0), "chunkId"), want);
	json_decref(res);
	free(content);
}

/* true if any result of biz for q is document id, or holds needle. */
static bool found(const char *biz, const char *q, const char *id, const char *needle)
{
	sb_error err;
	json_t *res = rt_query(&W, biz, q, 50, &err), *h;
	size_t i;
	bool hit = false;
	json_array_foreach(res, i, h) hit |= (id && !strcmp(rt_hit(res, i), id)) ||
					     (needle && strstr(sb_json_str(h, "content"), needle));
	json_decref(res);
	return hit;
}

static void test_update_and_delete(void **state)
{
	const char *biz = "biz_upd";
	assert_int_equal(rt_business(biz), 0);
	sb_error err = {0};
	char *big = long_doc(20);
	json_decref(rt_doc(&W, biz, "upd-other", "Store hours", NULL, "Open every day from 8am to 8pm.", &err));
	json_t *r = rt_doc(&W, biz, "upd-1", "Zebra stripes", NULL, big, &err);
	int before = (int)sb_json_int(r, "chunks", 0);
	assert_true(before > 2);
	json_decref(r);
	assert_true(found(biz, "section 19 warranty receipt", NULL, "Section 19"));
	/* a shorter new version: every old chunk must go */
	r = rt_doc(&W, biz, "upd-1", "Gift cards", NULL, "Gift cards never expire and can be used in any store.", &err);
	assert_int_equal(sb_json_int(r, "chunks", 0), 1);
	json_decref(r);
	assert_false(found(biz, "section 19 warranty receipt", NULL, "Section"));
	assert_false(found(biz, "zebra stripes", NULL, "Zebra"));
	assert_true(found(biz, "do gift cards expire", "upd-1", NULL));
	json_t *st = rt_stats(&W, biz);
	assert_int_equal(sb_json_int(json_object_get(json_object_get(json_object_get(st, "index"), "docs"), "upd-1"), "chunks", -1), 1);
	assert_int_equal(sb_json_int(json_object_get(st, "index"), "chunks", -1), 2);
	json_decref(st);
	/* delete: gone from results and from the index; a second delete finds nothing */
	int deleted = 0;
	assert_int_equal(rt_delete(&W, "upd-1", &deleted, &err), 0);
	assert_true(deleted);
	assert_false(found(biz, "do gift cards expire", "upd-1", NULL));
	assert_int_equal(rag_delete(W.c, "upd-1", &deleted, &err), 0);
	assert_false(deleted);
	st = rt_stats(&W, biz);
	assert_int_equal(sb_json_int(json_object_get(st, "index"), "documents", -1), 1);
	json_decref(st);
	free(big);
}

/* Scores of every result for q, as a string. */
static void ranking(const char *biz, const char *q, char *out, size_t len)
{
	sb_error err;
	json_t *res = rt_query(&W, biz, q, 10, &err), *h;
	size_t i, o = 0;
	out[0] = '\0';
	json_array_foreach(res, i, h)
		o += (size_t)snprintf(out + o, len - o, "%s=%.6f ", rt_hit(res, i), sb_json_num(h, "score", 0));
	json_decref(res);
}

static void test_reindex_is_idempotent(void **state)
{
	const char *biz = "biz_idem";
	assert_int_equal(rt_load_kb(&W, "maple_kb.json", biz, "idem-"), 0);
	char a[4096], b[4096], c[4096];
	ranking(biz, "how much is a cleaning", a, sizeof a);
	sb_error err = {0};
	json_t *r = rt_doc(&W, biz, "idem-dn-hours", "Office hours", "hours",
			   "Maple Street Dental is open Monday and Wednesday from 8am to 5pm, Tuesday and Thursday from "
			   "10am to 7pm, and Friday from 8am to 2pm. We are closed on weekends. Our phones are answered "
			   "from 7:30am until closing time, and an answering service takes messages after hours.", &err);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	json_decref(r);
	ranking(biz, "how much is a cleaning", b, sizeof b);
	assert_string_equal(a, b);
	json_t *data = NULL;
	assert_int_equal(rag_rag_reindex(W.c, json_pack("{s:s}", "businessId", biz), &data, &err), 0);
	assert_int_equal(sb_json_int(data, "queued", 0), 14);
	assert_int_equal(sb_json_int(data, "removed", -1), 0);
	json_decref(data);
	assert_int_equal(rt_wait_idle(&W, RT_WAIT_MS), 0);
	ranking(biz, "how much is a cleaning", c, sizeof c);
	assert_string_equal(a, c);
	json_t *list = sbt_ok(rt.s, "knowledge.list", json_pack("{s:s,s:s}", "businessId", biz, "status", "indexed"));
	assert_int_equal(sb_json_int(list, "total", 0), 14);
	json_decref(list);
}

/* Every result of every question of file is a document of the same knowledge base (ids with prefix). */
static void check_isolated(const char *questions, const char *kb_file, const char *biz, const char *prefix)
{
	json_t *qs = rt_data(questions), *kb = rt_data(kb_file), *q, *d;
	json_t *ids = json_object();
	size_t i;
	json_array_foreach(json_object_get(kb, "documents"), i, d) {
		char id[128];
		snprintf(id, sizeof id, "%s%s", prefix, sb_json_str(d, "id"));
		json_object_set_new(ids, id, json_true());
	}
	json_array_foreach(json_object_get(qs, "questions"), i, q) {
		sb_error err;
		json_t *res = rt_query(&W, biz, sb_json_str(q, "q"), 10, &err);
		assert_non_null(res);
		for (size_t k = 0; k < json_array_size(res); k++)
			if (!json_object_get(ids, rt_hit(res, k)))
				fail_msg("%s: \"%s\" returned %s", biz, sb_json_str(q, "q"), rt_hit(res, k));
		json_decref(res);
	}
	json_decref(ids);
	json_decref(qs);
	json_decref(kb);
}

static void test_tenant_isolation(void **state)
{
	assert_int_equal(rt_load_kb(&W, "nimbus_kb.json", "biz_iso_a", "a-"), 0);
	assert_int_equal(rt_load_kb(&W, "maple_kb.json", "biz_iso_b", "b-"), 0);
	check_isolated("nimbus_questions.json", "nimbus_kb.json", "biz_iso_a", "a-");
	check_isolated("maple_questions.json", "maple_kb.json", "biz_iso_b", "b-");
	/* both talk about opening hours; each sees only its own */
	sb_error err = {0};
	json_t *res = rt_query(&W, "biz_iso_b", "what are your opening hours", 50, &err);
	for (size_t k = 0; k < json_array_size(res); k++)
		assert_true(strncmp(rt_hit(res, k), "b-", 2) == 0);
	json_decref(res);
	/* a business cannot index (and so overwrite) another business's document */
	json_t *reply = NULL;
	assert_int_equal(rag_index(W.c, "biz_iso_b", "a-kb-plans", "Stolen", NULL, "free internet for all", &reply, &err), -1);
	assert_int_equal(err.code, SB_NOT_FOUND);
	assert_false(found("biz_iso_b", "free internet for all", "a-kb-plans", NULL));
	assert_false(found("biz_iso_a", "free internet for all", NULL, "free internet"));
	/* an unknown business has nothing */
	res = rt_query(&W, "biz_nobody", "what are your opening hours", 5, &err);
	assert_int_equal(json_array_size(res), 0);
	json_decref(res);
}

static void test_bad_requests(void **state)
{
	assert_string_equal(sbt_code(W.c, "rag.query", json_pack("{s:s}", "query", "hi")), "invalid_argument");
	assert_string_equal(sbt_code(W.c, "rag.query", json_pack("{s:s,s:s,s:i}", "businessId", "b", "query", "hi", "topK", 0)),
			    "invalid_argument");
	assert_string_equal(sbt_code(W.c, "rag.query", json_pack("{s:s,s:s}", "businessId", "b", "query", "")), "invalid_argument");
	assert_string_equal(sbt_code(W.c, "rag.index", json_pack("{s:s,s:s}", "id", "x", "businessId", "b")), "invalid_argument");
	assert_string_equal(sbt_code(W.c, "rag.nope", NULL), "invalid_argument");
	/* a document the store does not have is refused, and nothing is indexed */
	assert_string_equal(sbt_code(W.c, "rag.index", json_pack("{s:s,s:s,s:s,s:s}", "id", "ghost", "businessId", "biz_rt",
								 "title", "Ghost", "content", "boo")), "not_found");
	assert_false(found("biz_rt", "ghost boo", "ghost", NULL));
	assert_string_equal(sbt_code(W.c, "rag.delete", json_pack("{s:s}", "id", "never-there")), "ok");
}

/* Lines of the worker's log that mention needle. */
static int log_mentions(const char *needle)
{
	FILE *f = fopen(W.proc.log, "r");
	char line[2048];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

static void test_log_compaction(void **state)
{
	assert_int_equal(rt_business("biz_compact"), 0);
	json_decref(rt_doc(&W, "biz_compact", "cmp-keep", "Keep", NULL, "This document stays as it is.", NULL));
	int before = log_mentions("index.compacted");
	for (int i = 0; i < 400; i++) { /* every version appends a record; only the last one is live */
		char text[96];
		snprintf(text, sizeof text, "Version %d of the changing document.", i);
		json_t *r = rt_doc(&W, "biz_compact", "cmp-1", "Changing", NULL, text, NULL);
		assert_non_null(r);
		json_decref(r);
	}
	assert_true(log_mentions("index.compacted") > before);
	json_t *st = rt_stats(&W, "biz_compact");
	assert_true(sb_json_int(json_object_get(st, "index"), "logBytes", 0) < 1100000);
	json_decref(st);
	assert_true(found("biz_compact", "version 399 changing document", "cmp-1", "Version 399"));
	assert_false(found("biz_compact", "version 398", NULL, "Version 398"));
	assert_true(found("biz_compact", "document stays", "cmp-keep", NULL));
}

static void test_restart_keeps_the_index(void **state)
{
	char before[4096], after[4096];
	ranking("biz_rt", "do you ship to canada", before, sizeof before);
	assert_true(strlen(before) > 0);
	assert_int_equal(rt_worker_stop(&W, SIGTERM), 0);
	assert_int_equal(rt_worker_start(&W, "rag-local", NULL), 0);
	assert_int_equal(rt_wait_idle(&W, RT_WAIT_MS), 0);
	json_t *st = rt_stats(&W, NULL);
	assert_int_equal(sb_json_int(json_object_get(st, "jobs"), "done", -1), 0); /* nothing had to be re-indexed */
	json_decref(st);
	ranking("biz_rt", "do you ship to canada", after, sizeof after);
	assert_string_equal(before, after);
	assert_true(found("biz_compact", "version 399 changing document", "cmp-1", "Version 399")); /* the compacted log */
	assert_true(found("biz_compact", "document stays", "cmp-keep", NULL));
}

typedef struct { rt_worker *w; int ok; } racer;

static void *race(void *arg)
{
	racer *r = arg;
	sb_client *c = sb_client_open(r->w->url, &(sb_client_opts){.timeout_ms = 15000}, NULL);
	json_t *reply = NULL;
	sb_error err;
	r->ok = rag_index(c, "biz_rt", "rt-pay", "Payment methods", NULL, "We accept credit cards, PayPal and cash.", &reply,
			  &err) == 0 && !strcmp(sb_json_str(reply, "status"), "indexed");
	json_decref(reply);
	sb_client_close(c);
	return NULL;
}

static void test_identical_requests_at_once(void **state)
{
	assert_int_equal(rt_store_doc("biz_rt", "rt-pay", "Payment methods", NULL, "We accept credit cards, PayPal and cash."), 0);
	pthread_t t[6];
	racer r[6];
	for (int i = 0; i < 6; i++) {
		r[i] = (racer){&W, 0};
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_true(r[i].ok);
	}
	assert_true(found("biz_rt", "can i pay cash", "rt-pay", "cash"));
}

static void test_requests_go_before_background_work(void **state)
{
	assert_int_equal(rt_business("biz_bulk"), 0);
	for (int i = 0; i < 400; i++) {
		char id[32], text[160];
		snprintf(id, sizeof id, "bulk-%03d", i);
		snprintf(text, sizeof text, "Bulk document %d lists the spare parts of kit %d and their prices.", i, i);
		assert_int_equal(rt_store_doc("biz_bulk", id, "Spare parts", NULL, text), 0);
	}
	sb_error err = {0};
	json_t *data = NULL;
	assert_int_equal(rag_rag_reindex(W.c, json_pack("{s:s}", "businessId", "biz_bulk"), &data, &err), 0);
	assert_int_equal(sb_json_int(data, "queued", 0), 400);
	json_decref(data);
	json_t *r = rt_doc(&W, "biz_rt", "rt-urgent", "Lost and found", NULL, "Items left in the store are kept for 30 days.", &err);
	assert_string_equal(sb_json_str(r, "status"), "indexed");
	json_decref(r);
	json_t *st = rt_stats(&W, NULL);
	long queued = (long)sb_json_int(json_object_get(st, "jobs"), "queued", 0);
	json_decref(st);
	if (queued < 100)
		fail_msg("the request waited for the re-index: only %ld jobs were left", queued);
	assert_int_equal(rt_wait_idle(&W, RT_WAIT_MS), 0);
}

/* Receive events until one with topic arrives; validate its body against the catalogue. */
static void expect_event(sb_sub *sub, int ev)
{
	for (int64_t until = sb_mono_ms() + RT_WAIT_MS; sb_mono_ms() < until;) {
		char *topic = NULL, *js = NULL;
		if (sb_sub_recv(sub, 200, &topic, &js) != 0)
			continue;
		bool match = !strcmp(topic, SB_EVENTS[ev].topic);
		json_t *body = json_loads(js, 0, NULL);
		sb_error err = {0};
		for (int k = 0; k < SB_EV__COUNT; k++)
			if (!strcmp(topic, SB_EVENTS[k].topic) &&
			    sb_schema_validate(SB_EVENTS[k].fields, SB_EVENTS[k].nfields, body, &err) < 0)
				fail_msg("%s %s: %s", topic, js, err.message);
		json_decref(body);
		free(topic);
		free(js);
		if (match)
			return;
	}
	fail_msg("no %s event", SB_EVENTS[ev].topic);
}

static void test_events(void **state)
{
	const char *urls[] = {W.events};
	const char *prefixes[] = {"rag."};
	sb_sub *sub = sb_sub_open(urls, 1, prefixes, 1, NULL);
	assert_non_null(sub);
	sb_error err = {0};
	/* the subscription goes live asynchronously: query until an event arrives */
	for (int64_t until = sb_mono_ms() + RT_WAIT_MS;; ) {
		json_decref(rt_query(&W, "biz_rt", "warm up", 1, &err));
		char *t = NULL, *j = NULL;
		if (sb_sub_recv(sub, 100, &t, &j) == 0) {
			free(t);
			free(j);
			break;
		}
		assert_true(sb_mono_ms() < until);
	}
	json_decref(rt_doc(&W, "biz_rt", "rt-ev", "Events", NULL, "An event document about parking.", &err));
	expect_event(sub, SB_EV_RAG_INDEXED);
	json_decref(rt_query(&W, "biz_rt", "parking", 2, &err));
	expect_event(sub, SB_EV_RAG_QUERIED);
	assert_int_equal(rt_delete(&W, "rt-ev", NULL, &err), 0);
	expect_event(sub, SB_EV_RAG_DELETED);
	sb_sub_close(sub);
}

/* A new dimension: the old logs are set aside and everything is re-indexed from the store. */
static void test_dimension_change_reindexes(void **state)
{
	assert_int_equal(rt_worker_stop(&W, SIGTERM), 0);
	const char *args[] = {"--dimensions", "512", NULL};
	assert_int_equal(rt_worker_start(&W, "rag-local", args), 0);
	assert_int_equal(rt_wait_idle(&W, RT_WAIT_MS), 0);
	assert_true(log_mentions("index.log_set_aside") > 0);
	json_t *st = rt_stats(&W, "biz_iso_a");
	assert_int_equal(sb_json_int(json_object_get(st, "embedder"), "dimensions", 0), 512);
	assert_int_equal(sb_json_int(json_object_get(st, "index"), "documents", 0), 29);
	json_decref(st);
	assert_true(found("biz_rt", "do you guys ship to canada", "rt-ship", NULL));
	check_isolated("nimbus_questions.json", "nimbus_kb.json", "biz_iso_a", "a-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_long_document_chunks),
		cmocka_unit_test(test_update_and_delete),
		cmocka_unit_test(test_reindex_is_idempotent),
		cmocka_unit_test(test_tenant_isolation),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_log_compaction),
		cmocka_unit_test(test_restart_keeps_the_index),
		cmocka_unit_test(test_identical_requests_at_once),
		cmocka_unit_test(test_requests_go_before_background_work),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_dimension_change_reindexes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
