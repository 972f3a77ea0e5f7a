/*
 * scheduler_rules.c — what to do for one payer now: escalation and the
 * compliance guardrails (docs/OUTREACH.md, services-and-libraries.md A4.2).
 *
 * Pure functions over (rules, payer with its attempt history, now): no I/O,
 * no clock, no globals, so every rule is unit-tested with any clock
 * (tests/scheduler_rules_test.c). The one lookup is the payer's time zone
 * (sb_local_minutes reads the zone file).
 *
 * Order of sched_decide, each step ending the decision:
 *   1. an open attempt left by a crash that must never be re-sent (a call,
 *      or an email already resent once) is closed UNKNOWN — no contact;
 *   2. nothing due, opted out, disputing: skip (and cancel a pending retry);
 *   3. outside 08:00–21:00 (configurable) in the payer's zone: skip;
 *   4. an orphaned email is resumed (resent at most once), a RETRY_PENDING
 *      attempt is retried when its time has come;
 *   5. the stage: the payer's, raised by days overdue, raised again when a
 *      stage has had max_attempts attempts and its cool-down has passed;
 *      within a stage, attempts are a cool-down apart;
 *   6. the channel's own guardrails: an address or number, calls
 *      configured, at most max_calls_7d placed calls in 7 days and none
 *      within 7 days after a conversation;
 *   7. send: claim window "a<n>" (the stage's n-th attempt).
 * Every path to a contact passes steps 2, 3 and 6: a send cannot bypass them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_json.h"
#include "sb_time.h"
#include "scheduler.h"

#define DAY_MS  (24LL * 3600 * 1000)
#define WEEK_MS (7 * DAY_MS)

const char *sched_stage_name(int stage)
{
	static const char *const names[] = {"STAGE_1", "STAGE_1", "STAGE_2", "STAGE_3"};
	return names[stage >= 1 && stage <= 3 ? stage : 0];
}

static int stage_num(const char *s)
{
	if (s && strncmp(s, "STAGE_", 6) == 0 && s[6] >= '1' && s[6] <= '3' && !s[7])
		return s[6] - '0';
	return 1;
}

int sched_parse_hhmm(const char *s)
{
	int h, m, n = 0;
	if (!s || sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || s[n] || n != 5)
		return -1;
	if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

json_t *sched_detail(const json_t *attempt)
{
	const char *text = sb_json_str(attempt, "detail");
	json_t *d = text ? json_loads(text, 0, NULL) : NULL;
	if (json_is_object(d))
		return d;
	json_decref(d);
	return json_object();
}

int64_t sched_attempt_at(const json_t *attempt)
{
	json_t *d = sched_detail(attempt);
	int64_t ms = 0;
	const char *at = sb_json_str(d, "at");
	if (!at || sb_time_parse_iso(at, &ms) < 0) {
		const char *claimed = sb_json_str(attempt, "claimedAt");
		if (!claimed || sb_time_parse_iso(claimed, &ms) < 0)
			ms = 0;
	}
	json_decref(d);
	return ms;
}

int sched_status_open(const char *status)
{
	return status && (!strcmp(status, ST_SENDING) || !strcmp(status, ST_DIALING) || !strcmp(status, ST_CLAIMED));
}

const char *sched_call_status(const char *tw)
{
	static const char *const map[][2] = {
		{"queued", "CALL_INITIATED"}, {"initiated", "CALL_INITIATED"}, {"ringing", "CALL_RINGING"},
		{"in-progress", "CALL_CONNECTED_TO_AI"}, {"answered", "CALL_CONNECTED_TO_AI"},
		{"completed", "CALL_COMPLETED"}, {"busy", "BUSY"}, {"no-answer", "NO_ANSWER"},
		{"failed", "FAILED"}, {"canceled", "CANCELED"},
	};
	for (size_t i = 0; tw && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(tw, map[i][0]))
			return map[i][1];
	return NULL;
}

int sched_call_rank(const char *st)
{
	static const char *const ranks[] = {ST_DIALING, ST_CALL_INITIATED, "CALL_RINGING", "CALL_CONNECTED_TO_AI"};
	for (int i = 0; st && i < 4; i++)
		if (!strcmp(st, ranks[i]))
			return i;
	return 4; /* every terminal status */
}

