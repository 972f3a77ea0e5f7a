/*
 * sb_time_test.c - unit tests for sb_time: clocks, ISO-8601 formatting and
 * parsing (offsets, fractions, leap years, malformed input), and local
 * minutes in named zones including DST edges and concurrent callers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_time.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = 0x5a5a;
    if (sb_time_parse_iso(s, &ms) != 0)
        fail_msg("expected '%s' to parse", s);
    return ms;
}

static void test_clocks(void **state)
{
    int64_t now = sb_now_ms();
    /* Somewhere between 2020 and 2100. */
    assert_true(now > 1577836800000LL);
    assert_true(now < 4102444800000LL);
    assert_true(llabs(now - (int64_t)time(NULL) * 1000) < 2000);

    int64_t m1 = sb_mono_ms(), u1 = sb_mono_us();
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t m2 = sb_mono_ms(), u2 = sb_mono_us();
    assert_true(m2 - m1 >= 19);
    assert_true(u2 - u1 >= 19000);
    assert_true(llabs(u1 / 1000 - m1) <= 1);
}

static void test_format(void **state)
{
    char buf[SB_ISO_LEN];

    assert_string_equal(sb_time_iso(0, buf), "1970-01-01T00:00:00.000Z");
    assert_ptr_equal(sb_time_iso(0, buf), buf);
    assert_string_equal(sb_time_iso(1795443050123LL, buf),
                        "2026-11-23T14:10:50.123Z");
    assert_string_equal(sb_time_iso(1709164800000LL, buf),
                        "2024-02-29T00:00:00.000Z");
    assert_string_equal(sb_time_iso(-1, buf), "1969-12-31T23:59:59.999Z");
    assert_string_equal(sb_time_iso(-1000, buf), "1969-12-31T23:59:59.000Z");
    assert_string_equal(sb_time_iso(-1001, buf), "1969-12-31T23:59:58.999Z");
    assert_string_equal(sb_time_iso(253402300799999LL, buf),
                        "9999-12-31T23:59:59.999Z");
    assert_string_equal(sb_time_iso(7, buf), "1970-01-01T00:00:00.007Z");
}

static void test_parse_forms(void **state)
{
    const int64_t base = 1795443050123LL; /* 2026-11-23T14:10:50.123Z */

    assert_int_equal(parse_ok("2026-11-23T14:10:50.123Z"), base);
    assert_int_equal(parse_ok("2026-11-23t14:10:50.123z"), base);
    assert_int_equal(parse_ok("2026-11-23 14:10:50.123Z"), base);
    assert_int_equal(parse_ok("2026-11-23T14:10:50.123"), base);
    assert_int_equal(parse_ok("2026-11-23T14:10:50,123Z"), base);
    assert_int_equal(parse_ok("2026-11-23T14:10:50.123456789Z"), base);
    assert_int_equal(parse_ok("2026-11-23T14:10:50.1Z"), base - 23);
    assert_int_equal(parse_ok("2026-11-23T14:10:50.12Z"), base - 3);
    assert_int_equal(parse_ok("2026-11-23T14:10:50Z"), base - 123);
    assert_int_equal(parse_ok("2026-11-23T14:10Z"), base - 50123);
    assert_int_equal(parse_ok("2026-11-23T14:10"), base - 50123);
    assert_int_equal(parse_ok("2026-11-23"), base - 50123 - 14 * 3600000LL -
                                                 10 * 60000LL);
    assert_int_equal(parse_ok("1970-01-01"), 0);
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z"), -1);
}

static void test_parse_offsets(void **state)
{
    const int64_t base = 1795443050000LL; /* 2026-11-23T14:10:50Z */

    assert_int_equal(parse_ok("2026-11-23T16:10:50+02:00"), base);
    assert_int_equal(parse_ok("2026-11-23T16:10:50+0200"), base);
    assert_int_equal(parse_ok("2026-11-23T09:10:50-05:00"), base);
    assert_int_equal(parse_ok("2026-11-23T09:10:50-0500"), base);
    assert_int_equal(parse_ok("2026-11-23T19:40:50+05:30"), base);
    assert_int_equal(parse_ok("2026-11-23T14:10:50+00:00"), base);
    assert_int_equal(parse_ok("2026-11-23T14:10:50-00:00"), base);
    /* Offset crossing a day and year boundary. */
    assert_int_equal(parse_ok("2027-01-01T01:00:00+02:00"),
                     parse_ok("2026-12-31T23:00:00Z"));
    assert_int_equal(parse_ok("2026-12-31T20:00-05:00"),
                     parse_ok("2027-01-01T01:00Z"));
    assert_int_equal(parse_ok("2026-11-23T16:10:50.5+02:00"), base + 500);
}

