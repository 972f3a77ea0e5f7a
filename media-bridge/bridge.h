/*
 * bridge.h — sb-media-bridge internals shared by its files.
 *
 * One lws context, one service thread (the "loop", on lws's libev plugin, so
 * epoll). Every call is a bridge_call owned by the loop: only the loop thread
 * reads or writes it. Other threads (nng aio callbacks: store, rag, session
 * control; the REST worker) never touch a call: they post a bridge_msg to the
 * inbox (bridge_post) which wakes the loop with lws_cancel_service; the loop
 * finds the call again by its id, so a reply for a call that has ended is
 * simply dropped.
 *
 * Files, by role:
 *   bridge.c               main, flags, the loop thread, inbox, session control REP
 *   bridge_twilio.c        Twilio Media Streams server side (+ media fast path)
 *   bridge_model.c         Realtime GA client: connect, send queue, event dispatch
 *   bridge_session.c       per-call lifecycle: attach, audio relay, barge-in, end
 *   bridge_marks.c         playback tracking / barge-in arithmetic (pure)
 *   bridge_tools.c         function calls: knowledge lookup, transfer, end_call, collections
 *   bridge_instructions.c  session.update body from business config / payer context
 *   bridge_store.c         retried, bounded store writes (transcripts, status, tools)
 *   bridge_rest.c          Twilio REST (call update) on a worker thread
 *   bridge_auth.c          stream-token check
 *   bridge_buf.c           byte buffers and WebSocket send queues
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge_marks.h"
#include "sb_metrics.h"
#include "sb_rpc.h"
#include "sb_wsrx.h"

/* ---- configuration (bridge.c) ------------------------------------------------ */

typedef struct bridge_cfg {
	char *listen, *control, *events, *store_url, *rag_url;
	char *realtime_url, *model, *api_key, *secret;
	char *twilio_sid, *twilio_token, *twilio_api_url;
	char *voice, *transcribe_model;
	long  max_calls, prepared_ttl, max_call_s, idle_s, debounce_ms, drain_s;
	long  tool_timeout_ms, max_session_s, reconnect_max;
	bool  insecure_tls;
} bridge_cfg;

extern bridge_cfg g_cfg;

/* ---- buffers (bridge_buf.c) ------------------------------------------------- */

/* A growable byte buffer that keeps LWS_PRE bytes of headroom before data. */
typedef struct bbuf {
	unsigned char *mem;   /* LWS_PRE + cap bytes */
	size_t         len, cap, max;
} bbuf;

