/*
 * scheduler.c — sb-scheduler: main and wiring.
 *
 * Collections outreach (docs/OUTREACH.md): STAGE_1 friendly email, STAGE_2
 * urgent email, STAGE_3 outbound AI call, on a timer (--interval) and on
 * demand.
 *
 * Sockets: REP on --listen (schemas/scheduler.json: outreach.trigger —
 * the gateway's POST /api/payers/{id}/outreach —, outreach.reconcile — the
 * gateway after each status callback of a payer's call —, outreach.status), PUB on
 * --events (outreach.sent, .call_initiated, .failed, .skipped, .run); REQ to
 * the store (payers.*, outreach.claim/complete). Out: SMTP or the outbox
 * folder, Twilio REST.
 *
 * Threads: nng's (requests: they only queue work), the timer and the
 * workers (scheduler_run.c). SIGTERM: the workers finish the payer in hand,
 * then everything closes; exit 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_daemon.h"
#include "sb_http.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_schema_gen.h"
#include "sb_time.h"
#include "scheduler.h"

static struct {
	char *listen, *events, *store_url, *public_url, *portal_url, *templates_dir, *secret;
	char *smtp_url, *smtp_user, *smtp_password, *smtp_ca, *mail_from, *outbox_dir;
	char *tw_sid, *tw_token, *tw_api, *tw_from, *amd;
	char *quiet_start, *quiet_end;
	long  interval, workers, queue, smtp_timeout, call_timeout;
	long  stage2_days, stage3_days, max_attempts, cooldown_h, max_calls_7d, email_tries, retry_base_s;
	bool  starttls, test_clock;
} cfg;

#define S SB_FLAG_STR
#define I SB_FLAG_INT
#define B SB_FLAG_BOOL
static const sb_flag flags[] = {
	{"listen", "SB_SCHEDULER_LISTEN", S, "ipc://{run}/scheduler.sock", "REP socket for requests", &cfg.listen, 0, 0, false},
	{"events", "SB_SCHEDULER_EVENTS", S, "ipc://{run}/scheduler-events.sock", "PUB socket for outreach events", &cfg.events, 0, 0, false},
	{"store-url", "SB_STORE_URL", S, "ipc://{run}/store.sock", "the store's request socket", &cfg.store_url, 0, 0, false},
	{"public-url", "SB_PUBLIC_URL", S, "http://127.0.0.1:8080", "the gateway's public base URL (call webhooks, unsubscribe links)", &cfg.public_url, 0, 0, false},
	{"interval", "SB_SCHEDULER_INTERVAL", I, "120", "seconds between timer runs (0: on demand only)", &cfg.interval, 0, 86400, false},
	{"workers", "SB_SCHEDULER_WORKERS", I, "4", "threads doing the store, SMTP and Twilio work", &cfg.workers, 1, 64, false},
	{"queue", "SB_SCHEDULER_QUEUE", I, "20000", "most payer jobs waiting at once", &cfg.queue, 16, 1000000, false},
	{"smtp-url", "SMTP_URL", S, NULL, "smtp://host:587 (STARTTLS) or smtps://host:465; unset: write .eml files to --outbox-dir", &cfg.smtp_url, 0, 0, false},
	{"smtp-user", "SMTP_USER", S, NULL, "SMTP login", &cfg.smtp_user, 0, 0, false},
	{"smtp-password", "SMTP_PASSWORD", S, NULL, "SMTP password", &cfg.smtp_password, 0, 0, true},
	{"smtp-starttls", "SB_SMTP_STARTTLS", B, "true", "smtp://: require STARTTLS (--no-smtp-starttls only for a trusted local relay)", &cfg.starttls, 0, 0, false},
	{"smtp-ca-file", "SB_SMTP_CA_FILE", S, NULL, "extra CA bundle to verify the SMTP server", &cfg.smtp_ca, 0, 0, false},
	{"smtp-timeout", "SB_SMTP_TIMEOUT", I, "30", "seconds per SMTP transfer", &cfg.smtp_timeout, 1, 600, false},
	{"mail-from", "SB_MAIL_FROM", S, "Accounts <collections@switchboard.local>", "From: of outreach emails", &cfg.mail_from, 0, 0, false},
	{"outbox-dir", "SB_OUTBOX_DIR", S, "./var/outbox", "where .eml files go without --smtp-url", &cfg.outbox_dir, 0, 0, false},
	{"portal-url", "SB_PORTAL_URL", S, "http://127.0.0.1:8080/pay", "payment portal link in emails (?payer=<id> added)", &cfg.portal_url, 0, 0, false},
	{"templates-dir", "SB_TEMPLATES_DIR", S, "./scheduler/templates", "stage1.txt/.html, stage2.txt/.html", &cfg.templates_dir, 0, 0, false},
	{"secret", "SB_SECRET", S, NULL, "signs unsubscribe links", &cfg.secret, 0, 0, true},
	{"twilio-account-sid", "TWILIO_ACCOUNT_SID", S, NULL, "Twilio account (unset: no calls, STAGE_3 is skipped)", &cfg.tw_sid, 0, 0, false},
	{"twilio-auth-token", "TWILIO_AUTH_TOKEN", S, NULL, "Twilio auth token", &cfg.tw_token, 0, 0, true},
	{"twilio-api-url", "SB_TWILIO_API_URL", S, "https://api.twilio.com", "Twilio REST base URL (tests: the simulator)", &cfg.tw_api, 0, 0, false},
	{"twilio-from", "SB_TWILIO_FROM", S, NULL, "caller id of outbound calls (E.164)", &cfg.tw_from, 0, 0, false},
	{"machine-detection", "SB_MACHINE_DETECTION", S, NULL, "Enable or DetectMessageEnd (unset: off)", &cfg.amd, 0, 0, false},
	{"call-timeout", "SB_CALL_TIMEOUT", I, "30", "seconds to let an outbound call ring", &cfg.call_timeout, 5, 600, false},
	{"stage2-days", "SB_STAGE2_DAYS", I, "30", "days overdue that move a payer to STAGE_2", &cfg.stage2_days, 0, 100000, false},
	{"stage3-days", "SB_STAGE3_DAYS", I, "60", "days overdue that move a payer to STAGE_3", &cfg.stage3_days, 0, 100000, false},
	{"max-attempts-per-stage", "SB_MAX_ATTEMPTS_PER_STAGE", I, "3", "attempts in a stage before the next (after the cool-down)", &cfg.max_attempts, 1, 1000, false},
	{"cooldown-hours", "SB_COOLDOWN_HOURS", I, "72", "least hours between two attempts of a stage", &cfg.cooldown_h, 0, 24 * 365, false},
	{"quiet-start", "SB_QUIET_START", S, "08:00", "contact allowed from (payer's local time)", &cfg.quiet_start, 0, 0, false},
	{"quiet-end", "SB_QUIET_END", S, "21:00", "contact allowed until (exclusive; 24:00 = midnight)", &cfg.quiet_end, 0, 0, false},
	{"max-calls-7d", "SB_MAX_CALLS_7D", I, "7", "placed calls per payer in any 7 days (Reg F)", &cfg.max_calls_7d, 0, 7, false},
	{"email-max-tries", "SB_EMAIL_MAX_TRIES", I, "5", "transmissions of one attempt (temporary failures) before FAILED", &cfg.email_tries, 1, 100, false},
	{"retry-base", "SB_RETRY_BASE", I, "300", "seconds before the first retry of a temporary failure (doubling)", &cfg.retry_base_s, 0, 86400, false},
	{"test-clock", "SB_TEST_CLOCK", B, NULL, "tests only: outreach.trigger may set the clock (\"now\")", &cfg.test_clock, 0, 0, false},
	SB_FLAGS_END,
};
#undef S
#undef I
#undef B

static struct {
	sched          s;
	sched_runner  *runner;
	sb_rpc_server *rpc;
} st;

/* ---- ops ------------------------------------------------------------------------- */

