/*
 * bridge_e2e_test.c — sb-media-bridge end to end, every daemon real, over
 * real sockets: sb-store (ipc), sb-realtime-sim (WebSocket, validating every
 * client event), sb-media-bridge, and sb-callsim playing Twilio.
 *
 * Here sb-callsim builds the `start` message itself with a token from
 * common/sb_token, exactly as the gateway's TwiML parameter carries it; the
 * gateway leg (signed webhook → TwiML → stream) and Twilio REST are in
 * bridge_twilio_test.c. sb-rag-worker is not started:
 * the knowledge lookup times out and must yield the graceful output.
 *
 * Cases: inbound call (greeting heard, caller question, lookup, answer,
 * transcript in order, tool stored, status completed); barge-in (clear +
 * truncate at what the caller actually heard, ±60 ms); missing / forged /
 * expired token (stream closed, no model session); pre-warm with
 * session.prepare; garbage from the Twilio side (daemon survives); model
 * drop mid-call (new session with the history replayed); 200 concurrent
 * calls for 20 s against an echoing model (no frame lost, every frame with
 * its call's streamSid).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "bridge_testkit.h"

#define SECRET "test-secret-for-streams"
#define WAIT_MS 15000

typedef struct stack {
	sbt_proc rt, bridge;
	int      rt_port, ws_port;
	char     control[512], record[512], tag[16];
} stack;

static struct {
	sbt_proc   store;
	char       store_url[512];
	sb_client *c;
	stack      main;
	char       biz[64];
} g;

/* Start a realtime-sim (extra args) and a bridge dialing it, named by tag. */
static void stack_up(stack *s, const char *tag, const char *const *rt_extra)
{
	char run[300], listen[64], rt_listen[64], rt_url[128], name[64];
	snprintf(s->tag, sizeof s->tag, "%s", tag);
	sbt_path(run, sizeof run, "run");
	s->rt_port = sbt_free_port();
	s->ws_port = sbt_free_port();
	snprintf(rt_listen, sizeof rt_listen, "127.0.0.1:%d", s->rt_port);
	snprintf(name, sizeof name, "rt-%s.jsonl", tag);
	sbt_path(s->record, sizeof s->record, name);
	const char *rargs[24] = {"--run-dir", run, "--listen", rt_listen, "--record", s->record};
	int n = 6;
	for (int i = 0; rt_extra && rt_extra[i]; i++)
		rargs[n++] = rt_extra[i];
	assert_int_equal(sbt_spawn(&s->rt, sbt_bin("sb-realtime-sim"), rargs), 0);
	assert_int_equal(sbt_tcp_ready(s->rt_port, WAIT_MS), 0);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s->ws_port);
	snprintf(rt_url, sizeof rt_url, "ws://127.0.0.1:%d/v1/realtime", s->rt_port);
	snprintf(s->control, sizeof s->control, "ipc://%s/bridge-%s.sock", run, tag);
	char events[400];
	snprintf(events, sizeof events, "ipc://%s/bridge-%s-events.sock", run, tag);
	const char *bargs[] = {"--run-dir", run, "--listen", listen, "--control", s->control, "--events", events,
			       "--store-url", g.store_url, "--realtime-url", rt_url, "--secret", SECRET,
			       "--barge-in-debounce-ms", "0", "--tool-timeout-ms", "800", "--drain-seconds", "1", NULL};
	assert_int_equal(sbt_spawn(&s->bridge, sbt_bin("sb-media-bridge"), bargs), 0);
	assert_int_equal(sbt_wait_ready(s->control, WAIT_MS), 0);
	assert_int_equal(sbt_tcp_ready(s->ws_port, WAIT_MS), 0);
}

static void stack_down(stack *s)
{
	if (s->bridge.pid > 0)
		assert_int_equal(sbt_stop(&s->bridge, SIGTERM, WAIT_MS), 0);
	if (s->rt.pid > 0)
		sbt_stop(&s->rt, SIGTERM, WAIT_MS);
}

