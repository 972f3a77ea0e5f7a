/*
 * scheduler.h — internals shared by the sb-scheduler files (not used elsewhere).
 *
 * sb-scheduler makes collections contacts: a friendly email (STAGE_1), an
 * urgent email (STAGE_2), then an outbound AI call through Twilio (STAGE_3).
 * Reading order:
 *
 *   scheduler_rules.c    what to do for one payer now: escalation and the
 *                        compliance guardrails, as pure functions over
 *                        (payer with its attempts, now) — docs/OUTREACH.md
 *   scheduler_attempt.c  doing it exactly once: claim in the store, send,
 *                        complete; recovery of attempts a crash left open
 *   scheduler_run.c      when: the timer thread, the job queue and the
 *                        worker threads that do all network I/O
 *   scheduler_email.c    templates → an RFC 5322 multipart message
 *   mail_outbox.c, mail_smtp.c   mail transports behind mail.h
 *   scheduler_twilio.c   Twilio's Calls API (REST, basic auth)
 *   scheduler.c          main: flags, sockets, the REP ops
 *
 * Attempt state lives only in the store (outreach_attempt rows); the
 * scheduler keeps nothing durable of its own, so it may be killed at any
 * moment. An attempt's `detail` is a JSON object written by us:
 *   at        ISO time of the claim by the scheduler's clock (rules use it)
 *   tries     transmissions started (written before each one)
 *   uncertain transmissions whose outcome is unknown (crash, timeout)
 *   retryAt   when a RETRY_PENDING attempt may be tried again
 *   to, messageId, callSid, code, error
 */
#ifndef SCHEDULER_H
#define SCHEDULER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mail.h"
#include "sb_err.h"
#include "sb_events.h"
#include "sb_rpc.h"

/* ---- attempt statuses (outreach_attempt.status and payer lastOutreachStatus) ---- */
#define ST_SENDING       "SENDING"        /* email: a transmission may be under way (open) */
#define ST_DIALING       "DIALING"        /* call: the Calls request may be under way (open) */
#define ST_CLAIMED       "CLAIMED"        /* the store's default for a claim (open) */
#define ST_RETRY         "RETRY_PENDING"  /* definitely not delivered; retry at retryAt */
#define ST_SENT          "SENT"
#define ST_FAILED        "FAILED"         /* permanent: SMTP 5xx, Twilio 4xx, retries exhausted */
#define ST_UNKNOWN       "UNKNOWN"        /* may have been delivered/placed; never retried */
#define ST_CANCELED      "CANCELED"       /* an open attempt closed because the payer may no longer be contacted */
#define ST_CALL_INITIATED "CALL_INITIATED"

/* ---- rules (scheduler_rules.c) ------------------------------------------------ */

/* Escalation and guardrail configuration; read-only after start. */
typedef struct sched_rules {
	long stage2_days, stage3_days; /* days overdue that move a payer to STAGE_2 / STAGE_3 */
	long max_attempts;             /* attempts per stage; then the next stage (after the cool-down) */
	long cooldown_ms;              /* least time between two attempts of one stage */
	int  quiet_start, quiet_end;   /* contact allowed in [start, end), minutes of the payer's local day */
	long max_calls_7d;             /* placed calls per payer in any 7 days (Reg F 7-in-7) */
	long email_max_tries;          /* transmissions per email attempt before FAILED */
	long retry_base_ms;            /* first RETRY_PENDING delay, doubled per try */
	bool calls_enabled;            /* Twilio configured */
} sched_rules;

typedef enum { ACT_NONE, ACT_SKIP, ACT_SEND, ACT_RESUME, ACT_CLOSE } sched_act;

/* What the rules decided for one payer. Pointers borrow from the payer JSON. */
typedef struct sched_decision {
	sched_act     act;
	const char   *reason;    /* NONE/SKIP: SKIPPED_... or a waiting reason; CLOSE: the new status */
	bool          record;    /* SKIP: a compliance skip, recorded as the payer's lastOutreachStatus */
	int           stage;     /* 1..3 */
	bool          call;      /* channel: call (else email) */
	char          window[16];/* SEND: the claim window, "a<n>" = the stage's n-th attempt */
	const json_t *attempt;   /* RESUME/CLOSE: the attempt */
	bool          orphan;    /* RESUME: an open attempt left by a crash (its outcome is unknown) */
} sched_decision;

/* Decide the next step for payer (payers.get data, with "attempts") at now (ms). Pure. */
void sched_decide(const sched_rules *r, const json_t *payer, int64_t now, sched_decision *d);
/* 1 if now is inside the contact window in zone tz (an unknown zone is never inside). */
int sched_contact_allowed(const sched_rules *r, const char *tz, int64_t now);
/* "STAGE_1".."STAGE_3" for 1..3. */
const char *sched_stage_name(int stage);
/* The attempt's detail as an object (owned; {} when absent or not JSON). */
json_t *sched_detail(const json_t *attempt);
/* When the attempt was made by the scheduler's clock (detail.at, else claimedAt), ms. */
int64_t sched_attempt_at(const json_t *attempt);
/* 1 if status is an open one (a send may be under way). */
int sched_status_open(const char *status);
/* Map a Twilio CallStatus to an attempt status (CALL_COMPLETED, NO_ANSWER, ...), or NULL. */
const char *sched_call_status(const char *twilio_status);
/* Rank of an attempt status for calls: callbacks never move an attempt backwards. */
int sched_call_rank(const char *status);
/* Parse "HH:MM" (00:00..24:00) into minutes; -1 if malformed. */
int sched_parse_hhmm(const char *s);

