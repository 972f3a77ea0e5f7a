/*
 * bridge_twilio_test.c — the Twilio legs end to end, every daemon real:
 * sb-store, sb-gateway (voice webhooks → TwiML with a stream token),
 * sb-media-bridge, sb-realtime-sim (scripted function calls, validating
 * every client event) and sb-callsim as Twilio (signed webhooks, media
 * streams, and the REST stand-in the bridge's call updates go to).
 *
 * Cases:
 *  - inbound through the gateway: callsim posts the signed voice webhook,
 *    streams where the TwiML says with its <Parameter>s (businessId, callSid,
 *    token); the model calls transfer_to_human → REST update with
 *    <Dial>transfer_number</Dial> after the words played; a badly signed
 *    webhook gets 403 and no stream;
 *  - outbound collections through REST: the test creates a call on the
 *    REST stand-in (as the scheduler would), which dials back the gateway's
 *    /collect-iq/voice, streams to /collect-iq/media-stream with the payer
 *    token; the session.update carries the payer's name, company, amount,
 *    currency, days overdue and the debt-collector disclosure; the model
 *    calls dispute_debt (cancelled by barge-in: not run), then
 *    record_payment_promise, request_callback and end_call (REST update
 *    Status=completed after the goodbye played); the payer goes
 *    CALL_CONNECTED_TO_AI → CALL_COMPLETED;
 *  - the REST stand-in's errors: bad credentials, missing fields, unknown
 *    call, injected 503 then success.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "bridge_testkit.h"

#define SECRET   "test-secret-for-streams"
#define AUTH     "twilio-auth-token-for-tests"
#define ACCOUNT  "ACtest0000000000000000000000000001"
#define BIZ_NUM  "+15005550001"
#define XFER_NUM "+15005550100"
#define CALLER   "+15005550006"
#define PAYER_NUM "+15005550007"

typedef struct stack {
	sbt_proc rt, bridge, gw, sim;
	int      ws_port, gw_port, rest_port;
	char     record[512], rest_log[512], report[512], tag[16];
} stack;

static struct {
	sbt_proc   store;
	char       store_url[512], biz[64], payer[64];
	sb_client *c;
} g;

static void start_rt(stack *s, const char *const *rt_extra, char *rt_url, size_t cap)
{
	char run[300], listen[64], name[64];
	int port = sbt_free_port();
	sbt_path(run, sizeof run, "run");
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	snprintf(name, sizeof name, "rt-%s.jsonl", s->tag);
	sbt_path(s->record, sizeof s->record, name);
	const char *args[32] = {"--run-dir", run, "--listen", listen, "--record", s->record};
	int n = 6;
	for (int i = 0; rt_extra && rt_extra[i]; i++)
		args[n++] = rt_extra[i];
	snprintf(name, sizeof name, "rt-%s", s->tag);
	assert_int_equal(sbt_spawn_as(&s->rt, name, sbt_bin("sb-realtime-sim"), args), 0);
	assert_int_equal(sbt_tcp_ready(port, BT_WAIT_MS), 0);
	snprintf(rt_url, cap, "ws://127.0.0.1:%d/v1/realtime", port);
}

static void start_bridge(stack *s, const char *rt_url, char *control, size_t cap)
{
	char run[300], listen[64], events[400], api[64], name[64];
	sbt_path(run, sizeof run, "run");
	s->ws_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s->ws_port);
	snprintf(control, cap, "ipc://%s/bridge-%s.sock", run, s->tag);
	snprintf(events, sizeof events, "ipc://%s/bridge-%s-events.sock", run, s->tag);
	snprintf(api, sizeof api, "http://127.0.0.1:%d", s->rest_port);
	const char *args[] = {"--run-dir", run, "--listen", listen, "--control", control, "--events", events,
			      "--store-url", g.store_url, "--realtime-url", rt_url, "--secret", SECRET,
			      "--twilio-api-url", api, "--twilio-account-sid", ACCOUNT, "--twilio-auth-token", AUTH,
			      "--barge-in-debounce-ms", "0", "--tool-timeout-ms", "800", "--drain-seconds", "1", NULL};
	snprintf(name, sizeof name, "bridge-%s", s->tag);
	assert_int_equal(sbt_spawn_as(&s->bridge, name, sbt_bin("sb-media-bridge"), args), 0);
	assert_int_equal(sbt_wait_ready(control, BT_WAIT_MS), 0);
	assert_int_equal(sbt_tcp_ready(s->ws_port, BT_WAIT_MS), 0);
}

static void start_gateway(stack *s, const char *control)
{
	char run[300], listen[64], pub[64], stream[64], events[400], name[64];
	sbt_path(run, sizeof run, "run");
	s->gw_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", s->gw_port);
	snprintf(pub, sizeof pub, "http://127.0.0.1:%d", s->gw_port);
	snprintf(stream, sizeof stream, "ws://127.0.0.1:%d", s->ws_port);
	snprintf(events, sizeof events, "ipc://%s/gw-%s-events.sock", run, s->tag);
	const char *args[] = {"--run-dir", run, "--listen", listen, "--public-url", pub, "--stream-url", stream,
			      "--events", events, "--store-url", g.store_url, "--bridge-url", control,
			      "--twilio-auth-token", AUTH, "--secret", SECRET, NULL};
	snprintf(name, sizeof name, "gw-%s", s->tag);
	assert_int_equal(sbt_spawn_as(&s->gw, name, sbt_bin("sb-gateway"), args), 0);
	assert_int_equal(sbt_tcp_ready(s->gw_port, BT_WAIT_MS), 0);
}

/* realtime-sim (extra args) + bridge (REST at rest_port) + gateway, named by tag. */
static void stack_up(stack *s, const char *tag, const char *const *rt_extra)
{
	char rt_url[128], control[512];
	snprintf(s->tag, sizeof s->tag, "%s", tag);
	s->rest_port = sbt_free_port();
	start_rt(s, rt_extra, rt_url, sizeof rt_url);
	start_bridge(s, rt_url, control, sizeof control);
	start_gateway(s, control);
}

