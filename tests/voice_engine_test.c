/*
 * voice_engine_test.c — the offline voice engine's listening and speaking
 * core (tools/voice/voice_engine.h), end to end in one process:
 *
 *   - text: the normalisation table and sentence splitting;
 *   - mouth: sv_say lengths per voice, unknown voices, stopping early;
 *   - ear: caller questions synthesised with flite (voice rms) through
 *     μ-law 8 kHz in 20 ms packets, recognised against a small business
 *     corpus; the first utterance of a fresh ear (cold start); noise, a
 *     100 ms blip and an off-topic sentence are not taken as answers; the
 *     corpus can be replaced, also while the caller is talking; bad model
 *     paths are errors, not crashes.
 *
 * Models come from the Debian packages (pocketsphinx-en-us); SB_VOICE_HMM
 * and SB_VOICE_DICT override the paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sb_g711.h"
#include "voice_engine.h"
#include "voice_testkit.h"

#define HMM_DEFAULT  "/usr/share/pocketsphinx/model/en-us/en-us"
#define DICT_DEFAULT "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
#define PACKET       160 /* 20 ms of μ-law */
#define CALLER       "rms"

static sv_models *models;

static const char KNOWLEDGE[] =
	"Welcome to Acme Widgets! We are open Monday to Friday from 9am to 5:30pm.\n"
	"The basic plan costs $19 a month; the premium plan costs $49.99 a month.\n"
	"We ship to Canada & the United States. Shipping is free over $100.\n"
	"Callers ask: What are your opening hours? How much does the premium plan cost? "
	"Do you ship to Canada? Where are you located? Can I talk to a human?";

/* ---- audio helpers ------------------------------------------------------------------ */

/* A caller utterance: silence, the text in voice, silence. */
static abuf utterance(const char *voice, const char *text, int pad_ms)
{
	abuf b = {0};
	ab_silence(&b, pad_ms);
	assert_int_equal(sv_say(voice, text, ab_collect, &b), 0);
	ab_silence(&b, pad_ms + 300);
	return b;
}

typedef struct heard {
	int           started, stopped; /* events seen */
	bool          order_ok;         /* STARTED always before its STOPPED */
	sv_ear_result last;             /* the last STOPPED result */
	long long     start_ms;         /* from the STARTED event */
} heard;

/* Feed b in 20 ms packets and record the events. */
static heard listen(sv_ear *e, const abuf *b)
{
	heard h = {.order_ok = true};
	for (size_t off = 0; off < b->n; off += PACKET) {
		sv_ear_result r;
		size_t        n = b->n - off < PACKET ? b->n - off : PACKET;
		int           ev = sv_ear_feed(e, b->u + off, n, &r);
		if (ev & SV_EAR_STARTED) {
			h.order_ok = h.order_ok && h.started == h.stopped;
			h.started++;
			h.start_ms = r.start_ms;
			assert_true(sv_ear_in_speech(e) || (ev & SV_EAR_STOPPED));
		}
		if (ev & SV_EAR_STOPPED) {
			h.stopped++;
			h.order_ok = h.order_ok && h.started == h.stopped;
			h.last = r;
		}
	}
	return h;
}

static sv_ear *new_ear(const char *corpus)
{
	char    err[256] = "";
	sv_ear *e = sv_ear_new(models, NULL, err, sizeof err);
	if (!e)
		fail_msg("sv_ear_new: %s", err);
	if (corpus && sv_ear_set_corpus(e, corpus, err, sizeof err) != 0)
		fail_msg("sv_ear_set_corpus: %s", err);
	return e;
}

static bool has_words(const char *text, const char *const *words)
{
	for (; *words; words++) {
		char pat[64];
		snprintf(pat, sizeof pat, " %s ", *words);
		char padded[600];
		snprintf(padded, sizeof padded, " %s ", text);
		if (!strstr(padded, pat))
			return false;
	}
	return true;
}

/* ---- text ------------------------------------------------------------------------------ */

