/*
 * voice_tts.c — the mouth: flite text-to-speech to μ-law 8 kHz chunks, and
 * flite's letter-to-sound rules for words cmudict lacks (voice_lm.c).
 *
 * Voices: kal (diphone, native 8 kHz: straight to μ-law) and the clustergen
 * voices rms, slt, awb (16 kHz: speexdsp 16 → 8 kHz first). Text is split
 * into sentences and each is synthesised with flite's streaming callback,
 * so the first audio leaves a few ms after the call instead of after the
 * whole reply; output goes to the caller's callback in pieces of at least
 * 20 ms.
 *
 * flite keeps its voices and lexicon in process-global state and is not
 * re-entrant: the voice registry below is the one global of the engine
 * besides flite's own, and one mutex serialises every use of flite
 * (synthesis and letter-to-sound). The audio callback runs under that lock,
 * so it must not call sv_say itself.
 */
#include "voice_engine.h"
#include "voice_lm.h"

#include "sb_g711.h"

#include <flite/flite.h>
#include <pthread.h>
#include <speex/speex_resampler.h>
#include <stdlib.h>
#include <string.h>

/* No flite header declares the voice and lexicon constructors. */
cst_voice   *register_cmu_us_kal(const char *voxdir);
cst_voice   *register_cmu_us_rms(const char *voxdir);
cst_voice   *register_cmu_us_slt(const char *voxdir);
cst_voice   *register_cmu_us_awb(const char *voxdir);
cst_lexicon *cmu_lex_init(void);

#define OUT_RATE      8000
#define CHUNK_MIN     160  /* deliver at least 20 ms per callback */
#define RESAMPLE_QUAL 5

/* The voice registry: voices are registered on first use and kept for the
 * life of the process (flite has no safe way to share or unload them). */
static struct voice_slot {
	const char *name;
	cst_voice *(*reg)(const char *voxdir);
	cst_voice  *v;
} VOICES[] = {
	{"kal", register_cmu_us_kal, NULL},
	{"rms", register_cmu_us_rms, NULL},
	{"slt", register_cmu_us_slt, NULL},
	{"awb", register_cmu_us_awb, NULL},
};

static pthread_mutex_t flite_mu = PTHREAD_MUTEX_INITIALIZER;
static bool            flite_ready;

/* flite_init once; call with flite_mu held. */
static void flite_once(void)
{
	if (!flite_ready) {
		flite_init();
		flite_ready = true;
	}
}

/* ---- synthesis ----------------------------------------------------------- */

typedef struct say_ctx {
	sv_audio_cb           cb;
	void                 *arg;
	SpeexResamplerState  *rs;      /* 16 → 8 kHz, NULL for kal */
	int                   rate;    /* input rate of rs */
	int                   pos;     /* samples of the current wave already taken */
	bool                  stopped; /* the callback asked to stop */
	uint8_t               out[4096];
	size_t                nout;
} say_ctx;

/* Hand buffered μ-law to the caller (all of it when flush, else ≥ 20 ms). */
static void deliver(say_ctx *c, bool flush)
{
	if (c->stopped || c->nout == 0 || (!flush && c->nout < CHUNK_MIN))
		return;
	if (c->cb(c->out, c->nout, c->arg) != 0)
		c->stopped = true;
	c->nout = 0;
}

/* Append 8 kHz PCM as μ-law. */
static void push8k(say_ctx *c, const int16_t *pcm, size_t n)
{
	while (n > 0 && !c->stopped) {
		size_t room = sizeof c->out - c->nout, k = n < room ? n : room;
		sb_ulaw_encode_buf(pcm, k, c->out + c->nout);
		c->nout += k;
		pcm += k;
		n -= k;
		if (c->nout == sizeof c->out)
			deliver(c, true);
	}
	deliver(c, false);
}

/* Append PCM at rate (8 kHz as is, anything else through a resampler made
 * on first use). */
static void push(say_ctx *c, int rate, const int16_t *pcm, size_t n)
{
	if (rate == OUT_RATE) {
		push8k(c, pcm, n);
		return;
	}
	if (!c->rs || c->rate != rate) {
		int err = 0;
		if (c->rs)
			speex_resampler_destroy(c->rs);
		c->rs = speex_resampler_init(1, (spx_uint32_t)rate, OUT_RATE, RESAMPLE_QUAL, &err);
		if (!c->rs)
			abort(); /* only fails on bad arguments or no memory */
		speex_resampler_skip_zeros(c->rs);
		c->rate = rate;
	}
	int16_t tmp[1024];
	while (n > 0 && !c->stopped) {
		spx_uint32_t in = (spx_uint32_t)(n < 2048 ? n : 2048), out = sizeof tmp / sizeof tmp[0];
		speex_resampler_process_int(c->rs, 0, pcm, &in, tmp, &out);
		push8k(c, tmp, out);
		pcm += in;
		n -= in;
	}
}

/* Push the resampler's tail out with silence and drop it. */
static void drain(say_ctx *c)
{
	if (!c->rs)
		return;
	int16_t zeros[64] = {0};
	for (int left = speex_resampler_get_input_latency(c->rs); left > 0 && !c->stopped; left -= 64)
		push(c, c->rate, zeros, (size_t)(left < 64 ? left : 64));
	speex_resampler_destroy(c->rs);
	c->rs = NULL;
}

