/*
 * callsim_rest.c — sb-callsim's Twilio REST stand-in (services-and-libraries
 * A3.1), on loopback, libmicrohttpd with its own thread.
 *
 *   POST /2010-04-01/Accounts/{AC}/Calls.json        create: Basic auth AC:token,
 *        form To, From, Url | Twiml, StatusCallback, StatusCallbackEvent (repeated)
 *        → 201 Call resource with a fresh CA… sid; then (unless --rest-no-dial)
 *        status callbacks initiated/ringing as subscribed, the voice webhook at
 *        Url (Direction=outbound-api) and the media stream its TwiML names,
 *        then "in-progress" if "answered" was subscribed, and the call's final
 *        status ("completed", with CallDuration) when it ends, however it ended
 *        (the caller hung up, or a REST update did) if "completed" was subscribed
 *   POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json   update: Status=completed|canceled
 *        ends the simulated call; Twiml=<Response><Dial>N</Dial>… records a
 *        transfer to N and ends the stream → 200 Call resource; unknown CA → 404
 *   GET  the same resource                            → 200 Call resource
 *
 * The simulated callee, like Twilio's magic test numbers, is chosen by the
 * To number: one ending in 0480 never answers. Its call gets the initiated
 * and ringing callbacks, rings for the create's Timeout (seconds, Twilio's
 * default 60) and then ends "no-answer" (the final callback, CallDuration 0),
 * with no voice webhook and no stream; an update while it rings ends it at
 * once with the status asked for. A thread of its own (the ringer) keeps
 * that time.
 *
 * Errors use Twilio's body {"code","message","more_info","status"}: 401/20003
 * bad credentials, 400/21201 missing To/From/Url, 404/20404 unknown call.
 * --rest-fail-status S answers the next --rest-fail-count creates with S
 * (429 → code 20429, else 20500+). Every request is recorded (--rest-log as
 * JSON lines at once, and "restRequests" in the report).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callsim.h"
#include "sb_base64.h"
#include "sb_hmac.h"
#include "sb_id.h"
#include "sb_log.h"
#include "sb_time.h"
#include "sb_twilio.h"

#define BODY_MAX         65536
#define PREFIX           "/2010-04-01/Accounts/"
#define NO_ANSWER_SUFFIX "0480" /* To numbers ending so never answer */
#define RING_DEFAULT_S   60     /* Twilio's default Timeout */

enum { EV_INITIATED = 1, EV_RINGING = 2, EV_ANSWERED = 4, EV_COMPLETED = 8 };

typedef struct rcall {
	char     sid[CS_SID], from[64], to[64], status[16], cb[CS_URL];
	unsigned events;
	bool     outbound;
	bool     ended;      /* its final status is known (and its callback queued, if subscribed) */
	int64_t  ring_until; /* an unanswered call: rings until then (sb_mono_ms), else 0 */
} rcall;

typedef struct req {
	char  *body;
	size_t len;
	bool   too_big;
} req;

