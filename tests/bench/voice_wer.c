/*
 * voice_wer.c — the offline voice engine: recognition accuracy, latency and
 * costs of the ear, speed of the mouth.
 *
 * Prints Markdown (tests/bench/run.sh collects it):
 *
 *   1. Synthesised callers: 42 caller questions spoken by the flite voices
 *      rms, slt and awb (sv_say → μ-law 8 kHz), clean and "rough" (300–3400
 *      Hz band-pass plus white noise 20 dB under the speech), fed in 20 ms
 *      packets with line silence around each to one warm ear per voice and
 *      line, whose corpus is a small business knowledge text plus those
 *      questions: word error rate, sentence accuracy, decode real-time
 *      factor, finalisation latency; how many right answers the ear marks
 *      understood and how many of 12 off-topic sentences it rejects; then
 *      every question as the first utterance of a fresh ear (cold start).
 *   2. Real human speech: the asterisk-core-sounds-en prompts (8 kHz studio
 *      recordings of one speaker, CC-BY-SA) of 2 to 12 words through μ-law,
 *      the LM built from all their transcripts: the same figures, warm (one
 *      long call) and cold (every 7th prompt on a fresh ear).
 *   3. Costs: ear creation, corpus (re)build time for a 1 KB and a 20 KB
 *      corpus, resident memory per ear.
 *   4. The mouth: time to the first audio chunk and real-time factor of
 *      sv_say per voice.
 *
 * Sections 1 and 2 run on two threads (two cores: about a minute instead of
 * two; SB_BENCH_SERIAL=1 runs them one after the other, for latencies that
 * no other work disturbs); the RTF is per-thread CPU time, the latencies are
 * wall time.
 * "Finalisation" is the wall time of the sv_ear_feed call that returns
 * SV_EAR_STOPPED: from the endpoint (silence_ms after the speech) to the text.
 *
 * `voice_wer --cmninit` instead measures the phone-line cepstral mean that
 * tools/voice/voice_ear.c ships as PHONE_CMNINIT (over every asterisk prompt).
 *
 * Knobs: SB_VOICE_HMM, SB_VOICE_DICT (model paths), SB_VOICE_SOUNDS (prompt
 * folder), SB_BENCH_VERBOSE=1 (every hypothesis as an HTML comment).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "sb_g711.h"
#include "voice_engine.h"
#include "../voice_testkit.h"

#include <err.h>
#include <feat.h>
#include <pocketsphinx.h>
#include <speex/speex_resampler.h>

#define HMM_DEFAULT    "/usr/share/pocketsphinx/model/en-us/en-us"
#define DICT_DEFAULT   "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
#define SOUNDS_DEFAULT "/usr/share/asterisk/sounds/en"
#define TRANSCRIPTS    "/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
#define PACKET         160 /* 20 ms of μ-law */
#define MAX_PROMPTS    600
#define MAX_SAMPLES    4096
#define THRESHOLD      0.01 /* sv_ear_cfg.min_confidence default (for the report) */

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static double now_ms(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "voice_wer: %s: %s\n", what, detail);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

/* ---- the business and its callers ------------------------------------------------------ */

static const char KNOWLEDGE[] =
	"Acme Home Internet serves Springfield and Shelbyville. Our office is at 42 Main Street, Springfield.\n"
	"Opening hours: Monday to Friday 8am to 6pm, Saturday 9am to 1pm. We are closed on Sundays.\n"
	"Plans: the basic plan costs $29.99 a month for 100 megabits. The premium plan costs $49.99 a month "
	"for 1 gigabit and includes a free router. There is no contract and no installation fee.\n"
	"Installation takes about two hours and a technician comes to your home. You can book an appointment "
	"online or by phone.\n"
	"Payment: we accept credit cards, debit cards and bank transfers. Bills are due on the 1st of each month. "
	"If you pay late there is a $10 fee.\n"
	"Support is available 24/7. If your internet is not working, restart your router first.\n"
	"We also sell routers for $89 and mesh systems for $199. We ship to Canada and the United States; "
	"shipping takes 3 to 5 business days. Returns are accepted within 30 days with the receipt.\n";

