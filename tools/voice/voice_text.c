/*
 * voice_text.c — text normalisation and sentence splitting for the offline
 * voice engine.
 *
 * One normaliser serves the language model (corpus → words), the recogniser
 * output and the dialogue policy, so all three see the same spelling of the
 * same thing: "$49.99" is "forty nine dollars and ninety nine cents" in the
 * knowledge, in the bigram LM and in what the caller is heard to say.
 *
 * Rules (see sv_normalize in voice_engine.h): lower-case ASCII words with
 * single spaces; Latin-1 accents folded (é → e); apostrophes kept only
 * inside words (don't, it’s → it's); money ($ € £, optional cents and
 * "million"), times (5:30pm, 9 a.m.), percentages, ordinals (1st), years
 * (2026 → twenty twenty six), cardinals up to the billions, long digit
 * strings and phone numbers digit by digit, decimals ("three point five");
 * & @ + # = become words; domain dots become "dot"; everything else is a
 * word separator.
 */
#include "voice_engine.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- output builder ------------------------------------------------------ */

typedef struct wbuf {
	char  *out;
	size_t cap, len;
	bool   full; /* a word did not fit: stop, never emit a later shorter one */
} wbuf;

/* Append one word (n bytes), separated by a single space. */
static void put_n(wbuf *b, const char *w, size_t n)
{
	if (b->full || n == 0)
		return;
	size_t need = n + (b->len ? 1 : 0);
	if (b->cap == 0 || b->len + need > b->cap - 1) {
		b->full = true;
		return;
	}
	if (b->len)
		b->out[b->len++] = ' ';
	memcpy(b->out + b->len, w, n);
	b->len += n;
	b->out[b->len] = '\0';
}

static void put(wbuf *b, const char *w) { put_n(b, w, strlen(w)); }

/* ---- numbers ------------------------------------------------------------- */

static const char *const ONES[20] = {
	"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const TENS[10] = {
	"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};

/* 1..999 as words (nothing for 0). */
static void say_hundreds(wbuf *b, unsigned n)
{
	if (n >= 100) {
		put(b, ONES[n / 100]);
		put(b, "hundred");
		n %= 100;
	}
	if (n >= 20) {
		put(b, TENS[n / 10]);
		n %= 10;
		if (n)
			put(b, ONES[n]);
	} else if (n) {
		put(b, ONES[n]);
	}
}

/* A cardinal below 10^12 as words ("zero" for 0). */
static void say_int(wbuf *b, unsigned long long n)
{
	static const struct { unsigned long long v; const char *w; } SCALE[] = {
		{1000000000ULL, "billion"}, {1000000ULL, "million"}, {1000ULL, "thousand"}};
	if (n == 0) {
		put(b, "zero");
		return;
	}
	for (size_t i = 0; i < sizeof SCALE / sizeof SCALE[0]; i++) {
		if (n >= SCALE[i].v) {
			say_hundreds(b, (unsigned)(n / SCALE[i].v));
			put(b, SCALE[i].w);
			n %= SCALE[i].v;
		}
	}
	say_hundreds(b, (unsigned)n);
}

/* Each digit of s[0..n) as a word ("zero one zero zero"). */
static void say_digits(wbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isdigit((unsigned char)s[i]))
			put(b, ONES[s[i] - '0']);
}

/* Years are read in pairs: 1999 "nineteen ninety nine", 1905 "nineteen oh
 * five", 1900 "nineteen hundred", 2026 "twenty twenty six"; 2000-2009 as
 * cardinals ("two thousand five"). */
static void say_year(wbuf *b, unsigned y)
{
	if (y >= 2000 && y <= 2009) {
		say_int(b, y);
		return;
	}
	say_hundreds(b, y / 100);
	unsigned lo = y % 100;
	if (lo == 0) {
		put(b, "hundred");
	} else {
		if (lo < 10)
			put(b, "oh");
		say_hundreds(b, lo);
	}
}