static void test_normalize(void **state)
{
	static const struct { const char *in, *out; } T[] = {
		{"$49", "forty nine dollars"},
		{"$49.99", "forty nine dollars and ninety nine cents"},
		{"$1", "one dollar"},
		{"$0.50", "fifty cents"},
		{"$1,200", "one thousand two hundred dollars"},
		{"9am", "nine a m"},
		{"9 a.m.", "nine a m"},
		{"5:30pm", "five thirty p m"},
		{"10:05 AM", "ten oh five a m"},
		{"10%", "ten percent"},
		{"24/7", "twenty four seven"},
		{"1st", "first"},
		{"22nd", "twenty second"},
		{"the 3rd floor", "the third floor"},
		{"2026", "twenty twenty six"},
		{"1,234,567", "one million two hundred thirty four thousand five hundred sixty seven"},
		{"100", "one hundred"},
		{"7 days", "seven days"},
		{"Tom & Jerry", "tom and jerry"},
		{"Don't STOP!", "don't stop"},
		{"it\xE2\x80\x99s", "it's"},
		{"'quoted'", "quoted"},
		{"Hello, world... (really?)", "hello world really"},
		{"check-in", "check in"},
		{"3.5 stars", "three point five stars"},
		{"call 555-0100", "call five five five zero one zero zero"},
		{"1-800-555-0100", "one eight zero zero five five five zero one zero zero"},
		{"3-5 days", "three to five days"},
		{"open 9-5, Mon-Fri", "open nine to five monday to friday"},
		{"Sat. and Sun.", "saturday and sunday"},
		{"the sun is out", "the sun is out"},
		{"caf\xC3\xA9", "cafe"},
		{"", ""},
	};
	char out[512];
	for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
		size_t n = sv_normalize(T[i].in, out, sizeof out);
		if (strcmp(out, T[i].out) != 0)
			fail_msg("sv_normalize(\"%s\") = \"%s\", want \"%s\"", T[i].in, out, T[i].out);
		assert_int_equal(n, strlen(T[i].out));
	}
	/* truncation: whole words only, never past cap-1 */
	char small[12];
	size_t n = sv_normalize("one two three four", small, sizeof small);
	assert_string_equal(small, "one two");
	assert_int_equal(n, 7);
}

typedef struct sents {
	int  n;
	char s[16][128];
} sents;

static void on_sentence(const char *s, size_t n, void *arg)
{
	sents *x = arg;
	if (x->n < 16)
		snprintf(x->s[x->n++], sizeof x->s[0], "%.*s", (int)n, s);
}

static void test_sentences(void **state)
{
	sents x = {0};
	sv_sentences("  Hello there!  The price is $49.99. We open at 9 a.m. Monday to Friday.\n"
		     "Dr. Smith is in; call him.  Really?! Yes...   \n\n- bullet line\nlast one",
		     on_sentence, &x);
	static const char *const WANT[] = {"Hello there!", "The price is $49.99.",
					   "We open at 9 a.m. Monday to Friday.", "Dr. Smith is in;", "call him.",
					   "Really?!", "Yes...", "- bullet line", "last one"};
	assert_int_equal(x.n, (int)(sizeof WANT / sizeof WANT[0]));
	for (int i = 0; i < x.n; i++)
		assert_string_equal(x.s[i], WANT[i]);
	memset(&x, 0, sizeof x);
	sv_sentences("   \n\n ", on_sentence, &x);
	assert_int_equal(x.n, 0);
}

/* ---- mouth ----------------------------------------------------------------------------- */

static int stop_after_first(const uint8_t *u, size_t n, void *arg)
{
	(*(int *)arg)++;
	return 1;
}