/* What callers ask; the corpus gets these too (as a FAQ would list them). */
static const char *const QUESTIONS[] = {
	"what are your opening hours", "when are you open on saturday", "are you open on sunday",
	"what time do you close today", "where is your office", "what is your address",
	"how much does the premium plan cost", "how much is the basic plan", "what plans do you have",
	"is there an installation fee", "do i need a contract", "how fast is the premium plan",
	"does the premium plan include a router", "how long does installation take",
	"can i book an appointment", "i want to book an installation", "do you accept credit cards",
	"when is my bill due", "is there a late fee", "how much is the late fee",
	"my internet is not working", "is support available at night", "how much is a router",
	"do you sell mesh systems", "do you ship to canada", "how long does shipping take",
	"can i return a router", "what is your return policy", "i want to cancel my subscription",
	"i want to talk to a human", "can i speak to a representative", "i want to talk to an agent",
	"can you call me back tomorrow", "can you call me back later", "i can pay fifty dollars next friday",
	"that is not my debt", "i already paid", "yes that is correct", "no thank you", "thank you",
	"that's all thanks", "goodbye",
};
#define N_QUESTIONS (sizeof QUESTIONS / sizeof QUESTIONS[0])

static const char *const OFF_TOPIC[] = {
	"my dog ate my homework yesterday", "the weather is really nice today",
	"i would like a large pepperoni pizza", "the quick brown fox jumps over the lazy dog",
	"my grandmother grows tomatoes in her garden", "the football game starts at midnight",
	"please sing me a song about the ocean", "elephants never forget their friends",
	"who won the election last year", "i think my car needs new tires",
	"she painted the kitchen bright yellow", "our teacher gave us too much homework",
};
#define N_OFF (sizeof OFF_TOPIC / sizeof OFF_TOPIC[0])

static const char *const VOICES[] = {"rms", "slt", "awb"};
#define N_VOICES 3

/* ---- audio ----------------------------------------------------------------------------- */

/* A caller utterance: 400 ms of line silence, the speech, 800 ms after. */
static abuf synth(const char *voice, const char *text)
{
	abuf b = {0};
	ab_silence(&b, 400);
	if (sv_say(voice, text, ab_collect, &b) != 0)
		die("sv_say failed for voice", voice);
	ab_silence(&b, 800);
	return b;
}

/* Uniform noise in [-1, 1): xorshift with a fixed seed, so runs compare. */
static double frand(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (double)(*s >> 11) / (double)(1ULL << 52) - 1.0;
}

/* One biquad section (RBJ cookbook), 8 kHz. */
typedef struct biquad {
	double b0, b1, b2, a1, a2, z1, z2;
} biquad;

static biquad bq_make(bool highpass, double f, double q)
{
	double w = 2 * M_PI * f / 8000, c = cos(w), al = sin(w) / (2 * q), a0 = 1 + al;
	biquad bq = {0};
	bq.b1 = (highpass ? -(1 + c) : (1 - c)) / a0;
	bq.b0 = bq.b2 = (highpass ? (1 + c) : (1 - c)) / 2 / a0;
	bq.a1 = -2 * c / a0;
	bq.a2 = (1 - al) / a0;
	return bq;
}

static double bq_run(biquad *q, double x)
{
	double y = q->b0 * x + q->z1;
	q->z1 = q->b1 * x - q->a1 * y + q->z2;
	q->z2 = q->b2 * x - q->a2 * y;
	return y;
}

/* The rough line, as a copy: 300–3400 Hz band-pass, then white noise 20 dB
 * under the speech (RMS over the samples above -40 dBFS), back to μ-law. */
static abuf roughen(const abuf *in, unsigned long long *seed)
{
	abuf    b = {0};
	biquad  hp = bq_make(true, 300, 0.707), lp = bq_make(false, 3400, 0.707);
	double *x = xcalloc(in->n, sizeof *x), sum = 0;
	size_t  loud = 0;
	for (size_t i = 0; i < in->n; i++) {
		x[i] = bq_run(&lp, bq_run(&hp, sb_ulaw_decode(in->u[i])));
		if (fabs(x[i]) > 300) {
			sum += x[i] * x[i];
			loud++;
		}
	}
	double rms = loud ? sqrt(sum / (double)loud) : 1000, amp = rms / 10.0 * sqrt(3);
	for (size_t i = 0; i < in->n; i++) {
		double  v = x[i] + amp * frand(seed);
		uint8_t u = sb_ulaw_encode((int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v));
		ab_add(&b, &u, 1);
	}
	free(x);
	return b;
}

