/*
 * gateway_harness.h — what the sb-gateway tests share: start sb-store and
 * sb-gateway in the test's folder, talk HTTP to the gateway through libcurl,
 * and sign Twilio webhooks (with common/sb_twilio, itself checked against
 * Twilio's published vectors in common/sb_twilio_test.c).
 *
 * The gateway listens on 127.0.0.1:0 (a free port chosen by the kernel) and
 * the port is read from its "http.listening" log line; readiness is polled
 * on /healthz, never slept for.
 */
#ifndef SBT_GATEWAY_HARNESS_H
#define SBT_GATEWAY_HARNESS_H

#include <jansson.h>
#include <stddef.h>

#include "harness.h"
#include "sb_twilio.h"

#define SBT_TWILIO_TOKEN "test-twilio-auth-token"
#define SBT_SECRET       "stream-token-secret-for-tests"
#define SBT_ADMIN_KEY    "sbt-admin-key-0123456789"
#define SBT_PUBLIC_URL   "https://gw.test"

typedef struct sbt_gw {
	sbt_proc store, gw;
	char     store_url[512];
	char     run[512];
	char     base[64];      /* http://127.0.0.1:<port> */
	int      port;
	int      starts;        /* gateway starts so far (each gets its own log) */
} sbt_gw;

/* Start sb-store (unless running) and sb-gateway with the test secrets, --public-url SBT_PUBLIC_URL
 * and extra args (NULL-terminated, may be NULL). 0, or -1 (see the logs in sbt_dir()). */
int sbt_gw_start(sbt_gw *g, const char *const *extra);
/* Stop the gateway with sig; its exit status (see sbt_stop). */
int sbt_gw_stop_gateway(sbt_gw *g, int sig);
/* Stop both daemons (SIGTERM). */
void sbt_gw_stop(sbt_gw *g);

typedef struct sbt_resp {
	long   status;   /* 0 when the transfer failed (connection closed, refused, ...) */
	char  *body;     /* NUL-terminated */
	size_t len;
	char  *headers;  /* raw response headers, NUL-terminated */
} sbt_resp;

/* One HTTP request to g's base URL + path (method, extra "Name: value" headers, optional body). */
int sbt_http(const sbt_gw *g, const char *method, const char *path, const char *const *headers, const char *body,
	     size_t blen, sbt_resp *out);
/* A request with the admin key (Authorization) and, with a body, Content-Type: application/json. */
int sbt_api(const sbt_gw *g, const char *method, const char *path, const char *json_body, sbt_resp *out);
/* The same with another API key (NULL: no Authorization header). */
int sbt_api_key(const sbt_gw *g, const char *key, const char *method, const char *path, const char *json_body,
		sbt_resp *out);
/* The value of response header name (copied into buf), or NULL. */
const char *sbt_resp_header(const sbt_resp *r, const char *name, char *buf, size_t len);
/* The body parsed as JSON (owned), or NULL. */
json_t *sbt_resp_json(const sbt_resp *r);
void sbt_resp_free(sbt_resp *r);

/* POST form to path_query ("/api/twilio/voice?x=1"), signed for SBT_PUBLIC_URL + path_query with token
 * (NULL: no X-Twilio-Signature header). */
int sbt_twilio(const sbt_gw *g, const char *token, const char *path_query, const sb_form *form, sbt_resp *out);
/* The same, with the signature computed over signed_url instead (to test wrong URLs). */
int sbt_twilio_signed_for(const sbt_gw *g, const char *signed_url, const char *path_query, const sb_form *form,
			  sbt_resp *out);

/* Create a business (admin API) and return its id in id (SB_ID_MAX bytes); number (E.164) bound to it if not NULL. */
int sbt_gw_business(const sbt_gw *g, const char *name, const char *number, char *id);

#endif
