/*
 * callsim_twiml.c — a strict reader for the TwiML that starts a media stream.
 *
 * Grammar (whitespace allowed between tags, an optional <?xml …?> first):
 *
 *   doc    = "<Response>" verbs "</Response>" | "<Response/>"
 *   stream = "<Response>" "<Connect>" "<Stream" attrs ">" param* "</Stream>" "</Connect>" "</Response>"
 *   param  = "<Parameter" attrs "/>"          (name and value required)
 *
 * Attribute values are double- or single-quoted with the five XML entities
 * (and &#N; / &#xN;) decoded; anything else (unknown entity, unbalanced or
 * mismatched tags, text where a tag belongs in the stream form, more than 64
 * tags, a value over 1 KB) makes the document "not accepted" (-1). Other
 * well-formed TwiML (<Say>, <Hangup/>, <Reject/>…) is "no stream" (0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callsim.h"

#define MAX_TAGS  64
#define MAX_ATTRS 6
#define VAL_MAX   1024

typedef struct tag {
	char name[32];
	bool end, empty;
	int  nattr;
	struct { char k[32], v[VAL_MAX]; } a[MAX_ATTRS];
} tag;

/* Decode one entity at *p (just after '&') into *out; -1 if unknown. */
static int entity(const char **p, char *out)
{
	static const struct { const char *name; char c; } E[] = {
		{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	for (size_t i = 0; i < sizeof E / sizeof E[0]; i++)
		if (strncmp(*p, E[i].name, strlen(E[i].name)) == 0) {
			*out = E[i].c;
			*p += strlen(E[i].name);
			return 0;
		}
	if (**p != '#')
		return -1;
	char *end;
	long v = (*p)[1] == 'x' ? strtol(*p + 2, &end, 16) : strtol(*p + 1, &end, 10);
	if (*end != ';' || v <= 0 || v > 127)
		return -1; /* ASCII only: enough for URLs, names and tokens */
	*out = (char)v;
	*p = end + 1;
	return 0;
}

/* Read a quoted value at *p into v (decoded). */
static int quoted(const char **p, char *v)
{
	char q = **p;
	size_t n = 0;
	if (q != '"' && q != '\'')
		return -1;
	for ((*p)++; **p && **p != q; n++) {
		if (n + 1 >= VAL_MAX || **p == '<')
			return -1;
		if (*(*p)++ == '&') {
			if (entity(p, &v[n]) < 0)
				return -1;
		} else {
			v[n] = (*p)[-1];
		}
	}
	v[n] = '\0';
	if (**p != q)
		return -1;
	(*p)++;
	return 0;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static size_t name_len(const char *p)
{
	size_t n = 0;
	while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') ||
	       p[n] == '_' || p[n] == '-' || p[n] == ':')
		n++;
	return n;
}

/* Attributes up to '>' or '/>' at *p. */
static int attrs(const char **p, tag *t)
{
	for (;;) {
		*p = skip_ws(*p);
		if (**p == '>' || (**p == '/' && (*p)[1] == '>')) {
			t->empty = **p == '/';
			*p += t->empty ? 2 : 1;
			return 0;
		}
		size_t n = name_len(*p);
		if (!n || n >= sizeof t->a[0].k || t->nattr == MAX_ATTRS)
			return -1;
		memcpy(t->a[t->nattr].k, *p, n);
		t->a[t->nattr].k[n] = '\0';
		*p = skip_ws(*p + n);
		if (**p != '=')
			return -1;
		*p = skip_ws(*p + 1);
		if (quoted(p, t->a[t->nattr++].v) < 0)
			return -1;
	}
}

/* The next tag at or after *p; text before it is counted in *text. 1 tag, 0 end of input, -1 bad. */
static int next_tag(const char **p, tag *t, size_t *text)
{
	const char *lt = strchr(*p, '<');
	const char *s = skip_ws(*p);
	*text = lt ? (size_t)(lt - s) * (lt > s) : strlen(s);
	if (!lt)
		return *text ? -1 : 0;
	memset(t, 0, sizeof *t);
	*p = lt + 1;
	if ((t->end = **p == '/'))
		(*p)++;
	size_t n = name_len(*p);
	if (!n || n >= sizeof t->name)
		return -1;
	memcpy(t->name, *p, n);
	*p += n;
	if (t->end) {
		*p = skip_ws(*p);
		return *(*p)++ == '>' ? 1 : -1;
	}
	return attrs(p, t) < 0 ? -1 : 1;
}

static const char *attr(const tag *t, const char *k)
{
	for (int i = 0; i < t->nattr; i++)
		if (strcmp(t->a[i].k, k) == 0)
			return t->a[i].v;
	return NULL;
}

/* Tokenise the document into tags (checking nesting); the count, or -1. */
static int tokenise(const char *xml, tag *tags, size_t *texts)
{
	const char *p = skip_ws(xml);
	char stack[16][32];
	int n = 0, depth = 0, rc;
	if (strncmp(p, "<?xml", 5) == 0) {
		const char *e = strstr(p, "?>");
		if (!e)
			return -1;
		p = e + 2;
	}
	while ((rc = next_tag(&p, &tags[n], &texts[n])) == 1) {
		tag *t = &tags[n];
		if (t->end && (depth == 0 || strcmp(stack[--depth], t->name) != 0))
			return -1;
		if (!t->end && !t->empty) {
			if (depth == 16)
				return -1;
			snprintf(stack[depth++], 32, "%s", t->name);
		}
		if (++n == MAX_TAGS)
			return -1;
	}
	return rc < 0 || depth || texts[n] ? -1 : n;
}

static bool is(const tag *t, const char *name, bool end)
{
	return strcmp(t->name, name) == 0 && t->end == end;
}

/* The stream form: Response Connect Stream Parameter* /Stream /Connect /Response. */
static int stream_form(const tag *t, const size_t *texts, int n, char *url, size_t cap, json_t **params)
{
	if (n < 6 || !is(&t[1], "Connect", false) || !is(&t[2], "Stream", false) || t[2].empty)
		return 0;
	if (!is(&t[n - 3], "Stream", true) || !is(&t[n - 2], "Connect", true) || !is(&t[n - 1], "Response", true))
		return -1;
	const char *u = attr(&t[2], "url");
	if (!u || strlen(u) >= cap)
		return -1;
	json_t *ps = json_object();
	for (int i = 3; i < n - 3; i++) {
		const char *k = attr(&t[i], "name"), *v = attr(&t[i], "value");
		if (!is(&t[i], "Parameter", false) || !t[i].empty || !k || !v || texts[i]) {
			json_decref(ps);
			return -1;
		}
		json_object_set_new(ps, k, json_string(v));
	}
	snprintf(url, cap, "%s", u);
	*params = ps;
	return 1;
}

int twiml_stream(const char *xml, char *url, size_t cap, json_t **params)
{
	tag *tags = calloc(MAX_TAGS, sizeof *tags);
	size_t texts[MAX_TAGS + 1] = {0};
	*params = NULL;
	int n = xml ? tokenise(xml, tags, texts) : -1, rc = -1;
	if (n > 0 && is(&tags[0], "Response", false))
		rc = n == 1 && tags[0].empty ? 0 : stream_form(tags, texts, n, url, cap, params);
	free(tags);
	return rc;
}
