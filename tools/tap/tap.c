/*
 * tap.c — sb-tap, the monitoring tap: main, flags and wiring.
 *
 * Dials one or more PUB sockets (default: every daemon's events socket in
 * SB_TOPOLOGY under --run-dir) with one SUB socket and prints the events
 * live, as text for people or as JSON lines for programs. Dials are
 * non-blocking and nng redials on its own, so the tap runs with any subset
 * of daemons up and picks the others up as they start or restart.
 * --stats prints statistics once instead (tap_stats.c).
 *
 * It is a tool but uses the daemon skeleton all the same (flags with env
 * fallbacks, generated --help, logging on stderr, SIGINT/SIGTERM): init
 * opens the socket and starts the receiving thread (tap_stream.c), fini
 * joins it and frees everything. Exit codes: 0 on a signal or --count
 * reached, 1 on --timeout (or a failure to start), 2 on bad flags.
 */
#include <ctype.h>
#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_daemon.h"
#include "sb_log.h"
#include "sb_topology.h"
#include "tap.h"

static struct {
	char *urls, *topics, *call_sid;
	bool  json, follow, stats;
	long  count, timeout_ms;
} opt;

static const sb_flag flags[] = {
	{"url", "SB_TAP_URLS", SB_FLAG_STR, NULL,
	 "PUB sockets to dial, comma-separated (unset: every daemon's events socket under --run-dir)",
	 &opt.urls, 0, 0, false},
	{"topic", "SB_TAP_TOPICS", SB_FLAG_STR, NULL,
	 "show only topics starting with one of these comma-separated prefixes (unset: all)",
	 &opt.topics, 0, 0, false},
	{"call-sid", "SB_TAP_CALL_SID", SB_FLAG_STR, NULL,
	 "show only events whose body has this \"callSid\"", &opt.call_sid, 0, 0, false},
	{"json", "SB_TAP_JSON", SB_FLAG_BOOL, "false",
	 "print one JSON object per line: {\"topic\",\"body\",\"received\"}", &opt.json, 0, 0, false},
	{"count", "SB_TAP_COUNT", SB_FLAG_INT, "0",
	 "exit 0 after this many matching events (0: no limit)", &opt.count, 0, 1000000000, false},
	{"timeout", "SB_TAP_TIMEOUT", SB_FLAG_INT, "0",
	 "exit 1 when no matching event arrived for this many ms (0: wait forever)", &opt.timeout_ms, 0,
	 86400000, false},
	{"follow", "SB_TAP_FOLLOW", SB_FLAG_BOOL, "true",
	 "keep streaming; --no-follow exits 0 once quiet for --timeout ms (1000 if 0)", &opt.follow, 0, 0,
	 false},
	{"stats", "SB_TAP_STATS", SB_FLAG_BOOL, "false",
	 "print the tap's nng socket statistics and every daemon's health and metrics, then exit",
	 &opt.stats, 0, 0, false},
	SB_FLAGS_END,
};

static struct {
	tap_config  cfg;
	sb_sub     *sub;
	tap_stream *stream;
	int         exit_code;
	bool        bad_flags; /* init found a flag unusable: exit 2, not 1 */
} tap;

/* Split a comma-separated list into owned, trimmed, non-empty items; -1 if more than max. */
static int split_list(const char *list, char **out, int max, int *n)
{
	*n = 0;
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *b = p, *e = p + len;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e > b && *n == max)
			return -1;
		if (e > b)
			out[(*n)++] = strndup(b, (size_t)(e - b));
		p = end ? end + 1 : p + len;
	}
	return 0;
}

/* Every daemon's PUB socket from the topology table, expanded with the run dir. */
static void default_urls(tap_config *c)
{
	char buf[1024];
	c->nurls = 0;
	for (size_t i = 0; i < SB_TOPOLOGY_LEN && c->nurls < TAP_MAX_URLS; i++)
		if (SB_TOPOLOGY[i].events)
			c->urls[c->nurls++] = strdup(sb_topology_url(SB_TOPOLOGY[i].events, c->run_dir, buf, sizeof buf));
}

static void free_config(tap_config *c)
{
	for (int i = 0; i < c->nurls; i++)
		free(c->urls[i]);
	for (int i = 0; i < c->ntopics; i++)
		free(c->topics[i]);
	memset(c, 0, sizeof *c);
}

