/*
 * gateway_http.c — the HTTP server: libmicrohttpd glue and the life of a
 * request.
 *
 * MHD runs an epoll thread pool (--threads). For each request:
 *
 *   1. the URI-log callback allocates a gw_req holding the raw request-target
 *      (query string included: Twilio signs it, and MHD's url has none);
 *   2. the first access-handler call (headers only) routes it and refuses
 *      early what it can: 404, 405 (+Allow), 413 on Content-Length, 415,
 *      401 without credentials;
 *   3. body calls append to a buffer bounded by --max-body (a chunked body
 *      that grows past it gets the connection closed: MHD cannot answer
 *      while it is still delivering upload data);
 *   4. the final call dispatches the handler and parks the connection;
 *   5. the handler replies from whatever thread it is on (gw_finish), which
 *      resumes the connection; MHD calls the access handler once more and
 *      the response is queued;
 *   6. the completion callback frees the gw_req.
 *
 * Parking is a small state machine, because the reply may race the
 * suspension (a worker can answer before the HTTP thread has suspended):
 *
 *   RUNNING --(HTTP thread)--> PARKING --> PARKED --(gw_finish)--> REPLIED
 *      \__________________(gw_finish)__________________________/
 *
 * gw_finish swaps in REPLIED: if it finds PARKED it resumes the connection;
 * if it finds RUNNING or PARKING the HTTP thread sees REPLIED and queues the
 * response itself (after resuming, in the PARKING case). A parked
 * connection cannot time out or be freed, so a handler may use its gw_req
 * until it replies, and not one instruction after.
 *
 * Shutdown: stop accepting (MHD_quiesce_daemon); from then on every
 * response closes its connection, so each open connection carries at most
 * one more request (a webhook arriving then is still answered properly,
 * not refused); wait for the requests in flight (every backend call has a
 * deadline), stop the workers, then stop MHD (no connection is parked by
 * then).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "sb_log.h"
#include "sb_time.h"

#define MEMORY_LIMIT (32 * 1024) /* per-connection pool: headers and I/O buffers */

enum { ST_RUNNING, ST_PARKING, ST_PARKED, ST_REPLIED };

struct gw_req {
	struct MHD_Connection *conn;
	char                  *uri;  /* raw request-target, malloc'd */
	int64_t                t0_us;
	const gw_route        *route;
	char                   method[8];
	char                   params[GW_MAX_PARAMS][GW_PARAM_MAX + 1];
	char                   allow[64];
	sb_form                query;
	sb_form                form;
	char                  *body;
	size_t                 blen, bcap;
	char                  *authorization, *signature; /* captured headers, malloc'd */
	gw_principal           who;
	void                  *state;
	void                 (*state_free)(void *);
	bool                   headers_done, dispatched, counted;
	_Atomic int            phase;
	int                    status;
	struct MHD_Response   *resp;
};

