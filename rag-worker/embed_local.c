/*
 * embed_local.c — the local embedder: deterministic, no model file, no
 * network (the rag-worker's default; docs/RAG.md has the full story).
 *
 * Vectors: each feature of embed_local_text.c is hashed into one of `dim`
 * buckets with a ±1 sign taken from its hash (the "hashing trick"), so
 * features that collide cancel out on average instead of adding up; the
 * result is L2-normalised, so a dot product is a cosine.
 *
 * Documents are embedded with sublinear tf only. IDF is applied to the
 * query alone, at query time, from document frequencies kept per business:
 *
 *     score(q, d) = Σ_f  idf_biz(f) · wq(f) · wd(f) / (|q'| · |d|)
 *
 * i.e. the BM25 shape (idf counted once, on the query terms). A document's
 * vector therefore never depends on the rest of the corpus: adding or
 * removing documents changes the query weighting immediately and never
 * requires re-embedding what is stored, and the document vectors can be
 * cached by text like any other model's.
 *
 * Corpus statistics: per business, the document frequency of every feature
 * hash, plus each document's feature set so that replacing or deleting it
 * subtracts exactly what it added. They are in memory only, rebuilt at
 * start from the index (local index) and from the store (reconcile).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed_local.h"
#include "rag_embed.h"
#include "rag_map.h"

typedef struct featset {
	uint64_t *h;
	size_t    n;
} featset;

typedef struct corpus {
	rag_map *df;   /* uint64 feature hash → count (as uintptr_t) */
	rag_map *docs; /* doc id → featset* */
} corpus;

typedef struct local_embedder {
	rag_embedder     base;
	pthread_rwlock_t rw; /* guards biz and every corpus in it */
	rag_map         *biz; /* business id → corpus* */
	bool             synonyms;
} local_embedder;

/* Hash features into v (dim floats) with weights w[i] × scale[i] (scale may be NULL), then normalise. */
static void project(const lfeats *f, const float *scale, float *v, int dim)
{
	memset(v, 0, (size_t)dim * sizeof *v);
	for (size_t i = 0; i < f->n; i++) {
		float w = f->v[i].w * (scale ? scale[i] : 1.0f);
		v[f->v[i].h % (uint64_t)dim] += (f->v[i].h >> 63) ? -w : w;
	}
	double norm = 0;
	for (int i = 0; i < dim; i++)
		norm += (double)v[i] * v[i];
	if (norm <= 0) {
		v[0] = 1.0f; /* nothing to match on: a fixed unit vector, never the zero vector */
		return;
	}
	float inv = (float)(1.0 / sqrt(norm));
	for (int i = 0; i < dim; i++)
		v[i] *= inv;
}

static int local_embed_docs(rag_embedder *e, const char *const *texts, size_t n, float *out, sb_error *err)
{
	local_embedder *l = (local_embedder *)e;
	lfeats f = {0};
	for (size_t i = 0; i < n; i++) {
		local_features(texts[i], l->synonyms, &f);
		project(&f, NULL, out + i * (size_t)e->dim, e->dim);
	}
	lfeats_free(&f);
	return 0;
}

/* BM25's idf: always positive, highest for features no document has. */
static float idf(const corpus *c, uint64_t h)
{
	double n = c ? (double)rag_map_len(c->docs) : 0;
	double df = c ? (double)(uintptr_t)rag_map_get(c->df, &h, sizeof h) : 0;
	return (float)log(1.0 + (n - df + 0.5) / (df + 0.5));
}

static int local_embed_query(rag_embedder *e, const char *biz, const char *text, float *out, sb_error *err)
{
	local_embedder *l = (local_embedder *)e;
	lfeats f = {0};
	local_features(text, l->synonyms, &f);
	float *scale = malloc((f.n ? f.n : 1) * sizeof *scale);
	if (!scale)
		abort();
	pthread_rwlock_rdlock(&l->rw);
	const corpus *c = biz ? rag_map_gets(l->biz, biz) : NULL;
	for (size_t i = 0; i < f.n; i++)
		scale[i] = idf(c, f.v[i].h);
	pthread_rwlock_unlock(&l->rw);
	project(&f, scale, out, e->dim);
	free(scale);
	lfeats_free(&f);
	return 0;
}

