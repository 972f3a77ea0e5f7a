/*
 * rag_cache.c — the embedding cache in front of the embedder.
 *
 * Key: SHA-256 of (model, dimension, text), so a vector is only ever reused
 * for exactly the same input to exactly the same model; re-indexing an
 * unchanged document and repeating a question cost no embedding call.
 * Bounded by bytes with least-recently-used eviction; one mutex (an entry
 * is a hash lookup and a memcpy of one vector, far cheaper than what it
 * saves). In memory only: a restart starts cold.
 *
 * Queries go through the cache only when the embedder says a query's
 * vector depends on its text alone (not the local model, whose query
 * weights follow the corpus).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag.h"
#include "rag_map.h"
#include "sb_hmac.h"

typedef struct centry {
	unsigned char  key[SB_SHA256_LEN];
	struct centry *prev, *next; /* LRU list, most recent first */
	float          v[];
} centry;

struct rag_cache {
	pthread_mutex_t mu;
	rag_map        *map; /* key → centry* */
	centry         *head, *tail;
	size_t          bytes, max_bytes, entry_bytes;
	int             dim;
	atomic_long     hits, misses;
};

rag_cache *rag_cache_new(size_t max_bytes, int dim)
{
	rag_cache *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	pthread_mutex_init(&c->mu, NULL);
	c->map = rag_map_new();
	c->max_bytes = max_bytes;
	c->dim = dim;
	c->entry_bytes = sizeof(centry) + (size_t)dim * sizeof(float) + 64; /* + map node */
	return c;
}

void rag_cache_free(rag_cache *c)
{
	if (!c)
		return;
	for (centry *e = c->head, *next; e; e = next) {
		next = e->next;
		free(e);
	}
	rag_map_free(c->map);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void unlink_entry(rag_cache *c, centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(rag_cache *c, centry *e)
{
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Copy the vector under key into out and mark it recent: true on a hit. */
static bool cache_get(rag_cache *c, const unsigned char *key, float *out)
{
	pthread_mutex_lock(&c->mu);
	centry *e = rag_map_get(c->map, key, SB_SHA256_LEN);
	if (e) {
		memcpy(out, e->v, (size_t)c->dim * sizeof *out);
		unlink_entry(c, e);
		push_front(c, e);
	}
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(e ? &c->hits : &c->misses, 1);
	return e != NULL;
}

static void cache_put(rag_cache *c, const unsigned char *key, const float *v)
{
	if (c->entry_bytes > c->max_bytes)
		return;
	centry *e = malloc(sizeof *e + (size_t)c->dim * sizeof(float));
	if (!e)
		abort();
	memcpy(e->key, key, SB_SHA256_LEN);
	memcpy(e->v, v, (size_t)c->dim * sizeof(float));
	e->prev = e->next = NULL;
	pthread_mutex_lock(&c->mu);
	centry *old = rag_map_put(c->map, key, SB_SHA256_LEN, e);
	if (old) {
		unlink_entry(c, old);
		free(old);
	} else {
		c->bytes += c->entry_bytes;
	}
	push_front(c, e);
	while (c->bytes > c->max_bytes && c->tail) {
		centry *t = c->tail;
		unlink_entry(c, t);
		rag_map_del(c->map, t->key, SB_SHA256_LEN);
		free(t);
		c->bytes -= c->entry_bytes;
	}
	pthread_mutex_unlock(&c->mu);
}

json_t *rag_cache_stats(rag_cache *c)
{
	if (!c)
		return json_pack("{s:b}", "enabled", 0);
	pthread_mutex_lock(&c->mu);
	json_t *j = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "enabled", 1, "entries", (json_int_t)rag_map_len(c->map),
			      "bytes", (json_int_t)c->bytes, "maxBytes", (json_int_t)c->max_bytes, "hits",
			      (json_int_t)atomic_load(&c->hits), "misses", (json_int_t)atomic_load(&c->misses));
	pthread_mutex_unlock(&c->mu);
	return j;
}

/* SHA-256 of "model\0dim\0text". */
static void cache_key(const rag_embedder *e, const char *text, unsigned char key[SB_SHA256_LEN])
{
	char head[96];
	int hl = snprintf(head, sizeof head, "%s%c%d%c", e->model, 0, e->dim, 0);
	size_t tl = strlen(text);
	char *buf = malloc((size_t)hl + tl);
	if (!buf)
		abort();
	memcpy(buf, head, (size_t)hl);
	memcpy(buf + hl, text, tl);
	sb_sha256(buf, (size_t)hl + tl, key);
	free(buf);
}

/* Embed texts[idx[0..n)] into out[idx[k]] and cache them. */
static int embed_misses(rag_ctx *r, const char *const *texts, const size_t *idx, size_t n,
			const unsigned char *keys, float *out, sb_error *err)
{
	int dim = r->emb->dim;
	const char **sub = malloc(n * sizeof *sub);
	float *v = malloc(n * (size_t)dim * sizeof *v);
	if (!sub || !v)
		abort();
	for (size_t k = 0; k < n; k++)
		sub[k] = texts[idx[k]];
	sb_counter_inc(r->m.embed_calls);
	sb_counter_add(r->m.embed_texts, n);
	int rc = r->emb->ops->embed_docs(r->emb, sub, n, v, err);
	if (rc < 0)
		sb_counter_inc(r->m.embed_failures);
	for (size_t k = 0; rc == 0 && k < n; k++) {
		memcpy(out + idx[k] * (size_t)dim, v + k * (size_t)dim, (size_t)dim * sizeof *v);
		if (r->cache)
			cache_put(r->cache, keys + idx[k] * SB_SHA256_LEN, v + k * (size_t)dim);
	}
	free(sub);
	free(v);
	return rc;
}

int rag_embed_docs_cached(rag_ctx *r, const char *const *texts, size_t n, float *out, sb_error *err)
{
	int dim = r->emb->dim;
	unsigned char *keys = malloc(n * SB_SHA256_LEN + 1);
	size_t *miss = malloc((n + 1) * sizeof *miss), nmiss = 0;
	if (!keys || !miss)
		abort();
	for (size_t i = 0; i < n; i++) {
		bool hit = false;
		if (r->cache) {
			cache_key(r->emb, texts[i], keys + i * SB_SHA256_LEN);
			hit = cache_get(r->cache, keys + i * SB_SHA256_LEN, out + i * (size_t)dim);
		}
		sb_counter_inc(hit ? r->m.cache_hits : r->m.cache_misses);
		if (!hit)
			miss[nmiss++] = i;
	}
	int rc = nmiss ? embed_misses(r, texts, miss, nmiss, keys, out, err) : 0;
	free(keys);
	free(miss);
	return rc;
}

int rag_embed_query_cached(rag_ctx *r, const char *biz, const char *text, float *out, sb_error *err)
{
	bool cached = r->cache && r->emb->query_cacheable;
	unsigned char key[SB_SHA256_LEN];
	if (cached) {
		cache_key(r->emb, text, key);
		bool hit = cache_get(r->cache, key, out);
		sb_counter_inc(hit ? r->m.cache_hits : r->m.cache_misses);
		if (hit)
			return 0;
	}
	sb_counter_inc(r->m.embed_calls);
	sb_counter_inc(r->m.embed_texts);
	int rc = r->emb->ops->embed_query(r->emb, biz, text, out, err); /* the query's own, quicker, retry budget */
	if (rc < 0)
		sb_counter_inc(r->m.embed_failures);
	else if (cached)
		cache_put(r->cache, key, out);
	return rc;
}
