/*
 * voice_e2e_test.c — the offline voice engine (sb-voice) in the real stack,
 * every daemon real, over real sockets: sb-store, sb-rag-worker (local
 * embeddings and index), sb-voice, sb-media-bridge, sb-gateway, and
 * sb-callsim playing Twilio with a caller whose questions are synthesised
 * speech (sb-voice --say with flite's rms voice, so the caller's voice is
 * not the agent's) sent as μ-law, as a phone line would.
 *
 * Cases:
 *  - conformance: one conversation (greeting, a question, the lookup, the
 *    answer) through a bridge dialing sb-realtime-sim and one dialing
 *    sb-voice; the bridge's debug trace of model event types is the same;
 *  - five questions: each recognised and answered from the right
 *    knowledge document (≥ 4 of 5), in the stored transcript;
 *  - intents: unclear speech gets the repeat prompt; "talk to a human"
 *    triggers transfer_to_human (the call is transferred through Twilio
 *    REST); "goodbye" triggers end_call (the call is completed);
 *  - collections: an outbound call to a payer: identity confirmed, the
 *    debt-collector disclosure said, a promise to pay with an amount and a
 *    date recorded through record_payment_promise;
 *  - interruption: the caller talks over a long answer: the response is
 *    cancelled (turn_detected), Twilio gets a clear, and the next question
 *    is answered;
 *  - bad input straight at sb-voice's WebSocket: errors, and it keeps
 *    serving.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <signal.h>
#include <sys/stat.h>

#include "bridge_testkit.h"

#define SECRET  "voice-test-secret"
#define ACCOUNT "ACvoice0000000000000000000000000"
#define AUTH    "voice-test-auth-token"
#define BIZ_NUM "+15550100100"
#define CALLER  "+15550100222"

typedef struct doc {
	const char *title, *content;
} doc;

static const doc DOCS[] = {
	{"Plans and prices", "The Basic plan costs 30 dollars a month for 100 megabits. The Premium plan costs 55 dollars a month "
			     "for 1 gigabit, with free installation."},
	{"Opening hours", "Phone support is open every day from 7 am to 11 pm. Our stores open Monday to Saturday, 9 am to 6 pm."},
	{"Installation", "A technician installs your router within three days of your order. Installation is free with the "
			 "Premium plan."},
	{"Payment methods", "We accept credit cards, bank transfers and PayPal. Bills are sent on the first day of each month."},
	{"Coverage area", "We cover Springfield, Shelbyville and Capital City. Check your street on our website."},
};

/* The questions of the five-question call and a phrase the right answer contains. */
static const struct {
	const char *q, *answer;
} QS[] = {
	{"how much does the premium plan cost", "55 dollars"},
	{"what are your opening hours", "7 am to 11 pm"},
	{"how long does installation take", "three days"},
	{"which payment methods do you accept", "credit cards"},
	{"what is your coverage area", "Springfield"},
};

static struct {
	sbt_proc   store, rag, voice, rt, bridge, bridge_rt, gw, sim;
	char       store_url[512], rag_url[512], run[300], biz[64];
	int        voice_port, rt_port, ws_port, ws_rt_port, gw_port, rest_port;
	sb_client *store_c, *rag_c;
	char       control[512];
} g;

/* ---- fixtures -------------------------------------------------------------------------------------------- */

/* path of the caller's recording of text (synthesised once per test run) */
static const char *say_file(const char *text, char *path, size_t cap)
{
	char name[128];
	size_t k = 0;
	for (const char *p = text; *p && k < 60; p++)
		name[k++] = isalnum((unsigned char)*p) ? *p : '-';
	snprintf(name + k, sizeof name - k, ".wav");
	sbt_path(path, cap, name);
	struct stat st;
	if (stat(path, &st) == 0)
		return path;
	sbt_proc p;
	const char *args[] = {"--say", text, "--voice", "rms", "--say-out", path, NULL};
	assert_int_equal(sbt_spawn_as(&p, "say", sbt_bin("sb-voice"), args), 0);
	assert_int_equal(sbt_stop(&p, 0, 20000), 0);
	return path;
}