static struct {
	struct MHD_Daemon *d;
	pthread_mutex_t    mu;
	rcall             *calls;
	int                n, cap;
	json_t            *log;
	FILE              *logf;
	long               fails;
	pthread_cond_t     ring_cv; /* the ringer's wake-up (CLOCK_MONOTONIC) */
	pthread_t          ringer;
	bool               ringer_started, stopping;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- registry (under S.mu) ------------------------------------------------------------------ */

static rcall *find(const char *sid)
{
	for (int i = 0; i < S.n; i++)
		if (strcmp(S.calls[i].sid, sid) == 0)
			return &S.calls[i];
	return NULL;
}

static rcall *add(const char *sid, const char *from, const char *to)
{
	if (S.n == S.cap)
		S.calls = realloc(S.calls, (size_t)(S.cap = S.cap ? S.cap * 2 : 64) * sizeof *S.calls);
	rcall *c = memset(&S.calls[S.n++], 0, sizeof *c);
	snprintf(c->sid, sizeof c->sid, "%s", sid);
	snprintf(c->from, sizeof c->from, "%s", from ? from : "");
	snprintf(c->to, sizeof c->to, "%s", to ? to : "");
	snprintf(c->status, sizeof c->status, "queued");
	return c;
}

void rest_register(const char *sid, const char *from, const char *to)
{
	pthread_mutex_lock(&S.mu);
	snprintf(add(sid, from, to)->status, sizeof S.calls[0].status, "in-progress");
	pthread_mutex_unlock(&S.mu);
}

/* c's final status is c->status: queue its callback if "completed" was subscribed (Twilio sends every
 * final status, completed, busy, no-answer, canceled, under that event). Under S.mu. */
static void call_final(rcall *c, long duration_s)
{
	c->ended = true;
	c->ring_until = 0;
	if (c->cb[0] && (c->events & EV_COMPLETED))
		hook_status(c->sid, c->cb, c->from, c->to, c->status, duration_s);
}

void rest_call_ended(const char *sid, long duration_s)
{
	pthread_mutex_lock(&S.mu);
	rcall *c = find(sid);
	if (c && !c->ended) {
		if (strcmp(c->status, "canceled") != 0) /* a REST update may have said canceled */
			snprintf(c->status, sizeof c->status, "completed");
		call_final(c, duration_s);
	}
	pthread_mutex_unlock(&S.mu);
}

json_t *rest_requests(void)
{
	pthread_mutex_lock(&S.mu);
	json_t *a = S.log ? json_deep_copy(S.log) : json_array();
	pthread_mutex_unlock(&S.mu);
	return a;
}

/* ---- answers -------------------------------------------------------------------------------- */

static json_t *resource(const rcall *c)
{
	char uri[200];
	snprintf(uri, sizeof uri, PREFIX "%s/Calls/%s.json", cs.account_sid, c->sid);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:s}", "sid", c->sid, "account_sid", cs.account_sid, "to", c->to,
			 "from", c->from, "status", c->status, "direction", c->outbound ? "outbound-api" : "inbound",
			 "api_version", "2010-04-01", "answered_by", "queue_time", "uri", uri);
}

static json_t *error_body(int status, int code, const char *message)
{
	char more[80];
	snprintf(more, sizeof more, "https://www.twilio.com/docs/errors/%d", code);
	return json_pack("{s:i,s:s,s:s,s:i}", "code", code, "message", message, "more_info", more, "status", status);
}

