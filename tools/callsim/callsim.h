/*
 * callsim.h — what the parts of sb-callsim share.
 *
 *   callsim.c        main, the media streams (one lws loop, many calls), report
 *   callsim_hook.c   the webhook worker: POSTs signed voice webhooks and status
 *                    callbacks (blocking libcurl, its own thread), reads the
 *                    TwiML <Connect><Stream> and hands the stream to the loop
 *   callsim_twiml.c  a strict parser for the TwiML subset Twilio streams need
 *   callsim_rest.c   the Twilio REST stand-in (libmicrohttpd, its own thread):
 *                    Calls.json create and Calls/{sid}.json update
 *   callsim_say.c    --say: the caller speaks audio files, taking turns (loop)
 *
 * Threads: the loop owns every call. The worker and the REST server never
 * touch a call; they post a cs_msg (cs_post: mutex + list + lws_cancel_service)
 * and the loop applies it.
 */
#ifndef SB_CALLSIM_H
#define SB_CALLSIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CS_SID  40  /* CA…/MZ… plus NUL */
#define CS_URL  512

typedef enum cs_msg_kind {
	CS_OPEN, /* a webhook answered: open the stream it names (or give up on the call) */
	CS_END,  /* REST update: end the call (arg = "" for Status=completed, else the <Dial> number) */
} cs_msg_kind;

/* A message to the loop; the loop frees it. */
typedef struct cs_msg {
	struct cs_msg *next;
	cs_msg_kind    kind;
	int            idx;             /* CS_OPEN: the call's slot, or -1 for a REST dial-back */
	int            status;          /* CS_OPEN: webhook HTTP status (0: no response) */
	char           call_sid[CS_SID];
	char           url[CS_URL];     /* CS_OPEN: the stream URL ("" when the TwiML has none) */
	char           arg[128];        /* CS_END: transfer number, "" to hang up */
	json_t        *params;          /* CS_OPEN: the <Parameter>s as an object (owned) */
	char          *twiml;           /* CS_OPEN: the response body (owned) */
} cs_msg;

/* The flags the parts share (read-only after start). */
typedef struct cs_cfg {
	char *account_sid, *auth_token, *from, *to, *rest_log;
	long  rest_fail_status, rest_fail_count;
	bool  rest_no_dial;
	char *say;
	long  say_gap_ms, say_timeout_ms, say_interrupt_ms;
} cs_cfg;
extern cs_cfg cs;

/* Hand m to the loop (any thread). */
void cs_post(cs_msg *m);

/* Start the webhook worker. 0 or -1. */
int hook_start(void);
/* Stop it (pending jobs are dropped). */
void hook_stop(void);
/* Queue a voice webhook for call sid (slot idx, -1 for a dial-back); the TwiML comes back as CS_OPEN. */
void hook_voice(int idx, const char *sid, const char *url, const char *from, const char *to, const char *direction);
/* Queue a status callback POST to url for call sid (status e.g. "ringing"; duration_s < 0: none). */
void hook_status(const char *sid, const char *url, const char *from, const char *to, const char *status, long duration_s);

/* Parse TwiML: 1 with *url and *params (owned) filled when it is
 * <Response><Connect><Stream url>[<Parameter name value/>…]</Stream></Connect></Response>,
 * 0 for other well-formed TwiML (no stream), -1 if it is not TwiML this parser accepts. */
int twiml_stream(const char *xml, char *url, size_t cap, json_t **params);

/* Start the REST stand-in on host:port (loopback). 0 or -1. */
int rest_start(const char *listen);
/* Stop answering (the request log stays for the report). */
void rest_stop(void);
/* Free what rest_stop kept. */
void rest_free(void);
/* Make sid known to the REST server (a call callsim places itself). */
void rest_register(const char *sid, const char *from, const char *to);
/* The call ended (loop): its resource shows completed; status callback if one was asked for. */
void rest_call_ended(const char *sid, long duration_s);
/* Every REST request seen so far, as an array (owned). */
json_t *rest_requests(void);

/* --say (callsim_say.c; loop thread, after say_load). One call's turn taking. */
typedef struct cs_say cs_say;
/* Load the comma-separated audio files (before the loop starts). 0 or -1 (logged). */
int say_load(const char *list);
void say_unload(void);
/* A call's state, its stream started at call_start_ms (NULL when nothing is loaded). */
cs_say *say_new(int64_t call_start_ms);
void say_free(cs_say *s);
/* The caller's 20 ms frame in slot t (mono ms), play_len agent bytes still queued:
 * true with f filled while an utterance is being said, false (f untouched) otherwise. */
bool say_frame(cs_say *s, int64_t t, size_t play_len, unsigned char f[160]);
/* The player played n bytes of agent audio in slot t (after say_frame for that slot). */
void say_played(cs_say *s, int64_t t, size_t n);
/* Every utterance said and answered (or unanswered past --say-timeout-ms): hang up. */
bool say_finished(const cs_say *s);
/* Per utterance: file, sayStartMs, sayEndMs, replyFirstAudioMs (from call start; null: not yet), startedBy. */
json_t *say_report(const cs_say *s);

#endif
