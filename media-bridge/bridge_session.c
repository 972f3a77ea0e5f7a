/*
 * bridge_session.c — one call's life: pre-warm, attach, relay, barge-in,
 * turns, faults, end. Runs on the loop thread only.
 *
 * States: PREPARED (model session opening, no stream yet) → STREAMING (Twilio
 * `start` accepted) → ENDING (both sockets closing; the call is freed once
 * the Twilio socket is gone). The model side has its own states
 * (bridge.h model_state): CONNECTING → OPEN (session.created) → CONFIGURED
 * (session.update sent; caller audio flows) → READY (session.updated; the
 * greeting is requested) and BACKOFF between reconnects.
 *
 * Audio to the caller is forwarded in whole 160-byte frames, with a mark
 * every 100 ms (bridge_marks.c); before `start` it is held (bounded).
 * Transcript lines get a per-call seq in conversation order: a seq is
 * reserved when the item appears (input committed / output item added) and
 * filled when its text arrives, so a late caller transcription still lands
 * before the answer it triggered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "sb_base64.h"
#include "sb_jscan.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

static void reap_cb(lws_sorted_usec_list_t *sul);
static void start_model_side(bridge_call *c);

static void iso_now(char out[SB_ISO_LEN])
{
	sb_time_iso(sb_now_ms(), out);
}

/* ---- start ------------------------------------------------------------------------------------- */

bridge_call *session_prepare(const json_t *args)
{
	const char *sid = sb_json_str(args, "callSid");
	if (!sid || bridge_draining())
		return NULL;
	bridge_call *c = bridge_call_by_sid(sid);
	if (c)
		return c; /* a resent prepare */
	if (bridge_call_count() >= g_cfg.max_calls)
		return NULL;
	const char *dir = sb_json_str(args, "direction");
	if (!(c = bridge_call_new(sid, dir && strcmp(dir, "outbound") == 0)))
		return NULL;
	snprintf(c->business_id, sizeof c->business_id, "%s", sb_json_str(args, "businessId") ? sb_json_str(args, "businessId") : "");
	snprintf(c->payer_id, sizeof c->payer_id, "%s", sb_json_str(args, "payerId") ? sb_json_str(args, "payerId") : "");
	snprintf(c->from, sizeof c->from, "%s", sb_json_str(args, "from") ? sb_json_str(args, "from") : "");
	snprintf(c->to, sizeof c->to, "%s", sb_json_str(args, "to") ? sb_json_str(args, "to") : "");
	sb_info("bridge.prepared", "call=%s direction=%s", c->call_sid, c->outbound ? "outbound" : "inbound");
	start_model_side(c);
	return c;
}

typedef struct ctx_req {
	uint64_t call_id;
	char     what[16];
} ctx_req;

static void ctx_reply(void *arg, int rc, json_t *data, const sb_error *err)
{
	ctx_req *r = arg;
	bridge_msg *m = calloc(1, sizeof *m);
	m->kind = MSG_CONTEXT;
	m->call_id = r->call_id;
	m->rc = rc;
	m->data = data;
	if (err)
		m->err = *err;
	snprintf(m->ref, sizeof m->ref, "%s", r->what);
	free(r);
	bridge_post(m);
}

static void ctx_fetch(bridge_call *c, int op, const char *what, json_t *args)
{
	ctx_req *r = calloc(1, sizeof *r);
	r->call_id = c->id;
	snprintf(r->what, sizeof r->what, "%s", what);
	sb_client_call_async(bridge_store(), &SB_SVC_STORE, op, args, ctx_reply, r);
}

