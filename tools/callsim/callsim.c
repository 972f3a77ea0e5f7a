/*
 * callsim.c — sb-callsim: impersonates Twilio Media Streams for tests,
 * demos and load.
 *
 * For each of --calls calls it opens the bidirectional stream on
 * --stream-url, sends `connected` and `start` (customParameters.token made
 * with common/sb_token under --secret, or deliberately missing / forged /
 * expired with --bad-token), then a `media` frame every 20 ms in real time
 * (silence, or a loud tone while "talking"), and behaves as Twilio's player:
 * received audio is queued and played at 8 bytes/ms, a `mark` is echoed when
 * playback reaches it, and a `clear` empties the queue and echoes every
 * pending mark at once. It sends `dtmf` on cue, checks the streamSid of
 * every frame it gets, records call 0's heard audio to --record-wav, and
 * sends `stop` and closes after --duration-ms.
 *
 * --stamp (load/benchmark, against sb-realtime-sim --echo): frames carry
 * "SBTS", the send time and a sequence number; the echo adds its receive
 * time, so each direction's latency and every lost frame are measured.
 * --report writes a JSON summary. Many calls share one thread and one lws
 * loop (libev), so the tool stays cheaper than the bridge it measures.
 *
 * --say FILES: the caller speaks recorded utterances instead, taking turns
 * with the agent, and hangs up once the last is answered (callsim_say.c);
 * the report gets each utterance's timing (turn latency).
 *
 * --webhook-url: each call first POSTs the signed voice webhook (as Twilio
 * does: callsim_hook.c) and opens the stream its TwiML names, sending the
 * TwiML's <Parameter>s as start.customParameters (the token included).
 * --rest-listen: also answer Twilio REST calls create/update
 * (callsim_rest.c); a create dials back through the webhook leg, an update
 * ends (or "transfers") the simulated call. See callsim.h for the threads.
 */
#include <libwebsockets.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_base64.h"
#include "sb_daemon.h"
#include "sb_hmac.h"
#include "sb_id.h"
#include "sb_g711.h"
#include "sb_jscan.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_time.h"
#include "sb_token.h"

#include "callsim.h"
#include "sb_wsrx.h"

static struct {
	char *url, *secret, *business, *payer, *bad_token, *report, *wav, *dtmf, *garbage, *call_sid;
	char *webhook_url, *direction, *rest_listen;
	long  calls, duration_ms, ramp_ms, talk_at_ms, talk_ms, dtmf_at_ms, linger_ms, talk_count, talk_every_ms, rest_max, lat_skip_ms;
	bool  stamp;
} cfg;
cs_cfg cs;

