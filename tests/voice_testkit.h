/*
 * voice_testkit.h — what the offline voice engine's test and benchmark share
 * (header only): a growing μ-law buffer, line silence, and sv_say's chunks
 * collected into it.
 */
#ifndef SB_VOICE_TESTKIT_H
#define SB_VOICE_TESTKIT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct abuf {
	uint8_t *u;
	size_t   n, cap;
} abuf;

static inline void ab_add(abuf *b, const uint8_t *u, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->u = realloc(b->u, b->cap);
		if (!b->u)
			abort();
	}
	memcpy(b->u + b->n, u, n);
	b->n += n;
}

/* ms of μ-law line silence. */
static inline void ab_silence(abuf *b, int ms)
{
	uint8_t s[160];
	memset(s, 0xFF, sizeof s);
	for (int left = ms * 8; left > 0; left -= 160)
		ab_add(b, s, (size_t)(left < 160 ? left : 160));
}

/* sv_audio_cb appending to the abuf in arg. */
static inline int ab_collect(const uint8_t *u, size_t n, void *arg)
{
	ab_add(arg, u, n);
	return 0;
}

#endif
