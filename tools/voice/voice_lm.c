/*
 * voice_lm.c — the pronunciation lexicon (cmudict in memory) and the runtime
 * ARPA bigram builder (see voice_lm.h).
 *
 * The model: sentences are normalised with sv_normalize and framed by <s>
 * and </s>. Unigrams are add-one estimates over the vocabulary plus </s>
 * (<s> gets the conventional -99). Bigrams use absolute discounting with
 * D = 0.5: p(w|h) = (c(h,w) - D) / c(h); the freed mass D·n(h)/c(h) goes to
 * the unigram distribution over the words not seen after h, which gives the
 * back-off weight bo(h) = D·n(h)/c(h) / (1 - Σ_{w seen after h} p(w)).
 * Everything in-domain stays likely, anything else is possible but costly,
 * which is also what makes the posterior useful for rejecting off-topic
 * speech.
 */
#include "voice_lm.h"
#include "voice_engine.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LM_DISCOUNT 0.5

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

/* FNV-1a over n bytes. */
static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* ---- lexicon ------------------------------------------------------------- */

/* One pronunciation: word and phones are NUL-terminated inside text. */
typedef struct lex_entry {
	uint32_t word, phones; /* offsets into text */
	uint32_t base_len;     /* length of the word without "(2)" */
} lex_entry;

struct sv_lexicon {
	char      *text;    /* the whole file, lines cut in place */
	lex_entry *ent;
	size_t     n;
	uint32_t  *slot;    /* open addressing by base word: entry index + 1, 0 = empty */
	size_t     mask;
};

/* Read a whole file into a NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open dictionary %s: %s", path, strerror(errno));
		return NULL;
	}
	char  *buf = NULL;
	size_t cap = 0, n = 0, r;
	do {
		if (cap - n < 65536)
			buf = xrealloc(buf, cap = cap ? cap * 2 : 1 << 22);
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "cannot read dictionary %s", path);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Split "word phones" lines in place into entries. */
static void lex_parse(sv_lexicon *lx, size_t len)
{
	size_t cap = 1024;
	lx->ent = xmalloc(cap * sizeof *lx->ent);
	char *p = lx->text, *end = lx->text + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl ? nl : end;
		*eol = '\0';
		char *sp = strpbrk(p, " \t");
		if (sp && p[0] != ';' && sp > p) {
			*sp = '\0';
			char *ph = sp + 1;
			while (*ph == ' ' || *ph == '\t')
				ph++;
			char  *paren = strchr(p, '(');
			size_t bl = paren ? (size_t)(paren - p) : strlen(p);
			if (*ph && bl) {
				if (lx->n == cap)
					lx->ent = xrealloc(lx->ent, (cap *= 2) * sizeof *lx->ent);
				lx->ent[lx->n++] = (lex_entry){(uint32_t)(p - lx->text), (uint32_t)(ph - lx->text), (uint32_t)bl};
			}
		}
		p = eol + 1;
	}
}

/* Index entries by base word; variants land after each other in probe order. */
static void lex_index(sv_lexicon *lx)
{
	size_t size = 1024;
	while (size < lx->n * 2)
		size *= 2;
	lx->slot = calloc(size, sizeof *lx->slot);
	if (!lx->slot)
		abort();
	lx->mask = size - 1;
	for (size_t i = 0; i < lx->n; i++) {
		const lex_entry *e = &lx->ent[i];
		size_t h = hash_bytes(lx->text + e->word, e->base_len) & lx->mask;
		while (lx->slot[h])
			h = (h + 1) & lx->mask;
		lx->slot[h] = (uint32_t)(i + 1);
	}
}

