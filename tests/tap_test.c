/*
 * tap_test.c — sb-tap against the real sb-store.
 *
 * One sb-store over ipc:// in the test's temporary folder; each case starts
 * its own sb-tap (under its own name, a symlink to build/bin/sb-tap, so each
 * has its own log <dir>/<name>.log holding its stdout and stderr) on the same
 * run dir. PUB/SUB has the slow-joiner problem, so a case first makes the
 * tap's subscription live by publishing (a store write) until the tap prints
 * something, never by sleeping; then it makes the writes it checks for, and
 * ends with a "fence" event: the store publishes in commit order over one
 * pipe, so once the fence is printed everything before it has arrived too.
 *
 * Cases: --help; bad flags exit 2; --timeout with nothing to hear exits 1; a
 * tap started before the store hears it once it starts and again after it
 * restarts; JSON lines carry the expected events, each body valid against
 * the event catalogue (schemas/events.json); --topic; --call-sid with
 * --count; the human format; --stats with only the store running.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/harness.h"
#include "sb_json.h"
#include "sb_time.h"
#include "sb_topology.h"

#define WAIT_MS 10000 /* longest any one thing may take, generous for valgrind/asan */

static struct {
	sbt_proc   store;
	char       url[512];
	char       run[512];
	sb_client *c;
	int        seq;     /* next transcript seq of the warm-up call */
	char       warm_sid[64];
	pid_t      taps[16]; /* taps started and not yet reaped: killed if a case fails */
	int        ntaps;
} g;

/* ---- helpers ---------------------------------------------------------------- */

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void store_up(void)
{
	if (g.store.pid > 0 && sbt_alive(&g.store))
		return;
	g.store.pid = 0; /* not started, or died in an earlier case: start afresh */
	if (sbt_start_store(&g.store, g.url, sizeof g.url, NULL) != 0)
		fail_msg("sb-store did not come up (log: %s)", g.store.log);
	if (!g.c)
		g.c = sb_client_open(g.url, NULL, NULL);
	assert_non_null(g.c);
}

static void store_down(void)
{
	if (g.store.pid > 0 && sbt_alive(&g.store))
		assert_int_equal(sbt_stop(&g.store, SIGTERM, WAIT_MS), 0);
	g.store.pid = 0;
}

/* Start sb-tap as <dir>/<name> (a symlink) on the store's run dir, plus args. */
static void spawn_tap(sbt_proc *p, const char *name, const char *const *args)
{
	char target[PATH_MAX], link[600], log[700];
	if (!realpath(sbt_bin("sb-tap"), target))
		fail_msg("no sb-tap binary at %s", sbt_bin("sb-tap"));
	sbt_path(link, sizeof link, name);
	snprintf(log, sizeof log, "%s.log", link);
	unlink(link);
	unlink(log);
	assert_int_equal(symlink(target, link), 0);
	const char *argv[40] = {"--run-dir", g.run};
	int n = 2;
	for (int i = 0; args && args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	assert_int_equal(sbt_spawn(p, link, argv), 0);
	if (g.ntaps < (int)(sizeof g.taps / sizeof g.taps[0]))
		g.taps[g.ntaps++] = p->pid;
}

/* p has been reaped: no longer ours to kill. */
static void forget(pid_t pid)
{
	for (int i = 0; i < g.ntaps; i++)
		if (g.taps[i] == pid)
			g.taps[i] = g.taps[--g.ntaps];
}

/* SIGTERM the tap and expect it to exit 0. */
static void stop_tap(sbt_proc *p)
{
	pid_t pid = p->pid;
	int rc = sbt_stop(p, SIGTERM, WAIT_MS);
	forget(pid);
	if (rc != 0)
		fail_msg("%s: SIGTERM gave exit %d, want 0 (log: %s)", p->name, rc, p->log);
}

/* p's exit status if it exits within ms, else -1 (it keeps running). */
static int try_exit(sbt_proc *p, int ms)
{
	int64_t until = sb_mono_ms() + ms;
	int status = 0;
	while (waitpid(p->pid, &status, WNOHANG) == 0) {
		if (sb_mono_ms() > until)
			return -1;
		nap_ms(5);
	}
	forget(p->pid);
	p->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Wait for p to exit on its own: its exit status, or -1 (then killed) after timeout_ms. */
static int wait_exit(sbt_proc *p, int timeout_ms)
{
	int rc = try_exit(p, timeout_ms);
	if (rc < 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		forget(p->pid);
		p->pid = 0;
	}
	return rc;
}

/* The whole log of p (owned, NUL-terminated; "" if there is none yet). */
static char *slurp(const sbt_proc *p)
{
	FILE *f = fopen(p->log, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);
	int ch;
	while (f && (ch = fgetc(f)) != EOF)
		fputc(ch, o);
	fclose(o);
	if (f)
		fclose(f);
	return buf;
}

/* Every complete JSON event line p printed so far, as an array (owned). */
static json_t *tap_events(const sbt_proc *p)
{
	json_t *a = json_array();
	char *all = slurp(p), *save = NULL;
	size_t len = strlen(all);
	if (len && all[len - 1] != '\n') /* the last line may be half written */
		*(strrchr(all, '\n') ? strrchr(all, '\n') : all) = '\0';
	for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "{\"topic\"", 8) != 0)
			continue;
		json_t *j = json_loads(line, 0, NULL);
		if (!j)
			fail_msg("%s printed a line that is not JSON: %s", p->name, line);
		json_array_append_new(a, j);
	}
	free(all);
	return a;
}

