/*
 * sb_rpc.c — REP server on contexts + aio, REQ client (see sb_rpc.h).
 *
 * Server state machine, one per context ("worker"):
 *
 *   RECV --request--> BUSY --sb_req_ok/fail--> SEND --sent--> RECV
 *
 * A worker holds at most one request, so the request lives inside it and
 * nothing is allocated per request beyond the JSON. Stopping lets BUSY and
 * SEND workers finish (their callers get their answers), cancels RECV ones.
 *
 * A worker's last operation can complete (and the worker exit) while the
 * thread that started it is still returning from nng_ctx_send/recv; in nng
 * 1.5.2 that return releases the context, which then frees its protocol
 * state under the socket's lock, so a concurrent nng_close could free the
 * socket under it (seen with a handler thread answering as the server
 * stopped). Those calls are counted (in_nng) and stop closes the socket only
 * when none is under way. Clients guard their contexts the same way.
 *
 * Listener watchdog: nng 1.5.2 (fixed in 1.6.0, nng#1518) stops accepting
 * on an ipc listener for good once a peer closes a connection during the SP
 * handshake — one bare connect+close is enough: later connections complete
 * but their requests are never delivered. Debian bookworm ships 1.5.2, so
 * every server probes its own listener with a brand-new connection
 * (sys.health, answered inline) and, after two probes in a row got no
 * answer within watchdog_ms and a third none within five times that,
 * closes and restarts the listener. Connected
 * clients redial by themselves and nng resends their pending requests.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_daemon.h"
#include "sb_fs.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_rpc.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

#define DEFAULT_NCTX     64
#define DEFAULT_MAX_MSG  (1u << 20)
#define TRANSPORT_MAX    (16u << 20) /* beyond this nng drops the connection */
#define DRAIN_TIMEOUT_MS 10000

enum wstate { W_IDLE, W_RECV, W_BUSY, W_SEND };

struct sb_req {
	struct worker *w;
	int            op;    /* index in the service, or -1 - sys op index */
	json_t        *root;
	int64_t        t0_us;
	sb_req        *next;  /* pool queue link */
};

struct worker {
	sb_rpc_server  *srv;
	nng_ctx         ctx;
	nng_aio        *aio;
	pthread_mutex_t mu;    /* guards state: uncontended, touched by this worker's own chain and stop */
	enum wstate     state;
	sb_req          req;
};

struct sb_rpc_server {
	nng_socket      sock;
	sb_rpc_config   cfg;
	struct worker  *w;
	int             nw;
	pthread_mutex_t mu;     /* guards active and the watchdog's wait; not on the request path */
	pthread_cond_t  cv;
	int             active; /* workers not yet exited */
	atomic_bool     stopping;
	atomic_int      in_nng; /* threads inside nng_ctx_send/recv on a worker's context (see above) */
	/* optional handler pool */
	pthread_mutex_t qmu;
	pthread_t      *threads;
	sb_req         *qhead, *qtail;
	pthread_cond_t  qcv;
	bool            qstop;
	/* listener and its watchdog */
	nng_listener    listener;
	pthread_t       watchdog;
	bool            has_watchdog;
	pthread_cond_t  wdcv;
	sb_metric      *m_restarts;
	/* metrics, created on first use per (op, code) */
	_Atomic(sb_metric *) *counts; /* [(nops + nsys) * SB_CODE__COUNT] */
	_Atomic(sb_metric *) *latency; /* [nops + nsys] */
};

static void start_recv(struct worker *w);

/* ---- metrics ------------------------------------------------------------ */

static const sb_op_spec *op_spec(const sb_rpc_server *s, int op)
{
	return op >= 0 ? &s->cfg.service->ops[op] : &SB_SVC_SYS.ops[-op - 1];
}

static int op_slot(const sb_rpc_server *s, int op)
{
	return op >= 0 ? op : (int)s->cfg.service->nops + (-op - 1);
}

