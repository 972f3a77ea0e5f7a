/*
 * rag_embed.h — the embedder interface: text in, unit-length float vectors
 * out. One file per implementation:
 *
 *   embed_local.c   deterministic hashed-feature model, no model file, no
 *                   network (the default; see docs/RAG.md)
 *   embed_openai.c  POST {base}/v1/embeddings (text-embedding-3-small, ...)
 *
 * Errors use sb_error codes with one rule the callers rely on: SB_UNAVAILABLE
 * and SB_DEADLINE_EXCEEDED are transient (retry later); any other code is
 * permanent for this input (insufficient quota, rejected input, a
 * misconfigured dimension).
 *
 * Thread-safety: every function may be called from several threads at once.
 */
#ifndef RAG_EMBED_H
#define RAG_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include "sb_err.h"

typedef struct rag_embedder rag_embedder;

typedef struct rag_embed_ops {
	/* Embed n document texts into out[i * dim ...]. 0, or -1 with err. Blocking (may do network I/O). */
	int (*embed_docs)(rag_embedder *e, const char *const *texts, size_t n, float *out, sb_error *err);
	/* Embed one query of business biz into out (dim floats). 0, or -1 with err. */
	int (*embed_query)(rag_embedder *e, const char *biz, const char *text, float *out, sb_error *err);
	/*
	 * Corpus hooks, NULL when the model does not depend on the corpus.
	 * doc_added (re)places the texts of document doc of business biz in the
	 * model's statistics; doc_removed forgets it; biz_docs counts the
	 * documents known for biz.
	 */
	void (*doc_added)(rag_embedder *e, const char *biz, const char *doc, const char *const *texts, size_t n);
	void (*doc_removed)(rag_embedder *e, const char *biz, const char *doc);
	/* Free everything. */
	void (*destroy)(rag_embedder *e);
} rag_embed_ops;

/* The part every implementation starts with. */
struct rag_embedder {
	const rag_embed_ops *ops;
	const char          *name;            /* "local", "openai" */
	char                 model[64];       /* part of the cache key */
	int                  dim;
	bool                 query_cacheable; /* a query's vector depends only on its text */
};

/* The local model with dim dimensions, with or without its synonym table (see embed_local.c). */
rag_embedder *embed_local_new(int dim, bool synonyms);

typedef struct embed_openai_config {
	const char *base_url;    /* e.g. https://api.openai.com (no /v1) */
	const char *api_key;
	const char *model;       /* text-embedding-3-small */
	int         dimensions;  /* 0: the model's default, not sent */
	int         timeout_ms;  /* per HTTP attempt */
	int         query_timeout_ms; /* whole budget of one query's embedding, retries included */
	int         max_retries;
	int         batch_inputs; /* inputs per request (≤ 2048) */
	int         batch_tokens; /* estimated tokens per request (≤ 300000) */
} embed_openai_config;

/* The OpenAI embeddings API. NULL with err on a bad configuration. */
rag_embedder *embed_openai_new(const embed_openai_config *cfg, sb_error *err);
/* The default dimension of a known OpenAI model, or 0. */
int embed_openai_model_dim(const char *model);
/* Stop retries and abort requests in flight (shutdown); any thread. */
void embed_openai_cancel(rag_embedder *e);

#endif