/* Index of the first event from index `from` with topic (and body[key] == val when key is set), or -1. */
static int find_event(const json_t *evs, int from, const char *topic, const char *key, const char *val)
{
	for (size_t i = (size_t)from; i < json_array_size(evs); i++) {
		const json_t *e = json_array_get(evs, i);
		const char *t = sb_json_str(e, "topic");
		const char *v = key ? sb_json_str(json_object_get(e, "body"), key) : NULL;
		if (t && strcmp(t, topic) == 0 && (!key || (v && strcmp(v, val) == 0)))
			return (int)i;
	}
	return -1;
}

/* Poll p's output until it shows the event; returns all events so far (owned). */
static json_t *wait_event(const sbt_proc *p, const char *topic, const char *key, const char *val)
{
	int64_t until = sb_mono_ms() + WAIT_MS;
	for (;;) {
		json_t *evs = tap_events(p);
		if (find_event(evs, 0, topic, key, val) >= 0)
			return evs;
		json_decref(evs);
		if (sb_mono_ms() > until)
			fail_msg("%s never printed %s %s=%s (log: %s)", p->name, topic, key ? key : "", val ? val : "",
				 p->log);
		nap_ms(10);
	}
}

/* Poll p's log for text. */
static void wait_log(const sbt_proc *p, const char *text)
{
	int64_t until = sb_mono_ms() + WAIT_MS;
	for (;;) {
		char *all = slurp(p);
		bool found = strstr(all, text) != NULL;
		free(all);
		if (found)
			return;
		if (sb_mono_ms() > until)
			fail_msg("%s never logged \"%s\" (log: %s)", p->name, text, p->log);
		nap_ms(10);
	}
}

static size_t event_count(const sbt_proc *p, const char *topic)
{
	json_t *evs = tap_events(p);
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(evs); i++)
		n += strcmp(sb_json_str(json_array_get(evs, i), "topic") ?: "", topic) == 0;
	json_decref(evs);
	return n;
}

/* Make p's subscription live: run poke until p prints an event of topic. */
static void until_live(const sbt_proc *p, void (*poke)(void), const char *topic)
{
	int64_t until = sb_mono_ms() + WAIT_MS;
	while (sb_mono_ms() < until) {
		poke();
		for (int64_t step = sb_mono_ms() + 200; sb_mono_ms() < step; nap_ms(10))
			if (event_count(p, topic) > 0)
				return;
	}
	fail_msg("%s never printed a %s event (log: %s)", p->name, topic, p->log);
}

static void ok(const char *op, json_t *args)
{
	json_t *data = sbt_ok(g.c, op, args);
	if (!data)
		fail_msg("%s failed (store log: %s)", op, g.store.log);
	json_decref(data);
}

static void poke_business(void)
{
	ok("businesses.create", json_pack("{s:s}", "name", "warm-up"));
}

/* A call to append warm-up transcript lines to. */
static void warm_call(const char *sid)
{
	snprintf(g.warm_sid, sizeof g.warm_sid, "%s", sid);
	g.seq = 0;
	ok("calls.create", json_pack("{s:s,s:s}", "callSid", sid, "direction", "inbound"));
}

