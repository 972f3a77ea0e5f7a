/*
 * sb_rpc_test.c — the REP server and REQ client over real ipc sockets, with
 * a small test service: validation, unknown ops, slow requests not blocking
 * fast ones, async calls, draining on stop, and a server restart mid-call.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "sb_json.h"
#include "sb_rpc.h"
#include "sb_schema_gen.h"

static const sb_field echo_args[] = {{.name = "text", .type = SB_T_STRING, .required = true}};
static const sb_field slow_args[] = {{.name = "ms", .type = SB_T_INTEGER, .required = true}};
static const sb_op_spec ops[] = {{"t.echo", echo_args, 1, false}, {"t.slow", slow_args, 1, false}};
static const sb_service svc = {"test", ops, 2};
enum { OP_ECHO, OP_SLOW };

static char url[128];

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void h_echo(sb_req *r, json_t *args, void *ctx)
{
	sb_req_ok(r, json_pack("{s:O}", "text", json_object_get(args, "text")));
}

/* Answers later from its own thread, like a handler waiting on a backend. */
static void *late_reply(void *arg)
{
	sb_req *r = arg;
	sleep_ms(400);
	sb_req_ok(r, json_string("slow done"));
	return NULL;
}

static void h_slow(sb_req *r, json_t *args, void *ctx)
{
	pthread_t t;
	pthread_create(&t, NULL, late_reply, r);
	pthread_detach(t);
}

static const sb_op_fn handlers[] = {h_echo, h_slow};

static sb_rpc_server *start(void)
{
	sb_rpc_config cfg = {.url = url, .service = &svc, .handlers = handlers, .nctx = 8};
	sb_rpc_server *s = NULL;
	sb_error e = {0};
	assert_int_equal(sb_rpc_server_start(&cfg, &s, &e), 0);
	return s;
}

static int setup(void **state)
{
	snprintf(url, sizeof url, "ipc:///tmp/sbrpc.%d.sock", (int)getpid());
	return 0;
}

static void test_echo_and_errors(void **state)
{
	sb_rpc_server *s = start();
	sb_error e = {0};
	sb_client *c = sb_client_open(url, NULL, &e);
	json_t *data = NULL;
	assert_int_equal(sb_client_call(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "hi"), &data, &e), 0);
	assert_string_equal(sb_json_str(data, "text"), "hi");
	json_decref(data);
	/* missing field → invalid_argument, naming the op */
	assert_int_equal(sb_client_call(c, &svc, OP_ECHO, NULL, &data, &e), -1);
	assert_int_equal(e.code, SB_INVALID_ARGUMENT);
	assert_non_null(strstr(e.message, "t.echo: missing field 'text'"));
	/* unknown op and raw garbage */
	static const char *const raw[] = {"{\"op\":\"t.nope\"}", "not json", "{\"op\":\"t.echo\",\"args\":[]}",
					  "{\"args\":{}}", "{\"op\":\"t.echo\",\"args\":{\"text\":\"x\"},\"more\":1}"};
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
		char *reply = NULL;
		size_t rlen;
		assert_int_equal(sb_client_call_raw(c, raw[i], strlen(raw[i]), &reply, &rlen, &e), 0);
		assert_non_null(strstr(reply, "\"code\":\"invalid_argument\""));
		free(reply);
	}
	/* built-in sys ops */
	assert_int_equal(sb_client_call(c, &SB_SVC_SYS, SB_SYS_SYS_HEALTH, NULL, &data, &e), 0);
	assert_string_equal(sb_json_str(data, "service"), "test");
	json_decref(data);
	assert_int_equal(sb_client_call(c, &SB_SVC_SYS, SB_SYS_SYS_METRICS, NULL, &data, &e), 0);
	assert_non_null(strstr(sb_json_str(data, "text"), "sb_rpc_requests_total"));
	json_decref(data);
	sb_client_close(c);
	sb_rpc_server_stop(s);
}

struct async_result {
	pthread_mutex_t mu;
	int             done, rc;
	char            text[300];
};

static void on_done(void *arg, int rc, json_t *data, const sb_error *err)
{
	struct async_result *r = arg;
	pthread_mutex_lock(&r->mu);
	r->rc = rc;
	snprintf(r->text, sizeof r->text, "%s",
		 rc < 0 ? err->message : json_is_string(data) ? json_string_value(data) : sb_json_str(data, "text"));
	r->done = 1;
	pthread_mutex_unlock(&r->mu);
	json_decref(data);
}

static int is_done(struct async_result *r)
{
	pthread_mutex_lock(&r->mu);
	int d = r->done;
	pthread_mutex_unlock(&r->mu);
	return d;
}