static void test_parse_dates(void **state)
{
    int64_t ms;

    assert_int_equal(parse_ok("2024-02-29"), 1709164800000LL);
    assert_int_equal(sb_time_parse_iso("2026-02-29", &ms), -1);
    assert_int_equal(sb_time_parse_iso("2026-02-29T00:00:00Z", &ms), -1);
    assert_int_equal(parse_ok("2000-02-29"), 951782400000LL);   /* /400 leap */
    assert_int_equal(sb_time_parse_iso("1900-02-29", &ms), -1); /* /100 not */
    assert_int_equal(sb_time_parse_iso("2100-02-29", &ms), -1);
    parse_ok("2026-02-28");
    parse_ok("2026-12-31T23:59:59.999Z");
    parse_ok("2026-01-31");
    parse_ok("2026-03-31");
    parse_ok("2026-04-30");
    parse_ok("2026-06-30");
    parse_ok("2026-09-30");
    parse_ok("2026-11-30");
    assert_int_equal(sb_time_parse_iso("2026-04-31", &ms), -1);
    assert_int_equal(sb_time_parse_iso("2026-06-31", &ms), -1);
    assert_int_equal(sb_time_parse_iso("2026-09-31", &ms), -1);
    assert_int_equal(sb_time_parse_iso("2026-11-31", &ms), -1);
    assert_int_equal(sb_time_parse_iso("2026-01-32", &ms), -1);
}

static void test_parse_invalid(void **state)
{
    static const char *bad[] = {
        "", "2026", "2026-11", "2026-1-23", "26-11-23", "2026/11/23",
        "2026-00-10", "2026-13-10", "2026-11-00", "2026-11-23T",
        "2026-11-23T14", "2026-11-23T14:", "2026-11-23T14:1",
        "2026-11-23T24:00:00Z", "2026-11-23T23:60:00Z",
        "2026-11-23T23:59:60Z", "2026-11-23T14:10:50.Z",
        "2026-11-23T14:10.5Z", /* fraction only after seconds */
        "2026-11-23T14:10:50ZZ", "2026-11-23T14:10:50Z ", " 2026-11-23",
        "2026-11-23x", "2026-11-23Z", "2026-11-23T14:10:50+2",
        "2026-11-23T14:10:50+02", "2026-11-23T14:10:50+02:", "2026-11-23T14:10:50+02:0",
        "2026-11-23T14:10:50+24:00", "2026-11-23T14:10:50+02:60",
        "2026-11-23T14:10:50+02:00x", "2026-11-23T14:10:50 +02:00",
        "2026-11-23T14:10:50UTC", "2026-11-23T14-10-50",
        "2026-11-23T1a:10:50", "+2026-11-23", "2026-11-23\n",
    };
    int64_t ms = 42;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sb_time_parse_iso(bad[i], &ms) != -1)
            fail_msg("'%s' should be rejected", bad[i]);
    }
    assert_int_equal(ms, 42); /* untouched on failure */
    assert_int_equal(sb_time_parse_iso(NULL, &ms), -1);
    assert_int_equal(sb_time_parse_iso("2026-11-23", NULL), -1);
}

static void test_round_trip(void **state)
{
    char buf[SB_ISO_LEN];
    int64_t ms;

    /* Pseudo-random instants across 1900..2100, positive and negative. */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = (int64_t)(x % 6311390400000ULL) - 2208988800000LL;
        sb_time_iso(v, buf);
        assert_int_equal(strlen(buf), 24);
        assert_int_equal(sb_time_parse_iso(buf, &ms), 0);
        assert_int_equal(ms, v);
    }
}

static int local_min(int64_t ms, const char *tz)
{
    int m = -1;
    if (sb_local_minutes(ms, tz, &m) != 0)
        fail_msg("zone %s rejected", tz);
    assert_true(m >= 0 && m < 1440);
    return m;
}