/* Business config + business (inbound) or payer (outbound), fetched in parallel with the model connect. */
static void load_context(bridge_call *c)
{
	c->context = json_object();
	int n = 0;
	if (c->outbound && c->payer_id[0]) {
		ctx_fetch(c, SB_STORE_PAYERS_GET, "payer", json_pack("{s:s}", "id", c->payer_id));
		n++;
	}
	if (c->business_id[0]) {
		ctx_fetch(c, SB_STORE_CONFIG_GET, "config", json_pack("{s:s}", "businessId", c->business_id));
		ctx_fetch(c, SB_STORE_BUSINESSES_GET, "business", json_pack("{s:s}", "id", c->business_id));
		n += 2;
	}
	json_object_set_new(c->context, "_pending", json_integer(n));
	if (n == 0)
		session_context_loaded(c, NULL);
}

static void start_model_side(bridge_call *c)
{
	load_context(c);
	model_connect(c);
}

void session_context_loaded(bridge_call *c, bridge_msg *m)
{
	if (m) {
		if (m->rc == 0 && m->data) {
			json_object_set(c->context, m->ref, m->data);
		} else {
			sb_warn("bridge.context_failed", "call=%s what=%s code=%s", c->call_sid, m->ref, sb_code_name(m->err.code));
		}
		json_int_t left = json_integer_value(json_object_get(c->context, "_pending")) - 1;
		json_object_set_new(c->context, "_pending", json_integer(left));
		if (left > 0)
			return;
	}
	c->context_done = true;
	session_configure(c);
}

void session_configure(bridge_call *c)
{
	if (!c->context_done || c->mstate != MODEL_OPEN || c->ended)
		return;
	model_send_json(c, instructions_session_update(c));
	c->mstate = MODEL_CONFIGURED;
	if (c->replay_due)
		session_replay(c);
	unsigned char *p;
	size_t n;
	while (msgq_front(&c->pending_audio, &p, &n, NULL)) {
		model_send(c, (const char *)p, n);
		msgq_pop(&c->pending_audio);
	}
	msgq_free(&c->pending_audio);
}

void session_model_ready(bridge_call *c)
{
	if (c->mstate != MODEL_CONFIGURED)
		return;
	c->mstate = MODEL_READY;
	c->session_started_ms = sb_mono_ms();
	sb_histogram_observe(g_m.connect_ms, (double)(c->session_started_ms - c->model_connect_start_ms));
	if (c->attempt)
		sb_info("bridge.model_resumed", "call=%s attempt=%d replayed=%d", c->call_sid, c->attempt, c->nhistory);
	c->attempt = 0;
	c->replay_due = false;
	if (!c->greeted) {
		c->greeted = true;
		session_request_response(c, instructions_greeting(c));
	}
}

/* Forward held audio (greeting before `start`) now that we have the streamSid. */
static void flush_early(bridge_call *c);
static void frame_out(bridge_call *c, int slot, const unsigned char *p, size_t n);

void session_started(bridge_call *c)
{
	char at[SB_ISO_LEN];
	c->state = CALL_STREAMING;
	c->have_start = true;
	c->started_ms = c->last_caller_audio_ms = sb_mono_ms();
	sb_counter_inc(g_m.calls_total);
	iso_now(at);
	store_write(SB_STORE_CALLS_CREATE, json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s,s:s,s:s}", "callSid", c->call_sid,
		"direction", c->outbound ? "outbound" : "inbound", "businessId", c->business_id[0] ? c->business_id : NULL,
		"payerId", c->payer_id[0] ? c->payer_id : NULL, "from", c->from[0] ? c->from : NULL,
		"to", c->to[0] ? c->to : NULL, "status", "in-progress", "streamSid", c->stream_sid, "startedAt", at));
	store_write(SB_STORE_CALLS_UPDATE_STATUS, json_pack("{s:s,s:s,s:s}", "callSid", c->call_sid, "status", "in-progress",
		"streamSid", c->stream_sid));
	if (c->outbound && c->payer_id[0])
		store_write(SB_STORE_PAYERS_UPDATE, json_pack("{s:s,s:s}", "id", c->payer_id, "lastOutreachStatus", "CALL_CONNECTED_TO_AI"));
	sb_info("bridge.call_started", "call=%s stream=%s direction=%s prewarmed=%s", c->call_sid, c->stream_sid,
		c->outbound ? "outbound" : "inbound", c->mstate != MODEL_NONE ? "yes" : "no");
	if (c->mstate == MODEL_NONE && !c->context)
		start_model_side(c);
	flush_early(c);
}

