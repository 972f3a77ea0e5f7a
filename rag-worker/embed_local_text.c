/*
 * embed_local_text.c — text → weighted hashed features for the local
 * embedder (see embed_local.h for the feature kinds, docs/RAG.md for why).
 *
 * Pipeline: tokenize (lowercase ASCII; other UTF-8 letters kept as they
 * are) → stem every token with a light English suffix stripper → two-word
 * phrase concepts on the stems → drop stop words → words,
 * concepts and character trigrams → merge duplicates with sublinear tf.
 *
 * Everything here is a pure function of the text (no corpus state), so a
 * document's features, and therefore its vector, never change once made.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed_local.h"
#include "rag_map.h"

#define MAX_TOK 32
#define NGRAM   3

/* Feature kinds and their weights (chosen on tests/data/rag, see docs/RAG.md). */
enum { F_WORD = 1, F_CONCEPT, F_CHARGRAM };
static const float KIND_W[] = {0, 1.0f, 0.7f, 0.3f};

typedef struct tok {
	char s[MAX_TOK]; /* stemmed */
	bool stop;
} tok;

typedef struct toks {
	tok   *v;
	size_t n, cap;
} toks;

/* ---- word lists ------------------------------------------------------------ */

/* Function words and conversational filler; sorted for bsearch. */
static const char *const STOPWORDS[] = {
	"a", "about", "actually", "after", "again", "all", "also", "am", "an", "and", "any", "anyone",
	"anything", "are", "as", "at", "be", "because", "been", "before", "being", "both", "but", "by",
	"can", "could", "did", "do", "does", "doing", "done", "each", "else", "even", "for", "from",
	"get", "gets", "getting", "go", "going", "gonna", "got", "guys", "had", "has", "have", "having",
	"he", "hello", "her", "here", "hey", "hi", "him", "his", "how", "i", "if", "im", "in", "into",
	"is", "it", "its", "ive", "just", "kind", "know", "let", "like", "me", "might", "mine", "more",
	"most", "much", "must", "my", "need", "of", "off", "ok", "okay", "on", "one", "only", "or",
	"other", "our", "ours", "out", "please", "really", "same", "says", "she", "should", "so",
	"some", "something", "sort", "still", "such", "than", "thank", "thanks", "that", "thats",
	"the", "their", "them", "then", "there", "theres", "these", "they", "thing", "this", "those",
	"to", "too", "uh", "um", "up", "us", "very", "wanna", "want", "was", "way", "we", "well",
	"were", "what", "whats", "when", "where", "which", "while", "who", "why", "will", "with",
	"would", "yeah", "yes", "you", "your", "youre", "yours",
};

/* Synonym groups of customer-service vocabulary: a word (after stemming)
 * or a two-word phrase also emits its group's concept feature. */