static void op_trigger(sb_req *req, json_t *args)
{
	const char *now_s = sb_json_str(args, "now");
	int64_t now = 0;
	if (now_s && !st.s.test_clock) {
		sb_req_fail(req, SB_INVALID_ARGUMENT, "\"now\" is only accepted with --test-clock");
		return;
	}
	if (now_s && sb_time_parse_iso(now_s, &now) < 0) {
		sb_req_fail(req, SB_INVALID_ARGUMENT, "\"now\" is not an ISO-8601 time");
		return;
	}
	sched_runner_trigger(st.runner, sb_json_str(args, "payerId"), now, req);
}

static void op_reconcile(sb_req *req, json_t *args)
{
	sched_runner_reconcile(st.runner, sb_json_str(args, "payerId"), req);
}

static void payer_status(void *arg, int rc, json_t *data, const sb_error *err)
{
	sb_req *req = arg;
	if (rc < 0) {
		sb_req_fail_err(req, err);
		return;
	}
	json_t *o = json_pack("{s:O,s:O,s:O,s:O,s:O}", "payerId", json_object_get(data, "id"), "stage",
			      json_object_get(data, "stage"), "lastOutreachStatus",
			      json_object_get(data, "lastOutreachStatus"), "lastOutreachAt",
			      json_object_get(data, "lastOutreachAt"), "attempts", json_object_get(data, "attempts"));
	json_decref(data);
	sb_req_ok(req, o);
}

