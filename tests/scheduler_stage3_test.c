/*
 * scheduler_stage3_test.c — STAGE_3 end to end: sb-scheduler places the
 * collections call through Twilio's Calls API and the payer's status follows
 * the call, every daemon real, on loopback:
 *
 *   sb-scheduler ── Calls.json ──▶ sb-callsim (Twilio REST stand-in)
 *   sb-callsim ── signed /collect-iq/voice, status callbacks ──▶ sb-gateway
 *   sb-callsim ── /collect-iq/media-stream ──▶ sb-media-bridge ──▶ sb-realtime-sim
 *   sb-gateway ── outreach.reconcile (after each callback) ──▶ sb-scheduler
 *   all of them ──▶ sb-store
 *
 * The scheduler runs with --interval 0 (no timer): after the trigger, any
 * change of the payer or its attempt comes from the call itself (status
 * callbacks, the bridge), never from a later evaluation.
 *
 *  - answered: a payer 75 days overdue (STAGE_3 by days) is triggered
 *    through the admin API; callsim got one Calls request (Basic auth
 *    account:token, To, From, Url = public URL + /collect-iq/voice?payerId=,
 *    Method, StatusCallback = /api/twilio/status?payerId=&attemptId=,
 *    StatusCallbackEvent repeated: initiated, ringing, answered, completed,
 *    Timeout), dialled the signed webhook back, streamed where the TwiML
 *    said; the model talks, the caller answers, the model calls end_call and
 *    the bridge hangs up over REST; callsim posts the initiated, ringing,
 *    in-progress and completed callbacks (each answered 200). The payer and
 *    its attempt are seen CALL_CONNECTED_TO_AI during the conversation, then
 *    both end CALL_COMPLETED; GET /api/calls/{sid} has the transcript, the
 *    end_call tool call, the duration; one call only;
 *  - no answer: a payer whose number never answers (callsim: To ending in
 *    0480) is seen CALL_RINGING while the phone rings (--call-timeout 5 s),
 *    then NO_ANSWER, payer and attempt alike; the call log says no-answer;
 *    no webhook, no stream, no model session.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "bridge_testkit.h"
#include "gateway_harness.h"

#define SECRET     "stream-token-secret-stage3"
#define AUTH       "twilio-auth-token-stage3"
#define ACCOUNT    "ACstage3000000000000000000000001"
#define FROM_NUM   "+15005550100"
#define ANSWER_NUM "+15005550107"
#define NOANS_NUM  "+15005550480" /* callsim: a number ending in 0480 never answers */
#define RING_S     "5"            /* the scheduler's --call-timeout: how long callsim lets it ring */
#define WAIT_MS    20000

static struct {
	sbt_proc   store, rt, bridge, sim, gw, sched;
	char       store_url[512], sched_url[512], record[512], rest_log[512], public_url[64], biz[64];
	int        rest_port;
	sbt_gw     api; /* base URL of the gateway, for the gateway harness's HTTP helpers */
	sb_client *st;
} g;

/* ---- the stack ---------------------------------------------------------------------------------------- */

static int start_rt(char *url, size_t cap)
{
	char run[300], listen[64];
	int port = sbt_free_port();
	sbt_path(run, sizeof run, "run");
	sbt_path(g.record, sizeof g.record, "rt.jsonl");
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	const char *args[] = {"--run-dir", run, "--listen", listen, "--record", g.record, "--greeting-ms", "400",
			      "--tool-speech-ms", "400", "--no-kb", "--turn-tools", "end_call:{\"reason\":\"promised to pay\"}",
			      NULL};
	snprintf(url, cap, "ws://127.0.0.1:%d/v1/realtime", port);
	return sbt_spawn(&g.rt, sbt_bin("sb-realtime-sim"), args) == 0 ? sbt_tcp_ready(port, BT_WAIT_MS) : -1;
}

static int start_bridge(const char *rt_url, char *control, size_t cap, int *ws_port)
{
	char run[300], listen[64], events[400], api[64];
	sbt_path(run, sizeof run, "run");
	*ws_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", *ws_port);
	snprintf(control, cap, "ipc://%s/bridge.sock", run);
	snprintf(events, sizeof events, "ipc://%s/bridge-events.sock", run);
	snprintf(api, sizeof api, "http://127.0.0.1:%d", g.rest_port);
	const char *args[] = {"--run-dir", run, "--listen", listen, "--control", control, "--events", events,
			      "--store-url", g.store_url, "--realtime-url", rt_url, "--secret", SECRET,
			      "--twilio-api-url", api, "--twilio-account-sid", ACCOUNT, "--twilio-auth-token", AUTH,
			      "--drain-seconds", "1", NULL};
	if (sbt_spawn(&g.bridge, sbt_bin("sb-media-bridge"), args) < 0 || sbt_wait_ready(control, BT_WAIT_MS) < 0)
		return -1;
	return sbt_tcp_ready(*ws_port, BT_WAIT_MS);
}