/* Append n bytes; -1 if that would pass b->max (nothing appended). */
int bbuf_add(bbuf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
int bbuf_adds(bbuf *b, const char *s);
/* The data (after the headroom). */
static inline unsigned char *bbuf_data(bbuf *b) { return b->mem ? b->mem + LWS_PRE : NULL; }
/* Drop the first n bytes. */
void bbuf_consume(bbuf *b, size_t n);
/* Empty and release memory. */
void bbuf_free(bbuf *b);

/* A FIFO of whole messages, each with LWS_PRE headroom, for lws_write. */
typedef struct msgq {
	bbuf   b;
	size_t head;        /* offset of the first record */
	int    count;
} msgq;

/* Queue one message (copied) stamped with t_us; -1 if the queue is full. */
int msgq_push(msgq *q, const void *p, size_t n, int64_t t_us);
/* The first message (payload pointer has LWS_PRE headroom) and its stamp; 0 if empty. */
int msgq_front(msgq *q, unsigned char **p, size_t *n, int64_t *t_us);
/* Drop the first message. */
void msgq_pop(msgq *q);
/* Queued bytes. */
static inline size_t msgq_bytes(const msgq *q) { return q->b.len - q->head; }
void msgq_free(msgq *q);

/* Append one unmasked server text frame (header + payload) to b; -1 if full. */
int ws_frame_text(bbuf *b, const void *payload, size_t n);
/* Append a client (masked, RFC 6455 §5.3) text frame with a fresh random mask. 0 or -1 (full). Loop thread only. */
int ws_frame_text_masked(bbuf *b, const void *payload, size_t n);

/* ---- calls ------------------------------------------------------------------- */

typedef enum { MODEL_NONE, MODEL_CONNECTING, MODEL_OPEN, MODEL_CONFIGURED, MODEL_READY, MODEL_BACKOFF, MODEL_FAILED } model_state;
typedef enum { CALL_PREPARED, CALL_STREAMING, CALL_ENDING } call_state;

#define BR_SID 72
#define BR_MAX_TOOLS 8
#define BR_MAX_RESERVED 16
#define BR_HISTORY 48

typedef struct br_tool {
	char    call_id[64], name[40], resp_id[64];
	char   *args;       /* JSON text from the model */
	char   *output;     /* set when done */
	int64_t started_ms;
	bool    running, done, side_effect, reply, resp_done, cancelled;
} br_tool;

typedef struct br_line {
	char *role, *text;
} br_line;

typedef struct br_reserved {
	char     item_id[64];
	uint32_t seq;
} br_reserved;

typedef struct bridge_call bridge_call;
struct bridge_call {
	uint64_t     id;
	bridge_call *prev, *next, *hnext;
	call_state   state;
	bool         outbound, have_start, ended, log_ready;
	char         call_sid[BR_SID], stream_sid[BR_SID], account_sid[BR_SID];
	char         business_id[BR_SID], payer_id[BR_SID], from[BR_SID], to[BR_SID];
	int64_t      created_ms, started_ms, last_caller_audio_ms;
	char         end_reason[48];

	/* Twilio side */
	struct lws  *tw;
	bbuf         tw_out;          /* framed text frames, sent raw in one write */
	int64_t      tw_out_since_us; /* when tw_out last became non-empty (latency metric) */
	bbuf         early_audio;     /* model audio before `start` (no streamSid yet) */
	unsigned char rem[160];       /* partial 20 ms frame awaiting more audio */
	size_t       rem_len;
	int          rem_slot, early_slot;
	bridge_marks marks;
	char         drop_resp[64];   /* response whose late deltas are dropped */

	/* model side */
	struct lws  *model;
	sb_wsrx      model_rx;        /* reassembly of fragmented model events */
	model_state  mstate;
	msgq         model_out;
	msgq         pending_audio;   /* caller audio before the session is configured */
	int          reconnects, attempt;
	int64_t      model_connect_start_ms, session_started_ms;
	bool         model_close_req, greeted, replay_due;
	json_t      *context;         /* business config / payer, from the store */
	bool         context_done;
	char        *instructions;
	char        *transfer_number;

	/* turn and response state */
	char         active_resp[64];
	bool         resp_active, create_pending, hangup_after_response, hangup_ready;
	bool         transfer_pending;
	int64_t      speech_end_ms;   /* caller stopped talking (latency metric) */
	bool         awaiting_first_audio;
	lws_sorted_usec_list_t sul_debounce, sul_model, sul_tick;
	bool         speaking;
	br_tool      tools[BR_MAX_TOOLS];
	int          ntools;

	/* transcript */
	uint32_t     next_seq;
	br_reserved  reserved[BR_MAX_RESERVED];
	int          nreserved;
	br_line      history[BR_HISTORY];
	int          nhistory;

	/* stats */
	uint64_t     frames_in, frames_out, barge_ins;
	uint64_t     tokens_in, tokens_out;
};

/* ---- the loop (bridge.c) ----------------------------------------------------------- */

typedef enum {
	MSG_PREPARE, MSG_LIST, MSG_CONTEXT, MSG_TOOL_RESULT, MSG_REST_DONE, MSG_STORE_DONE,
} msg_kind;

/* A message from another thread to the loop. */
typedef struct bridge_msg {
	struct bridge_msg *next;
	msg_kind  kind;
	uint64_t  call_id;
	sb_req   *req;        /* MSG_PREPARE, MSG_LIST: answer from the loop */
	json_t   *data;       /* owned */
	int       rc;
	sb_error  err;
	char      ref[64];    /* tool call id, etc. */
} bridge_msg;

/* EVENT_WAIT_CANCELLED (handled by the twilio protocol only): drain the inbox. */
int bridge_loop_wakeup(void);
/* Hand msg (owned) to the loop; any thread. */
void bridge_post(bridge_msg *msg);
/* The lws context (loop thread only). */
struct lws_context *bridge_ctx(void);
/* Find a live call by id (loop thread), or NULL. */
bridge_call *bridge_call_by_id(uint64_t id);
/* Find a live call by Twilio callSid, or NULL. */
bridge_call *bridge_call_by_sid(const char *call_sid);
/* Create and register a call. */
bridge_call *bridge_call_new(const char *call_sid, bool outbound);
/* Unregister and free a call (loop thread). */
void bridge_call_free(bridge_call *c);
/* Number of live calls. */
int bridge_call_count(void);
/* Iterate: first/next call. */
bridge_call *bridge_call_first(void);
/* True once SIGTERM asked the bridge to stop taking calls. */
bool bridge_draining(void);
/* Clients to the other daemons (thread-safe). */
sb_client *bridge_store(void);
sb_client *bridge_rag(void);
/* Publish a bridge.* event (body stolen). */
void bridge_publish(int ev, json_t *body);

/* ---- Twilio side (bridge_twilio.c) -------------------------------------------------- */

/* Per-connection state of a Twilio socket (lws per-session data). */
typedef struct tw_pss {
	bridge_call *call;       /* set once `start` is accepted */
	sb_wsrx      rx;         /* reassembly of fragmented messages (bounded, text only) */
	bool         outbound_path, close_req, got_start;
	int          bad;        /* malformed messages so far */
	int64_t      opened_ms;
} tw_pss;

/* The lws protocol handler for Twilio media streams. */
int bridge_twilio_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/* Queue a `media` of whole 160-byte frames (bytes multiple of 160) and request a write. */
int twilio_send_media(bridge_call *c, const unsigned char *ulaw, size_t n);
/* Queue a `mark` named name. */
int twilio_send_mark(bridge_call *c, const char *name);
/* Queue a `clear`. */
int twilio_send_clear(bridge_call *c);
/* Close the Twilio socket from the loop (any callback). */
void twilio_close(bridge_call *c);
/* Write what is queued for Twilio now when the socket takes it, else ask for WRITEABLE. */
void twilio_flush(bridge_call *c);

/* True while a RECEIVE handler runs: queueing then asks lws for no WRITEABLE, because the
 * handler flushes both sides of its call directly at its end (one send, no epoll round trip). */
extern bool g_io_defer;

/* ---- model side (bridge_model.c) ---------------------------------------------------- */

/* The lws protocol handler for the Realtime client connection. */
int bridge_model_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/* Open the model session for c (first connect or reconnect). */
void model_connect(bridge_call *c);
/* Queue a client event (JSON text) for the model; -1 if the queue is full. */
int model_send(bridge_call *c, const char *js, size_t n);
/* Write every queued client event now (masked frames, one send) when the socket takes it, else ask for WRITEABLE. */
void model_flush(bridge_call *c);
/* Queue a client event given as JSON (stolen). */
int model_send_json(bridge_call *c, json_t *ev);
/* Forward caller audio (raw base64 from Twilio) as input_audio_buffer.append. */
void model_append_audio(bridge_call *c, const char *b64, size_t n);
/* Close the model socket (no reconnect). */
void model_close(bridge_call *c);
/* Validate --realtime-url; 0 or -1 with a message on stderr. */
int model_check_url(const char *url);

/* ---- session logic (bridge_session.c) ------------------------------------------------ */

/* Create a prepared call (pre-warm) from session.prepare args. */
bridge_call *session_prepare(const json_t *args);
/* Twilio `start` accepted for c: attach and begin. */
void session_started(bridge_call *c);
/* Model audio for item/response: frame to Twilio (or hold until start). */
void session_model_audio(bridge_call *c, const char *resp_id, size_t rlen, const char *item_id, size_t ilen,
			 int content_index, const char *b64, size_t n);
/* End of an item's audio: flush the partial frame and mark the end. */
void session_audio_done(bridge_call *c);
/* A mark echo from Twilio. */
void session_mark(bridge_call *c, const char *name, size_t n);
/* Model says the caller started / stopped talking. */
void session_speech_started(bridge_call *c);
void session_speech_stopped(bridge_call *c);
/* The caller pressed a key. */
void session_dtmf(bridge_call *c, const char *digit);
/* Transcript: reserve a seq for an item, then fill it (role user/assistant/tool/system). */
void session_reserve(bridge_call *c, const char *item_id);
void session_line(bridge_call *c, const char *item_id, const char *role, const char *text);
/* session.created (or the context arrived): send session.update if both are in. */
void session_configure(bridge_call *c);
/* The model session is configured (session.updated). */
void session_model_ready(bridge_call *c);
/* The model socket went away (err: why); reconnect or give up. */
void session_model_lost(bridge_call *c, const char *why, bool expired);
/* The Twilio side ended (stop or socket closed): finish and free when both sides are down. */
void session_twilio_gone(bridge_call *c, const char *reason);
/* End the call from our side (limits, faults, end_call). */
void session_end(bridge_call *c, const char *reason);
/* Send response.create now if no response is active, else when the active one is done. */
void session_request_response(bridge_call *c, json_t *response /* stolen, may be NULL */);
/* response.created / response.done bookkeeping. */
void session_response_created(bridge_call *c, const char *resp_id);
void session_response_done(bridge_call *c, const json_t *response);
/* Loop-thread handlers of inbox messages. */
void session_context_loaded(bridge_call *c, bridge_msg *m);
/* Periodic per-call check (idle, max duration, session age, prepared expiry). */
void session_tick(bridge_call *c, int64_t now);
/* Send the replay of history after a reconnect. */
void session_replay(bridge_call *c);

/* ---- tools (bridge_tools.c) ----------------------------------------------------------- */

/* The tools array for session.update (new reference). */
json_t *tools_for(const bridge_call *c);
/* response.function_call_arguments.done. */
void tools_on_call(bridge_call *c, const json_t *ev);
/* response.done for resp_id with status; runs/cancels side-effecting tools, sends outputs. */
void tools_on_response_done(bridge_call *c, const char *resp_id, const char *status);
/* A tool result came back (inbox). */
void tools_on_result(bridge_call *c, bridge_msg *m);
/* A REST action finished (inbox). */
void tools_on_rest(bridge_call *c, bridge_msg *m);
/* Free the call's tool state. */
void tools_free(bridge_call *c);
/* The pending transfer (its announcement has played): call Twilio now. */
void tools_transfer_now(bridge_call *c);
/* Fallback when the model cannot be reached: transfer if possible, else end. */
void tools_fallback(bridge_call *c, const char *why);

/* ---- instructions (bridge_instructions.c) --------------------------------------------- */

/* The session.update event for c (new reference). */
json_t *instructions_session_update(bridge_call *c);
/* The greeting response.create body (new reference). */
json_t *instructions_greeting(const bridge_call *c);
/* response.metadata {business_id, call_sid[, payer_id]} for every response.create. */
json_t *instructions_metadata(const bridge_call *c);

/* ---- store writes (bridge_store.c) ------------------------------------------------------ */

/* Start the retry machinery; stop flushes what it can (bounded wait); free after the client is closed. */
void store_start(void);
void store_stop(int wait_ms);
void store_free(void);
/* Queue a store write (args stolen); retried until acknowledged or the queue overflows. */
void store_write(int op, json_t *args);
/* Loop: an ack came back. */
void store_on_done(bridge_msg *m);
/* Loop: retry due writes. */
void store_tick(int64_t now);
/* Writes not yet acknowledged. */
int store_pending(void);

/* ---- Twilio REST (bridge_rest.c) -------------------------------------------------------- */

typedef enum { REST_TRANSFER, REST_HANGUP } rest_kind;
/* Start/stop the REST worker thread. */
int rest_start(void);
void rest_stop(void);
/* Queue a call update; the result comes back as MSG_REST_DONE with ref "transfer"/"hangup". */
void rest_update_call(uint64_t call_id, const char *call_sid, rest_kind kind, const char *arg);

/* ---- stream token (bridge_auth.c) ------------------------------------------------------- */

typedef struct bridge_claims {
	char call_sid[BR_SID], direction[16], business_id[BR_SID], payer_id[BR_SID];
} bridge_claims;

/* Check the token in start.customParameters; 0 and claims, or -1 with why. */
int auth_check(const json_t *custom_params, const char *call_sid, bridge_claims *out, char *why, size_t whylen);

/* ---- metrics (bridge.c) -------------------------------------------------------------- */

typedef struct bridge_metrics {
	sb_metric *active, *frames_in, *frames_out, *lat_in, *lat_out, *connect_ms, *ttfa_ms;
	sb_metric *barge_ins, *truncations, *tool_ms, *tokens_in, *tokens_out, *calls_total;
	sb_metric *rejected, *dropped_msgs, *reconnects, *store_retries;
} bridge_metrics;

extern bridge_metrics g_m;

#endif