static void op_status(sb_req *req, json_t *args)
{
	const char *payer = sb_json_str(args, "payerId");
	if (payer) {
		sb_client_call_async(st.s.store, &SB_SVC_STORE, SB_STORE_PAYERS_GET, json_pack("{s:s}", "id", payer),
				     payer_status, req);
		return;
	}
	json_t *o = sched_runner_status(st.runner);
	json_object_set_new(o, "transport", json_string(st.s.mail->name));
	json_object_set_new(o, "calls", json_boolean(st.s.twilio != NULL));
	json_object_set_new(o, "testClock", json_boolean(st.s.test_clock));
	sb_req_ok(req, o);
}

/* Table dispatch over the generated op enum. */
static void dispatch(sb_req *req, json_t *args, void *ctx)
{
	switch (sb_req_op(req)) {
	case SB_SCHEDULER_OUTREACH_TRIGGER:
		op_trigger(req, args);
		break;
	case SB_SCHEDULER_OUTREACH_RECONCILE:
		op_reconcile(req, args);
		break;
	case SB_SCHEDULER_OUTREACH_STATUS:
		op_status(req, args);
		break;
	default:
		sb_req_fail(req, SB_INVALID_ARGUMENT, "unknown op");
	}
}

/* ---- configuration ------------------------------------------------------------------- */

static int sched_check(void *ctx)
{
	int qs = sched_parse_hhmm(cfg.quiet_start), qe = sched_parse_hhmm(cfg.quiet_end);
	if (qs < 0 || qe < 0 || qs >= qe) {
		fprintf(stderr, "sb-scheduler: --quiet-start/--quiet-end must be HH:MM with start < end\n");
		return -1;
	}
	if (cfg.stage2_days > cfg.stage3_days) {
		fprintf(stderr, "sb-scheduler: --stage2-days must not exceed --stage3-days\n");
		return -1;
	}
	if (cfg.tw_sid && *cfg.tw_sid && (!cfg.tw_token || !*cfg.tw_token || !cfg.tw_from || !*cfg.tw_from)) {
		fprintf(stderr, "sb-scheduler: calls need --twilio-auth-token and --twilio-from with the account sid\n");
		return -1;
	}
	if (cfg.amd && *cfg.amd && strcmp(cfg.amd, "Enable") && strcmp(cfg.amd, "DetectMessageEnd")) {
		fprintf(stderr, "sb-scheduler: --machine-detection is Enable or DetectMessageEnd\n");
		return -1;
	}
	return 0;
}

static void fill_rules(sched_rules *r)
{
	*r = (sched_rules){
		.stage2_days = cfg.stage2_days, .stage3_days = cfg.stage3_days, .max_attempts = cfg.max_attempts,
		.cooldown_ms = cfg.cooldown_h * 3600 * 1000, .quiet_start = sched_parse_hhmm(cfg.quiet_start),
		.quiet_end = sched_parse_hhmm(cfg.quiet_end), .max_calls_7d = cfg.max_calls_7d,
		.email_max_tries = cfg.email_tries, .retry_base_ms = cfg.retry_base_s * 1000,
		.calls_enabled = cfg.tw_sid && *cfg.tw_sid,
	};
	st.s.email = (sched_email_cfg){.templates_dir = cfg.templates_dir, .from = cfg.mail_from,
				       .portal_url = cfg.portal_url, .public_url = cfg.public_url,
				       .secret = cfg.secret ? cfg.secret : ""};
}

