/*
 * valgrind_test.c — no leaks and no memory errors on the daemons' normal
 * path: each daemon runs under valgrind memcheck, serves real requests over
 * its real socket, gets SIGTERM, and must exit 0 (valgrind exits 9 on any
 * error or definite/indirect/possible leak). The daemon under test talks to
 * a real sb-store (run normally). Skipped in sanitizer builds, where
 * valgrind cannot run.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sb_json.h"
#include "sb_time.h"

static bool sanitizer_build(void)
{
	const char *b = getenv("SB_BUILD");
	return b && strstr(b, "asan");
}

/* Start bin under valgrind with args; the tool's report goes to the daemon log. */
static int spawn_valgrind(sbt_proc *p, const char *bin, const char *const *args)
{
	const char *argv[48] = {"--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
				"--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=9", bin};
	int n = 6;
	for (int i = 0; args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char name[64];
	const char *base = strrchr(bin, '/');
	snprintf(name, sizeof name, "vg-%s", base ? base + 1 : bin);
	return sbt_spawn_as(p, name, "/usr/bin/valgrind", argv);
}

/* Wait until p's log says "daemon.ready" (its sockets are listening). Polling a daemon that
 * is still starting under valgrind would cut SP handshakes short, which can wedge an nng
 * 1.5.2 listener (nng#1518) and make the RPC watchdog restart it: nng then leaks the old
 * one, and that is nng's leak, not the daemon's. So we read the log instead. */
static void wait_started(const sbt_proc *p, int timeout_ms)
{
	int64_t until = sb_mono_ms() + timeout_ms;
	for (;;) {
		FILE *f = fopen(p->log, "r");
		char line[4096];
		bool ready = false;
		while (f && !ready && fgets(line, sizeof line, f))
			ready = strstr(line, "daemon.ready") != NULL;
		if (f)
			fclose(f);
		if (ready)
			return;
		if (sb_mono_ms() > until)
			fail_msg("%s did not start under valgrind; see %s", p->name, p->log);
		usleep(100 * 1000); /* polling the log of a daemon starting under valgrind */
	}
}

static void test_store_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char run[300], db[300], url[400];
	sbt_path(run, sizeof run, "vg-run");
	sbt_path(db, sizeof db, "vg.db");
	snprintf(url, sizeof url, "ipc://%s/store.sock", run);
	const char *args[] = {"--run-dir", run, "--db", db, NULL};
	sbt_proc p;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-store"), args), 0);
	wait_started(&p, 60000);
	assert_int_equal(sbt_wait_ready(url, 60000), 0);
	sb_client_opts o = {.timeout_ms = 10000};
	sb_client *c = sb_client_open(url, &o, NULL);
	json_t *b = sbt_ok(c, "businesses.create", json_pack("{s:s}", "name", "Valgrind Co"));
	assert_non_null(b);
	json_t *call = sbt_ok(c, "calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CAvg1", "direction",
							   "inbound", "businessId", sb_json_str(b, "id")));
	assert_non_null(call);
	for (int i = 0; i < 20; i++)
		json_decref(sbt_ok(c, "calls.append_transcript",
				   json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CAvg1", "seq", i, "role", "user", "text", "hello")));
	json_decref(sbt_ok(c, "calls.get", json_pack("{s:s}", "callSid", "CAvg1")));
	assert_string_equal(sbt_code(c, "nope", NULL), "invalid_argument");
	json_decref(b);
	json_decref(call);
	sb_client_close(c);
	int rc = sbt_stop(&p, SIGTERM, 60000);
	if (rc != 0)
		fail_msg("sb-store under valgrind exited %d; see %s", rc, p.log);
}

/* ---- the other daemons, each beside a normal sb-store -------------------------------- */

static sbt_proc store;
static char store_url[512], run[300];

static int with_store(void **state)
{
	if (sanitizer_build())
		return 0;
	sbt_path(run, sizeof run, "run");
	return sbt_start_store(&store, store_url, sizeof store_url, NULL);
}

static int without_store(void **state)
{
	if (store.pid > 0)
		sbt_stop(&store, SIGTERM, 10000);
	return 0;
}

/* An ipc:// URL for name inside the test folder. */
static const char *ipc(const char *name)
{
	static __thread char urls[8][400];
	static __thread int next;
	char *u = urls[next++ % 8];
	char path[300];
	snprintf(u, 400, "ipc://%s", sbt_path(path, sizeof path, name));
	return u;
}

/* Stop p with SIGTERM and demand a clean valgrind exit. */
static void expect_clean_exit(sbt_proc *p)
{
	int rc = sbt_stop(p, SIGTERM, 60000);
	if (rc != 0)
		fail_msg("%s under valgrind exited %d; see %s", p->name, rc, p->log);
}

/* Call op on url with args (stolen) and expect ok; a daemon under valgrind answers slowly. */
static void call_ok(const char *url, const char *op, json_t *args)
{
	sb_client_opts o = {.timeout_ms = 20000, .resend_ms = 20000};
	sb_client *c = sb_client_open(url, &o, NULL);
	json_t *data = sbt_ok(c, op, args);
	if (!data)
		fail_msg("%s on %s failed", op, url);
	json_decref(data);
	sb_client_close(c);
}

static void test_rag_worker_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char data[300];
	const char *url = ipc("vg-rag.sock");
	const char *args[] = {"--run-dir", run, "--store-url", store_url, "--listen", url, "--events",
			      ipc("vg-rag-events.sock"), "--data-dir", sbt_path(data, sizeof data, "vg-rag"), NULL};
	sbt_proc p;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-rag-worker"), args), 0);
	wait_started(&p, 60000);
	assert_int_equal(sbt_wait_ready(url, 60000), 0);
	call_ok(url, "rag.query", json_pack("{s:s,s:s}", "businessId", "biz_vg", "query", "what are your hours"));
	call_ok(url, "rag.stats", NULL);
	expect_clean_exit(&p);
}