/* ---- audio to the caller ------------------------------------------------------------------------- */

/* Send n bytes (multiple of 160) of item `slot`, cutting so a mark lands every 100 ms. */
static void forward(bridge_call *c, int slot, const unsigned char *p, size_t n)
{
	int64_t now = sb_mono_ms();
	while (n > 0 && c->tw) {
		size_t room = MARKS_EVERY_BYTES - (c->marks.sent_pos - c->marks.last_mark_pos) % MARKS_EVERY_BYTES;
		size_t k = n < room ? n : room;
		k = k / 160 * 160;
		if (k == 0)
			k = 160;
		if (twilio_send_media(c, p, k) < 0)
			return;
		marks_sent(&c->marks, slot, (uint32_t)k, now);
		char name[MARKS_NAME_MAX];
		if (marks_due(&c->marks) && marks_add(&c->marks, name) == 0)
			twilio_send_mark(c, name);
		p += k;
		n -= k;
	}
}

/* Whole frames: to Twilio once `start` is in, else held (bounded) until it is. */
static void frame_out(bridge_call *c, int slot, const unsigned char *p, size_t n)
{
	if (c->have_start) {
		forward(c, slot, p, n);
		return;
	}
	c->early_slot = slot;
	if (bbuf_add(&c->early_audio, p, n) < 0)
		sb_warn("bridge.early_audio_full", "call=%s bytes=%zu", c->call_sid, c->early_audio.len);
}

static void flush_early(bridge_call *c)
{
	if (c->early_audio.len)
		forward(c, c->early_slot, bbuf_data(&c->early_audio), c->early_audio.len);
	bbuf_free(&c->early_audio);
}

/* Frame bytes: complete the pending partial frame, forward whole frames, keep the rest. */
static void frame_audio(bridge_call *c, int slot, const unsigned char *p, size_t n)
{
	if (c->rem_len && c->rem_slot != slot)
		c->rem_len = 0; /* a new item: its predecessor's tail was flushed at output_audio.done */
	c->rem_slot = slot;
	if (c->rem_len) {
		size_t k = 160 - c->rem_len < n ? 160 - c->rem_len : n;
		memcpy(c->rem + c->rem_len, p, k);
		c->rem_len += k, p += k, n -= k;
		if (c->rem_len < 160)
			return;
		c->rem_len = 0;
		frame_out(c, slot, c->rem, 160);
	}
	size_t whole = n / 160 * 160;
	if (whole)
		frame_out(c, slot, p, whole);
	memcpy(c->rem, p + whole, n - whole);
	c->rem_len = n - whole;
}

void session_model_audio(bridge_call *c, const char *resp_id, size_t rlen, const char *item_id, size_t ilen,
			 int content_index, const char *b64, size_t n)
{
	if (c->ended || (rlen && sb_jscan_eq(resp_id, rlen, c->drop_resp)) || ilen == 0 || ilen >= MARKS_ID_MAX)
		return; /* late deltas of an interrupted response are dropped */
	unsigned char stack[8192], *buf = stack, *heap = NULL;
	if (sb_b64_decoded_max(n) > sizeof stack && !(buf = heap = malloc(sb_b64_decoded_max(n))))
		return;
	long len = sb_b64_decode(b64, n, buf);
	char id[MARKS_ID_MAX];
	memcpy(id, item_id, ilen);
	id[ilen] = '\0';
	int64_t now = sb_mono_ms();
	int slot = len > 0 ? marks_item_slot(&c->marks, id, content_index, now) : -1;
	if (slot >= 0) {
		if (c->awaiting_first_audio) {
			c->awaiting_first_audio = false;
			sb_histogram_observe(g_m.ttfa_ms, (double)(now - c->speech_end_ms));
		}
		marks_produced(&c->marks, slot, (uint32_t)len);
		frame_audio(c, slot, buf, (size_t)len);
	} else {
		sb_counter_inc(g_m.dropped_msgs);
	}
	free(heap);
}

