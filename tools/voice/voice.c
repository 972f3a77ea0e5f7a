/*
 * voice.c — sb-voice: the offline voice engine. It serves the OpenAI
 * Realtime GA WebSocket interface on loopback (/v1/realtime), so the media
 * bridge reaches it through its ordinary realtime URL with no special case,
 * and a whole call runs with no cloud account.
 *
 *   caller audio (input_audio_buffer.append, audio/pcmu)
 *     → ear: WebRTC VAD endpointing, 8→16 kHz, pocketsphinx with a small LM
 *       built for this session (instructions, tools, the business's
 *       knowledge from the store, everyday call phrases)
 *     → speech_started / speech_stopped / committed / transcription
 *     → policy (voice_policy.c): say something, and/or call a function
 *       (query_knowledge_base with the recognised question, transfer, …)
 *     → mouth: flite → μ-law → response.output_audio.delta, paced a little
 *       ahead of real time like the real service, so an interruption
 *       (speech while speaking) cancels the rest of the response.
 *
 * Threads: one lws event loop does all socket I/O; every session has its
 * own worker thread (recognition, policy, synthesis). They meet in two
 * queues per session: client events in, server events out (the worker
 * wakes the loop with lws_cancel_service). A session is freed by whichever
 * of the two lets go last.
 *
 * One-shot mode: --say TEXT --say-out FILE writes TEXT spoken by --voice as
 * a μ-law WAV and exits (test fixtures and the demo's caller).
 */
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sb_base64.h"
#include "sb_daemon.h"
#include "sb_events.h"
#include "sb_g711.h"
#include "sb_jscan.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_rpc.h"
#include "sb_schema_gen.h"
#include "sb_time.h"
#include "sb_wsrx.h"
#include "voice_engine.h"
#include "voice_policy.h"

#define CHUNK_BYTES   800              /* 100 ms of μ-law per delta */
#define IN_MAX_BYTES  (4 << 20)        /* client events queued for a stalled worker */
#define MSG_MAX       (1 << 20)        /* largest client event */
#define MAX_ITEMS     256              /* assistant items remembered for truncate */
#define MAX_CALLS     8                /* function calls awaiting their output */
#define CORPUS_MAX    (256 << 10)

static struct {
	char *listen, *api_key, *store_url, *events, *model_dir, *voice, *say, *say_out, *work_dir;
	long  vad_mode, lead_ms, max_sessions, knowledge_timeout_ms;
	char *min_conf;
} cfg;

static const sb_flag flags[] = {
	{"listen", "SB_VOICE_LISTEN", SB_FLAG_STR, "127.0.0.1:8082", "WebSocket host:port (serves /v1/realtime)", &cfg.listen, 0, 0, false},
	{"api-key", "SB_VOICE_API_KEY", SB_FLAG_STR, NULL, "require this Bearer key (unset: any)", &cfg.api_key, 0, 0, true},
	{"store-url", "SB_STORE_URL", SB_FLAG_STR, "ipc://{run}/store.sock", "sb-store request socket (the business's knowledge)", &cfg.store_url, 0, 0, false},
	{"events", "SB_VOICE_EVENTS", SB_FLAG_STR, "ipc://{run}/voice-events.sock", "PUB socket (voice.* events for the tap)", &cfg.events, 0, 0, false},
	{"model-dir", "SB_VOICE_MODEL_DIR", SB_FLAG_STR, "/usr/share/pocketsphinx/model/en-us", "pocketsphinx model folder (en-us/ and cmudict-en-us.dict)", &cfg.model_dir, 0, 0, false},
	{"work-dir", "SB_VOICE_WORK_DIR", SB_FLAG_STR, "{run}/voice", "private folder for generated model files", &cfg.work_dir, 0, 0, false},
	{"voice", "SB_VOICE_VOICE", SB_FLAG_STR, "kal", "flite voice: kal (8 kHz), rms, slt, awb", &cfg.voice, 0, 0, false},
	{"vad-mode", "SB_VOICE_VAD_MODE", SB_FLAG_INT, "-1", "WebRTC VAD mode 0..3 (-1: from the session's server_vad threshold)", &cfg.vad_mode, -1, 3, false},
	{"min-confidence", "SB_VOICE_MIN_CONFIDENCE", SB_FLAG_STR, "0.01", "recognition posterior below which the caller is asked to repeat", &cfg.min_conf, 0, 0, false},
	{"lead-ms", "SB_VOICE_LEAD_MS", SB_FLAG_INT, "600", "send assistant audio this far ahead of real time", &cfg.lead_ms, 0, 600000, false},
	{"max-sessions", "SB_VOICE_MAX_SESSIONS", SB_FLAG_INT, "64", "concurrent sessions (more are refused)", &cfg.max_sessions, 1, 10000, false},
	{"knowledge-timeout-ms", NULL, SB_FLAG_INT, "2000", "how long to wait for the store's knowledge", &cfg.knowledge_timeout_ms, 100, 60000, false},
	{"say", NULL, SB_FLAG_STR, NULL, "one-shot: speak this text into --say-out and exit", &cfg.say, 0, 0, false},
	{"say-out", NULL, SB_FLAG_STR, NULL, "one-shot: μ-law WAV file to write", &cfg.say_out, 0, 0, false},
	SB_FLAGS_END,
};

static sv_models          *g_models;
static sb_client          *g_store;
static sb_pub             *g_pub;
static struct lws_context *g_ctx;
static double              g_min_conf;

/* ---- queues ------------------------------------------------------------------------------------------ */

typedef struct qmsg {
	struct qmsg *next;
	size_t       len;
	int          kind;    /* in: 0 a text message, or a SB_WSRX_* code for one we could not take */
	char         buf[];   /* client event (in: NUL-terminated) or LWS_PRE + server event (out) */
} qmsg;

typedef struct { qmsg *head, *tail; } queue;

static void q_push(queue *q, qmsg *m)
{
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
}

static qmsg *q_pop(queue *q)
{
	qmsg *m = q->head;
	if (m && !(q->head = m->next))
		q->tail = NULL;
	return m;
}

