/*
 * sb_base64.h - standard base64 (RFC 4648 section 4, with '=' padding).
 *
 * Used on the audio path (Twilio-style media frames carry base64 mu-law),
 * for webhook signatures and for anything else that needs the standard
 * alphabet.  Both directions are table driven and allocation free: the
 * caller sizes the output with sb_b64_encoded_len() / sb_b64_decoded_max().
 *
 * The decoder is strict: no whitespace, no URL-safe alphabet, input length
 * must be a multiple of 4 and '=' may only appear as the final one or two
 * characters of the input.  Non-zero unused bits in the final quantum are
 * accepted (RFC 4648 section 3.5 makes rejecting them optional).
 */
#ifndef SB_BASE64_H
#define SB_BASE64_H

#include <stddef.h>

/* Length of the base64 text for n input bytes, excluding the NUL. */
size_t sb_b64_encoded_len(size_t n);

/* Encode n bytes into out (sb_b64_encoded_len(n) + 1 bytes); NUL-terminates,
 * returns the text length without the NUL. */
size_t sb_b64_encode(const void *in, size_t n, char *out);

/* Upper bound on the decoded size of n base64 characters. */
size_t sb_b64_decoded_max(size_t n);

/* Strictly decode n characters into out (sb_b64_decoded_max(n) bytes);
 * returns the decoded length, or -1 on any malformed input.  out may hold
 * partial garbage after a failure. */
long sb_b64_decode(const char *in, size_t n, unsigned char *out);

#endif /* SB_BASE64_H */
