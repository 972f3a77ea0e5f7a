/*
 * gateway_admin_rag.c — the knowledge base (admin API): documents live in
 * the store (knowledge.*), their chunks and vectors in the rag-worker
 * (rag.*).
 *
 *   GET    /api/rag?businessId=&limit=&offset=&status=   {items,total}, newest first
 *   POST   /api/rag          {businessId,title,content,category?,metadata?}
 *                            → 201 the document, indexed at once if the worker answers
 *   GET    /api/rag/{id}     the document
 *   PUT    /api/rag/{id}     {title?,content?,category?,metadata?} → the document (re-indexed if its text changed)
 *   DELETE /api/rag/{id}     {id,deleted}, and its vectors removed
 *   POST   /api/rag/search   {businessId,query,topK?} → {results:[{id,score,title,category,content}]}
 *
 * The store is the record: a document is created or changed even when the
 * rag-worker is down or slow. The reply then says indexStatus "pending"
 * with an indexError explaining why; the worker indexes pending documents
 * when it comes back (rag.reindex). Search needs the worker: 503 without it.
 */
#include <string.h>

#include "gateway.h"
#include "sb_json.h"

/* Ask the rag-worker to index doc now; record the outcome in doc (indexStatus/chunks, or indexError). */
static void index_now(json_t *doc)
{
	json_t *args = json_pack("{s:O,s:O,s:O,s:O,s:O?,s:O?}", "id", json_object_get(doc, "id"), "businessId",
				 json_object_get(doc, "businessId"), "title", json_object_get(doc, "title"), "content",
				 json_object_get(doc, "content"), "category", json_object_get(doc, "category"),
				 "metadata", json_object_get(doc, "metadata"));
	json_t *res = NULL;
	sb_error err = {0};
	if (sb_client_call(gw.rag, &SB_SVC_RAG, SB_RAG_RAG_INDEX, args, &res, &err) == 0) {
		json_t *st = json_object_get(res, "status"), *chunks = json_object_get(res, "chunks");
		json_object_set_new(doc, "indexStatus", st ? json_incref(st) : json_string("indexed"));
		if (chunks)
			json_object_set(doc, "chunks", chunks);
	} else {
		json_object_set_new(doc, "indexError", sb_json_string_or_null(err.message));
	}
	json_decref(res);
}

void gw_rag_list(gw_req *r)
{
	const char *biz;
	long limit, offset;
	if (gw_scope_list(r, gw_query(r, "businessId"), &biz) < 0 ||
	    gw_query_int(r, "limit", 100, 1, 1000, &limit) < 0 || gw_query_int(r, "offset", 0, 0, 1L << 30, &offset) < 0)
		return;
	if (!biz) {
		gw_reply_error(r, 422, "businessId is required");
		return;
	}
	json_t *args = json_pack("{s:s,s:I,s:I}", "businessId", biz, "limit", (json_int_t)limit, "offset",
				 (json_int_t)offset);
	gw_query_to(r, "status", args, "status");
	gw_reply_store(r, 200, SB_STORE_KNOWLEDGE_LIST, args);
}

void gw_rag_create(gw_req *r)
{
	json_t *body = gw_json_body(r);
	if (!body || gw_scope_body(r, body) < 0) {
		json_decref(body);
		return;
	}
	json_t *doc = gw_store(r, SB_STORE_KNOWLEDGE_CREATE, body);
	if (!doc)
		return;
	index_now(doc);
	gw_reply_json(r, 201, doc);
}

void gw_rag_get(gw_req *r)
{
	json_t *doc = gw_fetch_owned(r, SB_STORE_KNOWLEDGE_GET, "id", gw_param(r, 0), "knowledge document");
	if (doc)
		gw_reply_json(r, 200, doc);
}

void gw_rag_update(gw_req *r)
{
	json_t *old = gw_fetch_owned(r, SB_STORE_KNOWLEDGE_GET, "id", gw_param(r, 0), "knowledge document");
	json_t *body = old ? gw_json_body(r) : NULL;
	json_decref(old);
	if (!body)
		return;
	json_object_set_new(body, "id", sb_json_string_or_null(gw_param(r, 0)));
	json_t *doc = gw_store(r, SB_STORE_KNOWLEDGE_UPDATE, body);
	if (!doc)
		return;
	const char *st = sb_json_str(doc, "indexStatus");
	if (!st || strcmp(st, "indexed") != 0) /* the text changed (pending) or an earlier index failed */
		index_now(doc);
	gw_reply_json(r, 200, doc);
}

void gw_rag_delete(gw_req *r)
{
	json_t *doc = gw_fetch_owned(r, SB_STORE_KNOWLEDGE_GET, "id", gw_param(r, 0), "knowledge document");
	if (!doc)
		return;
	json_t *d = gw_store(r, SB_STORE_KNOWLEDGE_DELETE, gw_args1("id", gw_param(r, 0)));
	if (d) {
		json_t *res = NULL;
		sb_error err = {0};
		json_t *args = json_pack("{s:O,s:O}", "id", json_object_get(doc, "id"), "businessId",
					 json_object_get(doc, "businessId"));
		if (sb_client_call(gw.rag, &SB_SVC_RAG, SB_RAG_RAG_DELETE, args, &res, &err) < 0)
			json_object_set_new(d, "indexError", sb_json_string_or_null(err.message));
		json_decref(res);
		gw_reply_json(r, 200, d);
	}
	json_decref(doc);
}

void gw_rag_search(gw_req *r)
{
	json_t *body = gw_json_body(r);
	if (!body || gw_scope_body(r, body) < 0) {
		json_decref(body);
		return;
	}
	if (!json_is_string(json_object_get(body, "businessId"))) { /* the search is always per business */
		json_decref(body);
		gw_reply_error(r, 422, "businessId is required");
		return;
	}
	json_t *res = gw_call(r, gw.rag, &SB_SVC_RAG, SB_RAG_RAG_QUERY, body);
	if (res)
		gw_reply_json(r, 200, json_is_array(res) ? json_pack("{s:o}", "results", res) : res);
}
