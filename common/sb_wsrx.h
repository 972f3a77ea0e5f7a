/*
 * sb_wsrx.h — reassemble WebSocket messages from libwebsockets RECEIVE
 * callbacks, in one place for the bridge and the simulators.
 *
 * lws hands over whatever one read holds, so a message may arrive in pieces
 * (lws_is_first_fragment / lws_is_final_fragment). A message that arrives
 * whole is passed straight through without a copy; pieces are collected in a
 * buffer, bounded by `max`. A message over `max`, or a binary one when
 * `text_only` is set, is reported once and the rest of it skipped.
 */
#ifndef SB_WSRX_H
#define SB_WSRX_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sb_wsrx {
	size_t max;       /* largest message accepted; 0 = unbounded */
	bool   text_only; /* binary messages are rejected */
	/* state */
	char  *buf;
	size_t len, cap;
	bool   skip;      /* rest of the current message is being dropped */
} sb_wsrx;

typedef enum {
	SB_WSRX_MORE,      /* nothing complete yet */
	SB_WSRX_MESSAGE,   /* *msg, *len hold one whole message (valid until the next feed) */
	SB_WSRX_BINARY,    /* a binary message began: it will be skipped */
	SB_WSRX_OVERSIZED, /* the current message passed max: the rest is skipped */
} sb_wsrx_result;

/* Feed one RECEIVE callback's data. */
sb_wsrx_result sb_wsrx_feed(sb_wsrx *r, struct lws *wsi, const char *in, size_t n, const char **msg, size_t *len);
/* Release the buffer (the struct may be reused). */
void sb_wsrx_free(sb_wsrx *r);

#endif
