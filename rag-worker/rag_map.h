/*
 * rag_map.h — a small chained hash map from byte-string keys to pointers,
 * used by the rag-worker for documents, partitions, term statistics and the
 * embedding cache. Not thread-safe: the owner locks.
 *
 * Keys are copied; values are borrowed (the owner frees them). Iteration
 * order is unspecified; do not modify the map while iterating except
 * through rag_map_del of the current key.
 */
#ifndef RAG_MAP_H
#define RAG_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct rag_map rag_map;

typedef struct rag_map_iter {
	const rag_map *m;
	size_t         bucket;
	void          *node; /* next node to return */
} rag_map_iter;

/* A new empty map. Never NULL. */
rag_map *rag_map_new(void);
/* Free the map (not the values). NULL is fine. */
void rag_map_free(rag_map *m);
/* The value under key, or NULL. */
void *rag_map_get(const rag_map *m, const void *key, size_t klen);
/* Set key to val (replacing any value); returns the previous value or NULL. */
void *rag_map_put(rag_map *m, const void *key, size_t klen, void *val);
/* Remove key; returns its value or NULL. */
void *rag_map_del(rag_map *m, const void *key, size_t klen);
/* Number of keys. */
size_t rag_map_len(const rag_map *m);
/* Start iterating. */
rag_map_iter rag_map_iterate(const rag_map *m);
/* Next entry: 1 with *key, *klen and *val (borrowed), or 0 at the end. */
int rag_map_next(rag_map_iter *it, const void **key, size_t *klen, void **val);

/* String-keyed conveniences. */
static inline void *rag_map_gets(const rag_map *m, const char *k) { return rag_map_get(m, k, strlen(k)); }
static inline void *rag_map_puts(rag_map *m, const char *k, void *v) { return rag_map_put(m, k, strlen(k), v); }
static inline void *rag_map_dels(rag_map *m, const char *k) { return rag_map_del(m, k, strlen(k)); }

/* 64-bit FNV-1a of n bytes (also used for feature hashing). */
uint64_t rag_hash64(const void *p, size_t n, uint64_t seed);

#endif