static struct {
	struct MHD_Daemon *d;
	_Atomic int        inflight; /* dispatched requests not yet answered */
	atomic_bool        draining; /* quiesced: every response closes its connection */
	atomic_bool        closing;  /* in flight answered: nothing is dispatched any more */
	pthread_mutex_t    mu;
	pthread_cond_t     idle;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

/* ---- accessors ------------------------------------------------------------- */

const char *gw_param(const gw_req *r, int i) { return r->params[i]; }
const char *gw_query(const gw_req *r, const char *name) { return sb_form_get(&r->query, name); }
const sb_form *gw_form(const gw_req *r) { return &r->form; }
const char *gw_raw_uri(const gw_req *r) { return r->uri; }
const gw_route *gw_route_of(const gw_req *r) { return r->route; }
gw_principal *gw_who(gw_req *r) { return &r->who; }
void *gw_state_of(const gw_req *r) { return r->state; }
int64_t gw_started_us(const gw_req *r) { return r->t0_us; }

const char *gw_body(const gw_req *r, size_t *len)
{
	*len = r->blen;
	return r->body ? r->body : "";
}

const char *gw_header(const gw_req *r, const char *name)
{
	if (strcasecmp(name, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		return r->authorization;
	if (strcasecmp(name, "X-Twilio-Signature") == 0)
		return r->signature;
	return NULL;
}

void gw_set_state(gw_req *r, void *state, void (*free_fn)(void *))
{
	r->state = state;
	r->state_free = free_fn;
}

/* ---- request objects --------------------------------------------------------- */

/* MHD_OPTION_URI_LOG_CALLBACK: the request line has arrived. Its return value becomes *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	gw_req *r = calloc(1, sizeof *r);
	if (!r || !(r->uri = strdup(uri)))
		abort();
	r->conn = conn;
	r->t0_us = sb_mono_us();
	return r;
}

/* MHD_OPTION_NOTIFY_COMPLETED: the request is over (answered, aborted or shut down). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	gw_req *r = *con_cls;
	if (!r)
		return;
	if (r->resp)
		MHD_destroy_response(r->resp);
	if (r->state_free)
		r->state_free(r->state);
	sb_form_free(&r->query);
	sb_form_free(&r->form);
	free(r->body);
	free(r->authorization);
	free(r->signature);
	free(r->uri);
	free(r);
	*con_cls = NULL;
}

/* ---- replying ------------------------------------------------------------------ */

void gw_finish(gw_req *r, int status, struct MHD_Response *resp)
{
	/* Read everything needed before publishing REPLIED: from then on the HTTP
	 * thread may queue the response and free r at any moment. */
	struct MHD_Connection *conn = r->conn;
	bool counted = r->counted;
	r->status = status;
	r->resp = resp;
	if (atomic_exchange(&r->phase, ST_REPLIED) == ST_PARKED)
		MHD_resume_connection(conn);
	if (counted && atomic_fetch_sub(&H.inflight, 1) == 1) {
		pthread_mutex_lock(&H.mu);
		pthread_cond_broadcast(&H.idle);
		pthread_mutex_unlock(&H.mu);
	}
}

/* Queue the reply (HTTP thread), count it, publish it. */
static enum MHD_Result queue_reply(gw_req *r)
{
	struct MHD_Response *resp = r->resp;
	r->resp = NULL;
	if (!resp)
		return MHD_NO;
	if (r->status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (atomic_load(&H.draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	gw_metrics_request(r->route, r->method, r->status, r->t0_us);
	return rc;
}

/* After dispatch: suspend until the handler replies, or queue at once if it already has. */
static enum MHD_Result park(gw_req *r)
{
	int expect = ST_RUNNING;
	if (!atomic_compare_exchange_strong(&r->phase, &expect, ST_PARKING))
		return queue_reply(r);
	MHD_suspend_connection(r->conn);
	expect = ST_PARKING;
	if (!atomic_compare_exchange_strong(&r->phase, &expect, ST_PARKED))
		MHD_resume_connection(r->conn); /* replied while we were suspending */
	return MHD_YES;
}

/* ---- the stages of a request ------------------------------------------------------ */

/* Copy a request header into *dst (malloc'd) if present. */
static void capture(gw_req *r, const char *name, char **dst)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
	if (v && !(*dst = strdup(v)))
		abort();
}

/* 1 if the request's Content-Type is `want` (parameters such as charset ignored). */
static int content_type_is(gw_req *r, const char *want)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen(want);
	return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The declared body length, or -1 if there is none (chunked or absent). */
static long long content_length(gw_req *r)
{
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return cl ? strtoll(cl, NULL, 10) : -1;
}

/* Checks that need only the headers; 0 to go on, else the status of the refusal already set up. */
static int admit(gw_req *r, const char *url)
{
	r->route = gw_route_match(r->method, url, r->params, r->allow, sizeof r->allow);
	if (!r->route) {
		int st = r->allow[0] ? 405 : 404;
		if (st == 405)
			gw_reply_error(r, 405, "%s is not allowed here (allowed: %s)", r->method, r->allow);
		else
			gw_reply_error(r, 404, "no such resource");
		return st;
	}
	if (content_length(r) > gw_cfg.max_body) {
		gw_reply_error(r, 413, "request body larger than %ld bytes", gw_cfg.max_body);
		return 413;
	}
	const char *want = r->route->body == GW_JSON ? "application/json"
			   : r->route->body == GW_FORM ? "application/x-www-form-urlencoded" : NULL;
	if (want && !content_type_is(r, want)) {
		gw_reply_error(r, 415, "Content-Type must be %s", want);
		return 415;
	}
	capture(r, MHD_HTTP_HEADER_AUTHORIZATION, &r->authorization);
	capture(r, "X-Twilio-Signature", &r->signature);
	if (r->route->access == GW_BEARER && !r->authorization) {
		gw_reply_error(r, 401, "an API key is required (Authorization: Bearer <key>)");
		return 401;
	}
	const char *q = strchr(r->uri, '?');
	sb_error err = {0};
	if (q && sb_form_parse(&r->query, q + 1, strcspn(q + 1, "#"), &err) < 0) {
		gw_reply_error(r, 400, "query string: %s", err.message);
		return 400;
	}
	return 0;
}

/* 1 if a body follows the headers (Content-Length > 0, or chunked). */
static int body_follows(gw_req *r)
{
	return content_length(r) > 0 ||
	       MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* First call: headers are in. */
static enum MHD_Result on_headers(gw_req *r, const char *url, const char *method)
{
	r->headers_done = true;
	snprintf(r->method, sizeof r->method, "%s", method);
	if (admit(r, url) == 0)
		return MHD_YES;
	/* Refused. With a body still to come, answer now: MHD drops the body and closes the
	 * connection. Without one, answer on the final call and keep the connection alive. */
	return body_follows(r) ? queue_reply(r) : MHD_YES;
}

/* A piece of the body: keep it, within --max-body. */
static enum MHD_Result on_data(gw_req *r, const char *data, size_t *size)
{
	if (r->blen + *size > (size_t)gw_cfg.max_body) {
		sb_debug("http.body_too_large", "route=%s limit=%ld", r->route->pattern, gw_cfg.max_body);
		return MHD_NO; /* chunked past the limit: no 413 possible mid-upload, close */
	}
	if (r->blen + *size > r->bcap) {
		long long declared = content_length(r); /* within --max-body: admit() checked */
		size_t cap = r->bcap ? r->bcap : declared > 0 ? (size_t)declared : 1024;
		while (cap < r->blen + *size)
			cap *= 2;
		if (cap > (size_t)gw_cfg.max_body)
			cap = (size_t)gw_cfg.max_body;
		if (!(r->body = realloc(r->body, cap)))
			abort();
		r->bcap = cap;
	}
	memcpy(r->body + r->blen, data, *size);
	r->blen += *size;
	*size = 0;
	return MHD_YES;
}

void gw_run(gw_req *r)
{
	if (r->route->access == GW_BEARER && !gw_auth_check(r))
		return;
	if (r->route->access == GW_TWILIO && !gw_twilio_verify(r))
		return;
	r->route->handler(r);
}

/* Last call: the request is complete; hand it to its handler and park. */
static enum MHD_Result on_complete(gw_req *r)
{
	r->dispatched = true;
	sb_error err = {0};
	if (r->route->body == GW_FORM && sb_form_parse(&r->form, r->body ? r->body : "", r->blen, &err) < 0) {
		gw_reply_error(r, 400, "form body: %s", err.message);
		return queue_reply(r);
	}
	r->counted = true;
	atomic_fetch_add(&H.inflight, 1); /* before reading closing: see gw_http_stop */
	if (atomic_load(&H.closing) && r->route->access == GW_TWILIO)
		gw_twilio_unavailable(r);
	else if (atomic_load(&H.closing))
		gw_reply_error(r, 503, "shutting down");
	else if (r->route->nonblocking)
		gw_run(r);
	else if (!gw_pool_submit(r))
		gw_reply_error(r, 503, "too many requests in progress");
	return park(r);
}

/* The MHD access handler: see the stages above. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				 const char *version, const char *data, size_t *size, void **con_cls)
{
	gw_req *r = *con_cls;
	if (!r)
		return MHD_NO;
	if (!r->headers_done)
		return on_headers(r, url, method);
	if (*size)
		return on_data(r, data, size);
	if (atomic_load(&r->phase) == ST_REPLIED)
		return queue_reply(r);
	if (!r->dispatched)
		return on_complete(r);
	return MHD_YES; /* cannot happen: a dispatched request is parked until it is answered */
}

/* ---- the daemon ----------------------------------------------------------------------- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	char q[560];
	sb_debug("http.mhd", "msg=%s", sb_log_quote(msg, q, sizeof q));
}

/* Resolve --listen ("host:port", "[v6]:port", "*:port") into *ss. 0, or -1. */
static int listen_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon[1] == '\0')
		return -1;
	snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	int bad = !strcmp(host, "*") || !*host ? getaddrinfo(NULL, colon + 1, &hints, &ai)
					     : getaddrinfo(host, colon + 1, &hints, &ai);
	if (bad || !ai)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int gw_http_start(void)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (listen_addr(gw_cfg.listen, &ss, &sslen) < 0) {
		sb_error_log("http.bad_listen", "listen=%s", gw_cfg.listen);
		return -1;
	}
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	H.d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, NULL,
			       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			       MHD_OPTION_THREAD_POOL_SIZE, (unsigned)gw_cfg.threads,
			       MHD_OPTION_CONNECTION_LIMIT, (unsigned)gw_cfg.max_connections,
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)gw_cfg.connection_timeout,
			       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT,
			       MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
			       MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			       MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
			       MHD_OPTION_END);
	if (!H.d) {
		sb_error_log("http.listen_failed", "listen=%s err=\"%s\"", gw_cfg.listen, strerror(errno));
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(H.d, MHD_DAEMON_INFO_BIND_PORT);
	sb_info("http.listening", "listen=%s port=%u threads=%ld max_connections=%ld", gw_cfg.listen,
		info ? info->port : 0, gw_cfg.threads, gw_cfg.max_connections);
	return 0;
}

/* Wait until no dispatched request is unanswered, at most ms. */
static bool wait_idle(int ms)
{
	struct timespec until;
	until = sb_timespec_in(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&H.mu);
	while (atomic_load(&H.inflight) > 0)
		if (pthread_cond_timedwait(&H.idle, &H.mu, &until) != 0)
			break;
	bool idle = atomic_load(&H.inflight) == 0;
	pthread_mutex_unlock(&H.mu);
	return idle;
}

void gw_http_stop(void)
{
	if (!H.d)
		return;
	atomic_store(&H.draining, true);
	MHD_socket fd = MHD_quiesce_daemon(H.d);
	/* every backend call has a deadline, so in-flight requests end within it */
	int budget = (int)(gw_cfg.backend_timeout > gw_cfg.webhook_timeout ? gw_cfg.backend_timeout
									     : gw_cfg.webhook_timeout) * 2 + 1000;
	wait_idle(budget);
	/* Nothing is dispatched from here on (answered at once, never parked). A request counted in
	 * flight before it saw `closing` is waited for below; one counted after it saw `closing`. */
	atomic_store(&H.closing, true);
	gw_pool_stop(); /* runs what is queued */
	if (!wait_idle(1000)) {
		/* stopping MHD with parked connections is undefined: leave it to exit() */
		sb_error_log("http.drain_timeout", "unanswered=%d", atomic_load(&H.inflight));
		H.d = NULL;
		return;
	}
	MHD_stop_daemon(H.d);
	H.d = NULL;
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	sb_info("http.stopped", NULL);
}
