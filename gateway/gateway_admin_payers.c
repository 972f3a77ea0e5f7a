/*
 * gateway_admin_payers.c — collections payers (admin API; store ops
 * payers.*) and on-demand outreach (sb-scheduler's outreach.trigger).
 *
 *   GET    /api/payers?businessId=&limit=&offset=   {items,total}
 *   POST   /api/payers                   201 the payer
 *   GET    /api/payers/{id}              the payer with its outreach attempts
 *   PUT    /api/payers/{id}              the payer
 *   DELETE /api/payers/{id}              {id,deleted}
 *   POST   /api/payers/{id}/outreach     the scheduler runs the payer's current
 *                                        stage now: its attempt or skip reason;
 *                                        503 while no scheduler answers
 */
#include <limits.h>
#include <string.h>

#include "gateway.h"
#include "sb_json.h"

#define WHAT "payer"

void gw_payers_list(gw_req *r)
{
	const char *biz;
	long limit, offset;
	if (gw_scope_list(r, gw_query(r, "businessId"), &biz) < 0 ||
	    gw_query_int(r, "limit", 100, 1, 1000, &limit) < 0 || gw_query_int(r, "offset", 0, 0, INT_MAX, &offset) < 0)
		return;
	gw_reply_store(r, 200, SB_STORE_PAYERS_LIST,
		       json_pack("{s:s?,s:I,s:I}", "businessId", biz, "limit", (json_int_t)limit, "offset",
				 (json_int_t)offset));
}

void gw_payers_create(gw_req *r)
{
	json_t *body = gw_json_body(r);
	if (!body || gw_scope_body(r, body) < 0) {
		json_decref(body);
		return;
	}
	json_t *want = json_incref(json_object_get(body, "businessId"));
	json_t *p = gw_store(r, SB_STORE_PAYERS_CREATE, body);
	if (p && want && !json_equal(want, json_object_get(p, "businessId"))) {
		/* an id already used by another business: creates are idempotent on id, so the store
		 * answered with that payer; never show it */
		gw_reply_error(r, 409, "payer id %s is already in use", sb_json_str(p, "id"));
		json_decref(p);
	} else if (p) {
		gw_reply_json(r, 201, p);
	}
	json_decref(want);
}

void gw_payers_get(gw_req *r)
{
	json_t *p = gw_fetch_owned(r, SB_STORE_PAYERS_GET, "id", gw_param(r, 0), WHAT);
	if (p)
		gw_reply_json(r, 200, p);
}

void gw_payers_update(gw_req *r)
{
	json_t *p = gw_fetch_owned(r, SB_STORE_PAYERS_GET, "id", gw_param(r, 0), WHAT);
	json_t *body = p ? gw_json_body(r) : NULL;
	json_decref(p);
	if (!body)
		return;
	json_object_set_new(body, "id", sb_json_string_or_null(gw_param(r, 0)));
	gw_reply_store(r, 200, SB_STORE_PAYERS_UPDATE, body);
}

void gw_payers_delete(gw_req *r)
{
	json_t *p = gw_fetch_owned(r, SB_STORE_PAYERS_GET, "id", gw_param(r, 0), WHAT);
	if (!p)
		return;
	json_decref(p);
	gw_reply_store(r, 200, SB_STORE_PAYERS_DELETE, gw_args1("id", gw_param(r, 0)));
}

void gw_payers_outreach(gw_req *r)
{
	json_t *p = gw_fetch_owned(r, SB_STORE_PAYERS_GET, "id", gw_param(r, 0), WHAT);
	if (!p)
		return;
	json_decref(p);
	json_t *res = NULL;
	sb_error err = {0};
	if (sb_client_call(gw.scheduler, &SB_SVC_SCHEDULER, SB_SCHEDULER_OUTREACH_TRIGGER,
			   gw_args1("payerId", gw_param(r, 0)), &res, &err) == 0)
		gw_reply_json(r, 200, res ? res : json_null());
	else if (err.code == SB_UNAVAILABLE || err.code == SB_DEADLINE_EXCEEDED)
		gw_reply_error(r, 503, "the scheduler (sb-scheduler) is not running or did not answer: %s", err.message);
	else
		gw_reply_sberr(r, &err);
}