void session_audio_done(bridge_call *c)
{
	if (c->ended)
		return;
	if (c->rem_len) {
		memset(c->rem + c->rem_len, 0xFF, 160 - c->rem_len); /* pad the tail with μ-law silence */
		c->rem_len = 0;
		frame_out(c, c->rem_slot, c->rem, 160);
	}
	char name[MARKS_NAME_MAX];
	if (c->have_start && c->tw && c->marks.sent_pos != c->marks.last_mark_pos && marks_add(&c->marks, name) == 0)
		twilio_send_mark(c, name);
}

void session_mark(bridge_call *c, const char *name, size_t n)
{
	if (marks_echo(&c->marks, name, n, sb_mono_ms()) < 0)
		sb_debug("bridge.mark_unknown", "call=%s", c->call_sid);
}

/* ---- barge-in ------------------------------------------------------------------------------------ */

static void barge_in(bridge_call *c)
{
	int64_t now = sb_mono_ms();
	if (c->ended || !c->tw || !marks_outstanding(&c->marks, now))
		return;
	uint32_t played = marks_played(&c->marks, now), sent = c->marks.sent_pos;
	marks_trunc t[MARKS_ITEMS];
	twilio_send_clear(c);
	c->rem_len = 0;
	int n = marks_barge_in(&c->marks, now, t, MARKS_ITEMS);
	for (int i = 0; i < n; i++) {
		model_send_json(c, json_pack("{s:s,s:s,s:i,s:i}", "type", "conversation.item.truncate", "item_id", t[i].item_id,
					     "content_index", t[i].content_index, "audio_end_ms", (int)t[i].audio_end_ms));
		sb_counter_inc(g_m.truncations);
	}
	c->barge_ins++;
	sb_counter_inc(g_m.barge_ins);
	sb_info("bridge.barge_in", "call=%s played_ms=%u sent_ms=%u truncated=%d item=%s end_ms=%u", c->call_sid,
		played / 8, sent / 8, n, n ? t[0].item_id : "-", n ? t[0].audio_end_ms : 0);
	bridge_publish(SB_EV_BRIDGE_BARGE_IN, json_pack("{s:s,s:i,s:i,s:s?}", "callSid", c->call_sid,
		"playedMs", (int)(played / 8), "sentMs", (int)(sent / 8), "itemId", n ? t[0].item_id : NULL));
}

static void debounce_cb(lws_sorted_usec_list_t *sul)
{
	bridge_call *c = lws_container_of(sul, bridge_call, sul_debounce);
	if (c->speaking)
		barge_in(c);
}

void session_speech_started(bridge_call *c)
{
	c->speaking = true;
	c->awaiting_first_audio = false;
	if (c->resp_active && c->active_resp[0]) /* the server cancels it (interrupt_response): drop its tail */
		snprintf(c->drop_resp, sizeof c->drop_resp, "%s", c->active_resp);
	if (!marks_outstanding(&c->marks, sb_mono_ms()))
		return;
	if (g_cfg.debounce_ms == 0)
		barge_in(c);
	else
		lws_sul_schedule(bridge_ctx(), 0, &c->sul_debounce, debounce_cb, g_cfg.debounce_ms * LWS_US_PER_MS);
}

void session_speech_stopped(bridge_call *c)
{
	c->speaking = false;
	lws_sul_cancel(&c->sul_debounce);
	c->speech_end_ms = sb_mono_ms();
	c->awaiting_first_audio = true;
}

/* ---- caller input ------------------------------------------------------------------------------------ */