/* Queue status with body (stolen) as JSON. */
static enum MHD_Result answer(struct MHD_Connection *conn, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

/* One line in the request log: the params as an object (a repeated name becomes an array). */
static void record(const char *method, const char *path, const char *op, const char *sid, int status, const sb_form *f)
{
	json_t *ps = json_object();
	for (size_t i = 0; f && i < f->n; i++) {
		json_t *old = json_object_get(ps, f->p[i].name);
		if (!old) {
			json_object_set_new(ps, f->p[i].name, json_string(f->p[i].value));
		} else {
			json_t *arr = json_is_array(old) ? json_incref(old) : json_pack("[O]", old);
			json_array_append_new(arr, json_string(f->p[i].value));
			json_object_set_new(ps, f->p[i].name, arr);
		}
	}
	json_t *line = json_pack("{s:I,s:s,s:s,s:s,s:s?,s:i,s:o}", "at", (json_int_t)sb_now_ms(), "method", method, "path", path,
				 "op", op, "callSid", sid, "status", status, "params", ps);
	pthread_mutex_lock(&S.mu);
	json_array_append(S.log, line);
	if (S.logf) {
		json_dumpf(line, S.logf, JSON_COMPACT);
		fputc('\n', S.logf);
		fflush(S.logf);
	}
	pthread_mutex_unlock(&S.mu);
	json_decref(line);
}

/* ---- create --------------------------------------------------------------------------------- */

static unsigned events_of(const sb_form *f)
{
	static const char *const names[] = {"initiated", "ringing", "answered", "completed"};
	unsigned ev = 0;
	for (size_t i = 0; i < f->n; i++)
		for (int k = 0; k < 4; k++)
			if (strcmp(f->p[i].name, "StatusCallbackEvent") == 0 && strcmp(f->p[i].value, names[k]) == 0)
				ev |= 1u << k;
	return ev ? ev : EV_COMPLETED;
}

/* Status callbacks before the webhook, the webhook (→ the stream), then "answered". */
static void dial_back(const rcall *c, const char *url)
{
	if (c->cb[0] && (c->events & EV_INITIATED))
		hook_status(c->sid, c->cb, c->from, c->to, "initiated", -1);
	if (c->cb[0] && (c->events & EV_RINGING))
		hook_status(c->sid, c->cb, c->from, c->to, "ringing", -1);
	hook_voice(-1, c->sid, url, c->from, c->to, "outbound-api");
	if (c->cb[0] && (c->events & EV_ANSWERED))
		hook_status(c->sid, c->cb, c->from, c->to, "in-progress", -1);
}

/* The callee never answers (NO_ANSWER_SUFFIX): callbacks up to ringing, then the ringer's no-answer. */
static void ring_unanswered(rcall *c, const sb_form *f)
{
	const char *t = sb_form_get(f, "Timeout");
	long secs = t ? strtol(t, NULL, 10) : RING_DEFAULT_S;
	if (secs < 1 || secs > 600)
		secs = RING_DEFAULT_S;
	if (c->cb[0] && (c->events & EV_INITIATED))
		hook_status(c->sid, c->cb, c->from, c->to, "initiated", -1);
	if (c->cb[0] && (c->events & EV_RINGING))
		hook_status(c->sid, c->cb, c->from, c->to, "ringing", -1);
	snprintf(c->status, sizeof c->status, "ringing");
	c->ring_until = sb_mono_ms() + secs * 1000;
	pthread_cond_signal(&S.ring_cv);
	sb_info("callsim.ringing", "call=%s to=%s no_answer_after_s=%ld", c->sid, c->to, secs);
}

static bool never_answers(const char *to)
{
	size_t n = strlen(to), k = strlen(NO_ANSWER_SUFFIX);
	return n >= k && strcmp(to + n - k, NO_ANSWER_SUFFIX) == 0;
}

static enum MHD_Result on_create(struct MHD_Connection *conn, const char *path, const sb_form *f)
{
	const char *to = sb_form_get(f, "To"), *from = sb_form_get(f, "From"), *url = sb_form_get(f, "Url");
	const char *cb = sb_form_get(f, "StatusCallback");
	int fail = 0;
	pthread_mutex_lock(&S.mu);
	if (cs.rest_fail_status && S.fails < cs.rest_fail_count)
		fail = (int)cs.rest_fail_status, S.fails++;
	pthread_mutex_unlock(&S.mu);
	if (fail) {
		record("POST", path, "create", NULL, fail, f);
		return answer(conn, fail, error_body(fail, fail == 429 ? 20429 : 20000 + fail, "injected failure"));
	}
	if (!to || !*to || !from || !*from || ((!url || !*url) && !sb_form_get(f, "Twiml"))) {
		record("POST", path, "create", NULL, 400, f);
		return answer(conn, 400, error_body(400, 21201, "To, From and Url (or Twiml) are required"));
	}
	unsigned char r[16];
	char hex[33], sid[CS_SID];
	sb_random_bytes(r, sizeof r);
	sb_hex(r, sizeof r, hex);
	snprintf(sid, sizeof sid, "CA%s", hex);
	pthread_mutex_lock(&S.mu);
	rcall *c = add(sid, from, to);
	c->outbound = true;
	c->events = events_of(f);
	snprintf(c->cb, sizeof c->cb, "%s", cb ? cb : "");
	json_t *body = resource(c);
	if (url && *url && !cs.rest_no_dial && never_answers(to))
		ring_unanswered(c, f);
	else if (url && *url && !cs.rest_no_dial)
		dial_back(c, url);
	pthread_mutex_unlock(&S.mu);
	record("POST", path, "create", sid, 201, f);
	return answer(conn, 201, body);
}

/* ---- update ------------------------------------------------------------------------------- */

/* The number inside <Dial>…</Dial> of twiml into out ("" if none). */
static void dial_target(const char *twiml, char *out, size_t cap)
{
	const char *a = twiml ? strstr(twiml, "<Dial") : NULL, *b = a ? strchr(a, '>') : NULL;
	const char *e = b ? strstr(b, "</Dial>") : NULL;
	out[0] = '\0';
	if (e && (size_t)(e - b - 1) < cap)
		snprintf(out, cap, "%.*s", (int)(e - b - 1), b + 1);
}

static enum MHD_Result on_update(struct MHD_Connection *conn, const char *path, const char *sid, const sb_form *f)
{
	const char *st = sb_form_get(f, "Status"), *twiml = sb_form_get(f, "Twiml");
	char dial[128];
	dial_target(twiml, dial, sizeof dial);
	pthread_mutex_lock(&S.mu);
	rcall *c = find(sid);
	json_t *body = NULL;
	bool ends = st && (strcmp(st, "completed") == 0 || strcmp(st, "canceled") == 0);
	if (c && ends && c->ring_until) { /* still ringing: nobody to hang up on */
		snprintf(c->status, sizeof c->status, "%s", st);
		call_final(c, 0);
	} else if (c && (ends || dial[0])) {
		cs_msg *m = calloc(1, sizeof *m);
		m->kind = CS_END;
		snprintf(m->call_sid, sizeof m->call_sid, "%s", sid);
		snprintf(m->arg, sizeof m->arg, "%s", ends ? "" : dial);
		cs_post(m);
		snprintf(c->status, sizeof c->status, "%s", ends ? st : "in-progress");
	}
	if (c)
		body = resource(c);
	pthread_mutex_unlock(&S.mu);
	record("POST", path, "update", sid, c ? 200 : 404, f);
	return c ? answer(conn, 200, body) : answer(conn, 404, error_body(404, 20404, "The requested resource was not found"));
}

/* ---- routing ---------------------------------------------------------------------------------- */

static bool authorised(struct MHD_Connection *conn, const char *account)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char cred[512], want[720] = "Basic ";
	int n = snprintf(cred, sizeof cred, "%s:%s", cs.account_sid, cs.auth_token ? cs.auth_token : "");
	if (n < 0 || (size_t)n >= sizeof cred || sb_b64_encoded_len((size_t)n) + 7 > sizeof want)
		return false;
	sb_b64_encode(cred, (size_t)n, want + 6);
	return h && strlen(h) == strlen(want) && sb_ct_equal(h, want, strlen(want)) && strcmp(account, cs.account_sid) == 0;
}

