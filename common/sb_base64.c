/*
 * sb_base64.c - standard base64 encode/decode (RFC 4648), table driven.
 *
 * Encoding emits four characters per three input bytes straight from a
 * 64-entry alphabet.  Decoding maps each character through a 256-entry
 * table in which invalid characters (and '=') have the high bit set, so a
 * whole quantum is validated with one OR and one test: this keeps the
 * common path - full quanta in the middle of a media frame - branch-light.
 * Only the final quantum needs to look at padding.
 */
#include "sb_base64.h"

#include <stdint.h>

#define BAD 0x80 /* decode table marker: not a base64 alphabet character */

static const char enc_tab[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Built at compile time: every entry BAD except the 64 alphabet chars. */
#define R8(x) x, x, x, x, x, x, x, x
#define R16(x) R8(x), R8(x)
static const uint8_t dec_tab[256] = {
    R16(BAD), R16(BAD),                                      /* 0x00-0x1f */
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,                  /* 0x20-0x27 */
    BAD, BAD, BAD, 62,  BAD, BAD, BAD, 63,                   /* ( ) * + , - . / */
    52,  53,  54,  55,  56,  57,  58,  59,                   /* 0-7 */
    60,  61,  BAD, BAD, BAD, BAD, BAD, BAD,                  /* 8 9 : ; < = > ? */
    BAD, 0,   1,   2,   3,   4,   5,   6,                    /* @ A-G */
    7,   8,   9,   10,  11,  12,  13,  14,                   /* H-O */
    15,  16,  17,  18,  19,  20,  21,  22,                   /* P-W */
    23,  24,  25,  BAD, BAD, BAD, BAD, BAD,                  /* X-Z [ \ ] ^ _ */
    BAD, 26,  27,  28,  29,  30,  31,  32,                   /* ` a-g */
    33,  34,  35,  36,  37,  38,  39,  40,                   /* h-o */
    41,  42,  43,  44,  45,  46,  47,  48,                   /* p-w */
    49,  50,  51,  BAD, BAD, BAD, BAD, BAD,                  /* x-z { | } ~ DEL */
    R16(BAD), R16(BAD), R16(BAD), R16(BAD),                  /* 0x80-0xbf */
    R16(BAD), R16(BAD), R16(BAD), R16(BAD),                  /* 0xc0-0xff */
};
#undef R16
#undef R8

size_t sb_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t sb_b64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    char *o = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = enc_tab[v >> 18];
        o[1] = enc_tab[(v >> 12) & 63];
        o[2] = enc_tab[(v >> 6) & 63];
        o[3] = enc_tab[v & 63];
        o += 4;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        o[0] = enc_tab[v >> 18];
        o[1] = enc_tab[(v >> 12) & 63];
        o[2] = '=';
        o[3] = '=';
        o += 4;
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        o[0] = enc_tab[v >> 18];
        o[1] = enc_tab[(v >> 12) & 63];
        o[2] = enc_tab[(v >> 6) & 63];
        o[3] = '=';
        o += 4;
    }
    *o = '\0';
    return (size_t)(o - out);
}

size_t sb_b64_decoded_max(size_t n)
{
    return (n + 3) / 4 * 3;
}

/* Decode the last quantum, which may carry one or two '=' characters.
 * Returns the number of bytes written (1..3) or -1. */
static int decode_last(const unsigned char *q, unsigned char *o)
{
    uint8_t a = dec_tab[q[0]], b = dec_tab[q[1]];
    uint8_t c = dec_tab[q[2]], d = dec_tab[q[3]];

    if ((a | b) & BAD)
        return -1;
    if (q[2] == '=') {
        if (q[3] != '=')
            return -1;
        o[0] = (unsigned char)(a << 2 | b >> 4);
        return 1;
    }
    if (c & BAD)
        return -1;
    if (q[3] == '=') {
        o[0] = (unsigned char)(a << 2 | b >> 4);
        o[1] = (unsigned char)(b << 4 | c >> 2);
        return 2;
    }
    if (d & BAD)
        return -1;
    o[0] = (unsigned char)(a << 2 | b >> 4);
    o[1] = (unsigned char)(b << 4 | c >> 2);
    o[2] = (unsigned char)(c << 6 | d);
    return 3;
}

long sb_b64_decode(const char *in, size_t n, unsigned char *out)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned char *o = out;
    size_t i = 0;
    int last;

    if (n % 4 != 0)
        return -1;
    if (n == 0)
        return 0;

    for (; i + 4 < n; i += 4) {
        uint8_t a = dec_tab[p[i]], b = dec_tab[p[i + 1]];
        uint8_t c = dec_tab[p[i + 2]], d = dec_tab[p[i + 3]];
        if ((a | b | c | d) & BAD)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
        o[0] = (unsigned char)(v >> 16);
        o[1] = (unsigned char)(v >> 8);
        o[2] = (unsigned char)v;
        o += 3;
    }
    if ((last = decode_last(p + i, o)) < 0)
        return -1;
    return (long)(o - out) + last;
}
