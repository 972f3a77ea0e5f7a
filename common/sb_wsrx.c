/*
 * sb_wsrx.c — bounded WebSocket message reassembly (see sb_wsrx.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sb_wsrx.h"

#define KEEP_BUFFER_MAX 65536 /* a larger buffer is released after its message */

void sb_wsrx_free(sb_wsrx *r);

static int append(sb_wsrx *r, const char *in, size_t n)
{
	if (r->max && r->len + n > r->max)
		return -1;
	if (r->len + n > r->cap) {
		size_t cap = (r->len + n) * 2;
		char *b = realloc(r->buf, cap);
		if (!b)
			return -1;
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, in, n);
	r->len += n;
	return 0;
}

sb_wsrx_result sb_wsrx_feed(sb_wsrx *r, struct lws *wsi, const char *in, size_t n, const char **msg, size_t *len)
{
	bool first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
	sb_wsrx_result res = SB_WSRX_MORE;
	if (first) {
		if (r->cap > KEEP_BUFFER_MAX) /* the last message was unusually large: give it back */
			sb_wsrx_free(r);
		r->len = 0;
		r->skip = r->text_only && lws_frame_is_binary(wsi);
		if (r->skip)
			res = SB_WSRX_BINARY;
	}
	if (!r->skip && first && final && (!r->max || n <= r->max)) {
		*msg = in, *len = n;
		return SB_WSRX_MESSAGE;
	}
	if (!r->skip && append(r, in, n) < 0) {
		r->skip = true;
		res = SB_WSRX_OVERSIZED;
	}
	if (final && !r->skip && res == SB_WSRX_MORE) {
		*msg = r->buf ? r->buf : "", *len = r->len;
		res = SB_WSRX_MESSAGE;
	}
	return res;
}

void sb_wsrx_free(sb_wsrx *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
	r->skip = false;
}