static mail_transport *open_transport(sb_error *err)
{
	if (!cfg.smtp_url || !*cfg.smtp_url)
		return mail_outbox_new(cfg.outbox_dir, err);
	mail_smtp_opts o = {.url = cfg.smtp_url, .user = cfg.smtp_user, .password = cfg.smtp_password,
			    .ca_file = cfg.smtp_ca, .starttls = cfg.starttls, .timeout_ms = cfg.smtp_timeout * 1000,
			    .connect_timeout_ms = 10000};
	if (!cfg.starttls && !strncmp(cfg.smtp_url, "smtp://", 7))
		sb_warn("sched.smtp_cleartext", "url=%s note=\"STARTTLS not required: credentials and mail may travel in clear text\"",
			cfg.smtp_url);
	return mail_smtp_new(&o, err);
}

static int open_outside(sb_error *err)
{
	sched_twilio_opts to = {.api_url = cfg.tw_api, .account_sid = cfg.tw_sid, .auth_token = cfg.tw_token,
				.from = cfg.tw_from, .public_url = cfg.public_url, .machine_detection = cfg.amd,
				.timeout_s = cfg.call_timeout};
	if (sched_email_check(&st.s.email, err) < 0 || !(st.s.mail = open_transport(err)))
		return -1;
	st.s.twilio = sched_twilio_new(&to);
	sb_client_opts co = {.timeout_ms = 5000, .resend_ms = 2000};
	if (!(st.s.store = sb_client_open(cfg.store_url, &co, err)))
		return -1;
	return (st.s.pub = sb_pub_open(cfg.events, err)) ? 0 : -1;
}

static int sched_init(void *ctx)
{
	static sb_op_fn handlers[SB_SCHEDULER__COUNT];
	sb_error err = {0};
	for (int i = 0; i < SB_SCHEDULER__COUNT; i++)
		handlers[i] = dispatch;
	sb_http_global_init();
	fill_rules(&st.s.rules);
	st.s.test_clock = cfg.test_clock;
	if (cfg.test_clock)
		sb_warn("sched.test_clock", "note=\"outreach.trigger may set the clock: tests only\"");
	if (open_outside(&err) < 0)
		goto fail;
	if (!(st.runner = sched_runner_start(&st.s, cfg.interval, (int)cfg.workers, (size_t)cfg.queue, &err)))
		goto fail;
	sb_rpc_config rc = {.url = cfg.listen, .service = &SB_SVC_SCHEDULER, .handlers = handlers, .nctx = 64};
	if (sb_rpc_server_start(&rc, &st.rpc, &err) < 0)
		goto fail;
	sb_info("sched.started", "transport=%s calls=%s interval_s=%ld quiet=%s-%s", st.s.mail->name,
		st.s.twilio ? "on" : "off", cfg.interval, cfg.quiet_start, cfg.quiet_end);
	return 0;
fail:
	sb_error_log("sched.init_failed", "code=%s msg=\"%s\"", sb_code_name(err.code), err.message);
	return -1;
}

static void sched_drain(void *ctx)
{
	atomic_store(&st.s.stopping, true);
	sched_runner_stop(st.runner); /* the payers in hand are finished and recorded */
}

static void sched_fini(void *ctx)
{
	atomic_store(&st.s.stopping, true);
	sched_runner_stop(st.runner);
	sb_rpc_server_stop(st.rpc);
	sched_runner_free(st.runner);
	sb_client_close(st.s.store);
	sb_pub_close(st.s.pub);
	if (st.s.mail)
		st.s.mail->free(st.s.mail);
	sched_twilio_free(st.s.twilio);
	sb_metrics_free_all();
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-scheduler",
		.summary = "collections outreach: reminder emails and outbound AI calls, exactly once, within the rules",
		.flags = flags,
		.check = sched_check,
		.init = sched_init,
		.drain = sched_drain,
		.fini = sched_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
