/*
 * realtime_sim.c — sb-realtime-sim: a scripted stand-in for the OpenAI
 * Realtime GA server, for tests, demos and benchmarks.
 *
 * Socket: WebSocket server on --listen (any path; Bearer checked when
 * --api-key is set). Protocol: GA client events in, GA server events out.
 *
 * It validates everything a client sends: unknown event types, a
 * session.update that is not type "realtime" with audio/pcmu both ways,
 * non-base64 audio, a truncate past the audio it produced for that item,
 * a response.create while a response is active — each is a VIOLATION line
 * on stderr and in --record, and is counted (tests fail on any).
 *
 * Behaviour (scripted):
 *  - session.created on connect; session.updated on session.update;
 *  - response.create → speaks: the first one is the greeting (--greeting-ms
 *    of tone), a reply to a tool output speaks that output's text as audio
 *    (60 ms per character, capped) with it as the transcript;
 *  - caller audio energy → speech_started (cancelling an active response,
 *    like interrupt_response) / speech_stopped after 400 ms of quiet →
 *    committed, transcription, then a response that calls
 *    query_knowledge_base with the transcript (--no-kb: speaks instead);
 *  - --echo: no VAD; every appended frame comes straight back as an audio
 *    delta (load tests and the benchmark);
 *  - --turn-tools "name:{args};name:{args};…": caller turn k (from 1) of
 *    each connection gets entry k instead: a response that speaks
 *    --tool-speech-ms of audio ("Okay, <name>.") and then calls that function
 *    with those arguments. An entry marked "!name:…" holds its response.done
 *    for --tool-done-delay-ms (the caller may barge in meanwhile and so
 *    cancel it). An entry "-" keeps the default behaviour for that turn;
 *  - a response's events: response.created; when it speaks, its message
 *    item's response.output_item.added (role assistant) before the first
 *    audio delta, the deltas, one response.output_audio_transcript.delta,
 *    output_audio.done and output_audio_transcript.done; each function call
 *    its own function_call item (output_item.added, then
 *    function_call_arguments.done with that item_id); response.done.
 *    A response that only calls a function announces no message item;
 *  - --drop-after-ms: drop the first connection that long after
 *    session.updated; --expire-after-ms: send session_expired and close 1001.
 * --record FILE gets one JSON line per notable client event (not appends),
 * and one ("turn") per caller turn the simulator has answered.
 */
#include <libwebsockets.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_base64.h"
#include "sb_daemon.h"
#include "sb_g711.h"
#include "sb_jscan.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_time.h"
#include "sb_wsrx.h"

static struct {
	char *listen, *api_key, *record, *transcript, *turn_tools;
	long  greeting_ms, drop_after_ms, expire_after_ms, answer_max_ms, energy, tool_speech_ms, tool_done_delay_ms;
	bool  echo, no_kb;
} cfg;

static const sb_flag flags[] = {
	{"listen", "SB_RTSIM_LISTEN", SB_FLAG_STR, "127.0.0.1:8082", "WebSocket host:port", &cfg.listen, 0, 0, false},
	{"api-key", "SB_RTSIM_API_KEY", SB_FLAG_STR, NULL, "require this Bearer key", &cfg.api_key, 0, 0, true},
	{"record", "SB_RTSIM_RECORD", SB_FLAG_STR, NULL, "append one JSON line per notable client event here", &cfg.record, 0, 0, false},
	{"greeting-ms", NULL, SB_FLAG_INT, "1500", "length of the greeting audio", &cfg.greeting_ms, 20, 600000, false},
	{"greeting-text", NULL, SB_FLAG_STR, "Hello, thanks for calling. How can I help?", "greeting transcript", &cfg.transcript, 0, 0, false},
	{"answer-max-ms", NULL, SB_FLAG_INT, "4000", "longest spoken answer", &cfg.answer_max_ms, 20, 600000, false},
	{"energy", NULL, SB_FLAG_INT, "600", "mean |sample| that counts as speech", &cfg.energy, 1, 32767, false},
	{"drop-after-ms", NULL, SB_FLAG_INT, "0", "drop the first connection this long after session.updated (0 = never)", &cfg.drop_after_ms, 0, 86400000, false},
	{"expire-after-ms", NULL, SB_FLAG_INT, "0", "expire the first session this long after session.updated (0 = never)", &cfg.expire_after_ms, 0, 86400000, false},
	{"echo", NULL, SB_FLAG_BOOL, NULL, "echo caller audio back as assistant audio (load tests)", &cfg.echo, 0, 0, false},
	{"turn-tools", NULL, SB_FLAG_STR, NULL, "scripted function calls for caller turns 1, 2, …: \"name:{json args};…\" (\"-\": default turn)", &cfg.turn_tools, 0, 0, false},
	{"tool-speech-ms", NULL, SB_FLAG_INT, "1000", "audio spoken before a scripted function call", &cfg.tool_speech_ms, 0, 60000, false},
	{"tool-done-delay-ms", NULL, SB_FLAG_INT, "3000", "hold a \"!\" scripted call's response.done this long", &cfg.tool_done_delay_ms, 0, 60000, false},
	{"no-kb", NULL, SB_FLAG_BOOL, NULL, "answer without calling query_knowledge_base", &cfg.no_kb, 0, 0, false},
	SB_FLAGS_END,
};

