/*
 * rag_client.h — typed calls to sb-rag-worker (schemas/rag.json), for
 * callers that would rather not build argument objects: the media bridge's
 * knowledge tool, the gateway, tests. Thin wrappers over the generated
 * rag_rag_* stubs (build/gen/sb_schema_gen.h), which remain the complete
 * interface.
 *
 * Ownership: *results / *reply are owned by the caller (json_decref).
 * Errors come back as sb_error with the worker's code (not_found,
 * invalid_argument, unavailable, deadline_exceeded, ...).
 */
#ifndef RAG_CLIENT_H
#define RAG_CLIENT_H

#include <jansson.h>

#include "sb_err.h"
#include "sb_rpc.h"

/* rag.query: the top topk chunks (0 = the worker's default) of business biz for query: *results is the array. */
int rag_query(sb_client *c, const char *biz, const char *query, int topk, json_t **results, sb_error *err);
/* rag.index of a document already in the store (category may be NULL); *reply {id, status, chunks, ...} (may be NULL). */
int rag_index(sb_client *c, const char *biz, const char *id, const char *title, const char *category,
	      const char *content, json_t **reply, sb_error *err);
/* rag.delete; *deleted (may be NULL) says whether anything was indexed. */
int rag_delete(sb_client *c, const char *id, int *deleted, sb_error *err);

#endif