static void q_free(queue *q)
{
	for (qmsg *m; (m = q_pop(q));)
		free(m);
}

/* ---- a session ------------------------------------------------------------------------------------------ */

typedef struct resp {
	bool   active;
	char   id[40], item[40];          /* item: the message item, "" until it speaks */
	char   say[1600];                 /* the words, not yet synthesised from offset `next` */
	size_t next;
	unsigned char *audio;             /* synthesised, not all sent */
	size_t len, cap, sent;
	int64_t t0;                       /* when the first delta went */
	char   spoken[1600];              /* transcript of what was synthesised */
	char   tool[64], args[1024];      /* function to call once the words are out */
} resp;

typedef struct vsess {
	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	queue           in, out;
	size_t          in_bytes;
	bool            gone;   /* the connection closed */
	int             refs;
	/* event loop only */
	struct lws     *wsi;
	struct vsess   *next_live;
	sb_wsrx         rx;
	int             index;
	long            dropped;
	/* worker only */
	sv_ear     *ear;
	vp_state    pol;
	bool        configured, greeted, transcribe, auto_turns, create_response, interrupt;
	int         silence_ms, prefix_ms, vad_mode;
	char        instructions[16384];
	char        tool_text[4096];
	char        business_id[80];
	bool        knowledge_loaded;
	int         seq;
	char        last_item[40];        /* previous conversation item */
	char        user_item[40];        /* the caller's current item */
	resp        r;
	struct { char id[40]; long long bytes; } items[MAX_ITEMS];
	int         nitems;
	struct { char call_id[40], name[64]; char *output; } calls[MAX_CALLS];
	int         ncalls;
	char        typed[512];           /* a user text item (keypad, replayed history) awaiting a response */
	int64_t     stopped_at;           /* mono ms the caller's last turn ended (latency logs) */
	int         turns;
} vsess;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  g_cv = PTHREAD_COND_INITIALIZER;
static int             g_workers, g_sessions, g_index;
static vsess          *g_live;       /* loop thread only */

static void sess_unref(vsess *s)
{
	pthread_mutex_lock(&s->mu);
	int left = --s->refs;
	pthread_mutex_unlock(&s->mu);
	if (left)
		return;
	q_free(&s->in);
	q_free(&s->out);
	sb_wsrx_free(&s->rx);
	for (int i = 0; i < s->ncalls; i++)
		free(s->calls[i].output);
	free(s->r.audio);
	if (s->ear)
		sv_ear_free(s->ear);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* ---- sending (worker) ------------------------------------------------------------------------------------ */

static void send_text(vsess *s, const char *text, size_t n)
{
	qmsg *m = malloc(sizeof *m + LWS_PRE + n);
	m->len = n;
	memcpy(m->buf + LWS_PRE, text, n);
	/* under the lock: the loop cannot get past this session's CLOSED (and so
	 * cannot destroy the context) while we wake it */
	pthread_mutex_lock(&s->mu);
	bool gone = s->gone;
	if (!gone) {
		q_push(&s->out, m);
		lws_cancel_service(g_ctx);
	}
	pthread_mutex_unlock(&s->mu);
	if (gone)
		free(m);
}

/* Send ev (stolen) with a fresh event_id. */
static void send_ev(vsess *s, json_t *ev)
{
	char id[48];
	snprintf(id, sizeof id, "event_%d_%d", s->index, ++s->seq);
	json_object_set_new(ev, "event_id", json_string(id));
	size_t n;
	char *text = sb_json_dump(ev, &n);
	json_decref(ev);
	send_text(s, text, n);
	free(text);
}

static void send_error(vsess *s, const char *code, const char *message, const char *client_event)
{
	sb_warn("voice.client_error", "session=%d code=%s message=\"%s\"", s->index, code, message);
	send_ev(s, json_pack("{s:s,s:{s:s,s:s,s:s,s:s?}}", "type", "error", "error", "type", "invalid_request_error", "code",
			     code, "message", message, "event_id", client_event));
}

static void new_id(vsess *s, const char *prefix, char out[40])
{
	snprintf(out, 40, "%s_%d_%d", prefix, s->index, ++s->seq);
}

/* ---- responses (worker) ------------------------------------------------------------------------------------ */

static int collect_audio(const uint8_t *ulaw, size_t n, void *arg)
{
	resp *r = arg;
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2;
		r->audio = realloc(r->audio, r->cap);
	}
	memcpy(r->audio + r->len, ulaw, n);
	r->len += n;
	return 0;
}

/* Synthesise the next sentence of the response's words; false when none is left. */
static bool synth_next(vsess *s)
{
	resp *r = &s->r;
	const char *p = r->say + r->next;
	while (*p == ' ')
		p++;
	if (!*p)
		return false;
	/* up to the end of the next sentence */
	size_t n = 0;
	for (; p[n]; n++)
		if ((p[n] == '.' || p[n] == '?' || p[n] == '!') && (p[n + 1] == ' ' || !p[n + 1])) {
			n++;
			break;
		}
	char sentence[1600];
	snprintf(sentence, sizeof sentence, "%.*s", (int)n, p);
	r->next = (size_t)(p + n - r->say);
	if (r->len) { /* a short pause between sentences */
		static const uint8_t quiet[160] = {[0 ... 159] = 0xFF};
		for (int k = 0; k < 2; k++)
			collect_audio(quiet, sizeof quiet, r);
	}
	if (sv_say(cfg.voice, sentence, collect_audio, r) != 0)
		sb_warn("voice.tts_failed", "session=%d voice=%s", s->index, cfg.voice);
	snprintf(r->spoken + strlen(r->spoken), sizeof r->spoken - strlen(r->spoken), "%s%s", *r->spoken ? " " : "", sentence);
	send_ev(s, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s}", "type", "response.output_audio_transcript.delta", "response_id",
			     r->id, "item_id", r->item, "output_index", 0, "content_index", 0, "delta", sentence));
	return true;
}

