/*
 * gateway.h — internals shared by the sb-gateway files (not used elsewhere).
 *
 * sb-gateway is the HTTP front door: Twilio webhooks (TwiML out), the admin
 * REST API, /healthz and /metrics. It owns no data: every read and write is
 * a request to sb-store (and to sb-rag-worker, sb-scheduler, sb-media-bridge)
 * over nng; it publishes http.request and twilio.webhook events on its PUB
 * socket (schemas/gateway.json).
 *
 * Files, in reading order:
 *   gateway.c          main: flags, start-up checks, wiring, shutdown; the
 *                      `admin-key` subcommand
 *   gateway_routes.c   the route table (method, path pattern, handler,
 *                      access, body) and the path matcher
 *   gateway_http.c     libmicrohttpd glue: one gw_req per request, body
 *                      limits, dispatch, suspend/resume, response queueing
 *   gateway_pool.c     the worker threads that run blocking handlers
 *   gateway_reply.c    building replies (JSON, errors, TwiML), calling the
 *                      backends (sync and async), reading bodies and queries
 *   gateway_auth.c     bearer API keys (cached), business scoping
 *   gateway_cache.c    the small TTL caches (API keys, phone numbers)
 *   gateway_metrics.c  Prometheus series and http.request events
 *   gateway_twilio.c   the three Twilio webhooks
 *   gateway_admin_business.c, _rag.c, _calls.c, _payers.c, _keys.c
 *                      the admin API, one file per resource group
 *   gateway_ops.c      /healthz, /metrics
 *
 * Threading. libmicrohttpd runs an epoll thread pool (--threads) that only
 * parses, reads bodies and queues responses; it never waits for a backend.
 * Once a request is complete its connection is suspended and its handler
 * runs either
 *   - on the worker pool (--workers), where it may make synchronous calls
 *     (admin API, ops: straight-line code), or
 *   - "nonblocking", right on the HTTP thread, using only gw_call_async
 *     whose continuations run on nng's threads (the Twilio webhooks: the hot
 *     path, which saves two thread hand-offs per webhook).
 * Either way the handler ends by producing exactly one reply (gw_reply_*),
 * from whichever thread it is on; that resumes the connection and the HTTP
 * thread queues the response. See gateway_http.c for the state machine.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sb_err.h"
#include "sb_events.h"
#include "sb_id.h"
#include "sb_rpc.h"
#include "sb_schema_gen.h"
#include "sb_twilio.h"

/* ---- configuration and shared state (gateway.c) ----------------------------- */

typedef struct gw_config {
	char *listen, *events, *public_url, *stream_url;
	char *store_url, *rag_url, *bridge_url, *scheduler_url;
	char *twilio_token, *secret, *admin_key; /* secrets: never logged */
	bool  skip_signature;
	long  max_body, max_connections, connection_timeout, threads, workers;
	long  token_ttl, webhook_timeout, backend_timeout;
} gw_config;

#define GW_HOOK_CLIENTS 4
#define GW_SCRAPE_DAEMONS 4 /* store, rag, bridge, scheduler: gathered into GET /metrics */
#define GW_SCRAPE_TIMEOUT_MS 500
extern const char *const GW_SCRAPE_NAMES[GW_SCRAPE_DAEMONS];

/* Everything the handlers share. Set up by init, read-only afterwards
 * (the clients and the PUB socket are thread-safe). */
typedef struct gw_state {
	sb_client    *store;        /* admin API calls (--backend-timeout) */
	sb_client    *store_hook[GW_HOOK_CLIENTS]; /* calls made while Twilio waits (--webhook-timeout);
						     * several sockets: nng serialises each socket on one lock */
	sb_client    *store_health; /* /healthz: answers within HEALTH_TIMEOUT_MS or it is down */
	sb_client    *rag, *bridge, *scheduler;
	sb_client    *scrape[GW_SCRAPE_DAEMONS]; /* GET /metrics: each daemon's sys.metrics, short deadline */
	sb_pub       *pub;
	const void   *secret;       /* signs stream tokens: --secret as given, or random_secret */
	size_t        secret_len;
	unsigned char random_secret[32];
	char          public_url[512]; /* --public-url without a trailing '/' */
	char          stream_url[512]; /* ws(s):// base of media-stream URLs */
} gw_state;

