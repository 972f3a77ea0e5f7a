/*
 * tap.h — the parts of sb-tap and how they hand work to each other.
 *
 * tap.c         main, flag table, wiring (init/fini hooks of the skeleton)
 * tap_stream.c  the receiving thread: filter, print, count, time out
 * tap_format.c  one event → one line (human key=value or JSON)
 * tap_stats.c   --stats: nng statistics of the tap's sockets plus every
 *               daemon's sys.health / sys.metrics summary
 *
 * Private to tools/tap/; nothing here is part of libsbcommon.
 */
#ifndef SB_TAP_H
#define SB_TAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sb_events.h"

#define TAP_MAX_URLS   32
#define TAP_MAX_TOPICS 32
#define TAP_MAX_BODY   (1 << 20) /* larger bodies are shown raw, not parsed */

/* The effective configuration, resolved from flags (read-only after init). */
typedef struct tap_config {
	char      *urls[TAP_MAX_URLS];     /* owned; PUB sockets to dial */
	int        nurls;
	char      *topics[TAP_MAX_TOPICS]; /* owned; topic prefixes, none = all */
	int        ntopics;
	const char *call_sid;              /* borrowed from the flag; NULL = any */
	const char *run_dir;               /* borrowed; for the topology defaults */
	bool       json, follow;
	long       count, timeout_ms;
} tap_config;

/* One received event: topic and raw body borrowed, parsed body owned. */
typedef struct tap_event {
	const char *topic;
	const char *raw;
	json_t     *body;        /* NULL when the body is not a JSON object */
	char        why[256];    /* parse error when body is NULL */
	int64_t     received_ms; /* wall clock */
} tap_event;

/* tap_format.c */
/* Parse raw into ev (never fails: a malformed body is kept raw with a reason). */
void tap_event_parse(tap_event *ev, const char *topic, const char *raw, int64_t received_ms);
/* Release what tap_event_parse allocated. */
void tap_event_clear(tap_event *ev);
/* true if the event's body has "callSid" equal to sid (sid NULL: always). */
bool tap_event_has_sid(const tap_event *ev, const char *sid);
/* The event as one line without newline (malloc'd): JSON or human. */
char *tap_event_line(const tap_event *ev, bool json);

/* tap_stream.c */
typedef struct tap_stream tap_stream;
/* Start the thread that receives from sub (borrowed) and prints to stdout. NULL on failure. */
tap_stream *tap_stream_start(const tap_config *cfg, sb_sub *sub);
/* Stop and join the thread, free it; returns the exit code it decided (0 or 1). */
int tap_stream_stop(tap_stream *s);

/* tap_stats.c */
/* Print statistics once (JSON or text) to stdout; 0, or -1 if stdout failed. */
int tap_stats_run(const tap_config *cfg, sb_sub *sub);

#endif
