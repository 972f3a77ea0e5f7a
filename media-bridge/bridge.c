/*
 * bridge.c — sb-media-bridge: main, flags, the loop thread, the inbox and the
 * session-control REP socket.
 *
 * Sockets: WebSocket server on --listen (Twilio Media Streams on
 * /api/twilio/stream and /collect-iq/media-stream); WebSocket client per call
 * to --realtime-url (OpenAI Realtime GA or a loopback stand-in); REP on
 * --control (schemas/bridge.json: session.prepare, session.list); PUB on
 * --events (bridge.*); REQ to --store-url and --rag-url.
 *
 * Threads: the loop (lws on its libev plugin: epoll; every call lives here),
 * nng's (control requests and RPC replies: they only post to the inbox), the
 * REST worker (bridge_rest.c), and the main thread (signals, drain).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "sb_daemon.h"
#include "sb_events.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

bridge_cfg g_cfg;
bridge_metrics g_m;

static const sb_flag flags[] = {
	{"listen", "SB_BRIDGE_LISTEN", SB_FLAG_STR, "127.0.0.1:8081", "WebSocket host:port for Twilio media streams", &g_cfg.listen, 0, 0, false},
	{"control", "SB_BRIDGE_CONTROL", SB_FLAG_STR, "ipc://{run}/bridge.sock", "REP socket for session control (session.prepare)", &g_cfg.control, 0, 0, false},
	{"events", "SB_BRIDGE_EVENTS", SB_FLAG_STR, "ipc://{run}/bridge-events.sock", "PUB socket for bridge.* events", &g_cfg.events, 0, 0, false},
	{"store-url", "SB_STORE_URL", SB_FLAG_STR, "ipc://{run}/store.sock", "sb-store request socket", &g_cfg.store_url, 0, 0, false},
	{"rag-url", "SB_RAG_URL", SB_FLAG_STR, "ipc://{run}/rag.sock", "sb-rag-worker request socket", &g_cfg.rag_url, 0, 0, false},
	{"realtime-url", "SB_REALTIME_URL", SB_FLAG_STR, NULL, "speech-to-speech provider (default: wss://api.openai.com/v1/realtime with OPENAI_API_KEY, else ws://127.0.0.1:8082/v1/realtime)", &g_cfg.realtime_url, 0, 0, false},
	{"model", "SB_REALTIME_MODEL", SB_FLAG_STR, "gpt-realtime", "Realtime model id (in the URL)", &g_cfg.model, 0, 0, false},
	{"openai-api-key", "OPENAI_API_KEY", SB_FLAG_STR, NULL, "bearer key for the Realtime API", &g_cfg.api_key, 0, 0, true},
	{"secret", "SB_SECRET", SB_FLAG_STR, NULL, "verifies stream tokens (the gateway signs with it)", &g_cfg.secret, 0, 0, true},
	{"twilio-account-sid", "TWILIO_ACCOUNT_SID", SB_FLAG_STR, NULL, "Twilio account (REST transfer/hang-up)", &g_cfg.twilio_sid, 0, 0, false},
	{"twilio-auth-token", "TWILIO_AUTH_TOKEN", SB_FLAG_STR, NULL, "Twilio auth token", &g_cfg.twilio_token, 0, 0, true},
	{"twilio-api-url", "SB_TWILIO_API_URL", SB_FLAG_STR, "https://api.twilio.com", "Twilio REST base URL", &g_cfg.twilio_api_url, 0, 0, false},
	{"voice", "SB_BRIDGE_VOICE", SB_FLAG_STR, "marin", "default voice when a business sets none", &g_cfg.voice, 0, 0, false},
	{"transcribe-model", "SB_BRIDGE_TRANSCRIBE_MODEL", SB_FLAG_STR, "gpt-4o-mini-transcribe", "caller transcription model", &g_cfg.transcribe_model, 0, 0, false},
	{"max-calls", "SB_BRIDGE_MAX_CALLS", SB_FLAG_INT, "2000", "concurrent calls (streams + prepared)", &g_cfg.max_calls, 1, 100000, false},
	{"prepared-ttl", "SB_BRIDGE_PREPARED_TTL", SB_FLAG_INT, "30", "seconds a pre-warmed session waits for its stream", &g_cfg.prepared_ttl, 1, 3600, false},
	{"max-call-seconds", "SB_BRIDGE_MAX_CALL_SECONDS", SB_FLAG_INT, "7200", "longest call", &g_cfg.max_call_s, 10, 86400, false},
	{"idle-seconds", "SB_BRIDGE_IDLE_SECONDS", SB_FLAG_INT, "30", "end a call when no caller audio arrives this long", &g_cfg.idle_s, 1, 86400, false},
	{"barge-in-debounce-ms", "SB_BRIDGE_BARGE_IN_DEBOUNCE_MS", SB_FLAG_INT, "120", "speech must last this long to interrupt the assistant", &g_cfg.debounce_ms, 0, 5000, false},
	{"drain-seconds", "SB_BRIDGE_DRAIN_SECONDS", SB_FLAG_INT, "30", "on SIGTERM, let calls finish this long", &g_cfg.drain_s, 0, 3600, false},
	{"tool-timeout-ms", "SB_BRIDGE_TOOL_TIMEOUT_MS", SB_FLAG_INT, "4000", "knowledge lookup deadline", &g_cfg.tool_timeout_ms, 100, 60000, false},
	{"max-session-seconds", "SB_BRIDGE_MAX_SESSION_SECONDS", SB_FLAG_INT, "3300", "roll the model session over before the provider's 60-minute cap", &g_cfg.max_session_s, 5, 3600, false},
	{"reconnect-max", "SB_BRIDGE_RECONNECT_MAX", SB_FLAG_INT, "5", "model reconnect attempts before giving up on a call", &g_cfg.reconnect_max, 0, 100, false},
	{"insecure-tls", "SB_BRIDGE_INSECURE_TLS", SB_FLAG_BOOL, NULL, "accept any certificate from the model server (tests only)", &g_cfg.insecure_tls, 0, 0, false},
	SB_FLAGS_END,
};

/* ---- loop state (loop thread only unless noted) ------------------------------------- */