static void stack_down(stack *s)
{
	if (s->gw.pid > 0)
		sbt_stop(&s->gw, SIGTERM, BT_WAIT_MS);
	if (s->bridge.pid > 0)
		assert_int_equal(sbt_stop(&s->bridge, SIGTERM, BT_WAIT_MS), 0);
	if (s->rt.pid > 0)
		sbt_stop(&s->rt, SIGTERM, BT_WAIT_MS);
}

/* Start sb-callsim as Twilio for stack s (REST on s->rest_port) with extra args. */
static void callsim_start(stack *s, const char *name, const char *const *extra)
{
	char run[300], rest[64], file[80];
	sbt_path(run, sizeof run, "run");
	snprintf(rest, sizeof rest, "127.0.0.1:%d", s->rest_port);
	snprintf(file, sizeof file, "report-%s.json", name);
	sbt_path(s->report, sizeof s->report, file);
	snprintf(file, sizeof file, "rest-%s.jsonl", name);
	sbt_path(s->rest_log, sizeof s->rest_log, file);
	const char *args[48] = {"--run-dir", run, "--report", s->report, "--rest-listen", rest, "--rest-log", s->rest_log,
				"--account-sid", ACCOUNT, "--twilio-auth-token", AUTH, "--secret", SECRET};
	int n = 14;
	for (int i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	snprintf(file, sizeof file, "callsim-%s", name);
	assert_int_equal(sbt_spawn_as(&s->sim, file, sbt_bin("sb-callsim"), args), 0);
	assert_int_equal(sbt_tcp_ready(s->rest_port, BT_WAIT_MS), 0);
}

/* Wait for (sig 0) or stop callsim; its report (owned). */
static json_t *callsim_report(stack *s, int sig)
{
	assert_int_equal(sbt_stop(&s->sim, sig, 60000), 0);
	json_t *r = json_load_file(s->report, 0, NULL);
	assert_non_null(r);
	return r;
}

static json_t *item0(json_t *report)
{
	return json_array_get(json_object_get(report, "items"), 0);
}

/* The first REST request of op in the report (borrowed). */
static json_t *rest_req(json_t *report, const char *op)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(report, "restRequests"), i, r)
		if (strcmp(sb_json_str(r, "op") ? sb_json_str(r, "op") : "", op) == 0)
			return r;
	return NULL;
}

/* The tool call named name among the call's stored tool calls (borrowed). */
static json_t *tool(json_t *call, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(call, "toolCalls"), i, t)
		if (strcmp(sb_json_str(t, "name"), name) == 0)
			return t;
	return NULL;
}

/* ---- cases --------------------------------------------------------------------------------- */

