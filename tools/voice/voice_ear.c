/*
 * voice_ear.c — the ear: caller μ-law in, endpointed utterances and their
 * recognised text out (sv_models + sv_ear in voice_engine.h).
 *
 * Per 10 ms frame of 8 kHz audio:
 *
 *   μ-law → PCM → WebRTC VAD ─┬─ idle: keep prefix_ms of pre-roll; 40 ms of
 *                             │  consecutive voiced frames open a segment
 *                             └─ segment: 8 → 16 kHz (speexdsp) → pocketsphinx,
 *                                streaming while the caller talks
 *
 * A segment is reported (SV_EAR_STARTED) once it holds min_speech_ms of
 * voiced frames; shorter ones (a cough, a click, the VAD adapting in the
 * first frames of a call) end silently. silence_ms of non-speech ends the
 * turn: the decoder finalises (fwdflat + best path, tens of ms because the
 * search already ran while the caller spoke) and SV_EAR_STOPPED carries the
 * hypothesis, normalised with sv_normalize, and its posterior probability.
 *
 * The decoder is pocketsphinx 5prealpha (Debian bookworm: the old cmd_ln
 * API) with the 16 kHz en-us model, a small bigram LM built at run time from
 * the session's corpus (voice_lm.c) and a dictionary of just its words. Two
 * things make it work on phone audio (docs: shared/protocols/offline-voice.md):
 * upsampling to 16 kHz rather than decoding 8 kHz directly, and a phone-line
 * cepstral mean as the CMN start value, so the first utterance of a fresh
 * decoder is not decoded against the studio mean (see PHONE_CMNINIT).
 *
 * Files: sv_models_load writes a copy of the model's feat.params with that
 * -cmninit into work_dir (pocketsphinx lets feat.params override the
 * command line, so -featparams with a copy is the only way); every corpus
 * build writes its ARPA LM to a unique temporary file there, reads it and
 * deletes it. The dictionary needs no file: the decoder starts with none and
 * gets each corpus' new words through ps_add_word.
 *
 * A new corpus is installed between utterances: sv_ear_set_corpus during an
 * utterance builds and reads the LM at once (so errors are reported) and
 * keeps it pending until the utterance ends.
 */
#include "voice_engine.h"
#include "voice_lm.h"
#include "voice_vad.h"

#include "sb_fs.h"
#include "sb_g711.h"
#include "sb_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ckd_alloc.h>
#include <err.h>
#include <ngram_model.h>
#include <pocketsphinx.h>
#include <speex/speex_resampler.h>

/*
 * Cepstral mean of phone audio as the decoder sees it (13 MFCCs), the CMN
 * start value of every fresh decoder. Measured on this engine's own input
 * path: the 563 asterisk-core-sounds-en prompts (8 kHz human speech, 400 ms
 * line silence before and 800 ms after) through μ-law, the speexdsp 8 → 16
 * kHz upsampler and pocketsphinx's front end; the live CMN mean read after
 * each prompt (cmn_live_get), averaged over all prompts after a 40-prompt
 * warm-up. `build/bench/voice_wer --cmninit` reproduces it. The model's own
 * value, for studio 16 kHz speech, is 41.00,-5.29,-0.12,5.09,... — with it
 * the first utterance of a call is mostly misrecognised.
 */
#define PHONE_CMNINIT "48.29,34.53,-30.75,43.53,-22.07,-1.26,11.89,-23.47,24.59,-12.10,-5.22,8.91,-14.31"

#define FRAME_MS       10
#define FRAME          (8000 / 1000 * FRAME_MS) /* samples per frame at 8 kHz */
#define ONSET_MS       40                       /* voiced run that opens a segment */
#define MAX_UTT_MS     15000                    /* a turn longer than this is cut */
#define UP_QUALITY     5                        /* speexdsp 8 → 16 kHz */
#define LM_NAME        "corpus"
/* Below this share of bigram-scored words a hypothesis is not understood
 * (with min_confidence > 0). On voice_wer's synthesised callers, with the
 * posterior threshold 0.01: 181 of 201 exactly right answers understood
 * (184 without this check), 33 of 36 off-topic sentences rejected (27). */