/* ---- per connection -------------------------------------------------------------------- */

typedef struct out_msg {
	struct out_msg *next;
	size_t          len;
	unsigned char   buf[];
} out_msg;

#define MAX_ITEMS 64

typedef struct conn {
	struct lws *wsi;
	int         index;            /* connection number, from 0 */
	out_msg    *head, *tail;
	sb_wsrx      rx; /* message reassembly */
	bool        updated, speaking, resp_active, closing, greeted;
	char        resp_id[32], resp_item[32];
	bool        msg_added;        /* the response's message item was announced (it speaks) */
	int         outputs, msg_index; /* the response's output items so far; the message's output_index */
	int         next_id;
	long long   audio_ms;         /* caller audio received, in ms */
	long long   speech_start_ms, last_loud_ms;
	int         quiet_frames;
	struct { char id[32]; long long bytes; } items[MAX_ITEMS];
	int         nitems;
	lws_sorted_usec_list_t sul;
	int         pending_tool;     /* a function call awaits its output */
	char        tool_output[512];
	int         turns;            /* caller turns so far */
	char        done_resp[32];    /* the response whose delayed done is due */
} conn;

static struct lws_context *ctx;
static int nconns, violations;
static FILE *rec;

static void record(conn *c, const char *kind, const char *fmt, ...)
{
	if (!rec)
		return;
	char body[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	fprintf(rec, "{\"conn\":%d,\"kind\":\"%s\",\"at\":%lld,\"body\":%s}\n", c->index, kind, (long long)sb_mono_ms(), body);
	fflush(rec);
}

static void violation(conn *c, const char *what)
{
	violations++;
	sb_error_log("rtsim.VIOLATION", "conn=%d what=\"%s\"", c->index, what);
	record(c, "violation", "\"%s\"", what);
}

static void send_raw(conn *c, const char *s, size_t n)
{
	out_msg *m = malloc(sizeof *m + LWS_PRE + n);
	m->next = NULL;
	m->len = n;
	memcpy(m->buf + LWS_PRE, s, n);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	lws_callback_on_writable(c->wsi);
}

static void send_json(conn *c, json_t *ev)
{
	size_t n;
	char *s = sb_json_dump(ev, &n);
	json_decref(ev);
	send_raw(c, s, n);
	free(s);
}

static void new_id(conn *c, const char *prefix, char out[32])
{
	snprintf(out, 32, "%s_%d_%d", prefix, c->index, ++c->next_id);
}

/* ---- speaking ------------------------------------------------------------------------------ */

/* The active response's message item (role assistant), announced when it first speaks. */
static void announce_message(conn *c)
{
	if (c->msg_added)
		return;
	c->msg_added = true;
	c->msg_index = c->outputs++;
	if (c->nitems < MAX_ITEMS) {
		snprintf(c->items[c->nitems].id, 32, "%s", c->resp_item);
		c->items[c->nitems++].bytes = 0;
	}
	send_json(c, json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s}}", "type", "response.output_item.added", "response_id", c->resp_id,
			       "output_index", c->msg_index, "item", "id", c->resp_item, "type", "message", "role", "assistant"));
}

