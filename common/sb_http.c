/*
 * sb_http.c — blocking JSON-API client over libcurl easy handles, with
 * classified retries (see sb_http.h).
 *
 * A client keeps up to POOL_MAX idle easy handles; a call takes one (or
 * makes one), resets its options and gives it back, so the connection
 * cache, DNS cache and TLS session of the handle are reused by the next
 * call. Cancellation is one flag: the transfer progress callback aborts a
 * transfer in flight, and backoff waits sleep on a condition variable that
 * sb_http_cancel() broadcasts.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sb_http.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_time.h"

#define POOL_MAX 16

enum { R_OK, R_HTTP_ERROR, R_TRANSPORT, R_CANCELED, R__COUNT };
static const char *const result_names[R__COUNT] = {"ok", "http_error", "transport_error", "canceled"};

struct sb_http {
	sb_http_opts    o;
	char            name[32];
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	CURL           *pool[POOL_MAX];
	int             npool;
	atomic_bool     canceled;
	sb_metric      *results[R__COUNT];
	sb_metric      *retries;
	sb_metric      *latency;
};

/* State of one transfer, seen by the curl callbacks. */
typedef struct xfer {
	sb_http  *h;
	char     *buf;
	size_t    len, cap, max;
	bool      too_large;
	long long retry_after_ms; /* from retry-after-ms or numeric Retry-After */
	bool      retry_after_date;
	int       should_retry;
} xfer;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void sb_http_global_init(void)
{
	pthread_once(&global_once, global_init);
}

sb_http *sb_http_new(const sb_http_opts *o)
{
	sb_http_global_init();
	sb_http *h = calloc(1, sizeof *h);
	if (!h)
		abort();
	if (o)
		h->o = *o;
	snprintf(h->name, sizeof h->name, "%s", h->o.name && *h->o.name ? h->o.name : "http");
	h->o.name = h->name;
	if (h->o.timeout_ms <= 0)
		h->o.timeout_ms = 30000;
	if (h->o.connect_timeout_ms <= 0)
		h->o.connect_timeout_ms = 5000;
	if (!h->o.max_response)
		h->o.max_response = 16u << 20;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	char labels[96];
	for (int i = 0; i < R__COUNT; i++) {
		snprintf(labels, sizeof labels, "client=\"%s\",result=\"%s\"", h->name, result_names[i]);
		h->results[i] = sb_counter("sb_http_requests_total", "HTTP attempts by client and result.", labels);
	}
	snprintf(labels, sizeof labels, "client=\"%s\"", h->name);
	h->retries = sb_counter("sb_http_retries_total", "HTTP attempts that were retried.", labels);
	h->latency = sb_histogram("sb_http_request_duration_ms", "Duration of one HTTP attempt.", labels,
				  SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
	return h;
}

void sb_http_free(sb_http *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

void sb_http_cancel(sb_http *h)
{
	pthread_mutex_lock(&h->mu);
	atomic_store(&h->canceled, true);
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void sb_http_resp_free(sb_http_resp *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->len = 0;
}

/* ---- handle pool ---------------------------------------------------------- */

static CURL *take_handle(sb_http *h)
{
	CURL *c = NULL;
	pthread_mutex_lock(&h->mu);
	if (h->npool > 0)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->mu);
	if (c)
		curl_easy_reset(c);
	else if (!(c = curl_easy_init()))
		abort();
	return c;
}

static void give_handle(sb_http *h, CURL *c)
{
	pthread_mutex_lock(&h->mu);
	if (h->npool < POOL_MAX) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (c)
		curl_easy_cleanup(c);
}

/* ---- curl callbacks --------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	xfer *x = arg;
	size_t k = size * n;
	if (x->len + k > x->max) {
		x->too_large = true;
		return 0; /* aborts with CURLE_WRITE_ERROR */
	}
	if (x->len + k + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		while (cap < x->len + k + 1)
			cap *= 2;
		char *b = realloc(x->buf, cap);
		if (!b)
			return 0;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, k);
	x->len += k;
	return k;
}

