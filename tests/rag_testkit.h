/*
 * rag_testkit.h — what the rag_*_test.c files share (header-only: each
 * test binary is built from one .c file plus tests/lib).
 *
 * One sb-store per test binary; sb-rag-worker instances started under
 * their own names (a symlink <dir>/<name> to the binary, so each has its
 * own log <dir>/<name>.log and its own sockets and data folder); sb-cloudsim
 * on a free loopback port read from its --port-file. Readiness is polled,
 * never slept for: the worker's REP socket (sys.health), the simulator's
 * /_sim/stats, and rag.stats for "everything indexed".
 */
#ifndef RAG_TESTKIT_H
#define RAG_TESTKIT_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/harness.h"
#include "rag_client.h"
#include "sb_http.h"
#include "sb_json.h"
#include "sb_time.h"

#define RT_WAIT_MS 20000 /* longest any one wait may take (generous for asan and valgrind) */

typedef struct rt_worker {
	sbt_proc   proc;
	char       name[64];
	char       url[600], events[600], data[600];
	sb_client *c;
} rt_worker;

static struct {
	sbt_proc   store;
	char       store_url[512];
	sb_client *s;
	sbt_proc   sim;
	int        sim_port;
	sb_http   *http;
} rt;

static inline void rt_nap(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Start the test binary's sb-store (once). */
static inline int rt_store_up(void)
{
	if (rt.s)
		return 0;
	if (sbt_start_store(&rt.store, rt.store_url, sizeof rt.store_url, NULL) != 0)
		return -1;
	rt.s = sb_client_open(rt.store_url, NULL, NULL);
	return rt.s ? 0 : -1;
}

/* Start (or restart, same name = same sockets and data) a worker with extra flags. */
static inline int rt_worker_start(rt_worker *w, const char *name, const char *const *extra)
{
	char target[PATH_MAX], link[500], run[600];
	if (!realpath(sbt_bin("sb-rag-worker"), target))
		return -1;
	snprintf(w->name, sizeof w->name, "%s", name);
	sbt_path(link, sizeof link, name);
	unlink(link);
	if (symlink(target, link) < 0)
		return -1;
	snprintf(w->url, sizeof w->url, "ipc://%s.sock", link);
	snprintf(w->events, sizeof w->events, "ipc://%s-events.sock", link);
	snprintf(w->data, sizeof w->data, "%s-data", link);
	sbt_path(run, sizeof run, "run");
	const char *args[48] = {"--run-dir", run, "--store-url", rt.store_url, "--listen", w->url, "--events",
				w->events, "--data-dir", w->data};
	int n = 10;
	for (int i = 0; extra && extra[i] && n < 47; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	if (sbt_spawn(&w->proc, link, args) < 0 || sbt_wait_ready(w->url, RT_WAIT_MS) < 0)
		return -1;
	if (!w->c)
		w->c = sb_client_open(w->url, &(sb_client_opts){.timeout_ms = 15000, .resend_ms = 20000}, NULL);
	return w->c ? 0 : -1;
}

/* SIGTERM the worker; its exit status (0 expected). */
static inline int rt_worker_stop(rt_worker *w, int sig)
{
	return sbt_stop(&w->proc, sig, RT_WAIT_MS);
}

static inline void rt_worker_close(rt_worker *w)
{
	sb_client_close(w->c);
	w->c = NULL;
}

/* rag.stats (owned), biz may be NULL. */
static inline json_t *rt_stats(rt_worker *w, const char *biz)
{
	json_t *data = NULL;
	json_t *args = biz ? json_pack("{s:s}", "businessId", biz) : json_object();
	if (rag_rag_stats(w->c, args, &data, NULL) < 0)
		return NULL;
	return data;
}

/* Wait until the start-up reconcile is done and no job is running, queued or waiting to retry. */
static inline int rt_wait_idle(rt_worker *w, int timeout_ms)
{
	int64_t until = sb_mono_ms() + timeout_ms;
	while (sb_mono_ms() < until) {
		json_t *s = rt_stats(w, NULL), *j = json_object_get(s, "jobs");
		bool idle = s && json_is_true(json_object_get(s, "reconciled")) && sb_json_int(j, "running", 1) == 0 &&
			    sb_json_int(j, "queued", 1) == 0 && sb_json_int(j, "retrying", 1) == 0;
		json_decref(s);
		if (idle)
			return 0;
		rt_nap(20);
	}
	return -1;
}

/* Create the business in the store (idempotent). */
static inline int rt_business(const char *biz)
{
	json_t *d = sbt_ok(rt.s, "businesses.create", json_pack("{s:s,s:s}", "id", biz, "name", biz));
	json_decref(d);
	return d ? 0 : -1;
}

/* Put a document in the store (create, or update when it exists). */
static inline int rt_store_doc(const char *biz, const char *id, const char *title, const char *cat, const char *content)
{
	json_t *d = sbt_ok(rt.s, "knowledge.create", json_pack("{s:s,s:s,s:s,s:s,s:s*}", "id", id, "businessId", biz,
							       "title", title, "content", content, "category", cat));
	if (d && strcmp(sb_json_str(d, "content"), content) != 0) {
		json_decref(d);
		d = sbt_ok(rt.s, "knowledge.update", json_pack("{s:s,s:s,s:s}", "id", id, "title", title, "content", content));
	}
	json_decref(d);
	return d ? 0 : -1;
}

/* Store the document, then rag.index it: the reply's data (owned), or NULL (err set). */
static inline json_t *rt_doc(rt_worker *w, const char *biz, const char *id, const char *title, const char *cat,
			     const char *content, sb_error *err)
{
	json_t *reply = NULL;
	if (rt_store_doc(biz, id, title, cat, content) < 0) {
		sb_error_set(err, SB_INTERNAL, "store refused the document");
		return NULL;
	}
	if (rag_index(w->c, biz, id, title, cat, content, &reply, err) < 0)
		return NULL;
	return reply;
}

/* The index status of a document as the store has it (static buffer per call site is not needed: owned copy). */
static inline json_t *rt_store_get(const char *id)
{
	return sbt_ok(rt.s, "knowledge.get", json_pack("{s:s}", "id", id));
}

/* Query: the results array (owned) or NULL with err. */
static inline json_t *rt_query(rt_worker *w, const char *biz, const char *q, int k, sb_error *err)
{
	json_t *res = NULL;
	return rag_query(w->c, biz, q, k, &res, err) == 0 ? res : NULL;
}

/* Document id of the i-th result, or "". */
static inline const char *rt_hit(const json_t *res, size_t i)
{
	const char *id = sb_json_str(json_array_get(res, i), "id");
	return id ? id : "";
}

/* Load a test data file (tests/data/rag/<name>, or $SB_RAG_TESTDATA/<name>). */
static inline json_t *rt_data(const char *name)
{
	char path[600];
	const char *dir = getenv("SB_RAG_TESTDATA");
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data/rag", name);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		fprintf(stderr, "cannot load %s: %s\n", path, je.text);
	return j;
}

/* Store and index every document of a knowledge base file under business biz, ids prefixed (ids are global). */
static inline int rt_load_kb(rt_worker *w, const char *file, const char *biz, const char *prefix)
{
	json_t *kb = rt_data(file), *d;
	size_t i;
	int bad = kb ? 0 : 1;
	if (rt_business(biz) < 0)
		bad++;
	json_array_foreach(json_object_get(kb, "documents"), i, d) {
		sb_error err = {0};
		char id[128];
		snprintf(id, sizeof id, "%s%s", prefix, sb_json_str(d, "id"));
		json_t *r = rt_doc(w, biz, id, sb_json_str(d, "title"), sb_json_str(d, "category"),
				   sb_json_str(d, "content"), &err);
		if (!r || strcmp(sb_json_str(r, "status") ? sb_json_str(r, "status") : "", "indexed") != 0) {
			fprintf(stderr, "index %s: %s\n", id, r ? sb_json_str(r, "error") : err.message);
			bad++;
		}
		json_decref(r);
	}
	json_decref(kb);
	return bad ? -1 : 0;
}

/* Delete a document the way the gateway does: from the store, then from the index. */
static inline int rt_delete(rt_worker *w, const char *id, int *deleted, sb_error *err)
{
	json_decref(sbt_ok(rt.s, "knowledge.delete", json_pack("{s:s}", "id", id)));
	return rag_delete(w->c, id, deleted, err);
}

/* ---- sb-cloudsim -------------------------------------------------------------------------- */

/* A request to the simulator: the parsed reply (owned) or NULL; *status gets the HTTP status. */
static inline json_t *rt_sim(const char *method, const char *path, const char *body, int *status)
{
	char url[8192];
	if (snprintf(url, sizeof url, "http://127.0.0.1:%d%s", rt.sim_port, path) >= (int)sizeof url)
		return NULL;
	if (!rt.http)
		rt.http = sb_http_new(&(sb_http_opts){.name = "test", .timeout_ms = 10000});
	const char *hdrs[] = {"Api-Key: pc-cloudsim", "X-Pinecone-Api-Version: 2025-10", NULL};
	sb_http_req rq = {.method = method, .url = url, .headers = hdrs, .body = body, .body_len = body ? strlen(body) : 0};
	sb_http_resp rs;
	sb_http_do(rt.http, &rq, &rs);
	if (status)
		*status = rs.status;
	json_t *j = rs.status ? json_loadb(rs.body, rs.len, 0, NULL) : NULL;
	sb_http_resp_free(&rs);
	return j;
}

/* Start sb-cloudsim on a free port and wait until it answers. */
static inline int rt_sim_up(void)
{
	char pf[600];
	sbt_path(pf, sizeof pf, "cloudsim.port");
	unlink(pf);
	const char *args[] = {"--port-file", pf, NULL};
	if (sbt_spawn(&rt.sim, sbt_bin("sb-cloudsim"), args) < 0)
		return -1;
	for (int64_t until = sb_mono_ms() + RT_WAIT_MS; sb_mono_ms() < until; rt_nap(10)) {
		FILE *f = fopen(pf, "r");
		if (!f)
			continue;
		int ok = fscanf(f, "%d", &rt.sim_port) == 1;
		fclose(f);
		int status = 0;
		json_t *s = ok ? rt_sim("GET", "/_sim/stats", NULL, &status) : NULL;
		json_decref(s);
		if (status == 200)
			return 0;
	}
	return -1;
}

/* POST /_sim/faults with spec (JSON text); 0 if accepted. */
static inline int rt_faults(const char *spec)
{
	int status = 0;
	json_decref(rt_sim("POST", "/_sim/faults", spec, &status));
	return status == 200 ? 0 : -1;
}

/* One number from GET /_sim/stats, e.g. "requests.embeddings" or "maxUpsertBytes". */
static inline long rt_sim_stat(const char *path)
{
	json_t *s = rt_sim("GET", "/_sim/stats", NULL, NULL), *v = s;
	char key[128], *save = NULL;
	snprintf(key, sizeof key, "%s", path);
	for (char *k = strtok_r(key, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	long n = json_is_integer(v) ? (long)json_integer_value(v) : 0;
	json_decref(s);
	return n;
}

/* The base URL of the simulator, for --openai-base-url and --pinecone-host. */
static inline const char *rt_sim_url(void)
{
	static char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", rt.sim_port);
	return url;
}

#endif