static void send_delta(conn *c, const unsigned char *ulaw, size_t n)
{
	announce_message(c);
	char *b64 = malloc(sb_b64_encoded_len(n) + 1), *msg = malloc(sb_b64_encoded_len(n) + 256);
	sb_b64_encode(ulaw, n, b64);
	int len = sprintf(msg, "{\"type\":\"response.output_audio.delta\",\"response_id\":\"%s\",\"item_id\":\"%s\","
			  "\"output_index\":%d,\"content_index\":0,\"delta\":\"%s\"}", c->resp_id, c->resp_item, c->msg_index, b64);
	send_raw(c, msg, (size_t)len);
	for (int i = 0; i < c->nitems; i++)
		if (strcmp(c->items[i].id, c->resp_item) == 0)
			c->items[i].bytes += (long long)n;
	free(b64);
	free(msg);
}

static void begin_response(conn *c)
{
	new_id(c, "resp", c->resp_id);
	new_id(c, "item", c->resp_item);
	c->resp_active = true;
	c->msg_added = false;
	c->outputs = c->msg_index = 0;
	send_json(c, json_pack("{s:s,s:{s:s,s:s}}", "type", "response.created", "response", "id", c->resp_id, "status", "in_progress"));
}

/* Into the active response: a function_call item (output_item.added, then its arguments.done); its call_id in call_id. */
static void call_function(conn *c, const char *name, const char *args, char call_id[32])
{
	char item[32];
	new_id(c, "call", call_id);
	new_id(c, "item", item);
	int idx = c->outputs++;
	send_json(c, json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:s}}", "type", "response.output_item.added", "response_id",
			       c->resp_id, "output_index", idx, "item", "type", "function_call", "id", item, "call_id", call_id,
			       "name", name));
	send_json(c, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "type", "response.function_call_arguments.done", "response_id",
			       c->resp_id, "item_id", item, "output_index", idx, "call_id", call_id, "name", name, "arguments", args));
}

static void end_response(conn *c, const char *status)
{
	if (!c->resp_active)
		return;
	c->resp_active = false;
	send_json(c, json_pack("{s:s,s:{s:s,s:s,s:{s:i,s:i}}}", "type", "response.done", "response", "id", c->resp_id,
			       "status", status, "usage", "input_tokens", 100, "output_tokens", 50));
}

/* Into the active response's item: ms of a 440 Hz tone with transcript text, in 100 ms deltas, at once. */
static void say(conn *c, long ms, const char *text)
{
	size_t n = (size_t)ms * 8;
	unsigned char *a = malloc(n);
	for (size_t i = 0; i < n; i++)
		a[i] = sb_ulaw_encode((int16_t)(8000 * sin(2 * M_PI * 440.0 * (double)i / 8000.0)));
	announce_message(c);
	for (size_t off = 0; off < n; off += 800)
		send_delta(c, a + off, n - off < 800 ? n - off : 800);
	free(a);
	send_json(c, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s}", "type", "response.output_audio_transcript.delta", "response_id",
			       c->resp_id, "item_id", c->resp_item, "output_index", c->msg_index, "content_index", 0, "delta", text));
	send_json(c, json_pack("{s:s,s:s,s:s,s:i}", "type", "response.output_audio.done", "response_id", c->resp_id,
			       "item_id", c->resp_item, "content_index", 0));
	send_json(c, json_pack("{s:s,s:s,s:s,s:i,s:s}", "type", "response.output_audio_transcript.done", "response_id",
			       c->resp_id, "item_id", c->resp_item, "content_index", 0, "transcript", text));
}

/* A whole response speaking ms of audio with transcript text. */
static void speak(conn *c, long ms, const char *text)
{
	begin_response(c);
	say(c, ms, text);
	end_response(c, "completed");
}

/* The delayed response.done of a scripted function call. */
static void tool_done_cb(lws_sorted_usec_list_t *sul)
{
	conn *c = lws_container_of(sul, conn, sul);
	if (c->resp_active && strcmp(c->resp_id, c->done_resp) == 0)
		end_response(c, "completed");
}

/* Entry k (1-based) of --turn-tools into name and args; 1 if there is one (not "-"), 2 if held ("!"). */
static int turn_tool(int k, char *name, size_t ncap, char *args, size_t acap)
{
	const char *p = cfg.turn_tools;
	for (int i = 1; p && i < k; i++)
		if ((p = strchr(p, ';')))
			p++;
	if (!p || !*p || *p == '-')
		return 0;
	int held = *p == '!';
	p += held;
	size_t len = strcspn(p, ";"), nl = strcspn(p, ":");
	if (nl >= len || nl >= ncap || len - nl - 1 >= acap)
		return 0;
	snprintf(name, ncap, "%.*s", (int)nl, p);
	snprintf(args, acap, "%.*s", (int)(len - nl - 1), p + nl + 1);
	return 1 + held;
}

