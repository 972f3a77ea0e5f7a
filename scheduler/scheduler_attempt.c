/*
 * scheduler_attempt.c — making one payer's contact exactly once.
 *
 * The protocol (docs/OUTREACH.md has the whole argument):
 *
 *   claim    outreach.claim {id: fresh random, payerId, stage, window "a<n>",
 *            status SENDING|DIALING, detail {at, tries:1, ...}}: the row is
 *            the intent, written before anything leaves the building; the
 *            store lets one claim per (payer, stage, window) through.
 *   send     the transport (outbox/SMTP) or the Calls API.
 *   complete outreach.complete {id, status, detail}: SENT, FAILED,
 *            RETRY_PENDING, UNKNOWN, CALL_INITIATED; retried until the store
 *            has it (it is idempotent).
 *
 * An attempt found open (SENDING/DIALING) by a later evaluation was left by
 * a crash (one job per payer at a time, so never by a live one of ours):
 *   - a call: closed UNKNOWN, never dialled again (the rules decide that);
 *   - an email: the transport is asked whether it was delivered (the outbox
 *     knows exactly); if it was, SENT; if not, sent; if it cannot tell
 *     (SMTP), resent once — `uncertain` is raised and written *before* the
 *     resend, so a second crash closes it UNKNOWN instead of a third send.
 * Every re-transmission is written ahead (status SENDING, tries+1) first.
 *
 * All of this blocks on the store and the network: worker threads only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sb_id.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_schema_gen.h"
#include "sb_time.h"
#include "scheduler.h"

#define MAX_STEPS         4     /* decisions per evaluation: e.g. close an orphan, then send */
#define COMPLETE_RETRY_MS 30000 /* keep trying to record an outcome this long */

/* One evaluation of one payer. */
typedef struct job {
	sched        *s;
	const json_t *payer;   /* payers.get data (with attempts), borrowed */
	const char   *payer_id;
	int64_t       fixed;   /* injected clock (--test-clock), 0 = real */
} job;

static int64_t job_now(const job *j)
{
	return j->fixed ? j->fixed : sb_now_ms();
}

static const char *iso_now(const job *j, char buf[SB_ISO_LEN])
{
	return sb_time_iso(job_now(j), buf);
}

static void count(const char *what, const char *label)
{
	char l[96];
	snprintf(l, sizeof l, "result=\"%s\"", label);
	sb_counter_inc(sb_counter(what, "outreach outcomes by result", l));
}

/* The outcome object for outreach.trigger. */
static json_t *outcome(const char *result, const char *status, const char *reason, const char *attempt_id,
		       int stage, const char *channel)
{
	json_t *o = json_pack("{s:s,s:s}", "result", result, "stage", sched_stage_name(stage));
	if (status)
		json_object_set_new(o, "status", json_string(status));
	if (reason)
		json_object_set_new(o, "reason", sb_json_string_or_null(reason));
	if (attempt_id)
		json_object_set_new(o, "attemptId", json_string(attempt_id));
	if (channel)
		json_object_set_new(o, "channel", json_string(channel));
	count("sb_outreach_results_total", result);
	return o;
}

/* A store write that must land (idempotent): retried until ok, a permanent error, or the time budget. */
static int store_must(sched *s, int op, json_t *args, json_t **data, sb_error *err)
{
	int64_t until = sb_mono_ms() + COMPLETE_RETRY_MS;
	for (int wait = 50;; wait = wait < 2000 ? wait * 2 : wait) {
		int rc = sb_client_call(s->store, &SB_SVC_STORE, op, json_incref(args), data, err);
		bool transient = rc < 0 && (err->code == SB_UNAVAILABLE || err->code == SB_DEADLINE_EXCEEDED ||
					    err->code == SB_INTERNAL);
		if (!transient || sb_mono_ms() + wait > until) {
			json_decref(args);
			return rc;
		}
		sb_warn("sched.store_retry", "op=%s code=%s", SB_SVC_STORE.ops[op].name, sb_code_name(err->code));
		usleep((useconds_t)wait * 1000);
	}
}

