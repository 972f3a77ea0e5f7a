/*
 * gateway_twilio.c — the Twilio webhooks (the gateway's hot path).
 *
 *   POST /api/twilio/voice     inbound call: which business owns the number
 *                              called? → call log (calls.create, idempotent
 *                              on CallSid: Twilio retries) → TwiML
 *                              <Connect><Stream url="wss://…/api/twilio/stream">
 *   POST /collect-iq/voice?payerId=…
 *                              outbound collections call answered: the payer
 *                              → call log → TwiML streaming to
 *                              /collect-iq/media-stream
 *   POST /api/twilio/status    status callback: calls.update_status (the store
 *                              never moves a call backwards and keeps the
 *                              first terminal status, so late, repeated and
 *                              out-of-order callbacks are harmless); for a
 *                              payer's call, sb-scheduler is then told to
 *                              bring the payer's attempt up to date now
 *                              (outreach.reconcile, fire and forget)
 *
 * Every webhook is signed (gw_twilio_verify: 403 otherwise) and every answer
 * is 200 text/xml: a refusal to stream is TwiML too (not in service, or an
 * apology when something inside failed), never an HTML error page. The
 * stream TwiML carries <Parameter>s, never a query string (Twilio strips
 * it): callSid, businessId or payerId, and a signed stream token
 * (common/sb_token.h) the media bridge checks before it opens a model
 * session. The bridge is also told about the call (session.prepare,
 * fire-and-forget) as soon as the call log is written, so it can open the
 * model session before Twilio connects the stream.
 *
 * These handlers are "nonblocking": they run on the HTTP thread and chain
 * asynchronous store calls (gw_call_async), each step a function below,
 * with the call's details in a tw_call attached to the request. Number
 * lookups are cached for NUMBER_TTL_MS (bounded; an admin change made
 * through this gateway drops the entry at once).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_time.h"
#include "sb_token.h"

#define NUMBER_TTL_MS         5000
#define NUMBER_SLOTS          4096
#define PREPARE_MAX_INFLIGHT  256 /* session.prepare calls outstanding at once; beyond, skipped */
#define RECONCILE_MAX_INFLIGHT 256 /* outreach.reconcile calls outstanding at once; beyond, skipped */
#define FIELD_MAX             64  /* the store's limit on sids, numbers and ids */

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
static const char TWIML_NOT_IN_SERVICE[] =
	XML_DECL "<Response><Say>The number you have called is not in service. Goodbye.</Say><Hangup/></Response>";
static const char TWIML_APOLOGY[] =
	XML_DECL "<Response><Say>We are sorry, we cannot take your call right now. Please try again later.</Say>"
		 "<Hangup/></Response>";
static const char TWIML_ACK[] = XML_DECL "<Response/>";

typedef enum { TW_VOICE, TW_OUTBOUND, TW_STATUS } tw_kind;
static const char *const KIND_NAME[] = {"voice", "outbound", "status"};

/* What a number lookup says (the value of the number cache). */
typedef struct tw_number {
	bool found, active;
	char business_id[FIELD_MAX + 1];
} tw_number;

typedef void (*tw_number_cont)(gw_req *r, const tw_number *n);

/* One webhook's details, carried from step to step. */
typedef struct tw_call {
	tw_kind        kind;
	char           call_sid[FIELD_MAX + 1], from[FIELD_MAX + 1], to[FIELD_MAX + 1];
	char           business_id[FIELD_MAX + 1], payer_id[FIELD_MAX + 1];
	char           status[33]; /* status callbacks: the CallStatus */
	long           duration;   /* status callbacks: CallDuration, or -1 */
	bool           created;    /* status callbacks: we created the call log */
	uint64_t       gen;        /* number cache generation before the lookup */
	tw_number_cont number_cont;
} tw_call;

