/*
 * sb_hmac_test.c - unit tests for sb_hmac: RFC 2202 (HMAC-SHA1) and
 * RFC 4231 (HMAC-SHA256) vectors, SHA-256 known answers, the Twilio
 * request-signature example, hex encoding and constant-time compare.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sb_base64.h"
#include "sb_hmac.h"

/* Build keys/data that are repetitions of one byte. */
static const unsigned char *rep(unsigned char *buf, unsigned char c, size_t n)
{
    memset(buf, c, n);
    return buf;
}

static void expect_hex(const unsigned char *digest, size_t n, const char *hex)
{
    char got[2 * 64 + 1];
    sb_hex(digest, n, got);
    assert_string_equal(got, hex);
}

struct vec {
    unsigned char kbyte; /* 0 = use key_str / counting key */
    size_t klen;
    const char *key_str;
    unsigned char dbyte; /* 0 = use data_str */
    size_t dlen;
    const char *data_str;
    const char *sha1;
    const char *sha256;
};

/* Keys 0x01..0x19 (test case 4 of both RFCs). */
static unsigned char counting_key[25];

static const struct vec vecs[] = {
    {0x0b, 20, NULL, 0, 0, "Hi There",
     "b617318655057264e28bc0b6fb378c8ef146be00",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {0, 4, "Jefe", 0, 0, "what do ya want for nothing?",
     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {0xaa, 20, NULL, 0xdd, 50, NULL,
     "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {0, 25, NULL, 0xcd, 50, NULL,
     "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
};

static void get_kd(const struct vec *v, unsigned char *kb, unsigned char *db,
                   const unsigned char **k, const unsigned char **d,
                   size_t *dlen)
{
    if (v->kbyte)
        *k = rep(kb, v->kbyte, v->klen);
    else if (v->key_str)
        *k = (const unsigned char *)v->key_str;
    else
        *k = counting_key;
    if (v->dbyte) {
        *d = rep(db, v->dbyte, v->dlen);
        *dlen = v->dlen;
    } else {
        *d = (const unsigned char *)v->data_str;
        *dlen = strlen(v->data_str);
    }
}

static int setup(void **state)
{
    for (int i = 0; i < 25; i++)
        counting_key[i] = (unsigned char)(i + 1);
    return 0;
}

/* RFC 2202 cases 1-4 and RFC 4231 cases 1-4 share key and data. */
static void test_shared_vectors(void **state)
{
    unsigned char kb[200], db[200], out1[20], out256[32];
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        const unsigned char *k, *d;
        size_t dlen;
        get_kd(&vecs[i], kb, db, &k, &d, &dlen);
        sb_hmac_sha1(k, vecs[i].klen, d, dlen, out1);
        expect_hex(out1, 20, vecs[i].sha1);
        sb_hmac_sha256(k, vecs[i].klen, d, dlen, out256);
        expect_hex(out256, 32, vecs[i].sha256);
    }
}

static void test_rfc2202_rest(void **state)
{
    unsigned char kb[80], out[20];
    const char *d5 = "Test With Truncation";
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *d7 = "Test Using Larger Than Block-Size Key and Larger Than "
                     "One Block-Size Data";

    sb_hmac_sha1(rep(kb, 0x0c, 20), 20, d5, strlen(d5), out);
    expect_hex(out, 20, "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04");
    sb_hmac_sha1(rep(kb, 0xaa, 80), 80, d6, strlen(d6), out);
    expect_hex(out, 20, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    sb_hmac_sha1(rep(kb, 0xaa, 80), 80, d7, strlen(d7), out);
    expect_hex(out, 20, "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
}

static void test_rfc4231_rest(void **state)
{
    unsigned char kb[131], out[32];
    const char *d5 = "Test With Truncation";
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *d7 = "This is a test using a larger than block-size key and a "
                     "larger than block-size data. The key needs to be hashed "
                     "before being used by the HMAC algorithm.";

    /* Case 5 specifies only the leftmost 128 bits. */
    sb_hmac_sha256(rep(kb, 0x0c, 20), 20, d5, strlen(d5), out);
    expect_hex(out, 16, "a3b6167473100ee06e0c796c2955552b");
    sb_hmac_sha256(rep(kb, 0xaa, 131), 131, d6, strlen(d6), out);
    expect_hex(out, 32,
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    sb_hmac_sha256(rep(kb, 0xaa, 131), 131, d7, strlen(d7), out);
    expect_hex(out, 32,
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void test_empty_inputs(void **state)
{
    unsigned char out1[20], out256[32];

    /* Well-known HMAC of empty key and empty message. */
    sb_hmac_sha1(NULL, 0, NULL, 0, out1);
    expect_hex(out1, 20, "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
    sb_hmac_sha256(NULL, 0, NULL, 0, out256);
    expect_hex(out256, 32,
               "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    sb_hmac_sha1("", 0, "", 0, out1);
    expect_hex(out1, 20, "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
}

static void test_sha256(void **state)
{
    unsigned char out[32];
    const char *two_blocks =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    sb_sha256("abc", 3, out);
    expect_hex(out, 32,
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sb_sha256("", 0, out);
    expect_hex(out, 32,
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sb_sha256(NULL, 0, out);
    expect_hex(out, 32,
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sb_sha256(two_blocks, strlen(two_blocks), out);
    expect_hex(out, 32,
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* Twilio's documented X-Twilio-Signature example. */
static void test_twilio_signature(void **state)
{
    const char *url_and_params =
        "https://mycompany.com/myapp.php?foo=1&bar=2"
        "CallSidCA1234567890ABCDE"
        "Caller+14158675309"
        "Digits1234"
        "From+14158675309"
        "To+18005551212";
    unsigned char mac[20];
    char b64[29];

    sb_hmac_sha1("12345", 5, url_and_params, strlen(url_and_params), mac);
    assert_int_equal(sb_b64_encode(mac, sizeof mac, b64), 28);
    assert_string_equal(b64, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");

    /* Verify the way a request handler would: decode + constant-time. */
    unsigned char want[21];
    assert_int_equal(sb_b64_decode("RSOYDt4T1cUTdK1PDd93/VVr8B8=", 28, want),
                     20);
    assert_true(sb_ct_equal(mac, want, 20));

    /* A different key gives a different signature. */
    sb_hmac_sha1("12346", 5, url_and_params, strlen(url_and_params), mac);
    assert_false(sb_ct_equal(mac, want, 20));
}

static void test_hex(void **state)
{
    const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[13];

    memset(out, 'X', sizeof out);
    sb_hex(in, sizeof in, out);
    assert_string_equal(out, "00017f80abff");
    sb_hex(in, 0, out);
    assert_string_equal(out, "");
}

static void test_ct_equal(void **state)
{
    unsigned char a[64], b[64];

    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_int_equal(sb_ct_equal(a, b, sizeof a), 1);
    assert_int_equal(sb_ct_equal(a, b, 0), 1);
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x01;
        assert_int_equal(sb_ct_equal(a, b, sizeof a), 0);
        /* A difference past n is not looked at. */
        assert_int_equal(sb_ct_equal(a, b, i), 1);
        b[i] ^= 0x01;
    }
    b[63] = 0xa5;
    assert_int_equal(sb_ct_equal(a, b, 64), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_vectors),
        cmocka_unit_test(test_rfc2202_rest),
        cmocka_unit_test(test_rfc4231_rest),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_twilio_signature),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
