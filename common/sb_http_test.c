/*
 * sb_http_test.c — sb_http against a tiny scripted libmicrohttpd server on
 * loopback (an ephemeral port; one thread per connection so a scripted
 * delay never stalls other requests).
 *
 * Each case queues the responses the server gives, in order (status,
 * headers, body, delay, or a body that is cut short), makes one call and
 * checks what came back, how many attempts were made and what the server
 * received.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_http.h"
#include "sb_time.h"

#define MAX_SCRIPT 8

typedef struct scripted {
	int         status;
	const char *headers[4][2];
	const char *body;
	size_t      huge;     /* send this many bytes of 'x' instead of body (chunked, no length) */
	int         delay_ms; /* before answering */
	int         cut;      /* promise a longer body, send `cut` bytes, then close */
} scripted;

static struct {
	struct MHD_Daemon *d;
	int                port;
	pthread_mutex_t    mu;
	scripted           script[MAX_SCRIPT];
	int                nscript, next;
	int                requests;
	char               last_auth[128];
	char               last_method[16];
	char               last_body[256];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct upload {
	char   buf[256];
	size_t len;
} upload;

static ssize_t gen_x(void *cls, uint64_t pos, char *buf, size_t max)
{
	const scripted *s = cls;
	size_t total = s->huge ? s->huge : (size_t)s->cut;
	if (s->cut && pos >= (uint64_t)s->cut)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = total - (size_t)pos < max ? total - (size_t)pos : max;
	memset(buf, 'x', n);
	return (ssize_t)n;
}

/* The next scripted answer (the last one repeats). */
static scripted next_answer(struct MHD_Connection *c, const char *method, const upload *u)
{
	pthread_mutex_lock(&srv.mu);
	scripted s = srv.script[srv.next < srv.nscript ? srv.next : srv.nscript - 1];
	srv.next++;
	srv.requests++;
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	snprintf(srv.last_auth, sizeof srv.last_auth, "%s", auth ? auth : "");
	snprintf(srv.last_method, sizeof srv.last_method, "%s", method);
	snprintf(srv.last_body, sizeof srv.last_body, "%.*s", (int)u->len, u->buf);
	pthread_mutex_unlock(&srv.mu);
	return s;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *data, size_t *size, void **con_cls)
{
	upload *u = *con_cls;
	if (!u) {
		*con_cls = calloc(1, sizeof *u);
		return MHD_YES;
	}
	if (*size) {
		size_t n = *size < sizeof u->buf - u->len ? *size : sizeof u->buf - u->len;
		memcpy(u->buf + u->len, data, n);
		u->len += n;
		*size = 0;
		return MHD_YES;
	}
	static __thread scripted s; /* the callback reader below reads it after we return */
	s = next_answer(c, method, u);
	if (s.delay_ms) {
		struct timespec ts = {s.delay_ms / 1000, (s.delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	struct MHD_Response *r;
	if (s.huge)
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, gen_x, &s, NULL);
	else if (s.cut)
		r = MHD_create_response_from_callback((uint64_t)s.cut * 10, 1024, gen_x, &s, NULL);
	else
		r = MHD_create_response_from_buffer(strlen(s.body ? s.body : ""), (void *)(s.body ? s.body : ""),
						    MHD_RESPMEM_MUST_COPY);
	for (int i = 0; i < 4 && s.headers[i][0]; i++)
		MHD_add_response_header(r, s.headers[i][0], s.headers[i][1]);
	enum MHD_Result rv = MHD_queue_response(c, (unsigned)s.status, r);
	MHD_destroy_response(r);
	return rv;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	free(*con_cls);
	*con_cls = NULL;
}

static void script(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	pthread_mutex_lock(&srv.mu);
	for (int i = 0; i < n; i++)
		srv.script[i] = va_arg(ap, scripted);
	srv.nscript = n;
	srv.next = 0;
	srv.requests = 0;
	pthread_mutex_unlock(&srv.mu);
	va_end(ap);
}

static int setup(void **state)
{
	srv.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
				 NULL, NULL, answer, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				 MHD_OPTION_END);
	if (!srv.d)
		return -1;
	srv.port = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT)->port;
	return 0;
}

static int teardown(void **state)
{
	MHD_stop_daemon(srv.d);
	return 0;
}

static char url[128];

static const char *server_url(const char *path)
{
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv.port, path);
	return url;
}

static const sb_http_retry fast = {.max_retries = 3, .base_ms = 10, .max_backoff_ms = 40};

/* ---- cases -------------------------------------------------------------------- */