/* Is the header line `line` (length n) named `name`? Sets *value to its trimmed value. */
static bool header_is(const char *line, size_t n, const char *name, char *value, size_t vlen)
{
	size_t nl = strlen(name);
	if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	const char *v = line + nl + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	snprintf(value, vlen, "%.*s", (int)(end - v), v);
	return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	xfer *x = arg;
	size_t k = size * n;
	char v[64];
	if (k >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after 100, redirects) */
		x->retry_after_ms = -1;
		x->retry_after_date = false;
		x->should_retry = -1;
	} else if (header_is(p, k, "retry-after-ms", v, sizeof v)) {
		char *end;
		double ms = strtod(v, &end);
		if (end != v && !*end && ms >= 0 && ms < 1e12)
			x->retry_after_ms = (long long)ms;
	} else if (header_is(p, k, "retry-after", v, sizeof v)) {
		char *end;
		long long s = strtoll(v, &end, 10);
		if (end != v && !*end && s >= 0 && s < 1000000000LL) {
			if (x->retry_after_ms < 0) /* retry-after-ms wins when both are sent */
				x->retry_after_ms = s * 1000;
		} else {
			x->retry_after_date = true; /* an HTTP date: curl converts it below */
		}
	} else if (header_is(p, k, "x-should-retry", v, sizeof v)) {
		x->should_retry = strcasecmp(v, "true") == 0 ? 1 : strcasecmp(v, "false") == 0 ? 0 : -1;
	}
	return k;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	xfer *x = arg;
	return atomic_load(&x->h->canceled) ? 1 : 0;
}

/* ---- one attempt ------------------------------------------------------------ */

static struct curl_slist *build_headers(const sb_http_req *rq)
{
	struct curl_slist *l = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
	for (int i = 0; rq->headers && rq->headers[i]; i++)
		l = curl_slist_append(l, rq->headers[i]);
	return l;
}

static void set_options(sb_http *h, CURL *c, const sb_http_req *rq, struct curl_slist *hdrs, xfer *x)
{
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(rq->timeout_ms > 0 ? rq->timeout_ms : h->o.timeout_ms));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->o.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->o.max_response);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	const char *method = rq->method ? rq->method : rq->body ? "POST" : "GET";
	if (rq->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
	}
	if (strcmp(method, rq->body ? "POST" : "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

static sb_http_fail fail_kind(CURLcode rc, const xfer *x)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return SB_HTTP_F_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return SB_HTTP_F_CONNECT;
	case CURLE_FILESIZE_EXCEEDED:
		return SB_HTTP_F_TOO_LARGE;
	case CURLE_WRITE_ERROR:
		return x->too_large ? SB_HTTP_F_TOO_LARGE : SB_HTTP_F_TRANSPORT;
	case CURLE_ABORTED_BY_CALLBACK:
		return SB_HTTP_F_CANCELED;
	default:
		return SB_HTTP_F_TRANSPORT;
	}
}

/* Fill rs from a finished transfer. */
static void collect(CURL *c, CURLcode rc, xfer *x, sb_http_resp *rs)
{
	rs->body = x->buf ? x->buf : malloc(1);
	if (!rs->body)
		abort();
	rs->len = x->len;
	rs->body[rs->len] = '\0';
	rs->should_retry = x->should_retry;
	rs->retry_after_ms = x->retry_after_ms;
	if (rs->retry_after_ms < 0 && x->retry_after_date) {
		curl_off_t s = 0;
		if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &s) == CURLE_OK && s > 0)
			rs->retry_after_ms = (long long)s * 1000;
	}
	if (rc != CURLE_OK) {
		rs->status = 0;
		rs->fail = fail_kind(rc, x);
		snprintf(rs->error, sizeof rs->error, "%s", x->too_large ? "response body too large" : curl_easy_strerror(rc));
		return;
	}
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	rs->status = (int)code;
	rs->fail = SB_HTTP_F_NONE;
	rs->error[0] = '\0';
}

int sb_http_do(sb_http *h, const sb_http_req *rq, sb_http_resp *rs)
{
	memset(rs, 0, sizeof *rs);
	xfer x = {.h = h, .max = h->o.max_response, .retry_after_ms = -1, .should_retry = -1};
	if (atomic_load(&h->canceled)) {
		collect(NULL, CURLE_ABORTED_BY_CALLBACK, &x, rs);
		sb_counter_inc(h->results[R_CANCELED]);
		return -1;
	}
	CURL *c = take_handle(h);
	struct curl_slist *hdrs = build_headers(rq);
	set_options(h, c, rq, hdrs, &x);
	int64_t t0 = sb_mono_us();
	CURLcode rc = curl_easy_perform(c);
	sb_histogram_observe(h->latency, (double)(sb_mono_us() - t0) / 1000.0);
	collect(c, rc, &x, rs);
	curl_slist_free_all(hdrs);
	give_handle(h, c);
	int r = rs->status == 0 ? (rs->fail == SB_HTTP_F_CANCELED ? R_CANCELED : R_TRANSPORT)
		: rs->status < 400 ? R_OK : R_HTTP_ERROR;
	sb_counter_inc(h->results[r]);
	return rs->status ? 0 : -1;
}