static void poke_transcript(void)
{
	ok("calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", g.warm_sid, "seq", g.seq++, "role",
						 "system", "text", "warm-up"));
}

static int catalogue_index(const char *topic)
{
	for (int i = 0; i < SB_EV__COUNT; i++)
		if (strcmp(SB_EVENTS[i].topic, topic) == 0)
			return i;
	return -1;
}

/* One JSON line: exactly topic, body, received; a catalogued topic; a body valid against it. */
static void assert_catalogued(const json_t *line)
{
	const char *topic = sb_json_str(line, "topic"), *received = sb_json_str(line, "received");
	const json_t *body = json_object_get(line, "body");
	char *s = json_dumps(line, JSON_COMPACT);
	if (json_object_size(line) != 3 || !topic || !received || !json_is_object(body))
		fail_msg("not a {topic,body,received} line: %s", s);
	int64_t ms;
	if (sb_time_parse_iso(received, &ms) != 0)
		fail_msg("received is not ISO-8601: %s", s);
	int i = catalogue_index(topic);
	if (i < 0)
		fail_msg("topic not in the event catalogue: %s", s);
	sb_error err = {0};
	if (sb_schema_validate(SB_EVENTS[i].fields, SB_EVENTS[i].nfields, body, &err) != 0)
		fail_msg("body does not match the catalogue (%s): %s", err.message, s);
	free(s);
}

static const json_t *body_of(const json_t *evs, int i)
{
	assert_true(i >= 0);
	return json_object_get(json_array_get(evs, (size_t)i), "body");
}

/* ---- cases ---------------------------------------------------------------------- */

static void test_help(void **state)
{
	sbt_proc p;
	const char *args[] = {"--help", NULL};
	spawn_tap(&p, "tap-help", args);
	assert_int_equal(wait_exit(&p, WAIT_MS), 0);
	char *out = slurp(&p);
	assert_non_null(strstr(out, "SB_TAP_URLS"));
	assert_non_null(strstr(out, "--stats"));
	assert_non_null(strstr(out, "--call-sid"));
	free(out);
}

static void test_bad_flags_exit_2(void **state)
{
	static const char *const cases[][3] = {
		{"--bogus", NULL, NULL},
		{"--count", "-1", NULL},
		{"--timeout", "soon", NULL},
		{"--url", "not a url", NULL},
		{"--url", "nosuchscheme:///x", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sbt_proc p;
		spawn_tap(&p, "tap-badflag", cases[i]);
		int rc = wait_exit(&p, WAIT_MS);
		if (rc != 2)
			fail_msg("%s %s: exit %d, want 2", cases[i][0], cases[i][1] ? cases[i][1] : "", rc);
	}
}

static void test_timeout_without_events_exits_1(void **state)
{
	char quiet[600];
	sbt_path(quiet, sizeof quiet, "quiet-run"); /* no daemon lives there */
	const char *args[] = {"--run-dir", quiet, "--timeout", "300", NULL};
	sbt_proc p;
	spawn_tap(&p, "tap-timeout", args);
	int64_t t0 = sb_mono_ms();
	assert_int_equal(wait_exit(&p, WAIT_MS), 1);
	assert_true(sb_mono_ms() - t0 >= 250);
	char *out = slurp(&p);
	assert_non_null(strstr(out, "tap.timeout"));
	free(out);
}

/* Create businesses until the tap prints one of them (the store just started). */
static void business_seen(const sbt_proc *tap)
{
	int64_t until = sb_mono_ms() + WAIT_MS;
	while (sb_mono_ms() < until) {
		json_t *b = sbt_ok(g.c, "businesses.create", json_pack("{s:s}", "name", "after restart"));
		char id[80] = "";
		if (b)
			snprintf(id, sizeof id, "%s", sb_json_str(b, "id") ?: "");
		json_decref(b);
		for (int64_t step = sb_mono_ms() + 200; id[0] && sb_mono_ms() < step; nap_ms(10)) {
			json_t *evs = tap_events(tap);
			int found = find_event(evs, 0, "business.created", "id", id);
			json_decref(evs);
			if (found >= 0)
				return;
		}
	}
	fail_msg("%s never printed a business created after the store (re)started", tap->name);
}

static void test_tap_started_before_store(void **state)
{
	store_down();
	const char *args[] = {"--json", "--topic", "business.", "--timeout", "30000", NULL};
	sbt_proc tap;
	spawn_tap(&tap, "tap-early", args);
	wait_log(&tap, "tap.subscribed"); /* dialing, and nothing to dial yet */
	assert_int_equal(try_exit(&tap, 0), -1); /* still running */
	store_up();
	business_seen(&tap);
	store_down(); /* and a restart: the tap redials on its own */
	assert_int_equal(try_exit(&tap, 0), -1); /* still running */
	store_up();
	business_seen(&tap);
	stop_tap(&tap);
	json_t *evs = tap_events(&tap);
	for (size_t i = 0; i < json_array_size(evs); i++)
		assert_catalogued(json_array_get(evs, i));
	json_decref(evs);
}

/* The writes whose events test_events_json checks; fills ids. */
static void make_business_call(char *biz, size_t len)
{
	json_t *b = sbt_ok(g.c, "businesses.create", json_pack("{s:s}", "name", "Tap Plumbing & Heating"));
	assert_non_null(b);
	snprintf(biz, len, "%s", sb_json_str(b, "id"));
	json_decref(b);
	ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550100001", "businessId", biz));
	ok("calls.create", json_pack("{s:s,s:s,s:s,s:s,s:s}", "callSid", "CA_tap_events", "direction", "inbound",
				     "businessId", biz, "from", "+15550199999", "to", "+15550100001"));
	ok("calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tap_events", "seq", 0, "role",
						 "user", "text", "how much is a new water heater?"));
	ok("calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tap_events", "seq", 1, "role",
						 "assistant", "text", "About 1200 dollars installed."));
	ok("calls.update_status", json_pack("{s:s,s:s,s:i}", "callSid", "CA_tap_events", "status", "completed",
					     "durationS", 42));
}

