/*
 * rag_map.c — chained hash map with power-of-two buckets (see rag_map.h).
 * The table doubles when the load factor passes 1.
 */
#include <stdlib.h>
#include <string.h>

#include "rag_map.h"

typedef struct node {
	struct node *next;
	uint64_t     hash;
	void        *val;
	size_t       klen;
	unsigned char key[]; /* klen bytes, then a NUL so string keys can be printed */
} node;

struct rag_map {
	node  **b;
	size_t nb, n;
};

uint64_t rag_hash64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	/* final avalanche (FNV's low bits are weak for power-of-two tables) */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p)
		abort();
	return p;
}

rag_map *rag_map_new(void)
{
	rag_map *m = xcalloc(1, sizeof *m);
	m->nb = 16;
	m->b = xcalloc(m->nb, sizeof *m->b);
	return m;
}

void rag_map_free(rag_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++)
		for (node *n = m->b[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
	free(m->b);
	free(m);
}

static node **find(const rag_map *m, const void *key, size_t klen, uint64_t h)
{
	node **pp = &m->b[h & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			break;
	return pp;
}

static void grow(rag_map *m)
{
	size_t nb = m->nb * 2;
	node **b = xcalloc(nb, sizeof *b);
	for (size_t i = 0; i < m->nb; i++)
		for (node *n = m->b[i], *next; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void *rag_map_get(const rag_map *m, const void *key, size_t klen)
{
	node *n = *find(m, key, klen, rag_hash64(key, klen, 0));
	return n ? n->val : NULL;
}

void *rag_map_put(rag_map *m, const void *key, size_t klen, void *val)
{
	uint64_t h = rag_hash64(key, klen, 0);
	node **pp = find(m, key, klen, h);
	if (*pp) {
		void *old = (*pp)->val;
		(*pp)->val = val;
		return old;
	}
	node *n = xcalloc(1, sizeof *n + klen + 1);
	n->hash = h;
	n->val = val;
	n->klen = klen;
	memcpy(n->key, key, klen);
	*pp = n;
	if (++m->n > m->nb)
		grow(m);
	return NULL;
}

void *rag_map_del(rag_map *m, const void *key, size_t klen)
{
	node **pp = find(m, key, klen, rag_hash64(key, klen, 0));
	node *n = *pp;
	if (!n)
		return NULL;
	void *val = n->val;
	*pp = n->next;
	free(n);
	m->n--;
	return val;
}

size_t rag_map_len(const rag_map *m)
{
	return m->n;
}

rag_map_iter rag_map_iterate(const rag_map *m)
{
	return (rag_map_iter){.m = m, .bucket = 0, .node = m->b[0]};
}

/* it->node is the next node to hand out, fetched before the caller can delete the current one. */
int rag_map_next(rag_map_iter *it, const void **key, size_t *klen, void **val)
{
	node *n = it->node;
	while (!n) {
		if (++it->bucket >= it->m->nb)
			return 0;
		n = it->m->b[it->bucket];
	}
	it->node = n->next;
	if (key)
		*key = n->key;
	if (klen)
		*klen = n->klen;
	if (val)
		*val = n->val;
	return 1;
}
