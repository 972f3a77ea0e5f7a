/*
 * store_numbers.c — phone_numbers.* and config.* ops.
 *
 * A phone number (E.164) belongs to at most one business; inbound calls find
 * their business through phone_numbers.lookup. Configuration is a per-business
 * key → JSON value map, stored one row per key with the value as JSON text.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sb_json.h"
#include "store.h"

#define NUMBER_COLS "number, business_id AS businessId, created_at AS \"createdAt$time\""

#define BUSINESS_COLS \
	"id, name, is_active AS \"isActive$bool\", timezone, created_at AS \"createdAt$time\"," \
	" updated_at AS \"updatedAt$time\""

/* Canonical JSON text of a config value: sorted keys so equal values compare equal. */
#define CONFIG_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)

/* 1 if s is E.164: '+', then 8 to 15 digits, the first one 1-9. Used by store_payers.c too. */
int store_e164_ok(const char *s)
{
	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	size_t n = 0;
	for (const char *p = s + 1; *p; p++, n++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return n >= 8 && n <= 15;
}

/* 0 if business id exists, else -1 with SB_NOT_FOUND (or the database error). */
static int need_business(store_tx *tx, const char *id, sb_error *err)
{
	int64_t n = store_int(tx, err, "SELECT count(*) FROM business WHERE id = ?", "s", id);
	if (n < 0)
		return -1;
	return n ? 0 : sb_error_set(err, SB_NOT_FOUND, "business %s not found", id);
}

/* ---- phone_numbers.* ------------------------------------------------------ */

int op_phone_numbers_create(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *number = sb_json_str(args, "number"), *biz = sb_json_str(args, "businessId");
	if (!store_e164_ok(number))
		return sb_error_set(err, SB_INVALID_ARGUMENT, "number must be E.164 (+ and 8 to 15 digits)");
	if (need_business(tx, biz, err) < 0)
		return -1;
	int n = store_exec(tx, err,
			   "INSERT INTO phone_number (number, business_id, created_at) VALUES (?, ?, ?)"
			   " ON CONFLICT(number) DO NOTHING",
			   "ssI", number, biz, tx->now);
	if (n < 0 || store_one(tx, out, err, "SELECT " NUMBER_COLS " FROM phone_number WHERE number = ?", "s",
			       number) < 0)
		return -1;
	if (!*out)
		return sb_error_set(err, SB_INTERNAL, "number %s vanished after insert", number);
	if (strcmp(sb_json_str(*out, "businessId"), biz) != 0) {
		json_decref(*out);
		*out = NULL;
		return sb_error_set(err, SB_CONFLICT, "number %s is already bound to another business", number);
	}
	if (n > 0)
		store_emit(tx, SB_EV_PHONE_NUMBER_CREATED, json_pack("{s:s,s:s}", "number", number, "businessId", biz));
	return 0;
}

int op_phone_numbers_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	json_t *items = store_all(tx, err,
				  "SELECT " NUMBER_COLS " FROM phone_number WHERE (?1 IS NULL OR business_id = ?1)"
				  " ORDER BY number",
				  "s", sb_json_str(args, "businessId"));
	if (!items)
		return -1;
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int op_phone_numbers_lookup(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *number = sb_json_str(args, "number");
	json_t *row, *biz;
	int rc = store_one(tx, &row, err, "SELECT number, business_id AS businessId FROM phone_number WHERE number = ?",
			   "s", number);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "number %s not found", number);
	rc = store_one(tx, &biz, err, "SELECT " BUSINESS_COLS " FROM business WHERE id = ?", "s",
		       sb_json_str(row, "businessId"));
	if (rc <= 0) { /* cannot happen with foreign keys on, but never answer half a lookup */
		json_decref(row);
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "number %s not found", number);
	}
	json_object_set_new(row, "business", biz);
	*out = row;
	return 0;
}

