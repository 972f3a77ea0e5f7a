/*
 * rag.h — internals shared by the sb-rag-worker files (not used elsewhere).
 *
 * Reading order: rag.c (flags and wiring) → rag_ops.c (the op table) →
 * rag_query.c (the query path) → rag_jobs.c (the indexing queue: one job
 * at a time per document, retries with backoff) → rag_indexer.c (what an
 * index or delete job does) → rag_reconcile.c (start-up agreement with the
 * store). Backends sit behind rag_embed.h and rag_index.h; rag_cache.c is
 * the embedding cache in front of the embedder, rag_chunk.c the chunker.
 *
 * Threads: nng's (request intake), `--workers` request threads (queries
 * and the quick ops run there; a query never waits for indexing),
 * `--index-workers` job threads plus one retry timer (rag_jobs.c), and one
 * reconcile thread at start.
 */
#ifndef RAG_H
#define RAG_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "rag_embed.h"
#include "rag_index.h"
#include "sb_err.h"
#include "sb_events.h"
#include "sb_metrics.h"
#include "sb_rpc.h"

typedef struct rag_cache rag_cache;
typedef struct rag_jobs rag_jobs;

/* Counters and histograms, created once at start. */
typedef struct rag_metrics {
	sb_metric *queries, *query_errors, *query_ms, *query_results;
	sb_metric *embed_calls, *embed_texts, *embed_failures;
	sb_metric *cache_hits, *cache_misses;
	sb_metric *indexed, *index_failed, *index_retries, *deleted;
	sb_metric *documents, *chunks, *retry_queue;
} rag_metrics;

/* Everything the op handlers and jobs share; read-only after start except where noted. */
typedef struct rag_ctx {
	int           chunk_size, chunk_overlap;
	int           default_topk;
	sb_client    *store;
	sb_pub       *pub;
	rag_embedder *emb;
	rag_index    *idx;
	rag_cache    *cache;
	rag_jobs     *jobs;
	atomic_bool   stopping;   /* set at SIGTERM */
	atomic_bool   reconciled; /* the start-up reconcile has finished */
	rag_metrics   m;
} rag_ctx;

/* ---- rag_ops.c: the op table of schemas/rag.json ------------------------------------ */

/* Handlers indexed by SB_RAG_*; ctx is the rag_ctx. */
extern const sb_op_fn RAG_OPS[];

/* ---- rag_query.c ----------------------------------------------------------------- */

/* rag.query: embed the question, search the business's partition, answer the hits. */
void rag_op_query(sb_req *req, json_t *args, void *ctx);

/* ---- rag_chunk.c -------------------------------------------------------------------- */

typedef struct rag_chunks {
	char **text;
	size_t n;
} rag_chunks;

/* Split content into chunks of at most size bytes with about overlap bytes shared; at least one chunk. */
void rag_chunk_split(const char *content, int size, int overlap, rag_chunks *out);
/* Free the chunks' strings. */
void rag_chunks_free(rag_chunks *c);
/* "title\n\nchunk": the text that is embedded for a chunk (malloc'd). */
char *rag_chunk_embed_text(const char *title, const char *chunk);

/* ---- rag_cache.c ------------------------------------------------------------------ */

/* A cache of up to max_bytes of dim-float vectors. */
rag_cache *rag_cache_new(size_t max_bytes, int dim);
/* Free the cache (NULL is fine). */
void rag_cache_free(rag_cache *c);
/* {entries, bytes, maxBytes, hits, misses} (owned). */
json_t *rag_cache_stats(rag_cache *c);
/* Embed document texts through the cache: only misses reach the embedder. */
int rag_embed_docs_cached(rag_ctx *r, const char *const *texts, size_t n, float *out, sb_error *err);
/* Embed a query through the cache when the embedder allows it. */
int rag_embed_query_cached(rag_ctx *r, const char *biz, const char *text, float *out, sb_error *err);

/* ---- rag_jobs.c: the indexing queue ------------------------------------------------- */

/* Start nthreads job threads and the retry timer; at most max_jobs jobs waiting; retries back off from retry_base_ms to retry_max_ms. */
rag_jobs *rag_jobs_start(rag_ctx *r, int nthreads, int max_jobs, int retry_base_ms, int retry_max_ms);
/*
 * Queue indexing of document doc of business biz. args (stolen, may be
 * NULL) is the rag.index request; NULL means "read it from the store when
 * the job runs". req (may be NULL) is answered when the job ends. Jobs of
 * one document run one at a time, in order; a request equal to the one
 * running joins it (nng resends). 0 queued; -1 refused (stopping, or the
 * queue is full), req already answered.
 */
int rag_jobs_index(rag_jobs *j, sb_req *req, const char *biz, const char *doc, json_t *args);
/* Queue removal of every chunk of doc (biz may be NULL), after the work queued before it; cancels a pending retry. */
int rag_jobs_delete(rag_jobs *j, sb_req *req, const char *biz, const char *doc);
/* {running, queued, retrying, ...} (owned). */
json_t *rag_jobs_stats(rag_jobs *j);
/* Stop: answer queued requests with unavailable, cancel retries, join the threads. */
void rag_jobs_stop(rag_jobs *j);
/* Free (after stop). */
void rag_jobs_free(rag_jobs *j);

/* ---- rag_indexer.c: what a job does ---------------------------------------------------- */

typedef enum rag_outcome {
	RAG_DONE,    /* indexed (or deleted) and recorded */
	RAG_RETRY,   /* transient failure: retry later */
	RAG_FAILED,  /* permanent failure, recorded in the store */
	RAG_GONE,    /* the document is not in the store (any more) */
	RAG_REFUSED, /* bad request: answered, nothing done */
} rag_outcome;

typedef struct rag_result {
	rag_outcome outcome;
	int         chunks;
	bool        existed;  /* delete: something was there */
	bool        recorded; /* the outcome was written to the store */
	sb_error    err;
} rag_result;

/* The fingerprint of a document as this worker would index it (model, chunking, title, category, content): 32 hex chars. */
void rag_fingerprint(const rag_ctx *r, const json_t *doc, char out[33]);
/* Index one document (content from args, or from the store when args is NULL). */
void rag_index_document(rag_ctx *r, const char *biz, const char *doc, json_t *args, rag_result *res);
/* Remove one document from the index and the corpus statistics. */
void rag_delete_document(rag_ctx *r, const char *biz, const char *doc, rag_result *res);

/* ---- rag_reconcile.c ------------------------------------------------------------------ */

/* Start the background reconcile with the store (returns at once). */
void rag_reconcile_start(rag_ctx *r);
/* Wait for the reconcile thread to end (after r->stopping is set). */
void rag_reconcile_join(rag_ctx *r);
/* Make the index of one business agree with the store: queue what is missing or pending, drop what the store lost. */
int rag_reconcile_business(rag_ctx *r, const char *biz, bool force, int *queued, int *removed, sb_error *err);

/* ---- helpers (rag_ops.c) ---------------------------------------------------------------- */

/* Publish event ev (SB_EV_RAG_*) with body (stolen) plus "at". */
void rag_publish(rag_ctx *r, int ev, json_t *body);
/* Set the documents/chunks gauges from the index. */
void rag_update_gauges(rag_ctx *r);

#endif
