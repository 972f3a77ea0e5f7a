/*
 * bridge_model.c — the model side: a Realtime GA WebSocket client per call.
 *
 * Connect: wss://host/v1/realtime?model=<id> with `Authorization: Bearer`
 * (GA interface only: no OpenAI-Beta header). ws:// is accepted only for a
 * loopback stand-in (the offline engine, sb-realtime-sim). TLS is verified
 * against the system CA store unless --insecure-tls (tests).
 *
 * In: server events. `response.output_audio.delta` (nearly all traffic)
 * takes the fast path: type, ids and the base64 delta are located with
 * sb_jscan, no parse. Everything else is parsed strictly and dispatched by
 * a table to bridge_session.c / bridge_tools.c. Unknown events are ignored
 * (the server adds events over time), errors are logged and mostly
 * non-fatal. At --log-level debug every parsed (non-delta) event's type is
 * logged as bridge.model_event, so tests can read the sequence received.
 *
 * Out: client events from a bounded per-call FIFO, written as ready masked
 * frames, all queued ones in one raw send: directly at the end of the
 * RECEIVE that produced them (g_io_defer), else on WRITEABLE. Caller audio
 * that arrives before the session is configured waits in a second bounded
 * FIFO and follows the session.update.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "sb_jscan.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_time.h"

#define MODEL_MAX_MSG (1024 * 1024)

static struct {
	char host[256], path[512];
	int  port;
	bool tls;
} U;

/* ---- URL ------------------------------------------------------------------------------ */

static bool loopback(const char *h)
{
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
	       strcmp(h, "[::1]") == 0;
}

int model_check_url(const char *url)
{
	const char *rest;
	if (strncmp(url, "wss://", 6) == 0)
		U.tls = true, rest = url + 6;
	else if (strncmp(url, "ws://", 5) == 0)
		U.tls = false, rest = url + 5;
	else
		goto bad;
	size_t hl = strcspn(rest, ":/");
	if (hl == 0 || hl >= sizeof U.host)
		goto bad;
	memcpy(U.host, rest, hl);
	U.host[hl] = '\0';
	rest += hl;
	U.port = U.tls ? 443 : 80;
	if (*rest == ':') {
		char *end;
		long p = strtol(rest + 1, &end, 10);
		if (p <= 0 || p > 65535)
			goto bad;
		U.port = (int)p;
		rest = end;
	}
	const char *path = *rest ? rest : "/v1/realtime";
	snprintf(U.path, sizeof U.path, "%s%cmodel=%s", path, strchr(path, '?') ? '&' : '?', g_cfg.model);
	if (!U.tls && !loopback(U.host)) {
		fprintf(stderr, "sb-media-bridge: --realtime-url: ws:// is allowed only for a loopback stand-in; use wss://\n");
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "sb-media-bridge: --realtime-url must be ws[s]://host[:port]/path, got %s\n", url);
	return -1;
}

/* ---- connect / close ---------------------------------------------------------------------- */

void model_connect(bridge_call *c)
{
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = bridge_ctx();
	ci.address = U.host;
	ci.port = U.port;
	ci.path = U.path;
	ci.host = U.host;
	ci.origin = U.host;
	ci.local_protocol_name = "realtime";
	if (U.tls) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (g_cfg.insecure_tls)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	}
	ci.opaque_user_data = c;
	ci.pwsi = &c->model;
	c->mstate = MODEL_CONNECTING;
	c->model_close_req = false;
	c->model_connect_start_ms = sb_mono_ms();
	msgq_free(&c->model_out);
	sb_wsrx_free(&c->model_rx);
	if (!lws_client_connect_via_info(&ci) && c->mstate == MODEL_CONNECTING) {
		c->model = NULL;
		session_model_lost(c, "connect_failed", false);
	}
}