/* Record an attempt's status and detail (the outcome, or a write-ahead before a resend). */
static int record(job *j, const char *id, const char *status, json_t *detail)
{
	char *text = sb_json_dump(detail, NULL);
	json_t *args = json_pack("{s:s,s:s,s:s}", "id", id, "status", status, "detail", text ? text : "{}");
	free(text);
	sb_error err = {0};
	json_t *data = NULL;
	int rc = store_must(j->s, SB_STORE_OUTREACH_COMPLETE, args, &data, &err);
	json_decref(data);
	if (rc < 0)
		sb_error_log("sched.record_failed", "payer=%s attempt=%s status=%s code=%s msg=\"%s\"", j->payer_id, id,
			     status, sb_code_name(err.code), err.message);
	return rc;
}

/* Publish the event for a final status. */
static void publish(job *j, const char *id, int stage, const char *channel, const char *status, json_t *detail)
{
	char at[SB_ISO_LEN];
	sb_time_iso(sb_now_ms(), at);
	json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "payerId", j->payer_id, "attemptId", id, "stage",
			      sched_stage_name(stage), "at", at);
	int ev = SB_EV_OUTREACH_FAILED;
	if (!strcmp(status, ST_SENT))
		ev = SB_EV_OUTREACH_SENT;
	else if (!strcmp(status, ST_CALL_INITIATED))
		ev = SB_EV_OUTREACH_CALL_INITIATED;
	if (ev == SB_EV_OUTREACH_CALL_INITIATED)
		json_object_set_new(b, "callSid", sb_json_string_or_null(sb_json_str(detail, "callSid")));
	else
		json_object_set_new(b, "channel", json_string(channel));
	if (ev != SB_EV_OUTREACH_CALL_INITIATED)
		json_object_set_new(b, "status", json_string(status));
	if (ev == SB_EV_OUTREACH_FAILED)
		json_object_set_new(b, "error", sb_json_string_or_null(sb_json_str(detail, "error")));
	sb_publish(j->s->pub, ev, b);
}

/* Record the outcome of a transmission, log, publish; returns the trigger outcome. Steals detail. */
static json_t *finish(job *j, const char *id, int stage, const char *channel, const char *status, json_t *detail)
{
	static const char *const results[][2] = {{ST_SENT, "sent"}, {ST_FAILED, "failed"}, {ST_RETRY, "retry_pending"},
						 {ST_UNKNOWN, "unknown"}, {ST_CALL_INITIATED, "call_initiated"}};
	const char *result = "error";
	for (size_t i = 0; i < sizeof results / sizeof results[0]; i++)
		if (!strcmp(status, results[i][0]))
			result = results[i][1];
	char q[300];
	const char *why = sb_json_str(detail, "error");
	if (record(j, id, status, detail) < 0)
		result = "error";
	sb_info("sched.attempt", "payer=%s attempt=%s stage=%d channel=%s status=%s why=%s", j->payer_id, id, stage,
		channel, status, sb_log_quote(why ? why : "", q, sizeof q));
	publish(j, id, stage, channel, status, detail);
	json_t *o = outcome(result, status, why, id, stage, channel);
	json_decref(detail);
	return o;
}

/* RETRY_PENDING with a doubling delay, or FAILED once the tries are used up. */
static const char *retry_or_fail(job *j, json_t *detail)
{
	long tries = (long)sb_json_int(detail, "tries", 1);
	if (tries >= j->s->rules.email_max_tries)
		return ST_FAILED;
	char at[SB_ISO_LEN];
	long shift = tries - 1 < 10 ? tries - 1 : 10;
	json_object_set_new(detail, "retryAt", json_string(sb_time_iso(job_now(j) + (j->s->rules.retry_base_ms << shift), at)));
	return ST_RETRY;
}

/* Not sent after all (the contact window closed): undo the write-ahead try and park it. */
static json_t *park(job *j, const char *id, int stage, const char *channel, json_t *detail)
{
	char at[SB_ISO_LEN];
	json_object_set_new(detail, "tries", json_integer(sb_json_int(detail, "tries", 1) - 1));
	json_object_set_new(detail, "retryAt", json_string(iso_now(j, at)));
	json_object_set_new(detail, "error", json_string("outside the contact window at send time"));
	return finish(j, id, stage, channel, ST_RETRY, detail);
}

static void note(json_t *detail, const char *why, int code)
{
	json_object_set_new(detail, "error", json_string(why));
	if (code)
		json_object_set_new(detail, "code", json_integer(code));
}

