/*
 * launcher_test.c — `make run`'s launcher (tools/run.sh) end to end.
 *
 * Starts the launcher with its data in the test folder and free loopback
 * ports and no OpenAI key, so the speech model is the offline voice engine
 * (sb-voice), exactly as a newcomer's `make run` has it. Waits for /healthz,
 * places a simulated call with sb-callsim through the real webhook → TwiML →
 * media stream path to the seeded demo business, the caller asking a
 * synthesised question, and checks the stored transcript (the question
 * recognised, the seeded knowledge's answer spoken) and the lookup, checks that the launcher's
 * sb-tap showed call.started … call.ended for that call, then sends SIGTERM
 * and requires every daemon to have exited 0 ("all stopped cleanly").
 */
#include <curl/curl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "sb_json.h"
#include "sb_time.h"

typedef struct {
	char  *data;
	size_t len;
} body;

static size_t collect(char *p, size_t size, size_t n, void *u)
{
	body *b = u;
	b->data = realloc(b->data, b->len + size * n + 1);
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* GET url (with a bearer key if given): the status, and the body as JSON in *out if asked. */
static long get(const char *url, const char *key, json_t **out)
{
	body b = {0};
	long status = 0;
	char auth[300];
	struct curl_slist *h = NULL;
	if (key) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
		h = curl_slist_append(h, auth);
	}
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (out)
		*out = b.data ? json_loads(b.data, 0, NULL) : NULL;
	free(b.data);
	return status;
}

/* Read a small file (a key the launcher created) into buf, without the newline. */
static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
}

/* Wait (bounded) for a spawned process to exit by itself; its exit status, or -1. */
static int wait_exit(sbt_proc *p, int timeout_ms)
{
	int64_t until = sb_mono_ms() + timeout_ms;
	int st;
	while (sb_mono_ms() < until) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(50 * 1000); /* polling a child process */
	}
	return -1;
}

static bool file_has(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, a) && (!b || strstr(line, b));
	fclose(f);
	return found;
}

/* The call log once it has ended (the bridge writes the end asynchronously). */
static json_t *ended_call(const char *base, const char *key, const char *sid)
{
	char url[400];
	snprintf(url, sizeof url, "%s/api/calls/%s", base, sid);
	int64_t until = sb_mono_ms() + 20000;
	json_t *call = NULL;
	while (sb_mono_ms() < until) {
		json_decref(call);
		if (get(url, key, &call) == 200 && sb_json_str(call, "endedAt"))
			return call;
		usleep(100 * 1000); /* polling the API */
	}
	return call;
}