/* A cardinal as an ordinal: the last word changes (twenty one → twenty first). */
static void say_ordinal(wbuf *b, unsigned long long n)
{
	static const struct { const char *card, *ord; } IRR[] = {
		{"one", "first"}, {"two", "second"}, {"three", "third"}, {"five", "fifth"},
		{"eight", "eighth"}, {"nine", "ninth"}, {"twelve", "twelfth"}};
	char   tmp[256];
	wbuf   t = {tmp, sizeof tmp, 0, false};
	say_int(&t, n);
	char  *last = strrchr(tmp, ' ');
	last = last ? last + 1 : tmp;
	size_t head = (size_t)(last - tmp);
	char   word[sizeof tmp + 8];
	const char *ord = NULL;
	for (size_t i = 0; i < sizeof IRR / sizeof IRR[0]; i++)
		if (strcmp(last, IRR[i].card) == 0)
			ord = IRR[i].ord;
	size_t ln = strlen(last);
	if (ord)
		snprintf(word, sizeof word, "%s", ord);
	else if (ln && last[ln - 1] == 'y') /* twenty → twentieth */
		snprintf(word, sizeof word, "%.*sieth", (int)(ln - 1), last);
	else
		snprintf(word, sizeof word, "%sth", last);
	if (head) {
		tmp[head - 1] = '\0';
		put(b, tmp); /* may be several words: fine, put() does not care */
	}
	put(b, word);
}

/* A run of digits with optional thousands commas ("1,234,567"). */
typedef struct numtok {
	const char        *s;      /* first digit */
	size_t             len;    /* bytes consumed (digits and commas) */
	size_t             ndig;   /* digits */
	unsigned long long v;      /* value, valid when ndig <= 12 */
	bool               commas; /* had thousands separators */
} numtok;

static size_t scan_digits(const char *p, numtok *t)
{
	memset(t, 0, sizeof *t);
	t->s = p;
	const char *q = p;
	for (;;) {
		if (isdigit((unsigned char)*q)) {
			if (t->ndig < 18)
				t->v = t->v * 10 + (unsigned)(*q - '0');
			t->ndig++;
			q++;
		} else if (*q == ',' && q > p && isdigit((unsigned char)q[1]) && isdigit((unsigned char)q[2]) &&
			   isdigit((unsigned char)q[3]) && !isdigit((unsigned char)q[4])) {
			t->commas = true;
			q++;
		} else {
			break;
		}
	}
	t->len = (size_t)(q - p);
	return t->len;
}

/* A cardinal, or digit by digit when too long to read as one. */
static void say_numtok(wbuf *b, const numtok *t)
{
	if (t->ndig > 12)
		say_digits(b, t->s, t->len);
	else
		say_int(b, t->v);
}

/* ---- characters ---------------------------------------------------------- */

/* U+00C0..U+00FF folded to ASCII; '-' = not a letter (× ÷). */
static const char LATIN1[64 + 1] =
	"aaaaaaaceeeeiiiidnooooo-ouuuuyts"
	"aaaaaaaceeeeiiiidnooooo-ouuuuyty";

/* If p starts a letter (ASCII or Latin-1 in UTF-8), its lower-case ASCII
 * fold in *c and its byte length; else 0. */
static size_t letter_at(const char *p, char *c)
{
	unsigned char u = (unsigned char)p[0];
	if (isalpha(u) && u < 0x80) {
		*c = (char)tolower(u);
		return 1;
	}
	if (u == 0xC3 && ((unsigned char)p[1] & 0xC0) == 0x80) {
		char f = LATIN1[(unsigned char)p[1] - 0x80];
		if (f != '-') {
			*c = f;
			return 2;
		}
	}
	return 0;
}

