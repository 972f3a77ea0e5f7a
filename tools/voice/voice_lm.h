/*
 * voice_lm.h — inside the voice engine: the pronunciation lexicon and the
 * runtime bigram language model the ear decodes with.
 *
 * The lexicon is cmudict held in memory once (shared read-only by every
 * ear through sv_models). From a corpus, sv_lm_build makes two texts for
 * pocketsphinx: an ARPA bigram over the corpus sentences plus the built-in
 * call phrases, and a small dictionary with exactly the LM's words (with a
 * small dictionary ps_set_lm takes milliseconds; with the full cmudict,
 * seconds). Words cmudict lacks are pronounced by flite's letter-to-sound
 * rules; a word neither can pronounce is left out of the LM (it splits its
 * sentence in two).
 */
#ifndef SV_VOICE_LM_H
#define SV_VOICE_LM_H

#include <stddef.h>

typedef struct sv_lexicon sv_lexicon;

/* Load a sphinx dictionary file ("word PH PH ...", variants "word(2) ...").
 * NULL and a message in err on failure. */
sv_lexicon *sv_lexicon_load(const char *dict_path, char *err, size_t errlen);
void sv_lexicon_free(sv_lexicon *lx);
/* Number of pronunciations held. */
size_t sv_lexicon_size(const sv_lexicon *lx);

/* The text of a bigram LM and its dictionary, built in memory (owned). */
typedef struct sv_lm {
	char  *arpa;
	size_t arpa_len;
	char  *dict;
	size_t dict_len;
	int    words;     /* vocabulary size (dictionary words) */
	int    sentences; /* training sentences: corpus plus built-in phrases */
	int    bigrams;   /* distinct bigrams */
	int    lts_words; /* words pronounced by flite letter-to-sound */
	int    dropped;   /* words with no pronunciation, left out */
} sv_lm;

/* Normalise and split corpus (may be NULL), add sv_call_phrases, and build
 * the ARPA bigram (add-one unigrams, absolute discounting D = 0.5, Katz
 * back-off weights) and the dictionary. 0, or -1 with err. */
int sv_lm_build(const sv_lexicon *lx, const char *corpus, sv_lm *out, char *err, size_t errlen);
/* Free what sv_lm_build made (safe on a zeroed or already cleared sv_lm). */
void sv_lm_clear(sv_lm *lm);

/* Everyday call phrases every LM includes (voice_phrases.c); NULL-terminated. */
extern const char *const sv_call_phrases[];

/* Sphinx phones ("HH AH L OW") for a lower-case word from flite's cmulex
 * letter-to-sound rules; 0, or -1 if it has none. Lives in voice_tts.c,
 * which owns flite's process-global state and its lock. */
int sv_lts_phones(const char *word, char *out, size_t cap);

#endif
