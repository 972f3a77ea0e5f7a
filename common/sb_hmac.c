/*
 * sb_hmac.c - HMAC, SHA-256, hex and constant-time compare via OpenSSL 3.
 *
 * HMAC is RFC 2104 over EVP digests fetched once per process: OpenSSL 3's
 * one-shot HMAC() fetches the MAC and the digest by name on every call
 * (about three times the cost of the hashing itself, plus locks shared by
 * all threads), and a webhook computes two HMACs. Only non-deprecated
 * OpenSSL 3 entry points are used (EVP_MD_fetch, EVP_Digest*,
 * CRYPTO_memcmp).  OpenSSL dislikes NULL pointers even with zero lengths,
 * so empty keys and messages are passed as a pointer to a static empty
 * byte.  These calls are thread-safe; the fetched digests are the only
 * state kept here.
 */
#include "sb_hmac.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define HMAC_BLOCK 64 /* the block size of SHA-1 and SHA-256 */

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

static EVP_MD *md_sha1, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The fetched digest (SHA1 or SHA256), fetched on first use. */
static const EVP_MD *digest(bool sha1)
{
    pthread_once(&md_once, fetch_digests);
    const EVP_MD *md = sha1 ? md_sha1 : md_sha256;
    if (!md)
        crypto_fail("EVP_MD_fetch");
    return md;
}

/* out = md(a || b), want bytes. */
static void digest2(EVP_MD_CTX *c, const EVP_MD *md, const void *a, size_t an,
                    const void *b, size_t bn, unsigned char *out, unsigned want)
{
    unsigned int len = 0;

    if (!EVP_DigestInit_ex2(c, md, NULL) || !EVP_DigestUpdate(c, nonnull(a), an) ||
        !EVP_DigestUpdate(c, nonnull(b), bn) || !EVP_DigestFinal_ex(c, out, &len) ||
        len != want)
        crypto_fail("digest");
}

static void hmac_md(const EVP_MD *md, const void *key, size_t klen,
                    const void *data, size_t dlen, unsigned char *out,
                    unsigned want)
{
    unsigned char k[HMAC_BLOCK] = {0}, pad[HMAC_BLOCK], inner[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    if (!c)
        crypto_fail("EVP_MD_CTX_new");
    if (klen > HMAC_BLOCK)
        digest2(c, md, key, klen, NULL, 0, k, want); /* long keys are hashed first */
    else if (klen > 0)
        memcpy(k, key, klen);
    for (int i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    digest2(c, md, pad, HMAC_BLOCK, data, dlen, inner, want);
    for (int i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    digest2(c, md, pad, HMAC_BLOCK, inner, want, out, want);
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
}

void sb_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen,
                  unsigned char out[20])
{
    hmac_md(digest(true), key, klen, data, dlen, out, SB_SHA1_LEN);
}

void sb_hmac_sha256(const void *key, size_t klen, const void *data,
                    size_t dlen, unsigned char out[32])
{
    hmac_md(digest(false), key, klen, data, dlen, out, SB_SHA256_LEN);
}

void sb_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 0;

    if (!EVP_Digest(nonnull(data), n, out, &len, digest(false), NULL) ||
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