/* Turn k is scripted: speak, call the function, complete (maybe later). */
static bool scripted_turn(conn *c, int k)
{
	char name[64], args[512], call_id[32], text[96];
	int kind = turn_tool(k, name, sizeof name, args, sizeof args);
	if (!kind)
		return false;
	begin_response(c);
	snprintf(text, sizeof text, "Okay, %s.", name);
	if (cfg.tool_speech_ms)
		say(c, cfg.tool_speech_ms, text);
	call_function(c, name, args, call_id);
	c->pending_tool = 1;
	record(c, "function_call", "{\"name\":\"%s\",\"call_id\":\"%s\"}", name, call_id);
	if (kind == 1 || !cfg.tool_done_delay_ms) {
		end_response(c, "completed");
		return true;
	}
	snprintf(c->done_resp, sizeof c->done_resp, "%s", c->resp_id);
	lws_sul_schedule(lws_get_context(c->wsi), 0, &c->sul, tool_done_cb, cfg.tool_done_delay_ms * LWS_US_PER_MS);
	return true;
}

/* The caller's turn ended: transcribe, then look it up (or answer). */
static void caller_turn(conn *c)
{
	char item[32], text[96], call_id[32];
	new_id(c, "item", item);
	snprintf(text, sizeof text, "What are your opening hours? (utterance %d)", c->next_id);
	send_json(c, json_pack("{s:s,s:s}", "type", "input_audio_buffer.committed", "item_id", item));
	send_json(c, json_pack("{s:s,s:s,s:i,s:s}", "type", "conversation.item.input_audio_transcription.completed",
			       "item_id", item, "content_index", 0, "transcript", text));
	record(c, "turn", "{\"n\":%d}", ++c->turns);
	if (scripted_turn(c, c->turns))
		return;
	if (cfg.no_kb) {
		speak(c, 1000, "Here is my answer.");
		return;
	}
	begin_response(c);
	char args[200];
	snprintf(args, sizeof args, "{\"query\":\"%s\"}", text);
	call_function(c, "query_knowledge_base", args, call_id);
	c->pending_tool = 1;
	end_response(c, "completed");
}

/* ---- client events ---------------------------------------------------------------------------- */

static void on_append(conn *c, const char *msg, size_t len)
{
	const char *a;
	size_t n;
	if (sb_jscan_str(msg, len, "audio", &a, &n) != 1 || n % 4) {
		violation(c, "append without base64 audio");
		return;
	}
	unsigned char buf[4096];
	long got = n <= 5400 ? sb_b64_decode(a, n, buf) : -1;
	if (got < 0) {
		violation(c, "append: bad base64");
		return;
	}
	c->audio_ms += got / 8;
	if (cfg.echo) {
		if (!c->resp_active)
			begin_response(c);
		if (got >= 20 && memcmp(buf, "SBTS", 4) == 0) { /* sb-callsim --stamp: add our receive time */
			int64_t us = sb_mono_us();
			memcpy(buf + 12, &us, 8);
		}
		send_delta(c, buf, (size_t)got);
		return;
	}
	long sum = 0;
	for (long i = 0; i < got; i++)
		sum += labs((long)sb_ulaw_decode(buf[i]));
	bool loud = got > 0 && sum / got > cfg.energy;
	if (loud && !c->speaking) {
		c->speaking = true;
		c->speech_start_ms = c->audio_ms;
		send_json(c, json_pack("{s:s,s:I}", "type", "input_audio_buffer.speech_started", "audio_start_ms", c->audio_ms));
		end_response(c, "cancelled"); /* interrupt_response */
	}
	c->quiet_frames = loud ? 0 : c->quiet_frames + 1;
	if (c->speaking && c->quiet_frames * 20 >= 400) {
		c->speaking = false;
		send_json(c, json_pack("{s:s,s:I}", "type", "input_audio_buffer.speech_stopped", "audio_end_ms", c->audio_ms));
		caller_turn(c);
	}
}

static bool pcmu(const json_t *fmt)
{
	const char *t = sb_json_str(fmt, "type");
	return t && strcmp(t, "audio/pcmu") == 0;
}