static void test_post_json_and_headers(void **state)
{
	script(1, (scripted){.status = 200, .headers = {{"Content-Type", "application/json"}}, .body = "{\"ok\":true}"});
	sb_http *h = sb_http_new(&(sb_http_opts){.name = "t"});
	const char *hdrs[] = {"Authorization: Bearer k1", "Content-Type: application/json", NULL};
	sb_http_req rq = {.url = server_url("/v1/x"), .headers = hdrs, .body = "{\"a\":1}", .body_len = 7};
	sb_http_resp rs;
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), 0);
	assert_int_equal(rs.status, 200);
	assert_string_equal(rs.body, "{\"ok\":true}");
	assert_int_equal(rs.attempts, 1);
	assert_string_equal(srv.last_auth, "Bearer k1");
	assert_string_equal(srv.last_method, "POST");
	assert_string_equal(srv.last_body, "{\"a\":1}");
	sb_http_resp_free(&rs);
	rq = (sb_http_req){.url = server_url("/get")};
	assert_int_equal(sb_http_do(h, &rq, &rs), 0);
	assert_string_equal(srv.last_method, "GET");
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_retry_after_seconds_and_ms(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(2, (scripted){.status = 429, .headers = {{"Retry-After", "1"}}, .body = "{}"}, (scripted){.status = 200, .body = "done"});
	int64_t t0 = sb_mono_ms();
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), 0);
	assert_true(sb_mono_ms() - t0 >= 950); /* honoured Retry-After: 1, not the 10 ms backoff */
	assert_int_equal(rs.attempts, 2);
	sb_http_resp_free(&rs);
	/* retry-after-ms wins over Retry-After */
	script(2, (scripted){.status = 503, .headers = {{"Retry-After", "30"}, {"retry-after-ms", "150"}}, .body = "{}"}, (scripted){.status = 200, .body = "ok"});
	t0 = sb_mono_ms();
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), 0);
	int64_t took = sb_mono_ms() - t0;
	assert_true(took >= 140 && took < 5000);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_retry_after_too_long_gives_up(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	sb_http_retry p = fast;
	p.max_retry_after_ms = 2000;
	script(2, (scripted){.status = 429, .headers = {{"Retry-After", "120"}}, .body = "{}"}, (scripted){.status = 200, .body = "ok"});
	int64_t t0 = sb_mono_ms();
	assert_int_equal(sb_http_call(h, &rq, &p, NULL, NULL, &rs), -1);
	assert_true(sb_mono_ms() - t0 < 1000);
	assert_int_equal(rs.status, 429);
	assert_int_equal(rs.retry_after_ms, 120000);
	assert_int_equal(rs.attempts, 1);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_5xx_retried_until_limit(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(3, (scripted){.status = 500, .body = "e"}, (scripted){.status = 502, .body = "e"}, (scripted){.status = 200, .body = "ok"});
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), 0);
	assert_int_equal(rs.attempts, 3);
	sb_http_resp_free(&rs);
	script(1, (scripted){.status = 503, .body = "down"});
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_int_equal(rs.attempts, 4); /* 1 + max_retries */
	assert_int_equal(srv.requests, 4);
	assert_string_equal(rs.body, "down");
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static sb_http_verdict quota_is_final(const sb_http_resp *r, void *arg)
{
	if (r->status == 429 && strstr(r->body, "insufficient_quota"))
		return SB_HTTP_GIVE_UP;
	return sb_http_classify_default(r, arg);
}

