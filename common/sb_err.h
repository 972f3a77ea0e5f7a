/*
 * sb_err.h — the typed error codes every Switchboard reply uses.
 *
 * The names are the wire contract of DESIGN.md ("Inter-process contract"):
 * an error reply is {"ok":false,"error":{"code":"<name>","message":"..."}}.
 * HTTP status mapping lives here too so the gateway and tests agree.
 */
#ifndef SB_ERR_H
#define SB_ERR_H

typedef enum sb_code {
	SB_OK = 0,
	SB_INVALID_ARGUMENT,
	SB_NOT_FOUND,
	SB_CONFLICT,
	SB_UNAUTHENTICATED,
	SB_PERMISSION_DENIED,
	SB_UNAVAILABLE,
	SB_DEADLINE_EXCEEDED,
	SB_INTERNAL,
	SB_CODE__COUNT
} sb_code;

/* An error: a code plus a human-readable message (never holds secrets). */
typedef struct sb_error {
	sb_code code;
	char    message[256];
} sb_error;

/* The wire name of a code ("invalid_argument"); "ok" for SB_OK. */
const char *sb_code_name(sb_code c);
/* Parse a wire name; returns SB_INTERNAL for an unknown name. */
sb_code sb_code_parse(const char *name);
/* The HTTP status an error code maps to (400, 404, 409, 401, 403, 503, 504, 500). */
int sb_code_http_status(sb_code c);
/* Fill *e (if e is not NULL) with code and printf-style message; returns -1. */
int sb_error_set(sb_error *e, sb_code c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