/* Run sb-callsim against s with extra args; returns its report (owned). */
static json_t *callsim(stack *s, const char *name, const char *const *extra)
{
	char run[300], url[128], report[400], file[80];
	sbt_path(run, sizeof run, "run");
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/twilio/stream", s->ws_port);
	snprintf(file, sizeof file, "report-%s.json", name);
	sbt_path(report, sizeof report, file);
	const char *args[40] = {"--run-dir", run, "--stream-url", url, "--secret", SECRET, "--report", report,
				"--business-id", g.biz};
	int n = 10;
	for (int i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	sbt_proc p;
	assert_int_equal(sbt_spawn(&p, sbt_bin("sb-callsim"), args), 0);
	assert_int_equal(sbt_stop(&p, 0, 60000), 0); /* signal 0: just wait for it to finish */
	json_t *r = json_load_file(report, 0, NULL);
	assert_non_null(r);
	return r;
}

static json_t *item0(json_t *report)
{
	return json_array_get(json_object_get(report, "items"), 0);
}

/* Lines of the record file of kind (or all), for connection conn (-1 any). */
static int count_records(const stack *s, const char *kind, int conn, const char *needle)
{
	FILE *f = fopen(s->record, "r");
	char line[65536];
	int n = 0;
	while (f && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *k = sb_json_str(j, "kind");
		if (k && (!kind || strcmp(k, kind) == 0) && (conn < 0 || sb_json_int(j, "conn", -1) == conn) &&
		    (!needle || strstr(line, needle)))
			n++;
		json_decref(j);
	}
	if (f)
		fclose(f);
	return n;
}

/* The audio_end_ms of the last truncate the model saw. */
static long last_truncate_ms(const stack *s)
{
	FILE *f = fopen(s->record, "r");
	char line[65536];
	long ms = -1;
	while (f && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		if (strcmp(sb_json_str(j, "kind") ? sb_json_str(j, "kind") : "", "truncate") == 0)
			ms = (long)sb_json_int(json_object_get(j, "body"), "audio_end_ms", -1);
		json_decref(j);
	}
	if (f)
		fclose(f);
	return ms;
}

/* ---- cases --------------------------------------------------------------------------------- */

static void test_inbound_call(void **state)
{
	char wav[400];
	sbt_path(wav, sizeof wav, "heard.wav"); /* inside the test's temporary folder */
	const char *args[] = {"--duration-ms", "5500", "--talk-at-ms", "1700", "--talk-ms", "600", "--record-wav",
			      wav, NULL};
	json_t *r = callsim(&g.main, "inbound", args);
	json_t *it = item0(r);
	assert_false(json_is_true(json_object_get(it, "rejected")));
	assert_true(sb_json_int(it, "heardBytes", 0) >= 1500 * 8); /* the whole greeting */
	assert_int_equal(sb_json_int(it, "clears", -1), 0);
	assert_int_equal(sb_json_int(it, "badStreamSid", -1), 0);
	assert_true(sb_json_int(it, "marksEchoed", 0) >= 15);
	json_t *call = bt_wait_call(g.c, sb_json_str(it, "callSid"), "completed", 3);
	assert_non_null(call);
	json_t *lines = json_object_get(call, "transcript");
	assert_string_equal(sb_json_str(json_array_get(lines, 0), "role"), "assistant");
	assert_non_null(strstr(sb_json_str(json_array_get(lines, 0), "text"), "thanks for calling"));
	assert_string_equal(sb_json_str(json_array_get(lines, 1), "role"), "user");
	assert_non_null(strstr(sb_json_str(json_array_get(lines, 1), "text"), "opening hours"));
	assert_string_equal(sb_json_str(json_array_get(lines, 2), "role"), "assistant");
	assert_non_null(strstr(sb_json_str(json_array_get(lines, 2), "text"), "couldn't look that up"));
	json_t *tools = json_object_get(call, "toolCalls");
	assert_int_equal(json_array_size(tools), 1);
	assert_string_equal(sb_json_str(json_array_get(tools, 0), "name"), "query_knowledge_base");
	assert_true(sb_json_int(json_array_get(tools, 0), "latencyMs", -1) >= 700);
	assert_int_equal(count_records(&g.main, "violation", -1, NULL), 0);
	json_decref(call);
	json_decref(r);
}

static void test_barge_in(void **state)
{
	const char *args[] = {"--duration-ms", "3000", "--talk-at-ms", "700", "--talk-ms", "400", NULL};
	json_t *r = callsim(&g.main, "barge", args);
	json_t *it = item0(r);
	assert_int_equal(sb_json_int(it, "clears", -1), 1);
	long heard = (long)sb_json_int(it, "playedAtClearMs", -1), trunc = last_truncate_ms(&g.main);
	fprintf(stderr, "barge-in: caller heard %ld ms, truncate at %ld ms\n", heard, trunc);
	assert_true(heard >= 600 && heard <= 1000);
	assert_true(labs(trunc - heard) <= 60);
	assert_int_equal(count_records(&g.main, "violation", -1, NULL), 0);
	json_decref(r);
}

static void test_bad_tokens(void **state)
{
	static const char *kinds[] = {"missing", "forged", "expired"};
	for (int i = 0; i < 3; i++) {
		int before = count_records(&g.main, "connected", -1, NULL);
		const char *args[] = {"--duration-ms", "1500", "--bad-token", kinds[i], NULL};
		json_t *r = callsim(&g.main, kinds[i], args);
		assert_true(json_is_true(json_object_get(item0(r), "rejected")));
		assert_int_equal(sb_json_int(item0(r), "heardBytes", -1), 0);
		assert_int_equal(count_records(&g.main, "connected", -1, NULL), before); /* no model session */
		json_decref(r);
	}
	assert_true(sbt_alive(&g.main.bridge));
}

static void test_prepare_prewarms(void **state)
{
	sb_client *bc = sb_client_open(g.main.control, NULL, NULL);
	int before = count_records(&g.main, "connected", -1, NULL);
	json_t *d = sbt_ok(bc, "session.prepare", json_pack("{s:s,s:s,s:s}", "callSid", "CAprewarm1", "direction", "inbound",
								"businessId", g.biz));
	assert_non_null(d);
	json_decref(d);
	/* the model session opens (and greets) before any stream exists */
	int64_t until = sb_mono_ms() + WAIT_MS;
	while (count_records(&g.main, "response.create", -1, NULL) <= 0 && sb_mono_ms() < until)
		bt_nap(20);
	json_t *list = sbt_ok(bc, "session.list", NULL);
	assert_string_equal(sb_json_str(json_array_get(json_object_get(list, "items"), 0), "state"), "prepared");
	json_decref(list);
	const char *args[] = {"--duration-ms", "2500", "--call-sid", "CAprewarm1", NULL};
	json_t *r = callsim(&g.main, "prewarm", args);
	assert_true(sb_json_int(item0(r), "heardBytes", 0) >= 1500 * 8); /* the greeting, queued until start */
	assert_int_equal(count_records(&g.main, "connected", -1, NULL), before + 1); /* one session only */
	json_decref(r);
	sb_client_close(bc);
}

static void test_garbage_survives(void **state)
{
	const char *args[] = {"--duration-ms", "1500", "--garbage", "all", NULL};
	json_t *r = callsim(&g.main, "garbage", args);
	json_decref(r);
	assert_true(sbt_alive(&g.main.bridge));
	assert_int_equal(sbt_wait_ready(g.main.control, WAIT_MS), 0);
	const char *ok[] = {"--duration-ms", "1500", NULL};
	r = callsim(&g.main, "after-garbage", ok);
	assert_true(sb_json_int(item0(r), "heardBytes", 0) > 0);
	json_decref(r);
}

static void test_model_drop_replays(void **state)
{
	stack s = {0};
	const char *rt[] = {"--drop-after-ms", "2800", NULL};
	stack_up(&s, "drop", rt);
	const char *args[] = {"--duration-ms", "6000", "--talk-at-ms", "1700", "--talk-ms", "500", NULL};
	json_t *r = callsim(&s, "drop", args);
	assert_false(json_is_true(json_object_get(item0(r), "rejected")));
	assert_int_equal(count_records(&s, "dropped", 0, NULL), 1);
	assert_int_equal(count_records(&s, "session.update", 1, NULL), 1);             /* a new session ... */
	assert_true(count_records(&s, "item.create", 1, "thanks for calling") >= 1);    /* ... with the history */
	assert_true(count_records(&s, "item.create", 1, "opening hours") >= 1);
	assert_int_equal(count_records(&s, "violation", -1, NULL), 0);
	json_decref(r);
	stack_down(&s);
}

static void test_200_calls(void **state)
{
	stack s = {0};
	const char *rt[] = {"--echo", NULL};
	stack_up(&s, "load", rt);
	const char *args[] = {"--calls", "200", "--duration-ms", "20000", "--ramp-ms", "1000", "--stamp", NULL};
	json_t *r = callsim(&s, "load", args);
	long sent = (long)sb_json_int(r, "framesSent", 0), echoed = (long)sb_json_int(r, "framesEchoed", 0);
	fprintf(stderr, "200 calls: sent=%ld echoed=%ld lost=%lld bad_sid=%lld up_p99=%.1f down_p99=%.1f ms\n", sent, echoed,
		(long long)sb_json_int(r, "lost", -1), (long long)sb_json_int(r, "badStreamSid", -1),
		sb_json_num(json_object_get(r, "upMs"), "p99", -1), sb_json_num(json_object_get(r, "downMs"), "p99", -1));
	assert_int_equal(sb_json_int(r, "rejected", -1), 0);
	assert_int_equal(sb_json_int(r, "lost", -1), 0);
	assert_int_equal(sb_json_int(r, "badStreamSid", -1), 0);
	assert_true(sent >= 200 * 990);
	assert_int_equal(echoed, sent); /* callsim waits for the last echoes before it hangs up */
	json_decref(r);
	stack_down(&s);
}

static int setup(void **state)
{
	if (sbt_start_store(&g.store, g.store_url, sizeof g.store_url, NULL) != 0)
		return -1;
	g.c = sb_client_open(g.store_url, NULL, NULL);
	json_t *b = sbt_ok(g.c, "businesses.create", json_pack("{s:s}", "name", "Acme Plumbing"));
	snprintf(g.biz, sizeof g.biz, "%s", sb_json_str(b, "id"));
	json_decref(b);
	stack_up(&g.main, "main", NULL);
	return 0;
}

static int teardown(void **state)
{
	stack_down(&g.main);
	sb_client_close(g.c);
	sbt_stop(&g.store, SIGTERM, WAIT_MS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inbound_call),
		cmocka_unit_test(test_barge_in),
		cmocka_unit_test(test_bad_tokens),
		cmocka_unit_test(test_prepare_prewarms),
		cmocka_unit_test(test_garbage_survives),
		cmocka_unit_test(test_model_drop_replays),
		cmocka_unit_test(test_200_calls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