static void test_slow_does_not_block(void **state)
{
	sb_rpc_server *s = start();
	sb_client *c = sb_client_open(url, NULL, NULL);
	struct async_result r = {.mu = PTHREAD_MUTEX_INITIALIZER};
	sb_client_call_async(c, &svc, OP_SLOW, json_pack("{s:i}", "ms", 400), on_done, &r);
	/* ten fast calls complete while the slow one is still outstanding */
	for (int i = 0; i < 10; i++) {
		json_t *data = NULL;
		assert_int_equal(sb_client_call(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "x"), &data, NULL), 0);
		json_decref(data);
	}
	assert_false(is_done(&r));
	for (int i = 0; i < 200 && !is_done(&r); i++)
		sleep_ms(10);
	assert_true(is_done(&r));
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.text, "slow done");
	sb_client_close(c);
	sb_rpc_server_stop(s);
}

/* Many async calls at once and in waves: contexts are reused, every callback runs once with its own reply. */
struct echo_wave {
	pthread_mutex_t mu;
	int             done, ok, wrong;
};

static void on_echo(void *arg, int rc, json_t *data, const sb_error *err)
{
	struct echo_wave *w = *(struct echo_wave **)arg;
	const char *want = (const char *)arg + sizeof w;
	pthread_mutex_lock(&w->mu);
	w->done++;
	if (rc == 0 && strcmp(sb_json_str(data, "text") ? sb_json_str(data, "text") : "", want) == 0)
		w->ok++;
	else
		w->wrong++;
	pthread_mutex_unlock(&w->mu);
	json_decref(data);
	free(arg);
}

static void test_async_many_reuse(void **state)
{
	sb_rpc_server *s = start();
	sb_client *c = sb_client_open(url, NULL, NULL);
	struct echo_wave w = {.mu = PTHREAD_MUTEX_INITIALIZER};
	int total = 0;
	for (int wave = 0; wave < 20; wave++) {
		for (int i = 0; i < 100; i++, total++) { /* more than the 64 idle contexts a client keeps */
			char *arg = malloc(sizeof(struct echo_wave *) + 32);
			*(struct echo_wave **)arg = &w;
			snprintf(arg + sizeof(struct echo_wave *), 32, "m%d", total);
			sb_client_call_async(c, &svc, OP_ECHO, json_pack("{s:s}", "text", arg + sizeof(struct echo_wave *)),
					     on_echo, arg);
		}
		for (int i = 0; i < 500; i++) {
			pthread_mutex_lock(&w.mu);
			int d = w.done;
			pthread_mutex_unlock(&w.mu);
			if (d == total)
				break;
			sleep_ms(2);
		}
	}
	assert_int_equal(w.done, total);
	assert_int_equal(w.ok, total);
	assert_int_equal(w.wrong, 0);
	sb_client_close(c);
	sb_rpc_server_stop(s);
}

/* An async call that timed out leaves its context to the next call, which must get its own reply. */
static void test_async_timeout_then_reuse(void **state)
{
	sb_rpc_server *s = start();
	sb_client_opts o = {.timeout_ms = 150};
	sb_client *c = sb_client_open(url, &o, NULL);
	struct async_result r = {.mu = PTHREAD_MUTEX_INITIALIZER};
	sb_client_call_async(c, &svc, OP_SLOW, json_pack("{s:i}", "ms", 400), on_done, &r);
	for (int i = 0; i < 100 && !is_done(&r); i++)
		sleep_ms(10);
	assert_true(is_done(&r));
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.text, "did not answer"));
	/* the slow reply arrives while these run on the reused context: it must not be taken for theirs */
	for (int i = 0; i < 6; i++) {
		struct async_result e = {.mu = PTHREAD_MUTEX_INITIALIZER};
		sb_client_call_async(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "fresh"), on_done, &e);
		for (int k = 0; k < 100 && !is_done(&e); k++)
			sleep_ms(10);
		assert_true(is_done(&e));
		assert_int_equal(e.rc, 0);
		assert_string_equal(e.text, "fresh");
		sleep_ms(60);
	}
	sb_client_close(c);
	sb_rpc_server_stop(s);
}