/* ---- retries ------------------------------------------------------------------ */

sb_http_verdict sb_http_classify_default(const sb_http_resp *r, void *arg)
{
	if (r->status == 0)
		return (r->fail == SB_HTTP_F_TOO_LARGE || r->fail == SB_HTTP_F_CANCELED) ? SB_HTTP_GIVE_UP
											   : SB_HTTP_RETRY;
	if (r->status >= 200 && r->status < 300)
		return SB_HTTP_DONE;
	if (r->should_retry >= 0)
		return r->should_retry ? SB_HTTP_RETRY : SB_HTTP_GIVE_UP;
	if (r->status == 408 || r->status == 409 || r->status == 429 || r->status >= 500)
		return SB_HTTP_RETRY;
	return SB_HTTP_GIVE_UP;
}

static sb_http_retry policy_defaults(const sb_http_retry *p)
{
	sb_http_retry d = p ? *p : (sb_http_retry){0};
	if (d.max_retries == 0)
		d.max_retries = 2;
	if (d.max_retries < 0)
		d.max_retries = 0;
	if (d.base_ms <= 0)
		d.base_ms = 500;
	if (d.max_backoff_ms <= 0)
		d.max_backoff_ms = 8000;
	if (d.max_retry_after_ms <= 0)
		d.max_retry_after_ms = 60000;
	if (d.jitter <= 0 || d.jitter > 1)
		d.jitter = 0.25;
	return d;
}

/* A uniform double in [0,1) from a per-thread xorshift generator. */
static double rand01(void)
{
	static __thread uint64_t s;
	if (!s)
		s = (uint64_t)sb_mono_us() ^ ((uint64_t)(uintptr_t)&s << 16) ^ 0x9e3779b97f4a7c15ULL;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (double)(s >> 11) / 9007199254740992.0;
}

long long sb_http_backoff_ms(const sb_http_retry *pp, int retry, const sb_http_resp *r)
{
	sb_http_retry p = policy_defaults(pp);
	if (r && r->retry_after_ms > 0)
		return r->retry_after_ms <= p.max_retry_after_ms ? r->retry_after_ms : -1;
	double ms = p.base_ms;
	for (int i = 0; i < retry && ms < p.max_backoff_ms; i++)
		ms *= 2;
	if (ms > p.max_backoff_ms)
		ms = p.max_backoff_ms;
	return (long long)(ms * (1.0 - p.jitter * rand01()));
}

/* Sleep ms unless canceled first: 0 slept, -1 canceled. */
static int wait_ms(sb_http *h, long long ms)
{
	struct timespec until;
	until = sb_timespec_in(CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&h->mu);
	while (!atomic_load(&h->canceled) && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
		;
	bool canceled = atomic_load(&h->canceled);
	pthread_mutex_unlock(&h->mu);
	return canceled ? -1 : 0;
}

int sb_http_call(sb_http *h, const sb_http_req *rq, const sb_http_retry *pp, sb_http_classify_fn classify,
		 void *arg, sb_http_resp *rs)
{
	sb_http_retry p = policy_defaults(pp);
	if (!classify)
		classify = sb_http_classify_default;
	int64_t t0 = sb_mono_ms();
	for (int retry = 0;; retry++) {
		if (retry > 0)
			sb_http_resp_free(rs);
		sb_http_do(h, rq, rs);
		rs->attempts = retry + 1;
		sb_http_verdict v = classify(rs, arg);
		if (v == SB_HTTP_DONE)
			return 0;
		if (v == SB_HTTP_GIVE_UP || retry >= p.max_retries || atomic_load(&h->canceled))
			return -1;
		long long ms = sb_http_backoff_ms(&p, retry, rs);
		if (ms < 0 || (p.budget_ms > 0 && sb_mono_ms() - t0 + ms > p.budget_ms))
			return -1;
		char d[200];
		sb_debug("http.retry", "client=%s attempt=%d wait_ms=%lld after=\"%s\"", h->name, retry + 1, ms,
			 sb_http_describe(rs, d, sizeof d));
		sb_counter_inc(h->retries);
		if (wait_ms(h, ms) < 0)
			return -1;
	}
}

const char *sb_http_describe(const sb_http_resp *r, char *buf, size_t len)
{
	static const char *const kinds[] = {"error", "timeout", "connect", "too large", "canceled", "transport"};
	if (r->status)
		snprintf(buf, len, "HTTP %d", r->status);
	else
		snprintf(buf, len, "%s: %s", kinds[r->fail <= SB_HTTP_F_TRANSPORT ? r->fail : 0], r->error);
	return buf;
}
