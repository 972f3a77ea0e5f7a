/*
 * scheduler_outreach_test.c — sb-scheduler end to end over its real socket,
 * with the store, the outbox transport, a Twilio stub and --test-clock:
 *
 *   - STAGE_1 at 20:59 in the payer's zone: one .eml with Date, From, To,
 *     Subject, Message-ID <attempt@domain>, multipart/alternative, the
 *     debt-collector disclosure, the portal link and the unsubscribe link;
 *     the payer ends SENT with the attempt in its history;
 *   - 21:01: skipped SKIPPED_QUIET_HOURS, recorded on the payer, nothing sent;
 *   - opted out: skipped; STAGE_2 by days overdue: the urgent template;
 *   - STAGE_3: the Calls request (basic auth, To, From, Url, StatusCallback,
 *     StatusCallbackEvent repeated); the eighth call in 7 days is skipped;
 *     Twilio 400 → FAILED, 500 → UNKNOWN (never retried); outreach.reconcile
 *     moves an attempt and its payer to the call log's status (NO_ANSWER)
 *     without contacting anyone;
 *   - an email claim left open by a "crash" is sent once on the next
 *     evaluation; a call claim left open is closed UNKNOWN and not dialled;
 *   - "now" is refused without --test-clock; SIGTERM exits 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scheduler_util.h"

static sbt_proc    store, sched;
static sb_client  *st, *sc;
static twilio_stub tw;
static char        store_url[400], sched_url[400];

static int setup(void **state)
{
	char api[64];
	if (stub_start(&tw) < 0 || sbt_start_store(&store, store_url, sizeof store_url, NULL) < 0)
		return -1;
	snprintf(api, sizeof api, "http://127.0.0.1:%d", tw.port);
	const char *extra[] = {"--interval", "0", "--test-clock", "--twilio-account-sid", "ACtest",
			       "--twilio-auth-token", "tok123", "--twilio-from", "+15550001111",
			       "--twilio-api-url", api, "--machine-detection", "Enable", "--cooldown-hours", "0",
			       "--max-attempts-per-stage", "20", NULL};
	if (sched_spawn(&sched, store_url, sched_url, sizeof sched_url, extra) < 0)
		return -1;
	sb_error err;
	st = sb_client_open(store_url, NULL, &err);
	sb_client_opts o = {.timeout_ms = 20000, .resend_ms = 30000};
	sc = sb_client_open(sched_url, &o, &err);
	return st && sc ? 0 : -1;
}

static int teardown(void **state)
{
	sb_client_close(sc);
	sb_client_close(st);
	assert_int_equal(sbt_stop(&sched, SIGTERM, 20000), 0);
	sbt_stop(&store, SIGTERM, 10000);
	return 0;
}

/* outreach.trigger at local time `iso` (with its offset); returns the outcome (owned). */
static json_t *trigger(const char *payer, const char *iso)
{
	json_t *d = sbt_ok(sc, "outreach.trigger", json_pack("{s:s,s:s}", "payerId", payer, "now", iso));
	assert_non_null(d);
	return d;
}

static void expect(json_t *d, const char *result, const char *reason_or_status)
{
	const char *r = sb_json_str(d, "result"), *why = sb_json_str(d, "reason"), *status = sb_json_str(d, "status");
	if (!r || strcmp(r, result) || (reason_or_status && !(why && !strcmp(why, reason_or_status)) &&
					!(status && !strcmp(status, reason_or_status)))) {
		char *js = sb_json_dump(d, NULL);
		fail_msg("want %s/%s, got %s", result, reason_or_status ? reason_or_status : "-", js);
	}
	json_decref(d);
}

static const char *last_status(const char *payer, char *buf, size_t len)
{
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", payer));
	snprintf(buf, len, "%s", p && sb_json_str(p, "lastOutreachStatus") ? sb_json_str(p, "lastOutreachStatus") : "");
	json_decref(p);
	return buf;
}