static void remember_item(vsess *s, const char *id)
{
	int i = s->nitems < MAX_ITEMS ? s->nitems++ : (memmove(s->items, s->items + 1, sizeof s->items[0] * (MAX_ITEMS - 1)), MAX_ITEMS - 1);
	snprintf(s->items[i].id, sizeof s->items[i].id, "%s", id);
	s->items[i].bytes = 0;
}

static void count_item_bytes(vsess *s, const char *id, size_t n)
{
	for (int i = s->nitems - 1; i >= 0; i--)
		if (strcmp(s->items[i].id, id) == 0) {
			s->items[i].bytes += (long long)n;
			return;
		}
}

/* Start a response for action a (words and/or a function call). */
static void respond(vsess *s, const vp_action *a)
{
	resp *r = &s->r;
	free(r->audio);
	memset(r, 0, sizeof *r);
	r->active = true;
	new_id(s, "resp", r->id);
	snprintf(r->say, sizeof r->say, "%s", a->say);
	snprintf(r->tool, sizeof r->tool, "%s", a->tool);
	snprintf(r->args, sizeof r->args, "%s", a->args);
	send_ev(s, json_pack("{s:s,s:{s:s,s:s,s:s,s:[]}}", "type", "response.created", "response", "id", r->id, "object",
			     "realtime.response", "status", "in_progress", "output"));
	sb_info("voice.respond", "session=%d intent=%s tool=%s say=\"%.80s\"", s->index, a->intent, *a->tool ? a->tool : "-", a->say);
	if (*r->say) {
		new_id(s, "item", r->item);
		remember_item(s, r->item);
		send_ev(s, json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:s,s:[]}}", "type", "response.output_item.added", "response_id",
				     r->id, "output_index", 0, "item", "id", r->item, "object", "realtime.item", "type", "message",
				     "role", "assistant", "content"));
		synth_next(s);
	}
}

/* The response's words are all out (or there were none): function call, done. */
static void finish_response(vsess *s, const char *status, const char *reason)
{
	resp *r = &s->r;
	if (!r->active)
		return;
	r->active = false;
	bool completed = strcmp(status, "completed") == 0;
	if (!completed)
		sb_info("voice.cancelled", "session=%d response=%s reason=%s sent_ms=%zu", s->index, r->id, reason ? reason : "-",
			r->sent / 8);
	if (*r->item) {
		send_ev(s, json_pack("{s:s,s:s,s:s,s:i,s:i}", "type", "response.output_audio.done", "response_id", r->id,
				     "item_id", r->item, "output_index", 0, "content_index", 0));
		send_ev(s, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s}", "type", "response.output_audio_transcript.done", "response_id",
				     r->id, "item_id", r->item, "output_index", 0, "content_index", 0, "transcript", r->spoken));
		snprintf(s->last_item, sizeof s->last_item, "%s", r->item);
	}
	if (completed && *r->tool && s->ncalls < MAX_CALLS) {
		char item[40], call_id[40];
		new_id(s, "item", item);
		new_id(s, "call", call_id);
		int idx = *r->item ? 1 : 0;
		send_ev(s, json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:s,s:s}}", "type", "response.output_item.added", "response_id",
				     r->id, "output_index", idx, "item", "id", item, "type", "function_call", "call_id", call_id,
				     "name", r->tool, "arguments", ""));
		send_ev(s, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "type", "response.function_call_arguments.done",
				     "response_id", r->id, "item_id", item, "output_index", idx, "call_id", call_id, "name", r->tool,
				     "arguments", r->args));
		snprintf(s->calls[s->ncalls].call_id, sizeof s->calls[0].call_id, "%s", call_id);
		snprintf(s->calls[s->ncalls].name, sizeof s->calls[0].name, "%s", r->tool);
		s->calls[s->ncalls++].output = NULL;
		snprintf(s->last_item, sizeof s->last_item, "%s", item);
	}
	json_t *resp_obj = json_pack("{s:s,s:s,s:s,s:{s:i,s:i,s:i}}", "id", r->id, "object", "realtime.response", "status",
				     status, "usage", "total_tokens", 0, "input_tokens", 0, "output_tokens", 0);
	if (reason)
		json_object_set_new(resp_obj, "status_details", json_pack("{s:s,s:s}", "type", status, "reason", reason));
	send_ev(s, json_pack("{s:s,s:o}", "type", "response.done", "response", resp_obj));
	free(r->audio);
	r->audio = NULL;
	r->len = r->cap = r->sent = 0;
}

/* Send the deltas that are due; returns ms until the next one is (or -1: nothing pending). */
static long pump(vsess *s)
{
	resp *r = &s->r;
	if (!r->active)
		return -1;
	for (;;) {
		if (r->sent == r->len && !synth_next(s)) {
			finish_response(s, "completed", NULL);
			return -1;
		}
		if (r->sent == r->len)
			continue;
		int64_t now = sb_mono_ms();
		if (!r->t0)
			r->t0 = now;
		long due = (long)(r->t0 + (int64_t)(r->sent / 8) - cfg.lead_ms - now);
		if (due > 0)
			return due;
		size_t n = r->len - r->sent < CHUNK_BYTES ? r->len - r->sent : CHUNK_BYTES;
		char *b64 = malloc(sb_b64_encoded_len(n) + 1), *msg = malloc(sb_b64_encoded_len(n) + 320);
		sb_b64_encode(r->audio + r->sent, n, b64);
		int len = snprintf(msg, sb_b64_encoded_len(n) + 320,
				   "{\"type\":\"response.output_audio.delta\",\"event_id\":\"event_%d_%d\",\"response_id\":\"%s\","
				   "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"delta\":\"%s\"}",
				   s->index, ++s->seq, r->id, r->item, b64);
		if (r->sent == 0 && s->stopped_at)
			sb_info("voice.first_audio", "session=%d after_turn_ms=%lld", s->index, (long long)(now - s->stopped_at));
		send_text(s, msg, (size_t)len);
		free(b64);
		free(msg);
		count_item_bytes(s, r->item, n);
		r->sent += n;
	}
}