static void test_say(void **state)
{
	const char *text = "Thank you for calling Acme Widgets. How can I help you today?";
	size_t      chars = strlen(text);
	static const char *const VOICES[] = {"kal", "rms", "slt", "awb"};
	for (size_t v = 0; v < 4; v++) {
		abuf b = {0};
		assert_int_equal(sv_say(VOICES[v], text, ab_collect, &b), 0);
		double ms_per_char = (double)b.n / 8.0 / (double)chars;
		if (ms_per_char < 45 || ms_per_char > 110)
			fail_msg("voice %s: %.0f ms per character", VOICES[v], ms_per_char);
		if (v == 0 && (ms_per_char < 60 || ms_per_char > 100))
			fail_msg("kal: %.0f ms per character, want 60..100", ms_per_char);
		free(b.u);
	}
	abuf b = {0};
	assert_int_equal(sv_say(NULL, "Hello.", ab_collect, &b), 0); /* default voice: kal */
	assert_true(b.n > 8 * 200);
	free(b.u);
	int calls = 0;
	assert_int_equal(sv_say("nosuchvoice", "Hello.", stop_after_first, &calls), -1);
	assert_int_equal(calls, 0);
	assert_int_equal(sv_say("kal", "Hello. This is a long reply. It has many sentences. Stop me.",
				stop_after_first, &calls), 0);
	assert_int_equal(calls, 1);
}

/* ---- ear ------------------------------------------------------------------------------- */

static void test_models_missing(void **state)
{
	char err[256] = "";
	assert_null(sv_models_load("/nonexistent/model", DICT_DEFAULT, sbt_dir(), err, sizeof err));
	assert_true(strlen(err) > 0);
	err[0] = '\0';
	assert_null(sv_models_load(getenv("SB_VOICE_HMM") ? getenv("SB_VOICE_HMM") : HMM_DEFAULT, "/nonexistent.dict",
				   sbt_dir(), err, sizeof err));
	assert_true(strlen(err) > 0);
	sv_ear_cfg bad = {.vad_mode = 7, .silence_ms = 500};
	err[0] = '\0';
	assert_null(sv_ear_new(models, &bad, err, sizeof err));
	assert_true(strlen(err) > 0);
}

static const struct question {
	const char *text;
	const char *keys[4];
} QUESTIONS[] = {
	{"what are your opening hours", {"opening", "hours", NULL}},
	{"how much does the premium plan cost", {"premium", "plan", "cost", NULL}},
	{"do you ship to canada", {"ship", "canada", NULL}},
	{"i want to talk to a human", {"talk", "human", NULL}},
	{"goodbye", {"goodbye", NULL}},
};
#define N_Q (sizeof QUESTIONS / sizeof QUESTIONS[0])

static void test_ear_questions(void **state)
{
	sv_ear *e = new_ear(KNOWLEDGE);
	int     exact = 0;
	for (size_t i = 0; i < N_Q; i++) {
		abuf  b = utterance(CALLER, QUESTIONS[i].text, 400);
		heard h = listen(e, &b);
		print_message("  heard \"%s\" (confidence %.3f, in domain %.2f) for \"%s\"\n", h.last.text,
			      h.last.confidence, h.last.in_domain, QUESTIONS[i].text);
		assert_int_equal(h.started, 1);
		assert_int_equal(h.stopped, 1);
		assert_true(h.order_ok);
		assert_false(sv_ear_in_speech(e));
		exact += strcmp(h.last.text, QUESTIONS[i].text) == 0;
		if (!has_words(h.last.text, QUESTIONS[i].keys))
			fail_msg("\"%s\" heard as \"%s\"", QUESTIONS[i].text, h.last.text);
		assert_true(h.last.understood);
		if (i == 0) /* cold start: the very first utterance of a fresh ear */
			assert_string_equal(h.last.text, QUESTIONS[0].text);
		free(b.u);
	}
	assert_true(exact >= 4);
	sv_ear_free(e);
}

