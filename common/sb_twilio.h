/*
 * sb_twilio.h — Twilio webhook signatures, form encoding and TwiML escaping.
 *
 * Twilio signs every webhook with X-Twilio-Signature (services-and-
 * libraries.md A3.4):
 *
 *   base64( HMAC-SHA1( auth token, URL + name1 value1 + name2 value2 ... ) )
 *
 * where URL is the full public URL exactly as Twilio requested it (raw
 * query string included) and the POST parameters are URL-decoded and sorted
 * by name in byte order (a repeated name contributes each distinct value,
 * sorted). Twilio is inconsistent about ports, so a signature is accepted
 * if it matches the URL with the port (the scheme's default added when
 * absent) or without it, as Twilio's own libraries do. For JSON bodies
 * Twilio appends bodySHA256=<hex sha256 of the body> to the query and signs
 * the URL alone.
 *
 * The form helpers decode and encode application/x-www-form-urlencoded text
 * (bodies and query strings) strictly: a malformed %-escape or an encoded
 * NUL is an error, never silently passed on. Nothing here allocates
 * anything the caller cannot free with the matching _free.
 */
#ifndef SB_TWILIO_H
#define SB_TWILIO_H

#include <stddef.h>

#include "sb_err.h"

#define SB_TWILIO_SIG_LEN  28  /* base64 of a 20-byte HMAC-SHA1 */
#define SB_FORM_MAX_PARAMS 512 /* more parameters than this are refused */

/* One decoded parameter; both strings owned by the form. */
typedef struct sb_form_param {
	char *name;
	char *value;
} sb_form_param;

/* Parameters in the order received. Zero-initialise before use. */
typedef struct sb_form {
	sb_form_param *p;
	size_t         n, cap;
} sb_form;

/* Decode len bytes of form text ("a=1&b=x+y%21") and append the pairs to f. 0, or -1 with err. */
int sb_form_parse(sb_form *f, const char *s, size_t len, sb_error *err);
/* Append a copy of (name, value). */
void sb_form_add(sb_form *f, const char *name, const char *value);
/* The first value of name (borrowed), or NULL. */
const char *sb_form_get(const sb_form *f, const char *name);
/* Encode as "name=value&..." with RFC 3986 unreserved characters kept and everything else %XX (malloc'd). */
char *sb_form_encode(const sb_form *f);
/* Free every pair; f is empty and reusable afterwards. */
void sb_form_free(sb_form *f);

/* The signature Twilio computes for url and params (NULL for none) into out (NUL-terminated). */
void sb_twilio_signature(const char *auth_token, const char *url, const sb_form *params,
			 char out[SB_TWILIO_SIG_LEN + 1]);
/* 1 if sig is valid for url (with or without its port) and the form params, else 0. Constant-time compare. */
int sb_twilio_validate(const char *auth_token, const char *url, const sb_form *params, const char *sig);
/* 1 if url's bodySHA256 is the SHA-256 of body and sig covers url alone (JSON webhooks), else 0. */
int sb_twilio_validate_json(const char *auth_token, const char *url, const void *body, size_t len,
			    const char *sig);

/* url with its port made explicit (with_port=1: the scheme default added if absent) or removed (0),
 * into out; -1 if url is not absolute or out is too small. */
int sb_url_port_variant(const char *url, int with_port, char *out, size_t cap);

/* XML-escape s (& < > " ') into out, NUL-terminated: the length, or -1 if it does not fit in cap. */
long sb_xml_escape(const char *s, char *out, size_t cap);

#endif