static void test_scheduler_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char outbox[300];
	const char *url = ipc("vg-sched.sock");
	const char *args[] = {"--run-dir", run, "--store-url", store_url, "--listen", url, "--events",
			      ipc("vg-sched-events.sock"), "--interval", "0", "--outbox-dir",
			      sbt_path(outbox, sizeof outbox, "vg-outbox"), NULL};
	sbt_proc p;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-scheduler"), args), 0);
	wait_started(&p, 60000);
	assert_int_equal(sbt_wait_ready(url, 60000), 0);
	call_ok(url, "outreach.status", NULL);
	expect_clean_exit(&p);
}

static void test_bridge_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", sbt_free_port());
	const char *url = ipc("vg-bridge.sock");
	const char *args[] = {"--run-dir", run, "--store-url", store_url, "--listen", listen, "--control", url,
			      "--events", ipc("vg-bridge-events.sock"), "--secret", "valgrind-stream-token-secret",
			      "--realtime-url", "ws://127.0.0.1:9/v1/realtime", NULL};
	sbt_proc p;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-media-bridge"), args), 0);
	wait_started(&p, 60000);
	assert_int_equal(sbt_wait_ready(url, 60000), 0);
	call_ok(url, "session.list", NULL);
	expect_clean_exit(&p);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	return size * n;
}

/* GET url until it answers 200 or timeout_ms passes. */
static long http_get_until_ok(const char *url, int timeout_ms)
{
	long status = 0;
	int64_t until = sb_mono_ms() + timeout_ms;
	while (status != 200 && sb_mono_ms() < until) {
		CURL *h = curl_easy_init();
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(h);
		if (status != 200)
			usleep(100 * 1000); /* polling a process that is still starting under valgrind */
	}
	return status;
}

