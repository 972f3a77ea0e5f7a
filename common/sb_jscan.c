/*
 * sb_jscan.c — top-level field lookup without a parse (see sb_jscan.h).
 *
 * Grammar walked (RFC 8259, top level only):
 *   object = ws '{' ws [ member *( ws ',' ws member ) ] ws '}' ws
 *   member = string ws ':' ws value
 * Nested objects and arrays are skipped by bracket counting (strings inside
 * them are skipped properly, so brackets in strings do not count).
 */
#include <string.h>

#include "sb_jscan.h"

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p points at the opening quote; returns the closing quote or NULL. */
static const char *string_end(const char *p, const char *end)
{
	const char *q = p + 1;
	for (;;) {
		q = memchr(q, '"', (size_t)(end - q));
		if (!q)
			return NULL;
		size_t bs = 0;
		for (const char *b = q - 1; b > p && *b == '\\'; b--)
			bs++;
		if (bs % 2 == 0)
			return q;
		q++;
	}
}

/* Skip a nested object/array starting at p; returns one past its end or NULL. */
static const char *skip_nested(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		char c = *p;
		if (c == '"') {
			if (!(p = string_end(p, end)))
				return NULL;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return p + 1;
		}
		p++;
	}
	return NULL;
}

/* Skip one value at p, describing it in *v; returns one past its end or NULL. */
static const char *skip_value(const char *p, const char *end, sb_jval *v)
{
	if (p >= end)
		return NULL;
	v->escaped = false;
	if (*p == '"') {
		const char *q = string_end(p, end);
		if (!q)
			return NULL;
		v->kind = 's', v->p = p + 1, v->len = (size_t)(q - p - 1);
		return q + 1;
	}
	if (*p == '{' || *p == '[') {
		const char *q = skip_nested(p, end);
		if (!q)
			return NULL;
		v->kind = *p == '{' ? 'o' : 'a', v->p = p, v->len = (size_t)(q - p);
		return q;
	}
	const char *q = p;
	while (q < end && !strchr(",}] \t\r\n", *q))
		q++;
	if (q == p)
		return NULL;
	v->p = p, v->len = (size_t)(q - p);
	v->kind = *p == 't' ? 't' : *p == 'f' ? 'f' : *p == 'n' ? 'z' : 'n';
	return q;
}

int sb_jscan_get(const char *js, size_t len, const char *key, sb_jval *out)
{
	const char *p = js, *end = js + len;
	size_t klen = strlen(key);
	p = skip_ws(p, end);
	if (p >= end || *p++ != '{')
		return -1;
	p = skip_ws(p, end);
	if (p < end && *p == '}')
		return 0;
	for (;;) {
		sb_jval k, v;
		if (p >= end || *p != '"' || !(p = skip_value(p, end, &k)))
			return -1;
		p = skip_ws(p, end);
		if (p >= end || *p++ != ':')
			return -1;
		p = skip_ws(p, end);
		if (!(p = skip_value(p, end, &v)))
			return -1;
		if (k.len == klen && memcmp(k.p, key, klen) == 0) {
			if (v.kind == 's')
				v.escaped = memchr(v.p, '\\', v.len) != NULL;
			*out = v;
			return 1;
		}
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		return (p < end && *p == '}') ? 0 : -1;
	}
}

int sb_jscan_str(const char *js, size_t len, const char *key, const char **val, size_t *vlen)
{
	sb_jval v;
	int rc = sb_jscan_get(js, len, key, &v);
	if (rc <= 0)
		return rc;
	if (v.kind != 's')
		return 0;
	*val = v.p;
	*vlen = v.len;
	return 1;
}

int sb_jscan_int(const char *js, size_t len, const char *key, long long *val)
{
	sb_jval v;
	int rc = sb_jscan_get(js, len, key, &v);
	if (rc <= 0)
		return rc;
	if ((v.kind != 'n' && v.kind != 's') || v.len == 0 || v.len > 18)
		return 0;
	long long n = 0;
	size_t i = 0;
	bool neg = v.kind == 'n' && v.p[0] == '-';
	for (i = neg ? 1 : 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return 0;
		n = n * 10 + (v.p[i] - '0');
	}
	*val = neg ? -n : n;
	return 1;
}

bool sb_jscan_eq(const char *p, size_t n, const char *s)
{
	size_t sl = strlen(s);
	return n == sl && memcmp(p, s, n) == 0;
}
