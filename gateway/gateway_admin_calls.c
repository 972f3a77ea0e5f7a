/*
 * gateway_admin_calls.c — call logs and analytics (admin API; store ops
 * calls.list, calls.get, calls.analytics).
 *
 *   GET  /api/calls?businessId=&page=&limit=&status=&from=&to=
 *        → {items,page,limit,total,pages}; page ≥ 1, limit 1..100 (default
 *          20), newest first; a page past the end is an empty items list
 *   POST /api/calls {businessId?,startDate?,endDate?}
 *   GET  /api/calls/analytics?businessId=&startDate=&endDate=
 *        → {totalCalls,totalDurationS,averageDurationS,byStatus:{status:n},
 *           byDay:[{date,count,durationS}]}; the range defaults to the last
 *          30 days; a date without a time as endDate means the end of that day
 *   GET  /api/calls/{callSid}
 *        → the call with its ordered transcript lines and tool calls
 */
#include <string.h>

#include "gateway.h"
#include "sb_json.h"
#include "sb_time.h"

#define DAY_MS (24 * 3600 * 1000LL)

void gw_calls_list(gw_req *r)
{
	const char *biz;
	long page, limit;
	if (gw_scope_list(r, gw_query(r, "businessId"), &biz) < 0 || gw_query_int(r, "page", 1, 1, 1000000, &page) < 0 ||
	    gw_query_int(r, "limit", 20, 1, 100, &limit) < 0)
		return;
	json_t *args = json_pack("{s:s?,s:I,s:I}", "businessId", biz, "page", (json_int_t)page, "limit",
				 (json_int_t)limit);
	gw_query_to(r, "status", args, "status");
	gw_query_to(r, "from", args, "from");
	gw_query_to(r, "to", args, "to");
	gw_reply_store(r, 200, SB_STORE_CALLS_LIST, args);
}

/* Put date (ISO-8601; NULL: absent) into args[key]; a bare date as an end means its last millisecond.
 * 0, or -1 after replying 422. */
static int range_arg(gw_req *r, json_t *args, const char *key, const char *name, const char *date, bool end)
{
	int64_t ms;
	if (!date)
		return 0;
	if (sb_time_parse_iso(date, &ms) < 0) {
		gw_reply_error(r, 422, "%s must be an ISO-8601 date or date-time", name);
		return -1;
	}
	if (end && strlen(date) == 10)
		ms += DAY_MS - 1;
	char iso[SB_ISO_LEN];
	json_object_set_new(args, key, json_string(sb_time_iso(ms, iso)));
	return 0;
}

/* calls.analytics for (businessId, startDate, endDate) as given by either route. */
static void analytics(gw_req *r, const char *biz_wanted, const char *start, const char *end)
{
	const char *biz;
	if (gw_scope_list(r, biz_wanted, &biz) < 0)
		return;
	json_t *args = json_pack("{s:s?}", "businessId", biz);
	if (range_arg(r, args, "from", "startDate", start, false) < 0 || range_arg(r, args, "to", "endDate", end, true) < 0) {
		json_decref(args);
		return;
	}
	gw_reply_store(r, 200, SB_STORE_CALLS_ANALYTICS, args);
}

/* true if every member of body is one of keys and a string or null. */
static bool only_strings(json_t *body, const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		bool known = false;
		for (int i = 0; keys[i]; i++)
			known = known || strcmp(k, keys[i]) == 0;
		if (!known || !(json_is_string(v) || json_is_null(v)))
			return false;
	}
	return true;
}

void gw_calls_analytics_post(gw_req *r)
{
	static const char *const keys[] = {"businessId", "startDate", "endDate", NULL};
	json_t *body = gw_json_body(r);
	if (!body)
		return;
	if (!only_strings(body, keys))
		gw_reply_error(r, 422, "expected {businessId?, startDate?, endDate?} with string values");
	else
		analytics(r, sb_json_str(body, "businessId"), sb_json_str(body, "startDate"), sb_json_str(body, "endDate"));
	json_decref(body);
}

void gw_calls_analytics_get(gw_req *r)
{
	analytics(r, gw_query(r, "businessId"), gw_query(r, "startDate"), gw_query(r, "endDate"));
}

void gw_calls_get(gw_req *r)
{
	json_t *call = gw_fetch_owned(r, SB_STORE_CALLS_GET, "callSid", gw_param(r, 0), "call");
	if (call)
		gw_reply_json(r, 200, call);
}