extern gw_config gw_cfg;
extern gw_state  gw;

/* ---- requests, routes, handlers --------------------------------------------- */

typedef struct gw_req gw_req;
typedef void (*gw_handler)(gw_req *r);

typedef enum gw_access {
	GW_OPEN,   /* anyone (health, metrics) */
	GW_BEARER, /* Authorization: Bearer <API key> */
	GW_TWILIO, /* X-Twilio-Signature over the public URL and the form body */
} gw_access;

typedef enum gw_body_kind {
	GW_NO_BODY, /* any body is read (within --max-body) and ignored */
	GW_JSON,    /* Content-Type application/json, else 415 */
	GW_FORM,    /* Content-Type application/x-www-form-urlencoded, else 415; decoded before the handler */
} gw_body_kind;

typedef struct gw_route {
	const char  *method;  /* "GET", "POST", "PUT", "DELETE" */
	const char  *pattern; /* "/api/calls/{callSid}": {name} matches one path segment */
	gw_handler   handler;
	gw_access    access;
	gw_body_kind body;
	bool         nonblocking; /* runs on the HTTP thread and may only use gw_call_async */
} gw_route;

#define GW_MAX_PARAMS 2
#define GW_PARAM_MAX  128

/* The authenticated caller of a GW_BEARER route. */
typedef struct gw_principal {
	bool admin;                   /* sees every business */
	char business_id[SB_ID_MAX];  /* the only business a non-admin key sees */
	char key_id[SB_ID_MAX];       /* "" for SB_ADMIN_KEY */
} gw_principal;

/* gateway_routes.c */
extern const gw_route GW_ROUTES[];
extern const size_t   GW_NROUTES;
/* Match method+path: the route (params filled), or NULL with *allow the methods the path has ("" if none). */
const gw_route *gw_route_match(const char *method, const char *path, char params[GW_MAX_PARAMS][GW_PARAM_MAX + 1],
			       char *allow, size_t allow_len);

/* ---- gateway_http.c: the server and the request accessors --------------------- */

/* Start listening (--listen) with the route table. 0, or -1 after logging why. */
int gw_http_start(void);
/* Stop accepting, answer what is in flight (bounded wait), stop. Idempotent. */
void gw_http_stop(void);

/* Path parameter i (as decoded by the server). */
const char *gw_param(const gw_req *r, int i);
/* First value of query parameter name (decoded), or NULL. */
const char *gw_query(const gw_req *r, const char *name);
/* The request body (not NUL-terminated) and its length. */
const char *gw_body(const gw_req *r, size_t *len);
/* The decoded form body of a GW_FORM route. */
const sb_form *gw_form(const gw_req *r);
/* The raw request-target as received, query included ("/api/twilio/voice?x=1"). */
const char *gw_raw_uri(const gw_req *r);
/* A header captured for the handlers: "Authorization" or "X-Twilio-Signature"; NULL if absent. */
const char *gw_header(const gw_req *r, const char *name);
/* The route the request matched. */
const gw_route *gw_route_of(const gw_req *r);
/* The caller of a GW_BEARER route (valid once authenticated). */
gw_principal *gw_who(gw_req *r);
/* Attach handler state to the request; free_fn(state) runs when the request ends. */
void gw_set_state(gw_req *r, void *state, void (*free_fn)(void *));
/* The state attached with gw_set_state. */
void *gw_state_of(const gw_req *r);
/* Monotonic µs when the request line arrived. */
int64_t gw_started_us(const gw_req *r);
/* Finish r with status and an MHD response (consumed); any thread, exactly once per request. */
struct MHD_Response;
void gw_finish(gw_req *r, int status, struct MHD_Response *resp);
/* Run a request's access check and handler (the pool calls this for blocking routes). */
void gw_run(gw_req *r);

/* ---- gateway_pool.c ---------------------------------------------------------------- */

