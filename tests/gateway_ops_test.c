/*
 * gateway_ops_test.c — operating sb-gateway: --help and configuration
 * checks, /healthz, /metrics (its own and a backend's), the PUB events
 * (bodies valid against the event catalogue), the `admin-key` command,
 * body limits (Content-Length and chunked), idle-connection timeout, and a
 * SIGTERM that still answers the request in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/gateway_harness.h"
#include "sb_events.h"
#include "sb_json.h"
#include "sb_time.h"
#include "sb_topology.h"

static struct {
	sbt_gw g;
	char   biz[64];
} T;

/* Run a shell command; its exit status, stdout in out. */
static int run(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long get(const sbt_gw *g, const char *path, char **body)
{
	sbt_resp r;
	assert_int_equal(sbt_http(g, "GET", path, NULL, NULL, 0, &r), 0);
	long st = r.status;
	if (body)
		*body = strdup(r.body);
	sbt_resp_free(&r);
	return st;
}

/* The value of the sample line that starts with series in Prometheus text, or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, series, n) == 0 && l[n] == ' ')
			return atof(l + n + 1);
	return -1;
}

static int setup(void **state)
{
	if (sbt_gw_start(&T.g, (const char *const[]){"--backend-timeout", "800", NULL}) != 0)
		return -1;
	return sbt_gw_business(&T.g, "Ops", "+18005550300", T.biz);
}

static int teardown(void **state)
{
	sbt_gw_stop(&T.g);
	return 0;
}

/* ---- configuration ------------------------------------------------------------------ */

static void test_help_and_config(void **state)
{
	static char out[16384];
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s --help", sbt_bin("sb-gateway"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	static const char *const want[] = {
		"--listen", "SB_GATEWAY_LISTEN", "127.0.0.1:8080", "--events", "--public-url", "SB_PUBLIC_URL",
		"--stream-url", "--store-url", "SB_STORE_URL", "--rag-url", "SB_RAG_URL", "--bridge-url", "SB_BRIDGE_URL",
		"--scheduler-url", "SB_SCHEDULER_URL", "--twilio-auth-token", "TWILIO_AUTH_TOKEN_FILE", "--secret",
		"SB_SECRET", "--admin-key", "SB_ADMIN_KEY", "--insecure-skip-twilio-signature", "--max-body",
		"--max-connections", "--connection-timeout", "--threads", "--workers", "--stream-token-ttl",
		"--webhook-timeout", "--backend-timeout", "admin-key"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(out, want[i]))
			fail_msg("--help lacks \"%s\"", want[i]);
	for (size_t i = 0; i < SB_TOPOLOGY_LEN; i++) { /* the defaults are the topology's */
		if (!strcmp(SB_TOPOLOGY[i].daemon, "sb-gateway"))
			assert_non_null(strstr(out, SB_TOPOLOGY[i].events));
		else if (SB_TOPOLOGY[i].request && strcmp(SB_TOPOLOGY[i].daemon, "sb-voice") != 0)
			assert_non_null(strstr(out, SB_TOPOLOGY[i].request));
	}
	snprintf(cmd, sizeof cmd, "SB_SECRET=0123456789abcdef-secret %s --check-config --public-url https://x.test/", sbt_bin("sb-gateway"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_non_null(strstr(out, "secret = [set]"));
	assert_non_null(strstr(out, "admin-key = [unset]"));
	assert_null(strstr(out, "0123456789abcdef-secret"));
	static const char *const bad[] = {"--public-url ftp://x.test", "--public-url https://x.test/?a=1",
					  "--stream-url https://x.test", "--secret short", "--admin-key short",
					  "--threads 0", "--max-body 10", "--listen nonsense", "--nope"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(cmd, sizeof cmd, "%s %s --check-config 2>&1", sbt_bin("sb-gateway"), bad[i]);
		if (run(cmd, out, sizeof out) != 2)
			fail_msg("\"%s\" should exit 2: %s", bad[i], out);
	}
}

/* ---- health and metrics ---------------------------------------------------------------- */

static void test_health_and_metrics(void **state)
{
	char *body;
	assert_int_equal(get(&T.g, "/healthz", &body), 200);
	json_t *h = json_loads(body, 0, NULL);
	assert_string_equal(sb_json_str(h, "status"), "ok");
	json_decref(h);
	free(body);
	sb_form f = {0}; /* one forged webhook and one good one */
	sb_form_add(&f, "CallSid", "CAmetrics0000000000000000000000001");
	sb_form_add(&f, "From", "+14155550100");
	sb_form_add(&f, "To", "+18005550300");
	sbt_resp r;
	assert_int_equal(sbt_twilio(&T.g, "forged", "/api/twilio/voice", &f, &r), 0);
	assert_int_equal(r.status, 403);
	sbt_resp_free(&r);
	assert_int_equal(sbt_twilio(&T.g, SBT_TWILIO_TOKEN, "/api/twilio/voice", &f, &r), 0);
	assert_int_equal(r.status, 200);
	sbt_resp_free(&r);
	sb_form_free(&f);
	assert_int_equal(get(&T.g, "/no/such/path", NULL), 404);

	assert_int_equal(get(&T.g, "/metrics", &body), 200);
	/* one scrape for the whole stack: every sample carries its daemon */
	assert_true(sample(body, "sb_http_requests_total{daemon=\"gateway\",route=\"/healthz\",method=\"GET\",status=\"200\"}") >= 1);
	assert_true(sample(body, "sb_http_requests_total{daemon=\"gateway\",route=\"/api/twilio/voice\",method=\"POST\",status=\"403\"}") >= 1);
	assert_true(sample(body, "sb_http_requests_total{daemon=\"gateway\",route=\"unmatched\",method=\"GET\",status=\"404\"}") >= 1);
	assert_true(sample(body, "sb_twilio_signature_failures_total{daemon=\"gateway\"}") >= 1);
	assert_true(sample(body, "sb_twiml_latency_ms_count{daemon=\"gateway\"}") >= 1);
	assert_true(sample(body, "sb_http_request_duration_ms_count{daemon=\"gateway\",route=\"/api/twilio/voice\"}") >= 2);
	assert_non_null(strstr(body, "sb_http_request_duration_ms_bucket{daemon=\"gateway\",route=\"/healthz\",le=\"+Inf\"}"));
	assert_non_null(strstr(body, "sb_rpc_requests_total{daemon=\"store\",service=\"store\""));
	assert_true(sample(body, "sb_up{daemon=\"store\"}") == 1);
	assert_true(sample(body, "sb_up{daemon=\"rag\"}") == 0); /* no rag-worker in this test */
	/* each family is declared once, however many daemons report it */
	const char *t = strstr(body, "# TYPE sb_rpc_requests_total ");
	assert_non_null(t);
	assert_null(strstr(t + 1, "# TYPE sb_rpc_requests_total "));
	free(body);
	assert_int_equal(get(&T.g, "/metrics/store", &body), 200);
	assert_non_null(strstr(body, "sb_rpc_requests_total{service=\"store\""));
	free(body);
	assert_int_equal(get(&T.g, "/metrics/rag", NULL), 503); /* no rag-worker in this test */
	assert_int_equal(get(&T.g, "/metrics/nope", NULL), 404);
}

/* ---- events ----------------------------------------------------------------------------- */

static int catalogue_index(const char *topic)
{
	for (int i = 0; i < SB_EV__COUNT; i++)
		if (strcmp(SB_EVENTS[i].topic, topic) == 0)
			return i;
	return -1;
}

/* Receive events until one with topic whose body has key=value arrives (valid against the catalogue). */
static json_t *expect_event(sb_sub *s, const char *topic, const char *key, const char *value)
{
	int64_t until = sb_mono_ms() + 5000;
	while (sb_mono_ms() < until) {
		char *t = NULL, *js = NULL;
		if (sb_sub_recv(s, 200, &t, &js) != 0)
			continue;
		json_t *body = json_loads(js, 0, NULL);
		int i = catalogue_index(t);
		sb_error err = {0};
		if (i < 0 || sb_schema_validate(SB_EVENTS[i].fields, SB_EVENTS[i].nfields, body, &err) != 0)
			fail_msg("event %s %s is not in the catalogue or invalid: %s", t, js, err.message);
		bool match = !strcmp(t, topic) && (!key || (sb_json_str(body, key) && !strcmp(sb_json_str(body, key), value)));
		free(t);
		free(js);
		if (match)
			return body;
		json_decref(body);
	}
	fail_msg("no %s event with %s=%s", topic, key ? key : "", value ? value : "");
	return NULL;
}

static void test_events(void **state)
{
	char url[600];
	snprintf(url, sizeof url, "ipc://%s/gateway-events.sock", T.g.run);
	const char *urls[] = {url};
	sb_sub *s = sb_sub_open(urls, 1, NULL, 0, NULL);
	assert_non_null(s);
	/* slow joiner: make requests until the subscription hears one */
	int64_t until = sb_mono_ms() + 5000;
	bool heard = false;
	while (!heard && sb_mono_ms() < until) {
		get(&T.g, "/healthz", NULL);
		char *t = NULL, *js = NULL;
		heard = sb_sub_recv(s, 100, &t, &js) == 0;
		free(t);
		free(js);
	}
	assert_true(heard);
	sb_form f = {0};
	sb_form_add(&f, "CallSid", "CAevents00000000000000000000000001");
	sb_form_add(&f, "From", "+14155550100");
	sb_form_add(&f, "To", "+18005550300");
	sbt_resp r;
	assert_int_equal(sbt_twilio(&T.g, SBT_TWILIO_TOKEN, "/api/twilio/voice", &f, &r), 0);
	sbt_resp_free(&r);
	sb_form_free(&f);
	json_t *ev = expect_event(s, "twilio.webhook", "callSid", "CAevents00000000000000000000000001");
	assert_string_equal(sb_json_str(ev, "kind"), "voice");
	assert_string_equal(sb_json_str(ev, "status"), "connect");
	json_decref(ev);
	ev = expect_event(s, "http.request", "route", "/api/twilio/voice");
	assert_int_equal(sb_json_int(ev, "status", 0), 200);
	assert_string_equal(sb_json_str(ev, "method"), "POST");
	assert_true(sb_json_num(ev, "latencyMs", -1) >= 0);
	json_decref(ev);
	sb_sub_close(s);
}

/* ---- admin-key command ------------------------------------------------------------------- */

static void test_admin_key_command(void **state)
{
	static char out[4096];
	char cmd[1400], auth[200], path[128];
	snprintf(cmd, sizeof cmd, "%s admin-key --store-url %s --name ci 2>/dev/null", sbt_bin("sb-gateway"), T.g.store_url);
	assert_int_equal(run(cmd, out, sizeof out), 0);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strncmp(out, "sbk_", 4), 0); /* one line: the key */
	snprintf(auth, sizeof auth, "Authorization: Bearer %.100s", out);
	const char *h[] = {auth, NULL};
	sbt_resp r;
	assert_int_equal(sbt_http(&T.g, "GET", "/api/businesses", h, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	sbt_resp_free(&r);
	/* a business key */
	snprintf(cmd, sizeof cmd, "%s admin-key --store-url %s --business %s 2>/dev/null", sbt_bin("sb-gateway"),
		 T.g.store_url, T.biz);
	assert_int_equal(run(cmd, out, sizeof out), 0);
	out[strcspn(out, "\n")] = '\0';
	snprintf(auth, sizeof auth, "Authorization: Bearer %.100s", out);
	assert_int_equal(sbt_http(&T.g, "GET", "/api/businesses", h, NULL, 0, &r), 0);
	json_t *j = sbt_resp_json(&r);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	json_decref(j);
	sbt_resp_free(&r);
	snprintf(path, sizeof path, "%s admin-key --help", sbt_bin("sb-gateway"));
	assert_int_equal(run(path, out, sizeof out), 0);
	assert_non_null(strstr(out, "--business"));
	snprintf(cmd, sizeof cmd, "%s admin-key --store-url %s --business biz_nobody 2>/dev/null", sbt_bin("sb-gateway"),
		 T.g.store_url);
	assert_int_equal(run(cmd, out, sizeof out), 1);
	assert_string_equal(out, "");
}

/* ---- limits ------------------------------------------------------------------------------- */

static void test_body_limits_and_idle_timeout(void **state)
{
	sbt_gw g = {.store = T.g.store, .starts = 200};
	snprintf(g.store_url, sizeof g.store_url, "%s", T.g.store_url);
	char events[600], sock[512];
	snprintf(events, sizeof events, "ipc://%s", sbt_path(sock, sizeof sock, "gw-limits.sock"));
	const char *args[] = {"--max-body", "4096", "--connection-timeout", "1", "--events", events, NULL};
	assert_int_equal(sbt_gw_start(&g, args), 0);
	char body[6000];
	memset(body, 'x', sizeof body);
	const char *h[] = {"Authorization: Bearer " SBT_ADMIN_KEY, "Content-Type: application/json", NULL};
	sbt_resp r;
	assert_int_equal(sbt_http(&g, "POST", "/api/businesses", h, body, 5000, &r), 0);
	assert_int_equal(r.status, 413);
	sbt_resp_free(&r);
	const char *hc[] = {"Authorization: Bearer " SBT_ADMIN_KEY, "Content-Type: application/json",
			    "Transfer-Encoding: chunked", NULL};
	sbt_http(&g, "POST", "/api/businesses", hc, body, 5000, &r); /* chunked past the limit: cut off */
	assert_true(r.status == 0 || r.status == 413);
	sbt_resp_free(&r);
	assert_int_equal(sbt_http(&g, "POST", "/api/businesses", hc, "{\"name\":\"Chunked\"}", 18, &r), 0);
	assert_int_equal(r.status, 201); /* chunked within the limit: fine */
	sbt_resp_free(&r);

	/* an idle connection is closed after --connection-timeout */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	int64_t t0 = sb_mono_ms();
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 8000), 1);
	char c;
	assert_true(recv(fd, &c, 1, 0) <= 0); /* closed by the server */
	assert_true(sb_mono_ms() - t0 < 8000);
	close(fd);
	assert_int_equal(sbt_gw_stop_gateway(&g, SIGTERM), 0);
}

/* ---- SIGTERM answers what is in flight --------------------------------------------------- */

typedef struct slow_req {
	sbt_gw *g;
	long    status;
} slow_req;

/* A request that takes --backend-timeout: POST /api/rag with no rag-worker. */
static void *slow_post(void *arg)
{
	slow_req *s = arg;
	char body[200];
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"title\":\"t\",\"content\":\"slow\"}", T.biz);
	sbt_resp r;
	sbt_api(s->g, "POST", "/api/rag", body, &r);
	s->status = r.status;
	sbt_resp_free(&r);
	return NULL;
}

