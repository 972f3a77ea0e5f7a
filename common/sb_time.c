/*
 * sb_time.c - clocks, ISO-8601 formatting/parsing, per-zone local time.
 *
 * Parsing is a small hand-written scanner rather than strptime(3):
 * strptime is locale-sensitive, does not validate day-of-month against the
 * month, and has no portable way to read numeric UTC offsets or
 * fractional seconds.  The broken-down UTC fields are range-checked here
 * and converted with timegm(3).
 *
 * Local time in an arbitrary zone.  glibc offers no re-entrant
 * "localtime in zone X", so sb_local_minutes() temporarily points the
 * process-wide TZ at the zone file and calls tzset() + localtime_r(), then
 * restores TZ and calls tzset() again.  All of that happens under
 * tz_lock, so concurrent sb_local_minutes() calls never see each other's
 * zone.  The one thing the lock cannot cover: code elsewhere in the
 * process that calls localtime_r()/mktime()/strftime("%Z") at the same
 * moment may briefly observe the borrowed zone.  Switchboard code works
 * in UTC (gmtime_r/timegm) everywhere else, so this is acceptable; do not
 * add local-time calls outside this file.
 *
 * The zone name is validated before it reaches TZ: it must be a relative
 * path of [A-Za-z0-9_+-/] without "..", and /usr/share/zoneinfo/<tz> must
 * be a regular file starting with the "TZif" magic.  glibc silently falls
 * back to UTC for unknown zones, so without this check a typo would
 * quietly shift business hours.
 */
#include "sb_time.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo/"
#define TZ_NAME_MAX 128

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- clocks ------------------------------------------------------------ */

static struct timespec clock_now(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts;
}

int64_t sb_now_ms(void)
{
    struct timespec ts = clock_now(CLOCK_REALTIME);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sb_mono_ms(void)
{
    struct timespec ts = clock_now(CLOCK_MONOTONIC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sb_mono_us(void)
{
    struct timespec ts = clock_now(CLOCK_MONOTONIC);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Split ms into whole seconds (floored) and a 0..999 remainder. */
static time_t split_ms(int64_t ms, int *rem)
{
    int64_t sec = ms / 1000, r = ms % 1000;
    if (r < 0) {
        r += 1000;
        sec--;
    }
    *rem = (int)r;
    return (time_t)sec;
}

/* ---- formatting -------------------------------------------------------- */

char *sb_time_iso(int64_t ms, char out[SB_ISO_LEN])
{
    struct tm tm;
    int rem;
    time_t t = split_ms(ms, &rem);

    out[0] = '\0';
    if (gmtime_r(&t, &tm) == NULL)
        return out;
    int n = snprintf(out, SB_ISO_LEN, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
    if (n < 0 || n >= SB_ISO_LEN)
        out[0] = '\0';
    return out;
}

/* ---- parsing ----------------------------------------------------------- */

/* Read exactly n decimal digits at *p into *val, advancing *p. */
static int read_digits(const char **p, int n, int *val)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *val = v;
    return 0;
}

/* Consume character c at *p. */
static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Fractional seconds after '.' or ',': at least one digit; keep the first
 * three as milliseconds, ignore the rest. */
static int read_fraction(const char **p, int *frac_ms)
{
    const char *s = *p;
    int v = 0, n = 0;

    while (*s >= '0' && *s <= '9') {
        if (n < 3)
            v = v * 10 + (*s - '0');
        n++;
        s++;
    }
    if (n == 0)
        return -1;
    for (int i = n; i < 3; i++)
        v *= 10;
    *frac_ms = v;
    *p = s;
    return 0;
}

/* Z, +HH:MM, -HH:MM, +HHMM, -HHMM or nothing; offset in minutes east. */
static int read_offset(const char **p, int *off_min)
{
    int sign, h, m;

    *off_min = 0;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return 0; /* no designator: UTC; trailing junk caught by caller */
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (read_digits(p, 2, &h) != 0)
        return -1;
    if (**p == ':')
        (*p)++;
    if (read_digits(p, 2, &m) != 0 || h > 23 || m > 59)
        return -1;
    *off_min = sign * (h * 60 + m);
    return 0;
}

/* HH:MM[:SS[.fff]] into tm and *frac_ms. */
static int read_time(const char **p, struct tm *tm, int *frac_ms)
{
    int h, mi, sec = 0;

    if (read_digits(p, 2, &h) || expect(p, ':') || read_digits(p, 2, &mi))
        return -1;
    if (**p == ':') {
        (*p)++;
        if (read_digits(p, 2, &sec))
            return -1;
        if (**p == '.' || **p == ',') {
            (*p)++;
            if (read_fraction(p, frac_ms))
                return -1;
        }
    }
    if (h > 23 || mi > 59 || sec > 59)
        return -1;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = sec;
    return 0;
}

int sb_time_parse_iso(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, frac_ms = 0, off_min = 0;
    const char *p = s;

    if (s == NULL || ms == NULL)
        return -1;
    if (read_digits(&p, 4, &y) || expect(&p, '-') || read_digits(&p, 2, &mo) ||
        expect(&p, '-') || read_digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (read_time(&p, &tm, &frac_ms) || read_offset(&p, &off_min))
            return -1;
    }
    if (*p != '\0')
        return -1;

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm);
    *ms = (int64_t)t * 1000 + frac_ms - (int64_t)off_min * 60000;
    return 0;
}

/* ---- local time in a named zone --------------------------------------- */

/* Relative, no "..", only characters that appear in IANA zone names. */
static int tz_name_ok(const char *tz)
{
    size_t n = strlen(tz);

    if (n == 0 || n > TZ_NAME_MAX || tz[0] == '/' || strstr(tz, "..") != NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = tz[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+' ||
              c == '/'))
            return 0;
    }
    return 1;
}

/* A regular file beginning with the TZif magic. */
static int tz_file_ok(const char *path)
{
    struct stat st;
    char magic[4];
    int ok = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
        memcmp(magic, "TZif", 4) == 0)
        ok = 1;
    close(fd);
    return ok;
}

/* Under tz_lock: point TZ at spec, convert, restore TZ. */
static int localtime_in(const char *spec, time_t t, struct tm *tm)
{
    const char *cur = getenv("TZ");
    char *saved = NULL;
    int rc = 0;

    if (cur != NULL && (saved = strdup(cur)) == NULL)
        return -1;
    if (setenv("TZ", spec, 1) != 0) {
        free(saved);
        return -1;
    }
    tzset();
    if (localtime_r(&t, tm) == NULL)
        rc = -1;
    if (saved != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    return rc;
}

int sb_local_minutes(int64_t ms, const char *tz, int *minutes_of_day)
{
    char spec[1 + sizeof ZONEINFO_DIR + TZ_NAME_MAX];
    struct tm tm;
    int rem, rc;
    time_t t = split_ms(ms, &rem);

    if (tz == NULL || minutes_of_day == NULL || !tz_name_ok(tz))
        return -1;
    /* ":<absolute path>" makes glibc read exactly the file we checked. */
    snprintf(spec, sizeof spec, ":%s%s", ZONEINFO_DIR, tz);
    if (!tz_file_ok(spec + 1))
        return -1;

    pthread_mutex_lock(&tz_lock);
    rc = localtime_in(spec, t, &tm);
    pthread_mutex_unlock(&tz_lock);
    if (rc != 0)
        return -1;
    *minutes_of_day = tm.tm_hour * 60 + tm.tm_min;
    return 0;
}

struct timespec sb_timespec_in(clockid_t clk, long long ms)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
