/*
 * sb_token.c — sign and verify media-stream tokens (format in sb_token.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_base64.h"
#include "sb_hmac.h"
#include "sb_token.h"

#define CONTEXT  "sb-stream-token\n" /* domain separation: SB_SECRET may sign other things too */
#define MAC_LEN  43                  /* base64url of 32 bytes, unpadded */
#define NFIELDS  6

/* 1 if s[0..n) is 1..SB_TOKEN_FIELD_MAX characters of [A-Za-z0-9_-]. */
static int field_ok(const char *s, size_t n)
{
	if (n == 0 || n > SB_TOKEN_FIELD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* base64url (unpadded) of HMAC-SHA256(secret, CONTEXT + signed[0..n)) into mac (MAC_LEN + 1 bytes). */
static void compute_mac(const void *secret, size_t slen, const char *signed_part, size_t n, char mac[MAC_LEN + 1])
{
	size_t cl = sizeof CONTEXT - 1;
	char *data = malloc(cl + n);
	if (!data)
		abort();
	memcpy(data, CONTEXT, cl);
	memcpy(data + cl, signed_part, n);
	unsigned char raw[SB_SHA256_LEN];
	sb_hmac_sha256(secret, slen, data, cl + n, raw);
	free(data);
	char b64[64];
	sb_b64_encode(raw, sizeof raw, b64);
	for (int i = 0; i < MAC_LEN; i++)
		mac[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	mac[MAC_LEN] = '\0';
}

int sb_token_sign(const sb_stream_token *t, const void *secret, size_t secret_len, char *out, size_t cap)
{
	if (!field_ok(t->call_sid, strlen(t->call_sid)) || !field_ok(t->subject, strlen(t->subject)) ||
	    (t->kind != SB_TOKEN_BUSINESS && t->kind != SB_TOKEN_PAYER) || t->expires < 0 ||
	    t->expires >= 1000000000000000000LL)
		return -1;
	int n = snprintf(out, cap, "v1.%s.%c.%s.%lld", t->call_sid, (char)t->kind, t->subject,
			 (long long)t->expires);
	if (n < 0 || (size_t)n + 1 + MAC_LEN >= cap)
		return -1;
	out[n] = '.';
	compute_mac(secret, secret_len, out, (size_t)n, out + n + 1);
	return 0;
}

/* Split token at '.' into exactly NFIELDS (start, length) pairs; -1 otherwise. */
static int split(const char *token, const char *f[NFIELDS], size_t len[NFIELDS])
{
	const char *p = token;
	for (int i = 0; i < NFIELDS; i++) {
		const char *dot = strchr(p, '.');
		if ((dot != NULL) != (i < NFIELDS - 1))
			return -1;
		f[i] = p;
		len[i] = dot ? (size_t)(dot - p) : strlen(p);
		p = dot ? dot + 1 : p;
	}
	return 0;
}

/* Parse a decimal Unix time of 1..18 digits; -1 if malformed. */
static int64_t parse_expiry(const char *s, size_t n)
{
	if (n == 0 || n > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

sb_token_result sb_token_verify(const char *token, const void *secret, size_t secret_len, int64_t now_s,
				sb_stream_token *out)
{
	const char *f[NFIELDS];
	size_t len[NFIELDS];
	if (!token || strlen(token) >= SB_TOKEN_MAX || split(token, f, len) < 0)
		return SB_TOKEN_MALFORMED;
	int64_t expires = parse_expiry(f[4], len[4]);
	if (len[0] != 2 || memcmp(f[0], "v1", 2) != 0 || !field_ok(f[1], len[1]) || len[2] != 1 ||
	    (f[2][0] != SB_TOKEN_BUSINESS && f[2][0] != SB_TOKEN_PAYER) || !field_ok(f[3], len[3]) ||
	    expires < 0 || len[5] != MAC_LEN)
		return SB_TOKEN_MALFORMED;
	char want[MAC_LEN + 1];
	compute_mac(secret, secret_len, token, (size_t)(f[5] - 1 - token), want);
	if (!sb_ct_equal(want, f[5], MAC_LEN))
		return SB_TOKEN_FORGED;
	if (now_s >= expires)
		return SB_TOKEN_EXPIRED;
	if (out) {
		memset(out, 0, sizeof *out);
		memcpy(out->call_sid, f[1], len[1]);
		out->kind = (sb_token_kind)f[2][0];
		memcpy(out->subject, f[3], len[3]);
		out->expires = expires;
	}
	return SB_TOKEN_OK;
}

const char *sb_token_result_name(sb_token_result r)
{
	switch (r) {
	case SB_TOKEN_OK: return "ok";
	case SB_TOKEN_MALFORMED: return "malformed";
	case SB_TOKEN_FORGED: return "forged";
	case SB_TOKEN_EXPIRED: return "expired";
	}
	return "malformed";
}

void sb_unsubscribe_sig(const void *secret, size_t secret_len, const char *payer_id, char out[SB_UNSUB_SIG_LEN + 1])
{
	static const char prefix[] = "sb-unsubscribe\n";
	size_t n = strlen(payer_id);
	char *msg = malloc(sizeof prefix + n);
	memcpy(msg, prefix, sizeof prefix - 1);
	memcpy(msg + sizeof prefix - 1, payer_id, n);
	unsigned char mac[32];
	sb_hmac_sha256(secret, secret_len, msg, sizeof prefix - 1 + n, mac);
	free(msg);
	sb_hex(mac, SB_UNSUB_SIG_LEN / 2, out);
}

int sb_unsubscribe_verify(const void *secret, size_t secret_len, const char *payer_id, const char *sig)
{
	if (!payer_id || !sig || strlen(sig) != SB_UNSUB_SIG_LEN)
		return 0;
	char want[SB_UNSUB_SIG_LEN + 1];
	sb_unsubscribe_sig(secret, secret_len, payer_id, want);
	return sb_ct_equal(want, sig, SB_UNSUB_SIG_LEN);
}