sv_lexicon *sv_lexicon_load(const char *dict_path, char *err, size_t errlen)
{
	size_t len;
	char  *text = slurp(dict_path, &len, err, errlen);
	if (!text)
		return NULL;
	if (len >= UINT32_MAX) {
		free(text);
		snprintf(err, errlen, "dictionary %s is too large", dict_path);
		return NULL;
	}
	sv_lexicon *lx = calloc(1, sizeof *lx);
	if (!lx)
		abort();
	lx->text = text;
	lex_parse(lx, len);
	if (lx->n == 0) {
		snprintf(err, errlen, "dictionary %s has no entries", dict_path);
		sv_lexicon_free(lx);
		return NULL;
	}
	lex_index(lx);
	return lx;
}

void sv_lexicon_free(sv_lexicon *lx)
{
	if (!lx)
		return;
	free(lx->text);
	free(lx->ent);
	free(lx->slot);
	free(lx);
}

size_t sv_lexicon_size(const sv_lexicon *lx) { return lx ? lx->n : 0; }

/* Write every pronunciation of word as dictionary lines to f; the count. */
static int lex_write(const sv_lexicon *lx, const char *word, FILE *f)
{
	size_t wl = strlen(word);
	size_t h = hash_bytes(word, wl) & lx->mask;
	int    n = 0;
	for (uint32_t s; (s = lx->slot[h]); h = (h + 1) & lx->mask) {
		const lex_entry *e = &lx->ent[s - 1];
		if (e->base_len != wl || memcmp(lx->text + e->word, word, wl) != 0)
			continue;
		if (n++ == 0)
			fprintf(f, "%s %s\n", word, lx->text + e->phones);
		else
			fprintf(f, "%s(%d) %s\n", word, n, lx->text + e->phones);
	}
	return n;
}

/* ---- vocabulary ---------------------------------------------------------- */

enum { W_BOS = 0, W_EOS = 1, W_SEP = -1 };

typedef struct vocab {
	char   **word;  /* id → word; 0 "<s>", 1 "</s>" */
	long    *count; /* unigram counts */
	bool    *keep;  /* has a pronunciation */
	size_t   n, cap;
	int32_t *slot;  /* open addressing: id + 1 */
	size_t   mask;
} vocab;

static void vocab_rehash(vocab *v)
{
	size_t size = 256;
	while (size < v->n * 2 + 2)
		size *= 2;
	free(v->slot);
	v->slot = calloc(size, sizeof *v->slot);
	if (!v->slot)
		abort();
	v->mask = size - 1;
	for (size_t i = 0; i < v->n; i++) {
		size_t h = hash_bytes(v->word[i], strlen(v->word[i])) & v->mask;
		while (v->slot[h])
			h = (h + 1) & v->mask;
		v->slot[h] = (int32_t)(i + 1);
	}
}

/* The id of word (n bytes), added if new. */
static int vocab_id(vocab *v, const char *w, size_t n)
{
	size_t h = hash_bytes(w, n) & v->mask;
	for (int32_t s; (s = v->slot[h]); h = (h + 1) & v->mask)
		if (strlen(v->word[s - 1]) == n && memcmp(v->word[s - 1], w, n) == 0)
			return s - 1;
	if (v->n == v->cap) {
		v->cap *= 2;
		v->word = xrealloc(v->word, v->cap * sizeof *v->word);
	}
	char *copy = xmalloc(n + 1);
	memcpy(copy, w, n);
	copy[n] = '\0';
	v->word[v->n] = copy;
	v->slot[h] = (int32_t)(v->n + 1);
	int id = (int)v->n++;
	if (v->n * 2 > v->mask)
		vocab_rehash(v);
	return id;
}

static void vocab_init(vocab *v)
{
	memset(v, 0, sizeof *v);
	v->cap = 256;
	v->word = xmalloc(v->cap * sizeof *v->word);
	vocab_rehash(v);
	vocab_id(v, "<s>", 3);
	vocab_id(v, "</s>", 4);
}

static void vocab_free(vocab *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->word[i]);
	free(v->word);
	free(v->count);
	free(v->keep);
	free(v->slot);
}