void session_dtmf(bridge_call *c, const char *digit)
{
	char text[96];
	if (strlen(digit) != 1 || !strchr("0123456789*#ABCD", digit[0]))
		return;
	snprintf(text, sizeof text, "[The caller pressed %s on the phone keypad.]", digit);
	model_send_json(c, json_pack("{s:s,s:{s:s,s:s,s:[{s:s,s:s}]}}", "type", "conversation.item.create", "item",
		"type", "message", "role", "user", "content", "type", "input_text", "text", text));
	session_line(c, NULL, "user", text);
	session_request_response(c, NULL);
}

/* ---- transcript ----------------------------------------------------------------------------------------- */

void session_reserve(bridge_call *c, const char *item_id)
{
	if (!item_id)
		return;
	for (int i = 0; i < c->nreserved; i++)
		if (strcmp(c->reserved[i].item_id, item_id) == 0)
			return;
	if (c->nreserved == BR_MAX_RESERVED) {
		memmove(&c->reserved[0], &c->reserved[1], (BR_MAX_RESERVED - 1) * sizeof c->reserved[0]);
		c->nreserved--;
	}
	snprintf(c->reserved[c->nreserved].item_id, sizeof c->reserved[0].item_id, "%s", item_id);
	c->reserved[c->nreserved++].seq = c->next_seq++;
}

static uint32_t take_seq(bridge_call *c, const char *item_id)
{
	for (int i = 0; item_id && i < c->nreserved; i++)
		if (strcmp(c->reserved[i].item_id, item_id) == 0) {
			uint32_t seq = c->reserved[i].seq;
			memmove(&c->reserved[i], &c->reserved[i + 1], (size_t)(c->nreserved - i - 1) * sizeof c->reserved[0]);
			c->nreserved--;
			return seq;
		}
	return c->next_seq++;
}

static void remember(bridge_call *c, const char *role, const char *text)
{
	if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
		return;
	if (c->nhistory == BR_HISTORY) {
		free(c->history[0].role);
		free(c->history[0].text);
		memmove(&c->history[0], &c->history[1], (BR_HISTORY - 1) * sizeof c->history[0]);
		c->nhistory--;
	}
	c->history[c->nhistory].role = strdup(role);
	c->history[c->nhistory++].text = strdup(text);
}

void session_line(bridge_call *c, const char *item_id, const char *role, const char *text)
{
	uint32_t seq = take_seq(c, item_id);
	if (!text || !*text)
		return;
	char at[SB_ISO_LEN];
	iso_now(at);
	store_write(SB_STORE_CALLS_APPEND_TRANSCRIPT, json_pack("{s:s,s:i,s:s,s:o,s:s}", "callSid", c->call_sid,
		"seq", (int)seq, "role", role, "text", sb_json_stringn_lossy(text, strlen(text) > 20000 ? 20000 : strlen(text)), "at", at));
	remember(c, role, text);
}

void session_replay(bridge_call *c)
{
	for (int i = 0; i < c->nhistory; i++) {
		bool user = strcmp(c->history[i].role, "user") == 0;
		model_send_json(c, json_pack("{s:s,s:{s:s,s:s,s:[{s:s,s:s}]}}", "type", "conversation.item.create", "item",
			"type", "message", "role", c->history[i].role, "content",
			"type", user ? "input_text" : "output_text", "text", c->history[i].text));
	}
}

/* ---- responses ------------------------------------------------------------------------------------------- */

void session_request_response(bridge_call *c, json_t *response)
{
	if (c->resp_active || c->mstate != MODEL_READY) {
		c->create_pending = true;
		json_decref(response);
		return;
	}
	json_t *ev = json_pack("{s:s}", "type", "response.create"), *meta = instructions_metadata(c);
	if (!response)
		response = json_object();
	if (json_object_size(meta) && !json_object_get(response, "metadata"))
		json_object_set(response, "metadata", meta);
	json_decref(meta);
	if (json_object_size(response))
		json_object_set_new(ev, "response", response);
	else
		json_decref(response);
	c->resp_active = true; /* until response.done: no second create can race this one */
	c->active_resp[0] = '\0';
	c->create_pending = false;
	model_send_json(c, ev);
}