static const struct {
	const char *concept;
	const char *words[24];
} CONCEPTS[] = {
	{"price", {"price", "pricing", "cost", "fee", "charge", "rate", "expensive", "cheap", "cheapest",
		   "afford", "affordable", "how much", NULL}},
	{"ship", {"ship", "shipping", "deliver", "delivery", "arrive", "courier", "postage", "dispatch",
		  "freight", NULL}},
	{"return", {"return", "refund", "exchange", "money back", "send back", NULL}},
	{"cancel", {"cancel", "cancellation", "terminate", "discontinue", "quit", NULL}},
	{"login", {"login", "logon", "signin", "password", "passcode", "username", "credentials",
		   "log in", "sign in", "log on", "locked out", NULL}},
	{"slow", {"slow", "slowness", "lag", "laggy", "buffering", "sluggish", "crawl", NULL}},
	{"drop", {"drop", "disconnect", "intermittent", "unstable", "flaky", "spotty", "cut out",
		  "keep dropping", NULL}},
	{"broken", {"broken", "broke", "damage", "defective", "faulty", "crack", "dent", "not working",
		    "stopped working", "dead", NULL}},
	{"bill", {"bill", "billing", "invoice", "payment", "pay", "statement", "autopay", NULL}},
	{"discount", {"discount", "promo", "promotion", "coupon", "deal", "sale", "offer", "savings", NULL}},
	{"contact", {"contact", "call", "phone", "reach", "speak", "talk", "chat", "representative",
		     "agent", "human", "person", "email", NULL}},
	{"location", {"location", "located", "address", "directions", "branch", NULL}},
	{"move", {"move", "moving", "relocate", "relocation", "new address", "new house", "new home", NULL}},
	{"warranty", {"warranty", "guarantee", "repair", "replacement", NULL}},
	{"plan change", {"upgrade", "downgrade", "switch plan", "change plan", NULL}},
	{"track", {"track", "tracking", "order status", NULL}},
	{"late", {"late", "overdue", "past due", "behind", "missed", NULL}},
	{"usage", {"usage", "cap", "limit", "unlimited", "throttle", "overage", NULL}},
	{"privacy", {"privacy", "private", "personal data", "personal information", NULL}},
	{"kids", {"parental", "kid", "child", "children", "block", "filter", NULL}},
	{"install", {"install", "installation", "setup", "technician", "set up", "hook up", NULL}},
	{"equipment", {"router", "modem", "equipment", "device", "extender", "terminal", "box", "gateway", NULL}},
	{"order", {"buy", "purchase", "order", NULL}},
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_stopword(const char *w)
{
	return bsearch(&w, STOPWORDS, sizeof STOPWORDS / sizeof STOPWORDS[0], sizeof STOPWORDS[0], cmp_str) != NULL;
}

/* ---- stemming -------------------------------------------------------------------- */

static bool is_vowel(char c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

static bool ends(const char *w, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && memcmp(w + n - k, suf, k) == 0;
}

static bool vowel_before(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_vowel(w[i]))
			return true;
	return false;
}

/* Plurals: "batteries" → "battery", "boxes" → "box", "plans" → "plan". */
static size_t strip_plural(char *w, size_t n)
{
	if (ends(w, n, "ies") && n > 4) {
		w[n - 3] = 'y';
		return n - 2;
	}
	if (ends(w, n, "sses") || ends(w, n, "xes") || ends(w, n, "ches") || ends(w, n, "shes"))
		return n - 2;
	if (w[n - 1] == 's' && !ends(w, n, "ss") && !ends(w, n, "us") && !ends(w, n, "is"))
		return n - 1;
	return n;
}

/* Verb and adverb endings: "-ied", "-ed", "-ing", "-ation", "-ly". */
static size_t strip_suffix(char *w, size_t n)
{
	if (ends(w, n, "ied") && n > 4) {
		w[n - 3] = 'y';
		return n - 2;
	}
	if (ends(w, n, "eed"))
		return n;
	if (ends(w, n, "ed") && n >= 5 && vowel_before(w, n - 2))
		return n - 2;
	if (ends(w, n, "ing") && n >= 6 && vowel_before(w, n - 3))
		return n - 3;
	if (ends(w, n, "ation") && n >= 9)
		return n - 5;
	if (ends(w, n, "ly") && n > 5)
		return n - 2;
	return n;
}

/*
 * A light stemmer: not Porter, just enough to give the forms a caller and a
 * document use the same canonical token ("shipping", "shipped", "ships" →
 * "ship"; "price", "pricing", "priced" → "pric"; "installation",
 * "installing", "install" → "instal"). Words with digits or non-ASCII
 * letters are left alone.
 */
static void stem(char *w)
{
	size_t n = strlen(w);
	for (size_t i = 0; i < n; i++)
		if (w[i] < 'a' || w[i] > 'z')
			return;
	if (n <= 3)
		return;
	n = strip_plural(w, n);
	n = strip_suffix(w, n);
	if (n >= 4 && w[n - 1] == w[n - 2] && !is_vowel(w[n - 1]))
		n--; /* undouble: "shipp" → "ship", "install" → "instal" */
	if (n > 3 && w[n - 1] == 'e')
		n--; /* "charge" → "charg", like "charging" */
	w[n] = '\0';
}

/* ---- concept table (built once, keyed by stemmed words) --------------------------- */

static rag_map       *concept_map; /* "stem" or "stem1 stem2" → concept name */
static pthread_once_t concept_once = PTHREAD_ONCE_INIT;

/* Stem each space-separated word of phrase into out. */
static void stem_phrase(const char *phrase, char *out, size_t len)
{
	char buf[64], *save = NULL;
	snprintf(buf, sizeof buf, "%s", phrase);
	out[0] = '\0';
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char s[MAX_TOK];
		snprintf(s, sizeof s, "%s", w);
		stem(s);
		size_t o = strlen(out);
		snprintf(out + o, len - o, "%s%s", o ? " " : "", s);
	}
}

static void build_concepts(void)
{
	concept_map = rag_map_new();
	for (size_t i = 0; i < sizeof CONCEPTS / sizeof CONCEPTS[0]; i++)
		for (int k = 0; CONCEPTS[i].words[k]; k++) {
			char key[64];
			stem_phrase(CONCEPTS[i].words[k], key, sizeof key);
			rag_map_puts(concept_map, key, (void *)CONCEPTS[i].concept);
		}
}

static const char *concept_of(const char *key)
{
	pthread_once(&concept_once, build_concepts);
	return rag_map_gets(concept_map, key);
}

/* ---- tokenizer ---------------------------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Length of a UTF-8 separator at p (general punctuation U+2000..U+206F, NBSP), or 0. */
static size_t utf8_separator(const unsigned char *p)
{
	if (p[0] == 0xC2 && p[1] == 0xA0)
		return 2;
	if (p[0] == 0xE2 && (p[1] == 0x80 || p[1] == 0x81) && p[2])
		return 3;
	return 0;
}

static void push_tok(toks *t, char *cur, size_t *len)
{
	if (*len == 0)
		return;
	cur[*len] = '\0';
	*len = 0;
	if (cur[1] == '\0' && !(cur[0] >= '0' && cur[0] <= '9'))
		return; /* single letters carry nothing */
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = realloc(t->v, t->cap * sizeof *t->v);
		if (!t->v)
			abort();
	}
	tok *k = &t->v[t->n++];
	k->stop = is_stopword(cur);
	snprintf(k->s, sizeof k->s, "%s", cur);
	stem(k->s);
}

