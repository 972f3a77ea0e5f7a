/*
 * voice_engine.h — the offline voice engine's listening and speaking parts,
 * independent of the Realtime protocol (tools/voice/voice.c serves that).
 *
 *   ear   : μ-law 8 kHz → PCM → WebRTC VAD (endpointing) → 8→16 kHz
 *           (speexdsp) → pocketsphinx with a small bigram LM built at run
 *           time from a corpus (instructions, tool descriptions, knowledge,
 *           everyday call phrases) and a matching small dictionary.
 *   mouth : flite (kal, native 8 kHz) → μ-law chunks, streamed per phrase.
 *   text  : normalisation shared by both (numbers and symbols to words,
 *           sentence splitting), so the LM, the dictionary and the policy
 *           see the same words.
 *
 * Threading: one sv_ear per session, used by one thread at a time. The
 * models (sv_models) are loaded once and shared read-only. sv_say is
 * thread-safe (flite voices are process-global; it serialises internally).
 */
#ifndef SV_VOICE_ENGINE_H
#define SV_VOICE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- shared models ------------------------------------------------------- */

typedef struct sv_models sv_models;

/* Load the acoustic model folder (hmm_dir, e.g. /usr/share/pocketsphinx/model/en-us/en-us)
 * and the pronunciation dictionary (e.g. …/cmudict-en-us.dict) once. work_dir is a
 * private writable folder for generated files (phone-tuned feat.params, per-session LM
 * and dictionary files). NULL and a message in err on failure. */
sv_models *sv_models_load(const char *hmm_dir, const char *dict_path, const char *work_dir, char *err, size_t errlen);
void sv_models_free(sv_models *m);

/* ---- ear: listening ------------------------------------------------------ */

typedef struct sv_ear_cfg {
	int    vad_mode;        /* WebRTC VAD aggressiveness 0..3 (default 2) */
	int    prefix_ms;       /* audio kept before speech start (default 300) */
	int    silence_ms;      /* hangover: quiet this long ends the turn (default 500) */
	int    min_speech_ms;   /* shorter segments are ignored as blips (default 200) */
	double min_confidence;  /* posterior below this → result.understood = false (default 0.01;
	                           0 = everything non-empty is understood, in_domain unchecked) */
} sv_ear_cfg;

typedef struct sv_ear sv_ear;

enum {
	SV_EAR_STARTED = 1, /* speech began: res->start_ms */
	SV_EAR_STOPPED = 2, /* speech ended: res->end_ms, and the result below */
};

typedef struct sv_ear_result {
	long long start_ms, end_ms; /* caller-audio clock: ms of audio fed since sv_ear_new */
	char      text[512];        /* normalised hypothesis, lower case words; "" if nothing */
	double    confidence;       /* posterior probability 0..1 */
	double    in_domain;        /* share 0..1 of the words the LM knew after the word before
	                               (bigram, not back-off); word salad made of off-topic
	                               speech scores low */
	bool      understood;       /* text non-empty, confidence >= min_confidence and
	                               in_domain >= 0.5 */
} sv_ear_result;

/* cfg NULL = defaults. */
sv_ear *sv_ear_new(const sv_models *m, const sv_ear_cfg *cfg, char *err, size_t errlen);

/* (Re)build the language model and dictionary from this corpus (free text: any
 * punctuation, numbers, several sentences) plus the built-in everyday call
 * phrases. May be called again mid-call (e.g. when the knowledge arrives); it
 * takes effect from the next utterance. 0 or -1 with err. */
int sv_ear_set_corpus(sv_ear *e, const char *corpus, char *err, size_t errlen);

/* Feed μ-law audio (any length). Returns a mask of SV_EAR_* that happened in
 * this audio; when both, STARTED came first. At most one STOPPED per call
 * (feed in ≤ 20 ms pieces to keep it that way): audio after a STOPPED is kept
 * and processed first by the next call. STARTED is reported once a segment
 * holds min_speech_ms of speech (start_ms is its onset); shorter segments end
 * without any event. */
int sv_ear_feed(sv_ear *e, const uint8_t *ulaw, size_t n, sv_ear_result *res);

/* True while the VAD considers the caller to be speaking: from STARTED until
 * the STOPPED of that turn. */
bool sv_ear_in_speech(const sv_ear *e);

void sv_ear_free(sv_ear *e);

/* ---- mouth: speaking ----------------------------------------------------- */

/* A chunk of μ-law 8 kHz audio; return nonzero to stop synthesis. */
typedef int (*sv_audio_cb)(const uint8_t *ulaw, size_t n, void *arg);

/* Voice names: "kal" (default, native 8 kHz), "rms", "slt", "awb" (16 kHz,
 * resampled). 0 or -1 if the voice is unknown. */
int sv_say(const char *voice, const char *text, sv_audio_cb cb, void *arg);

/* ---- text ---------------------------------------------------------------- */

/* Normalise text to lower-case words separated by single spaces: numbers,
 * money, times, percentages and common symbols become words ("$49.99" →
 * "forty nine dollars and ninety nine cents", "9am" → "nine a m"), other
 * punctuation goes. Returns the length written (truncated to cap-1). */
size_t sv_normalize(const char *in, char *out, size_t cap);

/* Split text into sentences: calls cb for each non-empty one (trimmed,
 * original spelling). */
void sv_sentences(const char *text, void (*cb)(const char *s, size_t n, void *arg), void *arg);

#endif
