/*
 * sb_id.h - random, type-prefixed identifiers and raw random bytes.
 *
 * Every persistent object gets an id like "biz_7k3m0q9x2v5w8r1t4c6d":
 * a short type prefix, an underscore, then 20 characters of lowercase
 * Crockford-style base32 (100 random bits from getrandom(2)).  The prefix
 * makes ids self-describing in logs and URLs; the alphabet avoids i, l, o
 * and u so ids survive being read aloud or retyped.
 */
#ifndef SB_ID_H
#define SB_ID_H

#include <stddef.h>

#define SB_ID_MAX 64        /* buffer size that fits any id we generate */
#define SB_ID_RAND_CHARS 20 /* random characters after the prefix */

/* Write "<prefix>_<20 random base32 chars>" into out (NUL-terminated).
 * The '_' is added unless prefix is empty or already ends with '_'.
 * Aborts if out cannot hold the result or the kernel RNG fails. */
void sb_id_new(const char *prefix, char *out, size_t outlen);

/* Fill buf with n bytes from getrandom(2); 0 on success, -1 on failure. */
int sb_random_bytes(void *buf, size_t n);

#endif /* SB_ID_H */