int op_phone_numbers_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *number = sb_json_str(args, "number");
	json_t *row;
	int rc = store_one(tx, &row, err, "DELETE FROM phone_number WHERE number = ? RETURNING business_id AS businessId",
			   "s", number);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "number %s not found", number);
	store_emit(tx, SB_EV_PHONE_NUMBER_DELETED,
		   json_pack("{s:s,s:O}", "number", number, "businessId", json_object_get(row, "businessId")));
	json_decref(row);
	*out = json_pack("{s:s,s:b}", "number", number, "deleted", 1);
	return 0;
}

/* ---- config.* ---------------------------------------------------------------- */

/* The whole configuration of a business as one object (the business must exist). */
static int config_object(store_tx *tx, const char *biz, json_t **out, sb_error *err)
{
	if (need_business(tx, biz, err) < 0)
		return -1;
	json_t *rows = store_all(tx, err,
				 "SELECT key, value AS \"value$json\" FROM configuration WHERE business_id = ? ORDER BY key",
				 "s", biz);
	if (!rows)
		return -1;
	json_t *obj = json_object(), *row;
	size_t i;
	json_array_foreach(rows, i, row)
		json_object_set(obj, sb_json_str(row, "key"), json_object_get(row, "value"));
	json_decref(rows);
	*out = obj;
	return 0;
}

/* Upsert one key; 1 if the stored value changed, 0 if it was already equal, -1 with err. */
static int config_put(store_tx *tx, const char *biz, const char *key, json_t *value, sb_error *err)
{
	size_t klen = strlen(key);
	if (klen == 0 || klen > 100)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "configuration keys must be 1 to 100 characters");
	char *text = json_dumps(value ? value : json_null(), CONFIG_DUMP_FLAGS);
	if (!text)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "value of '%s' cannot be encoded", key);
	int n = store_exec(tx, err,
			   "INSERT INTO configuration (business_id, key, value, updated_at) VALUES (?, ?, ?, ?)"
			   " ON CONFLICT(business_id, key) DO UPDATE SET value = excluded.value,"
			   " updated_at = excluded.updated_at WHERE value IS NOT excluded.value",
			   "sssI", biz, key, text, tx->now);
	free(text);
	return n < 0 ? -1 : n > 0;
}

int op_config_get(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	return config_object(tx, sb_json_str(args, "businessId"), out, err);
}

int op_config_set(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId"), *key = sb_json_str(args, "key");
	if (need_business(tx, biz, err) < 0)
		return -1;
	int changed = config_put(tx, biz, key, json_object_get(args, "value"), err);
	if (changed < 0 || config_object(tx, biz, out, err) < 0)
		return -1;
	if (changed)
		store_emit(tx, SB_EV_CONFIG_UPDATED, json_pack("{s:s,s:[s]}", "businessId", biz, "keys", key));
	return 0;
}

int op_config_set_many(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId"), *key;
	json_t *values = json_object_get(args, "values"), *v;
	if (need_business(tx, biz, err) < 0)
		return -1;
	json_t *keys = json_array();
	json_object_foreach(values, key, v) {
		int changed = config_put(tx, biz, key, v, err);
		if (changed < 0) {
			json_decref(keys);
			return -1; /* the savepoint undoes the keys already written */
		}
		if (changed)
			json_array_append_new(keys, json_string(key));
	}
	if (config_object(tx, biz, out, err) < 0) {
		json_decref(keys);
		return -1;
	}
	if (json_array_size(keys))
		store_emit(tx, SB_EV_CONFIG_UPDATED, json_pack("{s:s,s:o}", "businessId", biz, "keys", keys));
	else
		json_decref(keys);
	return 0;
}

int op_config_delete(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId"), *key = sb_json_str(args, "key");
	if (need_business(tx, biz, err) < 0)
		return -1;
	int n = store_exec(tx, err, "DELETE FROM configuration WHERE business_id = ? AND key = ?", "ss", biz, key);
	if (n < 0)
		return -1;
	if (n > 0)
		store_emit(tx, SB_EV_CONFIG_UPDATED, json_pack("{s:s,s:[s]}", "businessId", biz, "keys", key));
	*out = json_pack("{s:b}", "deleted", n > 0);
	return 0;
}
