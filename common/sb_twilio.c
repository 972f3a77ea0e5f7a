/*
 * sb_twilio.c — Twilio signatures, strict form decoding/encoding, XML
 * escaping (see sb_twilio.h for the algorithm and the rules).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_base64.h"
#include "sb_hmac.h"
#include "sb_twilio.h"

/* ---- form decoding ---------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode one form component ('+' is a space, %XX a byte) into a malloc'd string; NULL if malformed. */
static char *decode_component(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	if (!out)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] != '%') {
			*o++ = s[i];
		} else {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1, lo = i + 2 < len ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi | lo) == 0) { /* bad escape, or an encoded NUL */
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	*o = '\0';
	return out;
}

static void form_push(sb_form *f, char *name, char *value)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->p = realloc(f->p, f->cap * sizeof *f->p);
		if (!f->p)
			abort();
	}
	f->p[f->n].name = name;
	f->p[f->n].value = value;
	f->n++;
}

int sb_form_parse(sb_form *f, const char *s, size_t len, sb_error *err)
{
	const char *end = s + len;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *stop = amp ? amp : end;
		if (stop > s) { /* empty segments ("a=1&&b=2") carry nothing */
			const char *eq = memchr(s, '=', (size_t)(stop - s));
			const char *nend = eq ? eq : stop;
			if (f->n >= SB_FORM_MAX_PARAMS)
				return sb_error_set(err, SB_INVALID_ARGUMENT, "more than %d form parameters",
						    SB_FORM_MAX_PARAMS);
			char *name = decode_component(s, (size_t)(nend - s));
			char *value = eq ? decode_component(eq + 1, (size_t)(stop - eq - 1)) : strdup("");
			if (!name || !value) {
				free(name);
				free(value);
				return sb_error_set(err, SB_INVALID_ARGUMENT, "malformed %%-escape in form data");
			}
			form_push(f, name, value);
		}
		s = stop + 1;
	}
	return 0;
}

void sb_form_add(sb_form *f, const char *name, const char *value)
{
	char *n = strdup(name), *v = strdup(value ? value : "");
	if (!n || !v)
		abort();
	form_push(f, n, v);
}

const char *sb_form_get(const sb_form *f, const char *name)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (strcmp(f->p[i].name, name) == 0)
			return f->p[i].value;
	return NULL;
}

void sb_form_free(sb_form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->p[i].name);
		free(f->p[i].value);
	}
	free(f->p);
	f->p = NULL;
	f->n = f->cap = 0;
}

/* ---- form encoding ------------------------------------------------------------ */

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

/* Append the %-encoding of s at o; returns the new end. o must have room for 3 * strlen(s). */
static char *encode_component(char *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	return o;
}

char *sb_form_encode(const sb_form *f)
{
	size_t cap = 1;
	for (size_t i = 0; i < f->n; i++)
		cap += 3 * (strlen(f->p[i].name) + strlen(f->p[i].value)) + 2;
	char *out = malloc(cap), *o = out;
	if (!out)
		abort();
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			*o++ = '&';
		o = encode_component(o, f->p[i].name);
		*o++ = '=';
		o = encode_component(o, f->p[i].value);
	}
	*o = '\0';
	return out;
}

/* ---- URL port variants ------------------------------------------------------ */

/* Where the authority of an absolute URL starts and ends; -1 if url is not absolute. */
static int authority(const char *url, const char **a, const char **a_end)
{
	const char *sep = strstr(url, "://");
	if (!sep || sep == url)
		return -1;
	*a = sep + 3;
	*a_end = *a + strcspn(*a, "/?#");
	return *a_end > *a ? 0 : -1;
}

/* The default port of url's scheme ("443" for https/wss, "80" otherwise). */
static const char *default_port(const char *url)
{
	return (!strncmp(url, "https:", 6) || !strncmp(url, "wss:", 4)) ? "443" : "80";
}