static void test_classifier_decides(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(2, (scripted){.status = 429, .body = "{\"error\":{\"code\":\"insufficient_quota\"}}"}, (scripted){.status = 200, .body = "ok"});
	assert_int_equal(sb_http_call(h, &rq, &fast, quota_is_final, NULL, &rs), -1);
	assert_int_equal(rs.attempts, 1);
	sb_http_resp_free(&rs);
	script(2, (scripted){.status = 429, .body = "{\"error\":{\"code\":\"rate_limit_exceeded\"}}"}, (scripted){.status = 200, .body = "ok"});
	assert_int_equal(sb_http_call(h, &rq, &fast, quota_is_final, NULL, &rs), 0);
	assert_int_equal(rs.attempts, 2);
	sb_http_resp_free(&rs);
	/* plain 4xx: never retried by default */
	script(2, (scripted){.status = 400, .body = "bad"}, (scripted){.status = 200, .body = "ok"});
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_int_equal(rs.status, 400);
	assert_int_equal(rs.attempts, 1);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_should_retry_header(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(2, (scripted){.status = 500, .headers = {{"x-should-retry", "false"}}, .body = "e"}, (scripted){.status = 200, .body = "ok"});
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_int_equal(rs.should_retry, 0);
	assert_int_equal(rs.attempts, 1);
	sb_http_resp_free(&rs);
	script(2, (scripted){.status = 400, .headers = {{"x-should-retry", "true"}}, .body = "e"}, (scripted){.status = 200, .body = "ok"});
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), 0);
	assert_int_equal(rs.attempts, 2);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_body_cap(void **state)
{
	sb_http *h = sb_http_new(&(sb_http_opts){.max_response = 64 * 1024});
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	static char big[200 * 1024];
	memset(big, 'y', sizeof big - 1);
	script(1, (scripted){.status = 200, .body = big}); /* with Content-Length */
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_int_equal(rs.status, 0);
	assert_int_equal(rs.fail, SB_HTTP_F_TOO_LARGE);
	assert_int_equal(rs.attempts, 1); /* not retried */
	assert_true(rs.len <= 64 * 1024);
	sb_http_resp_free(&rs);
	script(1, (scripted){.status = 200, .body = NULL, .huge = 50u << 20}); /* chunked, no length: 50 MB */
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_int_equal(rs.fail, SB_HTTP_F_TOO_LARGE);
	assert_true(rs.len <= 64 * 1024);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_timeout_then_success(void **state)
{
	sb_http *h = sb_http_new(&(sb_http_opts){.timeout_ms = 300});
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(2, (scripted){.status = 200, .body = "slow", .delay_ms = 1500}, (scripted){.status = 200, .body = "fast"});
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), 0);
	assert_int_equal(rs.attempts, 2);
	assert_string_equal(rs.body, "fast");
	sb_http_resp_free(&rs);
	script(1, (scripted){.status = 200, .body = "slow", .delay_ms = 1000});
	assert_int_equal(sb_http_do(h, &rq, &rs), -1);
	assert_int_equal(rs.fail, SB_HTTP_F_TIMEOUT);
	char d[200];
	assert_non_null(strstr(sb_http_describe(&rs, d, sizeof d), "timeout"));
	sb_http_resp_free(&rs);
	rq.timeout_ms = 3000; /* this request may take longer than the client's default */
	assert_int_equal(sb_http_do(h, &rq, &rs), 0);
	assert_string_equal(rs.body, "slow");
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_truncated_transfer(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(1, (scripted){.status = 200, .body = NULL, .cut = 100});
	sb_http_retry once = fast;
	once.max_retries = -1;
	assert_int_equal(sb_http_call(h, &rq, &once, NULL, NULL, &rs), -1);
	assert_int_equal(rs.status, 0);
	assert_int_equal(rs.fail, SB_HTTP_F_TRANSPORT);
	assert_int_equal(rs.attempts, 1);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_connection_refused(void **state)
{
	sb_http *h = sb_http_new(&(sb_http_opts){.connect_timeout_ms = 500});
	sb_http_req rq = {.url = "http://127.0.0.1:1/"};
	sb_http_resp rs;
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_int_equal(rs.fail, SB_HTTP_F_CONNECT);
	assert_int_equal(rs.attempts, 4); /* connection errors are retried */
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void *cancel_later(void *arg)
{
	struct timespec ts = {0, 200 * 1000000L};
	nanosleep(&ts, NULL);
	sb_http_cancel(arg);
	return NULL;
}

static void test_cancel_interrupts_backoff(void **state)
{
	sb_http *h = sb_http_new(NULL);
	sb_http_req rq = {.url = server_url("/")};
	sb_http_resp rs;
	script(1, (scripted){.status = 429, .headers = {{"Retry-After", "20"}}, .body = "{}"});
	pthread_t t;
	pthread_create(&t, NULL, cancel_later, h);
	int64_t t0 = sb_mono_ms();
	assert_int_equal(sb_http_call(h, &rq, &fast, NULL, NULL, &rs), -1);
	assert_true(sb_mono_ms() - t0 < 5000);
	pthread_join(t, NULL);
	sb_http_resp_free(&rs);
	assert_int_equal(sb_http_do(h, &rq, &rs), -1); /* canceled for good */
	assert_int_equal(rs.fail, SB_HTTP_F_CANCELED);
	sb_http_resp_free(&rs);
	sb_http_free(h);
}

static void test_backoff_schedule(void **state)
{
	sb_http_retry p = {.base_ms = 500, .max_backoff_ms = 8000, .jitter = 0.25};
	for (int r = 0; r < 8; r++) {
		long long want = 500LL << r;
		if (want > 8000)
			want = 8000;
		for (int k = 0; k < 50; k++) {
			long long ms = sb_http_backoff_ms(&p, r, NULL);
			assert_true(ms <= want && ms >= want * 3 / 4);
		}
	}
	sb_http_resp r = {.retry_after_ms = 3000};
	assert_int_equal(sb_http_backoff_ms(&p, 0, &r), 3000);
	r.retry_after_ms = 61000;
	assert_int_equal(sb_http_backoff_ms(&p, 0, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_json_and_headers),
		cmocka_unit_test(test_retry_after_seconds_and_ms),
		cmocka_unit_test(test_retry_after_too_long_gives_up),
		cmocka_unit_test(test_5xx_retried_until_limit),
		cmocka_unit_test(test_classifier_decides),
		cmocka_unit_test(test_should_retry_header),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_timeout_then_success),
		cmocka_unit_test(test_truncated_transfer),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_cancel_interrupts_backoff),
		cmocka_unit_test(test_backoff_schedule),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