static void assert_event_bodies(const json_t *evs, const char *biz)
{
	int b = find_event(evs, 0, "business.created", "id", biz);
	int n = find_event(evs, b, "phone_number.created", "number", "+15550100001");
	int s = find_event(evs, n, "call.started", "callSid", "CA_tap_events");
	int t0 = find_event(evs, s, "call.transcript", "callSid", "CA_tap_events");
	int t1 = find_event(evs, t0 + 1, "call.transcript", "callSid", "CA_tap_events");
	int e = find_event(evs, t1, "call.ended", "callSid", "CA_tap_events");
	assert_true(b >= 0 && n > b && s > n && t0 > s && t1 > t0 && e > t1);
	assert_string_equal(sb_json_str(body_of(evs, b), "name"), "Tap Plumbing & Heating");
	assert_string_equal(sb_json_str(body_of(evs, n), "businessId"), biz);
	assert_string_equal(sb_json_str(body_of(evs, s), "direction"), "inbound");
	assert_string_equal(sb_json_str(body_of(evs, s), "from"), "+15550199999");
	assert_int_equal(sb_json_int(body_of(evs, t0), "seq", -1), 0);
	assert_string_equal(sb_json_str(body_of(evs, t0), "role"), "user");
	assert_string_equal(sb_json_str(body_of(evs, t0), "text"), "how much is a new water heater?");
	assert_string_equal(sb_json_str(body_of(evs, t1), "role"), "assistant");
	assert_string_equal(sb_json_str(body_of(evs, e), "status"), "completed");
	assert_int_equal(sb_json_int(body_of(evs, e), "durationS", -1), 42);
}

static void test_events_json_match_catalogue(void **state)
{
	store_up();
	const char *args[] = {"--json", "--timeout", "30000", NULL};
	sbt_proc tap;
	spawn_tap(&tap, "tap-events", args);
	until_live(&tap, poke_business, "business.created");
	char biz[80];
	make_business_call(biz, sizeof biz);
	json_decref(wait_event(&tap, "call.ended", "callSid", "CA_tap_events"));
	stop_tap(&tap);
	json_t *evs = tap_events(&tap);
	for (size_t i = 0; i < json_array_size(evs); i++)
		assert_catalogued(json_array_get(evs, i));
	assert_event_bodies(evs, biz);
	json_decref(evs);
}