static bool is_letter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* At the '.' *p after token cur: is this a dotted abbreviation ("p.o.", "a.m.") whose letters join? */
static bool abbreviation(const char *cur, size_t len, const unsigned char *p)
{
	for (size_t i = 0; i < len; i++)
		if (!is_letter((unsigned char)cur[i]))
			return false;
	return len >= 1 && len <= 3 && is_letter(p[1]) && !is_alnum(p[2]);
}

/*
 * Lowercase tokens of letters and digits (other UTF-8 letters count as
 * letters). Apostrophes vanish inside words ("don't" → "dont"); a hyphen
 * between letters joins them ("wi-fi" → "wifi"), and so do the dots of an
 * abbreviation ("P.O." → "po"); '.', ',' and '/' between digits stay
 * ("29.99", "24/7").
 */
static void tokenize(const char *text, toks *t)
{
	const unsigned char *p = (const unsigned char *)text;
	char cur[MAX_TOK];
	size_t len = 0;
	while (*p) {
		size_t sep = *p >= 0x80 ? utf8_separator(p) : 0;
		bool apos = *p == '\'' || (sep == 3 && p[1] == 0x80 && p[2] == 0x99);
		size_t step = sep ? sep : 1;
		if (apos && len && is_alnum(p[step])) {
			p += step;
			continue;
		}
		if (!sep && (is_alnum(*p) || *p >= 0x80)) {
			if (len < MAX_TOK - 1)
				cur[len++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		} else if (*p == '-' && len && !(cur[len - 1] >= '0' && cur[len - 1] <= '9') && is_alnum(p[1]) &&
			   !(p[1] >= '0' && p[1] <= '9')) {
			/* joined */
		} else if (*p == '.' && abbreviation(cur, len, p)) {
			/* joined: "p.o." → "po" */
		} else if ((*p == '.' || *p == ',' || *p == '/') && len && cur[len - 1] >= '0' && cur[len - 1] <= '9' &&
			   p[1] >= '0' && p[1] <= '9') {
			if (len < MAX_TOK - 1)
				cur[len++] = (char)*p;
		} else {
			push_tok(t, cur, &len);
		}
		p += step;
	}
	push_tok(t, cur, &len);
}

/* ---- features ------------------------------------------------------------------------ */

typedef struct raw {
	uint64_t h;
	int      kind;
} raw;

typedef struct raws {
	raw   *v;
	size_t n, cap;
} raws;

static void add(raws *r, int kind, const char *s, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->v = realloc(r->v, r->cap * sizeof *r->v);
		if (!r->v)
			abort();
	}
	r->v[r->n++] = (raw){rag_hash64(s, len, (uint64_t)kind * 0x9e3779b97f4a7c15ULL), kind};
}

static void add_chargrams(raws *r, const char *stem_)
{
	char b[MAX_TOK + 2];
	int n = snprintf(b, sizeof b, "^%s$", stem_);
	for (int i = 0; i + NGRAM <= n; i++)
		add(r, F_CHARGRAM, b + i, NGRAM);
}

static void add_concept(raws *r, const char *key)
{
	const char *c = concept_of(key);
	if (c)
		add(r, F_CONCEPT, c, strlen(c));
}

static void collect(const toks *t, bool synonyms, raws *r)
{
	char pair[2 * MAX_TOK + 1];
	for (size_t i = 0; i < t->n; i++) {
		const tok *k = &t->v[i];
		if (synonyms && i > 0) { /* phrases see stop words too: "how much", "log in" */
			snprintf(pair, sizeof pair, "%s %s", t->v[i - 1].s, k->s);
			add_concept(r, pair);
		}
		if (k->stop)
			continue;
		add(r, F_WORD, k->s, strlen(k->s));
		if (synonyms)
			add_concept(r, k->s);
		add_chargrams(r, k->s);
	}
}

static int cmp_raw(const void *a, const void *b)
{
	const raw *x = a, *y = b;
	return x->h < y->h ? -1 : x->h > y->h;
}

void local_features(const char *text, bool synonyms, lfeats *out)
{
	toks t = {0};
	raws r = {0};
	tokenize(text ? text : "", &t);
	collect(&t, synonyms, &r);
	free(t.v);
	qsort(r.v, r.n, sizeof *r.v, cmp_raw);
	out->n = 0;
	if (out->cap < r.n) {
		out->cap = r.n;
		out->v = realloc(out->v, out->cap * sizeof *out->v);
		if (!out->v && r.n)
			abort();
	}
	for (size_t i = 0; i < r.n;) {
		size_t j = i;
		while (j < r.n && r.v[j].h == r.v[i].h)
			j++;
		out->v[out->n++] = (lfeat){r.v[i].h, KIND_W[r.v[i].kind] * (1.0f + logf((float)(j - i)))};
		i = j;
	}
	free(r.v);
}

void lfeats_free(lfeats *f)
{
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}
