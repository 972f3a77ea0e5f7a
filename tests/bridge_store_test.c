/*
 * bridge_store_test.c — the store goes away in the middle of a call: the
 * bridge holds the transcript lines and retries, none is lost, none doubled.
 *
 * Real daemons: sb-store (ipc, on disk), sb-realtime-sim (--no-kb: every
 * caller turn gets a spoken answer, and it records each turn it answered),
 * sb-media-bridge and sb-callsim (4 caller turns). After the first turn is
 * in the store, the store is stopped; the call goes on for two more turns;
 * then the store is started again on the same database. The call must end
 * with all 9 lines (greeting + 4 × (caller, answer)) in conversation order,
 * seq 0..8, each exactly once, and status completed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "bridge_testkit.h"

#define SECRET "test-secret-for-streams"

static struct {
	sbt_proc   store, rt, bridge, sim;
	char       store_url[512], biz[64], record[512], report[512];
	int        ws_port;
	sb_client *c;
} g;

static void start_rt_and_bridge(void)
{
	char run[300], listen[64], rt_listen[64], rt_url[128], control[400], events[400];
	sbt_path(run, sizeof run, "run");
	int rt_port = sbt_free_port();
	snprintf(rt_listen, sizeof rt_listen, "127.0.0.1:%d", rt_port);
	sbt_path(g.record, sizeof g.record, "rt.jsonl");
	const char *rargs[] = {"--run-dir", run, "--listen", rt_listen, "--record", g.record, "--no-kb", "--greeting-ms", "500", NULL};
	assert_int_equal(sbt_spawn(&g.rt, sbt_bin("sb-realtime-sim"), rargs), 0);
	assert_int_equal(sbt_tcp_ready(rt_port, BT_WAIT_MS), 0);
	g.ws_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", g.ws_port);
	snprintf(rt_url, sizeof rt_url, "ws://127.0.0.1:%d/v1/realtime", rt_port);
	snprintf(control, sizeof control, "ipc://%s/bridge.sock", run);
	snprintf(events, sizeof events, "ipc://%s/bridge-events.sock", run);
	const char *bargs[] = {"--run-dir", run, "--listen", listen, "--control", control, "--events", events,
			       "--store-url", g.store_url, "--realtime-url", rt_url, "--secret", SECRET,
			       "--barge-in-debounce-ms", "0", "--drain-seconds", "1", NULL};
	assert_int_equal(sbt_spawn(&g.bridge, sbt_bin("sb-media-bridge"), bargs), 0);
	assert_int_equal(sbt_wait_ready(control, BT_WAIT_MS), 0);
	assert_int_equal(sbt_tcp_ready(g.ws_port, BT_WAIT_MS), 0);
}

static void start_callsim(const char *sid)
{
	char run[300], url[128];
	sbt_path(run, sizeof run, "run");
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/twilio/stream", g.ws_port);
	sbt_path(g.report, sizeof g.report, "report.json");
	const char *args[] = {"--run-dir", run, "--stream-url", url, "--secret", SECRET, "--report", g.report,
			      "--business-id", g.biz, "--call-sid", sid, "--duration-ms", "9500", "--talk-at-ms", "700",
			      "--talk-ms", "400", "--talk-count", "4", "--talk-every-ms", "2000", NULL};
	assert_int_equal(sbt_spawn(&g.sim, sbt_bin("sb-callsim"), args), 0);
}

/* Poll the call's stored transcript until it has n lines. */
static void wait_lines(const char *sid, size_t n)
{
	json_t *call = bt_wait_call(g.c, sid, NULL, n);
	assert_non_null(call);
	json_decref(call);
}

/* Lines 0..8: seq in order, roles alternate after the greeting, caller utterances in order, no repeats. */
static void check_transcript(json_t *call)
{
	json_t *lines = json_object_get(call, "transcript");
	assert_int_equal(json_array_size(lines), 9);
	int last_utt = -1;
	for (size_t i = 0; i < 9; i++) {
		json_t *l = json_array_get(lines, i);
		const char *role = sb_json_str(l, "role"), *text = sb_json_str(l, "text");
		assert_int_equal(sb_json_int(l, "seq", -1), (json_int_t)i);
		assert_string_equal(role, i == 0 || i % 2 == 0 ? "assistant" : "user");
		if (i % 2 == 1) {
			const char *u = strstr(text, "(utterance ");
			assert_non_null(u);
			int utt = atoi(u + 11);
			assert_true(utt > last_utt);
			last_utt = utt;
		}
	}
}

static void test_store_down_mid_call(void **state)
{
	const char *sid = "CAstoredown0001";
	start_callsim(sid);
	wait_lines(sid, 3); /* greeting, turn 1: stored while the store is up */
	assert_int_equal(sbt_stop(&g.store, SIGTERM, BT_WAIT_MS), 0);
	/* two more turns happen while it is down */
	assert_int_equal(bt_wait_lines(g.record, "kind", "turn", NULL, 3), 3);
	assert_int_equal(sbt_start_store(&g.store, g.store_url, sizeof g.store_url, NULL), 0);
	json_t *call = bt_wait_call(g.c, sid, "completed", 9);
	assert_non_null(call);
	check_transcript(call);
	json_decref(call);
	assert_int_equal(sbt_stop(&g.sim, 0, 30000), 0);
	json_t *r = json_load_file(g.report, 0, NULL);
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(r, "items"), 0), "rejected")));
	json_decref(r);
	assert_int_equal(bt_count_lines(g.record, "kind", "violation", -1, NULL), 0);
	assert_true(sbt_alive(&g.bridge));
}

static int setup(void **state)
{
	if (sbt_start_store(&g.store, g.store_url, sizeof g.store_url, NULL) != 0)
		return -1;
	g.c = sb_client_open(g.store_url, NULL, NULL);
	json_t *b = sbt_ok(g.c, "businesses.create", json_pack("{s:s}", "name", "Acme Plumbing"));
	snprintf(g.biz, sizeof g.biz, "%s", sb_json_str(b, "id"));
	json_decref(b);
	start_rt_and_bridge();
	return 0;
}

static int teardown(void **state)
{
	sbt_stop(&g.bridge, SIGTERM, BT_WAIT_MS);
	sbt_stop(&g.rt, SIGTERM, BT_WAIT_MS);
	sb_client_close(g.c);
	sbt_stop(&g.store, SIGTERM, BT_WAIT_MS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_down_mid_call),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