static const sb_flag flags[] = {
	{"stream-url", "SB_CALLSIM_STREAM_URL", SB_FLAG_STR, "ws://127.0.0.1:8081/api/twilio/stream", "media stream URL (the bridge)", &cfg.url, 0, 0, false},
	{"secret", "SB_SECRET", SB_FLAG_STR, NULL, "signs the stream token", &cfg.secret, 0, 0, true},
	{"business-id", NULL, SB_FLAG_STR, "biz_sim", "token subject for inbound calls", &cfg.business, 0, 0, false},
	{"payer-id", NULL, SB_FLAG_STR, NULL, "token subject for outbound (collections) calls", &cfg.payer, 0, 0, false},
	{"bad-token", NULL, SB_FLAG_STR, NULL, "missing | forged | expired", &cfg.bad_token, 0, 0, false},
	{"calls", NULL, SB_FLAG_INT, "1", "concurrent calls (0: only answer REST requests, until SIGTERM)", &cfg.calls, 0, 100000, false},
	{"call-sid", NULL, SB_FLAG_STR, NULL, "callSid of call 0 (e.g. one prepared with session.prepare)", &cfg.call_sid, 0, 0, false},
	{"duration-ms", NULL, SB_FLAG_INT, "5000", "call length", &cfg.duration_ms, 100, 86400000, false},
	{"ramp-ms", NULL, SB_FLAG_INT, "0", "spread call starts over this long", &cfg.ramp_ms, 0, 600000, false},
	{"talk-at-ms", NULL, SB_FLAG_INT, "-1", "start talking this long after first hearing audio (-1 never)", &cfg.talk_at_ms, -1, 86400000, false},
	{"talk-ms", NULL, SB_FLAG_INT, "800", "how long to talk", &cfg.talk_ms, 20, 600000, false},
	{"talk-count", NULL, SB_FLAG_INT, "1", "how many times to talk", &cfg.talk_count, 1, 1000, false},
	{"talk-every-ms", NULL, SB_FLAG_INT, "3000", "from one talk's start to the next", &cfg.talk_every_ms, 20, 600000, false},
	{"dtmf-at-ms", NULL, SB_FLAG_INT, "-1", "press --dtmf this long into the call (-1 never)", &cfg.dtmf_at_ms, -1, 86400000, false},
	{"dtmf", NULL, SB_FLAG_STR, "1", "the key to press", &cfg.dtmf, 0, 0, false},
	{"garbage", NULL, SB_FLAG_STR, NULL, "after start send: binary, json, unknown, huge, or all", &cfg.garbage, 0, 0, false},
	{"stamp", NULL, SB_FLAG_BOOL, NULL, "stamp frames to measure latency and loss (with sb-realtime-sim --echo)", &cfg.stamp, 0, 0, false},
	{"linger-ms", NULL, SB_FLAG_INT, "10000", "with --stamp: after the last frame, wait at most this long for the echoes before hanging up; frames still missing then count as lost", &cfg.linger_ms, 0, 600000, false},
	{"latency-skip-ms", NULL, SB_FLAG_INT, "0", "with --stamp: leave frames sent in each call's first N ms out of the latency histograms (steady state)", &cfg.lat_skip_ms, 0, 600000, false},
	{"report", NULL, SB_FLAG_STR, NULL, "write a JSON summary here", &cfg.report, 0, 0, false},
	{"record-wav", NULL, SB_FLAG_STR, NULL, "record what call 0 hears (μ-law WAV)", &cfg.wav, 0, 0, false},
	{"webhook-url", NULL, SB_FLAG_STR, NULL, "POST the signed voice webhook here first and stream where its TwiML says", &cfg.webhook_url, 0, 0, false},
	{"direction", NULL, SB_FLAG_STR, "inbound", "the webhook's Direction: inbound or outbound-api", &cfg.direction, 0, 0, false},
	{"from", NULL, SB_FLAG_STR, "+15005550006", "caller number (webhook From)", &cs.from, 0, 0, false},
	{"to", NULL, SB_FLAG_STR, "+15005550001", "called number (webhook To)", &cs.to, 0, 0, false},
	{"account-sid", "TWILIO_ACCOUNT_SID", SB_FLAG_STR, "ACsim00000000000000000000000000000", "the simulated Twilio account", &cs.account_sid, 0, 0, false},
	{"twilio-auth-token", "TWILIO_AUTH_TOKEN", SB_FLAG_STR, NULL, "signs webhooks; the REST password", &cs.auth_token, 0, 0, true},
	{"rest-listen", NULL, SB_FLAG_STR, NULL, "answer Twilio REST (Calls create/update) on this loopback host:port", &cfg.rest_listen, 0, 0, false},
	{"rest-log", NULL, SB_FLAG_STR, NULL, "append one JSON line per REST request here", &cs.rest_log, 0, 0, false},
	{"rest-fail-status", NULL, SB_FLAG_INT, "0", "answer calls-create with this HTTP status (fault injection; 0 never)", &cs.rest_fail_status, 0, 599, false},
	{"rest-fail-count", NULL, SB_FLAG_INT, "1000000", "... for this many creates, then succeed", &cs.rest_fail_count, 0, 1000000, false},
	{"rest-no-dial", NULL, SB_FLAG_BOOL, NULL, "REST create answers 201 but does not dial back", &cs.rest_no_dial, 0, 0, false},
	{"rest-max-calls", NULL, SB_FLAG_INT, "64", "simulated calls REST creates may dial back", &cfg.rest_max, 0, 10000, false},
	{"say", NULL, SB_FLAG_STR, NULL, "the caller says these audio files in turn (comma-separated; mu-law or 16-bit PCM 8 kHz mono WAV, raw mu-law .ul), then hangs up", &cs.say, 0, 0, false},
	{"say-gap-ms", NULL, SB_FLAG_INT, "700", "with --say: speak once the agent has spoken and been quiet this long", &cs.say_gap_ms, 0, 600000, false},
	{"say-timeout-ms", NULL, SB_FLAG_INT, "8000", "with --say: go on when the agent says nothing this long", &cs.say_timeout_ms, 0, 600000, false},
	{"say-interrupt-ms", NULL, SB_FLAG_INT, "-1", "with --say: start the next utterance this long after the answer starts (barge-in; -1 never)", &cs.say_interrupt_ms, -1, 600000, false},
	SB_FLAGS_END,
};

typedef struct msg {
	struct msg *next;
	size_t      len;
	bool        binary;
	unsigned char buf[];
} msg;

