/*
 * callsim_say.c — sb-callsim --say: the caller speaks recorded utterances,
 * taking turns like a person.
 *
 * Files (--say a.wav,b.ul,…): μ-law 8 kHz mono WAV (format tag 7), 16-bit
 * PCM 8 kHz mono WAV (converted with common/sb_g711), or raw μ-law (.ul,
 * .ulaw). Loaded once; every call says the same utterances.
 *
 * Turn taking, per call, on the media timeline (t = the 20 ms frame's slot,
 * from the call's stream start):
 *  - utterance 1 starts once the agent has spoken (some of its audio was
 *    played, i.e. heard) and playback has been empty for --say-gap-ms;
 *  - utterance k+1 likewise, counting only agent audio heard after
 *    utterance k ended; with --say-interrupt-ms N it starts N ms after the
 *    first audio of the answer was heard instead (barge-in);
 *  - fallback: if no agent audio is heard for --say-timeout-ms after an
 *    utterance (for utterance 1: after the stream started), the caller goes
 *    on anyway;
 *  - after the last utterance is answered (heard, then quiet for the gap),
 *    or the timeout passes unanswered, the caller is done: callsim hangs up.
 * Per utterance the report has sayStartMs, sayEndMs (the end of its audio,
 * so the end of the last frame's bytes) and replyFirstAudioMs (the slot of
 * the first agent frame played at or after sayEndMs), all from call start;
 * turn latency = replyFirstAudioMs - sayEndMs, to 20 ms resolution.
 *
 * Runs on the loop thread only (the files are loaded before it starts).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_g711.h"
#include "sb_json.h"
#include "sb_log.h"

#include "callsim.h"

#define SAY_MAX_BYTES (64L << 20) /* one file: over two hours of μ-law */

typedef struct utterance {
	char          *name;
	unsigned char *ulaw;
	size_t         len;
} utterance;

static utterance *utts;
static int        nutts;

typedef struct turn {
	int64_t     start, end, reply; /* mono ms; 0: not yet */
	const char *by;                /* what started it: quiet, timeout, interrupt */
} turn;

struct cs_say {
	int64_t call_start;
	int     next;          /* the utterance being said, or due next (nutts: all said) */
	size_t  pos;           /* bytes of it sent */
	bool    talking, spoke, finished;
	int64_t ref;           /* the end of the last utterance (or the stream start) */
	int64_t audio_end;     /* where the agent audio played so far ends */
	turn   *turns;
};

/* ---- loading -------------------------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		sb_error_log("callsim.say_open", "file=%s err=\"%s\"", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0, got;
	unsigned char *buf = malloc(cap);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		if ((n += got) < cap)
			continue;
		if (cap >= (size_t)SAY_MAX_BYTES) {
			sb_error_log("callsim.say_too_big", "file=%s max_bytes=%ld", path, SAY_MAX_BYTES);
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

/* A WAV file's audio as μ-law into u. 0 or -1 (logged). */
static int from_wav(const char *path, const unsigned char *b, size_t n, utterance *u)
{
	const unsigned char *fmt = NULL, *data = NULL;
	size_t fmt_len = 0, data_len = 0;
	if (n < 12 || memcmp(b + 8, "WAVE", 4) != 0)
		goto bad;
	for (size_t off = 12; off + 8 <= n;) {
		size_t len = le32(b + off + 4), avail = n - off - 8;
		if (memcmp(b + off, "fmt ", 4) == 0 && len <= avail) {
			fmt = b + off + 8;
			fmt_len = len;
		} else if (memcmp(b + off, "data", 4) == 0) {
			data = b + off + 8;
			data_len = len < avail ? len : avail; /* a streaming writer may leave the size unset */
		}
		if (len > avail)
			break;
		off += 8 + len + (len & 1);
	}
	if (!fmt || fmt_len < 16 || !data)
		goto bad;
	unsigned tag = le16(fmt), ch = le16(fmt + 2), bits = le16(fmt + 14);
	uint32_t rate = le32(fmt + 4);
	if (tag == 0xFFFE && fmt_len >= 26) /* WAVE_FORMAT_EXTENSIBLE: the subformat GUID starts with the tag */
		tag = le16(fmt + 24);
	if (ch != 1 || rate != 8000 || !((tag == 7 && bits == 8) || (tag == 1 && bits == 16))) {
		sb_error_log("callsim.say_format", "file=%s tag=%u channels=%u rate=%u bits=%u "
			     "hint=\"mono 8 kHz mu-law (tag 7) or 16-bit PCM; e.g. sox in.wav -r 8000 -c 1 -e u-law out.wav\"",
			     path, tag, ch, (unsigned)rate, bits);
		return -1;
	}
	if (tag == 7) {
		u->len = data_len;
		u->ulaw = malloc(data_len ? data_len : 1);
		memcpy(u->ulaw, data, data_len);
		return 0;
	}
	u->len = data_len / 2;
	u->ulaw = malloc(u->len ? u->len : 1);
	for (size_t i = 0; i < u->len; i++)
		u->ulaw[i] = sb_ulaw_encode((int16_t)le16(data + 2 * i));
	return 0;
bad:
	sb_error_log("callsim.say_bad_wav", "file=%s hint=\"RIFF/WAVE with a fmt and a data chunk\"", path);
	return -1;
}