/* ---- the caller's turns (worker) ------------------------------------------------------------------------------ */

static void on_speech_started(vsess *s, const sv_ear_result *res)
{
	new_id(s, "item", s->user_item);
	send_ev(s, json_pack("{s:s,s:I,s:s}", "type", "input_audio_buffer.speech_started", "audio_start_ms",
			     (json_int_t)res->start_ms, "item_id", s->user_item));
	if (s->r.active && s->interrupt)
		finish_response(s, "cancelled", "turn_detected");
}

static void on_speech_stopped(vsess *s, const sv_ear_result *res)
{
	s->stopped_at = sb_mono_ms();
	send_ev(s, json_pack("{s:s,s:I,s:s}", "type", "input_audio_buffer.speech_stopped", "audio_end_ms",
			     (json_int_t)res->end_ms, "item_id", s->user_item));
	send_ev(s, json_pack("{s:s,s:s?,s:s}", "type", "input_audio_buffer.committed", "previous_item_id",
			     *s->last_item ? s->last_item : NULL, "item_id", s->user_item));
	snprintf(s->last_item, sizeof s->last_item, "%s", s->user_item);
	if (s->transcribe)
		send_ev(s, json_pack("{s:s,s:s,s:i,s:s}", "type", "conversation.item.input_audio_transcription.completed",
				     "item_id", s->user_item, "content_index", 0, "transcript", res->text));
	sb_info("voice.heard", "session=%d text=\"%s\" confidence=%.4f understood=%d speech_ms=%lld", s->index, res->text,
		res->confidence, res->understood, res->end_ms - res->start_ms);
	if (!s->create_response)
		return;
	if (s->r.active)
		finish_response(s, "cancelled", "turn_detected");
	vp_action a;
	vp_on_utterance(&s->pol, res->text, res->understood, &a);
	s->turns++;
	if (sb_pub_wanted(g_pub)) {
		char at[SB_ISO_LEN];
		sb_publish(g_pub, SB_EV_VOICE_TURN,
			   json_pack("{s:i,s:s?,s:s,s:f,s:b,s:s,s:s?,s:I,s:s}", "session", s->index, "businessId",
				     *s->business_id ? s->business_id : NULL, "text", res->text, "confidence", res->confidence,
				     "understood", res->understood, "intent", a.intent, "tool", *a.tool ? a.tool : NULL,
				     "speechMs", (json_int_t)(res->end_ms - res->start_ms), "at", sb_time_iso(sb_now_ms(), at)));
	}
	respond(s, &a);
}

static void on_append(vsess *s, const char *msg, size_t len)
{
	const char *b;
	size_t bn;
	if (sb_jscan_str(msg, len, "audio", &b, &bn) != 1) {
		send_error(s, "missing_required_parameter", "input_audio_buffer.append needs audio (base64)", NULL);
		return;
	}
	unsigned char *pcmu = malloc(bn / 4 * 3 + 3);
	long n = sb_b64_decode(b, bn, pcmu);
	if (n < 0) {
		send_error(s, "invalid_value", "audio is not valid base64", NULL);
	} else if (s->ear && s->auto_turns) {
		for (long off = 0; off < n; off += 160) {
			sv_ear_result res;
			int ev = sv_ear_feed(s->ear, pcmu + off, (size_t)(n - off < 160 ? n - off : 160), &res);
			if (ev & SV_EAR_STARTED)
				on_speech_started(s, &res);
			if (ev & SV_EAR_STOPPED)
				on_speech_stopped(s, &res);
		}
	}
	free(pcmu);
}

/* ---- the language model's corpus (worker) ---------------------------------------------------------------------- */

static void apply_corpus(vsess *s, const char *knowledge)
{
	char expected[2048];
	vp_expected_phrases(&s->pol, expected, sizeof expected);
	size_t cap = strlen(s->instructions) + strlen(s->tool_text) + strlen(expected) + (knowledge ? strlen(knowledge) : 0) + 8;
	char *corpus = malloc(cap), err[256];
	snprintf(corpus, cap, "%s\n%s\n%s\n%s", s->instructions, s->tool_text, expected, knowledge ? knowledge : "");
	int64_t t0 = sb_mono_us();
	if (sv_ear_set_corpus(s->ear, corpus, err, sizeof err) != 0)
		sb_warn("voice.corpus_failed", "session=%d err=\"%s\"", s->index, err);
	else
		sb_debug("voice.corpus", "session=%d bytes=%zu build_us=%lld", s->index, strlen(corpus),
			 (long long)(sb_mono_us() - t0));
	free(corpus);
}

/* The business's knowledge documents as one text (titles and contents), or NULL. */
static char *fetch_knowledge(vsess *s)
{
	if (!g_store || !*s->business_id)
		return NULL;
	json_t *data = NULL;
	sb_error err;
	if (store_knowledge_list(g_store, json_pack("{s:s,s:i}", "businessId", s->business_id, "limit", 200), &data, &err) != 0) {
		sb_warn("voice.knowledge_unavailable", "session=%d business=%s err=\"%s\"", s->index, s->business_id, err.message);
		return NULL;
	}
	size_t len = 0, i;
	char *text = calloc(1, CORPUS_MAX);
	json_t *doc;
	json_array_foreach(json_object_get(data, "items"), i, doc) {
		const char *t = sb_json_str(doc, "title"), *c = sb_json_str(doc, "content");
		int n = snprintf(text + len, CORPUS_MAX - len, "%s.\n%s\n", t ? t : "", c ? c : "");
		if (n < 0 || len + (size_t)n >= CORPUS_MAX)
			break;
		len += (size_t)n;
	}
	json_decref(data);
	return text;
}

/* ---- client events (worker) -------------------------------------------------------------------------------------- */

static bool is_pcmu(const json_t *fmt)
{
	const char *t = sb_json_str(fmt, "type");
	return !fmt || (t && strcmp(t, "audio/pcmu") == 0);
}

