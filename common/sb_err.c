/*
 * sb_err.c — error code names, parsing and HTTP mapping.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sb_err.h"

static const char *const names[SB_CODE__COUNT] = {
	[SB_OK] = "ok",
	[SB_INVALID_ARGUMENT] = "invalid_argument",
	[SB_NOT_FOUND] = "not_found",
	[SB_CONFLICT] = "conflict",
	[SB_UNAUTHENTICATED] = "unauthenticated",
	[SB_PERMISSION_DENIED] = "permission_denied",
	[SB_UNAVAILABLE] = "unavailable",
	[SB_DEADLINE_EXCEEDED] = "deadline_exceeded",
	[SB_INTERNAL] = "internal",
};

static const int http_status[SB_CODE__COUNT] = {
	[SB_OK] = 200,
	[SB_INVALID_ARGUMENT] = 400,
	[SB_NOT_FOUND] = 404,
	[SB_CONFLICT] = 409,
	[SB_UNAUTHENTICATED] = 401,
	[SB_PERMISSION_DENIED] = 403,
	[SB_UNAVAILABLE] = 503,
	[SB_DEADLINE_EXCEEDED] = 504,
	[SB_INTERNAL] = 500,
};

const char *sb_code_name(sb_code c)
{
	return (c >= 0 && c < SB_CODE__COUNT) ? names[c] : "internal";
}

sb_code sb_code_parse(const char *name)
{
	for (int i = 0; name && i < SB_CODE__COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return (sb_code)i;
	return SB_INTERNAL;
}

int sb_code_http_status(sb_code c)
{
	return (c >= 0 && c < SB_CODE__COUNT) ? http_status[c] : 500;
}

int sb_error_set(sb_error *e, sb_code c, const char *fmt, ...)
{
	if (!e)
		return -1;
	e->code = c;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}