static void test_inbound_webhook_transfer(void **state)
{
	stack s = {0};
	const char *rt[] = {"--greeting-ms", "800", "--tool-speech-ms", "1000", "--no-kb", "--turn-tools",
			    "transfer_to_human:{\"reason\":\"asked for a person\"}", NULL};
	stack_up(&s, "xfer", rt);
	char hook[128];
	snprintf(hook, sizeof hook, "http://127.0.0.1:%d/api/twilio/voice", s.gw_port);
	const char *args[] = {"--webhook-url", hook, "--from", CALLER, "--to", BIZ_NUM, "--duration-ms", "8000",
			      "--talk-at-ms", "900", "--talk-ms", "400", NULL};
	callsim_start(&s, "xfer", args);
	json_t *r = callsim_report(&s, 0), *it = item0(r);
	const char *sid = sb_json_str(it, "callSid");
	json_t *ps = json_object_get(it, "customParameters");
	assert_int_equal(sb_json_int(it, "webhookStatus", 0), 200);
	assert_string_equal(sb_json_str(ps, "businessId"), g.biz);
	assert_string_equal(sb_json_str(ps, "callSid"), sid);
	assert_non_null(sb_json_str(ps, "token"));
	assert_non_null(strstr(sb_json_str(it, "streamUrl"), "/api/twilio/stream"));
	assert_false(json_is_true(json_object_get(it, "rejected")));
	/* the transfer came after the greeting and the "transferring you" words had played */
	assert_string_equal(sb_json_str(it, "endedBy"), "rest-transfer");
	assert_string_equal(sb_json_str(it, "transferTo"), XFER_NUM);
	assert_true(sb_json_int(it, "heardAtEndMs", 0) >= 800 + 1000 - 60);
	json_t *up = rest_req(r, "update");
	assert_non_null(up);
	assert_string_equal(sb_json_str(up, "callSid"), sid);
	assert_non_null(strstr(sb_json_str(json_object_get(up, "params"), "Twiml"), "<Dial>" XFER_NUM "</Dial>"));
	json_t *call = bt_wait_call(g.c, sid, NULL, 2);
	assert_non_null(call);
	assert_non_null(tool(call, "transfer_to_human"));
	assert_int_equal(bt_count_lines(s.record, "kind", "violation", -1, NULL), 0);
	json_decref(call);
	json_decref(r);
	stack_down(&s);
}

static void test_webhook_bad_signature(void **state)
{
	stack s = {0};
	stack_up(&s, "badsig", NULL);
	char hook[128], run[300], report[400];
	snprintf(hook, sizeof hook, "http://127.0.0.1:%d/api/twilio/voice", s.gw_port);
	sbt_path(run, sizeof run, "run");
	sbt_path(report, sizeof report, "report-badsig.json");
	const char *args[] = {"--run-dir", run, "--report", report, "--webhook-url", hook, "--from", CALLER, "--to", BIZ_NUM,
			      "--twilio-auth-token", "not-the-token", "--secret", SECRET, "--duration-ms", "1000", NULL};
	sbt_proc p;
	assert_int_equal(sbt_spawn_as(&p, "callsim-badsig", sbt_bin("sb-callsim"), args), 0);
	assert_int_equal(sbt_stop(&p, 0, 30000), 0);
	json_t *r = json_load_file(report, 0, NULL);
	assert_int_equal(sb_json_int(item0(r), "webhookStatus", 0), 403);
	assert_true(json_is_true(json_object_get(item0(r), "rejected")));
	assert_int_equal(bt_count_lines(s.record, "kind", "connected", -1, NULL), 0); /* no model session */
	json_decref(r);
	stack_down(&s);
}