/* Route a complete request. */
static enum MHD_Result route(struct MHD_Connection *conn, const char *path, const char *method, req *q)
{
	char account[64] = "", sid[CS_SID] = "";
	const char *rest = strncmp(path, PREFIX, strlen(PREFIX)) == 0 ? path + strlen(PREFIX) : NULL;
	const char *slash = rest ? strchr(rest, '/') : NULL;
	if (!slash || (size_t)(slash - rest) >= sizeof account)
		return answer(conn, 404, error_body(404, 20404, "The requested resource was not found"));
	memcpy(account, rest, (size_t)(slash - rest));
	if (!authorised(conn, account)) {
		record(method, path, "auth", NULL, 401, NULL);
		return answer(conn, 401, error_body(401, 20003, "Authenticate"));
	}
	sb_form f = {0};
	sb_error err;
	if (q->too_big || sb_form_parse(&f, q->body ? q->body : "", q->len, &err) < 0) {
		sb_form_free(&f);
		return answer(conn, 400, error_body(400, 21200, "malformed form body"));
	}
	enum MHD_Result rc;
	size_t sl = strlen(slash);
	if (strcmp(slash, "/Calls.json") == 0 && strcmp(method, "POST") == 0)
		rc = on_create(conn, path, &f);
	else if (strncmp(slash, "/Calls/", 7) == 0 && sl > 12 && sl - 12 < sizeof sid && strcmp(slash + sl - 5, ".json") == 0) {
		snprintf(sid, sizeof sid, "%.*s", (int)(sl - 12), slash + 7);
		rc = on_update(conn, path, sid, &f);
	} else
		rc = answer(conn, 404, error_body(404, 20404, "The requested resource was not found"));
	sb_form_free(&f);
	return rc;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			       const char *version, const char *data, size_t *size, void **con_cls)
{
	req *q = *con_cls;
	if (!q) {
		*con_cls = calloc(1, sizeof *q);
		return MHD_YES;
	}
	if (*size) {
		if (q->len + *size > BODY_MAX)
			q->too_big = true;
		else {
			q->body = realloc(q->body, q->len + *size + 1);
			memcpy(q->body + q->len, data, *size);
			q->body[q->len += *size] = '\0';
		}
		*size = 0;
		return MHD_YES;
	}
	return route(conn, url, method, q);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	req *q = *con_cls;
	if (q)
		free(q->body);
	free(q);
	*con_cls = NULL;
}