#define HASH_BUCKETS 4096

static struct {
	struct lws_context *ctx;
	pthread_t           thread;
	bool                thread_started;
	atomic_bool         stopping, draining;
	atomic_int          ncalls;      /* readable from any thread */
	bridge_call        *calls;       /* list of all calls */
	bridge_call        *by_id[HASH_BUCKETS];
	uint64_t            next_id;
	lws_sorted_usec_list_t sul_tick, sul_destroy;
	pthread_mutex_t     inbox_mu;
	bridge_msg         *inbox_head, *inbox_tail;
	sb_rpc_server      *rpc;
	sb_pub             *pub;
	sb_client          *store, *rag;
} L = {.inbox_mu = PTHREAD_MUTEX_INITIALIZER};

struct lws_context *bridge_ctx(void) { return L.ctx; }
bool bridge_draining(void) { return atomic_load(&L.draining); }
sb_client *bridge_store(void) { return L.store; }
sb_client *bridge_rag(void) { return L.rag; }
int bridge_call_count(void) { return atomic_load(&L.ncalls); }
bridge_call *bridge_call_first(void) { return L.calls; }

void bridge_publish(int ev, json_t *body)
{
	sb_publish(L.pub, ev, body);
}

/* ---- call registry -------------------------------------------------------------------- */