/* Create the outbound call on the REST stand-in as the scheduler would; the new sid into sid. */
static void create_outbound(stack *s, char *sid, size_t cap)
{
	char url[256], cb[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/collect-iq/voice?payerId=%s", s->gw_port, g.payer);
	snprintf(cb, sizeof cb, "http://127.0.0.1:%d/api/twilio/status", s->gw_port);
	sb_form f = {0};
	sb_form_add(&f, "To", PAYER_NUM);
	sb_form_add(&f, "From", BIZ_NUM);
	sb_form_add(&f, "Url", url);
	sb_form_add(&f, "StatusCallback", cb);
	static const char *const evs[] = {"initiated", "ringing", "answered", "completed"};
	for (int i = 0; i < 4; i++)
		sb_form_add(&f, "StatusCallbackEvent", evs[i]);
	json_t *body = NULL;
	int st = bt_rest_post(s->rest_port, "/2010-04-01/Accounts/" ACCOUNT "/Calls.json", &f, ACCOUNT, AUTH, &body);
	sb_form_free(&f);
	assert_int_equal(st, 201);
	assert_string_equal(sb_json_str(body, "status"), "queued");
	assert_string_equal(sb_json_str(body, "direction"), "outbound-api");
	snprintf(sid, cap, "%s", sb_json_str(body, "sid"));
	assert_int_equal(strncmp(sid, "CA", 2), 0);
	json_decref(body);
}

/* What the model was told: the payer's facts and the disclosure. */
static void check_instructions(const stack *s)
{
	static const char *const must[] = {"Pat Payer", "Widget Co", "250.75 USD", "42 days overdue", "debt collector", NULL};
	for (int i = 0; must[i]; i++)
		assert_true(bt_count_lines(s->record, "kind", "session.update", -1, must[i]) >= 1);
}

/* The tools the call stored, and what ran. */
static void check_tools(json_t *call)
{
	json_t *d = tool(call, "dispute_debt"), *p = tool(call, "record_payment_promise");
	assert_non_null(d);
	assert_non_null(strstr(sb_json_str(d, "output"), "cancelled"));
	assert_non_null(p);
	assert_string_equal(sb_json_str(p, "output"), "Recorded.");
	assert_non_null(strstr(sb_json_str(p, "arguments"), "2026-12-01"));
	assert_string_equal(sb_json_str(tool(call, "request_callback"), "output"), "Recorded.");
	assert_non_null(tool(call, "end_call"));
	json_t *payer = sbt_ok(g.c, "payers.get", json_pack("{s:s}", "id", g.payer));
	assert_false(json_is_true(json_object_get(payer, "disputed"))); /* the cancelled call did not run */
	json_decref(payer);
}

static void test_outbound_collections(void **state)
{
	stack s = {0};
	const char *rt[] = {"--greeting-ms", "500", "--tool-speech-ms", "400", "--tool-done-delay-ms", "5000", "--no-kb",
			    "--turn-tools", "!dispute_debt:{\"reason\":\"not mine\"};"
			    "record_payment_promise:{\"amount\":120.5,\"date\":\"2026-12-01\"};"
			    "request_callback:{\"when\":\"tomorrow\"};end_call:{\"reason\":\"done\"}", NULL};
	stack_up(&s, "collect", rt);
	const char *args[] = {"--calls", "0", "--duration-ms", "20000", "--talk-at-ms", "700", "--talk-ms", "400",
			      "--talk-count", "4", "--talk-every-ms", "2200", NULL};
	callsim_start(&s, "collect", args);
	char sid[64];
	create_outbound(&s, sid, sizeof sid);
	assert_int_equal(bt_wait_payer(g.c, g.payer, "CALL_CONNECTED_TO_AI", BT_WAIT_MS), 0);
	assert_int_equal(bt_wait_lines(s.rest_log, "op", "update", "completed", 1), 1);
	assert_int_equal(bt_wait_payer(g.c, g.payer, "CALL_COMPLETED", BT_WAIT_MS), 0);
	check_instructions(&s);
	json_t *call = bt_wait_call(g.c, sid, NULL, 4);
	assert_non_null(call);
	check_tools(call);
	json_t *r = callsim_report(&s, SIGTERM), *it = item0(r);
	assert_string_equal(sb_json_str(it, "callSid"), sid);
	assert_string_equal(sb_json_str(it, "endedBy"), "rest-completed");
	/* hung up only after the goodbye played: greeting 500 + four tool turns of 400 + two "Recorded." of 540 ms */
	assert_true(sb_json_int(it, "heardAtEndMs", 0) >= 500 + 4 * 400 + 2 * 540 - 60);
	assert_non_null(strstr(sb_json_str(it, "streamUrl"), "/collect-iq/media-stream"));
	assert_string_equal(sb_json_str(json_object_get(it, "customParameters"), "payerId"), g.payer);
	assert_string_equal(sb_json_str(rest_req(r, "create"), "callSid"), sid);
	assert_int_equal(json_array_size(json_object_get(json_object_get(rest_req(r, "create"), "params"), "StatusCallbackEvent")), 4);
	assert_int_equal(bt_count_lines(s.record, "kind", "violation", -1, NULL), 0);
	json_decref(call);
	json_decref(r);
	stack_down(&s);
}

static void test_rest_errors(void **state)
{
	stack s = {0};
	snprintf(s.tag, sizeof s.tag, "resterr");
	s.rest_port = sbt_free_port();
	const char *args[] = {"--calls", "0", "--rest-no-dial", "--rest-fail-status", "503", "--rest-fail-count", "1", NULL};
	callsim_start(&s, "resterr", args);
	const char *create = "/2010-04-01/Accounts/" ACCOUNT "/Calls.json";
	sb_form f = {0};
	sb_form_add(&f, "To", PAYER_NUM);
	sb_form_add(&f, "From", BIZ_NUM);
	sb_form_add(&f, "Url", "http://127.0.0.1:1/collect-iq/voice");
	json_t *b = NULL;
	assert_int_equal(bt_rest_post(s.rest_port, create, &f, ACCOUNT, "wrong", &b), 401);
	assert_int_equal(sb_json_int(b, "code", 0), 20003);
	json_decref(b);
	assert_int_equal(bt_rest_post(s.rest_port, create, &f, ACCOUNT, AUTH, &b), 503); /* injected */
	json_decref(b);
	assert_int_equal(bt_rest_post(s.rest_port, create, &f, ACCOUNT, AUTH, &b), 201); /* then fine */
	char path[200];
	snprintf(path, sizeof path, "/2010-04-01/Accounts/" ACCOUNT "/Calls/%s.json", sb_json_str(b, "sid"));
	json_decref(b);
	sb_form_free(&f);
	sb_form_add(&f, "Status", "completed");
	assert_int_equal(bt_rest_post(s.rest_port, path, &f, ACCOUNT, AUTH, &b), 200);
	assert_string_equal(sb_json_str(b, "status"), "completed");
	json_decref(b);
	assert_int_equal(bt_rest_post(s.rest_port, "/2010-04-01/Accounts/" ACCOUNT "/Calls/CAnope.json", &f, ACCOUNT, AUTH, &b), 404);
	assert_int_equal(sb_json_int(b, "code", 0), 20404);
	json_decref(b);
	sb_form_free(&f);
	sb_form_add(&f, "From", BIZ_NUM);
	assert_int_equal(bt_rest_post(s.rest_port, create, &f, ACCOUNT, AUTH, NULL), 400);
	sb_form_free(&f);
	json_t *r = callsim_report(&s, SIGTERM);
	assert_int_equal(json_array_size(json_object_get(r, "restRequests")), 6);
	assert_int_equal(bt_count_lines(s.rest_log, "op", NULL, -1, NULL), 6);
	json_decref(r);
}

static int setup(void **state)
{
	sb_http_global_init();
	if (sbt_start_store(&g.store, g.store_url, sizeof g.store_url, NULL) != 0)
		return -1;
	g.c = sb_client_open(g.store_url, NULL, NULL);
	json_t *b = sbt_ok(g.c, "businesses.create", json_pack("{s:s}", "name", "Widget Co"));
	snprintf(g.biz, sizeof g.biz, "%s", sb_json_str(b, "id"));
	json_decref(b);
	json_decref(sbt_ok(g.c, "phone_numbers.create", json_pack("{s:s,s:s}", "number", BIZ_NUM, "businessId", g.biz)));
	json_decref(sbt_ok(g.c, "config.set", json_pack("{s:s,s:s,s:s}", "businessId", g.biz, "key", "transfer_number",
							"value", XFER_NUM)));
	json_t *p = sbt_ok(g.c, "payers.create", json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:i}", "businessId", g.biz, "name",
		"Pat Payer", "company", "Widget Co", "phone", PAYER_NUM, "amountDue", 250.75, "currency", "USD", "daysOverdue", 42));
	if (!p)
		return -1;
	snprintf(g.payer, sizeof g.payer, "%s", sb_json_str(p, "id"));
	json_decref(p);
	return 0;
}

static int teardown(void **state)
{
	sb_client_close(g.c);
	sbt_stop(&g.store, SIGTERM, BT_WAIT_MS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rest_errors),
		cmocka_unit_test(test_inbound_webhook_transfer),
		cmocka_unit_test(test_webhook_bad_signature),
		cmocka_unit_test(test_outbound_collections),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