/* ---- the ringer: unanswered calls end no-answer when their Timeout is up ------------------- */

static void *ringer_main(void *arg)
{
	pthread_mutex_lock(&S.mu);
	while (!S.stopping) {
		int64_t now = sb_mono_ms(), next = 0;
		for (int i = 0; i < S.n; i++) {
			rcall *c = &S.calls[i];
			if (c->ring_until && c->ring_until <= now) {
				snprintf(c->status, sizeof c->status, "no-answer");
				sb_info("callsim.no_answer", "call=%s to=%s", c->sid, c->to);
				call_final(c, 0);
			} else if (c->ring_until && (!next || c->ring_until < next)) {
				next = c->ring_until;
			}
		}
		if (!next) {
			pthread_cond_wait(&S.ring_cv, &S.mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = (int64_t)ts.tv_nsec + (next - now) * 1000000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&S.ring_cv, &S.mu, &ts);
	}
	pthread_mutex_unlock(&S.mu);
	return NULL;
}

static int ringer_start(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&S.ring_cv, &ca);
	pthread_condattr_destroy(&ca);
	S.stopping = false;
	S.ringer_started = pthread_create(&S.ringer, NULL, ringer_main, NULL) == 0;
	return S.ringer_started ? 0 : -1;
}

int rest_start(const char *listen)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (!colon || (size_t)(colon - listen) >= sizeof host)
		return -1;
	snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -1;
	S.log = json_array();
	if (cs.rest_log && !(S.logf = fopen(cs.rest_log, "a")))
		return -1;
	if (ringer_start() < 0)
		return -1;
	S.d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, NULL,
			       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			       MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!S.d)
		return -1;
	sb_info("callsim.rest_listening", "listen=%s account=%s", listen, cs.account_sid);
	return 0;
}

void rest_stop(void)
{
	if (S.d)
		MHD_stop_daemon(S.d);
	S.d = NULL;
	if (S.ringer_started) {
		pthread_mutex_lock(&S.mu);
		S.stopping = true;
		pthread_cond_signal(&S.ring_cv);
		pthread_mutex_unlock(&S.mu);
		pthread_join(S.ringer, NULL);
		pthread_cond_destroy(&S.ring_cv);
		S.ringer_started = false;
	}
	if (S.logf)
		fclose(S.logf);
	S.logf = NULL;
}

void rest_free(void)
{
	json_decref(S.log);
	S.log = NULL;
	free(S.calls);
	S.calls = NULL;
	S.n = S.cap = 0;
}
