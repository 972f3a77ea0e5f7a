/*
 * gateway_admin_keys.c — API keys (admin API; store ops apikeys.*).
 *
 *   GET    /api/keys?businessId=   {items:[{id,prefix,name,businessId,createdAt,revokedAt}]}
 *   POST   /api/keys {name?,businessId?}
 *                                  201 {id,key,prefix,name,businessId,createdAt}: the
 *                                  plain key, shown this once (the store keeps a hash)
 *   DELETE /api/keys/{id}          the revoked key's record; it stops working at once
 *                                  on this gateway (within 5 s on others)
 *
 * A business key manages its own business's keys only; an admin key (no
 * businessId) can make keys for any business, or more admin keys.
 */
#include <string.h>

#include "gateway.h"
#include "sb_json.h"

void gw_keys_list(gw_req *r)
{
	const char *biz;
	if (gw_scope_list(r, gw_query(r, "businessId"), &biz) == 0)
		gw_reply_store(r, 200, SB_STORE_APIKEYS_LIST, json_pack("{s:s?}", "businessId", biz));
}

void gw_keys_create(gw_req *r)
{
	json_t *body = gw_json_body(r);
	if (!body || gw_scope_body(r, body) < 0) {
		json_decref(body);
		return;
	}
	gw_reply_store(r, 201, SB_STORE_APIKEYS_CREATE, body);
}

/* true if key id belongs to the caller's business (always, for admins); else false after a 404. */
static bool own_key(gw_req *r, const char *id)
{
	gw_principal *who = gw_who(r);
	if (who->admin)
		return true;
	json_t *list = gw_store(r, SB_STORE_APIKEYS_LIST, gw_args1("businessId", who->business_id));
	if (!list)
		return false;
	json_t *items = json_object_get(list, "items"), *k;
	size_t i;
	bool found = false;
	json_array_foreach(items, i, k)
		found = found || strcmp(sb_json_str(k, "id") ? sb_json_str(k, "id") : "", id) == 0;
	json_decref(list);
	if (!found)
		gw_reply_error(r, 404, "API key %s not found", id);
	return found;
}

void gw_keys_revoke(gw_req *r)
{
	const char *id = gw_param(r, 0);
	if (!own_key(r, id))
		return;
	json_t *k = gw_store(r, SB_STORE_APIKEYS_REVOKE, gw_args1("id", id));
	if (!k)
		return;
	gw_auth_forget(id);
	gw_reply_json(r, 200, k);
}
