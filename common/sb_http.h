/*
 * sb_http.h — a small blocking HTTP client for JSON APIs (libcurl easy),
 * with a retry policy the caller can steer.
 *
 * Used by the rag-worker (OpenAI embeddings, Pinecone) and meant for the
 * scheduler (Twilio REST): anything that calls a cloud API from a worker
 * thread. Calls block, so never make them on an nng callback thread or a
 * loop thread.
 *
 *   - A client (sb_http) keeps a small pool of curl handles, so connections
 *     (and TLS sessions) are reused across calls; it is thread-safe.
 *   - Every attempt has a whole-transfer timeout and a connect timeout; the
 *     response body is capped (a larger one fails as SB_HTTP_F_TOO_LARGE and
 *     nothing beyond the cap is buffered).
 *   - sb_http_call() retries with exponential backoff and jitter. Whether an
 *     attempt is retried is the caller's decision through a classify
 *     function (e.g. OpenAI's 429 rate_limit_exceeded is retried but 429
 *     insufficient_quota is not); sb_http_classify_default() is the usual
 *     policy: retry transport errors and timeouts, 408, 409, 429 and 5xx,
 *     obey "x-should-retry", give up on any other status.
 *   - A server-requested delay (retry-after-ms, else Retry-After in seconds
 *     or as an HTTP date) replaces the computed backoff when it is within
 *     max_retry_after_ms; a longer one ends the retries (the server said
 *     "not soon").
 *   - sb_http_cancel() aborts transfers and backoff waits in progress and
 *     makes later calls fail at once (daemon shutdown).
 *
 * Metrics (label client="<name>"): sb_http_requests_total{client,result},
 * sb_http_retries_total{client}, sb_http_request_duration_ms{client}.
 * Nothing is logged except retries at debug level; header values are never
 * logged (they carry keys).
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stddef.h>

typedef struct sb_http sb_http;

typedef struct sb_http_opts {
	const char *name;          /* metrics label, e.g. "openai" (default "http") */
	int         timeout_ms;    /* whole transfer, per attempt (default 30000) */
	int         connect_timeout_ms; /* default 5000 */
	size_t      max_response;  /* body cap in bytes (default 16 MiB) */
} sb_http_opts;

/* One request. Header lines are "Name: value"; the body is sent as is. */
typedef struct sb_http_req {
	const char        *method;  /* NULL: POST when body is set, else GET */
	const char        *url;
	const char *const *headers; /* NULL-terminated, may be NULL */
	const char        *body;
	size_t             body_len;
	int                timeout_ms; /* this request's whole-transfer timeout (0: the client's) */
} sb_http_req;

/* Why an attempt got no HTTP response (status 0). */
typedef enum sb_http_fail {
	SB_HTTP_F_NONE = 0,
	SB_HTTP_F_TIMEOUT,   /* connect or transfer timed out */
	SB_HTTP_F_CONNECT,   /* could not resolve or connect */
	SB_HTTP_F_TOO_LARGE, /* body exceeded max_response */
	SB_HTTP_F_CANCELED,  /* sb_http_cancel() */
	SB_HTTP_F_TRANSPORT, /* anything else: reset, truncated transfer, TLS, ... */
} sb_http_fail;

/* What one attempt (or the last attempt of a retrying call) produced. */
typedef struct sb_http_resp {
	int          status;         /* HTTP status, 0 when there was no response */
	sb_http_fail fail;           /* when status == 0 */
	char        *body;           /* owned, NUL-terminated, never NULL after a call */
	size_t       len;
	long long    retry_after_ms; /* retry-after-ms, else Retry-After; -1 when absent */
	int          should_retry;   /* x-should-retry: 1 true, 0 false, -1 absent */
	int          attempts;       /* attempts made by sb_http_call */
	char         error[160];     /* transport error text when status == 0 */
} sb_http_resp;

typedef enum sb_http_verdict {
	SB_HTTP_DONE,    /* the answer: stop and return it */
	SB_HTTP_RETRY,   /* transient: retry if the policy allows */
	SB_HTTP_GIVE_UP, /* permanent failure: stop */
} sb_http_verdict;

/* Classify one attempt's outcome. */
typedef sb_http_verdict (*sb_http_classify_fn)(const sb_http_resp *r, void *arg);

/* Retry policy; zero fields take the defaults shown. */
typedef struct sb_http_retry {
	int    max_retries;        /* retries after the first attempt (default 2; -1 = none) */
	int    base_ms;            /* first backoff (default 500), doubled per retry */
	int    max_backoff_ms;     /* cap of the computed backoff (default 8000) */
	int    max_retry_after_ms; /* honour server delays up to this (default 60000) */
	double jitter;             /* fraction subtracted at random, 0..1 (default 0.25) */
	int    budget_ms;          /* give up when the next wait would pass this total (0 = none) */
} sb_http_retry;

/* Initialise libcurl once per process; call before starting threads (idempotent). */
void sb_http_global_init(void);
/* A new client. Never NULL. */
sb_http *sb_http_new(const sb_http_opts *o);
/* Free the client (after its last call returned). NULL is fine. */
void sb_http_free(sb_http *h);
/* Abort transfers and backoff waits in progress; later calls fail as canceled. Any thread. */
void sb_http_cancel(sb_http *h);

/* One attempt, no retries: 0 when an HTTP response arrived (any status), -1 otherwise (rs->fail). */
int sb_http_do(sb_http *h, const sb_http_req *rq, sb_http_resp *rs);
/* Attempt, classify, back off and retry per p. 0 when the final verdict is DONE, else -1; rs holds the last attempt. */
int sb_http_call(sb_http *h, const sb_http_req *rq, const sb_http_retry *p, sb_http_classify_fn classify,
		 void *arg, sb_http_resp *rs);
/* Release a response's body (the struct itself is the caller's). */
void sb_http_resp_free(sb_http_resp *rs);

/* The usual policy: 2xx done; transport errors, timeouts, 408, 409, 429, 5xx retried; x-should-retry obeyed. */
sb_http_verdict sb_http_classify_default(const sb_http_resp *r, void *arg);
/* Wait before retry number `retry` (0-based) after response r: ms, or -1 when the server asked for too long. */
long long sb_http_backoff_ms(const sb_http_retry *p, int retry, const sb_http_resp *r);
/* A short description of a response for error messages: "HTTP 429" or "timeout: ...". */
const char *sb_http_describe(const sb_http_resp *r, char *buf, size_t len);

#endif
