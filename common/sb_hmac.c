/*
 * sb_hmac.c - HMAC, SHA-256, hex and constant-time compare via OpenSSL 3.
 *
 * Only non-deprecated OpenSSL 3 entry points are used: HMAC() (the
 * one-shot form; HMAC_CTX is what got deprecated), EVP_Digest() and
 * CRYPTO_memcmp().  OpenSSL dislikes NULL pointers even with zero lengths,
 * so empty keys and messages are passed as a pointer to a static empty
 * byte.  These calls are thread-safe; no state is kept here.
 */
#include "sb_hmac.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const unsigned char empty[1];

/* Abort on an OpenSSL failure: callers rely on out being filled. */
static void crypto_fail(const char *what)
{
    fprintf(stderr, "sb_hmac: %s failed\n", what);
    abort();
}

static const void *nonnull(const void *p)
{
    return p ? p : empty;
}

static void hmac_md(const EVP_MD *md, const void *key, size_t klen,
                    const void *data, size_t dlen, unsigned char *out,
                    unsigned want)
{
    unsigned int len = 0;

    if (klen > (size_t)INT_MAX)
        crypto_fail("HMAC (key too long)");
    if (HMAC(md, nonnull(key), (int)klen, nonnull(data), dlen, out, &len) ==
            NULL ||
        len != want)
        crypto_fail("HMAC");
}

void sb_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen,
                  unsigned char out[20])
{
    hmac_md(EVP_sha1(), key, klen, data, dlen, out, SB_SHA1_LEN);
}

void sb_hmac_sha256(const void *key, size_t klen, const void *data,
                    size_t dlen, unsigned char out[32])
{
    hmac_md(EVP_sha256(), key, klen, data, dlen, out, SB_SHA256_LEN);
}

void sb_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 0;

    if (!EVP_Digest(nonnull(data), n, out, &len, EVP_sha256(), NULL) ||
        len != SB_SHA256_LEN)
        crypto_fail("EVP_Digest(sha256)");
}

void sb_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[16] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

int sb_ct_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}