static void test_ear_timing(void **state)
{
	sv_ear *e = new_ear(KNOWLEDGE);
	abuf    b = utterance(CALLER, "do you ship to canada", 500);
	heard   h = listen(e, &b);
	assert_int_equal(h.stopped, 1);
	/* the speech starts after 500 ms of line silence (flite adds a little
	 * of its own) and ends well before the trailing 800 ms */
	assert_true(h.start_ms >= 450 && h.start_ms <= 900);
	assert_int_equal(h.last.start_ms, h.start_ms);
	long long total_ms = (long long)b.n / 8;
	assert_true(h.last.end_ms > h.start_ms + 500);
	assert_true(h.last.end_ms <= total_ms - 700);
	/* a second utterance: the clock runs on */
	abuf  b2 = utterance(CALLER, "goodbye", 500);
	heard h2 = listen(e, &b2);
	assert_int_equal(h2.stopped, 1);
	assert_true(h2.start_ms >= total_ms + 450);
	free(b.u);
	free(b2.u);
	sv_ear_free(e);
}

/* White or pink (Voss-McCartney) noise as μ-law at peak amplitude amp;
 * bursts: 700 ms on, 500 ms off (a noisy street rather than a steady hiss). */
static abuf noise(bool pink, bool bursts, double amp, int ms)
{
	abuf               b = {0};
	unsigned long long x = 88172645463325252ULL;
	double             rows[8] = {0}, sum = 0;
	for (int i = 0; i < ms * 8; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double w = (double)(x >> 11) / (double)(1ULL << 52) - 1.0, v = w;
		if (pink) {
			int k = __builtin_ctz((unsigned)i | 0x80u); /* 0..7 */
			sum -= rows[k];
			rows[k] = w;
			sum += w;
			v = (sum + w) / 3.0;
		}
		if (bursts && i % 9600 >= 5600)
			v = 0;
		uint8_t u = sb_ulaw_encode((int16_t)(v * amp));
		ab_add(&b, &u, 1);
	}
	return b;
}

static void test_ear_noise(void **state)
{
	static const struct { bool pink, bursts; double amp; } N[] = {
		{false, false, 1800}, {true, false, 1800}, {false, false, 8000},
		{true, false, 8000}, {false, true, 8000}, {true, true, 8000},
	};
	for (size_t i = 0; i < sizeof N / sizeof N[0]; i++) {
		sv_ear *e = new_ear(KNOWLEDGE);
		abuf    b = noise(N[i].pink, N[i].bursts, N[i].amp, 5000);
		heard   h = listen(e, &b);
		print_message("  %s noise%s at %.0f: %d results, last \"%s\" (confidence %.4f, in domain %.2f)\n",
			      N[i].pink ? "pink" : "white", N[i].bursts ? " bursts" : "", N[i].amp, h.stopped, h.last.text,
			      h.last.confidence, h.last.in_domain);
		assert_true(h.stopped == 0 || !h.last.understood);
		free(b.u);
		sv_ear_free(e);
	}
}

static void test_ear_off_topic(void **state)
{
	sv_ear *e = new_ear(KNOWLEDGE);
	abuf    warm = utterance(CALLER, "what are your opening hours", 400);
	listen(e, &warm);
	abuf  b = utterance(CALLER, "my dog ate my homework yesterday", 400);
	heard h = listen(e, &b);
	print_message("  off-topic heard as \"%s\" (confidence %.4f, in domain %.2f)\n", h.last.text, h.last.confidence,
		      h.last.in_domain);
	assert_int_equal(h.stopped, 1);
	assert_false(h.last.understood);
	free(warm.u);
	free(b.u);
	sv_ear_free(e);
}

static void test_ear_blip(void **state)
{
	sv_ear *e = new_ear(KNOWLEDGE);
	abuf    speech = utterance(CALLER, "hello", 0);
	/* 100 ms out of the middle of a word, with silence around it */
	size_t  mid = speech.n / 2 - 400;
	abuf    b = {0};
	ab_silence(&b, 500);
	ab_add(&b, speech.u + mid, 800);
	ab_silence(&b, 1000);
	heard h = listen(e, &b);
	assert_int_equal(h.started, 0);
	assert_int_equal(h.stopped, 0);
	assert_false(sv_ear_in_speech(e));
	free(speech.u);
	free(b.u);
	sv_ear_free(e);
}