bridge_call *bridge_call_new(const char *call_sid, bool outbound)
{
	bridge_call *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->id = ++L.next_id;
	snprintf(c->call_sid, sizeof c->call_sid, "%s", call_sid ? call_sid : "");
	c->outbound = outbound;
	c->created_ms = sb_mono_ms();
	c->tw_out.max = 512 * 1024;       /* ~30 s of framed audio queued at Twilio's socket */
	c->early_audio.max = 160 * 1024;  /* 20 s of greeting audio before `start` */
	c->model_out.b.max = 512 * 1024;
	c->pending_audio.b.max = 160 * 1024; /* ~10 s of caller audio before the model is ready */
	c->rem_slot = -1;
	marks_init(&c->marks);
	c->next = L.calls;
	if (L.calls)
		L.calls->prev = c;
	L.calls = c;
	c->hnext = L.by_id[c->id % HASH_BUCKETS];
	L.by_id[c->id % HASH_BUCKETS] = c;
	atomic_fetch_add(&L.ncalls, 1);
	sb_gauge_set(g_m.active, atomic_load(&L.ncalls));
	return c;
}

void bridge_call_free(bridge_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		L.calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bridge_call **pp = &L.by_id[c->id % HASH_BUCKETS];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	lws_sul_cancel(&c->sul_debounce);
	lws_sul_cancel(&c->sul_model);
	lws_sul_cancel(&c->sul_tick);
	tools_free(c);
	for (int i = 0; i < c->nhistory; i++) {
		free(c->history[i].role);
		free(c->history[i].text);
	}
	bbuf_free(&c->tw_out);
	bbuf_free(&c->early_audio);
	msgq_free(&c->model_out);
	msgq_free(&c->pending_audio);
	json_decref(c->context);
	free(c->instructions);
	free(c->transfer_number);
	free(c);
	atomic_fetch_sub(&L.ncalls, 1);
	sb_gauge_set(g_m.active, atomic_load(&L.ncalls));
}

bridge_call *bridge_call_by_id(uint64_t id)
{
	for (bridge_call *c = L.by_id[id % HASH_BUCKETS]; c; c = c->hnext)
		if (c->id == id)
			return c;
	return NULL;
}

bridge_call *bridge_call_by_sid(const char *call_sid)
{
	for (bridge_call *c = L.calls; c; c = c->next)
		if (!c->ended && strcmp(c->call_sid, call_sid) == 0)
			return c;
	return NULL;
}

/* ---- inbox ------------------------------------------------------------------------------ */

void bridge_post(bridge_msg *msg)
{
	msg->next = NULL;
	pthread_mutex_lock(&L.inbox_mu);
	if (L.inbox_tail)
		L.inbox_tail->next = msg;
	else
		L.inbox_head = msg;
	L.inbox_tail = msg;
	struct lws_context *ctx = L.ctx;
	pthread_mutex_unlock(&L.inbox_mu);
	if (ctx)
		lws_cancel_service(ctx);
}

/* session.list, answered on the loop where the calls live. */
static void answer_list(sb_req *req)
{
	json_t *items = json_array();
	static const char *states[] = {"prepared", "streaming", "ending"};
	for (bridge_call *c = L.calls; c; c = c->next)
		json_array_append_new(items, json_pack("{s:s,s:s?,s:s,s:s,s:I}", "callSid", c->call_sid,
			"streamSid", c->stream_sid[0] ? c->stream_sid : NULL, "state", states[c->state],
			"direction", c->outbound ? "outbound" : "inbound",
			"ageMs", (json_int_t)(sb_mono_ms() - c->created_ms)));
	sb_req_ok(req, json_pack("{s:o}", "items", items));
}

static void handle_msg(bridge_msg *m)
{
	bridge_call *c = m->call_id ? bridge_call_by_id(m->call_id) : NULL;
	switch (m->kind) {
	case MSG_PREPARE: {
		bridge_call *nc = session_prepare(m->data);
		if (nc)
			sb_req_ok(m->req, json_pack("{s:b,s:s}", "prepared", 1, "callSid", nc->call_sid));
		else
			sb_req_fail(m->req, SB_UNAVAILABLE, "bridge is draining or full");
		break;
	}
	case MSG_LIST:
		answer_list(m->req);
		break;
	case MSG_CONTEXT:
		if (c)
			session_context_loaded(c, m);
		break;
	case MSG_TOOL_RESULT:
		if (c)
			tools_on_result(c, m);
		break;
	case MSG_REST_DONE:
		if (c)
			tools_on_rest(c, m);
		break;
	case MSG_STORE_DONE:
		store_on_done(m);
		break;
	default:
		sb_warn("bridge.bad_msg", "kind=%d", (int)m->kind);
	}
	json_decref(m->data);
	free(m);
}

