/*
 * rag_durability_test.c — the local index and the store agree after
 * kill -9, and a torn index log is cut and healed.
 *
 * Rounds: the worker re-indexes a business of NDOCS documents (some of them
 * many chunks long) while a client thread sends rag.index requests with new
 * content for others; at a random moment (once some jobs are done) the
 * worker is SIGKILLed. While it is down, documents are deleted from the
 * store, added and changed, as the gateway would. Then the worker starts
 * again, and once it is idle the two must agree exactly: every document of
 * the store is "indexed" with the chunk count the index holds, the index
 * holds nothing else, deleted documents are never returned and changed
 * ones are found by their new text.
 *
 * Then the index log is damaged: its last record (a new version of a
 * document, same number of chunks, already acknowledged and recorded in
 * the store) cut short, and garbage after it — worse than a crash can do,
 * since a crash only tears a record that was never acknowledged. The worker
 * must start, say so (index.torn_tail), notice from the fingerprint that
 * the document it kept is an older text, and re-index it.
 *
 * The schedule is random; SBT_SEED=<n> replays it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "rag_testkit.h"

#define NDOCS  120
#define ROUNDS 4
#define BIZ    "biz_dur"

static rt_worker   W;
static const char *ARGS[] = {"--index-workers", "3", NULL};
static unsigned    seed;
static int         version[NDOCS + 64]; /* content version of each document id; -1 deleted */
static int         ndocs = NDOCS;

static int setup(void **state)
{
	const char *s = getenv("SBT_SEED");
	seed = s ? (unsigned)atoi(s) : (unsigned)time(NULL);
	fprintf(stderr, "SBT_SEED=%u\n", seed);
	srand(seed);
	return rt_store_up() < 0 || rt_worker_start(&W, "rag-dur", ARGS) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	int rc = rt_worker_stop(&W, SIGTERM);
	rt_worker_close(&W);
	sb_client_close(rt.s);
	sbt_stop(&rt.store, SIGTERM, RT_WAIT_MS);
	return rc == 0 ? 0 : -1;
}

static void doc_id(char *out, size_t len, int i)
{
	snprintf(out, len, "dur-%03d", i);
}

/* Content of document i at version v: a unique word per (i, v); every seventh is long. */
static char *content(int i, int v)
{
	int paras = i % 7 == 0 ? 12 : 1;
	size_t cap = (size_t)paras * 300 + 200, o = 0;
	char *s = malloc(cap);
	o += (size_t)snprintf(s, cap, "Marker qx%dv%d. ", i, v);
	for (int p = 0; p < paras; p++)
		o += (size_t)snprintf(s + o, cap - o, "%sParagraph %d of document %d describes the returns desk, the "
				      "opening hours and the parking rules of store number %d in some detail.", p ? "\n\n" : "",
				      p, i, i);
	return s;
}

static void put_store(int i)
{
	char id[32];
	doc_id(id, sizeof id, i);
	char *c = content(i, version[i]);
	assert_int_equal(rt_store_doc(BIZ, id, "Document", "test", c), 0);
	free(c);
}

static atomic_bool stop_client;

/* Index new versions of the documents from 100 on, one request at a time, until told to stop. */
static void *client_main(void *arg)
{
	sb_client *c = sb_client_open(W.url, &(sb_client_opts){.timeout_ms = 2000, .resend_ms = 500}, NULL);
	for (int k = 0; !atomic_load(&stop_client); k++) {
		int i = 100 + k % 20;
		if (version[i] < 0)
			continue;
		char id[32];
		doc_id(id, sizeof id, i);
		char *body = content(i, version[i]);
		json_t *reply = NULL;
		rag_index(c, BIZ, id, "Document", "test", body, &reply, NULL); /* failures are fine: the worker dies */
		json_decref(reply);
		free(body);
	}
	sb_client_close(c);
	return NULL;
}

/* Wait until the worker has finished at least n jobs. */
static void wait_done(int n)
{
	for (int64_t until = sb_mono_ms() + RT_WAIT_MS; sb_mono_ms() < until; rt_nap(2)) {
		json_t *s = rt_stats(&W, NULL);
		long done = (long)sb_json_int(json_object_get(s, "jobs"), "done", 0);
		json_decref(s);
		if (done >= n)
			return;
	}
	fail_msg("the worker made no progress");
}

/* What happens while the worker is down: deletes, additions, changes. */
static void change_store(void)
{
	for (int k = 0; k < 3; k++) {
		int i = rand() % 100;
		char id[32];
		doc_id(id, sizeof id, i);
		if (version[i] >= 0) {
			json_decref(sbt_ok(rt.s, "knowledge.delete", json_pack("{s:s}", "id", id)));
			version[i] = -1;
		}
	}
	version[ndocs] = 0;
	put_store(ndocs++);
	int i = rand() % 100;
	if (version[i] >= 0) {
		version[i]++;
		put_store(i);
	}
}