/* ---- corpus statistics -------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The distinct feature hashes of all texts of one document. */
static featset *doc_features(const local_embedder *l, const char *const *texts, size_t n)
{
	featset *fs = calloc(1, sizeof *fs);
	lfeats f = {0};
	size_t cap = 0;
	for (size_t i = 0; i < n; i++) {
		local_features(texts[i], l->synonyms, &f);
		if (fs->n + f.n > cap) {
			cap = (fs->n + f.n) * 2;
			fs->h = realloc(fs->h, cap * sizeof *fs->h);
			if (!fs->h)
				abort();
		}
		for (size_t k = 0; k < f.n; k++)
			fs->h[fs->n++] = f.v[k].h;
	}
	lfeats_free(&f);
	qsort(fs->h, fs->n, sizeof *fs->h, cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < fs->n; i++)
		if (u == 0 || fs->h[i] != fs->h[u - 1])
			fs->h[u++] = fs->h[i];
	fs->n = u;
	return fs;
}

/* Add (+1) or subtract (-1) a document's features from the frequencies. */
static void count(corpus *c, const featset *fs, int delta)
{
	for (size_t i = 0; i < fs->n; i++) {
		uintptr_t v = (uintptr_t)rag_map_get(c->df, &fs->h[i], sizeof fs->h[i]);
		v = (uintptr_t)((intptr_t)v + delta);
		if (v)
			rag_map_put(c->df, &fs->h[i], sizeof fs->h[i], (void *)v);
		else
			rag_map_del(c->df, &fs->h[i], sizeof fs->h[i]);
	}
}

static void featset_free(featset *fs)
{
	if (fs)
		free(fs->h);
	free(fs);
}

/* Forget doc in c (caller holds the write lock). */
static void forget(corpus *c, const char *doc)
{
	featset *old = rag_map_dels(c->docs, doc);
	if (old)
		count(c, old, -1);
	featset_free(old);
}

static void local_doc_added(rag_embedder *e, const char *biz, const char *doc, const char *const *texts, size_t n)
{
	local_embedder *l = (local_embedder *)e;
	featset *fs = doc_features(l, texts, n); /* outside the lock: the expensive part */
	pthread_rwlock_wrlock(&l->rw);
	corpus *c = rag_map_gets(l->biz, biz);
	if (!c) {
		c = calloc(1, sizeof *c);
		c->df = rag_map_new();
		c->docs = rag_map_new();
		rag_map_puts(l->biz, biz, c);
	}
	forget(c, doc);
	count(c, fs, +1);
	rag_map_puts(c->docs, doc, fs);
	pthread_rwlock_unlock(&l->rw);
}

static void local_doc_removed(rag_embedder *e, const char *biz, const char *doc)
{
	local_embedder *l = (local_embedder *)e;
	pthread_rwlock_wrlock(&l->rw);
	corpus *c = biz ? rag_map_gets(l->biz, biz) : NULL;
	if (c) {
		forget(c, doc);
	} else if (!biz) { /* business unknown: look everywhere */
		rag_map_iter it = rag_map_iterate(l->biz);
		void *v;
		while (rag_map_next(&it, NULL, NULL, &v))
			forget(v, doc);
	}
	pthread_rwlock_unlock(&l->rw);
}

static void local_destroy(rag_embedder *e)
{
	local_embedder *l = (local_embedder *)e;
	rag_map_iter it = rag_map_iterate(l->biz);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		corpus *c = v;
		rag_map_iter d = rag_map_iterate(c->docs);
		void *fs;
		while (rag_map_next(&d, NULL, NULL, &fs))
			featset_free(fs);
		rag_map_free(c->docs);
		rag_map_free(c->df);
		free(c);
	}
	rag_map_free(l->biz);
	pthread_rwlock_destroy(&l->rw);
	free(l);
}

static const rag_embed_ops local_ops = {
	.embed_docs = local_embed_docs,
	.embed_query = local_embed_query,
	.doc_added = local_doc_added,
	.doc_removed = local_doc_removed,
	.destroy = local_destroy,
};

rag_embedder *embed_local_new(int dim, bool synonyms)
{
	local_embedder *l = calloc(1, sizeof *l);
	if (!l)
		abort();
	l->base.ops = &local_ops;
	l->base.name = "local";
	l->base.dim = dim;
	l->base.query_cacheable = false; /* the query's idf weights follow the corpus */
	l->synonyms = synonyms;
	snprintf(l->base.model, sizeof l->base.model, "local-hash-v1%s", l->synonyms ? "" : "-nosyn");
	pthread_rwlock_init(&l->rw, NULL);
	l->biz = rag_map_new();
	return &l->base;
}
