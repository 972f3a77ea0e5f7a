/*
 * store_knowledge.c — knowledge.* ops (table rag_content).
 *
 * A document starts 'pending'; the rag-worker indexes it and reports back
 * through knowledge.set_status. Changing its title or content sends it back
 * to 'pending' so it is indexed again.
 */
#include <string.h>

#include "sb_json.h"
#include "store.h"

#define DOC_COLS \
	"id, business_id AS businessId, title, content, category, metadata AS \"metadata$json\"," \
	" vector_id AS vectorId, index_status AS indexStatus, index_error AS indexError, chunks," \
	" created_at AS \"createdAt$time\", updated_at AS \"updatedAt$time\""

static int get_doc(store_tx *tx, const char *id, json_t **out, sb_error *err)
{
	int rc = store_one(tx, out, err, "SELECT " DOC_COLS " FROM rag_content WHERE id = ?", "s", id);
	if (rc == 0)
		return sb_error_set(err, SB_NOT_FOUND, "knowledge document %s not found", id);
	return rc < 0 ? -1 : 0;
}

/* The event body every knowledge.* event carries. */
static json_t *doc_event(json_t *doc)
{
	return json_pack("{s:O,s:O,s:O}", "id", json_object_get(doc, "id"), "businessId",
			 json_object_get(doc, "businessId"), "status", json_object_get(doc, "indexStatus"));
}

int op_knowledge_create(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	char buf[64];
	const char *id = store_arg_id(args, "kb", buf, sizeof buf), *biz = sb_json_str(args, "businessId");
	int64_t found = store_int(tx, err, "SELECT count(*) FROM business WHERE id = ?", "s", biz);
	if (found <= 0)
		return found < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "business %s not found", biz);
	int n = store_exec(tx, err,
			   "INSERT INTO rag_content (id, business_id, title, content, category, metadata,"
			   " index_status, created_at, updated_at)"
			   " VALUES (?, ?, ?, ?, ?, coalesce(?, '{}'), 'pending', ?, ?) ON CONFLICT(id) DO NOTHING",
			   "sssssjII", id, biz, sb_json_str(args, "title"), sb_json_str(args, "content"),
			   sb_json_str(args, "category"), json_object_get(args, "metadata"), tx->now, tx->now);
	if (n < 0 || get_doc(tx, id, out, err) < 0)
		return -1;
	if (strcmp(sb_json_str(*out, "businessId"), biz) != 0) { /* a client id reused across tenants */
		json_decref(*out);
		*out = NULL;
		return sb_error_set(err, SB_CONFLICT, "knowledge id %s is already in use", id);
	}
	if (n > 0)
		store_emit(tx, SB_EV_KNOWLEDGE_CREATED, doc_event(*out));
	return 0;
}

int op_knowledge_get(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	return get_doc(tx, sb_json_str(args, "id"), out, err);
}

int op_knowledge_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId"), *status = sb_json_str(args, "status");
	int64_t limit = sb_json_int(args, "limit", 100), offset = sb_json_int(args, "offset", 0);
	json_t *items = store_all(tx, err,
				  "SELECT " DOC_COLS " FROM rag_content WHERE business_id = ?1"
				  " AND (?2 IS NULL OR index_status = ?2) ORDER BY created_at DESC, rowid DESC LIMIT ?3 OFFSET ?4",
				  "ssII", biz, status, limit, offset);
	int64_t total = store_int(tx, err,
				  "SELECT count(*) FROM rag_content WHERE business_id = ?1"
				  " AND (?2 IS NULL OR index_status = ?2)",
				  "ss", biz, status);
	if (!items || total < 0) {
		json_decref(items);
		return -1;
	}
	*out = json_pack("{s:o,s:I}", "items", items, "total", (json_int_t)total);
	return 0;
}

/*
 * Only given fields change; a changed title or content sends the document
 * back to 'pending'. An update that changes nothing (a resend) writes nothing
 * and emits nothing.
 */
int op_knowledge_update(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	int n = store_exec(tx, err,
			   "UPDATE rag_content SET"
			   " index_status = CASE WHEN coalesce(?1, title) IS NOT title OR coalesce(?2, content) IS NOT content"
			   "   THEN 'pending' ELSE index_status END,"
			   " index_error = CASE WHEN coalesce(?1, title) IS NOT title OR coalesce(?2, content) IS NOT content"
			   "   THEN NULL ELSE index_error END,"
			   " title = coalesce(?1, title), content = coalesce(?2, content),"
			   " category = coalesce(?3, category), metadata = coalesce(?4, metadata), updated_at = ?5"
			   " WHERE id = ?6 AND (coalesce(?1, title) IS NOT title OR coalesce(?2, content) IS NOT content"
			   "   OR coalesce(?3, category) IS NOT category OR coalesce(?4, metadata) IS NOT metadata)",
			   "sssjIs", sb_json_str(args, "title"), sb_json_str(args, "content"), sb_json_str(args, "category"),
			   json_object_get(args, "metadata"), tx->now, id);
	if (n < 0 || get_doc(tx, id, out, err) < 0)
		return -1;
	if (n > 0)
		store_emit(tx, SB_EV_KNOWLEDGE_UPDATED, doc_event(*out));
	return 0;
}

int op_knowledge_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	json_t *row;
	int rc = store_one(tx, &row, err,
			   "DELETE FROM rag_content WHERE id = ? RETURNING id, business_id AS businessId,"
			   " index_status AS indexStatus",
			   "s", id);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "knowledge document %s not found", id);
	store_emit(tx, SB_EV_KNOWLEDGE_DELETED, doc_event(row));
	json_decref(row);
	*out = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
	return 0;
}

/* Record what the rag-worker reports; error is cleared unless given, vectorId and chunks kept unless given. */
int op_knowledge_set_status(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	int n = store_exec(tx, err,
			   "UPDATE rag_content SET index_status = ?1, index_error = ?2,"
			   " vector_id = coalesce(?3, vector_id), chunks = coalesce(?4, chunks), updated_at = ?5"
			   " WHERE id = ?6 AND (index_status IS NOT ?1 OR index_error IS NOT ?2"
			   "   OR coalesce(?3, vector_id) IS NOT vector_id OR coalesce(?4, chunks) IS NOT chunks)",
			   "sssNIs", sb_json_str(args, "status"), sb_json_str(args, "error"), sb_json_str(args, "vectorId"),
			   json_object_get(args, "chunks"), tx->now, id);
	if (n < 0 || get_doc(tx, id, out, err) < 0)
		return -1;
	if (n > 0)
		store_emit(tx, SB_EV_KNOWLEDGE_STATUS, doc_event(*out));
	return 0;
}
