/*
 * store_businesses.c — businesses.* ops.
 */
#include "sb_json.h"
#include "store.h"

#define BUSINESS_COLS \
	"id, name, is_active AS \"isActive$bool\", timezone, created_at AS \"createdAt$time\"," \
	" updated_at AS \"updatedAt$time\""

static int get_business(store_tx *tx, const char *id, json_t **out, sb_error *err)
{
	int rc = store_one(tx, out, err, "SELECT " BUSINESS_COLS " FROM business WHERE id = ?", "s", id);
	if (rc == 0)
		return sb_error_set(err, SB_NOT_FOUND, "business %s not found", id);
	return rc < 0 ? -1 : 0;
}

int op_businesses_create(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	char buf[64];
	const char *id = store_arg_id(args, "biz", buf, sizeof buf);
	int n = store_exec(tx, err,
			   "INSERT INTO business (id, name, is_active, timezone, created_at, updated_at)"
			   " VALUES (?, ?, ?, coalesce(?, 'UTC'), ?, ?) ON CONFLICT(id) DO NOTHING",
			   "ssbsII", id, sb_json_str(args, "name"), sb_json_bool(args, "isActive", 1),
			   sb_json_str(args, "timezone"), tx->now, tx->now);
	if (n < 0 || get_business(tx, id, out, err) < 0)
		return -1;
	if (n > 0)
		store_emit(tx, SB_EV_BUSINESS_CREATED, json_pack("{s:s,s:s}", "id", id, "name", sb_json_str(args, "name")));
	return 0;
}

int op_businesses_get(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	return get_business(tx, sb_json_str(args, "id"), out, err);
}

int op_businesses_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	json_int_t limit = sb_json_int(args, "limit", 100), offset = sb_json_int(args, "offset", 0);
	json_t *items = store_all(tx, err, "SELECT " BUSINESS_COLS " FROM business ORDER BY created_at DESC, rowid DESC"
				  " LIMIT ? OFFSET ?", "II", (int64_t)limit, (int64_t)offset);
	int64_t total = store_int(tx, err, "SELECT count(*) FROM business", "");
	if (!items || total < 0) {
		json_decref(items);
		return -1;
	}
	*out = json_pack("{s:o,s:I}", "items", items, "total", (json_int_t)total);
	return 0;
}

int op_businesses_update(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	int n = store_exec(tx, err,
			   "UPDATE business SET name = coalesce(?, name), is_active = coalesce(?, is_active),"
			   " timezone = coalesce(?, timezone), updated_at = ? WHERE id = ?",
			   "sBsIs", sb_json_str(args, "name"), json_object_get(args, "isActive"),
			   sb_json_str(args, "timezone"), tx->now, id);
	if (n < 0 || get_business(tx, id, out, err) < 0)
		return -1;
	store_emit(tx, SB_EV_BUSINESS_UPDATED, json_pack("{s:s}", "id", id));
	return 0;
}

int op_businesses_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	int n = store_exec(tx, err, "DELETE FROM business WHERE id = ?", "s", id);
	if (n < 0)
		return -1;
	if (n == 0)
		return sb_error_set(err, SB_NOT_FOUND, "business %s not found", id);
	*out = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
	store_emit(tx, SB_EV_BUSINESS_DELETED, json_pack("{s:s}", "id", id));
	return 0;
}
