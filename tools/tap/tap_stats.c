/*
 * tap_stats.c — sb-tap --stats: one report, then exit.
 *
 * Two parts:
 *  - sockets: the nng statistics tree of every socket this process owns
 *    (the SUB socket dialing the PUB sockets, and the REQ sockets used for
 *    the probes below), with each dialer's URL and outcome counters. In nng
 *    1.5.2 the socket-level rx/tx counters stay 0, so traffic is summed from
 *    the pipe-level ones, per socket and per dialer;
 *  - daemons: every daemon of SB_TOPOLOGY. Those with a request socket are
 *    asked sys.health and sys.metrics in parallel (PROBE_MS deadline each):
 *    up/down, version, uptime, and a summary of their Prometheus metrics.
 *    Those without one count as up when their PUB socket is connected.
 *
 * Before the snapshot it polls (PROBE_SETTLE_MS at most) until every dialer
 * of the SUB socket has either connected or failed once, so the counters
 * describe the daemons as they are rather than "not tried yet".
 *
 * The report is built as one JSON document: --json prints it as is, the
 * text form is rendered from it.
 */
#include <nng/nng.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_json.h"
#include "sb_rpc.h"
#include "sb_schema_gen.h"
#include "sb_time.h"
#include "sb_topology.h"
#include "tap.h"

#define PROBE_MS        500 /* deadline of one sys.* call */
#define PROBE_SETTLE_MS 300 /* longest wait for the SUB dialers' first outcome */
#define MAX_DAEMONS     16

struct probes;

/* One sys.* call in flight; its callback fills the probe. */
typedef struct probe_call {
	struct probes *all;
	struct probe  *p;
	int            op; /* SB_SYS_SYS_HEALTH or SB_SYS_SYS_METRICS */
} probe_call;

/* One daemon of the topology and what it answered. */
typedef struct probe {
	const sb_endpoint *ep;
	char        request[1024], events[1024]; /* expanded URLs ("" = none) */
	sb_client  *client;
	json_t     *health, *metrics; /* owned replies, NULL when the call failed */
	char        error[256];
	probe_call  calls[2];
} probe;

typedef struct probes {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int             pending;
	int             n;
	probe           p[MAX_DAEMONS];
} probes;

/* ---- probes: sys.health + sys.metrics of every daemon, in parallel ----- */

static void call_done(void *arg, int rc, json_t *data, const sb_error *err)
{
	probe_call *c = arg;
	pthread_mutex_lock(&c->all->mu);
	if (rc == 0 && c->op == SB_SYS_SYS_HEALTH)
		c->p->health = data;
	else if (rc == 0)
		c->p->metrics = data;
	else if (!c->p->error[0])
		snprintf(c->p->error, sizeof c->p->error, "%s", err && err->message[0] ? err->message : "failed");
	if (--c->all->pending == 0)
		pthread_cond_signal(&c->all->cv);
	pthread_mutex_unlock(&c->all->mu);
}

/* Open a client to p's request socket and send both sys ops. */
static void probe_start(probes *ps, probe *p)
{
	sb_client_opts o = {.timeout_ms = PROBE_MS, .resend_ms = PROBE_MS * 2};
	sb_error err = {0};
	if (!(p->client = sb_client_open(p->request, &o, &err))) {
		snprintf(p->error, sizeof p->error, "%s", err.message);
		return;
	}
	static const int ops[2] = {SB_SYS_SYS_HEALTH, SB_SYS_SYS_METRICS};
	pthread_mutex_lock(&ps->mu);
	ps->pending += 2;
	pthread_mutex_unlock(&ps->mu);
	for (int i = 0; i < 2; i++) {
		p->calls[i] = (probe_call){.all = ps, .p = p, .op = ops[i]};
		sb_client_call_async(p->client, &SB_SVC_SYS, ops[i], NULL, call_done, &p->calls[i]);
	}
}

static probes *probes_start(const char *run_dir)
{
	probes *ps = calloc(1, sizeof *ps);
	if (!ps)
		abort();
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cv, NULL);
	for (size_t i = 0; i < SB_TOPOLOGY_LEN && ps->n < MAX_DAEMONS; i++) {
		probe *p = &ps->p[ps->n++];
		p->ep = &SB_TOPOLOGY[i];
		if (p->ep->events)
			sb_topology_url(p->ep->events, run_dir, p->events, sizeof p->events);
		if (p->ep->request) {
			sb_topology_url(p->ep->request, run_dir, p->request, sizeof p->request);
			probe_start(ps, p);
		}
	}
	return ps;
}