static void on_session_update(vsess *s, json_t *ev, const char *client_ev)
{
	json_t *ses = json_object_get(ev, "session");
	const char *type = sb_json_str(ses, "type");
	const json_t *in = json_object_get(json_object_get(ses, "audio"), "input"),
		     *out = json_object_get(json_object_get(ses, "audio"), "output");
	if (!json_is_object(ses) || (type && strcmp(type, "realtime") != 0)) {
		send_error(s, "invalid_value", "session.type must be \"realtime\" (sb-voice speaks the GA interface)", client_ev);
		return;
	}
	if (!is_pcmu(json_object_get(in, "format")) || !is_pcmu(json_object_get(out, "format"))) {
		send_error(s, "invalid_value", "sb-voice speaks audio/pcmu (G.711 μ-law, 8 kHz) only, both ways", client_ev);
		return;
	}
	const char *ins = sb_json_str(ses, "instructions");
	if (ins)
		snprintf(s->instructions, sizeof s->instructions, "%s", ins);
	json_t *tools = json_object_get(ses, "tools");
	if (tools) {
		size_t i, len = 0;
		json_t *t;
		s->tool_text[0] = '\0';
		json_array_foreach(tools, i, t) {
			const char *d = sb_json_str(t, "description");
			int n = snprintf(s->tool_text + len, sizeof s->tool_text - len, "%s\n", d ? d : "");
			if (n > 0 && len + (size_t)n < sizeof s->tool_text)
				len += (size_t)n;
		}
	}
	if (json_object_get(in, "transcription"))
		s->transcribe = !json_is_null(json_object_get(in, "transcription"));
	json_t *td = json_object_get(in, "turn_detection");
	if (td) {
		s->auto_turns = json_is_object(td);
		if (s->auto_turns) {
			double th = sb_json_num(td, "threshold", 0.5);
			s->silence_ms = (int)sb_json_int(td, "silence_duration_ms", 500);
			s->prefix_ms = (int)sb_json_int(td, "prefix_padding_ms", 300);
			s->vad_mode = cfg.vad_mode >= 0 ? (int)cfg.vad_mode : th < 0.4 ? 1 : th < 0.7 ? 2 : 3;
			json_t *cr = json_object_get(td, "create_response"), *ir = json_object_get(td, "interrupt_response");
			s->create_response = !cr || json_is_true(cr);
			s->interrupt = !ir || json_is_true(ir);
		}
	}
	if (!s->ear) {
		sv_ear_cfg ec = {.vad_mode = s->vad_mode, .prefix_ms = s->prefix_ms, .silence_ms = s->silence_ms,
				 .min_speech_ms = 200, .min_confidence = g_min_conf};
		char err[256];
		if (!(s->ear = sv_ear_new(g_models, &ec, err, sizeof err))) {
			sb_error_log("voice.ear_failed", "session=%d err=\"%s\"", s->index, err);
			send_error(s, "server_error", "the recogniser could not start", client_ev);
			return;
		}
	}
	vp_configure(&s->pol, s->instructions, tools ? tools : NULL, time(NULL));
	apply_corpus(s, NULL);
	s->configured = true;
	json_t *echo = json_deep_copy(ses);
	json_object_set_new(echo, "type", json_string("realtime"));
	json_object_set_new(echo, "object", json_string("realtime.session"));
	send_ev(s, json_pack("{s:s,s:o}", "type", "session.updated", "session", echo));
}

/* Once per session: the business's knowledge into the recogniser's language model. */
static void load_knowledge(vsess *s, const char *business_id)
{
	if (!business_id || !*business_id || s->knowledge_loaded)
		return;
	s->knowledge_loaded = true;
	snprintf(s->business_id, sizeof s->business_id, "%s", business_id);
	char *k = fetch_knowledge(s);
	if (k) {
		apply_corpus(s, k);
		free(k);
	}
}

static void on_response_create(vsess *s, json_t *ev, const char *client_ev)
{
	if (s->r.active) {
		send_error(s, "conversation_already_has_active_response",
			   "Conversation already has an active response in progress", client_ev);
		return;
	}
	const json_t *rq = json_object_get(ev, "response");
	vp_action a;
	const char *biz = sb_json_str(json_object_get(rq, "metadata"), "business_id");
	if (!s->greeted) {
		s->greeted = true;
		vp_greeting(&s->pol, sb_json_str(rq, "instructions"), &a);
		respond(s, &a);
		pump(s); /* the greeting's first audio before the knowledge lookup below */
		load_knowledge(s, biz);
		return;
	}
	load_knowledge(s, biz); /* a session opened after a reconnect has no greeting */
	for (int i = 0; i < s->ncalls; i++)
		if (s->calls[i].output) {
			vp_after_tool(&s->pol, s->calls[i].name, s->calls[i].output, &a);
			for (int k = 0; k < s->ncalls; k++)
				free(s->calls[k].output);
			s->ncalls = 0;
			respond(s, &a);
			return;
		}
	if (*s->typed) {
		vp_on_utterance(&s->pol, s->typed, true, &a);
		s->typed[0] = '\0';
	} else {
		memset(&a, 0, sizeof a);
		snprintf(a.say, sizeof a.say, "How can I help you?");
		snprintf(a.intent, sizeof a.intent, "prompt");
	}
	respond(s, &a);
}