#define MIN_IN_DOMAIN  0.5

/* ---- models -------------------------------------------------------------- */

struct sv_models {
	char       *hmm_dir;
	char       *work_dir;
	char       *featparams; /* generated copy with the phone -cmninit */
	sv_lexicon *lex;
};

/* Copy hmm_dir/feat.params to a unique file in work_dir with -cmninit replaced. */
static char *write_featparams(const char *hmm_dir, const char *work_dir, char *err, size_t errlen)
{
	char src[4096];
	snprintf(src, sizeof src, "%s/feat.params", hmm_dir);
	FILE *in = fopen(src, "r");
	if (!in) {
		snprintf(err, errlen, "no acoustic model in %s: %s: %s", hmm_dir, src, strerror(errno));
		return NULL;
	}
	char *path = NULL;
	if (asprintf(&path, "%s/sv-feat-XXXXXX.params", work_dir) < 0)
		abort();
	int fd = mkstemps(path, 7);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		snprintf(err, errlen, "cannot write in %s: %s", work_dir, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		free(path);
		fclose(in);
		return NULL;
	}
	char line[1024];
	while (fgets(line, sizeof line, in))
		if (strncmp(line, "-cmninit", 8) != 0)
			fputs(line, out);
	fprintf(out, "-cmninit %s\n", PHONE_CMNINIT);
	fclose(in);
	if (fclose(out) != 0) {
		snprintf(err, errlen, "cannot write %s", path);
		unlink(path);
		free(path);
		return NULL;
	}
	return path;
}

sv_models *sv_models_load(const char *hmm_dir, const char *dict_path, const char *work_dir, char *err, size_t errlen)
{
	if (!hmm_dir || !dict_path || !work_dir) {
		snprintf(err, errlen, "hmm_dir, dict_path and work_dir are required");
		return NULL;
	}
	char mdef[4096];
	snprintf(mdef, sizeof mdef, "%s/mdef", hmm_dir);
	if (access(mdef, R_OK) != 0) {
		snprintf(err, errlen, "no acoustic model in %s (%s: %s)", hmm_dir, mdef, strerror(errno));
		return NULL;
	}
	if (sb_mkdirs(work_dir) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", work_dir, strerror(errno));
		return NULL;
	}
	err_set_logfp(NULL); /* pocketsphinx logs hundreds of lines per utterance */
	sv_models *m = calloc(1, sizeof *m);
	if (!m)
		abort();
	m->hmm_dir = strdup(hmm_dir);
	m->work_dir = strdup(work_dir);
	if (!m->hmm_dir || !m->work_dir)
		abort();
	if (!(m->lex = sv_lexicon_load(dict_path, err, errlen)) ||
	    !(m->featparams = write_featparams(hmm_dir, work_dir, err, errlen))) {
		sv_models_free(m);
		return NULL;
	}
	return m;
}

void sv_models_free(sv_models *m)
{
	if (!m)
		return;
	if (m->featparams)
		unlink(m->featparams);
	free(m->featparams);
	free(m->hmm_dir);
	free(m->work_dir);
	sv_lexicon_free(m->lex);
	free(m);
}

/* ---- ear state ----------------------------------------------------------- */

struct sv_ear {
	const sv_models     *m;
	sv_ear_cfg           cfg;
	ps_decoder_t        *ps;
	sv_vad              *vad;
	SpeexResamplerState *up;

	int16_t   frame[FRAME]; /* the 10 ms frame being filled */
	size_t    nframe;
	long long clock_ms;     /* audio consumed in whole frames */

	int16_t  *ring;         /* pre-roll: the last prefix_ms of audio while idle */
	size_t    ring_cap, ring_len, ring_head;

