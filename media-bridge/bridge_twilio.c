/*
 * bridge_twilio.c — the Twilio side: Media Streams WebSocket server.
 *
 * Paths: /api/twilio/stream (inbound business calls) and
 * /collect-iq/media-stream (outbound collections calls); anything else is
 * refused at the upgrade.
 *
 * In: connected, start, media, mark, dtmf, stop (text frames only; numbers
 * arrive as strings). `media` takes the fast path: the payload is located
 * with sb_jscan and copied into an input_audio_buffer.append without a JSON
 * parse; every other event is parsed strictly. Nothing is accepted before
 * `start`, and `start` is accepted only with a valid stream token
 * (bridge_auth.c); otherwise the socket is closed and no model session opens.
 *
 * Out: media / mark / clear, each with the streamSid, built as ready-made
 * WebSocket frames in one per-call buffer and written with one raw write per
 * WRITEABLE (media + mark go out in one send). Bounded: a caller whose
 * socket does not drain is dropped.
 */
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "sb_base64.h"
#include "sb_jscan.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_time.h"

#define TW_MAX_MSG (64 * 1024) /* the largest Twilio message we accept (start is ~1-2 KB) */
#define TW_MAX_BAD 20          /* malformed messages before we give up on a stream */
#define START_TIMEOUT_S 15

/* ---- out ------------------------------------------------------------------------------ */

bool g_io_defer;

static void want_write(bridge_call *c)
{
	if (c->tw && !g_io_defer)
		lws_callback_on_writable(c->tw);
}

/* Frame `json` (already built text) into the call's out buffer. */
static int tw_queue(bridge_call *c, const char *json, size_t n)
{
	if (!c->tw)
		return -1;
	if (c->tw_out.len == 0)
		c->tw_out_since_us = sb_mono_us();
	if (ws_frame_text(&c->tw_out, json, n) < 0) {
		sb_warn("bridge.twilio_backlog", "call=%s bytes=%zu", c->call_sid, c->tw_out.len);
		session_end(c, "twilio_backlog");
		return -1;
	}
	want_write(c);
	return 0;
}

int twilio_send_media(bridge_call *c, const unsigned char *ulaw, size_t n)
{
	char buf[160 * 16 / 3 * 4 + 256];
	size_t b64 = sb_b64_encoded_len(n);
	char *p = buf, *heap = NULL;
	size_t need = b64 + strlen(c->stream_sid) + 80;
	if (need > sizeof buf && !(p = heap = malloc(need)))
		return -1;
	int h = snprintf(p, need, "{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":{\"payload\":\"", c->stream_sid);
	sb_b64_encode(ulaw, n, p + h);
	memcpy(p + h + b64, "\"}}", 3);
	int rc = tw_queue(c, p, (size_t)h + b64 + 3);
	free(heap);
	c->frames_out += n / 160;
	sb_counter_add(g_m.frames_out, n / 160);
	return rc;
}

int twilio_send_mark(bridge_call *c, const char *name)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "{\"event\":\"mark\",\"streamSid\":\"%s\",\"mark\":{\"name\":\"%s\"}}",
			 c->stream_sid, name);
	return tw_queue(c, buf, (size_t)n);
}

int twilio_send_clear(bridge_call *c)
{
	char buf[160];
	int n = snprintf(buf, sizeof buf, "{\"event\":\"clear\",\"streamSid\":\"%s\"}", c->stream_sid);
	return tw_queue(c, buf, (size_t)n);
}

void twilio_close(bridge_call *c)
{
	if (!c->tw)
		return;
	tw_pss *pss = lws_wsi_user(c->tw);
	if (pss)
		pss->close_req = true;
	lws_callback_on_writable(c->tw);
}

/* WRITEABLE: everything queued, as one raw write of ready-made frames. */
static int tw_write(struct lws *wsi, tw_pss *pss)
{
	if (pss->close_req) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	bridge_call *c = pss->call;
	if (!c || c->tw_out.len == 0)
		return 0;
	sb_histogram_observe(g_m.lat_out, (double)(sb_mono_us() - c->tw_out_since_us) / 1000.0);
	size_t n = c->tw_out.len;
	if (lws_write(wsi, bbuf_data(&c->tw_out), n, LWS_WRITE_RAW) < (int)n)
		return -1;
	bbuf_consume(&c->tw_out, n);
	return 0;
}