int sb_url_port_variant(const char *url, int with_port, char *out, size_t cap)
{
	const char *a, *a_end;
	if (authority(url, &a, &a_end) < 0)
		return -1;
	const char *host = a;
	for (const char *p = a; p < a_end; p++) /* skip user:password@ */
		if (*p == '@')
			host = p + 1;
	const char *h_end = host;
	if (*host == '[') { /* [IPv6] */
		const char *rb = memchr(host, ']', (size_t)(a_end - host));
		h_end = rb ? rb + 1 : a_end;
	}
	const char *colon = memchr(h_end, ':', (size_t)(a_end - h_end));
	const char *port_end = colon ? a_end : NULL;
	int n;
	if (colon && with_port) /* already explicit: as it is */
		n = snprintf(out, cap, "%s", url);
	else if (colon)
		n = snprintf(out, cap, "%.*s%s", (int)(colon - url), url, port_end);
	else if (with_port)
		n = snprintf(out, cap, "%.*s:%s%s", (int)(a_end - url), url, default_port(url), a_end);
	else
		n = snprintf(out, cap, "%s", url);
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* ---- signatures --------------------------------------------------------------- */

static int cmp_param(const void *a, const void *b)
{
	const sb_form_param *x = *(const sb_form_param *const *)a, *y = *(const sb_form_param *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

/* name1value1name2value2... sorted by name then value, exact duplicates once (malloc'd). */
static char *sorted_params(const sb_form *f)
{
	size_t n = f ? f->n : 0, len = 1;
	const sb_form_param **v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		abort();
	for (size_t i = 0; i < n; i++) {
		v[i] = &f->p[i];
		len += strlen(f->p[i].name) + strlen(f->p[i].value);
	}
	qsort(v, n, sizeof *v, cmp_param);
	char *out = malloc(len), *o = out;
	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (i && cmp_param(&v[i - 1], &v[i]) == 0)
			continue;
		o = stpcpy(stpcpy(o, v[i]->name), v[i]->value);
	}
	*o = '\0';
	free(v);
	return out;
}

/* base64(HMAC-SHA1(token, url + suffix)) into out. */
static void sign(const char *token, const char *url, const char *suffix, char out[SB_TWILIO_SIG_LEN + 1])
{
	size_t ul = strlen(url), sl = strlen(suffix);
	char *data = malloc(ul + sl + 1);
	if (!data)
		abort();
	memcpy(data, url, ul);
	memcpy(data + ul, suffix, sl + 1);
	unsigned char mac[SB_SHA1_LEN];
	sb_hmac_sha1(token, strlen(token), data, ul + sl, mac);
	sb_b64_encode(mac, sizeof mac, out);
	free(data);
}

void sb_twilio_signature(const char *auth_token, const char *url, const sb_form *params,
			 char out[SB_TWILIO_SIG_LEN + 1])
{
	char *suffix = sorted_params(params);
	sign(auth_token, url, suffix, out);
	free(suffix);
}

/* 1 if sig matches url with or without its port, given the sorted-params suffix. */
static int match_variants(const char *token, const char *url, const char *suffix, const char *sig)
{
	if (!token || !*token || !sig || strlen(sig) != SB_TWILIO_SIG_LEN)
		return 0;
	size_t cap = strlen(url) + 16;
	char *v[2] = {malloc(cap), malloc(cap)}, want[SB_TWILIO_SIG_LEN + 1];
	if (!v[0] || !v[1])
		abort();
	int ok = 0;
	if (sb_url_port_variant(url, 1, v[0], cap) == 0 && sb_url_port_variant(url, 0, v[1], cap) == 0) {
		int first = strcmp(v[0], url) == 0 ? 0 : 1; /* the URL as given first: usually one HMAC */
		for (int i = 0; i < 2 && !ok; i++) {
			sign(token, v[first ^ i], suffix, want);
			ok = sb_ct_equal(want, sig, SB_TWILIO_SIG_LEN);
		}
	}
	free(v[0]);
	free(v[1]);
	return ok;
}

int sb_twilio_validate(const char *auth_token, const char *url, const sb_form *params, const char *sig)
{
	char *suffix = sorted_params(params);
	int ok = match_variants(auth_token, url, suffix, sig);
	free(suffix);
	return ok;
}

int sb_twilio_validate_json(const char *auth_token, const char *url, const void *body, size_t len,
			    const char *sig)
{
	const char *q = strchr(url, '?');
	sb_form query = {0};
	if (!q || sb_form_parse(&query, q + 1, strcspn(q + 1, "#"), NULL) < 0) {
		sb_form_free(&query);
		return 0;
	}
	const char *claimed = sb_form_get(&query, "bodySHA256");
	unsigned char digest[SB_SHA256_LEN];
	char hex[2 * SB_SHA256_LEN + 1];
	sb_sha256(body, len, digest);
	sb_hex(digest, sizeof digest, hex);
	int body_ok = claimed && strlen(claimed) == 2 * SB_SHA256_LEN && sb_ct_equal(hex, claimed, sizeof hex - 1);
	sb_form_free(&query);
	int sig_ok = match_variants(auth_token, url, "", sig); /* always computed: no early exit */
	return body_ok && sig_ok;
}

/* ---- XML ------------------------------------------------------------------------- */

long sb_xml_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
				return -1; /* not allowed in XML 1.0 at all */
			break;
		}
		size_t n = rep ? strlen(rep) : 1;
		if (o + n >= cap)
			return -1;
		if (rep)
			memcpy(out + o, rep, n);
		else
			out[o] = *s;
		o += n;
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
}