/* callsim as Twilio: the REST stand-in only (--calls 0), dialling back what the scheduler places. */
static int start_callsim(void)
{
	char run[300], rest[64];
	sbt_path(run, sizeof run, "run");
	sbt_path(g.rest_log, sizeof g.rest_log, "rest.jsonl");
	snprintf(rest, sizeof rest, "127.0.0.1:%d", g.rest_port);
	const char *args[] = {"--run-dir", run, "--calls", "0", "--rest-listen", rest, "--rest-log", g.rest_log,
			      "--account-sid", ACCOUNT, "--twilio-auth-token", AUTH, "--secret", SECRET,
			      "--duration-ms", "20000", "--talk-at-ms", "1500", "--talk-ms", "400", NULL};
	if (sbt_spawn(&g.sim, sbt_bin("sb-callsim"), args) < 0)
		return -1;
	return sbt_tcp_ready(g.rest_port, BT_WAIT_MS);
}

static int start_gateway(const char *control, int ws_port)
{
	char run[300], listen[64], stream[64], events[400];
	int port = sbt_free_port();
	sbt_path(run, sizeof run, "run");
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	snprintf(g.public_url, sizeof g.public_url, "http://127.0.0.1:%d", port); /* where callsim posts */
	snprintf(stream, sizeof stream, "ws://127.0.0.1:%d", ws_port);
	snprintf(events, sizeof events, "ipc://%s/gw-events.sock", run);
	const char *args[] = {"--run-dir", run, "--listen", listen, "--public-url", g.public_url, "--stream-url", stream,
			      "--events", events, "--store-url", g.store_url, "--bridge-url", control,
			      "--scheduler-url", g.sched_url, "--twilio-auth-token", AUTH, "--secret", SECRET,
			      "--admin-key", SBT_ADMIN_KEY, NULL};
	snprintf(g.api.base, sizeof g.api.base, "%s", g.public_url);
	g.api.port = port;
	if (sbt_spawn(&g.gw, sbt_bin("sb-gateway"), args) < 0)
		return -1;
	return sbt_tcp_ready(port, BT_WAIT_MS);
}

static int start_scheduler(void)
{
	char run[300], outbox[300], tpl[600], cwd[400], api[64];
	sbt_path(run, sizeof run, "run");
	sbt_path(outbox, sizeof outbox, "outbox");
	snprintf(tpl, sizeof tpl, "%s/scheduler/templates", getcwd(cwd, sizeof cwd) ? cwd : ".");
	snprintf(api, sizeof api, "http://127.0.0.1:%d", g.rest_port);
	const char *args[] = {"--run-dir", run, "--listen", g.sched_url, "--store-url", g.store_url, "--outbox-dir", outbox,
			      "--templates-dir", tpl, "--public-url", g.public_url, "--secret", "unsubscribe-secret",
			      "--interval", "0", "--quiet-start", "00:00", "--quiet-end", "24:00",
			      "--twilio-api-url", api, "--twilio-account-sid", ACCOUNT, "--twilio-auth-token", AUTH,
			      "--twilio-from", FROM_NUM, "--call-timeout", RING_S, NULL};
	if (sbt_spawn(&g.sched, sbt_bin("sb-scheduler"), args) < 0)
		return -1;
	return sbt_wait_ready(g.sched_url, BT_WAIT_MS);
}

static int setup(void **state)
{
	char rt_url[128], control[512], run[300];
	int ws_port;
	sb_http_global_init();
	sbt_path(run, sizeof run, "run");
	snprintf(g.sched_url, sizeof g.sched_url, "ipc://%s/scheduler.sock", run);
	g.rest_port = sbt_free_port();
	if (sbt_start_store(&g.store, g.store_url, sizeof g.store_url, NULL) < 0 || start_rt(rt_url, sizeof rt_url) < 0 ||
	    start_bridge(rt_url, control, sizeof control, &ws_port) < 0 || start_callsim() < 0 ||
	    start_gateway(control, ws_port) < 0 || start_scheduler() < 0)
		return -1;
	g.st = sb_client_open(g.store_url, NULL, NULL);
	sbt_resp r;
	if (sbt_api(&g.api, "POST", "/api/businesses", "{\"name\":\"Widget Co\"}", &r) < 0 || r.status != 201) {
		sbt_resp_free(&r);
		return -1;
	}
	json_t *b = sbt_resp_json(&r);
	snprintf(g.biz, sizeof g.biz, "%s", sb_json_str(b, "id") ? sb_json_str(b, "id") : "");
	json_decref(b);
	sbt_resp_free(&r);
	return g.st && g.biz[0] ? 0 : -1;
}