static void test_stage1_email_at_2059(void **state)
{
	char path[700], buf[64];
	assert_int_equal(sched_payer(st, "payer_e1", "ann@example.net", NULL, 5, "STAGE_1", "America/Chicago"), 0);
	expect(trigger("payer_e1", "2026-03-02T20:59:00-06:00"), "sent", "SENT");
	assert_int_equal(outbox_count("payer_e1", path, sizeof path), 1);
	char *m = slurp(path);
	assert_non_null(m);
	assert_non_null(strstr(m, "\r\nDate: Tue, 03 Mar 2026 02:59:00 +0000\r\n"));
	assert_non_null(strstr(m, "\r\nFrom: Acme Accounts <billing@acme.example>\r\n"));
	assert_non_null(strstr(m, "\r\nTo: ann@example.net\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: A friendly reminder about your account\r\n"));
	assert_non_null(strstr(m, "\r\nMessage-ID: <att_"));
	assert_non_null(strstr(m, "@acme.example>\r\n"));
	assert_non_null(strstr(m, "Content-Type: multipart/alternative; boundary="));
	assert_non_null(strstr(m, "Content-Type: text/plain; charset=UTF-8"));
	assert_non_null(strstr(m, "Content-Type: text/html; charset=UTF-8"));
	assert_non_null(strstr(m, "List-Unsubscribe: <https://sb.example.com/unsubscribe?payerId=3Dpayer_e1") ||
			strstr(m, "List-Unsubscribe: <https://sb.example.com/unsubscribe?payerId=payer_e1"));
	assert_non_null(strstr(m, "This communication is from a debt collector."));
	assert_non_null(strstr(m, "https://pay.example.com/portal?payer=3Dpayer_e1")); /* quoted-printable '=' */
	assert_non_null(strstr(m, "Acme &amp; Co"));                               /* escaped in HTML */
	assert_non_null(strstr(m, "250.75 USD"));
	free(m);
	assert_string_equal(last_status("payer_e1", buf, sizeof buf), "SENT");
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_e1"));
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	assert_string_equal(sb_json_str(a, "status"), "SENT");
	assert_string_equal(sb_json_str(a, "window"), "a1");
	assert_string_equal(sb_json_str(a, "channel"), "email");
	json_decref(p);
}

static void test_quiet_and_opted_out(void **state)
{
	char buf[64];
	assert_int_equal(sched_payer(st, "payer_q1", "bob@example.net", NULL, 5, "STAGE_1", "America/Chicago"), 0);
	expect(trigger("payer_q1", "2026-03-02T21:01:00-06:00"), "skipped", "SKIPPED_QUIET_HOURS");
	assert_int_equal(outbox_count("payer_q1", NULL, 0), 0);
	assert_string_equal(last_status("payer_q1", buf, sizeof buf), "SKIPPED_QUIET_HOURS");
	json_decref(sbt_ok(st, "payers.update", json_pack("{s:s,s:b}", "id", "payer_q1", "optedOut", 1)));
	expect(trigger("payer_q1", "2026-03-02T12:00:00-06:00"), "skipped", "SKIPPED_OPTED_OUT");
	assert_int_equal(outbox_count("payer_q1", NULL, 0), 0);
}

static void test_stage2_urgent(void **state)
{
	char path[700];
	assert_int_equal(sched_payer(st, "payer_e2", "cy@example.net", NULL, 45, "STAGE_1", "Europe/Paris"), 0);
	expect(trigger("payer_e2", "2026-03-02T10:00:00+01:00"), "sent", "SENT");
	assert_int_equal(outbox_count("payer_e2", path, sizeof path), 1);
	char *m = slurp(path);
	assert_non_null(strstr(m, "Subject: Urgent: your account is past due"));
	assert_non_null(strstr(m, "from a debt collector"));
	free(m);
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_e2"));
	assert_string_equal(sb_json_str(p, "stage"), "STAGE_2");
	json_decref(p);
}

/* The form of the stub's request i. */
static void stub_form(int i, sb_form *f)
{
	sb_error err;
	pthread_mutex_lock(&tw.mu);
	assert_int_equal(sb_form_parse(f, tw.body[i], strlen(tw.body[i]), &err), 0);
	pthread_mutex_unlock(&tw.mu);
}

static void test_call_request_and_seven_in_seven(void **state)
{
	char iso[64];
	assert_int_equal(sched_payer(st, "payer_c1", NULL, "+15557654321", 90, "STAGE_3", "America/New_York"), 0);
	int before = stub_count(&tw);
	for (int i = 0; i < 7; i++) {
		snprintf(iso, sizeof iso, "2026-03-0%dT12:%02d:00-05:00", 2 + (i < 4 ? i : 4), i);
		expect(trigger("payer_c1", iso), "call_initiated", "CALL_INITIATED");
	}
	expect(trigger("payer_c1", "2026-03-06T13:00:00-05:00"), "skipped", "SKIPPED_CALL_LIMIT");
	assert_int_equal(stub_calls_to(&tw, "+15557654321"), 7);
	sb_form f = {0};
	stub_form(before, &f);
	assert_string_equal(sb_form_get(&f, "To"), "+15557654321");
	assert_string_equal(sb_form_get(&f, "From"), "+15550001111");
	assert_string_equal(sb_form_get(&f, "Url"), "https://sb.example.com/collect-iq/voice?payerId=payer_c1");
	assert_non_null(strstr(sb_form_get(&f, "StatusCallback"), "https://sb.example.com/api/twilio/status?payerId=payer_c1"));
	assert_string_equal(sb_form_get(&f, "MachineDetection"), "Enable");
	int events = 0;
	for (size_t i = 0; i < f.n; i++)
		events += !strcmp(f.p[i].name, "StatusCallbackEvent");
	assert_int_equal(events, 4);
	sb_form_free(&f);
	pthread_mutex_lock(&tw.mu);
	assert_string_equal(tw.auth[before], "Basic QUN0ZXN0OnRvazEyMw=="); /* ACtest:tok123 */
	assert_non_null(strstr(tw.path[before], "POST /2010-04-01/Accounts/ACtest/Calls.json"));
	pthread_mutex_unlock(&tw.mu);
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_c1"));
	assert_string_equal(sb_json_str(p, "lastOutreachStatus"), "SKIPPED_CALL_LIMIT");
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	assert_non_null(strstr(sb_json_str(a, "detail"), "\"callSid\":\"CAstub"));
	json_decref(p);
}

