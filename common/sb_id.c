/*
 * sb_id.c - type-prefixed random ids and a getrandom(2) wrapper.
 *
 * getrandom(2) with no flags blocks only until the kernel pool is first
 * initialised (early boot) and never returns short for requests <= 256
 * bytes once it has been, but we still loop on partial reads and EINTR so
 * the wrapper is correct for any size.  Each id character takes the low 5
 * bits of one random byte; 256 is a multiple of 32, so every character is
 * uniformly distributed.
 */
#include "sb_id.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char id_alphabet[32] = "0123456789abcdefghjkmnpqrstvwxyz";

int sb_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static void id_fail(const char *why)
{
    fprintf(stderr, "sb_id_new: %s\n", why);
    abort();
}

void sb_id_new(const char *prefix, char *out, size_t outlen)
{
    unsigned char rnd[SB_ID_RAND_CHARS];
    size_t plen = prefix ? strlen(prefix) : 0;
    int sep = plen > 0 && prefix[plen - 1] != '_';
    size_t need = plen + (size_t)sep + SB_ID_RAND_CHARS + 1;

    if (out == NULL || outlen < need)
        id_fail("output buffer too small");
    if (sb_random_bytes(rnd, sizeof rnd) != 0)
        id_fail("getrandom failed");

    if (plen > 0)
        memcpy(out, prefix, plen);
    if (sep)
        out[plen++] = '_';
    for (size_t i = 0; i < SB_ID_RAND_CHARS; i++)
        out[plen + i] = id_alphabet[rnd[i] & 31];
    out[plen + SB_ID_RAND_CHARS] = '\0';
}