static void test_sigterm_answers_in_flight(void **state)
{
	sbt_gw g = {.store = T.g.store, .starts = 300};
	snprintf(g.store_url, sizeof g.store_url, "%s", T.g.store_url);
	char events[600], sock[512];
	snprintf(events, sizeof events, "ipc://%s", sbt_path(sock, sizeof sock, "gw-term.sock"));
	const char *args[] = {"--backend-timeout", "1500", "--events", events, NULL};
	assert_int_equal(sbt_gw_start(&g, args), 0);
	slow_req s = {.g = &g};
	pthread_t th;
	pthread_create(&th, NULL, slow_post, &s);
	/* in flight: the document is in the store and the gateway waits on the rag-worker */
	sb_client *c = sb_client_open(g.store_url, NULL, NULL);
	bool stored = false;
	for (int64_t until = sb_mono_ms() + 5000; !stored && sb_mono_ms() < until;) {
		json_t *list = sbt_ok(c, "knowledge.list", json_pack("{s:s}", "businessId", T.biz));
		stored = list && json_array_size(json_object_get(list, "items")) > 0;
		json_decref(list);
	}
	sb_client_close(c);
	assert_true(stored);
	int64_t t0 = sb_mono_ms();
	assert_int_equal(sbt_gw_stop_gateway(&g, SIGTERM), 0); /* exits 0 ... */
	pthread_join(th, NULL);
	assert_int_equal(s.status, 201); /* ... after answering */
	assert_true(sb_mono_ms() - t0 < 10000);
}