/* Closing a client with async calls outstanding fails them, each callback once, and frees everything. */
static void test_async_close_pending(void **state)
{
	sb_rpc_server *s = start();
	sb_client *c = sb_client_open(url, NULL, NULL);
	struct async_result warm = {.mu = PTHREAD_MUTEX_INITIALIZER};
	sb_client_call_async(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "warm"), on_done, &warm);
	for (int i = 0; i < 100 && !is_done(&warm); i++)
		sleep_ms(10);
	assert_int_equal(warm.rc, 0);
	struct async_result r[3] = {{.mu = PTHREAD_MUTEX_INITIALIZER}, {.mu = PTHREAD_MUTEX_INITIALIZER},
				    {.mu = PTHREAD_MUTEX_INITIALIZER}};
	for (int i = 0; i < 3; i++)
		sb_client_call_async(c, &svc, OP_SLOW, json_pack("{s:i}", "ms", 400), on_done, &r[i]);
	sleep_ms(50);
	sb_client_close(c); /* returns after every callback */
	for (int i = 0; i < 3; i++) {
		assert_true(is_done(&r[i]));
		assert_int_equal(r[i].rc, -1);
	}
	sb_rpc_server_stop(s);
}

static void test_stop_drains_in_flight(void **state)
{
	sb_rpc_server *s = start();
	sb_client *c = sb_client_open(url, NULL, NULL);
	struct async_result r = {.mu = PTHREAD_MUTEX_INITIALIZER};
	sb_client_call_async(c, &svc, OP_SLOW, json_pack("{s:i}", "ms", 400), on_done, &r);
	sleep_ms(100); /* let the request reach the handler */
	sb_rpc_server_stop(s); /* must wait for the late reply to go out */
	for (int i = 0; i < 100 && !is_done(&r); i++)
		sleep_ms(10);
	assert_true(is_done(&r));
	assert_int_equal(r.rc, 0);
	sb_client_close(c);
}

static void test_no_server_and_restart(void **state)
{
	sb_client_opts o = {.timeout_ms = 300, .resend_ms = 100};
	sb_error e = {0};
	sb_client *c = sb_client_open(url, &o, &e);
	json_t *data = NULL;
	assert_int_equal(sb_client_call(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "x"), &data, &e), -1);
	assert_int_equal(e.code, SB_UNAVAILABLE);
	/* the server comes up later: the same client reaches it without reopening */
	sb_rpc_server *s = start();
	int ok = -1;
	for (int i = 0; i < 50 && ok != 0; i++)
		ok = sb_client_call(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "y"), &data, &e);
	assert_int_equal(ok, 0);
	json_decref(data);
	sb_rpc_server_stop(s);
	s = start();
	ok = -1;
	for (int i = 0; i < 50 && ok != 0; i++)
		ok = sb_client_call(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "z"), &data, &e);
	assert_int_equal(ok, 0);
	assert_string_equal(sb_json_str(data, "text"), "z");
	json_decref(data);
	sb_client_close(c);
	sb_rpc_server_stop(s);
}

static void test_missing_handler_refused(void **state)
{
	static const sb_op_fn partial[] = {h_echo, NULL};
	sb_rpc_config cfg = {.url = url, .service = &svc, .handlers = partial};
	sb_rpc_server *s = NULL;
	sb_error e = {0};
	assert_int_equal(sb_rpc_server_start(&cfg, &s, &e), -1);
	assert_non_null(strstr(e.message, "t.slow"));
}

/* nng 1.5.2 stops accepting on ipc after a connect+close mid-handshake; the watchdog must recover. */
static void test_watchdog_recovers_listener(void **state)
{
	sb_rpc_config cfg = {.url = url, .service = &svc, .handlers = handlers, .nctx = 4, .watchdog_ms = 200};
	sb_rpc_server *s = NULL;
	assert_int_equal(sb_rpc_server_start(&cfg, &s, NULL), 0);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(url + 6);
	assert_true(n < sizeof sa.sun_path);
	memcpy(sa.sun_path, url + 6, n + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	sb_client_opts o = {.timeout_ms = 300, .resend_ms = 100};
	sb_client *c = sb_client_open(url, &o, NULL);
	int ok = -1;
	for (int i = 0; i < 30 && ok != 0; i++) {
		json_t *data = NULL;
		ok = sb_client_call(c, &svc, OP_ECHO, json_pack("{s:s}", "text", "again"), &data, NULL);
		json_decref(data);
	}
	assert_int_equal(ok, 0);
	sb_client_close(c);
	sb_rpc_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_and_errors),
		cmocka_unit_test(test_slow_does_not_block),
		cmocka_unit_test(test_async_many_reuse),
		cmocka_unit_test(test_async_timeout_then_reuse),
		cmocka_unit_test(test_async_close_pending),
		cmocka_unit_test(test_stop_drains_in_flight),
		cmocka_unit_test(test_no_server_and_restart),
		cmocka_unit_test(test_missing_handler_refused),
		cmocka_unit_test(test_watchdog_recovers_listener),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