static void observe(sb_rpc_server *s, int op, sb_code code, int64_t t0_us)
{
	int slot = op_slot(s, op);
	const char *name = op_spec(s, op)->name;
	char labels[256];
	_Atomic(sb_metric *) *cp = &s->counts[slot * SB_CODE__COUNT + code];
	sb_metric *m = atomic_load(cp);
	if (!m) {
		snprintf(labels, sizeof labels, "service=\"%s\",op=\"%s\",code=\"%s\"", s->cfg.service->name,
			 name, sb_code_name(code));
		m = sb_counter("sb_rpc_requests_total", "Requests answered, by op and result code.", labels);
		atomic_store(cp, m);
	}
	sb_counter_inc(m);
	_Atomic(sb_metric *) *lp = &s->latency[slot];
	m = atomic_load(lp);
	if (!m) {
		snprintf(labels, sizeof labels, "service=\"%s\",op=\"%s\"", s->cfg.service->name, name);
		m = sb_histogram("sb_rpc_request_duration_ms", "Time from request received to reply sent.",
				 labels, SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
		atomic_store(lp, m);
	}
	sb_histogram_observe(m, (double)(sb_mono_us() - t0_us) / 1000.0);
}

/* ---- replies ------------------------------------------------------------ */

/* Serialise reply and send it on the worker's context; consumes reply. */
static void send_reply(struct worker *w, json_t *reply)
{
	size_t len = 0;
	char *body = reply ? sb_json_dump(reply, &len) : NULL;
	json_decref(reply);
	if (!body) {
		body = strdup("{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"reply could not be encoded\"}}");
		len = strlen(body);
	}
	nng_msg *msg;
	if (nng_msg_alloc(&msg, len) != 0)
		abort();
	memcpy(nng_msg_body(msg), body, len);
	free(body);
	pthread_mutex_lock(&w->mu);
	w->state = W_SEND;
	pthread_mutex_unlock(&w->mu);
	nng_aio_set_msg(w->aio, msg);
	atomic_fetch_add(&w->srv->in_nng, 1);
	nng_ctx_send(w->ctx, w->aio);
	atomic_fetch_sub(&w->srv->in_nng, 1);
}

static void finish(sb_req *r, json_t *reply, sb_code code)
{
	struct worker *w = r->w;
	if (r->op != INT32_MIN)
		observe(w->srv, r->op, code, r->t0_us);
	json_decref(r->root);
	r->root = NULL;
	send_reply(w, reply);
}

int sb_req_op(const sb_req *r)
{
	return r->op;
}

void sb_req_ok(sb_req *r, json_t *data)
{
	finish(r, sb_json_ok(data), SB_OK);
}

void sb_req_fail_err(sb_req *r, const sb_error *e)
{
	sb_code c = (e->code > SB_OK && e->code < SB_CODE__COUNT) ? e->code : SB_INTERNAL;
	if (c == SB_INTERNAL || c == SB_UNAVAILABLE) {
		char q[300];
		sb_warn("rpc.request_failed", "op=%s code=%s msg=%s", op_spec(r->w->srv, r->op)->name,
			sb_code_name(c), sb_log_quote(e->message, q, sizeof q));
	}
	finish(r, sb_json_err(c, e->message), c);
}

void sb_req_fail(sb_req *r, sb_code code, const char *fmt, ...)
{
	sb_error e = {.code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof e.message, fmt, ap);
	va_end(ap);
	sb_req_fail_err(r, &e);
}

/* ---- built-in sys ops ----------------------------------------------------- */

static void sys_op(sb_req *r, int sysop)
{
	sb_rpc_server *s = r->w->srv;
	if (sysop == SB_SYS_SYS_HEALTH) {
		sb_req_ok(r, json_pack("{s:s,s:s,s:s,s:I,s:s}", "status", "ok", "service", s->cfg.service->name,
				       "daemon", sb_daemon_name(), "uptimeMs", (json_int_t)sb_daemon_uptime_ms(),
				       "version", SB_VERSION));
	} else if (sysop == SB_SYS_SYS_METRICS) {
		char *text = sb_metrics_render();
		sb_req_ok(r, json_pack("{s:s}", "text", text ? text : ""));
		free(text);
	} else {
		sb_req_fail(r, SB_INVALID_ARGUMENT, "unsupported sys op");
	}
}

/* ---- request intake -------------------------------------------------------- */

static void pool_push(sb_rpc_server *s, sb_req *r)
{
	pthread_mutex_lock(&s->qmu);
	r->next = NULL;
	if (s->qtail)
		s->qtail->next = r;
	else
		s->qhead = r;
	s->qtail = r;
	pthread_cond_signal(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
}

static void *pool_main(void *arg)
{
	sb_rpc_server *s = arg;
	pthread_mutex_lock(&s->qmu);
	for (;;) {
		while (!s->qhead && !s->qstop)
			pthread_cond_wait(&s->qcv, &s->qmu);
		if (!s->qhead)
			break;
		sb_req *r = s->qhead;
		s->qhead = r->next;
		if (!s->qhead)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->qmu);
		s->cfg.handlers[r->op](r, json_object_get(r->root, "args"), s->cfg.ctx);
		pthread_mutex_lock(&s->qmu);
	}
	pthread_mutex_unlock(&s->qmu);
	return NULL;
}

/* Decode, validate and dispatch one request. Always leads to exactly one reply. */
static void handle(struct worker *w, nng_msg *msg)
{
	sb_rpc_server *s = w->srv;
	sb_req *r = &w->req;
	sb_error err = {0};
	r->w = w;
	r->op = INT32_MIN;
	r->t0_us = sb_mono_us();
	r->root = sb_json_parse(nng_msg_body(msg), nng_msg_len(msg), s->cfg.max_msg, &err);
	nng_msg_free(msg);
	if (!r->root)
		goto bad;
	const char *opname = sb_json_str(r->root, "op");
	json_t *args = json_object_get(r->root, "args");
	if (!opname) {
		sb_error_set(&err, SB_INVALID_ARGUMENT, "request needs a string \"op\"");
		goto bad;
	}
	if (json_object_size(r->root) > (args ? 2u : 1u)) {
		sb_error_set(&err, SB_INVALID_ARGUMENT, "request may only have \"op\" and \"args\"");
		goto bad;
	}
	if (!args) {
		args = json_object();
		json_object_set_new(r->root, "args", args);
	}
	int op = sb_schema_find_op(s->cfg.service, opname);
	int sysop = op < 0 ? sb_schema_find_op(&SB_SVC_SYS, opname) : -1;
	if (op < 0 && sysop < 0) {
		char q[128];
		sb_error_set(&err, SB_INVALID_ARGUMENT, "unknown op \"%s\" for service %s",
			     sb_log_quote(opname, q, 100), s->cfg.service->name);
		goto bad;
	}
	const sb_op_spec *spec = op >= 0 ? &s->cfg.service->ops[op] : &SB_SVC_SYS.ops[sysop];
	r->op = op >= 0 ? op : -sysop - 1;
	if (sb_schema_validate(spec->args, spec->nargs, args, &err) < 0) {
		char m[sizeof err.message];
		memcpy(m, err.message, sizeof m);
		snprintf(err.message, sizeof err.message, "%s: %.200s", spec->name, m);
		goto bad;
	}
	if (op < 0)
		sys_op(r, sysop);
	else if (s->cfg.nthreads > 0 && !(spec->writes && s->cfg.inline_writes))
		pool_push(s, r);
	else
		s->cfg.handlers[op](r, args, s->cfg.ctx);
	return;
bad:
	sb_debug("rpc.bad_request", "code=%s", sb_code_name(err.code));
	finish(r, sb_json_err(err.code, err.message), err.code);
}

static void worker_exit(struct worker *w)
{
	sb_rpc_server *s = w->srv;
	pthread_mutex_lock(&w->mu);
	w->state = W_IDLE;
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_lock(&s->mu);
	s->active--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void worker_cb(void *arg)
{
	struct worker *w = arg;
	sb_rpc_server *s = w->srv;
	int rv = nng_aio_result(w->aio);
	pthread_mutex_lock(&w->mu);
	enum wstate st = w->state;
	if (st == W_RECV && rv == 0)
		w->state = W_BUSY;
	pthread_mutex_unlock(&w->mu);
	bool stopping = atomic_load(&s->stopping);

	if (st == W_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(w->aio));
		if (stopping)
			worker_exit(w);
		else
			start_recv(w);
		return;
	}
	if (rv != 0) {
		if (stopping || rv == NNG_ECLOSED)
			worker_exit(w);
		else
			start_recv(w);
		return;
	}
	handle(w, nng_aio_get_msg(w->aio));
}

/*
 * Arm the next receive. Stop sets `stopping` before it cancels RECV workers,
 * and we look at it again after arming, so one of the two always cancels a
 * receive that was armed around the moment the server began to stop.
 */
static void start_recv(struct worker *w)
{
	if (atomic_load(&w->srv->stopping)) {
		worker_exit(w);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->state = W_RECV;
	pthread_mutex_unlock(&w->mu);
	atomic_fetch_add(&w->srv->in_nng, 1);
	nng_ctx_recv(w->ctx, w->aio);
	if (atomic_load(&w->srv->stopping))
		nng_aio_cancel(w->aio);
	atomic_fetch_sub(&w->srv->in_nng, 1);
}

static int nng_fail(sb_error *err, const char *what, const char *url, int rv)
{
	return sb_error_set(err, SB_UNAVAILABLE, "%s %s: %s", what, url, nng_strerror(rv));
}

/* ---- listener watchdog ------------------------------------------------------ */

static int listen_on(sb_rpc_server *s, sb_error *err)
{
	int rv;
	sb_ipc_mkdir(s->cfg.url); /* an ipc:// socket's folder (the run directory) may not exist yet */
	if ((rv = nng_listener_create(&s->listener, s->sock, s->cfg.url)) != 0 ||
	    (rv = nng_listener_set_size(s->listener, NNG_OPT_RECVMAXSZ, TRANSPORT_MAX)) != 0 ||
	    (rv = nng_listener_start(s->listener, 0)) != 0)
		return nng_fail(err, "cannot listen on", s->cfg.url, rv);
	return 0;
}

/* Wait up to ms unless stopping; returns true when the server is stopping. */
static bool watchdog_sleep(sb_rpc_server *s, int ms)
{
	struct timespec until;
	until = sb_timespec_in(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&s->stopping) && pthread_cond_timedwait(&s->wdcv, &s->mu, &until) == 0)
		;
	bool stop = atomic_load(&s->stopping);
	pthread_mutex_unlock(&s->mu);
	return stop;
}

static void restart_listener(sb_rpc_server *s)
{
	sb_error err = {0};
	nng_listener_close(s->listener);
	if (listen_on(s, &err) < 0) {
		sb_error_log("rpc.listener_restart_failed", "url=%s msg=\"%s\"", s->cfg.url, err.message);
		return;
	}
	sb_counter_inc(s->m_restarts);
	sb_warn("rpc.listener_restarted", "url=%s reason=\"new connections got no answer (nng#1518)\"",
		s->cfg.url);
}

/* true when a brand-new connection to our own listener completes and gets an answer. */
static bool probe_new_connection(sb_rpc_server *s, int timeout_ms)
{
	sb_client_opts o = {.timeout_ms = timeout_ms, .resend_ms = timeout_ms};
	sb_client *probe = sb_client_open(s->cfg.url, &o, NULL);
	sb_error err = {0};
	json_t *data = NULL;
	bool ok = probe && sb_client_call(probe, &SB_SVC_SYS, SB_SYS_SYS_HEALTH, NULL, &data, &err) == 0;
	json_decref(data);
	sb_client_close(probe);
	return ok;
}

static void *watchdog_main(void *arg)
{
	sb_rpc_server *s = arg;
	int period = s->cfg.watchdog_ms, misses = 0;
	while (!watchdog_sleep(s, period)) {
		if (probe_new_connection(s, period))
			misses = 0;
		else if (++misses >= 2) {
			/* a last, patient probe: a daemon that is merely slow (a loaded host,
			 * valgrind) answers it; a stuck listener (nng#1518) never does */
			if (!probe_new_connection(s, period * 5))
				restart_listener(s);
			misses = 0;
		}
	}
	return NULL;
}

static void free_server(sb_rpc_server *s)
{
	for (int i = 0; i < s->nw; i++) {
		if (s->w[i].aio)
			nng_aio_free(s->w[i].aio);
		pthread_mutex_destroy(&s->w[i].mu);
	}
	free(s->w);
	free(s->threads);
	free(s->counts);
	free(s->latency);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->qmu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->qcv);
	pthread_cond_destroy(&s->wdcv);
	free(s);
}