static struct {
	gw_cache       *numbers;       /* E.164 → tw_number */
	_Atomic int     prepares;      /* session.prepare calls in flight */
	_Atomic int     reconciles;    /* outreach.reconcile calls in flight */
	pthread_mutex_t mu;
	pthread_cond_t  idle;
	_Atomic int64_t last_warn_s;   /* rate limit of the bad-signature warning */
	_Atomic long    unwarned;
	sb_metric      *prep_ok, *prep_failed, *prep_skipped, *callback_failed;
	sb_metric      *rec_ok, *rec_failed, *rec_skipped;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

int gw_twilio_init(void)
{
	T.numbers = gw_cache_new(NUMBER_SLOTS, sizeof(tw_number), NUMBER_TTL_MS);
	const char *name = "sb_gateway_session_prepare_total", *help = "session.prepare calls to the media bridge.";
	T.prep_ok = sb_counter(name, help, "result=\"ok\"");
	T.prep_failed = sb_counter(name, help, "result=\"failed\"");
	T.prep_skipped = sb_counter(name, help, "result=\"skipped\"");
	name = "sb_gateway_outreach_reconcile_total";
	help = "outreach.reconcile calls to the scheduler after a payer call's status callback.";
	T.rec_ok = sb_counter(name, help, "result=\"ok\"");
	T.rec_failed = sb_counter(name, help, "result=\"failed\"");
	T.rec_skipped = sb_counter(name, help, "result=\"skipped\"");
	T.callback_failed = sb_counter("sb_gateway_status_callback_failures_total",
				       "Status callbacks acknowledged but not recorded (logged).", NULL);
	return 0;
}

void gw_twilio_fini(void)
{
	gw_cache_free(T.numbers);
	T.numbers = NULL;
}

void gw_twilio_forget_number(const char *number)
{
	if (number)
		gw_cache_drop(T.numbers, number);
	else
		gw_cache_drop_if(T.numbers, NULL, NULL);
}

/* An async store call on one of the webhook clients (round robin: they spread nng's socket lock). */
static void store_async(gw_req *r, int op, json_t *args, gw_cont k)
{
	static _Atomic unsigned next;
	sb_client *c = gw.store_hook[atomic_fetch_add(&next, 1) % GW_HOOK_CLIENTS];
	gw_call_async(r, c, &SB_SVC_STORE, op, args, k);
}

/* ---- replies ------------------------------------------------------------------------ */

static tw_kind kind_of(const gw_req *r)
{
	gw_handler h = gw_route_of(r)->handler;
	return h == gw_twilio_voice ? TW_VOICE : h == gw_twilio_outbound ? TW_OUTBOUND : TW_STATUS;
}

/* Publish twilio.webhook for r with outcome status. */
static void publish(gw_req *r, const char *sid, const char *status)
{
	if (!sb_pub_wanted(gw.pub))
		return;
	double ms = (double)(sb_mono_us() - gw_started_us(r)) / 1000.0;
	sb_publish(gw.pub, SB_EV_TWILIO_WEBHOOK,
		   json_pack("{s:s,s:o,s:s,s:f}", "kind", KIND_NAME[kind_of(r)], "callSid",
			     sb_json_string_or_null(sid && *sid ? sid : NULL), "status", status, "latencyMs", ms));
}

/* Answer a webhook with TwiML (static, or malloc'd when owned) and record the outcome. */
static void tw_reply(gw_req *r, const char *outcome, const char *twiml, char *owned)
{
	tw_call *c = gw_state_of(r);
	gw_metrics_twiml(gw_started_us(r));
	publish(r, c ? c->call_sid : NULL, c && kind_of(r) == TW_STATUS && c->status[0] ? c->status : outcome);
	if (owned)
		gw_reply_owned(r, 200, "text/xml", owned, strlen(owned));
	else
		gw_reply_static(r, 200, "text/xml", twiml);
}

static void apologise(gw_req *r, const char *why)
{
	tw_call *c = gw_state_of(r);
	char q[300], sid[80];
	sb_warn("twilio.apology", "kind=%s call_sid=%s why=%s", KIND_NAME[kind_of(r)],
		sb_log_quote(c ? c->call_sid : "", sid, sizeof sid), sb_log_quote(why, q, sizeof q));
	tw_reply(r, "apology", TWIML_APOLOGY, NULL);
}

void gw_twilio_unavailable(gw_req *r)
{
	apologise(r, "the gateway is shutting down");
}

/* ---- signature -------------------------------------------------------------------------- */

/* A warning per second at most; the counter has the exact number. */
static void warn_signature(gw_req *r)
{
	int64_t now = sb_now_ms() / 1000, last = atomic_load(&T.last_warn_s);
	if (now == last || !atomic_compare_exchange_strong(&T.last_warn_s, &last, now)) {
		atomic_fetch_add(&T.unwarned, 1);
		return;
	}
	sb_warn("twilio.bad_signature", "route=%s header=%s suppressed=%ld", gw_route_of(r)->pattern,
		gw_header(r, "X-Twilio-Signature") ? "wrong" : "missing", atomic_exchange(&T.unwarned, 0));
}

bool gw_twilio_verify(gw_req *r)
{
	if (gw_cfg.skip_signature)
		return true;
	const char *uri = gw_raw_uri(r);
	size_t n = strlen(gw.public_url) + strlen(uri) + 1;
	char *url = malloc(n);
	if (!url)
		abort();
	snprintf(url, n, "%s%s", gw.public_url, uri);
	int ok = sb_twilio_validate(gw_cfg.twilio_token, url, gw_form(r), gw_header(r, "X-Twilio-Signature"));
	free(url);
	if (ok)
		return true;
	gw_metrics_signature_failure();
	warn_signature(r);
	publish(r, sb_form_get(gw_form(r), "CallSid"), "forbidden");
	gw_reply_static(r, 403, "text/plain", "Forbidden: missing or invalid X-Twilio-Signature\n");
	return false;
}

/* ---- shared steps ---------------------------------------------------------------------- */

/* 1 if s is 1..FIELD_MAX characters of [A-Za-z0-9_-] (what a stream token can carry). */
static bool token_field_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= FIELD_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Copy form field name into dst (FIELD_MAX + 1 bytes): false if it is longer. */
static bool copy_field(gw_req *r, const char *name, char *dst)
{
	const char *v = sb_form_get(gw_form(r), name);
	if (v && strlen(v) > FIELD_MAX)
		return false;
	snprintf(dst, FIELD_MAX + 1, "%s", v ? v : "");
	return true;
}

/* Attach a tw_call with CallSid/From/To; NULL after answering if they are unusable. */
static tw_call *tw_begin(gw_req *r, tw_kind kind)
{
	tw_call *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->kind = kind;
	c->duration = -1;
	gw_set_state(r, c, free);
	bool ok = copy_field(r, "CallSid", c->call_sid) && copy_field(r, "From", c->from) &&
		  copy_field(r, "To", c->to);
	if (ok && token_field_ok(c->call_sid))
		return c;
	if (kind == TW_STATUS) {
		sb_warn("twilio.bad_callback", "why=\"missing or malformed CallSid, From or To\"");
		tw_reply(r, "ignored", TWIML_ACK, NULL);
	} else {
		apologise(r, "missing or malformed CallSid, From or To");
	}
	return NULL;
}

/* 1 if s looks like E.164 (what phone_numbers.lookup can find). */
static bool e164_like(const char *s)
{
	size_t n = strlen(s);
	return n >= 9 && n <= 16 && s[0] == '+' && strspn(s + 1, "0123456789") == n - 1;
}

static void number_looked_up(gw_req *r, int rc, json_t *data, const sb_error *err)
{
	tw_call *c = gw_state_of(r);
	tw_number n = {0};
	if (rc < 0 && err->code != SB_NOT_FOUND) {
		apologise(r, err->message);
		return;
	}
	if (rc == 0) {
		json_t *biz = json_object_get(data, "business");
		n.found = true;
		n.active = json_is_true(json_object_get(biz, "isActive"));
		snprintf(n.business_id, sizeof n.business_id, "%s", sb_json_str(biz, "id") ? sb_json_str(biz, "id") : "");
		json_decref(data);
	}
	gw_cache_put(T.numbers, c->to, &n, c->gen);
	c->number_cont(r, &n);
}

/* Find the business of the number called (c->to), from the cache or the store, then k. */
static void resolve_number(gw_req *r, tw_number_cont k)
{
	tw_call *c = gw_state_of(r);
	tw_number n = {0};
	if (!e164_like(c->to) || gw_cache_get(T.numbers, c->to, &n)) {
		k(r, &n);
		return;
	}
	c->number_cont = k;
	c->gen = gw_cache_gen(T.numbers);
	store_async(r, SB_STORE_PHONE_NUMBERS_LOOKUP, json_pack("{s:s}", "number", c->to),
		      number_looked_up);
}

/* The calls.create arguments for c with call status st. */
static json_t *create_args(const tw_call *c, const char *st)
{
	return json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s}", "callSid", c->call_sid, "direction",
			 c->kind == TW_VOICE ? "inbound" : "outbound", "businessId",
			 c->business_id[0] ? c->business_id : NULL, "payerId", c->payer_id[0] ? c->payer_id : NULL,
			 "from", c->from[0] ? c->from : NULL, "to", c->to[0] ? c->to : NULL, "status", st);
}