/* Transmit the email of an attempt already written ahead as SENDING; record the result. Steals detail. */
static json_t *transmit(job *j, const char *id, int stage, json_t *detail)
{
	sched *s = j->s;
	if (!sched_contact_allowed(&s->rules, sb_json_str(j->payer, "timezone"), job_now(j)))
		return park(j, id, stage, "email", detail);
	sb_error err = {0};
	size_t len;
	char *msg = sched_email_build(&s->email, j->payer, stage, id, job_now(j), &len, &err);
	if (!msg) {
		note(detail, err.message, 0);
		return finish(j, id, stage, "email", ST_FAILED, detail);
	}
	char from[256];
	sched_email_sender(&s->email, from, sizeof from);
	mail_msg m = {.id = id, .from = from, .to = sb_json_str(j->payer, "email"), .data = msg, .len = len};
	mail_status st = {0};
	mail_result res = s->mail->send(s->mail, &m, &st);
	free(msg);
	if (res != MAIL_OK)
		note(detail, st.why, st.code);
	const char *status = ST_SENT;
	if (res == MAIL_PERM)
		status = ST_FAILED;
	else if (res == MAIL_TEMP)
		status = retry_or_fail(j, detail);
	else if (res == MAIL_UNCERTAIN) {
		long u = (long)sb_json_int(detail, "uncertain", 0) + 1;
		json_object_set_new(detail, "uncertain", json_integer(u));
		status = u >= 2 ? ST_UNKNOWN : retry_or_fail(j, detail);
	}
	return finish(j, id, stage, "email", status, detail);
}

/* Dial the call of an attempt already written ahead as DIALING; record the result. Steals detail. */
static json_t *dial(job *j, const char *id, int stage, json_t *detail)
{
	if (!sched_contact_allowed(&j->s->rules, sb_json_str(j->payer, "timezone"), job_now(j)))
		return park(j, id, stage, "call", detail);
	char sid[64] = "", why[300];
	sched_call_result r = sched_twilio_dial(j->s->twilio, sb_json_str(j->payer, "phone"), j->payer_id, id, sid,
						sizeof sid, why, sizeof why);
	const char *status = ST_CALL_INITIATED;
	if (r == CALL_PLACED)
		json_object_set_new(detail, "callSid", json_string(sid));
	else
		note(detail, why, 0);
	if (r == CALL_REJECTED)
		status = ST_FAILED;
	else if (r == CALL_NOT_PLACED)
		status = retry_or_fail(j, detail);
	else if (r == CALL_UNCERTAIN)
		status = ST_UNKNOWN;
	return finish(j, id, stage, "call", status, detail);
}

/* Claim a new attempt: 1 claimed, 0 someone holds the slot, -1 error (err). */
static int claim(job *j, const sched_decision *d, const char *id, const char *status, json_t *detail, sb_error *err)
{
	char *text = sb_json_dump(detail, NULL);
	json_t *args = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "payerId", j->payer_id, "stage",
				 sched_stage_name(d->stage), "channel", d->call ? "call" : "email", "window", d->window,
				 "status", status, "detail", text ? text : "{}");
	free(text);
	json_t *data = NULL;
	if (store_must(j->s, SB_STORE_OUTREACH_CLAIM, args, &data, err) < 0)
		return -1;
	int claimed = sb_json_bool(data, "claimed", 0);
	json_decref(data);
	return claimed;
}

/* A new attempt: claim it (the write-ahead of the first transmission), then send. */
static json_t *send_new(job *j, const sched_decision *d)
{
	char id[SB_ID_MAX], mid[300], at[SB_ISO_LEN];
	sb_id_new("att", id, sizeof id);
	json_t *detail = json_pack("{s:s,s:i,s:i,s:s}", "at", iso_now(j, at), "tries", 1, "uncertain", 0, "to",
				   sb_json_str(j->payer, d->call ? "phone" : "email"));
	if (!d->call) {
		sched_email_message_id(&j->s->email, id, mid, sizeof mid);
		json_object_set_new(detail, "messageId", json_string(mid));
	}
	sb_error err = {0};
	int c = claim(j, d, id, d->call ? ST_DIALING : ST_SENDING, detail, &err);
	const char *channel = d->call ? "call" : "email";
	if (c <= 0) {
		json_decref(detail);
		return outcome(c < 0 ? "error" : "none", NULL, c < 0 ? err.message : "ALREADY_CLAIMED", NULL, d->stage,
			       channel);
	}
	return d->call ? dial(j, id, d->stage, detail) : transmit(j, id, d->stage, detail);
}

