/*
 * scheduler_rules_test.c — the scheduler's escalation rules and guardrails
 * (scheduler/scheduler_rules.c) as pure functions with a controllable clock:
 * contact window in the payer's zone (20:59 sends, 21:00 and 21:01 skip),
 * opted out / disputing / nothing due, escalation by days and by attempts,
 * cool-down, 7 calls in 7 days, a recent conversation, and what happens to
 * attempts a crash left open (a call is never re-dialled, an email resent
 * at most once).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../scheduler/scheduler_rules.c"

#define HOUR (3600LL * 1000)
#define DAY  (24 * HOUR)

static const sched_rules RULES = {
	.stage2_days = 30, .stage3_days = 60, .max_attempts = 3, .cooldown_ms = 72 * HOUR,
	.quiet_start = 8 * 60, .quiet_end = 21 * 60, .max_calls_7d = 7, .email_max_tries = 5,
	.retry_base_ms = 300000, .calls_enabled = true,
};

/* 2026-01-15 in New York (EST, UTC-5) at hh:mm local. */
static int64_t ny(int hh, int mm)
{
	int64_t ms;
	char iso[40];
	snprintf(iso, sizeof iso, "2026-01-15T%02d:%02d:00-05:00", hh, mm);
	assert_int_equal(sb_time_parse_iso(iso, &ms), 0);
	return ms;
}

static json_t *payer(int days, const char *stage)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:f,s:i,s:s,s:s,s:b,s:b,s:[]}", "id", "payer_t", "name", "Ann", "email",
			 "ann@example.com", "phone", "+15551230000", "amountDue", 120.5, "daysOverdue", days, "stage",
			 stage, "timezone", "America/New_York", "optedOut", 0, "disputed", 0, "attempts");
}

/* Append an attempt made at `at` with status and optional extra detail fields. */
static void attempt(json_t *p, const char *stage, const char *channel, const char *status, int64_t at, int uncertain)
{
	char iso[SB_ISO_LEN], detail[200], id[32];
	json_t *atts = json_object_get(p, "attempts");
	snprintf(id, sizeof id, "att_%zu", json_array_size(atts));
	snprintf(detail, sizeof detail, "{\"at\":\"%s\",\"tries\":1,\"uncertain\":%d}", sb_time_iso(at, iso),
		 uncertain);
	json_array_append_new(atts, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "stage", stage, "channel",
					      channel, "status", status, "detail", detail, "claimedAt", iso));
}

static void decide(json_t *p, int64_t now, sched_decision *d)
{
	sched_decide(&RULES, p, now, d);
}

