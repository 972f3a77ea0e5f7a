/*
 * gateway_auth.c — who is calling the admin API, and what they may see.
 *
 * Authorization: Bearer <key>. Two kinds of key are accepted:
 *   - SB_ADMIN_KEY (--admin-key), compared in constant time (as SHA-256
 *     digests, so the comparison never depends on the key's length);
 *   - keys made with POST /api/keys (or `sb-gateway admin-key`), verified by
 *     the store (apikeys.verify: it keeps only their hashes).
 * A verified key is cached for AUTH_TTL_MS under the SHA-256 of the key, so
 * the store is not asked on every request. A revoke made through this
 * gateway drops the cached entry at once; a revoke made elsewhere (another
 * gateway, the store directly) takes effect within AUTH_TTL_MS.
 *
 * Scoping: an admin key (no business) sees everything. A key bound to a
 * business sees only that business: lists are restricted to it, creates are
 * put in it, and another business's object is answered exactly like a
 * missing one (404), so its existence does not leak.
 */
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "sb_hmac.h"
#include "sb_json.h"
#include "sb_log.h"

#define AUTH_TTL_MS    5000
#define AUTH_SLOTS     1024
#define KEY_MAX_LEN    200 /* apikeys.verify's limit */

static struct {
	gw_cache     *keys; /* hex sha256(key) → gw_principal */
	bool          have_admin;
	unsigned char admin_digest[SB_SHA256_LEN];
} A;

int gw_auth_init(void)
{
	A.keys = gw_cache_new(AUTH_SLOTS, sizeof(gw_principal), AUTH_TTL_MS);
	A.have_admin = gw_cfg.admin_key != NULL;
	if (A.have_admin)
		sb_sha256(gw_cfg.admin_key, strlen(gw_cfg.admin_key), A.admin_digest);
	return 0;
}

void gw_auth_fini(void)
{
	gw_cache_free(A.keys);
	A.keys = NULL;
}

/* The key of "Bearer <key>" (printable ASCII, 1..KEY_MAX_LEN) copied into out, or NULL. */
static const char *bearer_key(const char *header, char out[KEY_MAX_LEN + 1])
{
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	const char *k = header + 7;
	while (*k == ' ')
		k++;
	size_t n = strcspn(k, " ");
	if (n == 0 || n > KEY_MAX_LEN || k[n + strspn(k + n, " ")] != '\0')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return NULL;
	memcpy(out, k, n);
	out[n] = '\0';
	return out;
}

/* Ask the store about key; fill who. true, or false after replying. */
static bool verify_with_store(gw_req *r, const char *key, const char *digest_hex, gw_principal *who)
{
	uint64_t gen = gw_cache_gen(A.keys);
	json_t *data = NULL;
	sb_error err = {0};
	if (sb_client_call(gw.store, &SB_SVC_STORE, SB_STORE_APIKEYS_VERIFY, json_pack("{s:s}", "key", key), &data,
			   &err) < 0) {
		if (err.code == SB_UNAUTHENTICATED)
			gw_reply_error(r, 401, "invalid or revoked API key");
		else
			gw_reply_sberr(r, &err);
		return false;
	}
	const char *biz = sb_json_str(data, "businessId");
	who->admin = biz == NULL;
	snprintf(who->business_id, sizeof who->business_id, "%s", biz ? biz : "");
	snprintf(who->key_id, sizeof who->key_id, "%s", sb_json_str(data, "id") ? sb_json_str(data, "id") : "");
	json_decref(data);
	gw_cache_put(A.keys, digest_hex, who, gen);
	return true;
}

bool gw_auth_check(gw_req *r)
{
	char key[KEY_MAX_LEN + 1];
	if (!bearer_key(gw_header(r, "Authorization"), key)) {
		gw_reply_error(r, 401, "malformed Authorization header (expected: Bearer <key>)");
		return false;
	}
	gw_principal *who = gw_who(r);
	unsigned char digest[SB_SHA256_LEN];
	sb_sha256(key, strlen(key), digest);
	if (A.have_admin && sb_ct_equal(digest, A.admin_digest, sizeof digest)) {
		memset(who, 0, sizeof *who);
		who->admin = true;
		return true;
	}
	char hex[2 * SB_SHA256_LEN + 1];
	sb_hex(digest, sizeof digest, hex);
	if (gw_cache_get(A.keys, hex, who))
		return true;
	return verify_with_store(r, key, hex, who);
}

static bool same_key_id(const void *value, const void *arg)
{
	return strcmp(((const gw_principal *)value)->key_id, (const char *)arg) == 0;
}

void gw_auth_forget(const char *key_id)
{
	gw_cache_drop_if(A.keys, same_key_id, key_id);
}

/* ---- scoping ------------------------------------------------------------------------- */

int gw_scope_list(gw_req *r, const char *requested, const char **biz)
{
	gw_principal *who = gw_who(r);
	if (who->admin) {
		*biz = requested;
		return 0;
	}
	if (requested && strcmp(requested, who->business_id) != 0) {
		gw_reply_error(r, 404, "business %s not found", requested);
		return -1;
	}
	*biz = who->business_id;
	return 0;
}

bool gw_scope_owns(gw_req *r, const json_t *obj, const char *what, const char *id)
{
	gw_principal *who = gw_who(r);
	const char *biz = sb_json_str(obj, "businessId");
	if (who->admin || (biz && strcmp(biz, who->business_id) == 0))
		return true;
	gw_reply_error(r, 404, "%s %s not found", what, id);
	return false;
}

bool gw_require_admin(gw_req *r)
{
	if (gw_who(r)->admin)
		return true;
	gw_reply_error(r, 403, "this needs an admin API key");
	return false;
}

json_t *gw_fetch_owned(gw_req *r, int op, const char *key, const char *id, const char *what)
{
	json_t *obj = gw_store(r, op, gw_args1(key, id));
	if (obj && !gw_scope_owns(r, obj, what, id)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int gw_scope_body(gw_req *r, json_t *obj)
{
	gw_principal *who = gw_who(r);
	if (who->admin)
		return 0;
	json_t *given = json_object_get(obj, "businessId");
	if (!given) {
		json_object_set_new(obj, "businessId", json_string(who->business_id));
		return 0;
	}
	if (json_is_string(given) && strcmp(json_string_value(given), who->business_id) != 0) {
		gw_reply_error(r, 404, "business %s not found", json_string_value(given));
		return -1;
	}
	return 0; /* ours, or not a string: the store's validation answers that (422) */
}