static int teardown(void **state)
{
	sb_client_close(g.st);
	int sched_rc = sbt_stop(&g.sched, SIGTERM, BT_WAIT_MS);
	int gw_rc = sbt_stop(&g.gw, SIGTERM, BT_WAIT_MS);
	int sim_rc = sbt_stop(&g.sim, SIGTERM, BT_WAIT_MS);
	int bridge_rc = sbt_stop(&g.bridge, SIGTERM, BT_WAIT_MS);
	sbt_stop(&g.rt, SIGTERM, BT_WAIT_MS);
	sbt_stop(&g.store, SIGTERM, BT_WAIT_MS);
	if (sched_rc || gw_rc || sim_rc || bridge_rc) {
		fprintf(stderr, "exit codes: scheduler %d gateway %d callsim %d bridge %d\n", sched_rc, gw_rc, sim_rc,
			bridge_rc);
		return -1;
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------------ */

/* GET path through the gateway's admin API: the JSON body (owned), NULL unless 200. */
static json_t *api_get(const char *path)
{
	sbt_resp r;
	json_t *j = sbt_api(&g.api, "GET", path, NULL, &r) == 0 && r.status == 200 ? sbt_resp_json(&r) : NULL;
	sbt_resp_free(&r);
	return j;
}

/* Create a payer through the admin API (STAGE_1 on file, but 75 days overdue: due for STAGE_3); its id. */
static void make_payer(const char *name, const char *phone, char *id, size_t cap)
{
	char body[600];
	snprintf(body, sizeof body,
		 "{\"businessId\":\"%s\",\"name\":\"%s\",\"company\":\"Widget Co\",\"phone\":\"%s\","
		 "\"amountDue\":250.75,\"currency\":\"USD\",\"daysOverdue\":75,\"stage\":\"STAGE_1\","
		 "\"timezone\":\"America/New_York\"}",
		 g.biz, name, phone);
	sbt_resp r;
	assert_int_equal(sbt_api(&g.api, "POST", "/api/payers", body, &r), 0);
	assert_int_equal(r.status, 201);
	json_t *p = sbt_resp_json(&r);
	snprintf(id, cap, "%s", sb_json_str(p, "id"));
	json_decref(p);
	sbt_resp_free(&r);
}

/* POST /api/payers/{id}/outreach: expect the call placed; the attempt id into att. */
static void trigger_call(const char *payer, char *att, size_t cap)
{
	char path[200];
	snprintf(path, sizeof path, "/api/payers/%s/outreach", payer);
	sbt_resp r;
	assert_int_equal(sbt_api(&g.api, "POST", path, NULL, &r), 0);
	if (r.status != 200)
		fail_msg("outreach: HTTP %ld %s", r.status, r.body);
	json_t *o = sbt_resp_json(&r);
	sbt_resp_free(&r);
	assert_string_equal(sb_json_str(o, "result"), "call_initiated");
	assert_string_equal(sb_json_str(o, "status"), "CALL_INITIATED");
	assert_string_equal(sb_json_str(o, "stage"), "STAGE_3");
	assert_string_equal(sb_json_str(o, "channel"), "call");
	snprintf(att, cap, "%s", sb_json_str(o, "attemptId"));
	json_decref(o);
}

/* Poll GET /api/payers/{id} until lastOutreachStatus and the first attempt's status are both want.
 * The payer (owned), or NULL on timeout (the last state is printed). */
static json_t *wait_payer(const char *payer, const char *want, int timeout_ms)
{
	char path[200];
	snprintf(path, sizeof path, "/api/payers/%s", payer);
	int64_t until = sb_mono_ms() + timeout_ms;
	json_t *p = NULL;
	for (;;) {
		json_decref(p);
		p = api_get(path);
		json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
		const char *last = sb_json_str(p, "lastOutreachStatus"), *ast = sb_json_str(a, "status");
		if (last && ast && !strcmp(last, want) && !strcmp(ast, want))
			return p;
		if (sb_mono_ms() > until) {
			fprintf(stderr, "payer %s: want %s, have lastOutreachStatus=%s attempt=%s\n", payer, want,
				last ? last : "-", ast ? ast : "-");
			json_decref(p);
			return NULL;
		}
		bt_nap(20);
	}
}

/* The callSid recorded in the payer's first attempt (into sid). */
static void attempt_call_sid(const json_t *payer, char *sid, size_t cap)
{
	json_t *a = json_array_get(json_object_get(payer, "attempts"), 0);
	json_t *d = json_loads(sb_json_str(a, "detail") ? sb_json_str(a, "detail") : "", 0, NULL);
	snprintf(sid, cap, "%s", sb_json_str(d, "callSid") ? sb_json_str(d, "callSid") : "");
	json_decref(d);
}

/* The rest-log line of the Calls create for `to` (owned), waiting for it. */
static json_t *create_request(const char *to)
{
	char needle[64];
	snprintf(needle, sizeof needle, "\"To\":\"%s\"", to);
	assert_int_equal(bt_wait_lines(g.rest_log, "op", "create", needle, 1), 1);
	FILE *f = fopen(g.rest_log, "r");
	static char line[1 << 16];
	json_t *found = NULL;
	while (f && !found && fgets(line, sizeof line, f))
		if (strstr(line, needle))
			found = json_loads(line, 0, NULL);
	if (f)
		fclose(f);
	assert_non_null(found);
	return found;
}

/* What the scheduler asked of Twilio for payer/att calling to. */
static void check_create(const json_t *req, const char *payer, const char *att, const char *to)
{
	char want[400];
	const json_t *ps = json_object_get(req, "params");
	/* callsim answers 401 (op "auth") unless Basic auth is ACCOUNT:AUTH: a 201 create proves it */
	assert_int_equal(sb_json_int(req, "status", 0), 201);
	assert_string_equal(sb_json_str(req, "method"), "POST");
	assert_string_equal(sb_json_str(req, "path"), "/2010-04-01/Accounts/" ACCOUNT "/Calls.json");
	assert_string_equal(sb_json_str(ps, "To"), to);
	assert_string_equal(sb_json_str(ps, "From"), FROM_NUM);
	snprintf(want, sizeof want, "%s/collect-iq/voice?payerId=%s", g.public_url, payer);
	assert_string_equal(sb_json_str(ps, "Url"), want);
	assert_string_equal(sb_json_str(ps, "Method"), "POST");
	snprintf(want, sizeof want, "%s/api/twilio/status?payerId=%s&attemptId=%s", g.public_url, payer, att);
	assert_string_equal(sb_json_str(ps, "StatusCallback"), want);
	assert_string_equal(sb_json_str(ps, "Timeout"), RING_S);
	const json_t *ev = json_object_get(ps, "StatusCallbackEvent"); /* repeated fields: an array in the log */
	assert_true(json_is_array(ev));
	assert_int_equal(json_array_size(ev), 4);
	static const char *const want_ev[] = {"initiated", "ringing", "answered", "completed"};
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(json_string_value(json_array_get(ev, i)), want_ev[i]);
	assert_int_equal(bt_count_lines(g.rest_log, "op", "auth", -1, NULL), 0);
}

/* Lines of callsim's log that contain every one of a, b, c (b, c may be NULL). */
static int sim_log_lines(const char *a, const char *b, const char *c)
{
	FILE *f = fopen(g.sim.log, "r");
	char line[2048];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c));
	if (f)
		fclose(f);
	return n;
}