typedef struct call {
	int          idx;
	struct lws  *wsi;
	char         host[128], path[256];
	int          port;
	bool         ready;        /* the stream URL is known (webhook answered) */
	int          webhook_status;
	json_t      *params;       /* customParameters from the TwiML, or NULL: make a token */
	char         ended_by[16], transfer_to[128];
	long         heard_at_end_ms;
	char         call_sid[40], stream_sid[40];
	msg         *head, *tail;
	bool         open, done, closed, rejected, started;
	int64_t      start_ms, next_frame_ms, first_audio_ms, end_ms;
	uint32_t     seq, next_echo_seq;
	unsigned char *play;        /* queued audio */
	size_t       play_len, play_cap;
	uint64_t     received, played, heard_bytes;
	struct { char name[40]; uint64_t pos; } marks[512];
	int          nmarks;
	cs_say      *say;          /* --say turn taking */
	long         frames_sent, frames_echoed, lost, bad_sid, marks_echoed, clears, played_at_clear, dtmf_sent;
	sb_wsrx      rx; /* message reassembly */
} call;

static call *calls;
static int nslots, ncap; /* slots in use (--calls first, then REST dial-backs), allocated */
static struct lws_context *ctx;
static lws_sorted_usec_list_t sul_tick;
static int ndone;
static long lat_up[1001], lat_down[1001]; /* 0.1 ms buckets up to 100 ms */
static long st_up[1001], st_down[1001];   /* the same, after --latency-skip-ms of each call */
static unsigned char *wav;
static size_t wav_len, wav_cap;

/* ---- out ---------------------------------------------------------------------------------- */