/* Take everything in the inbox and handle it on the loop. */
static void drain_inbox(void)
{
	pthread_mutex_lock(&L.inbox_mu);
	bridge_msg *m = L.inbox_head;
	L.inbox_head = L.inbox_tail = NULL;
	pthread_mutex_unlock(&L.inbox_mu);
	while (m) {
		bridge_msg *next = m->next;
		handle_msg(m);
		m = next;
	}
}

/* ---- loop lifecycle ------------------------------------------------------------------------ */

static void destroy_cb(lws_sorted_usec_list_t *sul)
{
	lws_context_destroy(L.ctx); /* first call from inside the loop: breaks ev_run */
}

/* Once stopping: wait (bounded) for the calls' close frames to go out, then break the loop. */
static void stop_step(lws_sorted_usec_list_t *sul)
{
	static int waited;
	if (L.calls && waited++ < 20) {
		lws_sul_schedule(L.ctx, 0, &L.sul_destroy, stop_step, 50 * LWS_US_PER_MS);
		return;
	}
	lws_sul_schedule(L.ctx, 0, &L.sul_destroy, destroy_cb, 1);
}

static void begin_stop(void)
{
	lws_sul_cancel(&L.sul_tick);
	for (bridge_call *c = L.calls, *next; c; c = next) {
		next = c->next;
		session_end(c, "shutdown");
	}
	lws_sul_schedule(L.ctx, 0, &L.sul_destroy, stop_step, 1);
}

/* Once a second: limits, expiries, store retries. */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
	int64_t now = sb_mono_ms();
	for (bridge_call *c = L.calls, *next; c; c = next) {
		next = c->next;
		session_tick(c, now);
	}
	store_tick(now);
	lws_sul_schedule(L.ctx, 0, &L.sul_tick, tick_cb, 1000 * LWS_US_PER_MS);
}

/* EVENT_WAIT_CANCELLED: the inbox has work, or we are asked to stop. */
int bridge_loop_wakeup(void)
{
	static bool stop_begun;
	drain_inbox();
	if (atomic_load(&L.stopping) && !stop_begun) {
		stop_begun = true;
		begin_stop();
	}
	return 0;
}

static void *loop_main(void *arg)
{
	lws_sul_schedule(L.ctx, 0, &L.sul_tick, tick_cb, 1000 * LWS_US_PER_MS);
	int n = 0;
	while (n >= 0 && !atomic_load(&L.stopping))
		n = lws_service(L.ctx, 0); /* with the libev plugin this runs ev_run until the loop breaks */
	while (n >= 0 && L.calls)   /* a break came before every call closed: finish them */
		n = lws_service(L.ctx, 0);
	pthread_mutex_lock(&L.inbox_mu);
	struct lws_context *ctx = L.ctx;
	L.ctx = NULL; /* bridge_post stops waking a context that is going away */
	pthread_mutex_unlock(&L.inbox_mu);
	lws_context_destroy(ctx);
	return NULL;
}

/* ---- lws context ---------------------------------------------------------------------------- */