/* "a.wav,b.wav,…" for texts */
static void say_list(const char *const *texts, char *out, size_t cap)
{
	size_t len = 0;
	for (int i = 0; texts[i]; i++) {
		char path[512];
		say_file(texts[i], path, sizeof path);
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", path);
	}
}

static void start_bridge(sbt_proc *p, const char *tag, int ws_port, int rt_port, char *control, size_t cap)
{
	char listen[64], events[400], rt_url[128], api[64], name[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", ws_port);
	snprintf(control, cap, "ipc://%s/bridge-%s.sock", g.run, tag);
	snprintf(events, sizeof events, "ipc://%s/bridge-%s-events.sock", g.run, tag);
	snprintf(rt_url, sizeof rt_url, "ws://127.0.0.1:%d/v1/realtime", rt_port);
	snprintf(api, sizeof api, "http://127.0.0.1:%d", g.rest_port);
	const char *args[] = {"--run-dir", g.run, "--listen", listen, "--control", control, "--events", events,
			      "--store-url", g.store_url, "--rag-url", g.rag_url, "--realtime-url", rt_url, "--secret", SECRET,
			      "--twilio-api-url", api, "--twilio-account-sid", ACCOUNT, "--twilio-auth-token", AUTH,
			      "--log-level", "debug", "--drain-seconds", "1", NULL};
	snprintf(name, sizeof name, "bridge-%s", tag);
	assert_int_equal(sbt_spawn_as(p, name, sbt_bin("sb-media-bridge"), args), 0);
	assert_int_equal(sbt_wait_ready(control, BT_WAIT_MS), 0);
	assert_int_equal(sbt_tcp_ready(ws_port, BT_WAIT_MS), 0);
}

static int setup(void **st)
{
	sbt_path(g.run, sizeof g.run, "run");
	assert_int_equal(sbt_start_store(&g.store, g.store_url, sizeof g.store_url, NULL), 0);
	sb_error err;
	assert_non_null(g.store_c = sb_client_open(g.store_url, NULL, &err));

	/* rag-worker: local embeddings and index */
	char data[512], events[512];
	sbt_path(data, sizeof data, "rag");
	snprintf(g.rag_url, sizeof g.rag_url, "ipc://%s/rag.sock", g.run);
	snprintf(events, sizeof events, "ipc://%s/rag-events.sock", g.run);
	const char *rargs[] = {"--run-dir", g.run, "--listen", g.rag_url, "--events", events, "--store-url", g.store_url,
			       "--data-dir", data, NULL};
	assert_int_equal(sbt_spawn(&g.rag, sbt_bin("sb-rag-worker"), rargs), 0);
	assert_int_equal(sbt_wait_ready(g.rag_url, BT_WAIT_MS), 0);
	sb_client_opts ro = {.timeout_ms = 20000};
	assert_non_null(g.rag_c = sb_client_open(g.rag_url, &ro, &err));

	/* the business, its number, greeting, transfer number and knowledge */
	json_t *b = sbt_ok(g.store_c, "businesses.create", json_pack("{s:s}", "name", "Nimbus Internet"));
	assert_non_null(b);
	snprintf(g.biz, sizeof g.biz, "%s", sb_json_str(b, "id"));
	json_decref(b);
	json_decref(sbt_ok(g.store_c, "phone_numbers.create", json_pack("{s:s,s:s}", "number", BIZ_NUM, "businessId", g.biz)));
	json_decref(sbt_ok(g.store_c, "config.set_many",
			   json_pack("{s:s,s:{s:s,s:s}}", "businessId", g.biz, "values", "greeting_message",
				     "Thanks for calling Nimbus Internet, how can I help?", "transfer_number", "+15550100199")));
	for (size_t i = 0; i < sizeof DOCS / sizeof DOCS[0]; i++) {
		char id[32];
		snprintf(id, sizeof id, "kb-%zu", i);
		json_decref(sbt_ok(g.store_c, "knowledge.create", json_pack("{s:s,s:s,s:s,s:s}", "id", id, "businessId", g.biz,
								      "title", DOCS[i].title, "content", DOCS[i].content)));
		json_t *r = sbt_ok(g.rag_c, "rag.index", json_pack("{s:s,s:s,s:s,s:s}", "id", id, "businessId", g.biz,
								      "title", DOCS[i].title, "content", DOCS[i].content));
		assert_non_null(r);
		assert_string_equal(sb_json_str(r, "status"), "indexed");
		json_decref(r);
	}

	/* sb-voice, sb-realtime-sim, a bridge for each, and a gateway in front of the sb-voice one */
	char listen[64], work[512];
	g.voice_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", g.voice_port);
	sbt_path(work, sizeof work, "voice-work");
	const char *vargs[] = {"--run-dir", g.run, "--listen", listen, "--store-url", g.store_url, "--work-dir", work, NULL};
	assert_int_equal(sbt_spawn(&g.voice, sbt_bin("sb-voice"), vargs), 0);
	assert_int_equal(sbt_tcp_ready(g.voice_port, 30000), 0);

	g.rt_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", g.rt_port);
	const char *sargs[] = {"--run-dir", g.run, "--listen", listen, "--greeting-ms", "1500", NULL};
	assert_int_equal(sbt_spawn(&g.rt, sbt_bin("sb-realtime-sim"), sargs), 0);
	assert_int_equal(sbt_tcp_ready(g.rt_port, BT_WAIT_MS), 0);

	g.rest_port = sbt_free_port();
	g.ws_port = sbt_free_port();
	g.ws_rt_port = sbt_free_port();
	char control_rt[512];
	start_bridge(&g.bridge, "voice", g.ws_port, g.voice_port, g.control, sizeof g.control);
	start_bridge(&g.bridge_rt, "sim", g.ws_rt_port, g.rt_port, control_rt, sizeof control_rt);

	char pub[64], stream[64];
	g.gw_port = sbt_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", g.gw_port);
	snprintf(pub, sizeof pub, "http://127.0.0.1:%d", g.gw_port);
	snprintf(stream, sizeof stream, "ws://127.0.0.1:%d", g.ws_port);
	snprintf(events, sizeof events, "ipc://%s/gw-events.sock", g.run);
	const char *gargs[] = {"--run-dir", g.run, "--listen", listen, "--public-url", pub, "--stream-url", stream,
			       "--events", events, "--store-url", g.store_url, "--bridge-url", g.control, "--rag-url", g.rag_url,
			       "--twilio-auth-token", AUTH, "--secret", SECRET, NULL};
	assert_int_equal(sbt_spawn(&g.gw, sbt_bin("sb-gateway"), gargs), 0);
	assert_int_equal(sbt_tcp_ready(g.gw_port, BT_WAIT_MS), 0);
	return 0;
}

static int teardown(void **st)
{
	sbt_proc *ps[] = {&g.gw, &g.bridge, &g.bridge_rt, &g.rt, &g.rag};
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
		if (ps[i]->pid > 0)
			sbt_stop(ps[i], SIGTERM, BT_WAIT_MS);
	/* sb-voice must stop cleanly with every session closed */
	if (g.voice.pid > 0)
		assert_int_equal(sbt_stop(&g.voice, SIGTERM, BT_WAIT_MS), 0);
	sb_client_close(g.rag_c);
	sb_client_close(g.store_c);
	sbt_stop(&g.store, SIGTERM, BT_WAIT_MS);
	return 0;
}

/* ---- a call ---------------------------------------------------------------------------------------------- */

/* Place a call with sb-callsim saying texts: through the gateway's webhook (to the sb-voice bridge),
 * or with ws_port straight to that bridge's stream with a token; returns its report (owned). */
static json_t *call(const char *name, int ws_port, const char *const *texts, const char *const *extra)
{
	char files[4096], report[512], rest[64], hook[128], stream[128], file[80];
	say_list(texts, files, sizeof files);
	snprintf(file, sizeof file, "report-%s.json", name);
	sbt_path(report, sizeof report, file);
	snprintf(rest, sizeof rest, "127.0.0.1:%d", g.rest_port);
	snprintf(hook, sizeof hook, "http://127.0.0.1:%d/api/twilio/voice", g.gw_port);
	snprintf(stream, sizeof stream, "ws://127.0.0.1:%d/api/twilio/stream", ws_port);
	const char *args[48] = {"--run-dir", g.run, "--report", report, "--rest-listen", rest, "--account-sid", ACCOUNT,
				"--twilio-auth-token", AUTH, "--secret", SECRET, "--say", files, "--duration-ms", "90000",
				"--from", CALLER, "--to", BIZ_NUM};
	int n = 20;
	if (!ws_port) {
		args[n++] = "--webhook-url";
		args[n++] = hook;
	} else {
		args[n++] = "--stream-url";
		args[n++] = stream;
		args[n++] = "--business-id";
		args[n++] = g.biz;
	}
	for (int i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	snprintf(file, sizeof file, "callsim-%s", name);
	assert_int_equal(sbt_spawn_as(&g.sim, file, sbt_bin("sb-callsim"), args), 0);
	assert_int_equal(sbt_stop(&g.sim, 0, 120000), 0);
	json_t *r = json_load_file(report, 0, NULL);
	assert_non_null(r);
	return r;
}

static const char *sid_of(json_t *report)
{
	return sb_json_str(json_array_get(json_object_get(report, "items"), 0), "callSid");
}

/* The stored call once it has ended (owned). */
static json_t *stored_call(const char *sid)
{
	json_t *c = NULL;
	for (int i = 0; i < 200; i++) {
		json_decref(c);
		c = sbt_ok(g.store_c, "calls.get", json_pack("{s:s}", "callSid", sid));
		if (c && sb_json_str(c, "endedAt"))
			break;
		bt_nap(50);
	}
	assert_non_null(c);
	return c;
}

static void print_transcript(const json_t *c)
{
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(c, "transcript"), i, l)
		print_message("    %-9s %s\n", sb_json_str(l, "role"), sb_json_str(l, "text"));
}

/* Words of want (lower case) found in got, over the words of want. */
static double word_recall(const char *want, const char *got)
{
	char w[512], gbuf[1024];
	int n = 0, hit = 0;
	snprintf(w, sizeof w, "%s", want);
	size_t k = 0;
	for (const char *p = got; *p && k + 1 < sizeof gbuf; p++)
		gbuf[k++] = (char)tolower((unsigned char)*p);
	gbuf[k] = '\0';
	for (char *save, *t = strtok_r(w, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		n++;
		char pad[80];
		snprintf(pad, sizeof pad, "%s", t);
		if (strstr(gbuf, pad))
			hit++;
	}
	return n ? (double)hit / n : 0;
}

static int tool_count(const json_t *c, const char *name)
{
	size_t i;
	json_t *t;
	int n = 0;
	json_array_foreach(json_object_get(c, "toolCalls"), i, t)
		n += strcmp(sb_json_str(t, "name") ? sb_json_str(t, "name") : "", name) == 0;
	return n;
}

/* ---- conformance ------------------------------------------------------------------------------------------------ */

/* The model event types the bridge logged for call sid, consecutive repeats collapsed, "|"-joined. */
static void event_types(const char *bridge_log, const char *sid, char *out, size_t cap)
{
	FILE *f = fopen(bridge_log, "r");
	assert_non_null(f);
	char line[4096], last[128] = "", want[96];
	size_t len = 0;
	snprintf(want, sizeof want, "call=%s ", sid);
	*out = '\0';
	while (fgets(line, sizeof line, f)) {
		const char *t;
		if (!strstr(line, "bridge.model_event") || !strstr(line, want) || !(t = strstr(line, "type=")))
			continue;
		char type[128];
		sscanf(t + 5, "%127[^ \n\"]", type);
		if (strcmp(type, last) == 0)
			continue;
		snprintf(last, sizeof last, "%s", type);
		len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "|" : "", type);
	}
	fclose(f);
}

static void test_conformance(void **st)
{
	const char *texts[] = {QS[0].q, NULL};
	json_t *a = call("conf-sim", g.ws_rt_port, texts, NULL), *b = call("conf-voice", g.ws_port, texts, NULL);
	char sa[4096], sb[4096];
	/* each bridge's log holds only its own calls */
	event_types(g.bridge_rt.log, sid_of(a), sa, sizeof sa);
	event_types(g.bridge.log, sid_of(b), sb, sizeof sb);
	fprintf(stderr, "    realtime-sim: %s\n    sb-voice:     %s\n", sa, sb);
	assert_non_null(strstr(sa, "response.function_call_arguments.done"));
	assert_string_equal(sa, sb);
	json_decref(a);
	json_decref(b);
}

/* ---- five questions ----------------------------------------------------------------------------------------------- */

static void test_five_questions(void **st)
{
	const char *texts[6];
	for (int i = 0; i < 5; i++)
		texts[i] = QS[i].q;
	texts[5] = NULL;
	json_t *r = call("five", 0, texts, NULL);
	json_t *c = stored_call(sid_of(r));
	print_transcript(c);
	/* pair each caller line with the next assistant line */
	json_t *lines = json_object_get(c, "transcript");
	int recognised = 0, answered = 0;
	for (int q = 0; q < 5; q++) {
		double best = 0;
		size_t at = 0, i;
		json_t *l;
		json_array_foreach(lines, i, l) {
			if (strcmp(sb_json_str(l, "role"), "user") != 0)
				continue;
			double rc = word_recall(QS[q].q, sb_json_str(l, "text"));
			if (rc > best)
				best = rc, at = i;
		}
		if (best < 0.75)
			continue;
		recognised++;
		for (i = at + 1; i < json_array_size(lines); i++) {
			l = json_array_get(lines, i);
			if (strcmp(sb_json_str(l, "role"), "assistant") == 0) {
				answered += strstr(sb_json_str(l, "text"), QS[q].answer) != NULL;
				break;
			}
		}
	}
	print_message("    recognised %d/5, answered from the right document %d/5\n", recognised, answered);
	assert_true(recognised >= 4);
	assert_true(answered >= 4);
	assert_true(tool_count(c, "query_knowledge_base") >= 4);
	json_decref(c);
	json_decref(r);
}

/* ---- intents ------------------------------------------------------------------------------------------------------- */

static void test_unclear_then_goodbye(void **st)
{
	const char *texts[] = {"purple elephants juggle seven thunderstorms quietly", "goodbye", NULL};
	/* a long gap: the bridge, not the caller, ends the call once the goodbye has played */
	const char *extra[] = {"--say-gap-ms", "4000", NULL};
	json_t *r = call("goodbye", 0, texts, extra);
	json_t *c = stored_call(sid_of(r));
	print_transcript(c);
	json_t *lines = json_object_get(c, "transcript");
	size_t i;
	json_t *l;
	bool repeat = false;
	json_array_foreach(lines, i, l)
		repeat |= strcmp(sb_json_str(l, "role"), "assistant") == 0 &&
			  strstr(sb_json_str(l, "text"), "could you say that again") != NULL;
	assert_true(repeat);
	assert_int_equal(tool_count(c, "query_knowledge_base"), 0);
	assert_int_equal(tool_count(c, "end_call"), 1);
	/* the bridge completed the call through Twilio REST once the goodbye had played */
	json_t *it = json_array_get(json_object_get(r, "items"), 0);
	assert_string_equal(sb_json_str(it, "endedBy") ? sb_json_str(it, "endedBy") : "-", "rest-completed");
	json_decref(c);
	json_decref(r);
}

static void test_transfer(void **st)
{
	const char *texts[] = {"i want to talk to a human", NULL};
	/* a long gap: the bridge, not the caller, ends the call once "transferring you" has played */
	const char *extra[] = {"--say-gap-ms", "4000", NULL};
	json_t *r = call("transfer", 0, texts, extra);
	json_t *c = stored_call(sid_of(r));
	print_transcript(c);
	assert_int_equal(tool_count(c, "transfer_to_human"), 1);
	json_t *it = json_array_get(json_object_get(r, "items"), 0);
	assert_string_equal(sb_json_str(it, "endedBy") ? sb_json_str(it, "endedBy") : "-", "rest-transfer");
	json_decref(c);
	json_decref(r);
}

static void test_interruption(void **st)
{
	/* the second utterance starts 1.2 s into the (long) answer to the first */
	const char *texts[] = {"how much does the premium plan cost", "what are your opening hours", NULL};
	const char *extra[] = {"--say-interrupt-ms", "1200", NULL};
	json_t *r = call("interrupt", 0, texts, extra);
	json_t *c = stored_call(sid_of(r));
	print_transcript(c);
	json_t *it = json_array_get(json_object_get(r, "items"), 0);
	assert_true(sb_json_int(it, "clears", 0) >= 1);
	/* sb-voice cancelled the answer being spoken, like the real service */
	assert_true(bt_count_lines(g.voice.log, NULL, NULL, -1, "reason=turn_detected") >= 1);
	/* and answered the interrupting question */
	assert_true(tool_count(c, "query_knowledge_base") >= 2);
	json_decref(c);
	json_decref(r);
}

/* ---- a collections call ------------------------------------------------------------------------------------ */

static void test_collections_promise(void **st)
{
	json_decref(sbt_ok(g.store_c, "payers.create",
			   json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:i}", "id", "payer_voice", "businessId", g.biz, "name",
				     "Dana Demo", "company", "Nimbus Internet", "amountDue", 129.5, "currency", "USD",
				     "daysOverdue", 12)));
	char stream[128];
	snprintf(stream, sizeof stream, "ws://127.0.0.1:%d/collect-iq/media-stream", g.ws_port);
	const char *texts[] = {"yes this is dana", "i can pay fifty dollars next friday", NULL};
	const char *extra[] = {"--payer-id", "payer_voice", NULL};
	/* straight to the collections stream (the webhook leg of outbound calls is in scheduler_stage3_test) */
	char files[2048], report[512];
	say_list(texts, files, sizeof files);
	sbt_path(report, sizeof report, "report-collect.json");
	const char *args[] = {"--run-dir", g.run, "--report", report, "--secret", SECRET, "--stream-url", stream, "--say",
			      files, "--duration-ms", "90000", extra[0], extra[1], NULL};
	assert_int_equal(sbt_spawn_as(&g.sim, "callsim-collect", sbt_bin("sb-callsim"), args), 0);
	assert_int_equal(sbt_stop(&g.sim, 0, 120000), 0);
	json_t *r = json_load_file(report, 0, NULL);
	assert_non_null(r);
	json_t *c = stored_call(sid_of(r));
	print_transcript(c);
	json_t *lines = json_object_get(c, "transcript");
	size_t i;
	json_t *l;
	bool disclosed = false, greeted_by_name = false;
	json_array_foreach(lines, i, l) {
		const char *t = sb_json_str(l, "text");
		greeted_by_name |= strstr(t, "Am I speaking with Dana Demo?") != NULL;
		disclosed |= strstr(t, "attempt to collect a debt") != NULL;
	}
	assert_true(greeted_by_name);
	assert_true(disclosed);
	assert_int_equal(tool_count(c, "record_payment_promise"), 1);
	json_t *t;
	json_array_foreach(json_object_get(c, "toolCalls"), i, t)
		if (strcmp(sb_json_str(t, "name"), "record_payment_promise") == 0)
			assert_non_null(strstr(sb_json_str(t, "arguments"), "\"amount\":50"));
	json_decref(c);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conformance),
		cmocka_unit_test(test_five_questions),
		cmocka_unit_test(test_unclear_then_goodbye),
		cmocka_unit_test(test_transfer),
		cmocka_unit_test(test_interruption),
		cmocka_unit_test(test_collections_promise),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