void session_response_created(bridge_call *c, const char *resp_id)
{
	c->resp_active = true;
	snprintf(c->active_resp, sizeof c->active_resp, "%s", resp_id ? resp_id : "");
	if (!c->speaking)
		c->drop_resp[0] = '\0';
}

static void count_usage(bridge_call *c, const json_t *usage)
{
	json_int_t in = sb_json_int(usage, "input_tokens", 0), out = sb_json_int(usage, "output_tokens", 0);
	if (in > 0) {
		c->tokens_in += (uint64_t)in;
		sb_counter_add(g_m.tokens_in, (uint64_t)in);
	}
	if (out > 0) {
		c->tokens_out += (uint64_t)out;
		sb_counter_add(g_m.tokens_out, (uint64_t)out);
	}
}

void session_response_done(bridge_call *c, const json_t *response)
{
	const char *id = sb_json_str(response, "id"), *status = sb_json_str(response, "status");
	count_usage(c, json_object_get(response, "usage"));
	c->resp_active = false;
	c->active_resp[0] = '\0';
	tools_on_response_done(c, id ? id : "", status ? status : "completed");
	if (c->hangup_after_response && status && strcmp(status, "completed") == 0)
		c->hangup_ready = true;
	if (c->create_pending && !c->resp_active)
		session_request_response(c, NULL);
}

/* ---- faults -------------------------------------------------------------------------------------------------- */

static void reconnect_cb(lws_sorted_usec_list_t *sul)
{
	bridge_call *c = lws_container_of(sul, bridge_call, sul_model);
	if (!c->ended)
		model_connect(c);
}

void session_model_lost(bridge_call *c, const char *why, bool expired)
{
	c->model = NULL;
	c->resp_active = false;
	c->active_resp[0] = '\0';
	if (c->ended) {
		c->mstate = MODEL_NONE;
		return;
	}
	sb_warn("bridge.model_lost", "call=%s why=%s attempt=%d", c->call_sid, why, c->attempt);
	if (c->attempt >= g_cfg.reconnect_max) {
		c->mstate = MODEL_FAILED;
		tools_fallback(c, why);
		return;
	}
	long delay_ms = expired && c->attempt == 0 ? 0 : 250L << (c->attempt < 5 ? c->attempt : 5);
	c->attempt++;
	c->reconnects++;
	sb_counter_inc(g_m.reconnects);
	c->mstate = MODEL_BACKOFF;
	c->replay_due = c->greeted;
	c->create_pending = false;
	lws_sul_schedule(bridge_ctx(), 0, &c->sul_model, reconnect_cb, delay_ms * LWS_US_PER_MS + 1);
}

/* ---- end ----------------------------------------------------------------------------------------------------- */

static void schedule_reap(bridge_call *c, long ms)
{
	lws_sul_schedule(bridge_ctx(), 0, &c->sul_tick, reap_cb, ms * LWS_US_PER_MS + 1);
}

static void reap_cb(lws_sorted_usec_list_t *sul)
{
	bridge_call *c = lws_container_of(sul, bridge_call, sul_tick);
	if (c->tw) {
		/* the close frame has not gone out yet: give it a moment, then cut the socket */
		lws_set_timeout(c->tw, PENDING_TIMEOUT_KILLED_BY_PARENT, 2);
		schedule_reap(c, 3000);
		return;
	}
	model_close(c);
	bridge_call_free(c);
}

static const char *final_status(const char *reason)
{
	if (strcmp(reason, "model_unreachable") == 0 || strcmp(reason, "twilio_backlog") == 0 ||
	    strcmp(reason, "model_backlog") == 0)
		return "failed";
	return "completed";
}