static void test_gateway_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char listen[64], health[128];
	int port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	snprintf(health, sizeof health, "http://127.0.0.1:%d/healthz", port);
	const char *args[] = {"--run-dir", run, "--store-url", store_url, "--listen", listen, "--events",
			      ipc("vg-gw-events.sock"), "--secret", "valgrind-stream-token-secret", "--admin-key",
			      "valgrind-admin-key-0123456789", "--twilio-auth-token", "valgrind-token", NULL};
	sbt_proc p;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-gateway"), args), 0);
	wait_started(&p, 60000);
	assert_int_equal(http_get_until_ok(health, 60000), 200);
	expect_clean_exit(&p);
}

/* Wait for p to exit by itself; its exit status, or -1. */
static int wait_done(sbt_proc *p, int timeout_ms)
{
	return sbt_stop(p, 0, timeout_ms);
}

/* sb-voice: the one-shot synthesis, then a real session (a bridge, normal, dials it and sb-callsim
 * says one word: greeting, recognition, policy, synthesis, end_call), then SIGTERM. */
static void test_voice_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char wav[300], listen[64], rt_url[128], blisten[64], stream[128], work[300];
	sbt_path(wav, sizeof wav, "vg-goodbye.wav");
	const char *say[] = {"--run-dir", run, "--say", "goodbye", "--voice", "rms", "--say-out", wav, NULL};
	sbt_proc p, bridge, sim;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-voice"), say), 0);
	assert_int_equal(wait_done(&p, 120000), 0);

	int vport = sbt_free_port(), bport = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", vport);
	const char *args[] = {"--run-dir", run, "--store-url", store_url, "--listen", listen, "--work-dir",
			      sbt_path(work, sizeof work, "vg-voice"), NULL};
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-voice"), args), 0);
	wait_started(&p, 120000);
	assert_int_equal(sbt_tcp_ready(vport, 120000), 0);

	snprintf(rt_url, sizeof rt_url, "ws://127.0.0.1:%d/v1/realtime", vport);
	snprintf(blisten, sizeof blisten, "127.0.0.1:%d", bport);
	const char *url = ipc("vg-voice-bridge.sock");
	const char *bargs[] = {"--run-dir", run, "--store-url", store_url, "--listen", blisten, "--control", url,
			       "--events", ipc("vg-voice-bridge-events.sock"), "--secret", "valgrind-stream-token-secret",
			       "--realtime-url", rt_url, "--drain-seconds", "1", NULL};
	assert_int_equal(sbt_spawn_as(&bridge, "vg-voice-bridge", sbt_bin("sb-media-bridge"), bargs), 0);
	assert_int_equal(sbt_wait_ready(url, 20000), 0);
	snprintf(stream, sizeof stream, "ws://127.0.0.1:%d/api/twilio/stream", bport);
	const char *cargs[] = {"--run-dir", run, "--stream-url", stream, "--secret", "valgrind-stream-token-secret",
			       "--business-id", "biz_vg", "--say", wav, "--say-timeout-ms", "20000", "--duration-ms", "60000",
			       NULL};
	assert_int_equal(sbt_spawn_as(&sim, "vg-voice-callsim", sbt_bin("sb-callsim"), cargs), 0);
	assert_int_equal(wait_done(&sim, 90000), 0);
	assert_int_equal(sbt_stop(&bridge, SIGTERM, 20000), 0);
	expect_clean_exit(&p);
}

int main(void)
{
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_store_clean_shutdown),
	};
	const struct CMUnitTest beside_store[] = {
		cmocka_unit_test(test_rag_worker_clean_shutdown),
		cmocka_unit_test(test_scheduler_clean_shutdown),
		cmocka_unit_test(test_bridge_clean_shutdown),
		cmocka_unit_test(test_gateway_clean_shutdown),
		cmocka_unit_test(test_voice_clean_shutdown),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int failed = cmocka_run_group_tests(alone, NULL, NULL);
	failed += cmocka_run_group_tests(beside_store, with_store, without_store);
	curl_global_cleanup();
	return failed;
}