static void on_item_create(vsess *s, json_t *ev, const char *client_ev)
{
	const json_t *item = json_object_get(ev, "item");
	const char *type = sb_json_str(item, "type"), *id = sb_json_str(item, "id");
	char gen[40];
	if (!id) {
		new_id(s, "item", gen);
		id = gen;
	}
	if (type && strcmp(type, "function_call_output") == 0) {
		const char *call_id = sb_json_str(item, "call_id"), *output = sb_json_str(item, "output");
		int i = 0;
		while (call_id && i < s->ncalls && strcmp(s->calls[i].call_id, call_id) != 0)
			i++;
		if (!call_id || i == s->ncalls) {
			send_error(s, "invalid_value", "function_call_output for an unknown call_id", client_ev);
			return;
		}
		free(s->calls[i].output);
		s->calls[i].output = strdup(output ? output : "");
	} else if (type && strcmp(type, "message") == 0) {
		const char *role = sb_json_str(item, "role");
		const json_t *c0 = json_array_get(json_object_get(item, "content"), 0);
		const char *text = sb_json_str(c0, "text");
		if (role && strcmp(role, "user") == 0 && text) {
			char norm[512];
			sv_normalize(text, norm, sizeof norm);
			snprintf(s->typed, sizeof s->typed, "%s", norm);
		}
		if (role && strcmp(role, "assistant") == 0)
			s->greeted = true; /* replayed history: the greeting was said before */
	} else if (!type || strcmp(type, "function_call") != 0) {
		send_error(s, "invalid_value", "conversation.item.create: item.type must be message, function_call or function_call_output", client_ev);
		return;
	}
	send_ev(s, json_pack("{s:s,s:s?,s:O}", "type", "conversation.item.added", "previous_item_id",
			     *s->last_item ? s->last_item : NULL, "item", item));
	snprintf(s->last_item, sizeof s->last_item, "%s", id);
}

static void on_truncate(vsess *s, json_t *ev, const char *client_ev)
{
	const char *item = sb_json_str(ev, "item_id");
	json_int_t end = sb_json_int(ev, "audio_end_ms", -1);
	for (int i = s->nitems - 1; item && i >= 0; i--)
		if (strcmp(s->items[i].id, item) == 0) {
			if (end < 0 || end > s->items[i].bytes / 8) {
				send_error(s, "invalid_value", "audio_end_ms is past the audio sent for this item", client_ev);
				return;
			}
			if (s->r.active && strcmp(s->r.item, item) == 0)
				finish_response(s, "cancelled", "client_cancelled");
			send_ev(s, json_pack("{s:s,s:s,s:i,s:I}", "type", "conversation.item.truncated", "item_id", item,
					     "content_index", 0, "audio_end_ms", end));
			return;
		}
	send_error(s, "item_truncate_invalid_item_id", "no assistant audio item with that id", client_ev);
}

static void on_event(vsess *s, const qmsg *q)
{
	const char *msg = q->buf, *t;
	size_t len = q->len;
	if (q->kind == SB_WSRX_BINARY) {
		send_error(s, "invalid_value", "binary frames are not Realtime events: send JSON text frames", NULL);
		return;
	}
	if (q->kind == SB_WSRX_OVERSIZED) {
		send_error(s, "invalid_value", "event too large (limit 1 MiB)", NULL);
		return;
	}
	size_t tn;
	if (sb_jscan_str(msg, len, "type", &t, &tn) == 1 && sb_jscan_eq(t, tn, "input_audio_buffer.append")) {
		on_append(s, msg, len);
		return;
	}
	sb_error err;
	json_t *ev = sb_json_parse(msg, len, MSG_MAX, &err);
	const char *type = ev ? sb_json_str(ev, "type") : NULL, *cid = ev ? sb_json_str(ev, "event_id") : NULL;
	if (!ev)
		send_error(s, "invalid_json", err.message, NULL);
	else if (!type)
		send_error(s, "missing_required_parameter", "every client event needs a string \"type\"", cid);
	else if (strcmp(type, "session.update") == 0)
		on_session_update(s, ev, cid);
	else if (!s->configured)
		send_error(s, "session_not_configured", "send session.update first", cid);
	else if (strcmp(type, "response.create") == 0)
		on_response_create(s, ev, cid);
	else if (strcmp(type, "conversation.item.create") == 0)
		on_item_create(s, ev, cid);
	else if (strcmp(type, "conversation.item.truncate") == 0)
		on_truncate(s, ev, cid);
	else if (strcmp(type, "response.cancel") == 0) {
		if (s->r.active)
			finish_response(s, "cancelled", "client_cancelled");
		else
			send_error(s, "response_cancel_not_active", "there is no active response to cancel", cid);
	} else if (strcmp(type, "input_audio_buffer.clear") == 0)
		send_ev(s, json_pack("{s:s}", "type", "input_audio_buffer.cleared"));
	else if (strcmp(type, "input_audio_buffer.commit") == 0)
		send_error(s, "unsupported_event", "sb-voice detects turns itself: use server_vad turn detection, not commit", cid);
	else {
		char m[160];
		snprintf(m, sizeof m, "sb-voice does not support the client event \"%.100s\"", type);
		send_error(s, "unsupported_event", m, cid);
	}
	json_decref(ev);
}

/* ---- the worker ------------------------------------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
	vsess *s = arg;
	for (;;) {
		long wait = pump(s);
		pthread_mutex_lock(&s->mu);
		if (!s->in.head && !s->gone) {
			if (wait < 0) {
				pthread_cond_wait(&s->cv, &s->mu);
			} else if (wait > 0) {
				struct timespec ts = sb_timespec_in(CLOCK_MONOTONIC, wait);
				pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			}
		}
		bool gone = s->gone;
		queue batch = s->in;
		s->in.head = s->in.tail = NULL;
		s->in_bytes = 0;
		pthread_mutex_unlock(&s->mu);
		for (qmsg *m; (m = q_pop(&batch));) {
			if (!gone)
				on_event(s, m);
			free(m);
		}
		if (gone)
			break;
	}
	sb_info("voice.session_end", "session=%d turns=%d", s->index, s->turns);
	if (sb_pub_wanted(g_pub)) {
		char at[SB_ISO_LEN];
		sb_publish(g_pub, SB_EV_VOICE_SESSION_ENDED,
			   json_pack("{s:i,s:i,s:s}", "session", s->index, "turns", s->turns, "at", sb_time_iso(sb_now_ms(), at)));
	}
	sess_unref(s);
	pthread_mutex_lock(&g_mu);
	g_workers--;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
	return NULL;
}

/* ---- the event loop --------------------------------------------------------------------------------------------------- */