/* Contact allowed now in tz? NULL if yes, else the skip reason. */
static const char *contact_block(const sched_rules *r, const char *tz, int64_t now)
{
	int minutes;
	if (!tz || sb_local_minutes(now, tz, &minutes) < 0)
		return "SKIPPED_BAD_TIMEZONE";
	if (minutes < r->quiet_start || minutes >= r->quiet_end)
		return "SKIPPED_QUIET_HOURS";
	return NULL;
}

int sched_contact_allowed(const sched_rules *r, const char *tz, int64_t now)
{
	return contact_block(r, tz, now) == NULL;
}

/* The first attempt whose status satisfies pred (open) or equals want. */
static const json_t *find_attempt(const json_t *atts, const char *want)
{
	size_t i;
	const json_t *a;
	json_array_foreach(atts, i, a) {
		const char *st = sb_json_str(a, "status");
		if (want ? (st && !strcmp(st, want)) : sched_status_open(st))
			return a;
	}
	return NULL;
}

static bool is_call(const json_t *att)
{
	const char *ch = sb_json_str(att, "channel");
	return ch && !strcmp(ch, "call");
}

/* Attempts of one stage: how many, and when the latest was made. */
static int stage_tally(const json_t *atts, int stage, int64_t *last)
{
	size_t i;
	const json_t *a;
	int n = 0;
	*last = 0;
	json_array_foreach(atts, i, a) {
		if (stage_num(sb_json_str(a, "stage")) != stage)
			continue;
		n++;
		int64_t at = sched_attempt_at(a);
		if (at > *last)
			*last = at;
	}
	return n;
}

/* Why this payer may not be contacted at all, or NULL. */
static const char *no_contact_reason(const json_t *payer)
{
	if (sb_json_num(payer, "amountDue", 0) <= 0)
		return "SKIPPED_NOTHING_DUE";
	if (sb_json_bool(payer, "optedOut", 0))
		return "SKIPPED_OPTED_OUT";
	if (sb_json_bool(payer, "disputed", 0))
		return "SKIPPED_DISPUTED";
	return NULL;
}

/* Placed calls in the 7 days before now, and whether one of them was a conversation. */
static int calls_in_week(const json_t *atts, int64_t now, bool *conversation)
{
	size_t i;
	const json_t *a;
	int n = 0;
	*conversation = false;
	json_array_foreach(atts, i, a) {
		const char *st = sb_json_str(a, "status");
		if (!is_call(a) || now - sched_attempt_at(a) >= WEEK_MS || !st)
			continue;
		if (!strcmp(st, ST_FAILED) || !strcmp(st, ST_RETRY) || !strcmp(st, ST_CANCELED))
			continue; /* never placed: Twilio refused it, or it was never dialled */
		n++;
		if (!strcmp(st, "CALL_CONNECTED_TO_AI") || !strcmp(st, "CALL_COMPLETED"))
			*conversation = true;
	}
	return n;
}

/* The channel's own guardrails for a contact on d->call; NULL if it may go ahead. */
static const char *channel_block(const sched_rules *r, const json_t *payer, int64_t now, const sched_decision *d)
{
	const char *to = sb_json_str(payer, d->call ? "phone" : "email");
	if (!to || !*to)
		return d->call ? "SKIPPED_NO_PHONE" : "SKIPPED_NO_EMAIL";
	if (!d->call)
		return NULL;
	if (!r->calls_enabled)
		return "SKIPPED_CALLS_DISABLED";
	bool conversation;
	int placed = calls_in_week(json_object_get(payer, "attempts"), now, &conversation);
	if (placed >= r->max_calls_7d)
		return "SKIPPED_CALL_LIMIT";
	return conversation ? "SKIPPED_RECENT_CONVERSATION" : NULL;
}