/* Length of an apostrophe at p (' ‘ ’), else 0. */
static size_t apos_at(const char *p)
{
	if (*p == '\'')
		return 1;
	if ((unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
	    ((unsigned char)p[2] == 0x98 || (unsigned char)p[2] == 0x99))
		return 3;
	return 0;
}

/* Byte length of the UTF-8 sequence at p (1 for stray bytes). */
static size_t utf8_len(const char *p)
{
	unsigned char u = (unsigned char)*p;
	size_t n = u < 0xC0 ? 1 : u < 0xE0 ? 2 : u < 0xF0 ? 3 : 4;
	for (size_t i = 1; i < n; i++)
		if (((unsigned char)p[i] & 0xC0) != 0x80)
			return i;
	return n;
}

static bool is_alnum_at(const char *p)
{
	char c;
	return isdigit((unsigned char)*p) || letter_at(p, &c);
}

/* Case-insensitive prefix match of an ASCII literal. */
static size_t match_ci(const char *p, const char *lit)
{
	size_t i = 0;
	for (; lit[i]; i++)
		if (tolower((unsigned char)p[i]) != lit[i])
			return 0;
	return i;
}

/* "am"/"a.m."/"pm"/"p.m." (one optional space before) not followed by a
 * letter: its length, and 'a' or 'p' in *which; else 0. */
static size_t ampm_at(const char *p, char *which)
{
	static const char *const FORMS[] = {"a.m.", "a.m", "am", "p.m.", "p.m", "pm"};
	size_t sp = (*p == ' ') ? 1 : 0;
	for (size_t i = 0; i < sizeof FORMS / sizeof FORMS[0]; i++) {
		size_t k = match_ci(p + sp, FORMS[i]);
		if (k && !is_alnum_at(p + sp + k)) {
			*which = FORMS[i][0];
			return sp + k;
		}
	}
	return 0;
}

/* ---- tokens -------------------------------------------------------------- */

/* A word: letters with apostrophes kept only between letters. */
/* "Mon"…"Sun" (capitalised, 3–4 letters) written as an abbreviation: next
 * to '-', '/', ',' or '.' ("Mon-Fri", "Sat."). The full name, else NULL. */
static const char *day_name(const char *start, const char *p, const char *w, size_t n)
{
	static const struct { const char *abbr, *full; } DAYS[] = {
		{"mon", "monday"}, {"tue", "tuesday"}, {"tues", "tuesday"}, {"wed", "wednesday"},
		{"thu", "thursday"}, {"thur", "thursday"}, {"thurs", "thursday"}, {"fri", "friday"},
		{"sat", "saturday"}, {"sun", "sunday"}};
	char next = p[n];
	bool marked = strchr("-/,.", next) && next != '\0';
	if (!isupper((unsigned char)p[0]) || !(marked || (p > start && p[-1] == '-')))
		return NULL;
	for (size_t i = 0; i < sizeof DAYS / sizeof DAYS[0]; i++)
		if (strlen(DAYS[i].abbr) == n && strncmp(w, DAYS[i].abbr, n) == 0)
			return DAYS[i].full;
	return NULL;
}

static size_t scan_word(const char *start, const char *p, wbuf *b)
{
	char        w[128];
	size_t      n = 0;
	const char *q = p;
	char        c;
	size_t      k;
	while (*q) {
		if ((k = letter_at(q, &c))) {
			if (n < sizeof w - 1)
				w[n++] = c;
			q += k;
		} else if ((k = apos_at(q)) && n && letter_at(q + k, &c)) {
			if (n < sizeof w - 1)
				w[n++] = '\'';
			q += k;
		} else {
			break;
		}
	}
	const char *day = (size_t)(q - p) == n ? day_name(start, p, w, n) : NULL;
	if (!day) {
		put_n(b, w, n);
		return (size_t)(q - p);
	}
	put(b, day);
	if (*q == '-' && isupper((unsigned char)q[1])) /* Mon-Fri: monday to friday */
		put(b, "to");
	return (size_t)(q - p);
}

/* Currency symbols and their spoken units. */
static const struct currency {
	const char *sym;
	const char *one, *many, *minor_one, *minor_many;
} CURRENCIES[] = {
	{"$", "dollar", "dollars", "cent", "cents"},
	{"\xE2\x82\xAC", "euro", "euros", "cent", "cents"},
	{"\xC2\xA3", "pound", "pounds", "penny", "pence"},
};

/* "$49", "$49.99", "$1,200", "$5 million", "€3": the amount in words. */
static size_t scan_money(const char *p, wbuf *b)
{
	const struct currency *cur = NULL;
	size_t k = 0;
	for (size_t i = 0; i < sizeof CURRENCIES / sizeof CURRENCIES[0] && !cur; i++) {
		size_t l = strlen(CURRENCIES[i].sym);
		if (strncmp(p, CURRENCIES[i].sym, l) == 0 && isdigit((unsigned char)p[l])) {
			cur = &CURRENCIES[i];
			k = l;
		}
	}
	if (!cur)
		return 0;
	numtok t;
	k += scan_digits(p + k, &t);
	int cents = -1;
	if (p[k] == '.' && isdigit((unsigned char)p[k + 1])) {
		cents = (p[k + 1] - '0') * 10;
		k += 2;
		if (isdigit((unsigned char)p[k]))
			cents += p[k++] - '0';
		while (isdigit((unsigned char)p[k])) /* sub-cent digits: dropped */
			k++;
	}
	static const char *const SCALES[] = {"thousand", "million", "billion"};
	for (size_t i = 0; i < 3 && p[k] == ' '; i++) {
		size_t l = match_ci(p + k + 1, SCALES[i]);
		if (l && !is_alnum_at(p + k + 1 + l)) {
			say_numtok(b, &t);
			if (cents > 0) {
				put(b, "point");
				say_digits(b, p + k - 2, 2); /* "$1.5 million" reads well enough */
			}
			put(b, SCALES[i]);
			put(b, cur->many);
			return k + 1 + l;
		}
	}
	if (t.v > 0 || cents <= 0) {
		say_numtok(b, &t);
		put(b, t.v == 1 && t.ndig <= 12 ? cur->one : cur->many);
	}
	if (cents > 0) {
		if (t.v > 0)
			put(b, "and");
		say_int(b, (unsigned)cents);
		put(b, cents == 1 ? cur->minor_one : cur->minor_many);
	}
	return k;
}

/* "5:30pm", "10:00", "9 a.m.": hours, minutes ("oh five"), then "a m"/"p m". */
static size_t scan_time(const char *p, const numtok *h, wbuf *b)
{
	size_t k = h->len;
	if (!(p[k] == ':' && h->ndig <= 2 && !h->commas && isdigit((unsigned char)p[k + 1]) &&
	      isdigit((unsigned char)p[k + 2]) && !isdigit((unsigned char)p[k + 3])))
		return 0;
	unsigned m = (unsigned)((p[k + 1] - '0') * 10 + (p[k + 2] - '0'));
	k += 3;
	say_int(b, h->v);
	if (m > 0) {
		if (m < 10)
			put(b, "oh");
		say_hundreds(b, m);
	}
	char which;
	size_t a = ampm_at(p + k, &which);
	if (a) {
		put(b, which == 'a' ? "a" : "p");
		put(b, "m");
		k += a;
	}
	return k;
}

/* Length of the run of digits at p. */
static size_t digit_run(const char *p)
{
	size_t n = 0;
	while (isdigit((unsigned char)p[n]))
		n++;
	return n;
}

/* A short range "3-5", "9-5", "10-12" (1–2 digits each side, nothing more
 * hyphenated around it): 1 for its left number, 2 for its right, else 0. */
static int range_side(const char *start, const char *p, size_t len)
{
	if (len > 2)
		return 0;
	if (p[len] == '-' && !(p > start && p[-1] == '-')) {
		size_t r = digit_run(p + len + 1);
		if (r >= 1 && r <= 2 && p[len + 1 + r] != '-')
			return 1;
	}
	if (p - start >= 2 && p[-1] == '-' && isdigit((unsigned char)p[-2]) && p[len] != '-') {
		const char *l = p - 1;
		while (l > start && isdigit((unsigned char)l[-1]))
			l--;
		if (p - 1 - l <= 2 && !(l > start && l[-1] == '-'))
			return 2;
	}
	return 0;
}

/* True when the digits at p are part of a hyphenated digit group (555-0100). */
static bool in_digit_group(const char *start, const char *p, size_t len)
{
	bool before = p - start >= 2 && p[-1] == '-' && isdigit((unsigned char)p[-2]);
	bool after = p[len] == '-' && isdigit((unsigned char)p[len + 1]);
	return before || after;
}

/* Any number starting at a digit: time, decimal, ordinal, percent, am/pm,
 * year, phone-like digit string or plain cardinal. */
static size_t scan_number(const char *start, const char *p, wbuf *b)
{
	numtok t;
	size_t k = scan_digits(p, &t);
	size_t tk = scan_time(p, &t, b);
	if (tk)
		return tk;
	if (p[k] == '.' && isdigit((unsigned char)p[k + 1])) { /* decimal */
		say_numtok(b, &t);
		put(b, "point");
		size_t f = k + 1;
		while (isdigit((unsigned char)p[f]))
			f++;
		say_digits(b, p + k + 1, f - k - 1);
		k = f;
		if (p[k] == '%') {
			put(b, "percent");
			k++;
		}
		return k;
	}
	static const char *const ORD[] = {"st", "nd", "rd", "th"};
	for (size_t i = 0; i < 4; i++) {
		if (t.ndig <= 12 && match_ci(p + k, ORD[i]) && !is_alnum_at(p + k + 2)) {
			say_ordinal(b, t.v);
			return k + 2;
		}
	}
	int range = t.commas ? 0 : range_side(start, p, k);
	if (range == 1) { /* 9-5: nine to five */
		say_int(b, t.v);
		put(b, "to");
		return k + 1;
	}
	bool leading_zero = t.ndig > 1 && p[0] == '0' && !t.commas;
	if (leading_zero || (t.ndig >= 7 && !t.commas) || (!range && in_digit_group(start, p, k)))
		say_digits(b, p, k);
	else if (t.ndig == 4 && !t.commas && t.v >= 1100 && t.v <= 2099 && p[k] != '%')
		say_year(b, (unsigned)t.v);
	else
		say_numtok(b, &t);
	char which;
	size_t a;
	if (p[k] == '%') {
		put(b, "percent");
		k++;
	} else if (t.ndig <= 2 && (a = ampm_at(p + k, &which))) {
		put(b, which == 'a' ? "a" : "p");
		put(b, "m");
		k += a;
	}
	return k;
}

/* Length of the run of letters at p. */
static size_t letter_run(const char *p)
{
	size_t n = 0, k;
	char   c;
	while ((k = letter_at(p, &c))) {
		p += k;
		n++;
	}
	return n;
}

/* Symbols that are spoken; a dot inside a domain name ("acme.com") is "dot". */
static size_t scan_symbol(const char *start, const char *p, wbuf *b)
{
	switch (*p) {
	case '&': put(b, "and"); return 1;
	case '@': put(b, "at"); return 1;
	case '%': put(b, "percent"); return 1;
	case '=': put(b, "equals"); return 1;
	case '+':
		if (isdigit((unsigned char)p[1]) || p[1] == ' ')
			put(b, "plus");
		return 1;
	case '#':
		if (isdigit((unsigned char)p[1]))
			put(b, "number");
		return 1;
	case '.':
		if (p > start && is_alnum_at(p - 1) && letter_run(p + 1) >= 2)
			put(b, "dot");
		return 1;
	default:
		return 0;
	}
}

size_t sv_normalize(const char *in, char *out, size_t cap)
{
	wbuf b = {out, cap, 0, false};
	if (cap)
		out[0] = '\0';
	if (!in)
		return 0;
	const char *p = in;
	char        c;
	size_t      k;
	while (*p && !b.full) {
		if ((k = scan_money(p, &b)))
			p += k;
		else if (isdigit((unsigned char)*p))
			p += scan_number(in, p, &b);
		else if (letter_at(p, &c))
			p += scan_word(in, p, &b);
		else if ((k = scan_symbol(in, p, &b)))
			p += k;
		else
			p += utf8_len(p);
	}
	return b.len;
}

/* ---- sentences ----------------------------------------------------------- */

/* Abbreviations after which a dot never ends a sentence ("Mr. Smith"). */
static const char *const ABBR_NEVER[] = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "e.g", "i.e",
					 "approx", "dept", "apt", "ave", "fig"};