/* The callSid of the payer's attempt k. */
static void attempt_sid(const char *payer, int k, char *sid, size_t len)
{
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", payer));
	json_t *d = json_loads(sb_json_str(json_array_get(json_object_get(p, "attempts"), (size_t)k), "detail"), 0, NULL);
	snprintf(sid, len, "%s", sb_json_str(d, "callSid") ? sb_json_str(d, "callSid") : "");
	json_decref(d);
	json_decref(p);
}

static const char *attempt_status(const char *payer, int k, char *buf, size_t len)
{
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", payer));
	const char *s = sb_json_str(json_array_get(json_object_get(p, "attempts"), (size_t)k), "status");
	snprintf(buf, len, "%s", s ? s : "");
	json_decref(p);
	return buf;
}

/* What the gateway does with Twilio's status callbacks (call log), and the attempts following it. */
static void test_status_callbacks_reach_attempts(void **state)
{
	char sid0[64], sid1[64], buf[64];
	attempt_sid("payer_c1", 0, sid0, sizeof sid0);
	attempt_sid("payer_c1", 1, sid1, sizeof sid1);
	assert_true(sid0[0] && sid1[0]);
	json_decref(sbt_ok(st, "calls.create", json_pack("{s:s,s:s,s:s,s:s}", "callSid", sid0, "direction", "outbound",
							 "payerId", "payer_c1", "status", "ringing")));
	json_decref(sbt_ok(st, "calls.create", json_pack("{s:s,s:s,s:s,s:s}", "callSid", sid1, "direction", "outbound",
							 "payerId", "payer_c1", "status", "no-answer")));
	expect(trigger("payer_c1", "2026-03-06T13:30:00-05:00"), "skipped", "SKIPPED_CALL_LIMIT");
	assert_string_equal(attempt_status("payer_c1", 0, buf, sizeof buf), "CALL_RINGING");
	assert_string_equal(attempt_status("payer_c1", 1, buf, sizeof buf), "NO_ANSWER");
	json_decref(sbt_ok(st, "calls.update_status", json_pack("{s:s,s:s}", "callSid", sid0, "status", "in-progress")));
	json_decref(sbt_ok(st, "calls.update_status", json_pack("{s:s,s:s,s:i}", "callSid", sid0, "status", "completed",
								"durationS", 42)));
	expect(trigger("payer_c1", "2026-03-06T13:31:00-05:00"), "skipped", "SKIPPED_CALL_LIMIT");
	assert_string_equal(attempt_status("payer_c1", 0, buf, sizeof buf), "CALL_COMPLETED");
}

/* outreach.reconcile (what the gateway sends after a status callback): the attempt and the payer follow the
 * call log at once, and nobody is contacted (a trigger here would dial again: the cool-down is 0). */
static void test_reconcile_contacts_nobody(void **state)
{
	char sid[64], buf[64];
	assert_int_equal(sched_payer(st, "payer_c6", NULL, "+15557650006", 90, "STAGE_3", "America/New_York"), 0);
	expect(trigger("payer_c6", "2026-03-02T12:00:00-05:00"), "call_initiated", "CALL_INITIATED");
	attempt_sid("payer_c6", 0, sid, sizeof sid);
	json_decref(sbt_ok(st, "calls.create", json_pack("{s:s,s:s,s:s,s:s}", "callSid", sid, "direction", "outbound",
							 "payerId", "payer_c6", "status", "no-answer")));
	json_t *r = sbt_ok(sc, "outreach.reconcile", json_pack("{s:s}", "payerId", "payer_c6"));
	assert_non_null(r);
	assert_string_equal(sb_json_str(r, "payerId"), "payer_c6");
	assert_true(json_is_boolean(json_object_get(r, "queued")));
	json_decref(r);
	for (int i = 0; i < 500 && strcmp(attempt_status("payer_c6", 0, buf, sizeof buf), "NO_ANSWER"); i++)
		usleep(10 * 1000); /* answered when queued: the worker is at it */
	assert_string_equal(attempt_status("payer_c6", 0, buf, sizeof buf), "NO_ANSWER");
	assert_string_equal(last_status("payer_c6", buf, sizeof buf), "NO_ANSWER");
	assert_int_equal(stub_calls_to(&tw, "+15557650006"), 1);
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_c6"));
	assert_int_equal(json_array_size(json_object_get(p, "attempts")), 1);
	json_decref(p);
	assert_string_equal(sbt_code(sc, "outreach.reconcile", json_object()), "invalid_argument"); /* payerId required */
}