static void set(sched_decision *d, sched_act act, const char *reason, bool record)
{
	d->act = act;
	d->reason = reason;
	d->record = record;
}

/* Step 1: an orphan that must not be re-sent is closed UNKNOWN. Returns 1 if decided. */
static int close_unresendable(const json_t *open, sched_decision *d)
{
	json_t *detail = sched_detail(open);
	bool resent = sb_json_int(detail, "uncertain", 0) >= 1;
	json_decref(detail);
	if (!is_call(open) && !resent)
		return 0;
	d->attempt = open;
	d->call = is_call(open);
	set(d, ACT_CLOSE, ST_UNKNOWN, false);
	return 1;
}

/* Step 4: resume an orphaned email or a due retry. Returns 1 if decided. */
static int resume(const sched_rules *r, const json_t *payer, const json_t *open, const json_t *retry,
		  int64_t now, sched_decision *d)
{
	const json_t *a = open ? open : retry;
	if (!a)
		return 0;
	d->attempt = a;
	d->orphan = open != NULL;
	d->call = is_call(a);
	d->stage = stage_num(sb_json_str(a, "stage"));
	if (!open) {
		json_t *detail = sched_detail(a);
		int64_t at = 0;
		const char *ra = sb_json_str(detail, "retryAt");
		bool due = !ra || (sb_time_parse_iso(ra, &at) == 0 && at <= now);
		json_decref(detail);
		if (!due) {
			set(d, ACT_NONE, ST_RETRY, false);
			return 1;
		}
	}
	const char *why = channel_block(r, payer, now, d);
	set(d, why ? ACT_SKIP : ACT_RESUME, why, why != NULL);
	return 1;
}

/* Step 5: the stage to work on; sets NONE (cool-down, exhausted) when nothing is due yet. */
static int pick_stage(const sched_rules *r, const json_t *payer, int64_t now, sched_decision *d)
{
	const json_t *atts = json_object_get(payer, "attempts");
	long days = (long)sb_json_int(payer, "daysOverdue", 0);
	int s = stage_num(sb_json_str(payer, "stage"));
	if (days >= r->stage3_days && s < 3)
		s = 3;
	else if (days >= r->stage2_days && s < 2)
		s = 2;
	int64_t last;
	int n = stage_tally(atts, s, &last);
	while (s < 3 && n >= r->max_attempts && now - last >= r->cooldown_ms)
		n = stage_tally(atts, ++s, &last);
	d->stage = s;
	d->call = s == 3;
	if (n > 0 && now - last < r->cooldown_ms) {
		set(d, ACT_NONE, "COOLDOWN", false);
		return 1;
	}
	if (n >= r->max_attempts) {
		set(d, ACT_NONE, "EXHAUSTED", false);
		return 1;
	}
	snprintf(d->window, sizeof d->window, "a%d", n + 1);
	return 0;
}

void sched_decide(const sched_rules *r, const json_t *payer, int64_t now, sched_decision *d)
{
	memset(d, 0, sizeof *d);
	d->stage = stage_num(sb_json_str(payer, "stage"));
	const json_t *atts = json_object_get(payer, "attempts");
	const json_t *open = find_attempt(atts, NULL), *retry = find_attempt(atts, ST_RETRY);
	if (open && close_unresendable(open, d))
		return;
	const char *why = no_contact_reason(payer);
	if (why && (open || retry)) { /* nothing may be sent any more: close what is pending */
		d->attempt = open ? open : retry;
		set(d, ACT_CLOSE, ST_CANCELED, false);
		return;
	}
	if (!why)
		why = contact_block(r, sb_json_str(payer, "timezone"), now);
	if (why) {
		set(d, ACT_SKIP, why, true);
		return;
	}
	if (resume(r, payer, open, retry, now, d) || pick_stage(r, payer, now, d))
		return;
	why = channel_block(r, payer, now, d);
	set(d, why ? ACT_SKIP : ACT_SEND, why, why != NULL);
}