static const struct lws_protocols protocols[] = {
	{"twilio", bridge_twilio_cb, sizeof(tw_pss), 2048, 0, NULL, 16384},
	{"realtime", bridge_model_cb, 0, 4096, 0, NULL, 65536},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static int parse_listen(const char *s, char *host, size_t hlen, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= hlen)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static int start_lws(void)
{
	static char host[256];
	int port;
	if (parse_listen(g_cfg.listen, host, sizeof host, &port) < 0) {
		sb_error_log("bridge.bad_listen", "listen=%s", g_cfg.listen);
		return -1;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
		info.client_ssl_ca_filepath = "/etc/ssl/certs/ca-certificates.crt";
	info.timeout_secs = 10;
	info.pt_serv_buf_size = 32768;
	L.ctx = lws_create_context(&info);
	if (!L.ctx) {
		sb_error_log("bridge.lws_failed", "listen=%s hint=\"port in use, or libwebsockets-evlib-ev missing\"", g_cfg.listen);
		return -1;
	}
	if (pthread_create(&L.thread, NULL, loop_main, NULL) != 0) {
		lws_context_destroy(L.ctx);
		L.ctx = NULL;
		return -1;
	}
	L.thread_started = true;
	sb_info("bridge.listening", "ws=%s:%d loop=libev", host, port);
	return 0;
}

/* ---- control requests (nng threads) ------------------------------------------------------------ */

static void op_prepare(sb_req *req, json_t *args, void *ctx)
{
	bridge_msg *m = calloc(1, sizeof *m);
	m->kind = MSG_PREPARE;
	m->req = req;
	m->data = json_deep_copy(args);
	bridge_post(m);
}

static void op_list(sb_req *req, json_t *args, void *ctx)
{
	bridge_msg *m = calloc(1, sizeof *m);
	m->kind = MSG_LIST;
	m->req = req;
	bridge_post(m);
}

/* ---- metrics -------------------------------------------------------------------------------------- */

static void register_metrics(void)
{
	static const double frame_ms[] = {0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100};
	g_m.active = sb_gauge("bridge_active_calls", "calls in progress (prepared or streaming)", NULL);
	g_m.calls_total = sb_counter("bridge_calls_total", "calls handled", NULL);
	g_m.frames_in = sb_counter("bridge_frames_total", "media frames relayed", "direction=\"caller_to_model\"");
	g_m.frames_out = sb_counter("bridge_frames_total", "media frames relayed", "direction=\"model_to_caller\"");
	g_m.lat_in = sb_histogram("bridge_relay_latency_ms", "time from receipt to queued write", "direction=\"caller_to_model\"", frame_ms, 10);
	g_m.lat_out = sb_histogram("bridge_relay_latency_ms", "time from receipt to queued write", "direction=\"model_to_caller\"", frame_ms, 10);
	g_m.connect_ms = sb_histogram("bridge_model_connect_ms", "model socket connect to session.updated", NULL, SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
	g_m.ttfa_ms = sb_histogram("bridge_first_audio_ms", "caller speech end to first assistant audio", NULL, SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
	g_m.barge_ins = sb_counter("bridge_barge_ins_total", "accepted barge-ins", NULL);
	g_m.truncations = sb_counter("bridge_truncations_total", "conversation.item.truncate sent", NULL);
	g_m.tool_ms = sb_histogram("bridge_tool_latency_ms", "tool call latency", NULL, SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
	g_m.tokens_in = sb_counter("bridge_tokens_total", "model tokens (response.done usage)", "kind=\"input\"");
	g_m.tokens_out = sb_counter("bridge_tokens_total", "model tokens (response.done usage)", "kind=\"output\"");
	g_m.rejected = sb_counter("bridge_streams_rejected_total", "streams refused (token, path, limits)", NULL);
	g_m.dropped_msgs = sb_counter("bridge_dropped_messages_total", "malformed or unexpected messages dropped", NULL);
	g_m.reconnects = sb_counter("bridge_model_reconnects_total", "model session reconnects", NULL);
	g_m.store_retries = sb_counter("bridge_store_retries_total", "store writes retried", NULL);
}

/* ---- daemon hooks ------------------------------------------------------------------------------------ */

static int bridge_check(void *ctx)
{
	static char def_url[128];
	if (!g_cfg.realtime_url || !*g_cfg.realtime_url) {
		snprintf(def_url, sizeof def_url, "%s", g_cfg.api_key && *g_cfg.api_key ?
			 "wss://api.openai.com/v1/realtime" : "ws://127.0.0.1:8082/v1/realtime");
		g_cfg.realtime_url = def_url;
	}
	if (model_check_url(g_cfg.realtime_url) < 0)
		return -1;
	if (!g_cfg.secret || !*g_cfg.secret) {
		fprintf(stderr, "sb-media-bridge: --secret (SB_SECRET) is required to verify stream tokens\n");
		return -1;
	}
	return 0;
}

static int open_clients(sb_error *err)
{
	sb_client_opts so = {.timeout_ms = 3000, .resend_ms = 1000};
	sb_client_opts ro = {.timeout_ms = (int)g_cfg.tool_timeout_ms, .resend_ms = 1000};
	if (!(L.store = sb_client_open(g_cfg.store_url, &so, err)))
		return -1;
	if (!(L.rag = sb_client_open(g_cfg.rag_url, &ro, err)))
		return -1;
	return 0;
}

static int bridge_init(void *ctx)
{
	sb_error err = {0};
	static sb_op_fn handlers[SB_BRIDGE__COUNT];
	handlers[SB_BRIDGE_SESSION_PREPARE] = op_prepare;
	handlers[SB_BRIDGE_SESSION_LIST] = op_list;
	register_metrics();
	if (open_clients(&err) < 0 || !(L.pub = sb_pub_open(g_cfg.events, &err)))
		goto fail;
	store_start();
	if (rest_start() < 0 || start_lws() < 0)
		return -1;
	sb_rpc_config rc = {.url = g_cfg.control, .service = &SB_SVC_BRIDGE, .handlers = handlers, .nctx = 64};
	if (sb_rpc_server_start(&rc, &L.rpc, &err) < 0)
		goto fail;
	sb_info("bridge.ready", "control=%s realtime=%s model=%s", g_cfg.control, g_cfg.realtime_url, g_cfg.model);
	return 0;
fail:
	sb_error_log("bridge.init_failed", "code=%s msg=\"%s\"", sb_code_name(err.code), err.message);
	return -1;
}

/* SIGTERM: refuse new streams; let calls in progress finish, up to --drain-seconds. */
static void bridge_drain(void *ctx)
{
	atomic_store(&L.draining, true);
	int64_t until = sb_mono_ms() + g_cfg.drain_s * 1000;
	if (atomic_load(&L.ncalls))
		sb_info("bridge.draining", "calls=%d grace_s=%ld", atomic_load(&L.ncalls), g_cfg.drain_s);
	while (atomic_load(&L.ncalls) > 0 && sb_mono_ms() < until)
		usleep(50 * 1000);
}

/* After the loop is gone: answer what is still in the inbox. */
static void fail_leftover_msgs(void)
{
	pthread_mutex_lock(&L.inbox_mu);
	bridge_msg *m = L.inbox_head;
	L.inbox_head = L.inbox_tail = NULL;
	L.ctx = NULL;
	pthread_mutex_unlock(&L.inbox_mu);
	for (bridge_msg *next; m; m = next) {
		next = m->next;
		if (m->req)
			sb_req_fail(m->req, SB_UNAVAILABLE, "shutting down");
		json_decref(m->data);
		free(m);
	}
}

static void bridge_fini(void *ctx)
{
	if (L.rpc)
		sb_rpc_server_stop(L.rpc);
	L.rpc = NULL;
	if (L.thread_started) {
		atomic_store(&L.stopping, true);
		lws_cancel_service(L.ctx);
		pthread_join(L.thread, NULL);
	}
	rest_stop();
	store_stop(2000);
	sb_client_close(L.store); /* outstanding replies run their callbacks now */
	sb_client_close(L.rag);
	fail_leftover_msgs();
	store_free();
	sb_pub_close(L.pub);
	sb_metrics_free_all();
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-media-bridge",
		.summary = "relays Twilio media streams to a Realtime speech-to-speech model, with barge-in, tools and transcripts",
		.flags = flags,
		.check = bridge_check,
		.init = bridge_init,
		.drain = bridge_drain,
		.fini = bridge_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