/* ---- session.prepare (fire and forget) ---------------------------------------------------- */

static void prepared(void *arg, int rc, json_t *data, const sb_error *err)
{
	json_decref(data);
	sb_counter_inc(rc == 0 ? T.prep_ok : T.prep_failed);
	if (rc < 0)
		sb_debug("twilio.prepare_failed", "code=%s", sb_code_name(err->code));
	if (atomic_fetch_sub(&T.prepares, 1) == 1) {
		pthread_mutex_lock(&T.mu);
		pthread_cond_broadcast(&T.idle);
		pthread_mutex_unlock(&T.mu);
	}
}

/* Tell the media bridge about c now; never waits, never fails the webhook. */
static void prepare_session(const tw_call *c)
{
	if (atomic_fetch_add(&T.prepares, 1) >= PREPARE_MAX_INFLIGHT) { /* the bridge is slow or down */
		atomic_fetch_sub(&T.prepares, 1);
		sb_counter_inc(T.prep_skipped);
		return;
	}
	json_t *args = json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s?}", "callSid", c->call_sid, "direction",
				 c->kind == TW_VOICE ? "inbound" : "outbound", "businessId",
				 c->business_id[0] ? c->business_id : NULL, "payerId", c->payer_id[0] ? c->payer_id : NULL,
				 "from", c->from[0] ? c->from : NULL, "to", c->to[0] ? c->to : NULL);
	sb_client_call_async(gw.bridge, &SB_SVC_BRIDGE, SB_BRIDGE_SESSION_PREPARE, args, prepared, NULL);
}