static void test_contact_window(void **state)
{
	static const struct { int hh, mm; bool send; } cases[] = {
		{20, 59, true}, {21, 0, false}, {21, 1, false}, {7, 59, false}, {8, 0, true}, {12, 0, true}, {3, 0, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = payer(5, "STAGE_1");
		sched_decision d;
		decide(p, ny(cases[i].hh, cases[i].mm), &d);
		if (cases[i].send) {
			assert_int_equal(d.act, ACT_SEND);
			assert_string_equal(d.window, "a1");
			assert_false(d.call);
		} else {
			assert_int_equal(d.act, ACT_SKIP);
			assert_string_equal(d.reason, "SKIPPED_QUIET_HOURS");
			assert_true(d.record);
		}
		json_decref(p);
	}
}

static void test_zone_matters(void **state)
{
	json_t *p = payer(5, "STAGE_1");
	sched_decision d;
	json_object_set_new(p, "timezone", json_string("America/Los_Angeles")); /* 20:59 NY = 17:59 LA */
	decide(p, ny(20, 59), &d);
	assert_int_equal(d.act, ACT_SEND);
	decide(p, ny(10, 30), &d); /* 07:30 in LA */
	assert_string_equal(d.reason, "SKIPPED_QUIET_HOURS");
	json_object_set_new(p, "timezone", json_string("Mars/Olympus_Mons"));
	decide(p, ny(12, 0), &d);
	assert_string_equal(d.reason, "SKIPPED_BAD_TIMEZONE");
	json_decref(p);
}

static void test_never_contact(void **state)
{
	static const struct { const char *field; json_t *(*val)(void); const char *reason; } cases[] = {
		{"optedOut", json_true, "SKIPPED_OPTED_OUT"},
		{"disputed", json_true, "SKIPPED_DISPUTED"},
	};
	for (size_t i = 0; i < 2; i++) {
		json_t *p = payer(90, "STAGE_3");
		sched_decision d;
		json_object_set_new(p, cases[i].field, cases[i].val());
		decide(p, ny(12, 0), &d);
		assert_int_equal(d.act, ACT_SKIP);
		assert_string_equal(d.reason, cases[i].reason);
		json_decref(p);
	}
	json_t *p = payer(90, "STAGE_1");
	sched_decision d;
	json_object_set_new(p, "amountDue", json_integer(0));
	decide(p, ny(12, 0), &d);
	assert_string_equal(d.reason, "SKIPPED_NOTHING_DUE");
	json_decref(p);
}

static void test_escalation_by_days(void **state)
{
	sched_decision d;
	json_t *p = payer(35, "STAGE_1");
	decide(p, ny(12, 0), &d);
	assert_int_equal(d.act, ACT_SEND);
	assert_int_equal(d.stage, 2);
	assert_false(d.call);
	json_decref(p);
	p = payer(65, "STAGE_1");
	decide(p, ny(12, 0), &d);
	assert_int_equal(d.stage, 3);
	assert_true(d.call);
	sched_rules no_calls = RULES;
	no_calls.calls_enabled = false;
	sched_decide(&no_calls, p, ny(12, 0), &d);
	assert_string_equal(d.reason, "SKIPPED_CALLS_DISABLED");
	json_object_del(p, "phone");
	decide(p, ny(12, 0), &d);
	assert_string_equal(d.reason, "SKIPPED_NO_PHONE");
	json_decref(p);
}

static void test_cooldown_and_attempts(void **state)
{
	int64_t now = ny(12, 0);
	sched_decision d;
	json_t *p = payer(5, "STAGE_1");
	attempt(p, "STAGE_1", "email", "SENT", now - 1 * DAY, 0);
	decide(p, now, &d);
	assert_int_equal(d.act, ACT_NONE);
	assert_string_equal(d.reason, "COOLDOWN");
	decide(p, now + 3 * DAY, &d);
	assert_int_equal(d.act, ACT_SEND);
	assert_string_equal(d.window, "a2");
	attempt(p, "STAGE_1", "email", "FAILED", now - 8 * DAY, 0);
	attempt(p, "STAGE_1", "email", "SENT", now - 4 * DAY, 0);
	decide(p, now, &d); /* three stage-1 attempts, the last a day ago: wait */
	assert_string_equal(d.reason, "COOLDOWN");
	assert_int_equal(d.stage, 1);
	decide(p, now + 2 * DAY, &d); /* cool-down over: on to stage 2 */
	assert_int_equal(d.act, ACT_SEND);
	assert_int_equal(d.stage, 2);
	assert_string_equal(d.window, "a1");
	json_decref(p);
}

static void test_exhausted(void **state)
{
	int64_t now = ny(12, 0);
	sched_decision d;
	json_t *p = payer(90, "STAGE_3");
	for (int i = 0; i < 3; i++)
		attempt(p, "STAGE_3", "call", "NO_ANSWER", now - (20 - i) * DAY, 0);
	decide(p, now, &d);
	assert_int_equal(d.act, ACT_NONE);
	assert_string_equal(d.reason, "EXHAUSTED");
	json_decref(p);
}

static void test_seven_in_seven(void **state)
{
	sched_rules r = RULES;
	r.max_attempts = 100;
	r.cooldown_ms = 0;
	int64_t now = ny(12, 0);
	sched_decision d;
	json_t *p = payer(90, "STAGE_3");
	for (int i = 0; i < 7; i++)
		attempt(p, "STAGE_3", "call", i % 2 ? "NO_ANSWER" : ST_CALL_INITIATED, now - 6 * DAY + i * HOUR, 0);
	sched_decide(&r, p, now, &d);
	assert_int_equal(d.act, ACT_SKIP);
	assert_string_equal(d.reason, "SKIPPED_CALL_LIMIT");
	sched_decide(&r, p, now + DAY + HOUR, &d); /* the oldest ones are now 7 days old */
	assert_int_equal(d.act, ACT_SEND);
	assert_string_equal(d.window, "a8");
	json_decref(p);
	p = payer(90, "STAGE_3"); /* refused by Twilio: never placed, not counted */
	for (int i = 0; i < 7; i++)
		attempt(p, "STAGE_3", "call", ST_FAILED, now - DAY, 0);
	sched_decide(&r, p, now, &d);
	assert_int_equal(d.act, ACT_SEND);
	json_decref(p);
}

static void test_recent_conversation(void **state)
{
	sched_rules r = RULES;
	r.cooldown_ms = 0;
	int64_t now = ny(12, 0);
	sched_decision d;
	json_t *p = payer(90, "STAGE_3");
	attempt(p, "STAGE_3", "call", "CALL_COMPLETED", now - 2 * DAY, 0);
	sched_decide(&r, p, now, &d);
	assert_string_equal(d.reason, "SKIPPED_RECENT_CONVERSATION");
	sched_decide(&r, p, now + 6 * DAY, &d);
	assert_int_equal(d.act, ACT_SEND);
	json_decref(p);
}

static void test_orphans(void **state)
{
	int64_t now = ny(12, 0);
	sched_decision d;
	json_t *p = payer(90, "STAGE_3");
	attempt(p, "STAGE_3", "call", ST_DIALING, now - HOUR, 0);
	decide(p, ny(23, 0), &d); /* closing an orphaned call contacts nobody: any hour */
	assert_int_equal(d.act, ACT_CLOSE);
	assert_string_equal(d.reason, ST_UNKNOWN);
	json_decref(p);

	p = payer(5, "STAGE_1");
	attempt(p, "STAGE_1", "email", ST_SENDING, now - HOUR, 0);
	decide(p, now, &d);
	assert_int_equal(d.act, ACT_RESUME);
	assert_true(d.orphan);
	assert_string_equal(sb_json_str(d.attempt, "id"), "att_0");
	decide(p, ny(22, 0), &d); /* a resend is a contact: the window applies */
	assert_string_equal(d.reason, "SKIPPED_QUIET_HOURS");
	json_object_set_new(p, "optedOut", json_true());
	decide(p, now, &d);
	assert_int_equal(d.act, ACT_CLOSE);
	assert_string_equal(d.reason, ST_CANCELED);
	json_decref(p);

	p = payer(5, "STAGE_1"); /* already resent once after a crash: never a third time */
	attempt(p, "STAGE_1", "email", ST_SENDING, now - HOUR, 1);
	decide(p, now, &d);
	assert_int_equal(d.act, ACT_CLOSE);
	assert_string_equal(d.reason, ST_UNKNOWN);
	json_decref(p);
}

static void test_retry_pending(void **state)
{
	int64_t now = ny(12, 0);
	char iso[SB_ISO_LEN], detail[160];
	sched_decision d;
	json_t *p = payer(5, "STAGE_1");
	attempt(p, "STAGE_1", "email", ST_RETRY, now - HOUR, 0);
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	snprintf(detail, sizeof detail, "{\"tries\":1,\"retryAt\":\"%s\"}", sb_time_iso(now + HOUR, iso));
	json_object_set_new(a, "detail", json_string(detail));
	decide(p, now, &d);
	assert_int_equal(d.act, ACT_NONE);
	assert_string_equal(d.reason, ST_RETRY);
	decide(p, now + 2 * HOUR, &d);
	assert_int_equal(d.act, ACT_RESUME);
	assert_false(d.orphan);
	json_decref(p);
}

static void test_helpers(void **state)
{
	assert_int_equal(sched_parse_hhmm("08:00"), 480);
	assert_int_equal(sched_parse_hhmm("24:00"), 1440);
	assert_int_equal(sched_parse_hhmm("24:01"), -1);
	assert_int_equal(sched_parse_hhmm("8:00"), -1);
	assert_int_equal(sched_parse_hhmm("08:60"), -1);
	assert_string_equal(sched_call_status("in-progress"), "CALL_CONNECTED_TO_AI");
	assert_string_equal(sched_call_status("no-answer"), "NO_ANSWER");
	assert_null(sched_call_status("bogus"));
	assert_true(sched_call_rank("CALL_RINGING") < sched_call_rank("CALL_COMPLETED"));
	assert_string_equal(sched_stage_name(2), "STAGE_2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contact_window),     cmocka_unit_test(test_zone_matters),
		cmocka_unit_test(test_never_contact),      cmocka_unit_test(test_escalation_by_days),
		cmocka_unit_test(test_cooldown_and_attempts), cmocka_unit_test(test_exhausted),
		cmocka_unit_test(test_seven_in_seven),     cmocka_unit_test(test_recent_conversation),
		cmocka_unit_test(test_orphans),            cmocka_unit_test(test_retry_pending),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