void model_close(bridge_call *c)
{
	struct lws *w = c->model;
	c->model = NULL;
	c->mstate = MODEL_NONE;
	if (!w)
		return;
	lws_set_opaque_user_data(w, NULL);
	lws_set_timeout(w, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

/* ---- out --------------------------------------------------------------------------------- */

int model_send(bridge_call *c, const char *js, size_t n)
{
	if (msgq_push(&c->model_out, js, n, sb_mono_us()) < 0) {
		sb_warn("bridge.model_backlog", "call=%s bytes=%zu", c->call_sid, msgq_bytes(&c->model_out));
		session_end(c, "model_backlog");
		return -1;
	}
	if (c->model && c->mstate >= MODEL_OPEN && c->mstate <= MODEL_READY && !g_io_defer)
		lws_callback_on_writable(c->model);
	return 0;
}

int model_send_json(bridge_call *c, json_t *ev)
{
	size_t n;
	char *s = sb_json_dump(ev, &n);
	json_decref(ev);
	if (!s)
		return -1;
	int rc = model_send(c, s, n);
	free(s);
	return rc;
}

void model_append_audio(bridge_call *c, const char *b64, size_t n)
{
	static const char pre[] = "{\"type\":\"input_audio_buffer.append\",\"audio\":\"";
	char stack[512], *buf = stack, *heap = NULL;
	size_t len = sizeof pre - 1 + n + 2;
	if (len > sizeof stack && !(buf = heap = malloc(len)))
		return;
	memcpy(buf, pre, sizeof pre - 1);
	memcpy(buf + sizeof pre - 1, b64, n);
	memcpy(buf + sizeof pre - 1 + n, "\"}", 2);
	if (c->mstate == MODEL_CONFIGURED || c->mstate == MODEL_READY) {
		model_send(c, buf, len);
	} else {
		while (msgq_push(&c->pending_audio, buf, len, sb_mono_us()) < 0 && c->pending_audio.count)
			msgq_pop(&c->pending_audio); /* bounded: the oldest audio goes first */
	}
	free(heap);
}

#define TX_BATCH 49152 /* at most this much per send; more waits for the next WRITEABLE */

/* The queued client events as masked frames, in one raw write. 0, or -1 when the socket failed. */
static int write_batch(struct lws *wsi, bridge_call *c)
{
	static bbuf tx; /* loop thread only; reused */
	unsigned char *p;
	size_t n;
	int64_t t, now = sb_mono_us();
	tx.len = 0;
	while (tx.len < TX_BATCH && msgq_front(&c->model_out, &p, &n, &t) && ws_frame_text_masked(&tx, p, n) == 0) {
		sb_histogram_observe(g_m.lat_in, (double)(now - t) / 1000.0);
		msgq_pop(&c->model_out);
	}
	if (tx.len && lws_write(wsi, bbuf_data(&tx), tx.len, LWS_WRITE_RAW) < (int)tx.len)
		return -1;
	if (c->model_out.count)
		lws_callback_on_writable(wsi);
	return 0;
}

static int model_write(struct lws *wsi, bridge_call *c)
{
	if (!c || c->model_close_req) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return write_batch(wsi, c);
}

void model_flush(bridge_call *c)
{
	struct lws *w = c->model;
	if (!w || !c->model_out.count || c->mstate < MODEL_OPEN || c->mstate > MODEL_READY)
		return;
	if (c->model_close_req || lws_partial_buffered(w)) {
		lws_callback_on_writable(w); /* WRITEABLE comes once lws has sent what it holds */
		return;
	}
	if (write_batch(w, c) < 0) {
		c->model_close_req = true; /* the socket failed: WRITEABLE closes it, the call reconnects */
		lws_callback_on_writable(w);
	}
}

/* ---- in: handlers ------------------------------------------------------------------------------ */

static void ev_session_created(bridge_call *c, const json_t *ev)
{
	c->mstate = MODEL_OPEN;
	session_configure(c); /* or later, when the context arrives */
}

static void ev_session_updated(bridge_call *c, const json_t *ev)
{
	session_model_ready(c);
}

static void ev_response_created(bridge_call *c, const json_t *ev)
{
	session_response_created(c, sb_json_str(json_object_get(ev, "response"), "id"));
}

static void ev_response_done(bridge_call *c, const json_t *ev)
{
	session_response_done(c, json_object_get(ev, "response"));
}

static void ev_audio_done(bridge_call *c, const json_t *ev)
{
	session_audio_done(c);
}

static void ev_assistant_transcript(bridge_call *c, const json_t *ev)
{
	session_line(c, sb_json_str(ev, "item_id"), "assistant", sb_json_str(ev, "transcript"));
}

static void ev_item_added(bridge_call *c, const json_t *ev)
{
	const json_t *item = json_object_get(ev, "item");
	const char *type = sb_json_str(item, "type");
	if (type && strcmp(type, "message") == 0)
		session_reserve(c, sb_json_str(item, "id"));
}

static void ev_committed(bridge_call *c, const json_t *ev)
{
	session_reserve(c, sb_json_str(ev, "item_id"));
}

static void ev_user_transcript(bridge_call *c, const json_t *ev)
{
	session_line(c, sb_json_str(ev, "item_id"), "user", sb_json_str(ev, "transcript"));
}

static void ev_user_transcript_failed(bridge_call *c, const json_t *ev)
{
	session_line(c, sb_json_str(ev, "item_id"), "user", "(inaudible)");
}

static void ev_speech_started(bridge_call *c, const json_t *ev)
{
	session_speech_started(c);
}

static void ev_speech_stopped(bridge_call *c, const json_t *ev)
{
	session_speech_stopped(c);
}

static void ev_function_call(bridge_call *c, const json_t *ev)
{
	tools_on_call(c, ev);
}

static void ev_error(bridge_call *c, const json_t *ev)
{
	const json_t *e = json_object_get(ev, "error");
	const char *code = sb_json_str(e, "code"), *msg = sb_json_str(e, "message");
	char q[200];
	sb_warn("bridge.model_error", "call=%s code=%s msg=%s", c->call_sid, code ? code : "-",
		sb_log_quote(msg ? msg : "", q, sizeof q));
	if (!code)
		return;
	if (strcmp(code, "session_expired") == 0) {
		struct lws *w = c->model;
		model_close(c);
		(void)w;
		session_model_lost(c, "session_expired", true);
	} else if (strcmp(code, "conversation_already_has_active_response") == 0) {
		c->create_pending = true; /* re-sent after the active response is done */
	} else if (strcmp(code, "beta_api_shape_disabled") == 0) {
		sb_error_log("bridge.model_beta_rejected", "call=%s hint=\"provider requires the GA interface\"", c->call_sid);
	}
}

typedef void (*ev_fn)(bridge_call *c, const json_t *ev);

static const struct {
	const char *type;
	ev_fn       fn;
} EVENTS[] = {
	{"session.created", ev_session_created},
	{"session.updated", ev_session_updated},
	{"response.created", ev_response_created},
	{"response.done", ev_response_done},
	{"response.output_audio.done", ev_audio_done},
	{"response.output_audio_transcript.done", ev_assistant_transcript},
	{"response.output_item.added", ev_item_added},
	{"input_audio_buffer.committed", ev_committed},
	{"conversation.item.input_audio_transcription.completed", ev_user_transcript},
	{"conversation.item.input_audio_transcription.failed", ev_user_transcript_failed},
	{"input_audio_buffer.speech_started", ev_speech_started},
	{"input_audio_buffer.speech_stopped", ev_speech_stopped},
	{"response.function_call_arguments.done", ev_function_call},
	{"error", ev_error},
};

/* The fast path: an audio delta, read without a parse. 0, or -1 if it is not one. */
static int fast_delta(bridge_call *c, const char *msg, size_t len)
{
	const char *t, *r = "", *i = "", *d;
	size_t tn, rn = 0, in = 0, dn;
	long long ci = 0;
	if (sb_jscan_str(msg, len, "type", &t, &tn) != 1 || !sb_jscan_eq(t, tn, "response.output_audio.delta"))
		return -1;
	if (sb_jscan_str(msg, len, "delta", &d, &dn) != 1) {
		sb_counter_inc(g_m.dropped_msgs);
		return 0;
	}
	sb_jscan_str(msg, len, "response_id", &r, &rn);
	sb_jscan_str(msg, len, "item_id", &i, &in);
	sb_jscan_int(msg, len, "content_index", &ci);
	session_model_audio(c, r, rn, i, in, (int)ci, d, dn);
	return 0;
}

static void on_message(bridge_call *c, const char *msg, size_t len)
{
	if (fast_delta(c, msg, len) == 0)
		return;
	sb_error err;
	json_t *ev = sb_json_parse(msg, len, MODEL_MAX_MSG, &err);
	const char *type = ev ? sb_json_str(ev, "type") : NULL;
	if (!type) {
		sb_warn("bridge.model_bad_message", "call=%s err=\"%s\"", c->call_sid, ev ? "no type" : err.message);
		sb_counter_inc(g_m.dropped_msgs);
		json_decref(ev);
		return;
	}
	char q[96];
	sb_debug("bridge.model_event", "call=%s type=%s", c->call_sid, sb_log_quote(type, q, sizeof q));
	for (size_t k = 0; k < sizeof EVENTS / sizeof EVENTS[0]; k++)
		if (strcmp(EVENTS[k].type, type) == 0) {
			EVENTS[k].fn(c, ev);
			break;
		}
	json_decref(ev);
}

static void on_receive(struct lws *wsi, bridge_call *c, const char *in, size_t len)
{
	const char *msg;
	size_t n;
	c->model_rx.max = MODEL_MAX_MSG;
	c->model_rx.text_only = true;
	switch (sb_wsrx_feed(&c->model_rx, wsi, in, len, &msg, &n)) {
	case SB_WSRX_MESSAGE:
		on_message(c, msg, n);
		return;
	case SB_WSRX_BINARY:
		sb_warn("bridge.model_binary_frame", "call=%s", c->call_sid);
		return;
	case SB_WSRX_OVERSIZED:
		sb_warn("bridge.model_oversized", "call=%s limit=%d", c->call_sid, MODEL_MAX_MSG);
		sb_counter_inc(g_m.dropped_msgs);
		return;
	case SB_WSRX_MORE:
		return;
	}
}

static int add_auth(struct lws *wsi, void *in, size_t len)
{
	if (!g_cfg.api_key || !*g_cfg.api_key)
		return 0;
	char val[512];
	int n = snprintf(val, sizeof val, "Bearer %s", g_cfg.api_key);
	unsigned char **p = (unsigned char **)in, *end = *p + len;
	if (n >= (int)sizeof val ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"authorization:", (const unsigned char *)val, n, p, end))
		return -1;
	return 0;
}

/* The socket is gone (error before or after the upgrade). */
static void lost(struct lws *wsi, bridge_call *c, const char *why)
{
	if (!c)
		return;
	if (c->model == wsi || c->model == NULL) {
		c->model = NULL;
		session_model_lost(c, why, false);
	}
}

int bridge_model_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	bridge_call *c = lws_get_opaque_user_data(wsi);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_auth(wsi, in, len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c) {
			c->mstate = MODEL_OPEN;
			if (c->model_out.count)
				lws_callback_on_writable(wsi);
		}
		return c ? 0 : -1;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c) {
			uint64_t id = c->id;
			g_io_defer = true;
			on_receive(wsi, c, in, len);
			g_io_defer = false;
			if ((c = bridge_call_by_id(id))) {
				model_flush(c);
				twilio_flush(c);
			}
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return model_write(wsi, c);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char q[160];
		sb_warn("bridge.model_connect_error", "call=%s err=%s", c ? c->call_sid : "-",
			sb_log_quote(in ? (const char *)in : "unknown", q, sizeof q));
		lost(wsi, c, "connect_error");
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		lost(wsi, c, "closed");
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c && len >= 2) {
			int code = (((unsigned char *)in)[0] << 8) | ((unsigned char *)in)[1];
			sb_info("bridge.model_peer_close", "call=%s code=%d", c->call_sid, code);
		}
		return 0;
	default:
		return 0;
	}
}