static void test_make_run_places_a_call(void **state)
{
	char var[300], envbuf[200], base[64], report[300], run[300];
	int gw = sbt_free_port(), bridge = sbt_free_port(), rt = sbt_free_port();
	sbt_path(var, sizeof var, "var");
	sbt_path(report, sizeof report, "callsim.json");
	sbt_path(run, sizeof run, "callsim-run");
	snprintf(base, sizeof base, "http://127.0.0.1:%d", gw);

	/* the caller's question, synthesised */
	char question[300];
	sbt_path(question, sizeof question, "question.wav");
	const char *say_args[] = {"--run-dir", run, "--say", "how much does the premium plan cost", "--voice", "rms",
				  "--say-out", question, NULL};
	sbt_proc say;
	assert_int_equal(sbt_spawn_as(&say, "say", sbt_bin("sb-voice"), say_args), 0);
	assert_int_equal(wait_exit(&say, 30000), 0);

	setenv("SB_VAR_DIR", var, 1);
	snprintf(envbuf, sizeof envbuf, "127.0.0.1:%d", gw);
	setenv("SB_GATEWAY_LISTEN", envbuf, 1);
	snprintf(envbuf, sizeof envbuf, "127.0.0.1:%d", bridge);
	setenv("SB_BRIDGE_LISTEN", envbuf, 1);
	snprintf(envbuf, sizeof envbuf, "ws://127.0.0.1:%d", bridge);
	setenv("SB_STREAM_URL", envbuf, 1);
	snprintf(envbuf, sizeof envbuf, "127.0.0.1:%d", rt);
	setenv("SB_VOICE_LISTEN", envbuf, 1);
	unsetenv("SB_REALTIME_URL");
	unsetenv("OPENAI_API_KEY");
	const char *b = getenv("SB_BUILD");
	const char *run_args[] = {"tools/run.sh", b && *b ? b : "build", NULL};
	sbt_proc launcher;
	assert_int_equal(sbt_spawn_as(&launcher, "launcher", "/bin/sh", run_args), 0);

	char health[128];
	snprintf(health, sizeof health, "%s/healthz", base);
	int64_t until = sb_mono_ms() + 60000;
	while (get(health, NULL, NULL) != 200 && sb_mono_ms() < until)
		usleep(100 * 1000); /* polling the launcher's gateway */
	assert_int_equal(get(health, NULL, NULL), 200);
	/* the demo business is seeded right after /healthz answers */
	char seeded[400], token[200], hexkey[200], key[220], hook[200];
	snprintf(seeded, sizeof seeded, "%s/.seeded", var);
	until = sb_mono_ms() + 30000;
	while (access(seeded, R_OK) != 0 && sb_mono_ms() < until)
		usleep(100 * 1000);
	assert_int_equal(access(seeded, R_OK), 0);
	snprintf(seeded, sizeof seeded, "%s/twilio-auth-token", var);
	read_file(seeded, token, sizeof token);
	snprintf(seeded, sizeof seeded, "%s/admin-key", var);
	read_file(seeded, hexkey, sizeof hexkey);
	snprintf(key, sizeof key, "sbk_%s", hexkey);
	snprintf(hook, sizeof hook, "%s/api/twilio/voice", base);

	const char *call_args[] = {"--run-dir", run, "--webhook-url", hook, "--twilio-auth-token", token,
				   "--from", "+15550100222", "--to", "+15550100100", "--duration-ms", "30000",
				   "--say", question, "--report", report, NULL};
	sbt_proc caller;
	assert_int_equal(sbt_spawn_as(&caller, "callsim", sbt_bin("sb-callsim"), call_args), 0);
	assert_int_equal(wait_exit(&caller, 60000), 0);
	json_t *rep = json_load_file(report, 0, NULL);
	json_t *item = json_array_get(json_object_get(rep, "items"), 0);
	const char *sid = sb_json_str(item, "callSid");
	if (!sid)
		fail_msg("callsim report has no callSid: see %s", report);

	json_t *call = ended_call(base, key, sid);
	json_t *lines = json_object_get(call, "transcript");
	if (json_array_size(lines) < 2)
		fail_msg("call %s: expected a greeting and an answer in the transcript, got %zu lines", sid,
			 json_array_size(lines));
	bool assistant = false, lookup = false;
	size_t i;
	json_t *v;
	json_array_foreach(lines, i, v) assistant |= !strcmp(sb_json_str(v, "role") ?: "", "assistant");
	json_array_foreach(json_object_get(call, "toolCalls"), i, v)
		lookup |= !strcmp(sb_json_str(v, "name") ?: "", "query_knowledge_base");
	assert_true(assistant);
	assert_true(lookup);
	/* sb-voice answered from the seeded knowledge ("The Premium plan costs 55 dollars a month …") */
	bool answered = false;
	json_array_foreach(lines, i, v) answered |= strstr(sb_json_str(v, "text") ?: "", "55 dollars") != NULL;
	if (!answered)
		fail_msg("call %s: the premium plan's price was not spoken (see %s)", sid, launcher.log);
	assert_true(file_has(launcher.log, "started sb-voice", NULL));

	/* the launcher's sb-tap showed the call from start to end */
	until = sb_mono_ms() + 10000;
	while (!file_has(launcher.log, "call.ended", sid) && sb_mono_ms() < until)
		usleep(100 * 1000);
	assert_true(file_has(launcher.log, "call.started", sid));
	assert_true(file_has(launcher.log, "call.ended", sid));

	assert_int_equal(sbt_stop(&launcher, SIGTERM, 60000), 0);
	assert_true(file_has(launcher.log, "all stopped cleanly", NULL));
	json_decref(call);
	json_decref(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_run_places_a_call),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
