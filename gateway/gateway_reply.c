/*
 * gateway_reply.c — what every handler uses instead of writing HTTP or JSON
 * plumbing itself: replies (JSON, errors, text), backend calls that turn a
 * failure into the right HTTP error, and strict readers of bodies and
 * query parameters.
 *
 * Error bodies are {"error":{"code":"<code>","message":"..."}} with the code
 * chosen by the status (400 bad_request, 401 unauthenticated, 403
 * permission_denied, 404 not_found, 405 method_not_allowed, 409 conflict,
 * 413 payload_too_large, 415 unsupported_media_type, 422 invalid_argument,
 * 500 internal, 503 unavailable, 504 deadline_exceeded). Backend errors map
 * as gw_status_of says: the store validating a request (invalid_argument)
 * is a 422, because a body that reached it was well-formed JSON.
 */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "sb_json.h"
#include "sb_log.h"

/* ---- replies ------------------------------------------------------------------- */

static void send_resp(gw_req *r, int status, const char *ctype, struct MHD_Response *resp)
{
	if (!resp)
		abort(); /* MHD allocation failure */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (strncmp(ctype, "application/json", 16) == 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	gw_finish(r, status, resp);
}

void gw_reply_owned(gw_req *r, int status, const char *ctype, char *body, size_t len)
{
	send_resp(r, status, ctype, MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE));
}

void gw_reply_static(gw_req *r, int status, const char *ctype, const char *body)
{
	send_resp(r, status, ctype,
		  MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT));
}

void gw_reply_json(gw_req *r, int status, json_t *body)
{
	size_t len = 0;
	char *text = body ? sb_json_dump(body, &len) : NULL;
	json_decref(body);
	if (!text) {
		sb_error_log("http.encode_failed", "route=%s", gw_route_of(r)->pattern);
		gw_reply_static(r, 500, "application/json",
				"{\"error\":{\"code\":\"internal\",\"message\":\"reply could not be encoded\"}}");
		return;
	}
	gw_reply_owned(r, status, "application/json", text, len);
}

/* The error code that goes with an HTTP status. */
static const char *code_of(int status)
{
	static const struct {
		int         status;
		const char *code;
	} map[] = {
		{400, "bad_request"}, {401, "unauthenticated"}, {403, "permission_denied"},
		{404, "not_found"}, {405, "method_not_allowed"}, {409, "conflict"},
		{413, "payload_too_large"}, {415, "unsupported_media_type"}, {422, "invalid_argument"},
		{503, "unavailable"}, {504, "deadline_exceeded"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i].status == status)
			return map[i].code;
	return "internal";
}

void gw_reply_error(gw_req *r, int status, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	gw_reply_json(r, status, json_pack("{s:{s:s,s:o}}", "error", "code", code_of(status), "message",
					   sb_json_stringn_lossy(msg, strlen(msg))));
}

int gw_status_of(sb_code code)
{
	switch (code) {
	case SB_INVALID_ARGUMENT: return 422;
	case SB_NOT_FOUND: return 404;
	case SB_CONFLICT: return 409;
	case SB_UNAUTHENTICATED: return 401;
	case SB_PERMISSION_DENIED: return 403;
	case SB_UNAVAILABLE: return 503;
	case SB_DEADLINE_EXCEEDED: return 504;
	default: return 500;
	}
}

void gw_reply_sberr(gw_req *r, const sb_error *e)
{
	int status = gw_status_of(e->code);
	if (status >= 500) {
		char q[300];
		sb_warn("http.backend_error", "route=%s code=%s msg=%s", gw_route_of(r)->pattern,
			sb_code_name(e->code), sb_log_quote(e->message, q, sizeof q));
	}
	if (status == 500) /* internal details stay in the log */
		gw_reply_error(r, 500, "internal error");
	else
		gw_reply_error(r, status, "%s", e->message);
}

/* ---- backend calls ---------------------------------------------------------------- */

json_t *gw_call(gw_req *r, sb_client *c, const sb_service *svc, int op, json_t *args)
{
	json_t *data = NULL;
	sb_error err = {0};
	if (sb_client_call(c, svc, op, args, &data, &err) == 0)
		return data ? data : json_null();
	gw_reply_sberr(r, &err);
	return NULL;
}

void gw_reply_store(gw_req *r, int status, int op, json_t *args)
{
	json_t *data = gw_store(r, op, args);
	if (data)
		gw_reply_json(r, status, data);
}

typedef struct async_call {
	gw_req *r;
	gw_cont k;
} async_call;

static void on_async_done(void *arg, int rc, json_t *data, const sb_error *err)
{
	async_call a = *(async_call *)arg;
	free(arg);
	a.k(a.r, rc, data, err);
}

void gw_call_async(gw_req *r, sb_client *c, const sb_service *svc, int op, json_t *args, gw_cont k)
{
	async_call *a = malloc(sizeof *a);
	if (!a)
		abort();
	a->r = r;
	a->k = k;
	sb_client_call_async(c, svc, op, args, on_async_done, a);
}

/* ---- bodies and queries ------------------------------------------------------------ */

json_t *gw_args1(const char *key, const char *value)
{
	json_t *a = json_object();
	json_object_set_new(a, key, sb_json_string_or_null(value));
	return a;
}

json_t *gw_json_body(gw_req *r)
{
	size_t len;
	const char *b = gw_body(r, &len);
	sb_error err = {0};
	json_t *j = sb_json_parse(b, len, 0, &err);
	if (j)
		return j;
	/* Well-formed JSON that is refused (an array, duplicate keys, deep nesting) is a 422; the rest a 400. */
	json_t *any = json_loadb(b, len, JSON_DECODE_ANY, NULL);
	if (any)
		gw_reply_error(r, 422, "%s", json_is_object(any) ? err.message : "the body must be a JSON object");
	else
		gw_reply_error(r, 400, "%s", err.message);
	json_decref(any);
	return NULL;
}

int gw_query_int(gw_req *r, const char *name, long def, long min, long max, long *out)
{
	const char *v = gw_query(r, name);
	*out = def;
	if (!v)
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < min || n > max) {
		gw_reply_error(r, 422, "%s must be an integer from %ld to %ld", name, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

void gw_query_to(gw_req *r, const char *name, json_t *obj, const char *key)
{
	const char *v = gw_query(r, name);
	if (v)
		json_object_set_new(obj, key, sb_json_string_or_null(v));
}