static int load_one(const char *path, utterance *u)
{
	size_t n;
	unsigned char *b = read_all(path, &n);
	if (!b)
		return -1;
	int rc = 0;
	if (n >= 4 && memcmp(b, "RIFF", 4) == 0) {
		rc = from_wav(path, b, n, u);
		free(b);
	} else if (ends_with(path, ".ul") || ends_with(path, ".ulaw")) {
		u->ulaw = b;
		u->len = n;
	} else {
		sb_error_log("callsim.say_format", "file=%s hint=\"a .wav (mu-law or 16-bit PCM, 8 kHz mono) or raw mu-law .ul\"", path);
		free(b);
		rc = -1;
	}
	if (rc == 0 && u->len < 160) {
		sb_error_log("callsim.say_empty", "file=%s bytes=%zu hint=\"at least one 20 ms frame\"", path, u->len);
		rc = -1;
	}
	if (rc < 0) {
		free(u->ulaw);
		u->ulaw = NULL;
	}
	return rc;
}

int say_load(const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ')
			p++;
		if (!*p)
			continue;
		utts = realloc(utts, (size_t)(nutts + 1) * sizeof *utts);
		utterance *u = &utts[nutts];
		memset(u, 0, sizeof *u);
		if (load_one(p, u) < 0) {
			rc = -1;
			break;
		}
		u->name = strdup(p);
		nutts++;
		sb_info("callsim.say_loaded", "file=%s ms=%zu", p, u->len / 8);
	}
	free(copy);
	if (rc == 0 && nutts == 0) {
		sb_error_log("callsim.say_none", "say=\"%s\"", list);
		rc = -1;
	}
	return rc;
}

void say_unload(void)
{
	for (int i = 0; i < nutts; i++) {
		free(utts[i].name);
		free(utts[i].ulaw);
	}
	free(utts);
	utts = NULL;
	nutts = 0;
}

/* ---- one call ------------------------------------------------------------------------------------ */

cs_say *say_new(int64_t call_start_ms)
{
	if (!nutts)
		return NULL;
	cs_say *s = calloc(1, sizeof *s);
	s->turns = calloc((size_t)nutts, sizeof *s->turns);
	s->call_start = s->ref = s->audio_end = call_start_ms;
	return s;
}

void say_free(cs_say *s)
{
	if (!s)
		return;
	free(s->turns);
	free(s);
}

bool say_finished(const cs_say *s)
{
	return s && s->finished;
}

/* Not talking at t: is it time to talk (or, after the last utterance, to be done)? NULL, or why. */
static const char *due(const cs_say *s, int64_t t, size_t play_len)
{
	if (!s->spoke)
		return t - s->ref >= cs.say_timeout_ms ? "timeout" : NULL;
	if (cs.say_interrupt_ms >= 0 && s->next > 0 && s->next < nutts && t - s->turns[s->next - 1].reply >= cs.say_interrupt_ms)
		return "interrupt";
	return play_len == 0 && t - s->audio_end >= cs.say_gap_ms ? "quiet" : NULL;
}

bool say_frame(cs_say *s, int64_t t, size_t play_len, unsigned char f[160])
{
	if (!s || s->finished)
		return false;
	if (!s->talking) {
		const char *why = due(s, t, play_len);
		if (!why)
			return false;
		if (s->next == nutts) {
			s->finished = true;
			sb_info("callsim.say_done", "utterances=%d by=%s", nutts, why);
			return false;
		}
		s->talking = true;
		s->pos = 0;
		s->turns[s->next].start = t;
		s->turns[s->next].by = why;
	}
	const utterance *u = &utts[s->next];
	size_t n = u->len - s->pos < 160 ? u->len - s->pos : 160;
	memcpy(f, u->ulaw + s->pos, n);
	memset(f + n, 0xFF, 160 - n);
	s->pos += n;
	if (s->pos == u->len) {
		s->talking = false;
		s->spoke = false;
		s->ref = s->turns[s->next].end = t + (int64_t)n / 8;
		s->next++;
	}
	return true;
}

void say_played(cs_say *s, int64_t t, size_t n)
{
	if (!s || !n)
		return;
	if (t + (int64_t)n / 8 > s->audio_end)
		s->audio_end = t + (int64_t)n / 8;
	if (s->talking || t < s->ref)
		return; /* heard while the caller talks: not an answer */
	if (!s->spoke && s->next > 0 && !s->turns[s->next - 1].reply)
		s->turns[s->next - 1].reply = t;
	s->spoke = true;
}

static json_t *ms_or_null(int64_t t, int64_t from)
{
	return t ? json_integer((json_int_t)(t - from)) : json_null();
}

json_t *say_report(const cs_say *s)
{
	json_t *a = json_array();
	for (int i = 0; s && i < nutts; i++) {
		const turn *k = &s->turns[i];
		json_t *o = json_pack("{s:o,s:o,s:o,s:o}", "file", sb_json_stringn_lossy(utts[i].name, strlen(utts[i].name)),
				      "sayStartMs", ms_or_null(k->start, s->call_start), "sayEndMs", ms_or_null(k->end, s->call_start),
				      "replyFirstAudioMs", ms_or_null(k->reply, s->call_start));
		if (k->by)
			json_object_set_new(o, "startedBy", json_string(k->by));
		json_array_append_new(a, o);
	}
	return a;
}