static void test_topic_filter(void **state)
{
	store_up();
	const char *args[] = {"--json", "--topic", "call.", "--timeout", "30000", NULL};
	sbt_proc tap;
	spawn_tap(&tap, "tap-topic", args);
	warm_call("CA_tap_topic");
	until_live(&tap, poke_transcript, "call.transcript");
	json_t *b = sbt_ok(g.c, "businesses.create", json_pack("{s:s}", "name", "not shown"));
	assert_non_null(b);
	ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550100002", "businessId", sb_json_str(b, "id")));
	json_decref(b);
	ok("calls.update_status", json_pack("{s:s,s:s}", "callSid", "CA_tap_topic", "status", "completed"));
	json_decref(wait_event(&tap, "call.ended", "callSid", "CA_tap_topic")); /* the fence */
	stop_tap(&tap);
	json_t *evs = tap_events(&tap);
	assert_true(json_array_size(evs) >= 2);
	for (size_t i = 0; i < json_array_size(evs); i++) {
		const char *t = sb_json_str(json_array_get(evs, i), "topic");
		if (strncmp(t, "call.", 5) != 0)
			fail_msg("--topic call. printed %s", t);
		assert_catalogued(json_array_get(evs, i));
	}
	json_decref(evs);
}

static void append_line(const char *sid, int seq, const char *text)
{
	ok("calls.append_transcript",
	   json_pack("{s:s,s:i,s:s,s:s}", "callSid", sid, "seq", seq, "role", "user", "text", text));
}

static void test_call_sid_and_count(void **state)
{
	store_up();
	ok("calls.create", json_pack("{s:s,s:s}", "callSid", "CA_tap_sid_a", "direction", "inbound"));
	ok("calls.create", json_pack("{s:s,s:s}", "callSid", "CA_tap_sid_b", "direction", "inbound"));
	const char *args[] = {"--json", "--call-sid", "CA_tap_sid_a", "--count", "2", "--timeout", "30000", NULL};
	sbt_proc tap;
	spawn_tap(&tap, "tap-sid", args);
	int rc = -1;
	int64_t until = sb_mono_ms() + WAIT_MS;
	for (int seq = 0; sb_mono_ms() < until; seq++) {
		append_line("CA_tap_sid_b", seq, "other call");
		append_line("CA_tap_sid_a", seq, "this call");
		if ((rc = try_exit(&tap, 100)) >= 0) /* --count 2 ends it with 0 */
			break;
	}
	if (rc < 0)
		wait_exit(&tap, 0);
	assert_int_equal(rc, 0);
	json_t *evs = tap_events(&tap);
	assert_int_equal(json_array_size(evs), 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(sb_json_str(body_of(evs, (int)i), "callSid"), "CA_tap_sid_a");
		assert_catalogued(json_array_get(evs, i));
	}
	json_decref(evs);
}

static void test_human_format(void **state)
{
	store_up();
	ok("calls.create", json_pack("{s:s,s:s}", "callSid", "CA_tap_human", "direction", "inbound"));
	const char *args[] = {"--call-sid", "CA_tap_human", "--count", "1", "--timeout", "30000", NULL};
	sbt_proc tap;
	spawn_tap(&tap, "tap-human", args);
	int rc = -1;
	for (int seq = 0; seq < WAIT_MS / 100 && rc < 0; seq++) {
		append_line("CA_tap_human", seq, "how much is it?");
		rc = try_exit(&tap, 100);
	}
	if (rc < 0)
		wait_exit(&tap, 0);
	assert_int_equal(rc, 0);
	char *out = slurp(&tap);
	regex_t re;
	assert_int_equal(regcomp(&re,
				 "^[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} call\\.transcript +callSid=CA_tap_human "
				 "seq=[0-9]+ role=user text=\"how much is it\\?\" at=[0-9T:.Z-]+$",
				 REG_EXTENDED | REG_NEWLINE | REG_NOSUB),
			 0);
	if (regexec(&re, out, 0, NULL, 0) != 0)
		fail_msg("no human line like \"HH:MM:SS.mmm call.transcript callSid=... text=\\\"...\\\"\" in:\n%s", out);
	regfree(&re);
	free(out);
}

/* The one line of p's output that starts with prefix, parsed (owned). */
static json_t *json_line_starting(const sbt_proc *p, const char *prefix)
{
	char *all = slurp(p), *at = strstr(all, prefix);
	if (!at)
		fail_msg("%s printed no %s... line:\n%s", p->name, prefix, all);
	json_t *j = json_loadb(at, strcspn(at, "\n"), 0, NULL);
	free(all);
	assert_non_null(j);
	return j;
}