static void test_ear_corpus_twice(void **state)
{
	char    err[256];
	sv_ear *e = new_ear("Our shop sells bicycles and helmets.");
	assert_int_equal(sv_ear_set_corpus(e, "Zebras and giraffes live at the city zoo. Do zebras bite?", err,
					   sizeof err), 0);
	abuf  b = utterance(CALLER, "do zebras bite", 400);
	heard h = listen(e, &b);
	assert_int_equal(h.stopped, 1);
	assert_string_equal(h.last.text, "do zebras bite");
	free(b.u);

	/* replaced while the caller talks: the utterance finishes on the old
	 * model, the next one uses the new */
	b = utterance(CALLER, "do you ship to canada", 400);
	size_t half = b.n / 2 / PACKET * PACKET;
	abuf   first = {.u = b.u, .n = half}, second = {.u = b.u + half, .n = b.n - half};
	heard  h1 = listen(e, &first);
	assert_int_equal(h1.started, 1);
	assert_int_equal(sv_ear_set_corpus(e, KNOWLEDGE, err, sizeof err), 0);
	heard h2 = listen(e, &second);
	assert_int_equal(h2.stopped, 1);
	abuf  again = utterance(CALLER, "do you ship to canada", 400);
	heard h3 = listen(e, &again);
	assert_int_equal(h3.stopped, 1);
	assert_string_equal(h3.last.text, "do you ship to canada");
	free(b.u);
	free(again.u);

	assert_int_equal(sv_ear_set_corpus(e, "", err, sizeof err), 0); /* built-in phrases only */
	assert_int_equal(sv_ear_set_corpus(e, NULL, err, sizeof err), 0);
	sv_ear_free(e);
}

/* Audio fed in one big call: at most one STOPPED per call, nothing lost. */
static void test_ear_big_feed(void **state)
{
	sv_ear *e = new_ear(KNOWLEDGE);
	abuf    b = utterance(CALLER, "goodbye", 400);
	abuf    two = {0};
	ab_add(&two, b.u, b.n);
	ab_add(&two, b.u, b.n);
	sv_ear_result r;
	int           ev = sv_ear_feed(e, two.u, two.n, &r);
	assert_int_equal(ev, SV_EAR_STARTED | SV_EAR_STOPPED);
	assert_string_equal(r.text, "goodbye");
	ev = sv_ear_feed(e, NULL, 0, &r); /* the rest was kept */
	assert_int_equal(ev, SV_EAR_STARTED | SV_EAR_STOPPED);
	assert_string_equal(r.text, "goodbye");
	free(b.u);
	free(two.u);
	sv_ear_free(e);
}

/* ---- fixture --------------------------------------------------------------------------- */

static int setup(void **state)
{
	const char *hmm = getenv("SB_VOICE_HMM") ? getenv("SB_VOICE_HMM") : HMM_DEFAULT;
	const char *dict = getenv("SB_VOICE_DICT") ? getenv("SB_VOICE_DICT") : DICT_DEFAULT;
	char        err[256];
	models = sv_models_load(hmm, dict, sbt_dir(), err, sizeof err);
	if (!models)
		fprintf(stderr, "voice models: %s\n", err);
	return models ? 0 : -1;
}

static int teardown(void **state)
{
	sv_models_free(models);
	return 0;
}

int main(void)
{
	const struct CMUnitTest text[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_sentences),
		cmocka_unit_test(test_say),
	};
	const struct CMUnitTest ear[] = {
		cmocka_unit_test(test_models_missing),
		cmocka_unit_test(test_ear_questions),
		cmocka_unit_test(test_ear_timing),
		cmocka_unit_test(test_ear_noise),
		cmocka_unit_test(test_ear_off_topic),
		cmocka_unit_test(test_ear_blip),
		cmocka_unit_test(test_ear_corpus_twice),
		cmocka_unit_test(test_ear_big_feed),
	};
	int failed = cmocka_run_group_tests_name("voice text and mouth", text, NULL, NULL);
	return failed | cmocka_run_group_tests_name("voice ear", ear, setup, teardown);
}
