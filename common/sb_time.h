/*
 * sb_time.h - clocks, ISO-8601 formatting/parsing and time-zone lookups.
 *
 * All persisted and wire timestamps in Switchboard are int64 milliseconds
 * since the Unix epoch (UTC), rendered as "2026-11-23T14:10:50.123Z".
 * Durations and timeouts use the monotonic clock.  The one place local
 * time matters - business hours of a tenant in its IANA zone - goes
 * through sb_local_minutes(), which is safe to call from any thread.
 */
#ifndef SB_TIME_H
#define SB_TIME_H

#include <stdint.h>
#include <time.h>

#define SB_ISO_LEN 32 /* buffer for sb_time_iso(), NUL included */

/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the epoch. */
int64_t sb_now_ms(void);

/* Monotonic clock (CLOCK_MONOTONIC) in milliseconds. */
int64_t sb_mono_ms(void);

/* Monotonic clock (CLOCK_MONOTONIC) in microseconds. */
int64_t sb_mono_us(void);

/* Format ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out and return out;
 * out is "" if the instant is not representable. */
char *sb_time_iso(int64_t ms, char out[SB_ISO_LEN]);

/* Parse an ISO-8601 date or date-time into ms since the epoch; 0 or -1.
 * Accepts YYYY-MM-DD (midnight UTC) or YYYY-MM-DD{T|t| }HH:MM[:SS[.f+]]
 * followed by Z, +HH:MM, -HH:MM, +HHMM, -HHMM or nothing (UTC).  Fields
 * are range-checked (incl. leap years); fractions beyond ms are truncated;
 * any trailing character is an error. */
int sb_time_parse_iso(const char *s, int64_t *ms);

/* Minutes since local midnight (0..1439) of instant ms in IANA zone tz,
 * e.g. "America/New_York"; 0 ok, -1 if tz is unknown or unsafe.
 * Thread-safe: see the note in sb_time.c about the TZ lock. */
int sb_local_minutes(int64_t ms, const char *tz, int *minutes_of_day);

/* clk's time ms milliseconds from now, normalised: a deadline for pthread_cond_timedwait(). */
struct timespec sb_timespec_in(clockid_t clk, long long ms);

#endif /* SB_TIME_H */