/* flite's streaming callback: samples [start, start+size) of the wave so far. */
static int stream_cb(const cst_wave *w, int start, int size, int last, cst_audio_streaming_info *asi)
{
	say_ctx *c = asi->userdata;
	if (start + size > c->pos) {
		int from = start > c->pos ? start : c->pos;
		push(c, w->sample_rate, w->samples + from, (size_t)(start + size - from));
		c->pos = start + size;
	}
	return c->stopped ? CST_AUDIO_STREAM_STOP : CST_AUDIO_STREAM_CONT;
}

/* Synthesise one sentence with streaming; whatever the stream did not
 * deliver (a voice without streaming support) follows from the wave. */
static void say_sentence(cst_voice *v, const char *text, say_ctx *c)
{
	cst_audio_streaming_info *asi = new_audio_streaming_info();
	asi->asc = stream_cb;
	asi->userdata = c;
	feat_set(v->features, "streaming_info", audio_streaming_info_val(asi)); /* owns asi */
	c->pos = 0;
	cst_wave *w = flite_text_to_wave(text, v);
	feat_remove(v->features, "streaming_info");
	if (w && !c->stopped && w->num_samples > c->pos)
		push(c, w->sample_rate, w->samples + c->pos, (size_t)(w->num_samples - c->pos));
	delete_wave(w);
}

typedef struct sentence_ctx {
	cst_voice *v;
	say_ctx   *c;
} sentence_ctx;

static void on_sentence(const char *s, size_t n, void *arg)
{
	sentence_ctx *sc = arg;
	if (sc->c->stopped)
		return;
	char *text = malloc(n + 1);
	if (!text)
		abort();
	memcpy(text, s, n);
	text[n] = '\0';
	say_sentence(sc->v, text, sc->c);
	free(text);
}

/* The registered voice called name (NULL/"" = kal), registering it first. */
static cst_voice *voice_get(const char *name)
{
	if (!name || !*name)
		name = "kal";
	for (size_t i = 0; i < sizeof VOICES / sizeof VOICES[0]; i++) {
		if (strcmp(VOICES[i].name, name) != 0)
			continue;
		if (!VOICES[i].v)
			VOICES[i].v = VOICES[i].reg(NULL);
		return VOICES[i].v;
	}
	return NULL;
}

int sv_say(const char *voice, const char *text, sv_audio_cb cb, void *arg)
{
	if (!cb)
		return -1;
	pthread_mutex_lock(&flite_mu);
	flite_once();
	cst_voice *v = voice_get(voice);
	if (!v) {
		pthread_mutex_unlock(&flite_mu);
		return -1;
	}
	say_ctx      c = {.cb = cb, .arg = arg};
	sentence_ctx sc = {v, &c};
	if (text)
		sv_sentences(text, on_sentence, &sc);
	drain(&c);
	deliver(&c, true);
	pthread_mutex_unlock(&flite_mu);
	return 0;
}

/* ---- letter-to-sound ----------------------------------------------------- */

/* flite's cmulex phone (stress digit stripped) → sphinx en-us phone. */
static const char *sphinx_phone(const char *p)
{
	static const char *const SET[] = {
		"aa", "ae", "ah", "ao", "aw", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f", "g", "hh", "ih",
		"iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh", "uw",
		"v", "w", "y", "z", "zh"};
	static const char *const UP[] = {
		"AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
		"IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW",
		"V", "W", "Y", "Z", "ZH"};
	char base[8];
	size_t n = 0;
	while (p[n] && !(p[n] >= '0' && p[n] <= '9') && n < sizeof base - 1) {
		base[n] = p[n];
		n++;
	}
	base[n] = '\0';
	if (strcmp(base, "ax") == 0)
		return "AH";
	if (strcmp(base, "axr") == 0)
		return "ER";
	for (size_t i = 0; i < sizeof SET / sizeof SET[0]; i++)
		if (strcmp(base, SET[i]) == 0)
			return UP[i];
	return NULL;
}

int sv_lts_phones(const char *word, char *out, size_t cap)
{
	char letters[64];
	size_t n = 0;
	for (const char *p = word; *p; p++) { /* the rules know letters only */
		if (*p >= 'a' && *p <= 'z' && n < sizeof letters - 1)
			letters[n++] = *p;
		else if (*p != '\'')
			return -1;
	}
	letters[n] = '\0';
	if (n == 0 || cap == 0)
		return -1;
	pthread_mutex_lock(&flite_mu);
	flite_once();
	cst_lexicon *lex = cmu_lex_init();
	cst_val     *ph = lex_lookup(lex, letters, NULL, NULL);
	size_t       len = 0;
	int          rc = ph ? 0 : -1;
	out[0] = '\0';
	for (const cst_val *v = ph; v && rc == 0; v = val_cdr(v)) {
		const char *sp = sphinx_phone(val_string(val_car(v)));
		if (!sp)
			continue; /* pau and the like */
		size_t k = strlen(sp);
		if (len + k + 2 > cap) {
			rc = -1;
			break;
		}
		if (len)
			out[len++] = ' ';
		memcpy(out + len, sp, k + 1);
		len += k;
	}
	if (ph)
		delete_val(ph);
	pthread_mutex_unlock(&flite_mu);
	return rc == 0 && len > 0 ? 0 : -1;
}
