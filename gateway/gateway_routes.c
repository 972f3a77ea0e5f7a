/*
 * gateway_routes.c — every HTTP route of sb-gateway, and the matcher.
 *
 * One row per (method, path): the handler, who may call it, what body it
 * takes, and whether it runs on the HTTP thread (nonblocking) or on a worker.
 * The first matching row wins, so literal paths come before patterns that
 * would also match them (/api/calls/analytics before /api/calls/{callSid}).
 * A path that matches some row but not with this method is a 405 whose
 * Allow header lists the methods that would match; a path that matches no
 * row is a 404.
 *
 * The admin paths and JSON shapes follow the original system's API, so its
 * front end keeps working (README.md, "The HTTP API").
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

#define ROUTE(m, p, h, a, b) {m, p, h, a, b, false}
#define HOOK(p, h)           {"POST", p, h, GW_TWILIO, GW_FORM, true}

const gw_route GW_ROUTES[] = {
	/* Twilio webhooks: signed, form-encoded, answered with TwiML */
	HOOK("/api/twilio/voice", gw_twilio_voice),
	HOOK("/api/twilio/status", gw_twilio_status),
	HOOK("/collect-iq/voice", gw_twilio_outbound),

	/* the opt-out link of outreach emails (signed; gateway_unsubscribe.c) */
	ROUTE("GET", "/unsubscribe", gw_unsubscribe_page, GW_OPEN, GW_NO_BODY),
	ROUTE("POST", "/unsubscribe", gw_unsubscribe, GW_OPEN, GW_FORM),

	/* operations */
	ROUTE("GET", "/healthz", gw_ops_health, GW_OPEN, GW_NO_BODY),
	ROUTE("GET", "/metrics", gw_ops_metrics, GW_OPEN, GW_NO_BODY),
	ROUTE("GET", "/metrics/{daemon}", gw_ops_backend_metrics, GW_OPEN, GW_NO_BODY),

	/* businesses, phone numbers, configuration */
	ROUTE("GET", "/api/businesses", gw_businesses_list, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/businesses", gw_businesses_create, GW_BEARER, GW_JSON),
	ROUTE("GET", "/api/businesses/{id}", gw_businesses_get, GW_BEARER, GW_NO_BODY),
	ROUTE("PUT", "/api/businesses/{id}", gw_businesses_update, GW_BEARER, GW_JSON),
	ROUTE("DELETE", "/api/businesses/{id}", gw_businesses_delete, GW_BEARER, GW_NO_BODY),
	ROUTE("GET", "/api/phone-numbers", gw_numbers_list, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/phone-numbers", gw_numbers_create, GW_BEARER, GW_JSON),
	ROUTE("GET", "/api/phone-numbers/{number}", gw_numbers_get, GW_BEARER, GW_NO_BODY),
	ROUTE("DELETE", "/api/phone-numbers/{number}", gw_numbers_delete, GW_BEARER, GW_NO_BODY),
	ROUTE("GET", "/api/config", gw_config_get, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/config", gw_config_set, GW_BEARER, GW_JSON),
	ROUTE("PUT", "/api/config", gw_config_set_many, GW_BEARER, GW_JSON),

	/* knowledge base */
	ROUTE("GET", "/api/rag", gw_rag_list, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/rag", gw_rag_create, GW_BEARER, GW_JSON),
	ROUTE("POST", "/api/rag/search", gw_rag_search, GW_BEARER, GW_JSON),
	ROUTE("GET", "/api/rag/{id}", gw_rag_get, GW_BEARER, GW_NO_BODY),
	ROUTE("PUT", "/api/rag/{id}", gw_rag_update, GW_BEARER, GW_JSON),
	ROUTE("DELETE", "/api/rag/{id}", gw_rag_delete, GW_BEARER, GW_NO_BODY),

	/* call logs */
	ROUTE("GET", "/api/calls", gw_calls_list, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/calls", gw_calls_analytics_post, GW_BEARER, GW_JSON),
	ROUTE("GET", "/api/calls/analytics", gw_calls_analytics_get, GW_BEARER, GW_NO_BODY),
	ROUTE("GET", "/api/calls/{callSid}", gw_calls_get, GW_BEARER, GW_NO_BODY),

	/* collections */
	ROUTE("GET", "/api/payers", gw_payers_list, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/payers", gw_payers_create, GW_BEARER, GW_JSON),
	ROUTE("GET", "/api/payers/{id}", gw_payers_get, GW_BEARER, GW_NO_BODY),
	ROUTE("PUT", "/api/payers/{id}", gw_payers_update, GW_BEARER, GW_JSON),
	ROUTE("DELETE", "/api/payers/{id}", gw_payers_delete, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/payers/{id}/outreach", gw_payers_outreach, GW_BEARER, GW_NO_BODY),

	/* API keys */
	ROUTE("GET", "/api/keys", gw_keys_list, GW_BEARER, GW_NO_BODY),
	ROUTE("POST", "/api/keys", gw_keys_create, GW_BEARER, GW_JSON),
	ROUTE("DELETE", "/api/keys/{id}", gw_keys_revoke, GW_BEARER, GW_NO_BODY),
};
const size_t GW_NROUTES = sizeof GW_ROUTES / sizeof GW_ROUTES[0];

/* Does path match pattern? Fills params with the {name} segments. */
static bool path_matches(const char *pattern, const char *path, char params[GW_MAX_PARAMS][GW_PARAM_MAX + 1])
{
	int np = 0;
	while (*pattern && *path) {
		if (*pattern == '{') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n > GW_PARAM_MAX || np == GW_MAX_PARAMS)
				return false;
			memcpy(params[np], path, n);
			params[np++][n] = '\0';
			path += n;
			pattern = strchr(pattern, '}') + 1;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return *pattern == '\0' && *path == '\0';
}

const gw_route *gw_route_match(const char *method, const char *path, char params[GW_MAX_PARAMS][GW_PARAM_MAX + 1],
			       char *allow, size_t allow_len)
{
	char trimmed[1024];
	size_t n = strlen(path);
	if (n > 1 && path[n - 1] == '/' && n < sizeof trimmed) { /* "/api/calls/" is "/api/calls" */
		memcpy(trimmed, path, n - 1);
		trimmed[n - 1] = '\0';
		path = trimmed;
	}
	size_t used = 0;
	allow[0] = '\0';
	for (size_t i = 0; i < GW_NROUTES; i++) {
		const gw_route *rt = &GW_ROUTES[i];
		if (!path_matches(rt->pattern, path, params))
			continue;
		if (strcmp(rt->method, method) == 0)
			return rt;
		if (!strstr(allow, rt->method)) {
			int w = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", rt->method);
			if (w > 0 && (size_t)w < allow_len - used)
				used += (size_t)w;
		}
	}
	return NULL;
}
