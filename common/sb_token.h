/*
 * sb_token.h — the signed, short-lived media-stream token.
 *
 * The gateway puts one in the TwiML it returns (as a <Parameter>, never in
 * the stream URL: Twilio strips query strings), Twilio hands it to the
 * media bridge in the stream's start.customParameters, and the bridge
 * verifies it before it opens a model session (DESIGN.md, "Security").
 * Both sides share SB_SECRET.
 *
 * Format (ASCII, fits a TwiML parameter, no characters that need escaping):
 *
 *   v1.<callSid>.<kind>.<subject>.<expires>.<mac>
 *
 *   kind     'b' (subject is a business id: inbound call)
 *            'p' (subject is a payer id: outbound collections call)
 *   expires  Unix time in seconds, decimal
 *   mac      base64url, unpadded, of HMAC-SHA256(secret,
 *            "sb-stream-token\n" + everything before ".<mac>")
 *
 * callSid and subject are 1..64 characters of [A-Za-z0-9_-]. Verification
 * is strict (exact field count, charsets, lengths) and compares the MAC in
 * constant time; the expiry is only judged on an authentic token, so
 * "expired" never reveals anything about a forged one.
 */
#ifndef SB_TOKEN_H
#define SB_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define SB_TOKEN_FIELD_MAX 64  /* longest callSid or subject */
#define SB_TOKEN_MAX       256 /* buffer that fits any token (NUL included) */

typedef enum sb_token_kind {
	SB_TOKEN_BUSINESS = 'b', /* subject is a business id */
	SB_TOKEN_PAYER = 'p',    /* subject is a payer id */
} sb_token_kind;

/* What a token asserts. */
typedef struct sb_stream_token {
	char          call_sid[SB_TOKEN_FIELD_MAX + 1];
	sb_token_kind kind;
	char          subject[SB_TOKEN_FIELD_MAX + 1];
	int64_t       expires; /* Unix seconds */
} sb_stream_token;

typedef enum sb_token_result {
	SB_TOKEN_OK = 0,
	SB_TOKEN_MALFORMED, /* not a token of this format */
	SB_TOKEN_FORGED,    /* well formed, but the MAC does not match */
	SB_TOKEN_EXPIRED,   /* authentic, but now >= expires */
} sb_token_result;

/* Sign t with secret into out (cap >= SB_TOKEN_MAX is always enough). 0, or -1 if a field is invalid or out too small. */
int sb_token_sign(const sb_stream_token *t, const void *secret, size_t secret_len, char *out, size_t cap);
/* Verify token at time now_s (Unix seconds); on SB_TOKEN_OK fills *out (may be NULL). */
sb_token_result sb_token_verify(const char *token, const void *secret, size_t secret_len, int64_t now_s,
				sb_stream_token *out);
/* "ok", "malformed", "forged" or "expired". */
const char *sb_token_result_name(sb_token_result r);

/*
 * The unsubscribe link in outreach emails ({public}/unsubscribe?payerId=…&sig=…):
 * sig is the hex of the first 16 bytes of HMAC-SHA256(secret,
 * "sb-unsubscribe\n" + payerId). The scheduler signs, the gateway verifies;
 * both share SB_SECRET. It never expires (a link in an old email must work).
 */
#define SB_UNSUB_SIG_LEN 32
void sb_unsubscribe_sig(const void *secret, size_t secret_len, const char *payer_id, char out[SB_UNSUB_SIG_LEN + 1]);
/* 1 if sig is payer_id's signature (constant time), else 0. */
int sb_unsubscribe_verify(const void *secret, size_t secret_len, const char *payer_id, const char *sig);

#endif