/* Start n worker threads with room for queue_max waiting requests. 0 or -1. */
int gw_pool_start(int n, int queue_max);
/* Queue r for gw_run on a worker; false if the queue is full. */
bool gw_pool_submit(gw_req *r);
/* Run what is queued, then stop and join the workers. */
void gw_pool_stop(void);

/* ---- gateway_reply.c: replies ----------------------------------------------------- */

/* Reply with body (malloc'd, consumed) as content type ctype. */
void gw_reply_owned(gw_req *r, int status, const char *ctype, char *body, size_t len);
/* Reply with a string that outlives the request (a literal). */
void gw_reply_static(gw_req *r, int status, const char *ctype, const char *body);
/* Reply with JSON (stolen; NULL → a 500). */
void gw_reply_json(gw_req *r, int status, json_t *body);
/* Reply {"error":{"code","message"}}; the code follows the status (422 → invalid_argument, ...). */
void gw_reply_error(gw_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Reply with the HTTP form of a backend error (invalid_argument → 422, not_found → 404, ...). */
void gw_reply_sberr(gw_req *r, const sb_error *e);
/* The HTTP status a backend error maps to. */
int gw_status_of(sb_code code);

/* ---- gateway_reply.c: backends, bodies, queries ------------------------------------ */

/* Synchronous call (workers only): data (owned), or NULL after replying with the mapped error. Steals args. */
json_t *gw_call(gw_req *r, sb_client *c, const sb_service *svc, int op, json_t *args);
#define gw_store(r, op, args) gw_call((r), gw.store, &SB_SVC_STORE, (op), (args))
/* gw_store, then reply status with the data. */
void gw_reply_store(gw_req *r, int status, int op, json_t *args);

/* Continuation of an async call: rc 0 with data (owned) or -1 with err. Runs on an nng thread. */
typedef void (*gw_cont)(gw_req *r, int rc, json_t *data, const sb_error *err);
/* Start a call without blocking (nonblocking handlers); k runs exactly once. Steals args. */
void gw_call_async(gw_req *r, sb_client *c, const sb_service *svc, int op, json_t *args, gw_cont k);

/* {key: value} with value as a JSON string (invalid UTF-8 replaced; never NULL). */
json_t *gw_args1(const char *key, const char *value);
/* The JSON object body (owned by the caller), or NULL after replying 400 (malformed) or 422 (not an object). */
json_t *gw_json_body(gw_req *r);
/* Integer query parameter in [min,max] into *out (def if absent): 0, or -1 after replying 422. */
int gw_query_int(gw_req *r, const char *name, long def, long min, long max, long *out);
/* Copy query parameter name into obj[key] if present (strings). */
void gw_query_to(gw_req *r, const char *name, json_t *obj, const char *key);

/* ---- gateway_auth.c -------------------------------------------------------------- */

/* Authenticate a GW_BEARER request (may call the store): true, or false after replying 401/503. */
bool gw_auth_check(gw_req *r);
/* Forget cached verifications of API key id (after a revoke). */
void gw_auth_forget(const char *key_id);
/* The business a list is restricted to: 0 with *biz (NULL: all, admins only), or -1 after replying 404. */
int gw_scope_list(gw_req *r, const char *requested, const char **biz);
/* true if the caller may see obj (its "businessId" is the key's business, or the caller is an admin);
 * false after replying 404 (obj untouched). */
bool gw_scope_owns(gw_req *r, const json_t *obj, const char *what, const char *id);
/* true for admin callers, else false after replying 403. */
bool gw_require_admin(gw_req *r);
/* Store get op on {key: id} and check ownership: the object (owned), or NULL after replying. */
json_t *gw_fetch_owned(gw_req *r, int op, const char *key, const char *id, const char *what);
/* Set obj["businessId"] for a create by a business key (404 if it names another): 0, or -1 after replying. */
int gw_scope_body(gw_req *r, json_t *obj);
/* Initialise and free the caches (gateway.c). */
int gw_auth_init(void);
void gw_auth_fini(void);

/* ---- gateway_cache.c ------------------------------------------------------------- */

/* A fixed-size, direct-mapped cache of small values with a time to live. Thread-safe. */
typedef struct gw_cache gw_cache;
gw_cache *gw_cache_new(size_t slots, size_t value_size, int ttl_ms);
void gw_cache_free(gw_cache *c);
/* The generation to pass to gw_cache_put: read it before asking the backend. */
uint64_t gw_cache_gen(gw_cache *c);
/* Copy the live value of key into out: true if found. */
bool gw_cache_get(gw_cache *c, const char *key, void *out);
/* Store value under key, unless an invalidation happened since gen was read. */
void gw_cache_put(gw_cache *c, const char *key, const void *value, uint64_t gen);
/* Forget key. */
void gw_cache_drop(gw_cache *c, const char *key);
/* Forget every entry whose value satisfies pred (NULL: every entry). */
void gw_cache_drop_if(gw_cache *c, bool (*pred)(const void *value, const void *arg), const void *arg);

/* ---- gateway_metrics.c ------------------------------------------------------------ */

/* Register the gateway's series. */
void gw_metrics_init(void);
/* Count one answered request (any thread) and publish http.request. route may be NULL (unmatched). */
void gw_metrics_request(const gw_route *route, const char *method, int status, int64_t t0_us);
/* Count a refused Twilio signature. */
void gw_metrics_signature_failure(void);
/* Observe the time to produce TwiML for a webhook. */
void gw_metrics_twiml(int64_t t0_us);

/* ---- handlers -------------------------------------------------------------------- */

/* gateway_twilio.c */
void gw_unsubscribe_page(gw_req *r);
void gw_unsubscribe(gw_req *r);
void gw_twilio_voice(gw_req *r);
void gw_twilio_outbound(gw_req *r);
void gw_twilio_status(gw_req *r);
/* Check X-Twilio-Signature of a GW_TWILIO request: true, or false after replying 403. */
bool gw_twilio_verify(gw_req *r);
/* Answer a webhook that arrives while the gateway is closing: apology TwiML. */
void gw_twilio_unavailable(gw_req *r);
/* Initialise and free the number cache. */
int gw_twilio_init(void);
void gw_twilio_fini(void);
/* Forget cached lookups (of number, or of every number when NULL) after an admin change. */
void gw_twilio_forget_number(const char *number);
/* Wait (bounded) for fire-and-forget session.prepare calls to finish (shutdown). */
void gw_twilio_drain(void);

/* gateway_admin_business.c: businesses, phone numbers, configuration */
void gw_businesses_list(gw_req *r);
void gw_businesses_create(gw_req *r);
void gw_businesses_get(gw_req *r);
void gw_businesses_update(gw_req *r);
void gw_businesses_delete(gw_req *r);
void gw_numbers_list(gw_req *r);
void gw_numbers_create(gw_req *r);
void gw_numbers_get(gw_req *r);
void gw_numbers_delete(gw_req *r);
void gw_config_get(gw_req *r);
void gw_config_set(gw_req *r);
void gw_config_set_many(gw_req *r);

/* gateway_admin_rag.c: the knowledge base */
void gw_rag_list(gw_req *r);
void gw_rag_create(gw_req *r);
void gw_rag_get(gw_req *r);
void gw_rag_update(gw_req *r);
void gw_rag_delete(gw_req *r);
void gw_rag_search(gw_req *r);

/* gateway_admin_calls.c: call logs and analytics */
void gw_calls_list(gw_req *r);
void gw_calls_analytics_post(gw_req *r);
void gw_calls_analytics_get(gw_req *r);
void gw_calls_get(gw_req *r);

/* gateway_admin_payers.c: payers and their outreach */
void gw_payers_list(gw_req *r);
void gw_payers_create(gw_req *r);
void gw_payers_get(gw_req *r);
void gw_payers_update(gw_req *r);
void gw_payers_delete(gw_req *r);
void gw_payers_outreach(gw_req *r);

/* gateway_admin_keys.c: API keys */
void gw_keys_list(gw_req *r);
void gw_keys_create(gw_req *r);
void gw_keys_revoke(gw_req *r);

/* gateway_ops.c */
void gw_ops_health(gw_req *r);
void gw_ops_metrics(gw_req *r);
void gw_ops_backend_metrics(gw_req *r);

#endif
