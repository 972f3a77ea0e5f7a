/*
 * gateway_admin_business.c — businesses, their phone numbers and their
 * configuration (admin API; store ops businesses.*, phone_numbers.*,
 * config.*).
 *
 *   GET    /api/businesses?limit=&offset=   {items,total}
 *   POST   /api/businesses                  201 business     (admin keys only)
 *   GET    /api/businesses/{id}             business
 *   PUT    /api/businesses/{id}             business
 *   DELETE /api/businesses/{id}             {id,deleted}     (admin keys only)
 *   GET    /api/phone-numbers?businessId=   {items}
 *   POST   /api/phone-numbers               201 {number,businessId,createdAt}; E.164 only
 *   GET    /api/phone-numbers/{number}      the number with its business
 *   DELETE /api/phone-numbers/{number}      {number,deleted}
 *   GET    /api/config?businessId=          {key: value, ...}
 *   POST   /api/config                      {businessId,key,value} → the whole configuration
 *   PUT    /api/config                      {businessId,values:{...}} → the whole configuration
 *
 * Changes to numbers and businesses drop the voice webhook's number cache
 * so an inbound call sees them at once.
 */
#include <limits.h>
#include <string.h>

#include "gateway.h"
#include "sb_json.h"

/* true if the caller may see business id (admins, or its own business), else false after a 404. */
static bool own_business(gw_req *r, const char *id)
{
	gw_principal *who = gw_who(r);
	if (who->admin || strcmp(who->business_id, id) == 0)
		return true;
	gw_reply_error(r, 404, "business %s not found", id);
	return false;
}

/* ---- businesses ------------------------------------------------------------------- */

void gw_businesses_list(gw_req *r)
{
	gw_principal *who = gw_who(r);
	long limit, offset;
	if (!who->admin) { /* a business key sees its own business only */
		json_t *b = gw_store(r, SB_STORE_BUSINESSES_GET, gw_args1("id", who->business_id));
		if (b)
			gw_reply_json(r, 200, json_pack("{s:[o],s:i}", "items", b, "total", 1));
		return;
	}
	if (gw_query_int(r, "limit", 100, 1, 1000, &limit) < 0 || gw_query_int(r, "offset", 0, 0, INT_MAX, &offset) < 0)
		return;
	gw_reply_store(r, 200, SB_STORE_BUSINESSES_LIST,
		       json_pack("{s:I,s:I}", "limit", (json_int_t)limit, "offset", (json_int_t)offset));
}

void gw_businesses_create(gw_req *r)
{
	json_t *body;
	if (gw_require_admin(r) && (body = gw_json_body(r)))
		gw_reply_store(r, 201, SB_STORE_BUSINESSES_CREATE, body);
}

void gw_businesses_get(gw_req *r)
{
	if (own_business(r, gw_param(r, 0)))
		gw_reply_store(r, 200, SB_STORE_BUSINESSES_GET, gw_args1("id", gw_param(r, 0)));
}

void gw_businesses_update(gw_req *r)
{
	json_t *body;
	if (!own_business(r, gw_param(r, 0)) || !(body = gw_json_body(r)))
		return;
	json_object_set_new(body, "id", sb_json_string_or_null(gw_param(r, 0)));
	json_t *b = gw_store(r, SB_STORE_BUSINESSES_UPDATE, body);
	if (!b)
		return;
	gw_twilio_forget_number(NULL); /* isActive may have changed */
	gw_reply_json(r, 200, b);
}

void gw_businesses_delete(gw_req *r)
{
	if (!gw_require_admin(r))
		return;
	json_t *d = gw_store(r, SB_STORE_BUSINESSES_DELETE, gw_args1("id", gw_param(r, 0)));
	if (!d)
		return;
	gw_twilio_forget_number(NULL);
	gw_reply_json(r, 200, d);
}

/* ---- phone numbers ------------------------------------------------------------------ */

void gw_numbers_list(gw_req *r)
{
	const char *biz;
	if (gw_scope_list(r, gw_query(r, "businessId"), &biz) == 0)
		gw_reply_store(r, 200, SB_STORE_PHONE_NUMBERS_LIST, json_pack("{s:s?}", "businessId", biz));
}

void gw_numbers_create(gw_req *r)
{
	json_t *body = gw_json_body(r);
	if (!body || gw_scope_body(r, body) < 0) {
		json_decref(body);
		return;
	}
	json_t *n = gw_store(r, SB_STORE_PHONE_NUMBERS_CREATE, body);
	if (!n)
		return;
	gw_twilio_forget_number(sb_json_str(n, "number")); /* after the commit: a lookup racing it is not cached */
	gw_reply_json(r, 201, n);
}

void gw_numbers_get(gw_req *r)
{
	json_t *n = gw_fetch_owned(r, SB_STORE_PHONE_NUMBERS_LOOKUP, "number", gw_param(r, 0), "number");
	if (n)
		gw_reply_json(r, 200, n);
}

void gw_numbers_delete(gw_req *r)
{
	json_t *n = gw_fetch_owned(r, SB_STORE_PHONE_NUMBERS_LOOKUP, "number", gw_param(r, 0), "number");
	if (!n)
		return;
	json_decref(n);
	json_t *d = gw_store(r, SB_STORE_PHONE_NUMBERS_DELETE, gw_args1("number", gw_param(r, 0)));
	gw_twilio_forget_number(gw_param(r, 0));
	if (d)
		gw_reply_json(r, 200, d);
}

/* ---- configuration ------------------------------------------------------------------- */

void gw_config_get(gw_req *r)
{
	const char *biz;
	if (gw_scope_list(r, gw_query(r, "businessId"), &biz) < 0)
		return;
	if (!biz)
		gw_reply_error(r, 422, "businessId is required");
	else
		gw_reply_store(r, 200, SB_STORE_CONFIG_GET, gw_args1("businessId", biz));
}

/* POST (one key) and PUT (many keys) share everything but the op. */
static void config_write(gw_req *r, int op)
{
	json_t *body = gw_json_body(r);
	if (!body || gw_scope_body(r, body) < 0) {
		json_decref(body);
		return;
	}
	gw_reply_store(r, 200, op, body);
}

void gw_config_set(gw_req *r)
{
	config_write(r, SB_STORE_CONFIG_SET);
}

void gw_config_set_many(gw_req *r)
{
	config_write(r, SB_STORE_CONFIG_SET_MANY);
}