void gw_twilio_drain(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&T.mu);
	while (atomic_load(&T.prepares) > 0)
		if (pthread_cond_timedwait(&T.idle, &T.mu, &until) != 0)
			break;
	pthread_mutex_unlock(&T.mu);
}

/* ---- the stream TwiML ------------------------------------------------------------------ */

typedef struct xml_buf {
	char  *p;
	size_t left;
	bool   ok;
} xml_buf;

static void put(xml_buf *b, const char *s, bool escape)
{
	long n = escape ? sb_xml_escape(s, b->p, b->left) : (long)snprintf(b->p, b->left, "%s", s);
	if (!b->ok || n < 0 || (size_t)n >= b->left) {
		b->ok = false;
		return;
	}
	b->p += n;
	b->left -= (size_t)n;
}

static void put_param(xml_buf *b, const char *name, const char *value)
{
	put(b, "<Parameter name=\"", false);
	put(b, name, true);
	put(b, "\" value=\"", false);
	put(b, value, true);
	put(b, "\"/>", false);
}

/* <Connect><Stream> TwiML for c (malloc'd), or NULL if it cannot be built. */
static char *stream_twiml(const tw_call *c)
{
	sb_stream_token t = {.kind = c->kind == TW_VOICE ? SB_TOKEN_BUSINESS : SB_TOKEN_PAYER,
			     .expires = sb_now_ms() / 1000 + gw_cfg.token_ttl};
	snprintf(t.call_sid, sizeof t.call_sid, "%s", c->call_sid);
	snprintf(t.subject, sizeof t.subject, "%s", c->kind == TW_VOICE ? c->business_id : c->payer_id);
	char token[SB_TOKEN_MAX], url[640];
	if (sb_token_sign(&t, gw.secret, gw.secret_len, token, sizeof token) < 0)
		return NULL;
	snprintf(url, sizeof url, "%s%s", gw.stream_url,
		 c->kind == TW_VOICE ? "/api/twilio/stream" : "/collect-iq/media-stream");
	char out[2048];
	xml_buf b = {out, sizeof out, true};
	put(&b, XML_DECL "<Response><Connect><Stream url=\"", false);
	put(&b, url, true);
	put(&b, "\">", false);
	put_param(&b, c->kind == TW_VOICE ? "businessId" : "payerId", t.subject);
	put_param(&b, "callSid", c->call_sid);
	put_param(&b, "token", token);
	put(&b, "</Stream></Connect></Response>", false);
	return b.ok ? strdup(out) : NULL; /* its own size: a 2 KiB block would cost malloc a consolidation */
}