static int check_handlers(const sb_rpc_config *cfg, sb_error *err)
{
	for (unsigned i = 0; i < cfg->service->nops; i++)
		if (!cfg->handlers[i])
			return sb_error_set(err, SB_INTERNAL, "service %s has no handler for op %s",
					    cfg->service->name, cfg->service->ops[i].name);
	return 0;
}

int sb_rpc_server_start(const sb_rpc_config *cfg, sb_rpc_server **out, sb_error *err)
{
	if (check_handlers(cfg, err) < 0)
		return -1;
	sb_rpc_server *s = calloc(1, sizeof *s);
	s->cfg = *cfg;
	if (s->cfg.nctx <= 0)
		s->cfg.nctx = DEFAULT_NCTX;
	if (!s->cfg.max_msg)
		s->cfg.max_msg = DEFAULT_MAX_MSG;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->qmu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->qcv, NULL);
	pthread_cond_init(&s->wdcv, NULL);
	if (!s->cfg.watchdog_ms)
		s->cfg.watchdog_ms = 1000;
	s->m_restarts = sb_counter("sb_rpc_listener_restarts_total",
				   "Times the watchdog restarted a listener that stopped accepting.", NULL);
	size_t slots = cfg->service->nops + SB_SVC_SYS.nops;
	s->counts = calloc(slots * SB_CODE__COUNT, sizeof *s->counts);
	s->latency = calloc(slots, sizeof *s->latency);
	int rv = nng_rep0_open(&s->sock);
	if (rv != 0) {
		free_server(s);
		return nng_fail(err, "cannot open REP socket for", cfg->url, rv);
	}
	if (listen_on(s, err) < 0) {
		nng_close(s->sock);
		free_server(s);
		return -1;
	}
	s->nw = s->cfg.nctx;
	s->w = calloc((size_t)s->nw, sizeof *s->w);
	for (int i = 0; i < s->nw; i++) {
		s->w[i].srv = s;
		pthread_mutex_init(&s->w[i].mu, NULL);
		if (nng_aio_alloc(&s->w[i].aio, worker_cb, &s->w[i]) != 0 || nng_ctx_open(&s->w[i].ctx, s->sock) != 0)
			abort();
	}
	if (s->cfg.nthreads > 0) {
		s->threads = calloc((size_t)s->cfg.nthreads, sizeof *s->threads);
		for (int i = 0; i < s->cfg.nthreads; i++)
			pthread_create(&s->threads[i], NULL, pool_main, s);
	}
	s->active = s->nw;
	for (int i = 0; i < s->nw; i++)
		start_recv(&s->w[i]);
	if (s->cfg.watchdog_ms > 0)
		s->has_watchdog = pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0;
	sb_info("rpc.listening", "service=%s url=%s contexts=%d", cfg->service->name, cfg->url, s->nw);
	*out = s;
	return 0;
}