/* The store and the index agree exactly. */
static void check_agreement(void)
{
	json_t *st = rt_stats(&W, BIZ), *docs = json_object_get(json_object_get(st, "index"), "docs");
	json_t *list = sbt_ok(rt.s, "knowledge.list", json_pack("{s:s,s:i}", "businessId", BIZ, "limit", 1000)), *d;
	size_t i;
	assert_non_null(list);
	json_array_foreach(json_object_get(list, "items"), i, d) {
		const char *id = sb_json_str(d, "id");
		if (strcmp(sb_json_str(d, "indexStatus"), "indexed") != 0)
			fail_msg("%s is %s in the store", id, sb_json_str(d, "indexStatus"));
		json_int_t have = sb_json_int(json_object_get(docs, id), "chunks", -1);
		if (have != sb_json_int(d, "chunks", -2))
			fail_msg("%s: store says %lld chunks, index has %lld", id, (long long)sb_json_int(d, "chunks", -2),
				 (long long)have);
	}
	assert_int_equal(json_object_size(docs), json_array_size(json_object_get(list, "items")));
	json_decref(list);
	json_decref(st);
}

/* Deleted documents are never returned; the current version of every other one is found by its marker. */
static void check_results(void)
{
	for (int i = 0; i < ndocs; i++) {
		char q[64], id[32], marker[32];
		doc_id(id, sizeof id, i);
		int v = version[i] < 0 ? 0 : version[i];
		snprintf(marker, sizeof marker, "qx%dv%d", i, v);
		snprintf(q, sizeof q, "marker %s", marker);
		sb_error err;
		json_t *res = rt_query(&W, BIZ, q, 3, &err);
		assert_non_null(res);
		bool hit = false;
		for (size_t k = 0; k < json_array_size(res); k++) {
			if (version[i] < 0 && !strcmp(rt_hit(res, k), id))
				fail_msg("deleted %s was returned", id);
			hit |= strstr(sb_json_str(json_array_get(res, k), "content"), marker) != NULL;
		}
		if (version[i] >= 0 && !hit)
			fail_msg("%s: its text \"%s\" is not found", id, marker);
		json_decref(res);
	}
}

static void test_kill9_during_indexing(void **state)
{
	assert_int_equal(rt_business(BIZ), 0);
	for (int i = 0; i < NDOCS; i++)
		put_store(i);
	for (int round = 0; round < ROUNDS; round++) {
		sb_error err = {0};
		json_t *data = NULL;
		assert_int_equal(rag_rag_reindex(W.c, json_pack("{s:s}", "businessId", BIZ), &data, &err), 0);
		json_decref(data);
		atomic_store(&stop_client, false);
		pthread_t t;
		pthread_create(&t, NULL, client_main, NULL);
		wait_done(5 + rand() % 60);
		assert_int_equal(rt_worker_stop(&W, SIGKILL), 128 + SIGKILL);
		atomic_store(&stop_client, true);
		pthread_join(t, NULL);
		change_store();
		assert_int_equal(rt_worker_start(&W, "rag-dur", ARGS), 0);
		assert_int_equal(rt_wait_idle(&W, RT_WAIT_MS), 0);
		check_agreement();
	}
	check_results();
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
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

static void test_torn_log_is_cut_and_healed(void **state)
{
	char path[700], id[32];
	snprintf(path, sizeof path, "%s/index/%s.log", W.data, BIZ);
	int i = 1; /* a one-chunk document: its new version has as many chunks as the old one */
	while (version[i] < 0 || i % 7 == 0)
		i++;
	version[i]++;
	put_store(i);
	doc_id(id, sizeof id, i);
	char *body = content(i, version[i]);
	json_t *reply = NULL;
	assert_int_equal(rag_index(W.c, BIZ, id, "Document", "test", body, &reply, NULL), 0); /* the log's last record */
	assert_string_equal(sb_json_str(reply, "status"), "indexed");
	json_decref(reply);
	free(body);
	int torn_before = log_mentions("index.torn_tail");
	assert_int_equal(rt_worker_stop(&W, SIGKILL), 128 + SIGKILL);
	off_t size = file_size(path);
	assert_true(size > 1000);
	assert_int_equal(truncate(path, size - 7), 0); /* the last record loses its end */
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "RAG1\x02\x00\x00\x00garbage", 15), 15); /* and junk follows */
	close(fd);
	assert_int_equal(rt_worker_start(&W, "rag-dur", ARGS), 0);
	assert_int_equal(rt_wait_idle(&W, RT_WAIT_MS), 0);
	assert_int_equal(log_mentions("index.torn_tail"), torn_before + 1);
	check_agreement();
	check_results();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_during_indexing),
		cmocka_unit_test(test_torn_log_is_cut_and_healed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