static void on_session_update(conn *c, json_t *ev, const char *raw)
{
	const json_t *s = json_object_get(ev, "session"), *au = json_object_get(s, "audio");
	const char *type = sb_json_str(s, "type");
	if (!type || strcmp(type, "realtime") != 0)
		violation(c, "session.update: session.type must be realtime");
	if (!pcmu(json_object_get(json_object_get(au, "input"), "format")) ||
	    !pcmu(json_object_get(json_object_get(au, "output"), "format")))
		violation(c, "session.update: audio formats must be audio/pcmu");
	record(c, "session.update", "%s", raw);
	c->updated = true;
	send_json(c, json_pack("{s:s,s:O}", "type", "session.updated", "session", s));
	if (c->index == 0 && (cfg.drop_after_ms || cfg.expire_after_ms))
		lws_set_timer_usecs(c->wsi, (cfg.drop_after_ms ? cfg.drop_after_ms : cfg.expire_after_ms) * 1000);
}

static void on_truncate(conn *c, json_t *ev, const char *raw)
{
	const char *item = sb_json_str(ev, "item_id");
	json_int_t end = sb_json_int(ev, "audio_end_ms", -1);
	record(c, "truncate", "%s", raw);
	for (int i = 0; item && i < c->nitems; i++)
		if (strcmp(c->items[i].id, item) == 0) {
			if (end < 0 || end > c->items[i].bytes / 8)
				violation(c, "truncate past the item's audio");
			send_json(c, json_pack("{s:s,s:s,s:i,s:I}", "type", "conversation.item.truncated", "item_id", item,
					       "content_index", 0, "audio_end_ms", end));
			return;
		}
	violation(c, "truncate of an unknown item");
}

static void on_response_create(conn *c, json_t *ev, const char *raw)
{
	record(c, "response.create", "%s", raw);
	if (c->resp_active) {
		violation(c, "response.create while a response is active");
		send_json(c, json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "error", "error", "type", "invalid_request_error",
				       "code", "conversation_already_has_active_response", "message", "active response"));
		return;
	}
	if (!c->greeted) {
		c->greeted = true;
		speak(c, cfg.greeting_ms, cfg.transcript);
	} else if (c->pending_tool && c->tool_output[0]) {
		long ms = (long)strlen(c->tool_output) * 60;
		speak(c, ms > cfg.answer_max_ms ? cfg.answer_max_ms : ms, c->tool_output);
		c->pending_tool = 0;
		c->tool_output[0] = '\0';
	} else {
		speak(c, 800, "Let me help you with that.");
	}
}

static void on_item_create(conn *c, json_t *ev, const char *raw)
{
	const json_t *item = json_object_get(ev, "item");
	const char *type = sb_json_str(item, "type");
	record(c, "item.create", "%s", raw);
	if (type && strcmp(type, "function_call_output") == 0) {
		const char *out = sb_json_str(item, "output");
		snprintf(c->tool_output, sizeof c->tool_output, "%s", out ? out : "");
	} else if (!type || strcmp(type, "message") != 0) {
		violation(c, "conversation.item.create: unsupported item type");
		return;
	}
	send_json(c, json_pack("{s:s,s:O}", "type", "conversation.item.added", "item", item)); /* as the GA server acks it */
}

static void on_message(conn *c, const char *msg, size_t len)
{
	const char *t;
	size_t tn;
	if (sb_jscan_str(msg, len, "type", &t, &tn) == 1 && sb_jscan_eq(t, tn, "input_audio_buffer.append")) {
		on_append(c, msg, len);
		return;
	}
	sb_error err;
	json_t *ev = sb_json_parse(msg, len, 1 << 20, &err);
	const char *type = ev ? sb_json_str(ev, "type") : NULL;
	char *raw = strndup(msg, len);
	if (!type)
		violation(c, "not a JSON event with a type");
	else if (strcmp(type, "session.update") == 0)
		on_session_update(c, ev, raw);
	else if (strcmp(type, "conversation.item.truncate") == 0)
		on_truncate(c, ev, raw);
	else if (strcmp(type, "response.create") == 0)
		on_response_create(c, ev, raw);
	else if (strcmp(type, "conversation.item.create") == 0)
		on_item_create(c, ev, raw);
	else if (strcmp(type, "response.cancel") == 0)
		end_response(c, "cancelled");
	else if (strcmp(type, "input_audio_buffer.commit") && strcmp(type, "input_audio_buffer.clear") &&
		 strcmp(type, "conversation.item.delete") && strcmp(type, "conversation.item.retrieve"))
		violation(c, "unknown client event type");
	free(raw);
	json_decref(ev);
}

/* ---- lws ---------------------------------------------------------------------------------------- */