static void test_local_minutes(void **state)
{
    int64_t winter = parse_ok("2026-01-15T12:00:00Z");
    int64_t summer = parse_ok("2026-07-15T12:00:00Z");

    assert_int_equal(local_min(winter, "UTC"), 720);
    assert_int_equal(local_min(winter, "Etc/UTC"), 720);
    assert_int_equal(local_min(winter, "America/New_York"), 7 * 60);
    assert_int_equal(local_min(winter, "Europe/Berlin"), 13 * 60);
    assert_int_equal(local_min(summer, "UTC"), 720);
    assert_int_equal(local_min(summer, "America/New_York"), 8 * 60);
    assert_int_equal(local_min(summer, "Europe/Berlin"), 14 * 60);
    assert_int_equal(local_min(winter, "Asia/Kolkata"), 17 * 60 + 30);
    assert_int_equal(local_min(winter, "America/Port-au-Prince"), 7 * 60);
    assert_int_equal(local_min(winter, "Etc/GMT+5"), 7 * 60); /* POSIX sign */
    /* Seconds/ms do not round up. */
    assert_int_equal(local_min(winter + 59999, "UTC"), 720);
    assert_int_equal(local_min(winter - 1, "UTC"), 719);
    /* Wraps past midnight. */
    assert_int_equal(local_min(parse_ok("2026-01-15T03:30:00Z"),
                               "America/New_York"), 22 * 60 + 30);

    /* US spring-forward 2026-03-08 at 02:00 EST = 07:00Z. */
    assert_int_equal(local_min(parse_ok("2026-03-08T06:59:00Z"),
                               "America/New_York"), 1 * 60 + 59);
    assert_int_equal(local_min(parse_ok("2026-03-08T07:00:00Z"),
                               "America/New_York"), 3 * 60);
    /* EU fall-back 2026-10-25 at 01:00Z. */
    assert_int_equal(local_min(parse_ok("2026-10-25T00:59:00Z"),
                               "Europe/Berlin"), 2 * 60 + 59);
    assert_int_equal(local_min(parse_ok("2026-10-25T01:00:00Z"),
                               "Europe/Berlin"), 2 * 60);
}

static void test_local_minutes_rejects(void **state)
{
    static const char *bad[] = {
        "", "Nowhere/City", "america/new_york", "America", "America/",
        "/usr/share/zoneinfo/UTC", "../zoneinfo/UTC", "America/../UTC",
        "..", "zone.tab", "iso3166.tab", "tzdata.zi", "UTC ", "UTC\n",
        "America/New York", "Europe/Berlin;rm", "EST5EDT,M3.2.0,M11.1.0",
    };
    int m = 1234;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sb_local_minutes(0, bad[i], &m) != -1)
            fail_msg("zone '%s' should be rejected", bad[i]);
    }
    assert_int_equal(m, 1234);
    assert_int_equal(sb_local_minutes(0, NULL, &m), -1);
    assert_int_equal(sb_local_minutes(0, "UTC", NULL), -1);

    char longname[300];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(sb_local_minutes(0, longname, &m), -1);
}

/* The caller's TZ, set or unset, is what it was before the call. */
static void test_local_minutes_restores_tz(void **state)
{
    char *orig = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

    setenv("TZ", "Asia/Tokyo", 1);
    tzset();
    assert_int_equal(local_min(0, "America/New_York"), 19 * 60);
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    struct tm tm;
    time_t t = 0;
    localtime_r(&t, &tm);
    assert_int_equal(tm.tm_hour, 9); /* Tokyo is back in effect */

    unsetenv("TZ");
    tzset();
    assert_int_equal(local_min(0, "Europe/Berlin"), 60);
    assert_null(getenv("TZ"));

    if (orig)
        setenv("TZ", orig, 1);
    tzset();
    free(orig);
}

struct tz_job {
    const char *tz;
    int want;
    int bad;
};

static void *tz_worker(void *arg)
{
    struct tz_job *job = arg;
    int64_t winter = 1768478400000LL; /* 2026-01-15T12:00:00Z */

    for (int i = 0; i < 300; i++) {
        int m = -1;
        if (sb_local_minutes(winter, job->tz, &m) != 0 || m != job->want)
            job->bad++;
    }
    return NULL;
}

static void test_local_minutes_threads(void **state)
{
    struct tz_job jobs[4] = {
        {"America/New_York", 7 * 60, 0},
        {"Europe/Berlin", 13 * 60, 0},
        {"Asia/Tokyo", 21 * 60, 0},
        {"UTC", 12 * 60, 0},
    };
    pthread_t th[4];

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, tz_worker, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_dates),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_local_minutes),
        cmocka_unit_test(test_local_minutes_rejects),
        cmocka_unit_test(test_local_minutes_restores_tz),
        cmocka_unit_test(test_local_minutes_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