/* ---- scoring --------------------------------------------------------------------------- */

typedef struct stats {
	int    utts, right, words, errors;
	double audio_ms, cpu_ms;
	double fin[MAX_SAMPLES]; /* finalisation latencies, ms */
	int    nfin;
	int    understood; /* exactly right answers (or, off-topic, any answer) the ear understood */
} stats;

static void stats_add(stats *to, const stats *s)
{
	to->utts += s->utts, to->right += s->right, to->words += s->words, to->errors += s->errors;
	to->audio_ms += s->audio_ms, to->cpu_ms += s->cpu_ms;
	for (int i = 0; i < s->nfin && to->nfin < MAX_SAMPLES; i++)
		to->fin[to->nfin++] = s->fin[i];
	to->understood += s->understood;
}

/* Word-level edit distance between two normalised strings; *nref words in ref. */
static int word_errors(const char *ref, const char *hyp, int *nref)
{
	char  rb[2048], hb[2048], *save;
	char *r[128], *h[128];
	int   nr = 0, nh = 0;
	snprintf(rb, sizeof rb, "%s", ref);
	snprintf(hb, sizeof hb, "%s", hyp);
	for (char *t = strtok_r(rb, " ", &save); t && nr < 128; t = strtok_r(NULL, " ", &save))
		r[nr++] = t;
	for (char *t = strtok_r(hb, " ", &save); t && nh < 128; t = strtok_r(NULL, " ", &save))
		h[nh++] = t;
	int d[129][129];
	for (int i = 0; i <= nr; i++)
		d[i][0] = i;
	for (int j = 0; j <= nh; j++)
		d[0][j] = j;
	for (int i = 1; i <= nr; i++)
		for (int j = 1; j <= nh; j++) {
			int sub = d[i - 1][j - 1] + (strcmp(r[i - 1], h[j - 1]) != 0);
			int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	*nref = nr;
	return d[nr][nh];
}

/* Feed one utterance in 20 ms packets; the texts of all STOPPED results are
 * joined into hyp. Returns whether the ear understood them all (false if
 * there was none). */
static bool run_utt(sv_ear *e, const abuf *b, char *hyp, size_t cap, stats *s)
{
	hyp[0] = '\0';
	bool understood = true, any = false;
	for (size_t off = 0; off < b->n; off += PACKET) {
		size_t        n = b->n - off < PACKET ? b->n - off : PACKET;
		sv_ear_result r;
		double        t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
		int           ev = sv_ear_feed(e, b->u + off, n, &r);
		double        t1 = now_ms(CLOCK_MONOTONIC);
		s->cpu_ms += now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (!(ev & SV_EAR_STOPPED))
			continue;
		if (s->nfin < MAX_SAMPLES)
			s->fin[s->nfin++] = t1 - t0;
		if (r.text[0]) {
			size_t l = strlen(hyp);
			snprintf(hyp + l, cap - l, "%s%s", l ? " " : "", r.text);
			understood = understood && r.understood;
			any = true;
		}
	}
	s->audio_ms += (double)b->n / 8.0;
	return any && understood;
}

/* Score one utterance against its reference (raw text, normalised here). */
static void score(stats *s, const char *ref_raw, const char *hyp, bool understood, FILE *out)
{
	char ref[1024];
	int  nref;
	sv_normalize(ref_raw, ref, sizeof ref);
	int err = word_errors(ref, hyp, &nref);
	s->utts++;
	s->words += nref;
	s->errors += err;
	if (err == 0) {
		s->right++;
		s->understood += understood;
	}
	if (getenv("SB_BENCH_VERBOSE"))
		fprintf(out, "<!-- %s → [%s]%s -->\n", ref, hyp, understood ? "" : " (not understood)");
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The p-th percentile (sorts v). */
static double pct(double *v, int n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_dbl);
	int i = (int)ceil(p / 100.0 * n) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void header(FILE *out)
{
	fprintf(out, "| run | utterances | WER | sentence acc. | decode RTF | finalise p50 / p99 |\n"
		     "|---|---|---|---|---|---|\n");
}

static void row(FILE *out, const char *name, stats *s)
{
	fprintf(out, "| %s | %d | %.1f %% | %.0f %% | %.3f | %.0f / %.0f ms |\n", name, s->utts,
		s->words ? 100.0 * s->errors / s->words : 0, s->utts ? 100.0 * s->right / s->utts : 0,
		s->audio_ms > 0 ? s->cpu_ms / s->audio_ms : 0, pct(s->fin, s->nfin, 50), pct(s->fin, s->nfin, 99));
}

static sv_ear *ear_with(const sv_models *m, const char *corpus)
{
	char    err[256];
	sv_ear *e = sv_ear_new(m, NULL, err, sizeof err);
	if (!e || sv_ear_set_corpus(e, corpus, err, sizeof err) != 0)
		die("ear", err);
	return e;
}

/* ---- 1. synthesised callers ------------------------------------------------------------ */

typedef struct section {
	const sv_models *m;
	const char      *dir;
	FILE            *out;
	char            *text; /* what out wrote */
	size_t           len;
} section;

static char *questions_corpus(void)
{
	size_t len = sizeof KNOWLEDGE + 1;
	for (size_t i = 0; i < N_QUESTIONS; i++)
		len += strlen(QUESTIONS[i]) + 2;
	char *c = xcalloc(len, 1), *p = c;
	p += sprintf(p, "%s", KNOWLEDGE);
	for (size_t i = 0; i < N_QUESTIONS; i++)
		p += sprintf(p, "%s?\n", QUESTIONS[i]);
	return c;
}

/* One warm ear per voice and line; the off-topic set on the clean one. */
static void synth_warm(section *sec, const char *corpus, stats *all, stats *off)
{
	static abuf        clean[N_VOICES][N_QUESTIONS];
	unsigned long long seed = 0x9E3779B97F4A7C15ULL;
	char               hyp[2048];
	for (int v = 0; v < N_VOICES; v++)
		for (size_t q = 0; q < N_QUESTIONS; q++)
			clean[v][q] = synth(VOICES[v], QUESTIONS[q]);
	for (int v = 0; v < N_VOICES; v++) {
		for (int rough = 0; rough < 2; rough++) {
			stats  *s = xcalloc(1, sizeof *s);
			sv_ear *e = ear_with(sec->m, corpus);
			for (size_t q = 0; q < N_QUESTIONS; q++) {
				abuf   r = rough ? roughen(&clean[v][q], &seed) : clean[v][q];
				bool   und = run_utt(e, &r, hyp, sizeof hyp, s);
				score(s, QUESTIONS[q], hyp, und, sec->out);
				if (rough)
					free(r.u);
			}
			for (size_t o = 0; !rough && o < N_OFF; o++) {
				abuf   b = synth(VOICES[v], OFF_TOPIC[o]);
				bool   und = run_utt(e, &b, hyp, sizeof hyp, off);
				off->utts++;
				off->understood += und;
				if (getenv("SB_BENCH_VERBOSE"))
					fprintf(sec->out, "<!-- off-topic %s → [%s]%s -->\n", OFF_TOPIC[o], hyp,
						und ? " (understood)" : "");
				free(b.u);
			}
			char name[64];
			snprintf(name, sizeof name, "%s, %s", VOICES[v], rough ? "rough line" : "clean");
			row(sec->out, name, s);
			stats_add(all, s);
			sv_ear_free(e);
			free(s);
		}
	}
	for (int v = 0; v < N_VOICES; v++)
		for (size_t q = 0; q < N_QUESTIONS; q++)
			free(clean[v][q].u);
}

static void *bench_synth(void *arg)
{
	section *sec = arg;
	char    *corpus = questions_corpus();
	stats   *all = xcalloc(1, sizeof *all), *off = xcalloc(1, sizeof *off), *cold = xcalloc(1, sizeof *cold);
	FILE    *out = sec->out;
	fprintf(out, "### 1. Synthesised callers\n\n%zu questions × flite voices rms, slt, awb; clean line, and rough "
		     "line (300–3400 Hz band-pass, white noise 20 dB under the speech); one warm ear per voice and line, "
		     "corpus = a 1 KB knowledge text plus the questions.\n\n", N_QUESTIONS);
	header(out);
	synth_warm(sec, corpus, all, off);
	row(out, "**all**", all);
	fprintf(out, "\nUnderstood (posterior ≥ %.2f and in-domain ≥ 0.5, the defaults): %d of the %d exactly right "
		     "answers; %d of %d off-topic sentences (clean line) rejected.\n\n",
		THRESHOLD, all->understood, all->right, off->utts - off->understood, off->utts);

	char hyp[2048];
	for (size_t q = 0; q < N_QUESTIONS; q++) { /* each question the first utterance of a fresh ear */
		sv_ear *e = ear_with(sec->m, corpus);
		abuf    b = synth(VOICES[q % N_VOICES], QUESTIONS[q]);
		bool    und = run_utt(e, &b, hyp, sizeof hyp, cold);
		score(cold, QUESTIONS[q], hyp, und, out);
		free(b.u);
		sv_ear_free(e);
	}
	fprintf(out, "Cold start: every question the first utterance of a fresh ear (voices rotating, clean line).\n\n");
	header(out);
	row(out, "cold", cold);
	fprintf(out, "\n");
	free(all);
	free(off);
	free(cold);
	free(corpus);
	return NULL;
}

/* ---- 2. real human speech (asterisk prompts) ------------------------------------------- */

typedef struct prompt {
	char  name[128];
	char *text;
} prompt;

/* Transcripts "name: text" that have a WAV file; with !all only 2..12 words. */
static int load_prompts(const char *dir, prompt *p, int max, bool all)
{
	FILE *z = popen("gzip -dc " TRANSCRIPTS " 2>/dev/null", "r");
	if (!z)
		return -1;
	char line[4096];
	int  n = 0;
	while (n < max && fgets(line, sizeof line, z)) {
		char *colon = strstr(line, ": ");
		if (!colon || line[0] == ';')
			continue;
		*colon = '\0';
		char *text = colon + 2;
		text[strcspn(text, "\r\n")] = '\0';
		char   norm[2048], path[512];
		size_t len = sv_normalize(text, norm, sizeof norm);
		int    words = len ? 1 : 0;
		for (size_t i = 0; i < len; i++)
			words += norm[i] == ' ';
		if (strlen(line) >= sizeof p[n].name || text[0] == '[' || words < 1 || (!all && (words < 2 || words > 12)))
			continue;
		snprintf(path, sizeof path, "%.300s/%.127s.wav", dir, line);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		fclose(f);
		snprintf(p[n].name, sizeof p[n].name, "%.127s", line);
		p[n].text = strdup(text);
		n++;
	}
	pclose(z);
	return n;
}

/* 16-bit mono 8 kHz WAV → PCM (owned); *n samples. */
static int16_t *read_wav(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char hdr[12], ck[8];
	int16_t      *pcm = NULL;
	if (fread(hdr, 1, 12, f) != 12 || memcmp(hdr, "RIFF", 4) || memcmp(hdr + 8, "WAVE", 4)) {
		fclose(f);
		return NULL;
	}
	while (fread(ck, 1, 8, f) == 8) {
		uint32_t len = ck[4] | ck[5] << 8 | ck[6] << 16 | (uint32_t)ck[7] << 24;
		if (memcmp(ck, "data", 4) == 0) {
			pcm = xcalloc(len / 2 + 1, sizeof *pcm);
			*n = fread(pcm, 1, len, f) / 2;
			break;
		}
		fseek(f, (long)(len + (len & 1)), SEEK_CUR);
	}
	fclose(f);
	return pcm;
}

/* A prompt as a caller utterance: μ-law, 400 ms before, 800 ms after. */
static bool prompt_audio(const char *dir, const prompt *p, abuf *b)
{
	char path[512];
	snprintf(path, sizeof path, "%.300s/%s.wav", dir, p->name);
	size_t   n;
	int16_t *pcm = read_wav(path, &n);
	if (!pcm)
		return false;
	b->n = 0;
	ab_silence(b, 400);
	for (size_t i = 0; i < n; i++) {
		uint8_t u = sb_ulaw_encode(pcm[i]);
		ab_add(b, &u, 1);
	}
	ab_silence(b, 800);
	free(pcm);
	return true;
}

static char *prompts_corpus(const prompt *p, int n)
{
	size_t len = 1;
	for (int i = 0; i < n; i++)
		len += strlen(p[i].text) + 1;
	char *c = xcalloc(len, 1), *at = c;
	for (int i = 0; i < n; i++)
		at += sprintf(at, "%s\n", p[i].text);
	return c;
}

static void *bench_human(void *arg)
{
	section      *sec = arg;
	static prompt p[MAX_PROMPTS];
	int           n = load_prompts(sec->dir, p, MAX_PROMPTS, false);
	if (n <= 0) {
		fprintf(sec->out, "### 2. Real human speech\n\nskipped: no asterisk-core-sounds-en prompts in %s\n\n", sec->dir);
		return NULL;
	}
	char   *corpus = prompts_corpus(p, n);
	abuf    b = {0};
	char    hyp[4096];
	stats  *warm = xcalloc(1, sizeof *warm), *cold = xcalloc(1, sizeof *cold);
	sv_ear *e = ear_with(sec->m, corpus);
	for (int i = 0; i < n; i++) {
		if (!prompt_audio(sec->dir, &p[i], &b))
			continue;
		bool und = run_utt(e, &b, hyp, sizeof hyp, warm);
		score(warm, p[i].text, hyp, und, sec->out);
	}
	sv_ear_free(e);
	for (int i = 0; i < n; i += 7) {
		if (!prompt_audio(sec->dir, &p[i], &b))
			continue;
		e = ear_with(sec->m, corpus);
		bool und = run_utt(e, &b, hyp, sizeof hyp, cold);
		score(cold, p[i].text, hyp, und, sec->out);
		sv_ear_free(e);
	}
	fprintf(sec->out, "### 2. Real human speech\n\nasterisk-core-sounds-en: %d prompts of 2–12 words, %.0f s with the "
			  "padding, one speaker, through μ-law; LM from all %d transcripts.\n\n", n, warm->audio_ms / 1000, n);
	header(sec->out);
	row(sec->out, "warm ear (one long call)", warm);
	row(sec->out, "cold (every 7th prompt, fresh ear)", cold);
	fprintf(sec->out, "\nUnderstood (default thresholds): %d of the %d exactly right answers (warm).\n\n",
		warm->understood, warm->right);
	free(warm);
	free(cold);
	for (int i = 0; i < n; i++)
		free(p[i].text);
	free(corpus);
	free(b.u);
	return NULL;
}

/* ---- 3. costs -------------------------------------------------------------------------- */

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char  line[256];
	long  kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* About len bytes of the asterisk transcripts: real prose, wide vocabulary
 * (the knowledge text repeated when the prompts are not installed). */
static char *prose(const char *dir, size_t len)
{
	static prompt p[MAX_PROMPTS];
	int           n = load_prompts(dir, p, MAX_PROMPTS, true);
	char         *c = xcalloc(1, len + 4096);
	size_t        at = 0;
	for (int i = 0; i < n; i++) {
		if (at < len)
			at += (size_t)sprintf(c + at, "%s\n", p[i].text);
		free(p[i].text);
	}
	for (; at < len; at += sizeof KNOWLEDGE - 1)
		memcpy(c + at, KNOWLEDGE, sizeof KNOWLEDGE);
	return c;
}

static void bench_costs(const sv_models *m, const char *dir)
{
	char err[256];
	printf("### 3. Costs\n\n| what | value |\n|---|---|\n");
	long    before = rss_kb();
	double  t0 = now_ms(CLOCK_MONOTONIC);
	sv_ear *ears[4];
	for (int i = 0; i < 4; i++)
		if (!(ears[i] = sv_ear_new(m, NULL, err, sizeof err)))
			die("ear", err);
	printf("| sv_ear_new (decoder, acoustic model, LM of the built-in phrases) | %.0f ms |\n",
	       (now_ms(CLOCK_MONOTONIC) - t0) / 4);
	char *texts[2] = {strdup(KNOWLEDGE), prose(dir, 20000)};
	for (int k = 0; k < 2; k++) {
		double best = 1e9;
		for (int r = 0; r < 8; r++) {
			double a = now_ms(CLOCK_MONOTONIC);
			if (sv_ear_set_corpus(ears[r % 4], texts[k], err, sizeof err) != 0)
				die("corpus", err);
			double d = now_ms(CLOCK_MONOTONIC) - a;
			best = d < best ? d : best;
		}
		printf("| sv_ear_set_corpus, %s (%zu bytes), best of 8 | %.1f ms |\n",
		       k ? "prose (asterisk transcripts)" : "knowledge text", strlen(texts[k]), best);
		free(texts[k]);
	}
	printf("| resident memory per ear (4 ears with the 20 KB corpus: RSS growth / 4) | %.1f MB |\n",
	       (double)(rss_kb() - before) / 4 / 1024);
	printf("| process RSS: models (cmudict in memory), flite voices, 4 ears | %.1f MB |\n\n", (double)rss_kb() / 1024);
	for (int i = 0; i < 4; i++)
		sv_ear_free(ears[i]);
}

/* ---- 4. the mouth ---------------------------------------------------------------------- */

typedef struct tts_run {
	double t0, first, audio_ms;
} tts_run;

static int tts_cb(const uint8_t *u, size_t n, void *arg)
{
	tts_run *r = arg;
	if (r->first < 0)
		r->first = now_ms(CLOCK_MONOTONIC) - r->t0;
	r->audio_ms += (double)n / 8.0;
	return 0;
}

static void bench_mouth(void)
{
	static const char *const V[] = {"kal", "rms", "slt", "awb"};
	const char *reply = "Our opening hours are Monday to Friday from eight a m to six p m, and Saturday from "
			    "nine to one. Is there anything else I can help you with?";
	printf("### 4. Mouth (sv_say → μ-law 8 kHz)\n\nA two-sentence reply (%zu characters), median of 5, after a "
	       "first call that registers the voice.\n\n| voice | first chunk | whole reply | audio | RTF |\n"
	       "|---|---|---|---|---|\n", strlen(reply));
	for (size_t v = 0; v < 4; v++) {
		double first[5], total[5], audio = 0;
		tts_run warm = {now_ms(CLOCK_MONOTONIC), -1, 0};
		sv_say(V[v], "Hello.", tts_cb, &warm);
		for (int i = 0; i < 5; i++) {
			tts_run r = {now_ms(CLOCK_MONOTONIC), -1, 0};
			sv_say(V[v], reply, tts_cb, &r);
			total[i] = now_ms(CLOCK_MONOTONIC) - r.t0;
			first[i] = r.first;
			audio = r.audio_ms;
		}
		double t = pct(total, 5, 50);
		printf("| %s | %.1f ms | %.0f ms | %.1f s | %.3f |\n", V[v], pct(first, 5, 50), t, audio / 1000, t / audio);
	}
	printf("\n");
}

/* ---- --cmninit: measure the phone-line cepstral mean ------------------------------------ */

static int cmninit(const char *hmm, const char *dict, const char *dir)
{
	static prompt p[MAX_PROMPTS];
	int           n = load_prompts(dir, p, MAX_PROMPTS, true);
	if (n <= 0)
		die("no prompts in", dir);
	char *argv[] = {"x", "-hmm", (char *)hmm, "-dict", (char *)dict, "-keyphrase", "hello"};
	err_set_logfp(NULL);
	cmd_ln_t     *cfg = cmd_ln_parse_r(NULL, ps_args(), 7, argv, TRUE);
	ps_decoder_t *ps = cfg ? ps_init(cfg) : NULL;
	if (!ps)
		die("pocketsphinx", "cannot load the model");
	int                  rerr;
	SpeexResamplerState *up = speex_resampler_init(1, 8000, 16000, 5, &rerr);
	double               sum[13] = {0};
	int                  got = 0;
	abuf                 b = {0};
	for (int pass = 0; pass < 2; pass++) { /* pass 0: 40 prompts to warm the running mean up */
		for (int i = 0; i < (pass ? n : 40); i++) {
			if (!prompt_audio(dir, &p[i], &b))
				continue;
			speex_resampler_reset_mem(up);
			ps_start_utt(ps);
			for (size_t off = 0; off < b.n; off += PACKET) {
				int16_t      pcm[PACKET], out[2 * PACKET + 32];
				spx_uint32_t in = (spx_uint32_t)(b.n - off < PACKET ? b.n - off : PACKET), on = 2 * PACKET + 32;
				sb_ulaw_decode_buf(b.u + off, in, pcm);
				speex_resampler_process_int(up, 0, pcm, &in, out, &on);
				ps_process_raw(ps, out, on, FALSE, FALSE); /* a keyphrase search: cheap */
			}
			ps_end_utt(ps);
			mfcc_t mean[13];
			cmn_live_get(ps_get_feat(ps)->cmn_struct, mean);
			for (int k = 0; pass == 1 && k < 13; k++)
				sum[k] += mean[k];
			got += pass;
		}
	}
	printf("phone -cmninit over %d asterisk prompts (μ-law, speexdsp 8→16 kHz):\n", got);
	for (int k = 0; k < 13; k++)
		printf("%s%.2f", k ? "," : "", sum[k] / got);
	printf("\n");
	for (int i = 0; i < n; i++)
		free(p[i].text);
	free(b.u);
	speex_resampler_destroy(up);
	ps_free(ps);
	cmd_ln_free_r(cfg);
	return 0;
}

/* Run a section on its own thread, output captured. */
static void section_start(section *s, pthread_t *t, void *(*fn)(void *))
{
	s->out = open_memstream(&s->text, &s->len);
	if (!s->out || pthread_create(t, NULL, fn, s) != 0)
		die("thread", "cannot start");
}

static void section_end(section *s, pthread_t t)
{
	pthread_join(t, NULL);
	fclose(s->out);
	fputs(s->text, stdout);
	free(s->text);
}

int main(int argc, char **argv)
{
	const char *hmm = env_or("SB_VOICE_HMM", HMM_DEFAULT), *dict = env_or("SB_VOICE_DICT", DICT_DEFAULT);
	const char *dir = env_or("SB_VOICE_SOUNDS", SOUNDS_DEFAULT);
	if (argc > 1 && strcmp(argv[1], "--cmninit") == 0)
		return cmninit(hmm, dict, dir);
	char       err[256];
	double     t0 = now_ms(CLOCK_MONOTONIC);
	sv_models *m = sv_models_load(hmm, dict, sbt_dir(), err, sizeof err);
	printf("## Offline voice engine (sb-voice: ear and mouth)\n\n");
	if (!m) {
		printf("skipped: %s\n\n", err);
		return 0;
	}
	printf("pocketsphinx 5prealpha en-us (16 kHz; 8 kHz μ-law upsampled), runtime bigram LM, WebRTC VAD mode 2, "
	       "500 ms hangover, 20 ms packets, posterior threshold %.2f. Models load in %.0f ms.\n\n", THRESHOLD,
	       now_ms(CLOCK_MONOTONIC) - t0);
	section   s1 = {.m = m, .dir = dir}, s2 = {.m = m, .dir = dir};
	pthread_t t1, t2;
	bool      serial = getenv("SB_BENCH_SERIAL") != NULL;
	section_start(&s1, &t1, bench_synth);
	if (serial)
		section_end(&s1, t1);
	section_start(&s2, &t2, bench_human);
	if (!serial)
		section_end(&s1, t1);
	section_end(&s2, t2);
	bench_costs(m, dir);
	bench_mouth();
	sv_models_free(m);
	return 0;
}
