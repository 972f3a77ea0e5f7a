/*
 * store_apikeys.c — apikeys.* ops.
 *
 * A key is "sbk_" + 40 lowercase hex characters (160 random bits). Only its
 * SHA-256 (hex) is kept, which is also how verify finds it; the plain key
 * appears once, in the reply to apikeys.create. A key bound to a business
 * sees only that business; a key without one is an admin key.
 */
#include <string.h>

#include "sb_hmac.h"
#include "sb_id.h"
#include "sb_json.h"
#include "store.h"

#define KEY_PREFIX     "sbk_"
#define KEY_RAND_BYTES 20
#define KEY_LEN        (sizeof KEY_PREFIX - 1 + 2 * KEY_RAND_BYTES)
#define KEY_SHOWN      12 /* characters kept in clear to recognise a key in lists */

#define KEY_COLS \
	"id, prefix, name, business_id AS businessId, created_at AS \"createdAt$time\"," \
	" revoked_at AS \"revokedAt$time\""

/* The hex SHA-256 of a key: the form it is stored and looked up in. */
static void key_hash(const char *key, char out[2 * SB_SHA256_LEN + 1])
{
	unsigned char digest[SB_SHA256_LEN];
	sb_sha256(key, strlen(key), digest);
	sb_hex(digest, sizeof digest, out);
}

/* A fresh plain key into out (KEY_LEN + 1 bytes); -1 with err if the RNG fails. */
static int key_new(char out[KEY_LEN + 1], sb_error *err)
{
	unsigned char raw[KEY_RAND_BYTES];
	if (sb_random_bytes(raw, sizeof raw) < 0)
		return sb_error_set(err, SB_INTERNAL, "no randomness for a new API key");
	memcpy(out, KEY_PREFIX, sizeof KEY_PREFIX - 1);
	sb_hex(raw, sizeof raw, out + sizeof KEY_PREFIX - 1);
	return 0;
}

int op_apikeys_create(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *biz = sb_json_str(args, "businessId");
	int64_t found = biz ? store_int(tx, err, "SELECT count(*) FROM business WHERE id = ?", "s", biz) : 1;
	if (found <= 0)
		return found < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "business %s not found", biz);
	char buf[64], key[KEY_LEN + 1], hash[2 * SB_SHA256_LEN + 1], prefix[KEY_SHOWN + 1];
	const char *id = store_arg_id(args, "key", buf, sizeof buf);
	if (key_new(key, err) < 0)
		return -1;
	key_hash(key, hash);
	memcpy(prefix, key, KEY_SHOWN);
	prefix[KEY_SHOWN] = '\0';
	int n = store_exec(tx, err,
			   "INSERT INTO api_key (id, hash, prefix, name, business_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			   "sssssI", id, hash, prefix, sb_json_str(args, "name"), biz, tx->now);
	if (n < 0)
		return -1;
	*out = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:o}", "id", id, "key", key, "prefix", prefix, "name",
			 sb_json_str(args, "name"), "businessId", biz, "createdAt", store_time_json(tx->now));
	store_emit(tx, SB_EV_APIKEY_CREATED, json_pack("{s:s,s:s?}", "id", id, "businessId", biz));
	explicit_bzero(key, sizeof key);
	return 0;
}

int op_apikeys_list(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	json_t *items = store_all(tx, err,
				  "SELECT " KEY_COLS " FROM api_key WHERE (?1 IS NULL OR business_id = ?1)"
				  " ORDER BY created_at DESC, rowid DESC",
				  "s", sb_json_str(args, "businessId"));
	if (!items)
		return -1;
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

/* Revoking twice is a no-op: the first revokedAt stays and nothing is emitted again. */
int op_apikeys_revoke(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	const char *id = sb_json_str(args, "id");
	int n = store_exec(tx, err, "UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", "Is",
			   tx->now, id);
	if (n < 0)
		return -1;
	int rc = store_one(tx, out, err, "SELECT " KEY_COLS " FROM api_key WHERE id = ?", "s", id);
	if (rc <= 0)
		return rc < 0 ? -1 : sb_error_set(err, SB_NOT_FOUND, "API key %s not found", id);
	if (n > 0)
		store_emit(tx, SB_EV_APIKEY_REVOKED,
			   json_pack("{s:s,s:O}", "id", id, "businessId", json_object_get(*out, "businessId")));
	return 0;
}

/* {id, businessId} of a valid, unrevoked key (businessId null for admin keys). */
int op_apikeys_verify(store_tx *tx, json_t *args, json_t **out, sb_error *err)
{
	char hash[2 * SB_SHA256_LEN + 1];
	key_hash(sb_json_str(args, "key"), hash);
	int rc = store_one(tx, out, err,
			   "SELECT id, business_id AS businessId FROM api_key WHERE hash = ? AND revoked_at IS NULL", "s",
			   hash);
	if (rc == 0)
		return sb_error_set(err, SB_UNAUTHENTICATED, "invalid or revoked API key");
	return rc < 0 ? -1 : 0;
}
