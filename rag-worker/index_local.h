/*
 * index_local.h — internals of the local vector index, shared by
 * index_local.c (memory, search) and index_local_log.c (persistence).
 *
 * One partition per business: its chunk vectors in one contiguous float
 * array (stride = dim rounded up to 16 floats, zero padded, so the dot
 * product loop is branch-free and vectorises), a slot table mapping each
 * vector to its (document, chunk), and the documents by id.
 *
 * Locks of a partition: `rw` is taken shared by queries and exclusively
 * only for the short in-memory update; `wmu` serialises writers across the
 * whole append + fsync + update, so a query never waits for a disk flush.
 */
#ifndef INDEX_LOCAL_H
#define INDEX_LOCAL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "rag_index.h"
#include "rag_map.h"

typedef struct ldoc {
	char   *id, *title, *category; /* category may be NULL */
	char   *fingerprint;
	size_t  n;                     /* chunks */
	size_t *slots;                 /* slot of chunk k */
	char  **texts;                 /* chunk texts */
	size_t  record_bytes;          /* size of its PUT record in the log */
} ldoc;

typedef struct lslot {
	ldoc *doc;
	int   chunk;
} lslot;

typedef struct lpart {
	char            *biz;
	char             path[PATH_MAX];
	pthread_rwlock_t rw;
	pthread_mutex_t  wmu;
	float           *vecs;  /* n × stride */
	lslot           *slots; /* n */
	size_t           n, cap;
	rag_map         *docs;  /* id → ldoc* */
	int              fd;    /* the log, opened for append */
	off_t            log_bytes, live_bytes;
} lpart;

typedef struct local_index {
	rag_index        base;
	char             dir[PATH_MAX];
	int              stride;
	pthread_rwlock_t rw;    /* guards parts and where; held only for map lookups and inserts */
	pthread_mutex_t  create_mu; /* serialises creating a partition (its log file) */
	rag_map         *parts; /* business id → lpart* */
	rag_map         *where; /* document id → lpart* */
} local_index;

/* ---- index_local.c: memory -------------------------------------------------------- */

/* A new empty partition of biz (no log yet). */
lpart *lpart_new(const char *biz);
/* Replace (or add) a document in memory; takes ownership of d. Caller holds p->rw exclusively. */
void lpart_apply_put(lpart *p, int stride, ldoc *d, const float *vecs, int dim);
/* Remove a document from memory; returns it (caller frees) or NULL. Caller holds p->rw exclusively. */
ldoc *lpart_apply_del(lpart *p, const char *id, int stride);
/* Free a document. */
void ldoc_free(ldoc *d);

/* ---- index_local_log.c: persistence ------------------------------------------------ */

/* Open or create the log of business biz under dir into p (memory empty). 0, or -1 with err. */
int llog_create(lpart *p, const char *dir, const char *biz, int dim, sb_error *err);
/* Load every *.log under dir into x (verifying checksums, cutting torn tails). 0, or -1 with err. */
int llog_load_all(local_index *x, sb_error *err);
/* Append a PUT of d (chunk vectors in vecs, dim each) and flush it to disk. */
int llog_put(lpart *p, const ldoc *d, const float *vecs, int dim, size_t *record_bytes, sb_error *err);
/* Append a DEL of id and flush it. */
int llog_del(lpart *p, const char *id, sb_error *err);
/* Rewrite the log with only the live documents when it has grown to twice their size. */
void llog_maybe_compact(lpart *p, int dim, int stride);

#endif