void sb_rpc_server_stop(sb_rpc_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stopping, true);
	pthread_cond_broadcast(&s->wdcv);
	pthread_mutex_unlock(&s->mu);
	if (s->has_watchdog)
		pthread_join(s->watchdog, NULL);
	for (int i = 0; i < s->nw; i++) {
		/* only receives: a reply in flight must still reach its caller */
		pthread_mutex_lock(&s->w[i].mu);
		if (s->w[i].state == W_RECV)
			nng_aio_cancel(s->w[i].aio);
		pthread_mutex_unlock(&s->w[i].mu);
	}
	pthread_mutex_lock(&s->mu);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DRAIN_TIMEOUT_MS / 1000;
	while (s->active > 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
			break;
	int left = s->active;
	pthread_mutex_unlock(&s->mu);
	if (left)
		sb_warn("rpc.drain_timeout", "service=%s unanswered=%d", s->cfg.service->name, left);
	while (atomic_load(&s->in_nng) > 0) /* a thread returning from the call that finished its worker */
		sched_yield();
	nng_close(s->sock);
	for (int i = 0; i < s->nw; i++)
		nng_aio_stop(s->w[i].aio);
	if (s->threads) {
		pthread_mutex_lock(&s->qmu);
		s->qstop = true;
		pthread_cond_broadcast(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
		for (int i = 0; i < s->cfg.nthreads; i++)
			pthread_join(s->threads[i], NULL);
	}
	free_server(s);
}

/* ---- client ---------------------------------------------------------------- */

#define MAX_IDLE_SLOTS 64 /* idle contexts kept per client, of each kind (see slot_get) */

/* A request context and its aio; kept on the client between calls (see slot_get). */
struct slot {
	sb_client   *c;
	nng_ctx      ctx;
	nng_aio     *aio;   /* synchronous calls: no callback (the caller waits); async: acall_cb */
	nng_aio     *now;   /* async only: no callback, for sending without waiting (see sb_client_call_async) */
	bool         async;
	struct slot *next;  /* idle list */
	/* the async call in progress */
	int          stage; /* 0 sending, 1 receiving */
	int64_t      t0;
	sb_call_cb   cb;
	void        *arg;
};

struct slot_list {
	struct slot *head;
	int          n;
};

struct sb_client {
	nng_socket      sock;
	nng_dialer      dialer;
	pthread_mutex_t mu;          /* guards the fields below up to url */
	pthread_cond_t  cv;          /* wakes the redial thread */
	int64_t         last_redial; /* monotonic ms */
	pthread_t       redialer;    /* started on the first redial, joined at close */
	bool            has_redialer, redial_wanted;
	atomic_bool     closing;
	atomic_int      in_nng;      /* threads inside a call into nng on one of our contexts (client_enter) */
	int             pending;     /* async calls whose callback has not returned yet */
	struct slot_list idle_slots[2]; /* idle contexts of [0] synchronous and [1] async calls */
	pthread_cond_t  idle;        /* signalled when pending drops to 0 (close waits for it) */
	int             timeout_ms;
	int             resend_ms;
	char            url[256];
};

/*
 * nng 1.5.2 (fixed in 1.6.0, nng#1518): when the peer closes an ipc
 * connection before the SP handshake is done (e.g. the server was killed
 * just after accepting it), the handshake fails with NNG_ECLOSED and the
 * dialer never dials again, so every later call fails "not reachable". A
 * request that could not even be sent within the deadline means there was
 * no connection: start a fresh dialer (at most once a second), drop the old.
 *
 * The swap runs on the client's own thread, never on the caller's:
 * rv_to_err is also reached from async completions on nng's taskq threads,
 * and nng_dialer_close waits for the dialer's callbacks, which need a taskq
 * thread — with four async calls timing out at once every taskq thread was
 * stuck (one in nng_dialer_close, three on c->mu) and nothing completed again.
 */
static void *redial_main(void *arg)
{
	sb_client *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->closing) {
		if (!c->redial_wanted) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		c->redial_wanted = false;
		nng_dialer old = c->dialer, fresh;
		pthread_mutex_unlock(&c->mu); /* only this thread changes c->dialer after open */
		bool ok = nng_dial(c->sock, c->url, &fresh, NNG_FLAG_NONBLOCK) == 0;
		if (ok) {
			nng_dialer_close(old);
			sb_warn("rpc.redial", "url=%s", c->url);
		}
		pthread_mutex_lock(&c->mu);
		if (ok)
			c->dialer = fresh;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Ask for a fresh dialer (at most once a second); never blocks. */
static void client_redial(sb_client *c)
{
	pthread_mutex_lock(&c->mu);
	int64_t now = sb_mono_ms();
	if (now - c->last_redial >= 1000 && !c->closing) {
		c->last_redial = now;
		c->redial_wanted = true;
		if (!c->has_redialer)
			c->has_redialer = pthread_create(&c->redialer, NULL, redial_main, c) == 0;
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/*
 * Calls into nng on the client's contexts (open, send, receive, close) are
 * counted, and none starts once sb_client_close has begun, which waits for
 * those under way before it closes the socket (see the top of this file).
 * true: go ahead, then client_leave; false: the client is closing.
 */
static bool client_enter(sb_client *c)
{
	atomic_fetch_add(&c->in_nng, 1);
	if (!atomic_load(&c->closing))
		return true;
	atomic_fetch_sub(&c->in_nng, 1);
	return false;
}

static void client_leave(sb_client *c)
{
	atomic_fetch_sub(&c->in_nng, 1);
}

sb_client *sb_client_open(const char *url, const sb_client_opts *opts, sb_error *err)
{
	sb_client *c = calloc(1, sizeof *c);
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
	c->resend_ms = opts && opts->resend_ms > 0 ? opts->resend_ms : 2000;
	snprintf(c->url, sizeof c->url, "%s", url ? url : "");
	int rv = nng_req0_open(&c->sock);
	if (rv == 0) {
		nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
		nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
		rv = nng_dial(c->sock, c->url, &c->dialer, NNG_FLAG_NONBLOCK);
	}
	if (rv != 0) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "cannot dial %s: %s", c->url, nng_strerror(rv));
		nng_close(c->sock);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->idle, NULL);
	c->last_redial = sb_mono_ms();
	return c;
}

void sb_client_close(sb_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->has_redialer)
		pthread_join(c->redialer, NULL);
	while (atomic_load(&c->in_nng) > 0) /* no new call starts now; let those under way return */
		sched_yield();
	nng_close(c->sock); /* outstanding async calls now fail; wait until their callbacks are done with c */
	pthread_mutex_lock(&c->mu);
	while (c->pending > 0)
		pthread_cond_wait(&c->idle, &c->mu);
	pthread_mutex_unlock(&c->mu);
	for (int k = 0; k < 2; k++) {
		for (struct slot *sl = c->idle_slots[k].head, *next; sl; sl = next) {
			next = sl->next;
			nng_aio_free(sl->aio); /* waits for a callback still returning; the contexts went with the socket */
			nng_aio_free(sl->now);
			free(sl);
		}
	}
	pthread_cond_destroy(&c->idle);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

const char *sb_client_url(const sb_client *c)
{
	return c->url;
}

static int rv_to_err(sb_client *c, int rv, int sending, sb_error *err)
{
	if (rv == NNG_ETIMEDOUT && sending)
		client_redial(c);
	if (rv == NNG_ETIMEDOUT && sending)
		return sb_error_set(err, SB_UNAVAILABLE, "%s is not reachable", c->url);
	if (rv == NNG_ETIMEDOUT)
		return sb_error_set(err, SB_DEADLINE_EXCEEDED, "%s did not answer within %d ms", c->url,
				    c->timeout_ms);
	return sb_error_set(err, SB_UNAVAILABLE, "%s: %s", c->url, nng_strerror(rv));
}

static void acall_cb(void *arg);

/*
 * A call's context and aio, kept for the next call of the same kind (sync
 * or async: their aios differ in the callback): opening a context and
 * allocating an aio on every call cost locks, allocations, a random-number
 * syscall (nng 1.5.2 draws one per aio) and, for async calls, a wake-up of
 * nng's reaper thread. Reuse is safe because a slot goes back only once its
 * call is over: the reply was received, or the call failed (a timed-out
 * request on a context is cancelled by the next request on it, and nng drops
 * its late reply). An async slot goes back from its own aio's callback, as
 * its last touch of the slot; a caller that picks it up at once may start the
 * next operation before that callback has returned, which nng allows (the
 * aio counts both), and sb_client_close frees idle aios only after waiting
 * for the callbacks (nng_aio_free waits for a callback still returning).
 *
 * slot_get: an idle slot of the kind, or a new one; NULL if none can be
 * opened. Call it with the client entered (client_enter).
 */
static struct slot *slot_get(sb_client *c, bool async)
{
	struct slot_list *l = &c->idle_slots[async];
	pthread_mutex_lock(&c->mu);
	struct slot *sl = l->head;
	if (sl) {
		l->head = sl->next;
		l->n--;
	}
	pthread_mutex_unlock(&c->mu);
	if (sl)
		return sl;
	if (!(sl = calloc(1, sizeof *sl)))
		return NULL;
	sl->c = c;
	sl->async = async;
	if (nng_ctx_open(&sl->ctx, c->sock) != 0) {
		free(sl);
		return NULL;
	}
	if (nng_aio_alloc(&sl->aio, async ? acall_cb : NULL, sl) != 0 ||
	    (async && nng_aio_alloc(&sl->now, NULL, NULL) != 0)) {
		nng_aio_free(sl->aio);
		nng_ctx_close(sl->ctx);
		free(sl);
		return NULL;
	}
	nng_ctx_set_ms(sl->ctx, NNG_OPT_REQ_RESENDTIME, c->resend_ms);
	return sl;
}

/* Keep sl for the next call, or free it when enough are idle already (closing: close frees it). */
static void slot_put(sb_client *c, struct slot *sl)
{
	struct slot_list *l = &c->idle_slots[sl->async];
	pthread_mutex_lock(&c->mu);
	bool keep = l->n < MAX_IDLE_SLOTS || !client_enter(c);
	if (keep) {
		sl->next = l->head;
		l->head = sl;
		l->n++;
	}
	pthread_mutex_unlock(&c->mu);
	if (keep)
		return;
	nng_ctx_close(sl->ctx);
	client_leave(c);
	if (sl->async)
		nng_aio_reap(sl->aio); /* we may be in its callback: nng frees it once that has returned */
	else
		nng_aio_free(sl->aio);
	nng_aio_free(sl->now);
	free(sl);
}

int sb_client_call_raw(sb_client *c, const void *body, size_t len, char **reply, size_t *rlen, sb_error *err)
{
	nng_msg *msg;
	int rv;
	if (!client_enter(c))
		return sb_error_set(err, SB_UNAVAILABLE, "%s: the client is closing", c->url);
	struct slot *sl = slot_get(c, false);
	if (!sl) {
		client_leave(c);
		return sb_error_set(err, SB_UNAVAILABLE, "%s: cannot open a request context", c->url);
	}
	nng_ctx ctx = sl->ctx;
	nng_aio *aio = sl->aio;
	if (nng_msg_alloc(&msg, len) != 0)
		abort();
	memcpy(nng_msg_body(msg), body, len);
	int64_t t0 = sb_mono_ms();
	nng_aio_set_timeout(aio, c->timeout_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	client_leave(c);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(msg);
		goto fail_send;
	}
	if (!client_enter(c)) {
		rv = NNG_ECLOSED;
		goto fail_recv;
	}
	int left = c->timeout_ms - (int)(sb_mono_ms() - t0);
	nng_aio_set_timeout(aio, left > 1 ? left : 1);
	nng_ctx_recv(ctx, aio);
	client_leave(c);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto fail_recv;
	msg = nng_aio_get_msg(aio);
	*rlen = nng_msg_len(msg);
	*reply = malloc(*rlen + 1);
	memcpy(*reply, nng_msg_body(msg), *rlen);
	(*reply)[*rlen] = '\0';
	nng_msg_free(msg);
	slot_put(c, sl);
	return 0;
fail_send:
	slot_put(c, sl);
	return rv_to_err(c, rv, 1, err);
fail_recv:
	slot_put(c, sl);
	return rv_to_err(c, rv, 0, err);
}

static char *encode_request(const sb_service *svc, int op, json_t *args, size_t *len)
{
	json_t *req = json_pack("{s:s,s:o}", "op", svc->ops[op].name, "args", args ? args : json_object());
	char *body = req ? sb_json_dump(req, len) : NULL;
	json_decref(req);
	return body;
}

/* Turn a raw reply into (rc, data) per the envelope. */
static int decode_reply(const char *raw, size_t len, json_t **data, sb_error *err)
{
	json_t *root = sb_json_parse(raw, len, 0, err);
	if (!root)
		return sb_error_set(err, SB_INTERNAL, "malformed reply: %s", err ? err->message : "");
	json_t *d = NULL;
	int rc = sb_json_read_reply(root, &d, err);
	if (rc == 0 && data)
		*data = json_incref(d);
	json_decref(root);
	return rc;
}

int sb_client_call(sb_client *c, const sb_service *svc, int op, json_t *args, json_t **data, sb_error *err)
{
	if (data)
		*data = NULL;
	if (!c) {
		json_decref(args); /* stolen, as on every other path */
		return sb_error_set(err, SB_UNAVAILABLE, "no client for service %s", svc->name);
	}
	size_t len;
	char *body = encode_request(svc, op, args, &len);
	if (!body)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "request could not be encoded");
	char *raw;
	size_t rlen;
	int rc = sb_client_call_raw(c, body, len, &raw, &rlen, err);
	free(body);
	if (rc < 0)
		return -1;
	rc = decode_reply(raw, rlen, data, err);
	free(raw);
	return rc;
}

/* ---- async client ---------------------------------------------------------- */

/* The call in sl is over: give the slot back, then run the callback. */
static void acall_done(struct slot *sl, int rc, json_t *data, const sb_error *err)
{
	sb_client *c = sl->c;
	sb_call_cb cb = sl->cb;
	void *arg = sl->arg;
	slot_put(c, sl); /* last touch of sl: another call may take it now */
	cb(arg, rc, data, err);
	pthread_mutex_lock(&c->mu); /* last touch of c: sb_client_close waits for this */
	if (--c->pending == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->mu);
}

static void acall_cb(void *arg)
{
	struct slot *sl = arg;
	sb_client *c = sl->c;
	int rv = nng_aio_result(sl->aio);
	sb_error err = {0};
	if (rv == 0 && sl->stage == 0) { /* sent: now the reply */
		sl->stage = 1;
		if (!client_enter(c)) {
			rv = NNG_ECLOSED;
		} else {
			int left = c->timeout_ms - (int)(sb_mono_ms() - sl->t0);
			nng_aio_set_timeout(sl->aio, left > 1 ? left : 1);
			nng_ctx_recv(sl->ctx, sl->aio);
			client_leave(c);
			return;
		}
	}
	if (rv != 0) {
		if (sl->stage == 0) { /* a request that was not sent comes back in the aio */
			nng_msg_free(nng_aio_get_msg(sl->aio));
			nng_aio_set_msg(sl->aio, NULL);
		}
		rv_to_err(c, rv, sl->stage == 0, &err);
		acall_done(sl, -1, NULL, &err);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(sl->aio);
	nng_aio_set_msg(sl->aio, NULL);
	json_t *data = NULL;
	int rc = decode_reply(nng_msg_body(msg), nng_msg_len(msg), &data, &err);
	nng_msg_free(msg);
	acall_done(sl, rc, data, &err);
}

/*
 * Send the request in msg now if the socket has a connection ready for it:
 * true once it is on its way (the reply is then awaited by sl->aio, on the
 * caller's thread, with no hand-off), false with msg untouched if not.
 *
 * With a zero timeout, nng's REQ protocol either hands the request to a
 * ready connection at once, or fails with NNG_ETIMEDOUT at once (none
 * ready: one busy writing, or none connected); either way the callback-less
 * aio is complete when nng_ctx_send returns, and the wait returns at once.
 * Sending through sl->aio instead costs a hand-off to one of nng's threads,
 * whose callback then arms the receive.
 */
static bool send_now(struct slot *sl, nng_msg *msg)
{
	nng_aio_set_timeout(sl->now, NNG_DURATION_ZERO);
	nng_aio_set_msg(sl->now, msg);
	nng_ctx_send(sl->ctx, sl->now);
	nng_aio_wait(sl->now);
	nng_aio_set_msg(sl->now, NULL); /* not sent: msg is still ours (the header nng added is rewritten by a send) */
	if (nng_aio_result(sl->now) != 0)
		return false;
	sl->stage = 1;
	nng_aio_set_timeout(sl->aio, sl->c->timeout_ms);
	nng_ctx_recv(sl->ctx, sl->aio);
	return true;
}

void sb_client_call_async(sb_client *c, const sb_service *svc, int op, json_t *args, sb_call_cb cb, void *arg)
{
	sb_error err = {0};
	size_t len;
	char *body = c ? encode_request(svc, op, args, &len) : NULL;
	bool entered = body && client_enter(c);
	struct slot *sl = entered ? slot_get(c, true) : NULL;
	if (!sl) {
		if (entered)
			client_leave(c);
		if (!c)
			json_decref(args);
		free(body);
		sb_error_set(&err, c && !body ? SB_INVALID_ARGUMENT : SB_UNAVAILABLE, "request could not be sent");
		cb(arg, -1, NULL, &err);
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->pending++;
	pthread_mutex_unlock(&c->mu);
	sl->stage = 0;
	sl->t0 = sb_mono_ms();
	sl->cb = cb;
	sl->arg = arg;
	nng_msg *msg;
	if (nng_msg_alloc(&msg, len) != 0)
		abort();
	memcpy(nng_msg_body(msg), body, len);
	free(body);
	if (!send_now(sl, msg)) {
		nng_aio_set_timeout(sl->aio, c->timeout_ms);
		nng_aio_set_msg(sl->aio, msg);
		nng_ctx_send(sl->ctx, sl->aio);
	}
	client_leave(c);
}
