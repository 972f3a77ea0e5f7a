/*
 * rag_chunk.c — split a document into overlapping chunks on paragraph and
 * sentence boundaries.
 *
 * The content is cut into sentences (a sentence ends at '.', '!' or '?'
 * followed by white space and a capital, digit or quote, or at a line
 * break; "P.O. boxes" and "e.g. the" stay whole) and paragraphs (blank
 * lines). Sentences are packed greedily into chunks of at most `size`
 * bytes; a chunk that is at least half full ends early at a paragraph
 * break rather than start a paragraph it cannot finish. The next chunk
 * starts with the last sentences of the previous one, up to `overlap`
 * bytes, so a fact that straddles a cut is whole in one of the two. A
 * sentence longer than `size` is cut at spaces (or, failing that, at a
 * UTF-8 character boundary).
 *
 * Deterministic: the same content always gives the same chunks, which the
 * rag-worker relies on to find a chunk's full text again from the store.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rag.h"

typedef struct unit {
	const char *p;
	size_t      len;
	bool        para; /* starts a paragraph */
} unit;

typedef struct units {
	unit  *v;
	size_t n, cap;
} units;

static void push_unit(units *u, const char *p, size_t len, bool para)
{
	while (len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (!len)
		return;
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 32;
		u->v = realloc(u->v, u->cap * sizeof *u->v);
		if (!u->v)
			abort();
	}
	u->v[u->n++] = (unit){p, len, para || u->n == 0};
}

/* Does a sentence end at s[i] ('.', '!' or '?')? */
static bool sentence_end(const char *s, size_t i)
{
	size_t j = i + 1;
	while (s[j] == '"' || s[j] == '\'' || s[j] == ')')
		j++;
	if (s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' && s[j] != '\0')
		return false;
	while (s[j] == ' ' || s[j] == '\t')
		j++;
	char c = s[j];
	return c == '\0' || c == '\n' || c == '\r' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '"' || c == '(' || (unsigned char)c >= 0x80;
}

/* Is the line starting at s blank (only spaces before its end)? */
static bool blank_line(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	return *s == '\n';
}

/* Cut text into sentence units; a blank line starts a paragraph. */
static void split_units(const char *s, units *u)
{
	size_t start = 0;
	bool para = true; /* the next unit starts a paragraph */
	for (size_t i = 0; s[i]; i++) {
		size_t end = 0;
		if (s[i] == '\n') {
			end = i;
		} else if ((s[i] == '.' || s[i] == '!' || s[i] == '?') && sentence_end(s, i)) {
			end = i + 1;
			while (s[end] == '"' || s[end] == '\'' || s[end] == ')')
				end++;
		} else {
			continue;
		}
		size_t before = u->n;
		push_unit(u, s + start, end - start, para);
		if (u->n > before)
			para = false;
		if (s[i] == '\n' && blank_line(s + i + 1))
			para = true;
		start = s[i] == '\n' ? i + 1 : end;
		i = start - 1;
	}
	push_unit(u, s + start, strlen(s + start), para);
}

/* Cut units longer than size at spaces, or at a character boundary. */
static void split_long(units *in, size_t size, units *out)
{
	for (size_t i = 0; i < in->n; i++) {
		unit x = in->v[i];
		bool para = x.para;
		while (x.len > size) {
			size_t cut = size;
			while (cut > size / 2 && x.p[cut] != ' ')
				cut--;
			if (x.p[cut] != ' ') {
				cut = size;
				while (cut > 1 && ((unsigned char)x.p[cut] & 0xC0) == 0x80)
					cut--;
			}
			push_unit(out, x.p, cut, para);
			para = false;
			x.p += cut;
			x.len -= cut;
		}
		push_unit(out, x.p, x.len, para);
	}
}

/* Bytes of units [a, b) joined (" " inside a paragraph, "\n\n" between). */
static size_t span_len(const units *u, size_t a, size_t b)
{
	size_t n = 0;
	for (size_t i = a; i < b; i++)
		n += u->v[i].len + (i > a ? (u->v[i].para ? 2 : 1) : 0);
	return n;
}

static char *join(const units *u, size_t a, size_t b)
{
	char *s = malloc(span_len(u, a, b) + 1), *o = s;
	if (!s)
		abort();
	for (size_t i = a; i < b; i++) {
		if (i > a) {
			memcpy(o, u->v[i].para ? "\n\n" : " ", u->v[i].para ? 2 : 1);
			o += u->v[i].para ? 2 : 1;
		}
		memcpy(o, u->v[i].p, u->v[i].len);
		o += u->v[i].len;
	}
	*o = '\0';
	return s;
}

/* End (exclusive) of the chunk starting at unit a. */
static size_t chunk_end(const units *u, size_t a, size_t size)
{
	size_t b = a + 1; /* always at least one unit: each is ≤ size */
	while (b < u->n && span_len(u, a, b + 1) <= size) {
		if (u->v[b].para && span_len(u, a, b) >= size / 2) {
			size_t p = b + 1;
			while (p < u->n && !u->v[p].para)
				p++;
			if (span_len(u, a, p) > size)
				break; /* end at the paragraph break rather than split the next paragraph */
		}
		b++;
	}
	return b;
}

/* First unit of the chunk after [a, b): back up over up to `overlap` bytes of whole sentences. */
static size_t next_start(const units *u, size_t a, size_t b, size_t overlap)
{
	size_t s = b;
	while (s - 1 > a && span_len(u, s - 1, b) <= overlap)
		s--;
	return s;
}

static void push_chunk(rag_chunks *out, char *text)
{
	out->text = realloc(out->text, (out->n + 1) * sizeof *out->text);
	if (!out->text)
		abort();
	out->text[out->n++] = text;
}

void rag_chunk_split(const char *content, int size, int overlap, rag_chunks *out)
{
	units raw = {0}, u = {0};
	memset(out, 0, sizeof *out);
	split_units(content ? content : "", &raw);
	split_long(&raw, (size_t)size, &u);
	free(raw.v);
	for (size_t a = 0; a < u.n;) {
		size_t b = chunk_end(&u, a, (size_t)size);
		push_chunk(out, join(&u, a, b));
		if (b >= u.n)
			break;
		a = next_start(&u, a, b, (size_t)overlap);
	}
	if (out->n == 0)
		push_chunk(out, strdup("")); /* an empty document still has its title */
	free(u.v);
}

void rag_chunks_free(rag_chunks *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->text[i]);
	free(c->text);
	c->text = NULL;
	c->n = 0;
}

char *rag_chunk_embed_text(const char *title, const char *chunk)
{
	size_t tl = strlen(title), cl = strlen(chunk);
	char *s = malloc(tl + cl + 3);
	if (!s)
		abort();
	memcpy(s, title, tl);
	memcpy(s + tl, "\n\n", 2);
	memcpy(s + tl + 2, chunk, cl + 1);
	return s;
}
