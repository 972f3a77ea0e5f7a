/*
 * sb_hmac.h - HMAC-SHA1/SHA256, SHA-256, hex and constant-time compare.
 *
 * Thin wrappers over OpenSSL 3 digests so the rest of the tree never
 * touches OpenSSL directly for the common cases: webhook signatures
 * (Twilio's X-Twilio-Signature is base64(HMAC-SHA1)), our own signed
 * callbacks (HMAC-SHA256) and content hashes.  The digest functions cannot
 * fail except on memory exhaustion inside OpenSSL, in which case they
 * abort(): a half-computed signature must never be compared.
 */
#ifndef SB_HMAC_H
#define SB_HMAC_H

#include <stddef.h>

#define SB_SHA1_LEN 20
#define SB_SHA256_LEN 32

/* HMAC-SHA1 of data under key into out (20 bytes). */
void sb_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen,
                  unsigned char out[20]);

/* HMAC-SHA256 of data under key into out (32 bytes). */
void sb_hmac_sha256(const void *key, size_t klen, const void *data,
                    size_t dlen, unsigned char out[32]);

/* SHA-256 of data into out (32 bytes). */
void sb_sha256(const void *data, size_t n, unsigned char out[32]);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void sb_hex(const unsigned char *in, size_t n, char *out);

/* Constant-time comparison of n bytes; 1 if equal, 0 otherwise. */
int sb_ct_equal(const void *a, const void *b, size_t n);

#endif /* SB_HMAC_H */
