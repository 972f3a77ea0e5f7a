/*
 * tap_stream.c — the tap's one receiving thread.
 *
 * Receives from the SUB socket (topic prefixes are already filtered by the
 * socket's subscriptions), keeps the events whose callSid matches --call-sid,
 * prints each as one line on stdout and flushes it, so a pipe reader sees it
 * at once. It ends the tap by asking the skeleton to stop (as on SIGTERM):
 *
 *   --count N reached                      → exit 0
 *   no matching event for --timeout ms     → exit 1 (with --no-follow: 0)
 *   stdout closed (reader went away)       → exit 0
 *
 * It polls the socket in short slices so fini can stop and join it before
 * the socket is closed; nothing else touches the socket meanwhile.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_daemon.h"
#include "sb_log.h"
#include "sb_time.h"
#include "tap.h"

#define SLICE_MS 100         /* longest a stop request waits */
#define NOFOLLOW_QUIET_MS 1000 /* --no-follow without --timeout */

struct tap_stream {
	const tap_config *cfg;  /* borrowed */
	sb_sub           *sub;  /* borrowed */
	pthread_t         thread;
	atomic_bool       stop;
	int               exit_code; /* written by the thread, read after join */
	long              shown;
};

/* How long the tap may stay quiet before it ends (0 = forever). */
static long quiet_limit(const tap_config *cfg)
{
	if (!cfg->follow && cfg->timeout_ms <= 0)
		return NOFOLLOW_QUIET_MS;
	return cfg->timeout_ms;
}

/* End the tap with code: record it and stop the daemon like SIGTERM does. */
static void finish(tap_stream *s, int code)
{
	s->exit_code = code;
	atomic_store(&s->stop, true);
	sb_daemon_stop();
}

/* Print one line and flush; false if stdout is gone. */
static bool emit(const char *line)
{
	if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
		return false;
	return true;
}

/* Filter and print one event; true if it matched (and was printed). */
static bool show(tap_stream *s, const char *topic, const char *raw)
{
	tap_event ev;
	tap_event_parse(&ev, topic, raw, sb_now_ms());
	bool match = tap_event_has_sid(&ev, s->cfg->call_sid);
	char *line = match ? tap_event_line(&ev, s->cfg->json) : NULL;
	tap_event_clear(&ev);
	if (line && !emit(line)) {
		sb_info("tap.output_closed", NULL);
		finish(s, 0);
	}
	free(line);
	return match;
}

/* What to do after a matching event: stop when --count is reached. */
static void counted(tap_stream *s)
{
	s->shown++;
	if (s->cfg->count > 0 && s->shown >= s->cfg->count && !atomic_load(&s->stop)) {
		sb_info("tap.count_reached", "count=%ld", s->shown);
		finish(s, 0);
	}
}

/* Milliseconds to wait in the next receive, or 0 when the quiet limit has passed. */
static int next_wait(const tap_stream *s, int64_t quiet_since)
{
	long limit = quiet_limit(s->cfg);
	if (limit <= 0)
		return SLICE_MS;
	int64_t left = quiet_since + limit - sb_mono_ms();
	if (left <= 0)
		return 0;
	return left < SLICE_MS ? (int)left : SLICE_MS;
}

/* Called when the quiet limit passes. */
static void quiet_end(tap_stream *s)
{
	if (s->cfg->follow) {
		sb_warn("tap.timeout", "ms=%ld shown=%ld", quiet_limit(s->cfg), s->shown);
		finish(s, 1);
	} else {
		sb_info("tap.quiet", "ms=%ld shown=%ld", quiet_limit(s->cfg), s->shown);
		finish(s, 0);
	}
}

static void *stream_main(void *arg)
{
	tap_stream *s = arg;
	int64_t quiet_since = sb_mono_ms();
	while (!atomic_load(&s->stop)) {
		int wait = next_wait(s, quiet_since);
		if (wait == 0) {
			quiet_end(s);
			break;
		}
		char *topic = NULL, *raw = NULL;
		int rc = sb_sub_recv(s->sub, wait, &topic, &raw);
		if (rc < 0) {
			sb_error_log("tap.recv_failed", NULL);
			finish(s, 1);
		} else if (rc == 0 && show(s, topic, raw)) {
			quiet_since = sb_mono_ms();
			counted(s);
		}
		free(topic);
		free(raw);
	}
	return NULL;
}

tap_stream *tap_stream_start(const tap_config *cfg, sb_sub *sub)
{
	tap_stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->cfg = cfg;
	s->sub = sub;
	atomic_init(&s->stop, false);
	if (pthread_create(&s->thread, NULL, stream_main, s) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

int tap_stream_stop(tap_stream *s)
{
	if (!s)
		return 0;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	int code = s->exit_code;
	free(s);
	return code;
}