/* ---- corpus → token stream ----------------------------------------------- */

typedef struct tokens {
	int   *id; /* word ids, W_SEP between sentences */
	size_t n, cap;
	vocab *v;
	int    sentences;
} tokens;

static void tok_push(tokens *t, int id)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		t->id = xrealloc(t->id, t->cap * sizeof *t->id);
	}
	t->id[t->n++] = id;
}

/* One sentence: normalise, then intern its words. */
static void add_sentence(const char *s, size_t n, void *arg)
{
	tokens *t = arg;
	size_t  cap = n * 10 + 64; /* "%" → "percent": expansion is bounded */
	char   *raw = xmalloc(n + 1), *norm = xmalloc(cap);
	memcpy(raw, s, n);
	raw[n] = '\0';
	size_t len = sv_normalize(raw, norm, cap);
	size_t before = t->n;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && norm[j] != ' ')
			j++;
		tok_push(t, vocab_id(t->v, norm + i, j - i));
		i = j + 1;
	}
	if (t->n > before) {
		tok_push(t, W_SEP);
		t->sentences++;
	}
	free(raw);
	free(norm);
}

/* ---- dictionary ---------------------------------------------------------- */

/* Pronounce every word: cmudict first, flite letter-to-sound second. */
static void build_dict(const sv_lexicon *lx, vocab *v, sv_lm *out)
{
	FILE *f = open_memstream(&out->dict, &out->dict_len);
	if (!f)
		abort();
	v->keep = calloc(v->n, sizeof *v->keep);
	if (!v->keep)
		abort();
	char phones[512];
	for (size_t i = 2; i < v->n; i++) {
		if (lex_write(lx, v->word[i], f) > 0) {
			v->keep[i] = true;
		} else if (sv_lts_phones(v->word[i], phones, sizeof phones) == 0) {
			fprintf(f, "%s %s\n", v->word[i], phones);
			v->keep[i] = true;
			out->lts_words++;
		} else {
			out->dropped++;
		}
		out->words += v->keep[i];
	}
	if (fclose(f) != 0)
		abort();
}

/* ---- bigram counts and ARPA ---------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* All bigrams (h << 32 | w) of the token stream, sorted; dropped words break
 * sentences. Fills unigram counts. */
static uint64_t *count_bigrams(const tokens *t, vocab *v, size_t *nb)
{
	v->count = calloc(v->n, sizeof *v->count);
	if (!v->count)
		abort();
	uint64_t *bg = xmalloc((t->n + 1) * 2 * sizeof *bg);
	size_t    n = 0;
	int       prev = W_BOS;
	for (size_t i = 0; i < t->n; i++) {
		int id = t->id[i];
		bool word = id != W_SEP && v->keep[id];
		if (!word) {
			if (prev != W_BOS) { /* close the (part) sentence */
				bg[n++] = (uint64_t)prev << 32 | W_EOS;
				v->count[W_EOS]++;
			}
			prev = W_BOS;
			continue;
		}
		bg[n++] = (uint64_t)prev << 32 | (uint32_t)id;
		v->count[id]++;
		prev = id;
	}
	qsort(bg, n, sizeof *bg, cmp_u64);
	*nb = n;
	return bg;
}

/* Unigram probabilities (add-one over words and </s>), index = id. */
static double *unigram_probs(const vocab *v)
{
	double *p = calloc(v->n, sizeof *p);
	if (!p)
		abort();
	long total = 0, types = 0;
	for (size_t i = 1; i < v->n; i++) {
		if (i >= 2 && !v->keep[i])
			continue;
		total += v->count[i];
		types++;
	}
	for (size_t i = 1; i < v->n; i++)
		if (i < 2 || v->keep[i])
			p[i] = (double)(v->count[i] + 1) / (double)(total + types);
	return p;
}

