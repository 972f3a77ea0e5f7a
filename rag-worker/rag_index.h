/*
 * rag_index.h — the vector index interface: documents as sets of chunk
 * vectors, searched one business at a time. One file per implementation:
 *
 *   index_local.c     in-process, one partition per business, exact top-k,
 *                     persisted by index_local_log.c (the default)
 *   index_pinecone.c  Pinecone's data-plane REST API
 *
 * A document is replaced whole: put_doc makes chunks 0..n-1 of the document
 * exactly the given ones (older chunks beyond n disappear), and returns only
 * once that is durable. Chunk ids are "<docId>#<n>".
 *
 * Errors follow rag_embed.h: SB_UNAVAILABLE / SB_DEADLINE_EXCEEDED are
 * transient, anything else permanent. Every function is thread-safe.
 */
#ifndef RAG_INDEX_H
#define RAG_INDEX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sb_err.h"

typedef struct rag_index rag_index;

/* One chunk of a document being stored. */
typedef struct rag_chunk_in {
	const char  *text; /* the chunk's own text (without the title) */
	const float *vec;  /* dim floats, unit length */
} rag_chunk_in;

/* A document being stored. */
typedef struct rag_doc_in {
	const char         *biz, *id, *title, *category; /* category may be NULL */
	const char         *fingerprint; /* what was indexed (rag_fingerprint), kept for the reconcile */
	const rag_chunk_in *chunks;
	size_t              n;
	/* Chunks [n, stale_upto) may exist from an earlier version and must go
	 * (backends that track their own chunks may ignore this). */
	size_t              stale_upto;
} rag_doc_in;

/* One search result; strings owned by the hit (rag_hits_free). */
typedef struct rag_hit {
	char *doc_id, *title, *category, *text;
	int   chunk;
	float score;
	bool  truncated; /* text was cut (Pinecone metadata limit): fetch it from the store */
} rag_hit;

/* Called once per stored document by for_each_doc. */
typedef void (*rag_doc_cb)(void *arg, const char *biz, const char *doc, const char *title,
			   const char *const *texts, size_t n);

typedef struct rag_index_ops {
	/* Replace document d durably. 0, or -1 with err. */
	int (*put_doc)(rag_index *x, const rag_doc_in *d, sb_error *err);
	/* Remove every chunk of doc (of biz, or wherever it is when biz is NULL); *existed if anything was there. */
	int (*delete_doc)(rag_index *x, const char *biz, const char *doc, bool *existed, sb_error *err);
	/* Top k chunks of business biz by dot product with q, best first, score ≥ min_score. */
	int (*query)(rag_index *x, const char *biz, const float *q, int k, float min_score, rag_hit *out,
		     int *nout, sb_error *err);
	/* Optional (NULL: cannot list cheaply): {"<docId>": {"chunks": n, "fingerprint": s}, ...} of biz, owned. */
	json_t *(*list_docs)(rag_index *x, const char *biz);
	/* Optional: ["<biz>", ...] of every business with documents, owned. */
	json_t *(*list_businesses)(rag_index *x);
	/* Optional: call cb for every stored document with its chunk texts (start-up statistics). */
	void (*for_each_doc)(rag_index *x, rag_doc_cb cb, void *arg);
	/* Counters for rag.stats (owned object); biz may be NULL for the whole index. */
	json_t *(*stats)(rag_index *x, const char *biz);
	/* Stop network retries in flight (shutdown). Optional. */
	void (*cancel)(rag_index *x);
	/* Flush and free everything. */
	void (*destroy)(rag_index *x);
} rag_index_ops;

struct rag_index {
	const rag_index_ops *ops;
	const char          *name; /* "local", "pinecone" */
	int                  dim;
};

/* The local index persisted under dir (created if missing). NULL with err. */
rag_index *index_local_open(const char *dir, int dim, sb_error *err);

typedef struct index_pinecone_config {
	const char *host;        /* index host URL; https:// is assumed when no scheme is given */
	const char *api_key;
	const char *api_version; /* X-Pinecone-Api-Version, e.g. 2025-10 */
	const char *ns;          /* explicit namespace (never the default one) */
	int         timeout_ms;
	int         query_timeout_ms; /* whole budget of one query, retries included */
	int         max_retries;
} index_pinecone_config;

/* A Pinecone index client. NULL with err on a bad configuration. */
rag_index *index_pinecone_new(const index_pinecone_config *cfg, int dim, sb_error *err);

/* Free the strings of n hits. */
void rag_hits_free(rag_hit *h, int n);

#endif