/* Wait for callsim's log line of sid's status callback `status`, answered 200 by the gateway. */
static void expect_callback(const char *sid, const char *status)
{
	char call[80], st[40];
	snprintf(call, sizeof call, "call=%s ", sid);
	snprintf(st, sizeof st, "status=%s http=200", status);
	int64_t until = sb_mono_ms() + WAIT_MS;
	while (sim_log_lines("callsim.status_callback", call, st) < 1 && sb_mono_ms() < until)
		bt_nap(20);
	if (sim_log_lines("callsim.status_callback", call, st) != 1)
		fail_msg("callsim did not post %s for %s (or the gateway did not take it): see %s", status, sid, g.sim.log);
}

static json_t *tool(const json_t *call, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(call, "toolCalls"), i, t)
		if (!strcmp(sb_json_str(t, "name"), name))
			return t;
	return NULL;
}

/* ---- cases -------------------------------------------------------------------------------------------- */

static void test_stage3_call_answered_and_completed(void **state)
{
	char payer[64], att[64], sid[64], path[200];
	make_payer("Pat Payer", ANSWER_NUM, payer, sizeof payer);
	trigger_call(payer, att, sizeof att);
	json_t *req = create_request(ANSWER_NUM);
	check_create(req, payer, att, ANSWER_NUM);
	/* the scheduler's timer is off: only the call itself can move the payer on from here; the caller
	 * speaks 1.5 s after the greeting starts, so the conversation is seen going on first */
	json_t *p = wait_payer(payer, "CALL_CONNECTED_TO_AI", WAIT_MS);
	assert_non_null(p);
	json_decref(p);
	p = wait_payer(payer, "CALL_COMPLETED", WAIT_MS);
	assert_non_null(p);
	assert_string_equal(sb_json_str(p, "stage"), "STAGE_3"); /* raised by escalation (75 days) */
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	assert_int_equal(json_array_size(json_object_get(p, "attempts")), 1);
	assert_string_equal(sb_json_str(a, "id"), att);
	assert_string_equal(sb_json_str(a, "channel"), "call");
	assert_string_equal(sb_json_str(a, "window"), "a1");
	attempt_call_sid(p, sid, sizeof sid);
	assert_string_equal(sid, sb_json_str(req, "callSid"));
	json_decref(p);
	/* what callsim did as Twilio: every callback posted, signed, and taken by the gateway */
	static const char *const callbacks[] = {"initiated", "ringing", "in-progress", "completed"};
	for (int i = 0; i < 4; i++)
		expect_callback(sid, callbacks[i]);
	assert_int_equal(sim_log_lines("callsim.webhook", sid, "status=200"), 1);
	assert_int_equal(bt_count_lines(g.rest_log, "op", "update", -1, "\"Status\":\"completed\""), 1); /* end_call */
	/* the call log, with its transcript, through the admin API */
	snprintf(path, sizeof path, "/api/calls/%s", sid);
	json_t *call = api_get(path);
	assert_non_null(call);
	assert_string_equal(sb_json_str(call, "status"), "completed");
	assert_string_equal(sb_json_str(call, "direction"), "outbound");
	assert_string_equal(sb_json_str(call, "payerId"), payer);
	assert_string_equal(sb_json_str(call, "to"), ANSWER_NUM);
	assert_true(json_is_integer(json_object_get(call, "durationS")));
	json_t *lines = json_object_get(call, "transcript");
	assert_true(json_array_size(lines) >= 2);
	assert_string_equal(sb_json_str(json_array_get(lines, 0), "role"), "assistant");
	assert_non_null(tool(call, "end_call"));
	json_decref(call);
	assert_true(bt_count_lines(g.record, "kind", "session.update", -1, "Pat Payer") >= 1);
	assert_int_equal(bt_count_lines(g.record, "kind", "violation", -1, NULL), 0);
	assert_int_equal(bt_count_lines(g.rest_log, "op", "create", -1, NULL), 1); /* no second call */
	json_decref(req);
}

