/*
 * rag_client.c — typed wrappers over the generated rag.* stubs (see rag_client.h).
 */
#include "rag_client.h"
#include "sb_schema_gen.h"

int rag_query(sb_client *c, const char *biz, const char *query, int topk, json_t **results, sb_error *err)
{
	json_t *args = json_pack("{s:s,s:s}", "businessId", biz, "query", query);
	if (!args)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "rag.query needs a business id and a query");
	if (topk > 0)
		json_object_set_new(args, "topK", json_integer(topk));
	return rag_rag_query(c, args, results, err);
}

int rag_index(sb_client *c, const char *biz, const char *id, const char *title, const char *category,
	      const char *content, json_t **reply, sb_error *err)
{
	json_t *args = json_pack("{s:s,s:s,s:s,s:s,s:s*}", "businessId", biz, "id", id, "title", title, "content",
				 content, "category", category);
	if (!args)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "rag.index needs business id, id, title and content");
	json_t *data = NULL;
	int rc = rag_rag_index(c, args, &data, err);
	if (reply)
		*reply = data;
	else
		json_decref(data);
	return rc;
}

int rag_delete(sb_client *c, const char *id, int *deleted, sb_error *err)
{
	json_t *data = NULL;
	int rc = rag_rag_delete(c, json_pack("{s:s}", "id", id), &data, err);
	if (deleted)
		*deleted = rc == 0 && json_is_true(json_object_get(data, "deleted"));
	json_decref(data);
	return rc;
}
