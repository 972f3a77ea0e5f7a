/*
 * sb_id_test.c - unit tests for sb_id: prefix handling, length, alphabet,
 * uniqueness over 100k ids, rough uniformity of characters, and
 * sb_random_bytes on small and large (multi-read) requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sb_id.h"

#define ALPHABET "0123456789abcdefghjkmnpqrstvwxyz"

static void assert_random_part(const char *s)
{
    assert_int_equal(strlen(s), SB_ID_RAND_CHARS);
    for (const char *p = s; *p; p++)
        assert_non_null(strchr(ALPHABET, *p));
}

static void test_prefix_and_shape(void **state)
{
    char id[SB_ID_MAX];

    sb_id_new("biz", id, sizeof id);
    assert_int_equal(strlen(id), 4 + SB_ID_RAND_CHARS);
    assert_memory_equal(id, "biz_", 4);
    assert_random_part(id + 4);

    /* A prefix that already ends in '_' is not doubled. */
    sb_id_new("call_", id, sizeof id);
    assert_int_equal(strlen(id), 5 + SB_ID_RAND_CHARS);
    assert_memory_equal(id, "call_", 5);
    assert_random_part(id + 5);

    /* Empty / NULL prefix: just the random part. */
    sb_id_new("", id, sizeof id);
    assert_random_part(id);
    sb_id_new(NULL, id, sizeof id);
    assert_random_part(id);
}

static void test_exact_fit(void **state)
{
    char id[4 + SB_ID_RAND_CHARS + 1 + 1];

    memset(id, '#', sizeof id);
    sb_id_new("biz", id, 4 + SB_ID_RAND_CHARS + 1);
    assert_int_equal(strlen(id), 4 + SB_ID_RAND_CHARS);
    assert_int_equal(id[sizeof id - 1], '#'); /* nothing written past outlen */

    /* The longest prefix that fits SB_ID_MAX. */
    char prefix[SB_ID_MAX];
    memset(prefix, 'p', sizeof prefix);
    prefix[SB_ID_MAX - SB_ID_RAND_CHARS - 2] = '\0';
    char big[SB_ID_MAX];
    sb_id_new(prefix, big, sizeof big);
    assert_int_equal(strlen(big), SB_ID_MAX - 1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_uniqueness_and_distribution(void **state)
{
    enum { N = 100000 };
    char *buf = malloc((size_t)N * SB_ID_MAX);
    char **ids = malloc(N * sizeof *ids);
    size_t counts[32] = {0};

    assert_non_null(buf);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        ids[i] = buf + (size_t)i * SB_ID_MAX;
        sb_id_new("usr", ids[i], SB_ID_MAX);
        assert_memory_equal(ids[i], "usr_", 4);
        for (const char *p = ids[i] + 4; *p; p++) {
            const char *at = strchr(ALPHABET, *p);
            assert_non_null(at);
            counts[at - ALPHABET]++;
        }
    }
    qsort(ids, N, sizeof *ids, cmp_str);
    for (int i = 1; i < N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);

    /* 2M characters over 32 symbols: 62500 expected each; +-5% is more
     * than 30 standard deviations, so a failure means real bias. */
    for (int c = 0; c < 32; c++) {
        assert_true(counts[c] > 59375);
        assert_true(counts[c] < 65625);
    }
    free(ids);
    free(buf);
}

static void test_random_bytes(void **state)
{
    unsigned char a[32], b[32];
    enum { BIG = 1 << 20 };

    assert_int_equal(sb_random_bytes(a, sizeof a), 0);
    assert_int_equal(sb_random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(sb_random_bytes(a, 0), 0);

    /* Large request: getrandom may return short; all bytes still filled. */
    unsigned char *big = calloc(1, BIG);
    assert_non_null(big);
    assert_int_equal(sb_random_bytes(big, BIG), 0);
    size_t zeros = 0;
    for (size_t i = 0; i < BIG; i++)
        zeros += big[i] == 0;
    /* Expected 4096; a tail left unfilled by a short read would push this
     * far higher. */
    assert_true(zeros < 5000);
    free(big);
}

/* A buffer too small for the id is a programming error: abort, never
 * truncate (a truncated id could collide). */
static void test_too_small_aborts(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char small[10];
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(2);
        sb_id_new("biz", small, sizeof small);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_and_shape),
        cmocka_unit_test(test_exact_fit),
        cmocka_unit_test(test_uniqueness_and_distribution),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_too_small_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