/* calls.create answered: prepare the bridge and stream (voice and outbound). */
static void call_logged(gw_req *r, int rc, json_t *data, const sb_error *err)
{
	tw_call *c = gw_state_of(r);
	json_decref(data);
	if (rc < 0) {
		apologise(r, err->message);
		return;
	}
	char *twiml = stream_twiml(c);
	if (!twiml) {
		apologise(r, "the stream TwiML could not be built");
		return;
	}
	prepare_session(c);
	tw_reply(r, "connect", NULL, twiml);
}

/* ---- POST /api/twilio/voice ------------------------------------------------------------ */

static void voice_number_known(gw_req *r, const tw_number *n)
{
	tw_call *c = gw_state_of(r);
	if (!n->found || !n->active) {
		sb_info("twilio.not_in_service", "call_sid=%s found=%d", c->call_sid, n->found);
		tw_reply(r, "not_in_service", TWIML_NOT_IN_SERVICE, NULL);
		return;
	}
	snprintf(c->business_id, sizeof c->business_id, "%s", n->business_id);
	store_async(r, SB_STORE_CALLS_CREATE, create_args(c, "in-progress"),
		      call_logged);
}

void gw_twilio_voice(gw_req *r)
{
	if (tw_begin(r, TW_VOICE))
		resolve_number(r, voice_number_known);
}

/* ---- POST /collect-iq/voice?payerId= -------------------------------------------------- */

static void payer_found(gw_req *r, int rc, json_t *data, const sb_error *err)
{
	tw_call *c = gw_state_of(r);
	if (rc < 0) {
		apologise(r, err->message);
		return;
	}
	const char *biz = sb_json_str(data, "businessId");
	snprintf(c->business_id, sizeof c->business_id, "%s", biz ? biz : "");
	json_decref(data);
	store_async(r, SB_STORE_CALLS_CREATE, create_args(c, "in-progress"),
		      call_logged);
}

void gw_twilio_outbound(gw_req *r)
{
	tw_call *c = tw_begin(r, TW_OUTBOUND);
	if (!c)
		return;
	const char *payer = gw_query(r, "payerId");
	if (!token_field_ok(payer)) {
		apologise(r, "the outbound webhook URL has no valid payerId");
		return;
	}
	snprintf(c->payer_id, sizeof c->payer_id, "%s", payer);
	store_async(r, SB_STORE_PAYERS_GET, json_pack("{s:s}", "id", c->payer_id),
		      payer_found);
}

/* ---- POST /api/twilio/status ----------------------------------------------------------- */

static const char *const CALL_STATUSES[] = {"queued", "initiated", "ringing", "in-progress", "answered",
					    "completed", "busy", "failed", "no-answer", "canceled", NULL};

/* Acknowledge a callback we could not record (Twilio does not retry callbacks: log and count). */
static void callback_not_recorded(gw_req *r, const char *why)
{
	tw_call *c = gw_state_of(r);
	char q[300], st[48];
	sb_counter_inc(T.callback_failed);
	sb_warn("twilio.callback_not_recorded", "call_sid=%s status=%s why=%s", c->call_sid,
		sb_log_quote(c->status, st, sizeof st), sb_log_quote(why, q, sizeof q));
	tw_reply(r, c->status, TWIML_ACK, NULL);
}

static void status_updated(gw_req *r, int rc, json_t *data, const sb_error *err);

static void status_update(gw_req *r)
{
	tw_call *c = gw_state_of(r);
	json_t *args = json_pack("{s:s,s:s}", "callSid", c->call_sid, "status", c->status);
	if (c->duration >= 0)
		json_object_set_new(args, "durationS", json_integer(c->duration));
	store_async(r, SB_STORE_CALLS_UPDATE_STATUS, args, status_updated);
}

static void status_call_created(gw_req *r, int rc, json_t *data, const sb_error *err)
{
	tw_call *c = gw_state_of(r);
	json_decref(data);
	if (rc < 0) {
		callback_not_recorded(r, err->message);
		return;
	}
	c->created = true;
	status_update(r); /* now it exists: record the duration too */
}

static void status_create(gw_req *r)
{
	tw_call *c = gw_state_of(r);
	store_async(r, SB_STORE_CALLS_CREATE, create_args(c, c->status),
		      status_call_created);
}