static void queue(call *c, const void *p, size_t n, bool binary)
{
	msg *m = malloc(sizeof *m + LWS_PRE + n);
	m->next = NULL;
	m->len = n;
	m->binary = binary;
	memcpy(m->buf + LWS_PRE, p, n);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void queue_str(call *c, const char *s)
{
	queue(c, s, strlen(s), false);
}

/* customParameters' members: the TwiML's <Parameter>s, else a token we make (or spoil). */
static void start_params(call *c, char *param, size_t cap)
{
	char tok[SB_TOKEN_MAX] = "";
	param[0] = '\0';
	if (c->params) {
		char *s = json_dumps(c->params, JSON_COMPACT);
		size_t n = s ? strlen(s) : 0;
		if (n >= 2 && n - 2 < cap)
			snprintf(param, cap, "%.*s", (int)(n - 2), s + 1);
		free(s);
		return;
	}
	sb_stream_token t = {.kind = cfg.payer ? SB_TOKEN_PAYER : SB_TOKEN_BUSINESS};
	snprintf(t.call_sid, sizeof t.call_sid, "%s", c->call_sid);
	snprintf(t.subject, sizeof t.subject, "%s", cfg.payer ? cfg.payer : cfg.business);
	t.expires = sb_now_ms() / 1000 + 300;
	const char *bad = cfg.bad_token ? cfg.bad_token : "";
	if (strcmp(bad, "expired") == 0)
		t.expires = sb_now_ms() / 1000 - 10;
	const char *secret = strcmp(bad, "forged") == 0 ? "not-the-secret" : (cfg.secret ? cfg.secret : "");
	sb_token_sign(&t, secret, strlen(secret), tok, sizeof tok);
	if (strcmp(bad, "missing") != 0)
		snprintf(param, cap, "\"token\":\"%s\"", tok);
}

static void send_start(call *c)
{
	char param[2048], buf[3072];
	start_params(c, param, sizeof param);
	queue_str(c, "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}");
	snprintf(buf, sizeof buf, "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"%s\","
		 "\"streamSid\":\"%s\",\"callSid\":\"%s\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":"
		 "\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1},\"customParameters\":{%s}},\"streamSid\":\"%s\"}",
		 cs.account_sid, c->stream_sid, c->call_sid, param, c->stream_sid);
	queue_str(c, buf);
	c->started = true;
}

static void send_garbage(call *c)
{
	const char *g = cfg.garbage;
	bool all = strcmp(g, "all") == 0;
	if (all || strcmp(g, "binary") == 0)
		queue(c, "\x01\x02\x03", 3, true);
	if (all || strcmp(g, "json") == 0)
		queue_str(c, "{\"event\":\"media\",\"media\":{\"payload\":");
	if (all || strcmp(g, "unknown") == 0)
		queue_str(c, "{\"event\":\"teleport\",\"streamSid\":\"x\"}");
	if (all || strcmp(g, "huge") == 0) {
		size_t n = 1 << 20;
		char *big = malloc(n);
		memset(big, 'a', n);
		memcpy(big, "{\"event\":\"media\",\"x\":\"", 22);
		memcpy(big + n - 2, "\"}", 2);
		queue(c, big, n, false);
		free(big);
	}
}

/* Is the caller talking now (--talk-count talks, --talk-every-ms apart, from --talk-at-ms after first audio)? */
static bool is_talking(const call *c, int64_t now)
{
	if (cfg.talk_at_ms < 0 || !c->first_audio_ms || now < c->first_audio_ms + cfg.talk_at_ms)
		return false;
	int64_t t = now - c->first_audio_ms - cfg.talk_at_ms;
	return t / cfg.talk_every_ms < cfg.talk_count && t % cfg.talk_every_ms < cfg.talk_ms;
}

/* One 20 ms frame: silence, a loud tone while talking, or a stamped frame. */
static void send_frame(call *c, int64_t now)
{
	unsigned char f[160];
	bool talking = is_talking(c, now);
	bool said = c->say && say_frame(c->say, c->next_frame_ms, c->play_len, f);
	for (int i = 0; i < 160 && !said; i++)
		f[i] = talking ? sb_ulaw_encode((int16_t)(12000 * sin(2 * M_PI * 300.0 * (c->seq * 160 + i) / 8000.0))) : 0xFF;
	if (cfg.stamp) {
		int64_t us = sb_mono_us(), zero = 0;
		memcpy(f, "SBTS", 4);
		memcpy(f + 4, &us, 8);
		memcpy(f + 12, &zero, 8);
		memcpy(f + 20, &c->seq, 4);
	}
	char b64[220], buf[400];
	sb_b64_encode(f, 160, b64);
	c->seq++;
	snprintf(buf, sizeof buf, "{\"event\":\"media\",\"sequenceNumber\":\"%u\",\"media\":{\"track\":\"inbound\",\"chunk\":\"%u\","
		 "\"timestamp\":\"%u\",\"payload\":\"%s\"},\"streamSid\":\"%s\"}", c->seq + 1, c->seq, c->seq * 20, b64, c->stream_sid);
	queue_str(c, buf);
	c->frames_sent++;
}

/* ---- Twilio's player ----------------------------------------------------------------------- */

static void echo_mark(call *c, int i)
{
	char buf[200];
	snprintf(buf, sizeof buf, "{\"event\":\"mark\",\"sequenceNumber\":\"0\",\"streamSid\":\"%s\",\"mark\":{\"name\":\"%s\"}}",
		 c->stream_sid, c->marks[i].name);
	queue_str(c, buf);
	c->marks_echoed++;
}

static void echo_ripe_marks(call *c)
{
	int k = 0;
	for (int i = 0; i < c->nmarks; i++) {
		if (c->marks[i].pos <= c->played)
			echo_mark(c, i);
		else
			c->marks[k++] = c->marks[i];
	}
	c->nmarks = k;
}

static void play_frame(call *c)
{
	size_t n = c->play_len < 160 ? c->play_len : 160;
	if (n) {
		if (c->idx == 0 && cfg.wav) {
			if (wav_len + n > wav_cap)
				wav = realloc(wav, wav_cap = (wav_cap + n) * 2);
			memcpy(wav + wav_len, c->play, n);
			wav_len += n;
		}
		memmove(c->play, c->play + n, c->play_len - n);
		c->play_len -= n;
		c->played += n;
		c->heard_bytes += n;
		say_played(c->say, c->next_frame_ms, n);
	}
	echo_ripe_marks(c);
}

static void on_clear(call *c)
{
	if (c->clears++ == 0)
		c->played_at_clear = (long)c->played;
	c->play_len = 0;
	c->received = c->played;
	for (int i = 0; i < c->nmarks; i++)
		echo_mark(c, i);
	c->nmarks = 0;
}

static void on_audio(call *c, const unsigned char *a, size_t n)
{
	if (!c->first_audio_ms)
		c->first_audio_ms = sb_mono_ms();
	for (size_t off = 0; cfg.stamp && off + 160 <= n; off += 160) {
		int64_t t0, t1, now = sb_mono_us();
		uint32_t seq;
		if (memcmp(a + off, "SBTS", 4) != 0)
			continue;
		memcpy(&t0, a + off + 4, 8);
		memcpy(&t1, a + off + 12, 8);
		memcpy(&seq, a + off + 20, 4);
		long up = (long)((t1 - t0) / 100), down = (long)((now - t1) / 100);
		up = up < 0 ? 0 : up > 1000 ? 1000 : up;
		down = down < 0 ? 0 : down > 1000 ? 1000 : down;
		lat_up[up]++;
		lat_down[down]++;
		if (t0 / 1000 >= c->start_ms + cfg.lat_skip_ms) {
			st_up[up]++;
			st_down[down]++;
		}
		if (seq != c->next_echo_seq)
			c->lost += seq > c->next_echo_seq ? seq - c->next_echo_seq : 0;
		c->next_echo_seq = seq + 1;
		c->frames_echoed++;
	}
	if (c->play_len + n > c->play_cap)
		c->play = realloc(c->play, c->play_cap = (c->play_len + n) * 2);
	memcpy(c->play + c->play_len, a, n);
	c->play_len += n;
	c->received += n;
}

static void on_message(call *c, const char *m, size_t len)
{
	const char *ev, *sid;
	size_t evn, sidn;
	if (sb_jscan_str(m, len, "event", &ev, &evn) != 1)
		return;
	if (sb_jscan_str(m, len, "streamSid", &sid, &sidn) != 1 || !sb_jscan_eq(sid, sidn, c->stream_sid))
		c->bad_sid++;
	if (sb_jscan_eq(ev, evn, "media")) {
		sb_jval md;
		const char *p;
		size_t pn;
		unsigned char buf[8192];
		if (sb_jscan_get(m, len, "media", &md) == 1 && sb_jscan_str(md.p, md.len, "payload", &p, &pn) == 1 &&
		    pn <= 10000) {
			long n = sb_b64_decode(p, pn, buf);
			if (n > 0)
				on_audio(c, buf, (size_t)n);
		}
	} else if (sb_jscan_eq(ev, evn, "mark")) {
		sb_jval mk;
		const char *name;
		size_t nn;
		if (sb_jscan_get(m, len, "mark", &mk) == 1 && sb_jscan_str(mk.p, mk.len, "name", &name, &nn) == 1 &&
		    nn < 40 && c->nmarks < 512) {
			memcpy(c->marks[c->nmarks].name, name, nn);
			c->marks[c->nmarks].name[nn] = '\0';
			c->marks[c->nmarks++].pos = c->received;
		}
	} else if (sb_jscan_eq(ev, evn, "clear")) {
		on_clear(c);
	}
}

/* ---- lws ------------------------------------------------------------------------------------------ */

static void finish(call *c)
{
	if (c->done)
		return;
	c->done = true;
	c->end_ms = sb_mono_ms();
	if (cfg.rest_listen)
		rest_call_ended(c->call_sid, c->start_ms ? (long)((c->end_ms - c->start_ms) / 1000) : 0);
	if (c->idx < cfg.calls && ++ndone == cfg.calls)
		sb_daemon_stop();
}

/* Write queued messages (several per WRITEABLE while the socket takes them: the load generator must stay cheap). */
static int on_writeable(call *c, struct lws *wsi)
{
	if (!c->head)
		return c->closed ? -1 : 0;
	for (int i = 0; i < 16 && c->head && !lws_partial_buffered(wsi); i++) {
		msg *m = c->head;
		int wf = m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
		if (lws_write(wsi, m->buf + LWS_PRE, m->len, wf) < (int)m->len)
			return -1;
		if (!(c->head = m->next))
			c->tail = NULL;
		free(m);
	}
	if (c->head || c->closed)
		lws_callback_on_writable(wsi);
	return 0;
}

static void on_receive(call *c, struct lws *wsi, const char *in, size_t len)
{
	const char *whole;
	size_t n;
	if (sb_wsrx_feed(&c->rx, wsi, in, len, &whole, &n) == SB_WSRX_MESSAGE)
		on_message(c, whole, n);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	call *c = lws_get_opaque_user_data(wsi);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->open = true;
		c->start_ms = c->next_frame_ms = sb_mono_ms();
		if (cs.say && !c->say)
			c->say = say_new(c->start_ms);
		send_start(c);
		if (cfg.garbage)
			send_garbage(c);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_receive(c, wsi, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(c, wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		sb_warn("callsim.connect_error", "call=%d err=\"%s\"", c ? c->idx : -1, in ? (const char *)in : "");
		if (c) {
			c->wsi = NULL;
			c->rejected = true;
			finish(c);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			c->wsi = NULL;
			if (!c->closed)
				c->rejected = true; /* closed by the bridge before we hung up */
			finish(c);
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{"twilio-sim", callback, 0, 65536, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void dial(call *c)
{
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	ci.address = c->host;
	ci.port = c->port;
	ci.path = c->path;
	ci.host = c->host;
	ci.origin = c->host;
	ci.local_protocol_name = "twilio-sim";
	ci.opaque_user_data = c;
	ci.pwsi = &c->wsi;
	c->start_ms = sb_mono_ms();
	if (!lws_client_connect_via_info(&ci) && !c->done) {
		c->rejected = true;
		finish(c);
	}
}

/* Send stop and close (we hang up). */
static void hang_up(call *c)
{
	char buf[200];
	snprintf(buf, sizeof buf, "{\"event\":\"stop\",\"sequenceNumber\":\"0\",\"streamSid\":\"%s\","
		 "\"stop\":{\"accountSid\":\"%s\",\"callSid\":\"%s\"}}", c->stream_sid, cs.account_sid, c->call_sid);
	queue_str(c, buf);
	c->closed = true;
	lws_callback_on_writable(c->wsi);
}

/* One open call's due work: frames, playback, DTMF, hanging up. */
static void call_tick(call *c, int64_t now)
{
	bool talking = now < c->start_ms + cfg.duration_ms && !say_finished(c->say);
	while (talking && now >= c->next_frame_ms) {
		send_frame(c, now);
		play_frame(c);
		c->next_frame_ms += 20;
	}
	if (cfg.dtmf_at_ms >= 0 && !c->dtmf_sent && now >= c->start_ms + cfg.dtmf_at_ms) {
		char buf[200];
		snprintf(buf, sizeof buf, "{\"event\":\"dtmf\",\"streamSid\":\"%s\",\"sequenceNumber\":\"0\","
			 "\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"%s\"}}", c->stream_sid, cfg.dtmf);
		queue_str(c, buf);
		c->dtmf_sent = 1;
	}
	bool drained = !cfg.stamp || c->frames_echoed + c->lost >= c->frames_sent;
	if (!talking && (drained || now >= c->start_ms + cfg.duration_ms + cfg.linger_ms)) {
		if (!drained) /* never came back: lost, not merely late */
			c->lost += c->frames_sent - c->frames_echoed - c->lost;
		hang_up(c);
	}
}

/* Every 2 ms: dial due calls, send due frames, play, DTMF, hang up. */
static void tick(lws_sorted_usec_list_t *sul)
{
	static int64_t t0;
	int64_t now = sb_mono_ms();
	if (!t0)
		t0 = now;
	for (int i = 0; i < nslots; i++) {
		call *c = &calls[i];
		int64_t due = t0 + (i < cfg.calls && cfg.calls > 1 ? cfg.ramp_ms * i / (cfg.calls - 1) : 0);
		if (!c->wsi && !c->done && !c->open) {
			if (c->ready && !c->start_ms && now >= due)
				dial(c);
			continue;
		}
		if (c->open && !c->closed && c->wsi)
			call_tick(c, now);
	}
	lws_sul_schedule(ctx, 0, &sul_tick, tick, 2 * LWS_US_PER_MS);
}

/* ---- the inbox: webhook answers and REST updates ------------------------------------------------ */

static pthread_mutex_t inbox_mu = PTHREAD_MUTEX_INITIALIZER;
static cs_msg *inbox_head, *inbox_tail;

void cs_post(cs_msg *m)
{
	pthread_mutex_lock(&inbox_mu);
	if (inbox_tail)
		inbox_tail->next = m;
	else
		inbox_head = m;
	inbox_tail = m;
	pthread_mutex_unlock(&inbox_mu);
	if (ctx)
		lws_cancel_service(ctx);
}

/* Split a ws:// URL into the call's host, port and path. 0 or -1. */
static int set_url(call *c, const char *u)
{
	if (strncmp(u, "ws://", 5) != 0)
		return -1;
	u += 5;
	size_t hl = strcspn(u, ":/");
	if (hl == 0 || hl >= sizeof c->host)
		return -1;
	memcpy(c->host, u, hl);
	c->host[hl] = '\0';
	c->port = u[hl] == ':' ? atoi(u + hl + 1) : 80;
	const char *p = strchr(u, '/');
	snprintf(c->path, sizeof c->path, "%s", p ? p : "/");
	return 0;
}

static void new_sid(char *out, size_t cap, const char *prefix)
{
	unsigned char r[16];
	char hex[33];
	sb_random_bytes(r, sizeof r);
	sb_hex(r, 16, hex);
	snprintf(out, cap, "%s%s", prefix, hex);
}

/* A webhook answered: point the call at its stream, or give the call up. */
static void on_open(cs_msg *m)
{
	call *c = m->idx >= 0 ? &calls[m->idx] : nslots < ncap ? &calls[nslots] : NULL;
	if (!c) {
		sb_warn("callsim.too_many_calls", "call=%s max=%ld", m->call_sid, cfg.rest_max);
		return;
	}
	if (m->idx < 0) {
		c->idx = nslots++;
		snprintf(c->call_sid, sizeof c->call_sid, "%s", m->call_sid);
		new_sid(c->stream_sid, sizeof c->stream_sid, "MZ");
	}
	c->webhook_status = m->status;
	c->params = m->params;
	m->params = NULL;
	if (m->url[0] && set_url(c, m->url) == 0) {
		c->ready = true;
		return;
	}
	sb_warn("callsim.no_stream", "call=%s status=%d url=\"%s\"", c->call_sid, m->status, m->url);
	c->rejected = true;
	finish(c);
}

/* REST update: end the call (Status=completed) or "transfer" it (<Dial>). */
static void on_end(cs_msg *m)
{
	for (int i = 0; i < nslots; i++) {
		call *c = &calls[i];
		if (strcmp(c->call_sid, m->call_sid) != 0 || c->closed)
			continue;
		snprintf(c->ended_by, sizeof c->ended_by, "%s", m->arg[0] ? "rest-transfer" : "rest-completed");
		snprintf(c->transfer_to, sizeof c->transfer_to, "%s", m->arg);
		c->heard_at_end_ms = (long)(c->heard_bytes / 8);
		if (c->wsi && c->open)
			hang_up(c);
		else if (!c->done)
			finish(c);
	}
}

/* Apply (apply=false: only free) what the other threads posted. */
static void drain_inbox(bool apply)
{
	pthread_mutex_lock(&inbox_mu);
	cs_msg *m = inbox_head;
	inbox_head = inbox_tail = NULL;
	pthread_mutex_unlock(&inbox_mu);
	for (cs_msg *n; m; m = n) {
		n = m->next;
		if (apply && m->kind == CS_OPEN)
			on_open(m);
		else if (apply)
			on_end(m);
		json_decref(m->params);
		free(m->twiml);
		free(m);
	}
}

/* ---- report ------------------------------------------------------------------------------------------ */

static double pct(const long *h, double p)
{
	long total = 0, acc = 0;
	for (int i = 0; i <= 1000; i++)
		total += h[i];
	for (int i = 0; i <= 1000 && total; i++)
		if ((acc += h[i]) >= p * (double)total)
			return i / 10.0;
	return 0;
}

static void write_wav(void)
{
	FILE *f = fopen(cfg.wav, "wb");
	if (!f)
		return;
	uint32_t n = (uint32_t)wav_len, riff = 4 + 26 + 8 + n, fmt = 18, rate = 8000;
	uint16_t tag = 7, ch = 1, align = 1, bits = 8, ext = 0;
	fwrite("RIFF", 1, 4, f); fwrite(&riff, 4, 1, f); fwrite("WAVEfmt ", 1, 8, f); fwrite(&fmt, 4, 1, f);
	fwrite(&tag, 2, 1, f); fwrite(&ch, 2, 1, f); fwrite(&rate, 4, 1, f); fwrite(&rate, 4, 1, f);
	fwrite(&align, 2, 1, f); fwrite(&bits, 2, 1, f); fwrite(&ext, 2, 1, f);
	fwrite("data", 1, 4, f); fwrite(&n, 4, 1, f); fwrite(wav, 1, wav_len, f);
	fclose(f);
}

/* One call's line in the report. */
static json_t *report_item(const call *c)
{
	json_t *it = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "callSid", c->call_sid,
		"streamSid", c->stream_sid, "rejected", c->rejected, "framesSent", (json_int_t)c->frames_sent,
		"heardBytes", (json_int_t)c->heard_bytes, "marksEchoed", (json_int_t)c->marks_echoed,
		"clears", (json_int_t)c->clears, "playedAtClearMs", (json_int_t)(c->played_at_clear / 8),
		"badStreamSid", (json_int_t)c->bad_sid, "framesEchoed", (json_int_t)c->frames_echoed, "lost", (json_int_t)c->lost);
	if (c->webhook_status || c->params)
		json_object_set_new(it, "webhookStatus", json_integer(c->webhook_status));
	if (c->params)
		json_object_set(it, "customParameters", c->params);
	if (c->host[0]) {
		char url[420];
		snprintf(url, sizeof url, "ws://%s:%d%s", c->host, c->port, c->path);
		json_object_set_new(it, "streamUrl", json_string(url));
	}
	if (c->ended_by[0])
		json_object_set_new(it, "endedBy", json_string(c->ended_by));
	if (c->transfer_to[0])
		json_object_set_new(it, "transferTo", json_string(c->transfer_to));
	if (c->ended_by[0])
		json_object_set_new(it, "heardAtEndMs", json_integer(c->heard_at_end_ms));
	if (c->say) {
		json_object_set_new(it, "utterances", say_report(c->say));
		json_object_set_new(it, "sayFinished", json_boolean(say_finished(c->say)));
	}
	return it;
}

static void write_report(void)
{
	json_t *items = json_array();
	long sent = 0, echoed = 0, lost = 0, bad = 0, rejected = 0;
	for (int i = 0; i < nslots; i++) {
		call *c = &calls[i];
		sent += c->frames_sent, echoed += c->frames_echoed, lost += c->lost, bad += c->bad_sid, rejected += c->rejected;
		json_array_append_new(items, report_item(c));
	}
	json_t *r = json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:{s:f,s:f},s:{s:f,s:f},s:o}", "calls", nslots,
		"framesSent", (json_int_t)sent, "framesEchoed", (json_int_t)echoed, "lost", (json_int_t)lost,
		"badStreamSid", (json_int_t)bad, "rejected", (json_int_t)rejected,
		"upMs", "p50", pct(lat_up, 0.5), "p99", pct(lat_up, 0.99), "downMs", "p50", pct(lat_down, 0.5), "p99", pct(lat_down, 0.99),
		"items", items);
	if (cfg.rest_listen)
		json_object_set_new(r, "restRequests", rest_requests());
	if (cfg.stamp && cfg.lat_skip_ms)
		json_object_set_new(r, "steady", json_pack("{s:I,s:{s:f,s:f},s:{s:f,s:f}}", "skipMs", (json_int_t)cfg.lat_skip_ms,
			"upMs", "p50", pct(st_up, 0.5), "p99", pct(st_up, 0.99), "downMs", "p50", pct(st_down, 0.5), "p99", pct(st_down, 0.99)));
	if (json_dump_file(r, cfg.report, JSON_INDENT(1)) < 0)
		sb_warn("callsim.report_failed", "path=%s", cfg.report);
	json_decref(r);
}

/* ---- main ---------------------------------------------------------------------------------------------- */

static pthread_t loop_thread;
static volatile int stopping;
static lws_sorted_usec_list_t sul_stop;

static void destroy_cb(lws_sorted_usec_list_t *s)
{
	lws_context_destroy(ctx);
}

static int cancel_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && !stopping)
		drain_inbox(true);
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && stopping) {
		lws_sul_cancel(&sul_tick);
		lws_sul_schedule(ctx, 0, &sul_stop, destroy_cb, 1);
	}
	return 0;
}