/*
 * Every URL must parse (a typo is a config error, not a silent no-show).
 * Only the syntax here: anything that starts nng's threads must wait for
 * init, after the skeleton has blocked the signals they would inherit. A
 * scheme nng cannot dial is caught when init opens the socket.
 */
static int check_urls(const tap_config *c)
{
	for (int i = 0; i < c->nurls; i++) {
		nng_url *u = NULL;
		int rv = nng_url_parse(&u, c->urls[i]);
		if (u)
			nng_url_free(u);
		if (rv != 0) {
			fprintf(stderr, "sb-tap: --url: \"%s\" is not a valid URL: %s\n", c->urls[i], nng_strerror(rv));
			return -1;
		}
	}
	return 0;
}

/* Build the effective configuration from the flags; -1 (message printed) if it is unusable. */
static int load_config(tap_config *c)
{
	memset(c, 0, sizeof *c);
	c->run_dir = sb_run_dir();
	c->call_sid = opt.call_sid;
	c->json = opt.json;
	c->follow = opt.follow;
	c->count = opt.count;
	c->timeout_ms = opt.timeout_ms;
	if (split_list(opt.urls, c->urls, TAP_MAX_URLS, &c->nurls) < 0) {
		fprintf(stderr, "sb-tap: --url: at most %d URLs\n", TAP_MAX_URLS);
		return -1;
	}
	if (c->nurls == 0)
		default_urls(c);
	if (split_list(opt.topics, c->topics, TAP_MAX_TOPICS, &c->ntopics) < 0) {
		fprintf(stderr, "sb-tap: --topic: at most %d prefixes\n", TAP_MAX_TOPICS);
		return -1;
	}
	return check_urls(c);
}

static int tap_check(void *ctx)
{
	tap_config c;
	int rc = load_config(&c);
	free_config(&c);
	return rc;
}

/* Log when a daemon's PUB socket connects or goes away (runs on an nng thread; logs only). */
static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	char *url = NULL;
	if (nng_dialer_get_string(nng_pipe_dialer(p), NNG_OPT_URL, &url) != 0)
		return;
	if (ev == NNG_PIPE_EV_ADD_POST)
		sb_info("tap.connected", "url=%s", url);
	else
		sb_info("tap.disconnected", "url=%s", url);
	nng_strfree(url);
}

static void watch_pipes(sb_sub *sub)
{
	nng_socket s = {.id = (uint32_t)sb_sub_socket_id(sub)};
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, pipe_event, NULL);
	nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_event, NULL);
}

static int tap_init(void *ctx)
{
	sb_error err = {0};
	if (load_config(&tap.cfg) < 0)
		return -1;
	tap.sub = sb_sub_open((const char *const *)tap.cfg.urls, tap.cfg.nurls,
			      (const char *const *)tap.cfg.topics, tap.cfg.ntopics, &err);
	if (!tap.sub) { /* the URLs parsed, so nng refused one of them: bad flags */
		fprintf(stderr, "sb-tap: --url: %s\n", err.message);
		tap.bad_flags = true;
		return -1;
	}
	watch_pipes(tap.sub);
	if (opt.stats) {
		tap.exit_code = tap_stats_run(&tap.cfg, tap.sub) < 0 ? 1 : 0;
		sb_daemon_stop();
		return 0;
	}
	if (!(tap.stream = tap_stream_start(&tap.cfg, tap.sub))) {
		sb_error_log("tap.thread_failed", NULL);
		return -1;
	}
	sb_info("tap.subscribed", "urls=%d topics=%d json=%d", tap.cfg.nurls, tap.cfg.ntopics, (int)tap.cfg.json);
	return 0;
}

static void tap_fini(void *ctx)
{
	if (tap.stream)
		tap.exit_code = tap_stream_stop(tap.stream);
	tap.stream = NULL;
	sb_sub_close(tap.sub);
	tap.sub = NULL;
	free_config(&tap.cfg);
}

int main(int argc, char **argv)
{
	sb_daemon d = {
		.name = "sb-tap",
		.summary = "monitoring tap: prints every daemon's events live; --stats shows socket statistics",
		.flags = flags,
		.check = tap_check,
		.init = tap_init,
		.fini = tap_fini,
	};
	int rc = sb_daemon_main(&d, argc, argv);
	if (tap.bad_flags)
		return 2;
	return rc == 0 ? tap.exit_code : rc;
}