	bool      in_seg;       /* a segment is open (decoder utterance running) */
	bool      confirmed;    /* STARTED was reported for it */
	int       voiced_run;   /* consecutive voiced frames while idle */
	int       voiced_ms;    /* voiced audio in the segment */
	int       quiet_ms;     /* trailing non-speech in the segment */
	long long seg_start_ms, last_voiced_ms;

	uint8_t  *stash;        /* input after a STOPPED, for the next call */
	size_t    nstash, stash_cap;

	ngram_model_t *pending_lm;   /* a corpus set mid-utterance, applied after it */
	char          *pending_dict; /* and its dictionary text */
};

/* Write len bytes to a new unique file work_dir/sv-ear-XXXXXX<suffix>. */
static char *write_temp(const char *work_dir, const char *suffix, const char *data, size_t len, char *err,
			size_t errlen)
{
	char *path = NULL;
	if (asprintf(&path, "%s/sv-ear-XXXXXX%s", work_dir, suffix) < 0)
		abort();
	int fd = mkstemps(path, (int)strlen(suffix));
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file in %s: %s", work_dir, strerror(errno));
		free(path);
		return NULL;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			free(path);
			return NULL;
		}
		off += (size_t)w;
	}
	close(fd);
	return path;
}

/* Add the words of a dictionary text ("word PH PH\n"...) the decoder does
 * not know yet. Cheaper than ps_load_dict, which rebuilds the cross-word
 * triphone tables for the whole dictionary (4 ms, most of a corpus change);
 * the dictionary only grows, which is harmless: the search covers the
 * words of the LM. Consumes dict. */