/* ---- email (scheduler_email.c) -------------------------------------------------- */

typedef struct sched_email_cfg {
	const char *templates_dir; /* stage1.txt, stage1.html, stage2.txt, stage2.html */
	const char *from;          /* From: and MAIL FROM */
	const char *portal_url;    /* payment portal; ?payer=<id> is appended */
	const char *public_url;    /* gateway base for the unsubscribe link */
	const char *secret;        /* signs the unsubscribe link (SB_SECRET); may be empty */
} sched_email_cfg;

/* Check the templates exist and carry the disclosure and unsubscribe placeholders. 0, or -1 with err. */
int sched_email_check(const sched_email_cfg *c, sb_error *err);
/* The envelope sender: the bare address of --mail-from, into out. */
void sched_email_sender(const sched_email_cfg *c, char *out, size_t cap);
/* The Message-ID (without <>) derived from an attempt id, into out. */
void sched_email_message_id(const sched_email_cfg *c, const char *attempt_id, char *out, size_t cap);
/* The unsubscribe URL of a payer into out. */
void sched_email_unsubscribe_url(const sched_email_cfg *c, const char *payer_id, char *out, size_t cap);
/* Build the whole message (CRLF, multipart/alternative) for payer at stage; malloc'd or NULL with err. */
char *sched_email_build(const sched_email_cfg *c, const json_t *payer, int stage, const char *attempt_id,
			int64_t now, size_t *len, sb_error *err);

/* ---- Twilio (scheduler_twilio.c) ------------------------------------------------ */

typedef struct sched_twilio sched_twilio;

typedef struct sched_twilio_opts {
	const char *api_url, *account_sid, *auth_token, *from, *public_url, *machine_detection;
	long        timeout_s; /* ring time */
} sched_twilio_opts;

typedef enum {
	CALL_PLACED,     /* 201: Twilio took the call (sid filled) */
	CALL_REJECTED,   /* a 4xx: the call was not placed and the request is wrong; permanent */
	CALL_NOT_PLACED, /* definitely not placed (connect failure, 429): may be retried later */
	CALL_UNCERTAIN,  /* 5xx or a broken transfer: it may have been placed; never retried */
} sched_call_result;

/* A Calls API client; NULL when not configured (no account sid). */
sched_twilio *sched_twilio_new(const sched_twilio_opts *o);
void sched_twilio_free(sched_twilio *t);
/* Abort transfers in progress (shutdown). */
void sched_twilio_cancel(sched_twilio *t);
/* Place a call to `to` for payer/attempt (blocking: worker threads only). */
sched_call_result sched_twilio_dial(sched_twilio *t, const char *to, const char *payer_id, const char *attempt_id,
				    char *sid, size_t sidlen, char *why, size_t whylen);

/* ---- the scheduler (scheduler_attempt.c, scheduler_run.c) ---------------------- */

typedef struct sched {
	sched_rules     rules;
	sched_email_cfg email;
	sb_client      *store;
	sb_pub         *pub;
	mail_transport *mail;
	sched_twilio   *twilio;
	bool            test_clock;
	atomic_bool     stopping;  /* SIGTERM: finish the attempt in hand, start no other */
} sched;

/* Evaluate one payer and act (possibly several steps: close an orphan, then send).
 * now = 0 uses the real clock. Returns the outcome for outreach.trigger (owned). Blocking: workers only. */
json_t *sched_process_payer(sched *s, const char *payer_id, int64_t now);

/* Bring payer_id's placed calls up to date from the call log (attempts and lastOutreachStatus), contacting
 * nobody. Returns how many attempts moved, or -1 if the payer could not be read. Blocking: workers only. */
int sched_reconcile_payer(sched *s, const char *payer_id);

typedef struct sched_runner sched_runner;

/* Start the timer thread (every interval_s; 0 = triggers only) and nworkers workers. */
sched_runner *sched_runner_start(sched *s, long interval_s, int nworkers, size_t queue_cap, sb_error *err);
/* Queue a trigger for payer (now 0 = real clock); req is answered when done (or at once if the queue is full). */
void sched_runner_trigger(sched_runner *r, const char *payer_id, int64_t now, sb_req *req);
/* Queue a reconcile of payer (outreach.reconcile) and answer req at once: queued, or not when an evaluation
 * of that payer is already waiting (it reconciles first). */
void sched_runner_reconcile(sched_runner *r, const char *payer_id, sb_req *req);
/* The runner's state for outreach.status (owned). */
json_t *sched_runner_status(sched_runner *r);
/* Finish the attempts in hand, answer queued triggers unavailable, join the threads. */
void sched_runner_stop(sched_runner *r);
void sched_runner_free(sched_runner *r);

#endif