static int check_request(struct lws *wsi)
{
	char uri[256];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strncmp(uri, "/v1/realtime", 12) != 0 ||
	    (uri[12] && uri[12] != '?')) {
		sb_warn("voice.refused", "reason=path uri=\"%.100s\"", uri);
		return -1;
	}
	if (cfg.api_key && *cfg.api_key) {
		char got[512], want[512];
		snprintf(want, sizeof want, "Bearer %s", cfg.api_key);
		if (lws_hdr_copy(wsi, got, sizeof got, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 || strcmp(got, want) != 0) {
			sb_warn("voice.refused", "reason=unauthorized");
			return -1;
		}
	}
	if (g_sessions >= cfg.max_sessions) {
		sb_warn("voice.refused", "reason=max_sessions limit=%ld", cfg.max_sessions);
		return -1;
	}
	return 0;
}

static int on_established(struct lws *wsi, vsess **slot)
{
	vsess *s = calloc(1, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->refs = 2;
	s->wsi = wsi;
	s->index = g_index++;
	s->auto_turns = s->create_response = s->interrupt = true;
	s->silence_ms = 500;
	s->prefix_ms = 300;
	s->vad_mode = cfg.vad_mode >= 0 ? (int)cfg.vad_mode : 2;
	s->rx.max = MSG_MAX;
	s->rx.text_only = true;
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&g_mu);
	g_workers++;
	pthread_mutex_unlock(&g_mu);
	if (pthread_create(&th, &at, worker_main, s) != 0) {
		pthread_attr_destroy(&at);
		pthread_mutex_lock(&g_mu);
		g_workers--;
		pthread_mutex_unlock(&g_mu);
		s->refs = 1;
		sess_unref(s);
		return -1;
	}
	pthread_attr_destroy(&at);
	*slot = s;
	s->next_live = g_live;
	g_live = s;
	g_sessions++;
	sb_info("voice.session_start", "session=%d sessions=%d", s->index, g_sessions);
	if (sb_pub_wanted(g_pub)) {
		char when[SB_ISO_LEN];
		sb_publish(g_pub, SB_EV_VOICE_SESSION_STARTED, json_pack("{s:i,s:i,s:s}", "session", s->index, "sessions",
									 g_sessions, "at", sb_time_iso(sb_now_ms(), when)));
	}
	char created[256];
	int n = snprintf(created, sizeof created,
			 "{\"type\":\"session.created\",\"event_id\":\"event_%d_0\",\"session\":{\"type\":\"realtime\","
			 "\"object\":\"realtime.session\",\"id\":\"sess_voice_%d\",\"model\":\"sb-voice\"}}",
			 s->index, s->index);
	send_text(s, created, (size_t)n);
	return 0;
}

static void on_closed(vsess *s)
{
	for (vsess **p = &g_live; *p; p = &(*p)->next_live)
		if (*p == s) {
			*p = s->next_live;
			break;
		}
	g_sessions--;
	pthread_mutex_lock(&s->mu);
	s->gone = true;
	s->wsi = NULL;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	sess_unref(s);
}