/* Wait for every call to complete (each has its own deadline). */
static void probes_wait(probes *ps)
{
	pthread_mutex_lock(&ps->mu);
	while (ps->pending > 0)
		pthread_cond_wait(&ps->cv, &ps->mu);
	pthread_mutex_unlock(&ps->mu);
}

static void probes_free(probes *ps)
{
	for (int i = 0; i < ps->n; i++) {
		sb_client_close(ps->p[i].client);
		json_decref(ps->p[i].health);
		json_decref(ps->p[i].metrics);
	}
	pthread_cond_destroy(&ps->cv);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

/* ---- the nng statistics tree ---------------------------------------------- */

static nng_stat *stat_child(nng_stat *scope, const char *name)
{
	for (nng_stat *c = nng_stat_child(scope); c; c = nng_stat_next(c))
		if (strcmp(nng_stat_name(c), name) == 0)
			return c;
	return NULL;
}

/* A numeric child of scope, 0 when absent. */
static uint64_t stat_u(nng_stat *scope, const char *name)
{
	nng_stat *c = stat_child(scope, name);
	if (!c || nng_stat_type(c) == NNG_STAT_STRING || nng_stat_type(c) == NNG_STAT_SCOPE)
		return 0;
	return nng_stat_value(c);
}

static bool is_scope(nng_stat *s, const char *kind)
{
	return strcmp(nng_stat_name(s), kind) == 0;
}

/* Every statistic of one scope as a JSON object, under nng's names. */
static json_t *scope_json(nng_stat *scope)
{
	json_t *o = json_object();
	for (nng_stat *c = nng_stat_child(scope); c; c = nng_stat_next(c)) {
		int t = nng_stat_type(c);
		if (t == NNG_STAT_STRING)
			json_object_set_new(o, nng_stat_name(c), sb_json_string_or_null(nng_stat_string(c)));
		else if (t == NNG_STAT_BOOLEAN)
			json_object_set_new(o, nng_stat_name(c), json_boolean(nng_stat_bool(c)));
		else if (t != NNG_STAT_SCOPE)
			json_object_set_new(o, nng_stat_name(c), json_integer((json_int_t)nng_stat_value(c)));
	}
	return o;
}

/* Set o's traffic to the sum over the pipes of socket sock (of dialer d only, when d != 0). */
static void sum_pipes(json_t *o, nng_stat *root, uint64_t sock, uint64_t d)
{
	static const char *const keys[4] = {"rx_msgs", "rx_bytes", "tx_msgs", "tx_bytes"};
	uint64_t sum[4] = {0};
	for (nng_stat *c = nng_stat_child(root); c; c = nng_stat_next(c)) {
		if (!is_scope(c, "pipe") || stat_u(c, "socket") != sock || (d && stat_u(c, "dialer") != d))
			continue;
		for (int k = 0; k < 4; k++)
			sum[k] += stat_u(c, keys[k]);
	}
	for (int k = 0; k < 4; k++)
		json_object_set_new(o, keys[k], json_integer((json_int_t)sum[k]));
}

/* One socket: its own statistics, its dialers, traffic summed from its pipes. */
static json_t *socket_json(nng_stat *root, nng_stat *sock)
{
	uint64_t id = stat_u(sock, "id");
	json_t *o = scope_json(sock), *dialers = json_array();
	for (nng_stat *c = nng_stat_child(root); c; c = nng_stat_next(c)) {
		if (!is_scope(c, "dialer") || stat_u(c, "socket") != id)
			continue;
		json_t *d = scope_json(c);
		sum_pipes(d, root, id, stat_u(c, "id"));
		json_array_append_new(dialers, d);
	}
	sum_pipes(o, root, id, 0);
	json_object_set_new(o, "dialers", dialers);
	return o;
}

static json_t *sockets_json(nng_stat *root)
{
	json_t *a = json_array();
	for (nng_stat *c = nng_stat_child(root); c; c = nng_stat_next(c))
		if (is_scope(c, "socket"))
			json_array_append_new(a, socket_json(root, c));
	return a;
}

/* true once every dialer of socket sock has an outcome (a pipe, or any counter moved). */
static bool dialers_settled(nng_stat *root, uint64_t sock)
{
	for (nng_stat *d = nng_stat_child(root); d; d = nng_stat_next(d)) {
		if (!is_scope(d, "dialer") || stat_u(d, "socket") != sock)
			continue;
		bool moved = stat_u(d, "pipes") > 0;
		for (nng_stat *c = nng_stat_child(d); c && !moved; c = nng_stat_next(c))
			moved = nng_stat_type(c) == NNG_STAT_COUNTER && nng_stat_value(c) > 0;
		if (!moved)
			return false;
	}
	return true;
}

/* Poll the statistics until the SUB dialers settle or limit_ms passes. */
static void wait_dialers(uint64_t sock, int limit_ms)
{
	int64_t until = sb_mono_ms() + limit_ms;
	for (;;) {
		nng_stat *root = NULL;
		bool done = nng_stats_get(&root) != 0 || dialers_settled(root, sock);
		nng_stats_free(root);
		if (done || sb_mono_ms() >= until)
			return;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
}

/* 1 if a dialer of socket sock for url has a pipe, 0 if not, -1 if the tap does not dial url. */
static int url_connected(nng_stat *root, uint64_t sock, const char *url)
{
	for (nng_stat *d = nng_stat_child(root); d; d = nng_stat_next(d)) {
		nng_stat *u = is_scope(d, "dialer") && stat_u(d, "socket") == sock ? stat_child(d, "url") : NULL;
		if (u && nng_stat_type(u) == NNG_STAT_STRING && strcmp(nng_stat_string(u), url) == 0)
			return stat_u(d, "pipes") > 0;
	}
	return -1;
}

/* ---- daemons ---------------------------------------------------------------- */

/* Fold one Prometheus text line into the summary counters. */
static void metric_line(const char *line, size_t len, long *fam, long *series, double *rpc, double *pub)
{
	if (len > 7 && strncmp(line, "# TYPE ", 7) == 0)
		(*fam)++;
	if (len == 0 || line[0] == '#')
		return;
	(*series)++;
	char *copy = strndup(line, len), *sp = strrchr(copy, ' ');
	size_t nlen = strcspn(copy, "{ ");
	double v = sp ? strtod(sp + 1, NULL) : 0;
	if (nlen == strlen("sb_rpc_requests_total") && strncmp(copy, "sb_rpc_requests_total", nlen) == 0)
		*rpc += v;
	if (nlen == strlen("sb_events_published_total") && strncmp(copy, "sb_events_published_total", nlen) == 0)
		*pub += v;
	free(copy);
}

/* {families, series, rpcRequests, eventsPublished} of a Prometheus text exposition. */
static json_t *metrics_summary(const char *text)
{
	long fam = 0, series = 0;
	double rpc = 0, pub = 0;
	for (const char *line = text ? text : ""; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		metric_line(line, len, &fam, &series, &rpc, &pub);
		line += len + (nl ? 1 : 0);
	}
	return json_pack("{s:i,s:i,s:I,s:I}", "families", (int)fam, "series", (int)series, "rpcRequests",
			 (json_int_t)rpc, "eventsPublished", (json_int_t)pub);
}

/* up / down: by health when the daemon has a request socket, else by its PUB connection. */
static const char *daemon_status(const probe *p, int connected)
{
	if (p->ep->request)
		return p->health ? "up" : "down";
	return connected > 0 ? "up" : connected == 0 ? "down" : "unknown";
}

static json_t *daemon_json(const probe *p, nng_stat *root, uint64_t sub)
{
	int conn = root && p->events[0] ? url_connected(root, sub, p->events) : -1;
	json_t *o = json_pack("{s:s,s:s}", "daemon", p->ep->daemon, "status", daemon_status(p, conn));
	json_object_set_new(o, "request", p->request[0] ? json_string(p->request) : json_null());
	json_object_set_new(o, "events", p->events[0] ? json_string(p->events) : json_null());
	json_object_set_new(o, "eventsConnected", conn < 0 ? json_null() : json_boolean(conn));
	if (p->health) {
		json_object_set(o, "version", json_object_get(p->health, "version"));
		json_object_set(o, "uptimeMs", json_object_get(p->health, "uptimeMs"));
	}
	if (p->metrics)
		json_object_set_new(o, "metrics", metrics_summary(json_string_value(json_object_get(p->metrics, "text"))));
	if (!p->health && p->error[0])
		json_object_set_new(o, "error", json_string(p->error));
	return o;
}

/* The whole report; the statistics snapshot is taken while the probe sockets are still open. */
static json_t *build_report(const tap_config *cfg, const probes *ps, uint64_t sub)
{
	nng_stat *root = NULL;
	json_t *daemons = json_array();
	int rv = nng_stats_get(&root);
	for (int i = 0; i < ps->n; i++)
		json_array_append_new(daemons, daemon_json(&ps->p[i], rv == 0 ? root : NULL, sub));
	json_t *r = json_pack("{s:s,s:I,s:o,s:o}", "runDir", cfg->run_dir, "subSocket", (json_int_t)sub,
			      "sockets", rv == 0 ? sockets_json(root) : json_array(), "daemons", daemons);
	nng_stats_free(root);
	return r;
}

/* ---- text rendering ----------------------------------------------------------- */

static long long ji(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *js(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void print_socket(const json_t *s, long long sub)
{
	printf("  socket %lld %s%s pipes=%lld rx_msgs=%lld rx_bytes=%lld tx_msgs=%lld tx_bytes=%lld\n",
	       ji(s, "id"), js(s, "protocol"), ji(s, "id") == sub ? " (events)" : "", ji(s, "pipes"),
	       ji(s, "rx_msgs"), ji(s, "rx_bytes"), ji(s, "tx_msgs"), ji(s, "tx_bytes"));
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(s, "dialers"), i, d)
		printf("    dialer %lld %s pipes=%lld connect=%lld refused=%lld disconnect=%lld "
		       "rx_msgs=%lld rx_bytes=%lld\n",
		       ji(d, "id"), js(d, "url"), ji(d, "pipes"), ji(d, "connect"), ji(d, "refused"),
		       ji(d, "disconnect"), ji(d, "rx_msgs"), ji(d, "rx_bytes"));
}

/* "3.2s", "5m03s", "2h05m". */
static void fmt_uptime(long long ms, char *buf, size_t len)
{
	long long s = ms / 1000;
	if (s < 60)
		snprintf(buf, len, "%lld.%llds", s, (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%lldh%02lldm", s / 3600, (s / 60) % 60);
}

static void print_daemon(const json_t *d)
{
	printf("  %-16s %-5s", js(d, "daemon"), js(d, "status"));
	if (json_object_get(d, "uptimeMs")) {
		char up[32];
		fmt_uptime(ji(d, "uptimeMs"), up, sizeof up);
		printf(" version=%s uptime=%s", js(d, "version"), up);
	}
	const json_t *m = json_object_get(d, "metrics");
	if (m)
		printf(" metric_families=%lld rpc_requests=%lld events_published=%lld", ji(m, "families"),
		       ji(m, "rpcRequests"), ji(m, "eventsPublished"));
	const json_t *ec = json_object_get(d, "eventsConnected");
	if (json_is_boolean(ec))
		printf(" events=%s", json_is_true(ec) ? "connected" : "not-connected");
	if (json_object_get(d, "error"))
		printf(" error=\"%s\"", js(d, "error"));
	putchar('\n');
}

static void print_text(const json_t *r)
{
	size_t i;
	json_t *v;
	printf("sb-tap statistics (run dir %s)\nsockets of this tap:\n", js(r, "runDir"));
	json_array_foreach(json_object_get(r, "sockets"), i, v)
		print_socket(v, ji(r, "subSocket"));
	printf("daemons:\n");
	json_array_foreach(json_object_get(r, "daemons"), i, v)
		print_daemon(v);
}

int tap_stats_run(const tap_config *cfg, sb_sub *sub)
{
	uint64_t sid = (uint64_t)sb_sub_socket_id(sub);
	probes *ps = probes_start(cfg->run_dir);
	wait_dialers(sid, PROBE_SETTLE_MS);
	probes_wait(ps);
	json_t *report = build_report(cfg, ps, sid);
	probes_free(ps);
	if (cfg->json) {
		char *s = sb_json_dump(report, NULL);
		if (s)
			puts(s);
		free(s);
	} else
		print_text(report);
	json_decref(report);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}
