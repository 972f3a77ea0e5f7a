/*
 * embed_local.h — the text side of the local embedder (embed_local_text.c),
 * shared with embed_local.c. Not used outside the local embedder.
 *
 * A text becomes a bag of hashed features, each with a weight:
 *
 *   word      the stem of a content word ("shipping" → "ship")
 *   concept   a synonym group the word or a two-word phrase belongs to
 *             ("cost", "fee", "how much" → price)
 *   chargram  character trigrams of each stem with boundary marks
 *             ("^sh", "shi", "hip", "ip$"), for morphology and compounds
 *
 * (Word bigrams were tried and dropped: see docs/RAG.md.)
 *
 * A feature's weight is its type weight × (1 + ln tf) (sublinear term
 * frequency). IDF is not applied here: see embed_local.c.
 */
#ifndef EMBED_LOCAL_H
#define EMBED_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lfeat {
	uint64_t h; /* feature hash: bucket = h % dim, sign = top bit, and the key of its document frequency */
	float    w;
} lfeat;

typedef struct lfeats {
	lfeat *v;
	size_t n, cap;
} lfeats;

/* Replace out's contents with the features of text (unique hashes, ascending). */
void local_features(const char *text, bool synonyms, lfeats *out);
/* Free the array. */
void lfeats_free(lfeats *f);

#endif
