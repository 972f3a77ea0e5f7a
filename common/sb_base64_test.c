/*
 * sb_base64_test.c - unit tests for sb_base64: RFC 4648 vectors, round
 * trips over every length and byte value, and strict rejection of
 * malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sb_base64.h"

static const struct {
    const char *plain;
    const char *b64;
} rfc_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_lengths(void **state)
{
    assert_int_equal(sb_b64_encoded_len(0), 0);
    assert_int_equal(sb_b64_encoded_len(1), 4);
    assert_int_equal(sb_b64_encoded_len(2), 4);
    assert_int_equal(sb_b64_encoded_len(3), 4);
    assert_int_equal(sb_b64_encoded_len(4), 8);
    assert_int_equal(sb_b64_encoded_len(160), 216); /* 20 ms of 8 kHz mu-law */
    assert_int_equal(sb_b64_decoded_max(0), 0);
    assert_int_equal(sb_b64_decoded_max(4), 3);
    assert_int_equal(sb_b64_decoded_max(8), 6);
    assert_int_equal(sb_b64_decoded_max(216), 162);
}

static void test_rfc4648_encode(void **state)
{
    char out[16];
    for (size_t i = 0; i < sizeof rfc_vectors / sizeof rfc_vectors[0]; i++) {
        size_t n = strlen(rfc_vectors[i].plain);
        memset(out, 'X', sizeof out);
        size_t len = sb_b64_encode(rfc_vectors[i].plain, n, out);
        assert_int_equal(len, strlen(rfc_vectors[i].b64));
        assert_int_equal(len, sb_b64_encoded_len(n));
        assert_string_equal(out, rfc_vectors[i].b64);
    }
}

static void test_rfc4648_decode(void **state)
{
    unsigned char out[16];
    for (size_t i = 0; i < sizeof rfc_vectors / sizeof rfc_vectors[0]; i++) {
        const char *b = rfc_vectors[i].b64;
        long len = sb_b64_decode(b, strlen(b), out);
        assert_int_equal(len, (long)strlen(rfc_vectors[i].plain));
        assert_memory_equal(out, rfc_vectors[i].plain, (size_t)len);
    }
}

static void test_all_byte_values(void **state)
{
    unsigned char in[256], back[256];
    char text[345];

    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    size_t len = sb_b64_encode(in, sizeof in, text);
    assert_int_equal(len, 344);
    assert_int_equal(strlen(text), 344);
    /* Known prefix of base64(0x00..0xff), and the '/' and '+' characters. */
    assert_memory_equal(text, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44);
    assert_string_equal(text + 340, "/w==");
    assert_non_null(strchr(text, '+'));
    assert_int_equal(sb_b64_decode(text, len, back), 256);
    assert_memory_equal(in, back, 256);
}

static void test_round_trip_lengths(void **state)
{
    unsigned char in[300], back[300];
    char text[401];

    srand(12345);
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)rand();
        size_t len = sb_b64_encode(in, n, text);
        assert_int_equal(len, sb_b64_encoded_len(n));
        assert_int_equal(text[len], '\0');
        assert_true(sb_b64_decoded_max(len) >= n);
        long got = sb_b64_decode(text, len, back);
        assert_int_equal(got, (long)n);
        assert_memory_equal(in, back, n);
    }
}

/* Every single character, placed in the first position of a quantum, is
 * accepted exactly when it is in the alphabet. */
static void test_decode_charset(void **state)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char out[8];

    for (int c = 0; c < 256; c++) {
        char q[8] = {(char)c, 'A', 'A', 'A', 'A', 'A', 'A', 'A'};
        int valid = c != 0 && strchr(alpha, c) != NULL;
        long got = sb_b64_decode(q, 8, out);
        assert_int_equal(got, valid ? 6 : -1);
        if (valid)
            assert_int_equal(out[0] >> 2, (int)(strchr(alpha, c) - alpha));
        /* Same character in the final (padding-aware) quantum. */
        char r[4] = {'A', 'A', 'A', (char)c};
        got = sb_b64_decode(r, 4, out);
        assert_int_equal(got, valid ? 3 : (c == '=' ? 2 : -1));
    }
}

static void test_decode_malformed(void **state)
{
    static const char *bad[] = {
        "Z",         /* length not a multiple of 4 */
        "Zg",        "Zg=",       "Zm9vY",    "Zm9vYg=",
        "====",      /* padding only */
        "Z===",      /* three pad characters */
        "=Zg=",      "Zg=A",      /* pad followed by data */
        "Zm=v",      /* pad in the middle of a quantum */
        "Zg==Zg==",  /* pad in a non-final quantum */
        "Zm9=Zm9v",  "Zm9v Yg==", /* whitespace */
        "Zm9v\nYg==", "Zm9v-_==", /* URL-safe alphabet */
        "Zm9v\0Yg=",
    };
    unsigned char out[16];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 1)
            n = 8; /* embedded NUL */
        assert_int_equal(sb_b64_decode(bad[i], n, out), -1);
    }
}

static void test_decode_uses_length_not_nul(void **state)
{
    unsigned char out[8];
    /* Lengths that are not multiples of 4 fail even when the bytes that
     * follow would complete a valid quantum. */
    for (size_t n = 1; n < 8; n++)
        if (n != 4)
            assert_int_equal(sb_b64_decode("Zm9vYmFy", n, out), -1);
    /* Only the first 4 characters are considered. */
    assert_int_equal(sb_b64_decode("Zm9vYmFy", 4, out), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(sb_b64_decode("", 0, out), 0);
}

static void test_nonzero_trailing_bits_accepted(void **state)
{
    unsigned char out[4];
    /* "Zh==" has non-zero unused bits; documented as accepted. */
    assert_int_equal(sb_b64_decode("Zh==", 4, out), 1);
    assert_int_equal(out[0], 'f');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_all_byte_values),
        cmocka_unit_test(test_round_trip_lengths),
        cmocka_unit_test(test_decode_charset),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_uses_length_not_nul),
        cmocka_unit_test(test_nonzero_trailing_bits_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