static void status_number_known(gw_req *r, const tw_number *n)
{
	tw_call *c = gw_state_of(r);
	snprintf(c->business_id, sizeof c->business_id, "%s", n->found ? n->business_id : "");
	status_create(r);
}

static void status_payer_found(gw_req *r, int rc, json_t *data, const sb_error *err)
{
	tw_call *c = gw_state_of(r);
	if (rc < 0) {
		callback_not_recorded(r, err->message);
		return;
	}
	const char *biz = sb_json_str(data, "businessId");
	snprintf(c->business_id, sizeof c->business_id, "%s", biz ? biz : "");
	json_decref(data);
	status_create(r);
}

/* A callback for a call we have no log of: create it if we know enough. */
static void status_unknown_call(gw_req *r)
{
	tw_call *c = gw_state_of(r);
	const char *payer = gw_query(r, "payerId"), *dir = sb_form_get(gw_form(r), "Direction");
	if (token_field_ok(payer)) { /* an outbound call placed by the scheduler */
		c->kind = TW_OUTBOUND;
		snprintf(c->payer_id, sizeof c->payer_id, "%s", payer);
		store_async(r, SB_STORE_PAYERS_GET, json_pack("{s:s}", "id", payer),
			      status_payer_found);
	} else if (dir && strncmp(dir, "outbound", 8) == 0) {
		c->kind = TW_OUTBOUND;
		status_create(r);
	} else if (dir && strcmp(dir, "inbound") == 0) {
		c->kind = TW_VOICE;
		resolve_number(r, status_number_known);
	} else {
		callback_not_recorded(r, "unknown call, and no Direction or payerId to create it from");
	}
}

static void reconciled(void *arg, int rc, json_t *data, const sb_error *err)
{
	json_decref(data);
	sb_counter_inc(rc == 0 ? T.rec_ok : T.rec_failed);
	if (rc < 0)
		sb_debug("twilio.reconcile_failed", "code=%s", sb_code_name(err->code));
	atomic_fetch_sub(&T.reconciles, 1);
}

/* The call (calls.update_status data) is a payer's: have the scheduler update the payer's attempt and
 * lastOutreachStatus from the call log now rather than at its next evaluation. Never waits, never fails the
 * callback: if the scheduler is away, its next evaluation of the payer does the same. */
static void tell_scheduler(const json_t *call)
{
	const char *payer = sb_json_str(call, "payerId");
	if (!payer)
		return;
	if (atomic_fetch_add(&T.reconciles, 1) >= RECONCILE_MAX_INFLIGHT) { /* the scheduler is slow or down */
		atomic_fetch_sub(&T.reconciles, 1);
		sb_counter_inc(T.rec_skipped);
		return;
	}
	sb_client_call_async(gw.scheduler, &SB_SVC_SCHEDULER, SB_SCHEDULER_OUTREACH_RECONCILE,
			     json_pack("{s:s}", "payerId", payer), reconciled, NULL);
}

static void status_updated(gw_req *r, int rc, json_t *data, const sb_error *err)
{
	tw_call *c = gw_state_of(r);
	if (rc == 0)
		tell_scheduler(data); /* the call log is committed: the scheduler reads it */
	json_decref(data);
	if (rc == 0)
		tw_reply(r, c->status, TWIML_ACK, NULL);
	else if (err->code == SB_NOT_FOUND && !c->created)
		status_unknown_call(r);
	else
		callback_not_recorded(r, err->message);
}

void gw_twilio_status(gw_req *r)
{
	tw_call *c = tw_begin(r, TW_STATUS);
	if (!c)
		return;
	const char *st = sb_form_get(gw_form(r), "CallStatus"), *dur = sb_form_get(gw_form(r), "CallDuration");
	for (int i = 0; st && CALL_STATUSES[i]; i++)
		if (strcmp(st, CALL_STATUSES[i]) == 0)
			snprintf(c->status, sizeof c->status, "%s", st);
	if (!c->status[0]) {
		snprintf(c->status, sizeof c->status, "%s", st && strlen(st) < sizeof c->status ? st : "unknown");
		callback_not_recorded(r, "unknown CallStatus");
		return;
	}
	char *end;
	long d = dur ? strtol(dur, &end, 10) : -1;
	c->duration = dur && *dur && !*end && d >= 0 && d < 1000000000L ? d : -1;
	status_update(r);
}
