/*
 * sb_g711_test.c - unit tests for sb_g711: known code points, silence,
 * bit-exactness against an independent transcription of the CCITT/Sun
 * reference, round-trip error bounds over every 16-bit sample, decode
 * monotonicity and the buffer helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "sb_g711.h"

/* ---- reference implementation (Sun g711.c style, with exp_lut) ---- */

static int ref_exp_lut[256];

static void ref_init(void)
{
    for (int i = 0; i < 256; i++) {
        int e = 0;
        for (int v = i >> 1; v; v >>= 1)
            e++;
        ref_exp_lut[i] = e;
    }
}

static unsigned char ref_linear2ulaw(int sample)
{
    int sign = (sample >> 8) & 0x80;
    if (sign)
        sample = -sample;
    if (sample > 32635)
        sample = 32635;
    sample += 0x84;
    int exponent = ref_exp_lut[(sample >> 7) & 0xFF];
    int mantissa = (sample >> (exponent + 3)) & 0x0F;
    return (unsigned char)~(sign | (exponent << 4) | mantissa);
}

static int ref_ulaw2linear(unsigned char u)
{
    u = (unsigned char)~u;
    int sign = u & 0x80, exponent = (u >> 4) & 7, mantissa = u & 0x0F;
    int sample = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    return sign ? -sample : sample;
}

/* ---- tests ---- */

static void test_known_values(void **state)
{
    assert_int_equal(sb_ulaw_decode(0xFF), 0);
    assert_int_equal(sb_ulaw_decode(0x7F), 0);
    assert_int_equal(sb_ulaw_decode(0x00), -32124);
    assert_int_equal(sb_ulaw_decode(0x80), 32124);
    assert_int_equal(sb_ulaw_decode(0xFE), 8);
    assert_int_equal(sb_ulaw_decode(0x7E), -8);
    assert_int_equal(sb_ulaw_decode(0xF0), 120);
    assert_int_equal(sb_ulaw_decode(0xEF), 132);

    assert_int_equal(sb_ulaw_encode(0), 0xFF);
    assert_int_equal(sb_ulaw_encode(-1), 0x7F);
    assert_int_equal(sb_ulaw_encode(32767), 0x80);
    assert_int_equal(sb_ulaw_encode(-32768), 0x00);
    assert_int_equal(sb_ulaw_encode(32124), 0x80);
    assert_int_equal(sb_ulaw_encode(8), 0xFE);
}

static void test_matches_reference(void **state)
{
    ref_init();
    for (int u = 0; u < 256; u++)
        assert_int_equal(sb_ulaw_decode((unsigned char)u),
                         ref_ulaw2linear((unsigned char)u));
    for (int x = INT16_MIN; x <= INT16_MAX; x++)
        assert_int_equal(sb_ulaw_encode((int16_t)x), ref_linear2ulaw(x));
}

/* encode(decode(u)) == u for every code except negative zero. */
static void test_code_round_trip(void **state)
{
    for (int u = 0; u < 256; u++) {
        unsigned char back = sb_ulaw_encode(sb_ulaw_decode((unsigned char)u));
        assert_int_equal(back, u == 0x7F ? 0xFF : u);
    }
}

/* Within the unclipped range the reconstruction sits in the middle of its
 * quantisation interval: |error| <= step/2 <= (|x| + 0x84) / 32.  Beyond
 * the clip level the error grows to at most 32768 - 32124 = 644. */
static void test_sample_round_trip_error(void **state)
{
    for (int x = INT16_MIN; x <= INT16_MAX; x++) {
        int y = sb_ulaw_decode(sb_ulaw_encode((int16_t)x));
        int err = abs(y - x);
        int mag = abs(x);
        if (mag <= 32635)
            assert_true(32 * err <= mag + 0x84);
        else
            assert_true(err <= 644);
        /* Sign is preserved (zero maps to zero). */
        if (y != 0)
            assert_true((x < 0) == (y < 0));
        if (mag <= 3)
            assert_int_equal(y, 0);
    }
}

/* Positive half: 0x80 (largest) down to 0xFF (zero), strictly decreasing.
 * Negative half: 0x00 (most negative) up to 0x7F (zero), strictly
 * increasing.  Encode is monotonic non-decreasing in the same sense. */
static void test_monotonic(void **state)
{
    for (int u = 0x80; u < 0xFF; u++)
        assert_true(sb_ulaw_decode((unsigned char)u) >
                    sb_ulaw_decode((unsigned char)(u + 1)));
    for (int u = 0x00; u < 0x7F; u++)
        assert_true(sb_ulaw_decode((unsigned char)u) <
                    sb_ulaw_decode((unsigned char)(u + 1)));
    for (int x = INT16_MIN; x < INT16_MAX; x++)
        assert_true(sb_ulaw_decode(sb_ulaw_encode((int16_t)x)) <=
                    sb_ulaw_decode(sb_ulaw_encode((int16_t)(x + 1))));
}

static void test_buffers(void **state)
{
    int16_t pcm[512], back[512];
    unsigned char u[512];

    for (int i = 0; i < 512; i++)
        pcm[i] = (int16_t)((i * 127) - 32768 + (i & 1 ? 17 : -3));
    sb_ulaw_encode_buf(pcm, 512, u);
    for (int i = 0; i < 512; i++)
        assert_int_equal(u[i], sb_ulaw_encode(pcm[i]));
    sb_ulaw_decode_buf(u, 512, back);
    for (int i = 0; i < 512; i++)
        assert_int_equal(back[i], sb_ulaw_decode(u[i]));

    /* n == 0 touches nothing. */
    u[0] = 0x55;
    sb_ulaw_encode_buf(pcm, 0, u);
    assert_int_equal(u[0], 0x55);
    back[0] = 1234;
    sb_ulaw_decode_buf(u, 0, back);
    assert_int_equal(back[0], 1234);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_code_round_trip),
        cmocka_unit_test(test_sample_round_trip_error),
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