static void log_end(bridge_call *c, int64_t dur_ms)
{
	sb_info("bridge.call_ended", "call=%s reason=%s duration_ms=%lld frames_in=%llu frames_out=%llu barge_ins=%llu "
		"reconnects=%d tokens_in=%llu tokens_out=%llu", c->call_sid, c->end_reason, (long long)dur_ms,
		(unsigned long long)c->frames_in, (unsigned long long)c->frames_out, (unsigned long long)c->barge_ins,
		c->reconnects, (unsigned long long)c->tokens_in, (unsigned long long)c->tokens_out);
	bridge_publish(SB_EV_BRIDGE_CALL_STATS, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:i,s:I,s:I}", "callSid", c->call_sid,
		"reason", c->end_reason, "durationMs", (json_int_t)dur_ms, "framesIn", (json_int_t)c->frames_in,
		"framesOut", (json_int_t)c->frames_out, "bargeIns", (json_int_t)c->barge_ins, "reconnects", c->reconnects,
		"tokensIn", (json_int_t)c->tokens_in, "tokensOut", (json_int_t)c->tokens_out));
}

void session_end(bridge_call *c, const char *reason)
{
	if (c->ended)
		return;
	c->ended = true;
	c->state = CALL_ENDING;
	snprintf(c->end_reason, sizeof c->end_reason, "%s", reason);
	int64_t dur = c->have_start ? sb_mono_ms() - c->started_ms : 0;
	if (c->have_start) {
		store_write(SB_STORE_CALLS_UPDATE_STATUS, json_pack("{s:s,s:s,s:I,s:s}", "callSid", c->call_sid,
			"status", final_status(reason), "durationS", (json_int_t)((dur + 500) / 1000), "summary", reason));
		if (c->outbound && c->payer_id[0])
			store_write(SB_STORE_PAYERS_UPDATE, json_pack("{s:s,s:s}", "id", c->payer_id, "lastOutreachStatus", "CALL_COMPLETED"));
	} else {
		sb_info("bridge.prepared_unused", "call=%s reason=%s", c->call_sid, reason);
	}
	log_end(c, dur);
	lws_sul_cancel(&c->sul_debounce);
	lws_sul_cancel(&c->sul_model);
	model_close(c);
	twilio_close(c);
	schedule_reap(c, c->tw ? 2000 : 0);
}

void session_twilio_gone(bridge_call *c, const char *reason)
{
	if (!c->ended)
		session_end(c, reason);
	if (!c->tw)
		schedule_reap(c, 0);
}

/* ---- periodic checks --------------------------------------------------------------------------------------------- */

static void hangup(bridge_call *c)
{
	c->hangup_ready = c->hangup_after_response = false;
	if (g_cfg.twilio_sid && *g_cfg.twilio_sid && g_cfg.twilio_token && *g_cfg.twilio_token)
		rest_update_call(c->id, c->call_sid, REST_HANGUP, NULL);
	else
		session_end(c, "end_call");
}

void session_tick(bridge_call *c, int64_t now)
{
	if (c->ended)
		return;
	if (c->state == CALL_PREPARED) {
		if (now - c->created_ms > g_cfg.prepared_ttl * 1000)
			session_end(c, "prepared_expired");
		return;
	}
	if (now - c->last_caller_audio_ms > g_cfg.idle_s * 1000) {
		session_end(c, "idle");
	} else if (now - c->started_ms > g_cfg.max_call_s * 1000) {
		session_end(c, "max_duration");
	} else if (c->hangup_ready && !marks_outstanding(&c->marks, now)) {
		hangup(c); /* the goodbye has played */
	} else if (c->transfer_pending && !marks_outstanding(&c->marks, now)) {
		tools_transfer_now(c);
	} else if (c->mstate == MODEL_READY && now - c->session_started_ms > g_cfg.max_session_s * 1000 &&
		   !c->resp_active && !marks_outstanding(&c->marks, now) && !c->speaking) {
		sb_info("bridge.model_rollover", "call=%s session_s=%lld", c->call_sid, (long long)(now - c->session_started_ms) / 1000);
		model_close(c);
		session_model_lost(c, "rollover", true);
	}
}