static void test_twilio_errors(void **state)
{
	assert_int_equal(sched_payer(st, "payer_c4", NULL, "+15550000400", 90, "STAGE_3", "America/New_York"), 0);
	assert_int_equal(sched_payer(st, "payer_c5", NULL, "+15550000500", 90, "STAGE_3", "America/New_York"), 0);
	expect(trigger("payer_c4", "2026-03-02T12:00:00-05:00"), "failed", "FAILED");
	expect(trigger("payer_c5", "2026-03-02T12:00:00-05:00"), "unknown", "UNKNOWN");
	assert_int_equal(stub_calls_to(&tw, "+15550000400"), 1);
	assert_int_equal(stub_calls_to(&tw, "+15550000500"), 1); /* a 5xx may have placed it: never again */
}

static void test_crash_leftovers(void **state)
{
	char buf[64];
	assert_int_equal(sched_payer(st, "payer_r1", "dee@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	assert_int_equal(sched_payer(st, "payer_r2", NULL, "+15559990000", 90, "STAGE_3", "America/New_York"), 0);
	/* What a scheduler killed right after its claims leaves behind. */
	json_decref(sbt_ok(st, "outreach.claim", json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", "att_crash1", "payerId",
						       "payer_r1", "stage", "STAGE_1", "channel", "email", "window", "a1",
						       "status", "SENDING", "detail", "{\"at\":\"2026-03-02T17:00:00Z\",\"tries\":1}")));
	json_decref(sbt_ok(st, "outreach.claim", json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", "att_crash2", "payerId",
						       "payer_r2", "stage", "STAGE_3", "channel", "call", "window", "a1",
						       "status", "DIALING", "detail", "{\"at\":\"2026-03-02T17:00:00Z\",\"tries\":1}")));
	expect(trigger("payer_r1", "2026-03-02T12:00:00-05:00"), "sent", "SENT");
	expect(trigger("payer_r1", "2026-03-02T12:01:00-05:00"), "sent", "SENT"); /* a2: cool-down is 0 here */
	assert_int_equal(outbox_count("payer_r1", NULL, 0), 2);
	char path[700];
	snprintf(path, sizeof path, "%s/outbox/att_crash1.eml", sbt_dir());
	assert_int_equal(access(path, F_OK), 0); /* the orphan went out under its own id */
	int calls = stub_calls_to(&tw, "+15559990000");
	json_t *d = trigger("payer_r2", "2026-03-02T12:00:00-05:00"); /* closes the orphan UNKNOWN, then dials a2 */
	json_decref(d);
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_r2"));
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	assert_string_equal(sb_json_str(a, "id"), "att_crash2");
	assert_string_equal(sb_json_str(a, "status"), "UNKNOWN");
	json_decref(p);
	assert_true(stub_calls_to(&tw, "+15559990000") <= calls + 1); /* never the orphan itself */
	(void)buf;
}

static void test_status_and_no_clock(void **state)
{
	json_t *s = sbt_ok(sc, "outreach.status", json_object());
	assert_string_equal(sb_json_str(s, "transport"), "outbox");
	assert_true(sb_json_bool(s, "testClock", 0));
	json_decref(s);
	s = sbt_ok(sc, "outreach.status", json_pack("{s:s}", "payerId", "payer_e1"));
	assert_int_equal(json_array_size(json_object_get(s, "attempts")), 1);
	json_decref(s);
	assert_string_equal(sbt_code(sc, "outreach.trigger", json_pack("{s:s,s:s}", "payerId", "payer_e1", "now", "bad")),
			    "invalid_argument");
	assert_string_equal(sbt_code(sc, "outreach.trigger", json_pack("{s:s}", "payerId", "payer_missing")),
			    "not_found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage1_email_at_2059),
		cmocka_unit_test(test_quiet_and_opted_out),
		cmocka_unit_test(test_stage2_urgent),
		cmocka_unit_test(test_call_request_and_seven_in_seven),
		cmocka_unit_test(test_status_callbacks_reach_attempts),
		cmocka_unit_test(test_reconcile_contacts_nobody),
		cmocka_unit_test(test_twilio_errors),
		cmocka_unit_test(test_crash_leftovers),
		cmocka_unit_test(test_status_and_no_clock),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