/* Back-off weight of every history from the sorted bigram runs. */
static double *backoffs(const vocab *v, const uint64_t *bg, size_t n, const double *pu, int *distinct)
{
	double *bo = calloc(v->n, sizeof *bo);
	if (!bo)
		abort();
	*distinct = 0;
	for (size_t i = 0; i < n;) {
		uint32_t h = (uint32_t)(bg[i] >> 32);
		long     ch = 0, types = 0;
		double   seen = 0;
		size_t   j = i;
		while (j < n && (uint32_t)(bg[j] >> 32) == h) {
			size_t k = j;
			while (k < n && bg[k] == bg[j])
				k++;
			ch += (long)(k - j);
			types++;
			seen += pu[(uint32_t)bg[j]];
			j = k;
		}
		double mass = LM_DISCOUNT * (double)types / (double)ch;
		double rest = 1.0 - seen;
		bo[h] = rest > 1e-12 ? mass / rest : 1e-9;
		*distinct += (int)types;
		i = j;
	}
	return bo;
}

/* Write the ARPA text. */
static void write_arpa(const vocab *v, const uint64_t *bg, size_t n, sv_lm *out)
{
	double *pu = unigram_probs(v);
	double *bo = backoffs(v, bg, n, pu, &out->bigrams);
	FILE   *f = open_memstream(&out->arpa, &out->arpa_len);
	if (!f)
		abort();
	fprintf(f, "\\data\\\nngram 1=%d\nngram 2=%d\n\n\\1-grams:\n", out->words + 2, out->bigrams);
	fprintf(f, "-99.0000 <s> %.4f\n", log10(bo[W_BOS] > 0 ? bo[W_BOS] : 1));
	fprintf(f, "%.4f </s>\n", log10(pu[W_EOS]));
	for (size_t i = 2; i < v->n; i++)
		if (v->keep[i])
			fprintf(f, "%.4f %s %.4f\n", log10(pu[i]), v->word[i], log10(bo[i] > 0 ? bo[i] : 1));
	fprintf(f, "\n\\2-grams:\n");
	for (size_t i = 0; i < n;) {
		uint32_t h = (uint32_t)(bg[i] >> 32);
		long     ch = 0;
		for (size_t j = i; j < n && (uint32_t)(bg[j] >> 32) == h; j++)
			ch++;
		size_t end = i + (size_t)ch;
		while (i < end) {
			size_t k = i;
			while (k < end && bg[k] == bg[i])
				k++;
			double p = ((double)(k - i) - LM_DISCOUNT) / (double)ch;
			fprintf(f, "%.4f %s %s\n", log10(p), v->word[h], v->word[(uint32_t)bg[i]]);
			i = k;
		}
	}
	fprintf(f, "\n\\end\\\n");
	if (fclose(f) != 0)
		abort();
	free(pu);
	free(bo);
}

int sv_lm_build(const sv_lexicon *lx, const char *corpus, sv_lm *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!lx) {
		snprintf(err, errlen, "no lexicon");
		return -1;
	}
	vocab  v;
	tokens t = {.v = &v};
	vocab_init(&v);
	if (corpus)
		sv_sentences(corpus, add_sentence, &t);
	for (size_t i = 0; sv_call_phrases[i]; i++)
		add_sentence(sv_call_phrases[i], strlen(sv_call_phrases[i]), &t);
	out->sentences = t.sentences;
	build_dict(lx, &v, out);
	size_t    nb;
	uint64_t *bg = count_bigrams(&t, &v, &nb);
	write_arpa(&v, bg, nb, out);
	free(bg);
	free(t.id);
	vocab_free(&v);
	if (out->words == 0) {
		snprintf(err, errlen, "corpus has no pronounceable words");
		sv_lm_clear(out);
		return -1;
	}
	return 0;
}

void sv_lm_clear(sv_lm *lm)
{
	if (!lm)
		return;
	free(lm->arpa);
	free(lm->dict);
	memset(lm, 0, sizeof *lm);
}