static const struct lws_protocols all_protocols[] = {
	{"twilio-sim", callback, 0, 65536, 0, NULL, 0},
	{"control", cancel_cb, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *loop_main(void *arg)
{
	int n = 0;
	lws_sul_schedule(ctx, 0, &sul_tick, tick, 1000);
	while (n >= 0 && !stopping)
		n = lws_service(ctx, 0);
	lws_context_destroy(ctx);
	return NULL;
}

/* Fill the --calls slots: sids, and the stream URL unless a webhook will name it. */
static int init_calls(void)
{
	ncap = (int)(cfg.calls + (cfg.rest_listen ? cfg.rest_max : 0));
	calls = calloc((size_t)(ncap ? ncap : 1), sizeof *calls);
	nslots = (int)cfg.calls;
	for (int i = 0; i < cfg.calls; i++) {
		call *c = &calls[i];
		c->idx = i;
		new_sid(c->call_sid, sizeof c->call_sid, "CA");
		if (i == 0 && cfg.call_sid)
			snprintf(c->call_sid, sizeof c->call_sid, "%s", cfg.call_sid);
		new_sid(c->stream_sid, sizeof c->stream_sid, "MZ");
		if (!cfg.webhook_url && set_url(c, cfg.url) < 0) {
			sb_error_log("callsim.bad_url", "url=%s hint=\"ws://host:port/path\"", cfg.url);
			return -1;
		}
		c->ready = !cfg.webhook_url;
	}
	return 0;
}

static int start_lws(void)
{
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = all_protocols;
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.timeout_secs = 10;
	(void)protocols;
	if (!(ctx = lws_create_context(&info)))
		return -1;
	pthread_create(&loop_thread, NULL, loop_main, NULL);
	return 0;
}

static int sim_init(void *arg)
{
	if (cs.say && say_load(cs.say) < 0)
		return -1;
	if (init_calls() < 0 || start_lws() < 0)
		return -1;
	if ((cfg.webhook_url || cfg.rest_listen) && hook_start() < 0)
		return -1;
	if (cfg.rest_listen && rest_start(cfg.rest_listen) < 0) {
		sb_error_log("callsim.rest_failed", "listen=%s", cfg.rest_listen);
		return -1;
	}
	for (int i = 0; i < cfg.calls; i++) {
		if (cfg.rest_listen)
			rest_register(calls[i].call_sid, cs.from, cs.to);
		if (cfg.webhook_url)
			hook_voice(i, calls[i].call_sid, cfg.webhook_url, cs.from, cs.to, cfg.direction);
	}
	return 0;
}

static void free_call(call *c)
{
	for (msg *m = c->head, *n; m; m = n) {
		n = m->next;
		free(m);
	}
	free(c->play);
	say_free(c->say);
	sb_wsrx_free(&c->rx);
	json_decref(c->params);
}

static void sim_fini(void *arg)
{
	rest_stop();
	hook_stop();
	if (ctx) {
		stopping = 1;
		lws_cancel_service(ctx);
		pthread_join(loop_thread, NULL);
	}
	ctx = NULL;
	drain_inbox(false); /* anything posted after the loop stopped: freed, not applied */
	if (cfg.report)
		write_report();
	if (cfg.wav)
		write_wav();
	long rejected = 0;
	for (int i = 0; i < nslots; i++) {
		rejected += calls[i].rejected;
		free_call(&calls[i]);
	}
	sb_info("callsim.summary", "calls=%d rejected=%ld", nslots, rejected);
	rest_free();
	say_unload();
	free(calls);
	free(wav);
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-callsim",
		.summary = "Twilio simulator: media streams (plays and hears audio), signed voice webhooks, REST Calls create/update",
		.flags = flags,
		.init = sim_init,
		.fini = sim_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