/* Resume a RETRY_PENDING attempt or an email a crash left open (see the file comment). */
static json_t *resume(job *j, const sched_decision *d)
{
	const char *id = sb_json_str(d->attempt, "id");
	json_t *detail = sched_detail(d->attempt);
	if (d->orphan) {
		mail_transport *t = j->s->mail;
		int delivered = t->delivered ? t->delivered(t, id) : -1;
		sb_warn("sched.recover", "payer=%s attempt=%s delivered=%d", j->payer_id, id, delivered);
		if (delivered == 1)
			return finish(j, id, d->stage, "email", ST_SENT, detail);
		if (delivered < 0)
			json_object_set_new(detail, "uncertain", json_integer(sb_json_int(detail, "uncertain", 0) + 1));
	}
	json_object_set_new(detail, "tries", json_integer(sb_json_int(detail, "tries", 0) + 1));
	json_object_del(detail, "retryAt");
	if (record(j, id, d->call ? ST_DIALING : ST_SENDING, detail) < 0) { /* the write-ahead */
		json_decref(detail);
		return outcome("error", NULL, "cannot record the attempt before resending", id, d->stage, NULL);
	}
	return d->call ? dial(j, id, d->stage, detail) : transmit(j, id, d->stage, detail);
}

/* Close an attempt without contacting anyone (an orphaned call, or the payer may no longer be contacted). */
static void close_attempt(job *j, const sched_decision *d)
{
	const char *id = sb_json_str(d->attempt, "id"), *channel = sb_json_str(d->attempt, "channel");
	mail_transport *t = j->s->mail;
	bool email = !channel || strcmp(channel, "call");
	json_t *detail = sched_detail(d->attempt);
	if (email && sched_status_open(sb_json_str(d->attempt, "status")) && t->delivered && t->delivered(t, id) == 1) {
		json_decref(finish(j, id, d->stage, "email", ST_SENT, detail)); /* it did go out before the crash */
		return;
	}
	const char *why = !strcmp(d->reason, ST_UNKNOWN)
				  ? "left open by a crash: it may have gone out, so it is never repeated"
				  : "the payer may no longer be contacted";
	note(detail, why, 0);
	json_decref(finish(j, id, d->stage, email ? "email" : "call", d->reason, detail));
}

/* Record a compliance skip on the payer (once: only when it changes) and publish it. */
static void record_skip(job *j, const sched_decision *d)
{
	const char *last = sb_json_str(j->payer, "lastOutreachStatus");
	char at[SB_ISO_LEN];
	if (last && !strcmp(last, d->reason))
		return;
	json_t *data = NULL;
	sb_error err = {0};
	json_t *args = json_pack("{s:s,s:s}", "id", j->payer_id, "lastOutreachStatus", d->reason);
	if (store_must(j->s, SB_STORE_PAYERS_UPDATE, args, &data, &err) < 0)
		sb_warn("sched.skip_not_recorded", "payer=%s reason=%s code=%s", j->payer_id, d->reason,
			sb_code_name(err.code));
	json_decref(data);
	sb_info("sched.skip", "payer=%s stage=%d reason=%s", j->payer_id, d->stage, d->reason);
	sb_publish(j->s->pub, SB_EV_OUTREACH_SKIPPED,
		   json_pack("{s:s,s:s,s:s,s:s}", "payerId", j->payer_id, "stage", sched_stage_name(d->stage), "reason",
			     d->reason, "at", sb_time_iso(sb_now_ms(), at)));
}

/* Raise the payer's stage when escalation moved it on (visible in the admin API). */
static void raise_stage(job *j, int stage)
{
	const char *cur = sb_json_str(j->payer, "stage");
	if (cur && strcmp(cur, sched_stage_name(stage)) >= 0)
		return;
	json_t *data = NULL;
	sb_error err = {0};
	json_t *args = json_pack("{s:s,s:s}", "id", j->payer_id, "stage", sched_stage_name(stage));
	if (store_must(j->s, SB_STORE_PAYERS_UPDATE, args, &data, &err) < 0)
		sb_warn("sched.stage_not_recorded", "payer=%s code=%s", j->payer_id, sb_code_name(err.code));
	json_decref(data);
}

