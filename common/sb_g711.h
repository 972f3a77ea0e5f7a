/*
 * sb_g711.h - G.711 mu-law (PCMU) companding.
 *
 * Telephony media arrives as 8 kHz mu-law; speech engines want 16-bit
 * linear PCM.  These are the conversions between the two, bit-exact with
 * the classic CCITT/Sun reference code (bias 0x84, clip 32635, no
 * zero-trap), so 0xFF is positive zero / silence.
 */
#ifndef SB_G711_H
#define SB_G711_H

#include <stddef.h>
#include <stdint.h>

/* Compress one 16-bit linear sample to a mu-law byte. */
unsigned char sb_ulaw_encode(int16_t pcm);

/* Expand one mu-law byte to a 16-bit linear sample (table lookup). */
int16_t sb_ulaw_decode(unsigned char u);

/* Compress n samples from in to n bytes in out. */
void sb_ulaw_encode_buf(const int16_t *in, size_t n, unsigned char *out);

/* Expand n mu-law bytes from in to n samples in out. */
void sb_ulaw_decode_buf(const unsigned char *in, size_t n, int16_t *out);

#endif /* SB_G711_H */