static void on_receive(vsess *s, struct lws *wsi, const char *in, size_t len)
{
	const char *msg = "";
	size_t n = 0;
	int kind = sb_wsrx_feed(&s->rx, wsi, in, len, &msg, &n);
	if (kind != SB_WSRX_MESSAGE && kind != SB_WSRX_BINARY && kind != SB_WSRX_OVERSIZED)
		return; /* a fragment: more to come */
	if (kind != SB_WSRX_MESSAGE)
		n = 0; /* the worker answers with an error */
	qmsg *m = malloc(sizeof *m + n + 1);
	m->kind = kind == SB_WSRX_MESSAGE ? 0 : kind;
	m->len = n;
	memcpy(m->buf, msg, n);
	m->buf[n] = '\0';
	pthread_mutex_lock(&s->mu);
	bool full = s->in_bytes + n > IN_MAX_BYTES;
	if (!full) {
		q_push(&s->in, m);
		s->in_bytes += n;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (full) {
		free(m);
		if (s->dropped++ % 100 == 0)
			sb_warn("voice.overloaded", "session=%d dropped=%ld", s->index, s->dropped);
	}
}

static int on_writeable(vsess *s, struct lws *wsi)
{
	pthread_mutex_lock(&s->mu);
	qmsg *m = q_pop(&s->out);
	bool more = s->out.head != NULL;
	pthread_mutex_unlock(&s->mu);
	if (!m)
		return 0;
	int rc = lws_write(wsi, (unsigned char *)m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len ? -1 : 0;
	free(m);
	if (more && rc == 0)
		lws_callback_on_writable(wsi);
	return rc;
}

static volatile int g_stopping;
static lws_sorted_usec_list_t g_sul_stop;

static void destroy_cb(lws_sorted_usec_list_t *sul)
{
	lws_context_destroy(g_ctx);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	vsess **slot = user;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return check_request(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(wsi, slot);
	case LWS_CALLBACK_RECEIVE:
		if (*slot)
			on_receive(*slot, wsi, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return *slot ? on_writeable(*slot, wsi) : 0;
	case LWS_CALLBACK_CLOSED:
		if (*slot)
			on_closed(*slot);
		*slot = NULL;
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* a worker queued events: ask for writability where there is something to send */
		for (vsess *s = g_live; s; s = s->next_live) {
			pthread_mutex_lock(&s->mu);
			bool pending = s->out.head != NULL;
			pthread_mutex_unlock(&s->mu);
			if (pending)
				lws_callback_on_writable(s->wsi);
		}
		if (g_stopping)
			lws_sul_schedule(g_ctx, 0, &g_sul_stop, destroy_cb, 1);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{"realtime", callback, sizeof(vsess *), 65536, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static pthread_t g_loop;

static void *loop_main(void *arg)
{
	int n = 0;
	while (n >= 0 && !g_stopping)
		n = lws_service(g_ctx, 0);
	lws_context_destroy(g_ctx);
	return NULL;
}

/* ---- one-shot: --say ------------------------------------------------------------------------------------------------------ */

/* The spoken text as a μ-law WAV, without the synthesiser's leading and
 * trailing silence, so that "the caller stopped talking" is the file's end
 * (sb-callsim measures turn latency from there). */
static int say_once(void)
{
	resp r = {0};
	int rc = sv_say(cfg.voice, cfg.say, collect_audio, &r);
	size_t a = 0, b = r.len;
	while (a < b && abs(sb_ulaw_decode(r.audio[a])) < 300)
		a++;
	while (b > a && abs(sb_ulaw_decode(r.audio[b - 1])) < 300)
		b--;
	FILE *f = rc == 0 && b > a ? fopen(cfg.say_out, "wb") : NULL;
	if (!f) {
		sb_error_log("voice.say_failed", "file=%s voice=%s err=\"%s\"", cfg.say_out, cfg.voice,
			     rc ? "unknown voice" : b > a ? strerror(errno) : "no audio");
		free(r.audio);
		return -1;
	}
	uint32_t data = (uint32_t)(b - a), riff = 38 + data, fmt = 18, rate = 8000, bps = 8000;
	uint16_t tag = 7, ch = 1, align = 1, bits = 8, ext = 0;
	fwrite("RIFF", 1, 4, f), fwrite(&riff, 4, 1, f), fwrite("WAVEfmt ", 1, 8, f), fwrite(&fmt, 4, 1, f);
	fwrite(&tag, 2, 1, f), fwrite(&ch, 2, 1, f), fwrite(&rate, 4, 1, f), fwrite(&bps, 4, 1, f);
	fwrite(&align, 2, 1, f), fwrite(&bits, 2, 1, f), fwrite(&ext, 2, 1, f);
	fwrite("data", 1, 4, f), fwrite(&data, 4, 1, f);
	fwrite(r.audio + a, 1, data, f);
	free(r.audio);
	if (fclose(f) != 0) {
		sb_error_log("voice.say_failed", "file=%s err=\"%s\"", cfg.say_out, strerror(errno));
		return -1;
	}
	sb_info("voice.said", "file=%s ms=%u", cfg.say_out, data / 8);
	return 0;
}

/* ---- daemon hooks ------------------------------------------------------------------------------------------------------------ */

static int voice_check(void *arg)
{
	char *end;
	g_min_conf = strtod(cfg.min_conf, &end);
	if (*end || g_min_conf < 0 || g_min_conf > 1) {
		fprintf(stderr, "sb-voice: --min-confidence must be a number from 0 to 1\n");
		return -1;
	}
	if (cfg.say && !cfg.say_out) {
		fprintf(stderr, "sb-voice: --say needs --say-out FILE\n");
		return -1;
	}
	return 0;
}

static int voice_init(void *arg)
{
	if (cfg.say) {
		int rc = say_once();
		sb_daemon_stop();
		return rc;
	}
	char hmm[1024], dict[1024], err[512];
	snprintf(hmm, sizeof hmm, "%s/en-us", cfg.model_dir);
	snprintf(dict, sizeof dict, "%s/cmudict-en-us.dict", cfg.model_dir);
	if (mkdir(cfg.work_dir, 0700) != 0 && errno != EEXIST) {
		sb_error_log("voice.work_dir", "dir=%s err=\"%s\"", cfg.work_dir, strerror(errno));
		return -1;
	}
	int64_t t0 = sb_mono_ms();
	if (!(g_models = sv_models_load(hmm, dict, cfg.work_dir, err, sizeof err))) {
		sb_error_log("voice.models_failed", "dir=%s err=\"%s\"", cfg.model_dir, err);
		return -1;
	}
	sb_error e;
	sb_client_opts so = {.timeout_ms = (int)cfg.knowledge_timeout_ms, .resend_ms = (int)cfg.knowledge_timeout_ms};
	if (cfg.store_url && *cfg.store_url && !(g_store = sb_client_open(cfg.store_url, &so, &e)))
		sb_warn("voice.no_store", "url=%s err=\"%s\" hint=\"answers without the business's knowledge in the recogniser\"",
			cfg.store_url, e.message);
	if (!(g_pub = sb_pub_open(cfg.events, &e))) {
		sb_error_log("voice.events_failed", "url=%s err=\"%s\"", cfg.events, e.message);
		return -1;
	}
	char host[128];
	const char *colon = strrchr(cfg.listen, ':');
	if (!colon || (size_t)(colon - cfg.listen) >= sizeof host) {
		sb_error_log("voice.bad_listen", "listen=%s", cfg.listen);
		return -1;
	}
	snprintf(host, sizeof host, "%.*s", (int)(colon - cfg.listen), cfg.listen);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = atoi(colon + 1);
	info.iface = host;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.pt_serv_buf_size = 65536;
	if (!(g_ctx = lws_create_context(&info))) {
		sb_error_log("voice.listen_failed", "listen=%s", cfg.listen);
		return -1;
	}
	pthread_create(&g_loop, NULL, loop_main, NULL);
	sb_info("voice.listening", "listen=%s path=/v1/realtime voice=%s models_ms=%lld", cfg.listen, cfg.voice,
		(long long)(sb_mono_ms() - t0));
	return 0;
}

static void voice_fini(void *arg)
{
	if (g_ctx) {
		g_stopping = 1;
		lws_cancel_service(g_ctx);
		pthread_join(g_loop, NULL);
		g_ctx = NULL;
	}
	/* every connection is closed now: wait for the workers to let go */
	pthread_mutex_lock(&g_mu);
	while (g_workers > 0)
		pthread_cond_wait(&g_cv, &g_mu);
	pthread_mutex_unlock(&g_mu);
	if (g_store)
		sb_client_close(g_store);
	if (g_pub)
		sb_pub_close(g_pub);
	if (g_models)
		sv_models_free(g_models);
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-voice",
		.summary = "offline voice engine: OpenAI Realtime GA on loopback, with pocketsphinx, a dialogue policy and flite",
		.flags = flags,
		.check = voice_check,
		.init = voice_init,
		.fini = voice_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