/* The call log's status of callSid as an attempt status (CALL_COMPLETED, ...), or NULL. */
static const char *logged_call_status(job *j, const char *sid)
{
	json_t *call = NULL;
	sb_error err = {0};
	if (store_calls_get(j->s->store, json_pack("{s:s}", "callSid", sid), &call, &err) < 0)
		return NULL; /* not logged yet (no webhook so far), or the store is away: next time */
	const char *st = sched_call_status(sb_json_str(call, "status"));
	json_decref(call);
	return st;
}

/*
 * Bring placed calls up to date (returns how many moved): the gateway records Twilio's status
 * callbacks (ringing, in-progress, completed, no-answer, busy) in the call
 * log; here they become the attempt's and the payer's status. Statuses only
 * move forward (sched_call_rank), so late or repeated callbacks are harmless.
 */
static int reconcile_calls(job *j)
{
	size_t i;
	json_t *a;
	int moved = 0;
	json_array_foreach(json_object_get(j->payer, "attempts"), i, a) {
		const char *status = sb_json_str(a, "status"), *ch = sb_json_str(a, "channel");
		int rank = sched_call_rank(status);
		if (!ch || strcmp(ch, "call") || rank < 1 || rank > 3)
			continue;
		json_t *detail = sched_detail(a);
		const char *sid = sb_json_str(detail, "callSid");
		const char *now_st = sid ? logged_call_status(j, sid) : NULL;
		if (now_st && sched_call_rank(now_st) > rank) {
			sb_info("sched.call_status", "payer=%s attempt=%s call_sid=%s status=%s", j->payer_id,
				sb_json_str(a, "id"), sid, now_st);
			moved += record(j, sb_json_str(a, "id"), now_st, detail) == 0;
		}
		json_decref(detail);
	}
	return moved;
}

/* Carry out decision d; NULL when it was bookkeeping and the payer should be evaluated again. */
static json_t *act(job *j, const sched_decision *d)
{
	switch (d->act) {
	case ACT_NONE:
		return outcome("none", NULL, d->reason, NULL, d->stage, d->call ? "call" : "email");
	case ACT_SKIP:
		if (d->record)
			record_skip(j, d);
		count("sb_outreach_skips_total", d->reason);
		return outcome("skipped", NULL, d->reason, NULL, d->stage, d->call ? "call" : "email");
	case ACT_CLOSE:
		close_attempt(j, d);
		return NULL;
	case ACT_RESUME:
		return resume(j, d);
	case ACT_SEND:
		raise_stage(j, d->stage);
		return send_new(j, d);
	}
	return outcome("error", NULL, "unknown decision", NULL, d->stage, NULL);
}

int sched_reconcile_payer(sched *s, const char *payer_id)
{
	json_t *payer = NULL;
	sb_error err = {0};
	if (store_payers_get(s->store, json_pack("{s:s}", "id", payer_id), &payer, &err) < 0) {
		sb_warn("sched.reconcile_failed", "payer=%s code=%s msg=\"%s\"", payer_id, sb_code_name(err.code),
			err.message);
		return -1;
	}
	job j = {.s = s, .payer = payer, .payer_id = payer_id};
	int moved = reconcile_calls(&j);
	json_decref(payer);
	return moved;
}

json_t *sched_process_payer(sched *s, const char *payer_id, int64_t now)
{
	json_t *result = NULL;
	for (int step = 0; step < MAX_STEPS && !result; step++) {
		json_t *payer = NULL;
		sb_error err = {0};
		if (store_payers_get(s->store, json_pack("{s:s}", "id", payer_id), &payer, &err) < 0) {
			result = json_pack("{s:s,s:s,s:s}", "result", "error", "code", sb_code_name(err.code), "reason",
					   err.message);
			break;
		}
		job j = {.s = s, .payer = payer, .payer_id = payer_id, .fixed = now};
		if (step == 0 && s->twilio && reconcile_calls(&j) > 0) {
			json_decref(payer); /* decide on the updated history */
			continue;
		}
		sched_decision d;
		sched_decide(&s->rules, payer, job_now(&j), &d);
		result = act(&j, &d);
		json_decref(payer);
		if (atomic_load(&s->stopping))
			break;
	}
	if (!result)
		result = json_pack("{s:s,s:s}", "result", "none", "reason", "STOPPING");
	json_object_set_new(result, "payerId", json_string(payer_id));
	return result;
}