void twilio_flush(bridge_call *c)
{
	struct lws *w = c->tw;
	tw_pss *pss = w ? lws_wsi_user(w) : NULL;
	if (!pss || c->tw_out.len == 0)
		return;
	if (pss->close_req || lws_partial_buffered(w)) {
		lws_callback_on_writable(w); /* WRITEABLE comes once lws has sent what it holds */
		return;
	}
	sb_histogram_observe(g_m.lat_out, (double)(sb_mono_us() - c->tw_out_since_us) / 1000.0);
	size_t n = c->tw_out.len;
	int rc = lws_write(w, bbuf_data(&c->tw_out), n, LWS_WRITE_RAW);
	bbuf_consume(&c->tw_out, n);
	if (rc < (int)n) {
		pss->close_req = true; /* the socket failed: WRITEABLE closes it */
		lws_callback_on_writable(w);
	}
}

/* ---- in --------------------------------------------------------------------------------- */

static void reject(struct lws *wsi, tw_pss *pss, const char *why)
{
	sb_warn("bridge.stream_rejected", "reason=%s", why);
	sb_counter_inc(g_m.rejected);
	pss->close_req = true;
	lws_callback_on_writable(wsi);
}

static bool b64_ok(const char *p, size_t n)
{
	static const char ok[256] = {
		['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
		['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
		['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
		['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
		['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
		['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
		['9'] = 1, ['+'] = 1, ['/'] = 1, ['='] = 1,
	};
	if (n == 0 || n % 4)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ok[(unsigned char)p[i]])
			return false;
	return true;
}

/* The fast path: media → input_audio_buffer.append, no parse. */
static int on_media(tw_pss *pss, const char *msg, size_t len)
{
	sb_jval m;
	const char *pl;
	size_t pn;
	if (!pss->call)
		return -1;
	if (sb_jscan_get(msg, len, "media", &m) != 1 || m.kind != 'o' ||
	    sb_jscan_str(m.p, m.len, "payload", &pl, &pn) != 1 || !b64_ok(pl, pn))
		return -1;
	bridge_call *c = pss->call;
	c->frames_in++;
	c->last_caller_audio_ms = sb_mono_ms();
	sb_counter_inc(g_m.frames_in);
	model_append_audio(c, pl, pn);
	return 0;
}

/* `start`: check the token, then attach to the prepared call (or make one). */
static int on_start(struct lws *wsi, tw_pss *pss, const json_t *root)
{
	const json_t *st = json_object_get(root, "start");
	const char *stream = sb_json_str(st, "streamSid"), *call = sb_json_str(st, "callSid");
	bridge_claims cl;
	char why[128];
	if (pss->got_start || !stream || !call || strlen(stream) >= BR_SID || strlen(call) >= BR_SID) {
		reject(wsi, pss, "bad_start");
		return 0;
	}
	pss->got_start = true;
	if (auth_check(json_object_get(st, "customParameters"), call, &cl, why, sizeof why) < 0) {
		reject(wsi, pss, why);
		return 0;
	}
	bool outbound = strcmp(cl.direction, "outbound") == 0;
	if (outbound != pss->outbound_path) {
		reject(wsi, pss, "direction_mismatch");
		return 0;
	}
	bridge_call *c = bridge_call_by_sid(call);
	if (c && c->tw) {
		reject(wsi, pss, "duplicate_stream");
		return 0;
	}
	if (!c && !(c = bridge_call_new(call, outbound)))
		return -1;
	snprintf(c->stream_sid, sizeof c->stream_sid, "%s", stream);
	snprintf(c->account_sid, sizeof c->account_sid, "%s", sb_json_str(st, "accountSid") ? sb_json_str(st, "accountSid") : "");
	if (!c->business_id[0])
		snprintf(c->business_id, sizeof c->business_id, "%s", cl.business_id);
	if (!c->payer_id[0])
		snprintf(c->payer_id, sizeof c->payer_id, "%s", cl.payer_id);
	c->tw = wsi;
	pss->call = c;
	session_started(c);
	return 0;
}

static void on_event(struct lws *wsi, tw_pss *pss, const char *msg, size_t len)
{
	sb_error err;
	json_t *root = sb_json_parse(msg, len, TW_MAX_MSG, &err);
	const char *ev = root ? sb_json_str(root, "event") : NULL;
	bridge_call *c = pss->call;
	if (!ev) {
		pss->bad++;
		sb_warn("bridge.twilio_bad_message", "err=\"%s\"", root ? "no event" : err.message);
		sb_counter_inc(g_m.dropped_msgs);
	} else if (strcmp(ev, "start") == 0) {
		on_start(wsi, pss, root);
	} else if (strcmp(ev, "connected") == 0) {
		/* nothing to do */
	} else if (!c) {
		pss->bad++;
		sb_warn("bridge.twilio_before_start", "event=%s", ev);
	} else if (strcmp(ev, "mark") == 0) {
		const char *name = sb_json_str(json_object_get(root, "mark"), "name");
		if (name)
			session_mark(c, name, strlen(name));
	} else if (strcmp(ev, "dtmf") == 0) {
		const char *d = sb_json_str(json_object_get(root, "dtmf"), "digit");
		if (d)
			session_dtmf(c, d);
	} else if (strcmp(ev, "stop") == 0) {
		session_twilio_gone(c, "stop");
	} else {
		pss->bad++;
		sb_warn("bridge.twilio_unknown_event", "call=%s event=%.40s", c->call_sid, ev);
		sb_counter_inc(g_m.dropped_msgs);
	}
	json_decref(root);
}

static void on_message(struct lws *wsi, tw_pss *pss, const char *msg, size_t len)
{
	const char *ev;
	size_t evn;
	if (sb_jscan_str(msg, len, "event", &ev, &evn) == 1 && sb_jscan_eq(ev, evn, "media")) {
		if (on_media(pss, msg, len) < 0) {
			pss->bad++;
			sb_counter_inc(g_m.dropped_msgs);
		}
	} else {
		on_event(wsi, pss, msg, len);
	}
	if (pss->bad > TW_MAX_BAD && !pss->close_req) {
		sb_warn("bridge.twilio_garbage", "call=%s bad=%d", pss->call ? pss->call->call_sid : "-", pss->bad);
		pss->close_req = true;
		lws_callback_on_writable(wsi);
	}
}

/* RECEIVE: whole messages straight through; fragments reassembled (bounded, text only). */
static void on_receive(struct lws *wsi, tw_pss *pss, const char *in, size_t len)
{
	const char *msg;
	size_t n;
	sb_wsrx_result res = sb_wsrx_feed(&pss->rx, wsi, in, len, &msg, &n);
	if (res == SB_WSRX_MESSAGE) {
		on_message(wsi, pss, msg, n);
	} else if (res != SB_WSRX_MORE) {
		sb_warn("bridge.twilio_dropped", "call=%s reason=%s limit=%d", pss->call ? pss->call->call_sid : "-",
			res == SB_WSRX_BINARY ? "binary" : "oversized", TW_MAX_MSG);
		pss->bad++;
		sb_counter_inc(g_m.dropped_msgs);
	}
}

static int path_check(struct lws *wsi, bool *outbound)
{
	char uri[128];
	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		return -1;
	if (strcmp(uri, "/api/twilio/stream") == 0)
		*outbound = false;
	else if (strcmp(uri, "/collect-iq/media-stream") == 0)
		*outbound = true;
	else
		return -1;
	return 0;
}

static int on_filter(struct lws *wsi)
{
	bool ob;
	if (path_check(wsi, &ob) < 0) {
		sb_warn("bridge.stream_rejected", "reason=bad_path");
		sb_counter_inc(g_m.rejected);
		return -1;
	}
	if (bridge_draining() || bridge_call_count() >= g_cfg.max_calls) {
		sb_warn("bridge.stream_rejected", "reason=%s", bridge_draining() ? "draining" : "max_calls");
		sb_counter_inc(g_m.rejected);
		return -1;
	}
	return 0;
}

int bridge_twilio_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	tw_pss *pss = user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		return bridge_loop_wakeup();
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return on_filter(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		pss->rx.max = TW_MAX_MSG;
		pss->rx.text_only = true;
		pss->opened_ms = sb_mono_ms();
		path_check(wsi, &pss->outbound_path);
		lws_set_timer_usecs(wsi, START_TIMEOUT_S * LWS_USEC_PER_SEC);
		return 0;
	case LWS_CALLBACK_TIMER:
		if (!pss->call) {
			reject(wsi, pss, "no_start");
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		g_io_defer = true;
		on_receive(wsi, pss, in, len);
		g_io_defer = false;
		if (pss->call) { /* the call lives at least as long as its Twilio socket */
			model_flush(pss->call);
			twilio_flush(pss->call);
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return tw_write(wsi, pss);
	case LWS_CALLBACK_CLOSED:
		if (pss->call) {
			bridge_call *c = pss->call;
			pss->call = NULL;
			c->tw = NULL;
			session_twilio_gone(c, "twilio_closed");
		}
		sb_wsrx_free(&pss->rx);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (pss)
			sb_wsrx_free(&pss->rx);
		return 0;
	default:
		return 0;
	}
}