static void assert_store_up_others_down(const json_t *report)
{
	size_t i;
	json_t *d;
	int seen = 0;
	json_array_foreach(json_object_get(report, "daemons"), i, d) {
		const char *name = sb_json_str(d, "daemon"), *status = sb_json_str(d, "status");
		if (strcmp(name, "sb-store") != 0) {
			if (strcmp(status, "down") != 0)
				fail_msg("%s is %s, want down", name, status);
			continue;
		}
		seen++;
		assert_string_equal(status, "up");
		assert_string_equal(sb_json_str(d, "version"), SB_VERSION);
		assert_true(json_is_true(json_object_get(d, "eventsConnected")));
		const json_t *m = json_object_get(d, "metrics");
		assert_true(sb_json_int(m, "families", 0) > 0);
		assert_true(sb_json_int(m, "rpcRequests", 0) > 0);
	}
	assert_int_equal(seen, 1);
	assert_int_equal(json_array_size(json_object_get(report, "daemons")), SB_TOPOLOGY_LEN);
}

/* The tap's SUB socket dials every PUB socket; only the store's is connected. */
static void assert_sub_socket(const json_t *report)
{
	char want[700];
	snprintf(want, sizeof want, "ipc://%s/store-events.sock", g.run);
	size_t i, j;
	json_t *s, *d;
	json_array_foreach(json_object_get(report, "sockets"), i, s) {
		if (sb_json_int(s, "id", -1) != sb_json_int(report, "subSocket", -2))
			continue;
		assert_string_equal(sb_json_str(s, "protocol"), "sub");
		assert_int_equal(json_array_size(json_object_get(s, "dialers")), SB_TOPOLOGY_LEN);
		json_array_foreach(json_object_get(s, "dialers"), j, d) {
			bool store = strcmp(sb_json_str(d, "url"), want) == 0;
			assert_int_equal(sb_json_int(d, "pipes", -1), store ? 1 : 0);
			if (store)
				assert_true(sb_json_int(d, "connect", 0) >= 1);
		}
		return;
	}
	fail_msg("no statistics for the SUB socket");
}

static void test_stats_only_store_up(void **state)
{
	store_up();
	const char *jargs[] = {"--stats", "--json", NULL};
	sbt_proc p;
	spawn_tap(&p, "tap-stats-json", jargs);
	assert_int_equal(wait_exit(&p, WAIT_MS), 0);
	json_t *report = json_line_starting(&p, "{\"runDir\"");
	assert_string_equal(sb_json_str(report, "runDir"), g.run);
	assert_store_up_others_down(report);
	assert_sub_socket(report);
	json_decref(report);

	const char *targs[] = {"--stats", NULL};
	spawn_tap(&p, "tap-stats-text", targs);
	assert_int_equal(wait_exit(&p, WAIT_MS), 0);
	char *out = slurp(&p);
	regex_t re;
	assert_int_equal(regcomp(&re, "^  sb-store +up +version=", REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
	if (regexec(&re, out, 0, NULL, 0) != 0)
		fail_msg("--stats does not show sb-store up:\n%s", out);
	regfree(&re);
	assert_non_null(strstr(out, "sb-scheduler     down"));
	free(out);
}

/* After each case: kill the taps a failed case left behind. */
static int kill_taps(void **state)
{
	while (g.ntaps > 0) {
		pid_t pid = g.taps[--g.ntaps];
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return 0;
}

static int group_setup(void **state)
{
	sbt_path(g.run, sizeof g.run, "run");
	return 0;
}

static int group_teardown(void **state)
{
	sb_client_close(g.c);
	if (g.store.pid > 0)
		sbt_stop(&g.store, SIGTERM, WAIT_MS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_help, kill_taps),
		cmocka_unit_test_teardown(test_bad_flags_exit_2, kill_taps),
		cmocka_unit_test_teardown(test_timeout_without_events_exits_1, kill_taps),
		cmocka_unit_test_teardown(test_tap_started_before_store, kill_taps),
		cmocka_unit_test_teardown(test_events_json_match_catalogue, kill_taps),
		cmocka_unit_test_teardown(test_topic_filter, kill_taps),
		cmocka_unit_test_teardown(test_call_sid_and_count, kill_taps),
		cmocka_unit_test_teardown(test_human_format, kill_taps),
		cmocka_unit_test_teardown(test_stats_only_store_up, kill_taps),
	};
	return cmocka_run_group_tests_name("tap", tests, group_setup, group_teardown);
}