typedef struct loader {
	sbt_gw     *g;
	int         id;
	atomic_bool *stop;
	atomic_long  ok, refused, bad;
} loader;

/* Signed voice webhooks in a loop until told to stop; counts what came back. */
static void *load_main(void *arg)
{
	loader *l = arg;
	for (int i = 0; !atomic_load(l->stop); i++) {
		char sid[64];
		snprintf(sid, sizeof sid, "CAload%02d%024d", l->id, i);
		sb_form f = {0};
		sb_form_add(&f, "CallSid", sid);
		sb_form_add(&f, "From", "+14155550100");
		sb_form_add(&f, "To", "+18005550300");
		sbt_resp r;
		int rc = sbt_twilio(l->g, SBT_TWILIO_TOKEN, "/api/twilio/voice", &f, &r);
		sb_form_free(&f);
		if (rc != 0)
			l->refused++; /* not listening any more */
		else if (r.status == 200 && (strstr(r.body, "<Stream") || strstr(r.body, "We are sorry")))
			l->ok++;
		else
			l->bad++;
		sbt_resp_free(&r);
	}
	return NULL;
}

static void test_sigterm_under_load(void **state)
{
	sbt_gw g = {.store = T.g.store, .starts = 400};
	snprintf(g.store_url, sizeof g.store_url, "%s", T.g.store_url);
	char events[600], sock[512];
	snprintf(events, sizeof events, "ipc://%s", sbt_path(sock, sizeof sock, "gw-load.sock"));
	assert_int_equal(sbt_gw_start(&g, (const char *const[]){"--events", events, NULL}), 0);
	atomic_bool stop = false;
	loader l[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		l[i] = (loader){.g = &g, .id = i, .stop = &stop};
		pthread_create(&th[i], NULL, load_main, &l[i]);
	}
	for (int64_t until = sb_mono_ms() + 10000; sb_mono_ms() < until && atomic_load(&l[0].ok) < 20;)
		nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
	int64_t t0 = sb_mono_ms();
	assert_int_equal(sbt_gw_stop_gateway(&g, SIGTERM), 0);
	assert_true(sb_mono_ms() - t0 < 10000);
	atomic_store(&stop, true);
	long ok = 0, bad = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += l[i].ok;
		bad += l[i].bad;
	}
	assert_true(ok >= 50);
	assert_int_equal(bad, 0); /* every answer was whole TwiML: none cut off, none an error page */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_and_config),
		cmocka_unit_test(test_health_and_metrics),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_admin_key_command),
		cmocka_unit_test(test_body_limits_and_idle_timeout),
		cmocka_unit_test(test_sigterm_answers_in_flight),
		cmocka_unit_test(test_sigterm_under_load),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