/* Abbreviations that end a sentence only before a capital ("at 9 a.m. We open"). */
static const char *const ABBR_CAPITAL[] = {"a.m", "p.m", "etc", "inc", "ltd", "co", "no", "est"};

static bool in_list(const char *const *list, size_t n, const char *w, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncasecmp(w, list[i], len) == 0)
			return true;
	return false;
}

/* Does a day or month name start at p ("Monday", "Jan")? */
static bool is_calendar_word(const char *p)
{
	static const char *const CAL[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", "jan", "feb", "mar",
					  "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
	for (size_t i = 0; i < sizeof CAL / sizeof CAL[0]; i++)
		if (strncasecmp(p, CAL[i], 3) == 0)
			return true;
	return false;
}

/* Does the '.' at p end a sentence? */
static bool dot_ends(const char *text, const char *p)
{
	if (is_alnum_at(p + 1) || p[1] == '.') /* 49.99, acme.com, a.m., "..." continues */
		return false;
	const char *w = p; /* start of the word before the dot, inner dots included */
	while (w > text && (isalpha((unsigned char)w[-1]) ||
			    (w[-1] == '.' && w - 1 > text && isalpha((unsigned char)w[-2]))))
		w--;
	size_t len = (size_t)(p - w);
	if (in_list(ABBR_NEVER, sizeof ABBR_NEVER / sizeof ABBR_NEVER[0], w, len))
		return false;
	if (len != 1 && !in_list(ABBR_CAPITAL, sizeof ABBR_CAPITAL / sizeof ABBR_CAPITAL[0], w, len))
		return true;
	const char *q = p + 1;
	while (*q == ' ' || *q == '\t')
		q++;
	if (*q == '\0' || *q == '\n' || *q == '\r')
		return true;
	return isupper((unsigned char)*q) && !is_calendar_word(q); /* "9 a.m. Monday to Friday" */
}

/* Emit text[a..b) trimmed, if anything is left. */
static void emit(const char *a, const char *b, void (*cb)(const char *, size_t, void *), void *arg)
{
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if (b > a)
		cb(a, (size_t)(b - a), arg);
}

void sv_sentences(const char *text, void (*cb)(const char *s, size_t n, void *arg), void *arg)
{
	if (!text || !cb)
		return;
	const char *s = text, *p = text;
	while (*p) {
		bool end = false;
		if (*p == '\n' || *p == '\r' || *p == ';')
			end = true;
		else if (*p == '!' || *p == '?')
			end = true;
		else if (*p == '.')
			end = dot_ends(text, p);
		if (!end) {
			p++;
			continue;
		}
		/* keep a run of closing punctuation and quotes with the sentence */
		while (p[1] && strchr(".!?\"')]", p[1]))
			p++;
		emit(s, p + 1, cb, arg);
		s = ++p;
	}
	emit(s, p, cb, arg);
}
