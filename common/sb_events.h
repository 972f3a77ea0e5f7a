/*
 * sb_events.h — PUB/SUB notifications (DESIGN.md: "<topic> <json>").
 *
 * Events notify; they never carry state that exists nowhere else (SUB drops
 * under pressure by design). Topics come from the generated catalogue
 * (SB_EVENTS[SB_EV_...].topic), so publishers never spell them by hand.
 */
#ifndef SB_EVENTS_H
#define SB_EVENTS_H

#include <jansson.h>
#include <stdbool.h>

#include "sb_err.h"

typedef struct sb_pub sb_pub;
typedef struct sb_sub sb_sub;

/* Open a PUB socket listening on url. NULL with err on failure. */
sb_pub *sb_pub_open(const char *url, sb_error *err);
/* Close and free (NULL is fine). */
void sb_pub_close(sb_pub *p);
/* Publish event `ev` (an SB_EV_* id) with body (stolen). Thread-safe; never blocks; NULL p drops. */
void sb_publish(sb_pub *p, int ev, json_t *body);
/* For hot paths, before building an event: true if a subscriber is connected (build it and sb_publish
 * it); false if none is, and the event is counted as published and dropped (skip building it). */
bool sb_pub_wanted(sb_pub *p);

/* Open a SUB socket dialing every url (in the background) for topic prefixes (NULL/empty = all). */
sb_sub *sb_sub_open(const char *const *urls, int nurls, const char *const *prefixes, int nprefixes, sb_error *err);
/* Receive one event: 0 with *topic and *json (malloc'd), 1 on timeout, -1 on close/error. */
int sb_sub_recv(sb_sub *s, int timeout_ms, char **topic, char **json);
/* Close and free. */
void sb_sub_close(sb_sub *s);
/* The nng socket id, for statistics. */
int sb_sub_socket_id(const sb_sub *s);

#endif
