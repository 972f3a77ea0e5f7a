/*
 * bridge_buf.c — byte buffers with lws headroom, message FIFOs, and
 * WebSocket text framing (RFC 6455 §5.2: FIN + opcode 1): unmasked for the
 * Twilio side (we are the server), masked for the model side (we are the
 * client; lws would read 4 bytes of /dev/urandom per frame, we take masks
 * from a getrandom pool and mask 8 bytes at a time).
 *
 * Every buffer has a hard maximum: a peer that stops reading makes the
 * bridge drop that call, never grow without bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "sb_id.h"

static int grow(bbuf *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	if (b->max && need > b->max)
		return -1;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < need)
		cap *= 2;
	if (b->max && cap > b->max)
		cap = b->max;
	unsigned char *m = realloc(b->mem, LWS_PRE + cap);
	if (!m)
		return -1;
	b->mem = m;
	b->cap = cap;
	return 0;
}

int bbuf_add(bbuf *b, const void *p, size_t n)
{
	if (grow(b, b->len + n) < 0)
		return -1;
	memcpy(b->mem + LWS_PRE + b->len, p, n);
	b->len += n;
	return 0;
}

int bbuf_adds(bbuf *b, const char *s)
{
	return bbuf_add(b, s, strlen(s));
}

void bbuf_consume(bbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		if (b->cap > 16384) { /* give back what a burst took */
			free(b->mem);
			b->mem = NULL;
			b->cap = 0;
		}
		return;
	}
	memmove(b->mem + LWS_PRE, b->mem + LWS_PRE + n, b->len - n);
	b->len -= n;
}

void bbuf_free(bbuf *b)
{
	free(b->mem);
	b->mem = NULL;
	b->len = b->cap = 0;
}

/* Record layout: [u32 length][u32 pad][i64 stamp][pad to LWS_PRE][payload]. lws
 * writes the frame header into the headroom only after we read length and stamp. */
#define REC_HDR LWS_PRE

int msgq_push(msgq *q, const void *p, size_t n, int64_t t_us)
{
	if (q->count == 0 && q->head) {
		q->b.len = 0;
		q->head = 0;
	}
	uint32_t len = (uint32_t)n;
	size_t at = q->b.len;
	unsigned char pad[REC_HDR] = {0};
	if (bbuf_add(&q->b, pad, REC_HDR) < 0 || bbuf_add(&q->b, p, n) < 0) {
		q->b.len = at;
		return -1;
	}
	memcpy(bbuf_data(&q->b) + at, &len, sizeof len);
	memcpy(bbuf_data(&q->b) + at + 8, &t_us, sizeof t_us);
	q->count++;
	return 0;
}

int msgq_front(msgq *q, unsigned char **p, size_t *n, int64_t *t_us)
{
	if (q->count == 0)
		return 0;
	uint32_t len;
	memcpy(&len, bbuf_data(&q->b) + q->head, sizeof len);
	if (t_us)
		memcpy(t_us, bbuf_data(&q->b) + q->head + 8, sizeof *t_us);
	*p = bbuf_data(&q->b) + q->head + REC_HDR;
	*n = len;
	return 1;
}

void msgq_pop(msgq *q)
{
	if (q->count == 0)
		return;
	uint32_t len;
	memcpy(&len, bbuf_data(&q->b) + q->head, sizeof len);
	q->head += REC_HDR + len;
	if (--q->count == 0) {
		q->head = 0;
		bbuf_consume(&q->b, q->b.len);
	} else if (q->head > 65536 && q->head > q->b.len / 2) {
		bbuf_consume(&q->b, q->head);
		q->head = 0;
	}
}

void msgq_free(msgq *q)
{
	bbuf_free(&q->b);
	q->head = 0;
	q->count = 0;
}

/* The frame header for an n-byte text payload into h; its length. */
static size_t frame_header(unsigned char h[10], size_t n)
{
	size_t hl;
	h[0] = 0x81;
	if (n < 126) {
		h[1] = (unsigned char)n;
		hl = 2;
	} else if (n < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	return hl;
}

int ws_frame_text(bbuf *b, const void *payload, size_t n)
{
	unsigned char h[10];
	size_t hl = frame_header(h, n), at = b->len;
	if (bbuf_add(b, h, hl) < 0 || bbuf_add(b, payload, n) < 0) {
		b->len = at;
		return -1;
	}
	return 0;
}

/* 4 unpredictable bytes, from a pool refilled with getrandom (loop thread only). */
static void mask_key(unsigned char k[4])
{
	static unsigned char pool[4096];
	static size_t at = sizeof pool;
	if (at + 4 > sizeof pool) {
		sb_random_bytes(pool, sizeof pool);
		at = 0;
	}
	memcpy(k, pool + at, 4);
	at += 4;
}

int ws_frame_text_masked(bbuf *b, const void *payload, size_t n)
{
	unsigned char h[14], k[4];
	size_t hl = frame_header(h, n), at = b->len;
	h[1] |= 0x80;
	mask_key(k);
	memcpy(h + hl, k, 4);
	if (bbuf_add(b, h, hl + 4) < 0 || bbuf_add(b, payload, n) < 0) {
		b->len = at;
		return -1;
	}
	unsigned char *p = bbuf_data(b) + at + hl + 4;
	uint64_t k8;
	uint32_t k4;
	memcpy(&k4, k, 4);
	k8 = (uint64_t)k4 << 32 | k4;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		v ^= k8;
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] ^= k[i & 3];
	return 0;
}