static int add_words(sv_ear *e, char *dict, char *err, size_t errlen)
{
	char *save = NULL;
	for (char *line = strtok_r(dict, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		char *known = ps_lookup_word(e->ps, line);
		if (known) {
			ckd_free(known);
			continue;
		}
		if (ps_add_word(e->ps, line, sp + 1, FALSE) < 0) {
			snprintf(err, errlen, "pocketsphinx rejected the pronunciation of \"%s\"", line);
			return -1;
		}
	}
	return 0;
}

/* Install an LM and its dictionary in the decoder, between utterances only;
 * releases both. The old search goes first, so adding words does not
 * update a search that is about to be replaced. */
static int install_lm(sv_ear *e, char *dict, ngram_model_t *lm, char *err, size_t errlen)
{
	int rc = 0;
	ps_unset_search(e->ps, LM_NAME);
	if (add_words(e, dict, err, errlen) != 0) {
		rc = -1;
	} else if (ps_set_lm(e->ps, LM_NAME, lm) < 0 || ps_set_search(e->ps, LM_NAME) < 0) {
		snprintf(err, errlen, "pocketsphinx rejected the generated language model");
		rc = -1;
	}
	ngram_model_free(lm); /* the search holds its own reference */
	free(dict);
	return rc;
}

/* Apply a corpus that arrived during an utterance. */
static void apply_pending(sv_ear *e)
{
	if (!e->pending_lm)
		return;
	char err[256];
	if (install_lm(e, e->pending_dict, e->pending_lm, err, sizeof err) != 0)
		sb_warn("voice.corpus_failed", "error=\"%s\"", err);
	e->pending_lm = NULL;
	e->pending_dict = NULL;
}

/* Build the LM and dictionary for corpus; read the LM through a temporary
 * ARPA file in work_dir (pocketsphinx reads models from files only). The
 * dictionary text is returned for install_lm. */
static ngram_model_t *build_lm(sv_ear *e, const char *corpus, char **dict, char *err, size_t errlen)
{
	sv_lm built;
	if (sv_lm_build(e->m->lex, corpus, &built, err, errlen) != 0)
		return NULL;
	sb_debug("voice.corpus", "words=%d sentences=%d bigrams=%d letter_to_sound=%d dropped=%d", built.words,
		 built.sentences, built.bigrams, built.lts_words, built.dropped);
	char          *arpa = write_temp(e->m->work_dir, ".arpa", built.arpa, built.arpa_len, err, errlen);
	ngram_model_t *lm = NULL;
	if (arpa) {
		lm = ngram_model_read(ps_get_config(e->ps), arpa, NGRAM_ARPA, ps_get_logmath(e->ps));
		if (!lm)
			snprintf(err, errlen, "pocketsphinx rejected the generated language model");
		unlink(arpa);
		free(arpa);
	}
	*dict = built.dict; /* handed over */
	built.dict = NULL;
	sv_lm_clear(&built);
	if (!lm) {
		free(*dict);
		*dict = NULL;
	}
	return lm;
}

int sv_ear_set_corpus(sv_ear *e, const char *corpus, char *err, size_t errlen)
{
	char          *dict;
	ngram_model_t *lm = build_lm(e, corpus, &dict, err, errlen);
	if (!lm)
		return -1;
	if (!e->in_seg)
		return install_lm(e, dict, lm, err, errlen);
	if (e->pending_lm) { /* a newer corpus replaces one still waiting */
		ngram_model_free(e->pending_lm);
		free(e->pending_dict);
	}
	e->pending_lm = lm;
	e->pending_dict = dict;
	return 0;
}

/* Start the decoder (no dictionary but the model's fillers) and give it the
 * built-in phrases as its corpus. */
static int decoder_init(sv_ear *e, char *err, size_t errlen)
{
	char *argv[] = {"sv", "-hmm", e->m->hmm_dir, "-featparams", e->m->featparams,
			/* A small LM deserves more weight than pocketsphinx's defaults for a
			 * large one (6.5 / 8.5 / 9.5): measured with tests/bench/voice_wer
			 * (with the next setting), WER 17.8 → 13.4 % on the asterisk prompts
			 * and 11.9 → 7.5 % on the synthesised callers. More (12 / 15 / 18)
			 * gained nothing and let off-topic speech through. */
			"-lw", "10", "-fwdflatlw", "13", "-bestpathlw", "15",
			/* Our VAD already cut the segment; the front end's own silence
			 * removal only clipped word ends in line noise (rough-line WER
			 * about 15 → 13 %). */
			"-remove_silence", "no",
			/* The posterior's acoustic scale (default 20). At 7, the default
			 * threshold 0.01 passes 92 % of the exactly right answers of the
			 * synthesised callers (66 % at 20) but rejects fewer off-topic
			 * sentences (75 %, against 92 %): MIN_IN_DOMAIN wins that back.
			 * Real speech (asterisk prompts): about 90 % pass either way. */
			"-ascale", "7"};
	cmd_ln_t *cfg = cmd_ln_parse_r(NULL, ps_args(), (int32)(sizeof argv / sizeof argv[0]), argv, TRUE);
	e->ps = cfg ? ps_init(cfg) : NULL;
	cmd_ln_free_r(cfg); /* ps_init keeps its own reference */
	if (!e->ps) {
		snprintf(err, errlen, "pocketsphinx could not load the acoustic model in %s", e->m->hmm_dir);
		return -1;
	}
	return sv_ear_set_corpus(e, NULL, err, errlen);
}

sv_ear *sv_ear_new(const sv_models *m, const sv_ear_cfg *cfg, char *err, size_t errlen)
{
	if (!m) {
		snprintf(err, errlen, "no models");
		return NULL;
	}
	sv_ear_cfg c = {.vad_mode = 2, .prefix_ms = 300, .silence_ms = 500, .min_speech_ms = 200, .min_confidence = 0.01};
	if (cfg)
		c = *cfg;
	if (c.vad_mode < 0 || c.vad_mode > 3 || c.prefix_ms < 0 || c.silence_ms < FRAME_MS || c.min_speech_ms < 0) {
		snprintf(err, errlen, "bad ear configuration (vad_mode 0..3, prefix_ms >= 0, silence_ms >= 10)");
		return NULL;
	}
	sv_ear *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	e->m = m;
	e->cfg = c;
	e->ring_cap = (size_t)((c.prefix_ms > ONSET_MS ? c.prefix_ms : ONSET_MS) / FRAME_MS) * FRAME;
	e->ring = malloc(e->ring_cap * sizeof *e->ring);
	int rerr = 0;
	e->up = speex_resampler_init(1, 8000, 16000, UP_QUALITY, &rerr);
	e->vad = sv_vad_new(c.vad_mode);
	if (!e->ring || !e->up)
		abort();
	if (!e->vad) {
		snprintf(err, errlen, "WebRTC VAD unavailable");
		sv_ear_free(e);
		return NULL;
	}
	if (decoder_init(e, err, errlen) != 0) {
		sv_ear_free(e);
		return NULL;
	}
	return e;
}

void sv_ear_free(sv_ear *e)
{
	if (!e)
		return;
	if (e->pending_lm)
		ngram_model_free(e->pending_lm);
	free(e->pending_dict);
	if (e->ps)
		ps_free(e->ps);
	if (e->up)
		speex_resampler_destroy(e->up);
	sv_vad_free(e->vad);
	free(e->ring);
	free(e->stash);
	free(e);
}

bool sv_ear_in_speech(const sv_ear *e) { return e && e->in_seg && e->confirmed; }

/* ---- segments ------------------------------------------------------------ */

/* Upsample 8 kHz PCM and hand it to the decoder. */
static void decode(sv_ear *e, const int16_t *pcm, size_t n)
{
	int16_t out[2 * FRAME + 32];
	while (n > 0) {
		spx_uint32_t in = (spx_uint32_t)(n < FRAME ? n : FRAME), on = sizeof out / sizeof out[0];
		speex_resampler_process_int(e->up, 0, pcm, &in, out, &on);
		if (on)
			ps_process_raw(e->ps, out, on, FALSE, FALSE);
		pcm += in;
		n -= in;
	}
}

/* Keep a frame in the pre-roll ring. */
static void ring_push(sv_ear *e, const int16_t *f)
{
	if (e->ring_cap == 0)
		return;
	memcpy(e->ring + e->ring_head, f, FRAME * sizeof *f);
	e->ring_head = (e->ring_head + FRAME) % e->ring_cap;
	if (e->ring_len < e->ring_cap)
		e->ring_len += FRAME;
}

/* Open a segment: start an utterance and decode the pre-roll, oldest first. */
static void seg_open(sv_ear *e)
{
	e->in_seg = true;
	e->confirmed = false;
	e->seg_start_ms = e->clock_ms - (long long)e->voiced_run * FRAME_MS;
	e->voiced_ms = e->voiced_run * FRAME_MS;
	e->last_voiced_ms = e->clock_ms;
	e->quiet_ms = 0;
	e->voiced_run = 0;
	speex_resampler_reset_mem(e->up);
	ps_start_utt(e->ps);
	size_t start = (e->ring_head + e->ring_cap - e->ring_len) % e->ring_cap;
	size_t first = e->ring_cap - start < e->ring_len ? e->ring_cap - start : e->ring_len;
	decode(e, e->ring + start, first);
	decode(e, e->ring, e->ring_len - first);
	e->ring_len = 0;
}

/* Share of the hypothesis' words the LM scored as a bigram (seen after the
 * word before) rather than by backing off: in-domain speech is made of the
 * corpus' word pairs, what the decoder makes of off-topic speech is not. */
static double bigram_share(ps_decoder_t *ps)
{
	int words = 0, bigrams = 0;
	for (ps_seg_t *s = ps_seg_iter(ps); s; s = ps_seg_next(s)) {
		const char *w = ps_seg_word(s);
		int32       ascr, lscr, lback;
		if (w[0] == '<' || w[0] == '[') /* <s> </s> <sil> [NOISE]: fillers */
			continue;
		ps_seg_prob(s, &ascr, &lscr, &lback);
		words++;
		bigrams += lback >= 2;
	}
	return words ? (double)bigrams / words : 0.0;
}

/* Close the segment: finalise the decoder and, if it was reported, fill res. */
static bool seg_close(sv_ear *e, sv_ear_result *res)
{
	e->in_seg = false;
	ps_end_utt(e->ps);
	bool report = e->confirmed;
	if (report && res) {
		int32       score;
		const char *hyp = ps_get_hyp(e->ps, &score);
		res->start_ms = e->seg_start_ms;
		res->end_ms = e->last_voiced_ms;
		sv_normalize(hyp ? hyp : "", res->text, sizeof res->text);
		if (res->text[0]) { /* the posterior first: it computes the lattice's link posteriors */
			res->confidence = logmath_exp(ps_get_logmath(e->ps), ps_get_prob(e->ps));
			res->in_domain = bigram_share(e->ps);
		}
		res->understood = res->text[0] && (e->cfg.min_confidence <= 0 ||
						   (res->confidence >= e->cfg.min_confidence && res->in_domain >= MIN_IN_DOMAIN));
	}
	e->confirmed = false;
	apply_pending(e);
	return report;
}

/* One 10 ms frame through VAD and the endpointer; SV_EAR_* that happened. */
static int on_frame(sv_ear *e, sv_ear_result *res)
{
	int voiced = sv_vad_frame(e->vad, e->frame, FRAME) == 1;
	e->clock_ms += FRAME_MS;
	int ev = 0;
	if (!e->in_seg) {
		ring_push(e, e->frame);
		e->voiced_run = voiced ? e->voiced_run + 1 : 0;
		if (e->voiced_run * FRAME_MS < ONSET_MS)
			return 0;
		seg_open(e);
	} else {
		decode(e, e->frame, FRAME);
		if (voiced) {
			e->voiced_ms += FRAME_MS;
			e->quiet_ms = 0;
			e->last_voiced_ms = e->clock_ms;
		} else {
			e->quiet_ms += FRAME_MS;
		}
	}
	if (!e->confirmed && e->voiced_ms >= e->cfg.min_speech_ms) {
		e->confirmed = true;
		ev |= SV_EAR_STARTED;
		if (res)
			res->start_ms = e->seg_start_ms;
	}
	if (e->quiet_ms >= e->cfg.silence_ms || e->clock_ms - e->seg_start_ms >= MAX_UTT_MS)
		if (seg_close(e, res))
			ev |= SV_EAR_STOPPED;
	return ev;
}

/* Decode n μ-law bytes frame by frame, stopping after a STOPPED; bytes used. */
static size_t consume(sv_ear *e, const uint8_t *u, size_t n, sv_ear_result *res, int *ev)
{
	size_t i = 0;
	while (i < n && !(*ev & SV_EAR_STOPPED)) {
		e->frame[e->nframe++] = sb_ulaw_decode(u[i++]);
		if (e->nframe == FRAME) {
			e->nframe = 0;
			*ev |= on_frame(e, res);
		}
	}
	return i;
}

/* Keep input for the next call. */
static void stash_add(sv_ear *e, const uint8_t *u, size_t n)
{
	if (n == 0)
		return;
	if (e->nstash + n > e->stash_cap) {
		e->stash_cap = (e->nstash + n) * 2;
		e->stash = realloc(e->stash, e->stash_cap);
		if (!e->stash)
			abort();
	}
	memcpy(e->stash + e->nstash, u, n);
	e->nstash += n;
}

int sv_ear_feed(sv_ear *e, const uint8_t *ulaw, size_t n, sv_ear_result *res)
{
	int ev = 0;
	if (res)
		memset(res, 0, sizeof *res);
	if (e->nstash) { /* audio left over from a call that ended a turn */
		size_t k = consume(e, e->stash, e->nstash, res, &ev);
		memmove(e->stash, e->stash + k, e->nstash - k);
		e->nstash -= k;
		if (e->nstash) {
			stash_add(e, ulaw, n);
			return ev;
		}
	}
	size_t k = consume(e, ulaw, n, res, &ev);
	if (k < n)
		stash_add(e, ulaw + k, n - k);
	return ev;
}