static void test_stage3_no_answer(void **state)
{
	char payer[64], att[64], sid[64], path[200];
	int sessions = bt_count_lines(g.record, "kind", "session.update", -1, NULL);
	make_payer("Nora Noanswer", NOANS_NUM, payer, sizeof payer);
	int64_t t0 = sb_mono_ms();
	trigger_call(payer, att, sizeof att);
	json_t *req = create_request(NOANS_NUM);
	check_create(req, payer, att, NOANS_NUM);
	/* the ringing callback reaches the payer while the phone still rings */
	json_t *p = wait_payer(payer, "CALL_RINGING", 4000);
	assert_non_null(p);
	json_decref(p);
	p = wait_payer(payer, "NO_ANSWER", WAIT_MS);
	assert_non_null(p);
	assert_true(sb_mono_ms() - t0 >= 4500); /* it rang for the Timeout the scheduler asked for */
	attempt_call_sid(p, sid, sizeof sid);
	assert_string_equal(sid, sb_json_str(req, "callSid"));
	assert_int_equal(json_array_size(json_object_get(p, "attempts")), 1);
	json_decref(p);
	expect_callback(sid, "ringing");
	expect_callback(sid, "no-answer");
	snprintf(path, sizeof path, "/api/calls/%s", sid);
	json_t *call = api_get(path);
	assert_non_null(call);
	assert_string_equal(sb_json_str(call, "status"), "no-answer");
	assert_string_equal(sb_json_str(call, "direction"), "outbound");
	assert_string_equal(sb_json_str(call, "payerId"), payer);
	assert_int_equal(json_array_size(json_object_get(call, "transcript")), 0);
	json_decref(call);
	/* nobody answered: no webhook, no stream, no model session */
	assert_int_equal(sim_log_lines("callsim.webhook", sid, NULL), 0);
	assert_int_equal(bt_count_lines(g.record, "kind", "session.update", -1, NULL), sessions);
	assert_int_equal(bt_count_lines(g.rest_log, "op", "create", -1, NULL), 2);
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage3_call_answered_and_completed),
		cmocka_unit_test(test_stage3_no_answer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