static int check_auth(struct lws *wsi)
{
	if (!cfg.api_key || !*cfg.api_key)
		return 0;
	char got[512], want[512];
	snprintf(want, sizeof want, "Bearer %s", cfg.api_key);
	if (lws_hdr_copy(wsi, got, sizeof got, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 || strcmp(got, want) != 0)
		return -1;
	return 0;
}

static void on_receive(conn *c, struct lws *wsi, const char *in, size_t len)
{
	const char *whole;
	size_t n;
	if (sb_wsrx_feed(&c->rx, wsi, in, len, &whole, &n) == SB_WSRX_MESSAGE)
		on_message(c, whole, n);
}

static int on_writeable(conn *c, struct lws *wsi)
{
	if (c->closing)
		return -1;
	out_msg *m = c->head;
	if (!m)
		return 0;
	if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	if (!(c->head = m->next))
		c->tail = NULL;
	free(m);
	if (c->head)
		lws_callback_on_writable(wsi);
	return 0;
}

static void on_timer(conn *c)
{
	if (cfg.expire_after_ms) {
		send_json(c, json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "error", "error", "type", "invalid_request_error",
				       "code", "session_expired", "message", "Your session hit the maximum duration of 60 minutes."));
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY, NULL, 0);
	}
	c->closing = true;
	record(c, "dropped", "\"%s\"", cfg.expire_after_ms ? "expired" : "drop");
	lws_callback_on_writable(c->wsi);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	conn *c = user;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return check_auth(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof *c);
		c->wsi = wsi;
		c->index = nconns++;
		record(c, "connected", "null");
		send_json(c, json_pack("{s:s,s:s,s:{s:s,s:s}}", "type", "session.created", "event_id", "evt_0", "session",
				       "type", "realtime", "id", "sess_sim"));
		return 0;
	case LWS_CALLBACK_RECEIVE:
		on_receive(c, wsi, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(c, wsi);
	case LWS_CALLBACK_TIMER:
		on_timer(c);
		return 0;
	case LWS_CALLBACK_CLOSED:
		lws_sul_cancel(&c->sul);
		record(c, "closed", "null");
		for (out_msg *m = c->head, *n; m; m = n) {
			n = m->next;
			free(m);
		}
		c->head = c->tail = NULL;
		sb_wsrx_free(&c->rx);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{"realtime", callback, sizeof(conn), 16384, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static pthread_t loop_thread;
static volatile int stopping;
static lws_sorted_usec_list_t sul_stop;

static void destroy_cb(lws_sorted_usec_list_t *s)
{
	lws_context_destroy(ctx);
}

static int cancel_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && stopping)
		lws_sul_schedule(ctx, 0, &sul_stop, destroy_cb, 1);
	return 0;
}

static const struct lws_protocols protocols_with_cancel[] = {
	{"realtime", callback, sizeof(conn), 16384, 0, NULL, 0},
	{"control", cancel_cb, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *loop_main(void *arg)
{
	int n = 0;
	while (n >= 0 && !stopping)
		n = lws_service(ctx, 0);
	lws_context_destroy(ctx);
	return NULL;
}

static int sim_init(void *arg)
{
	static char host[128];
	char *colon = strrchr(cfg.listen, ':');
	if (!colon || (size_t)(colon - cfg.listen) >= sizeof host)
		return -1;
	memcpy(host, cfg.listen, (size_t)(colon - cfg.listen));
	host[colon - cfg.listen] = '\0';
	if (cfg.record && !(rec = fopen(cfg.record, "a")))
		return -1;
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = atoi(colon + 1);
	info.iface = host;
	info.protocols = protocols_with_cancel;
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.pt_serv_buf_size = 32768;
	if (!(ctx = lws_create_context(&info)))
		return -1;
	(void)protocols;
	pthread_create(&loop_thread, NULL, loop_main, NULL);
	sb_info("rtsim.listening", "listen=%s echo=%d", cfg.listen, cfg.echo);
	return 0;
}

static void sim_fini(void *arg)
{
	if (ctx) {
		stopping = 1;
		lws_cancel_service(ctx);
		pthread_join(loop_thread, NULL);
	}
	sb_info("rtsim.summary", "connections=%d violations=%d", nconns, violations);
	if (rec)
		fclose(rec);
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-realtime-sim",
		.summary = "scripted OpenAI Realtime GA stand-in that validates its client",
		.flags = flags,
		.init = sim_init,
		.fini = sim_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
