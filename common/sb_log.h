/*
 * sb_log.h — the one logging module.
 *
 * Every line carries the time, the daemon, the level, a short stable event
 * name and key=value details:
 *
 *   text: 2026-11-23T14:10:50.123Z sb-store info store.listening url=ipc://...
 *   json: {"ts":"...","daemon":"sb-store","level":"info","event":"store.listening","url":"ipc://..."}
 *
 * Details are written printf-style as space-separated key=value pairs; a value
 * with spaces is double-quoted ("msg=\"a b\""; sb_log_quote helps). Values
 * whose key names a secret (token, secret, password, key, authorization, ...)
 * are replaced by "[redacted]" in both formats. One write(2) per line, so
 * lines from threads never interleave.
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stddef.h>

typedef enum { SB_LOG_ERROR, SB_LOG_WARN, SB_LOG_INFO, SB_LOG_DEBUG } sb_log_level;

/* Set the daemon name, format ("text"/"json") and level ("error".."debug"). Returns -1 on a bad name. */
int sb_log_setup(const char *daemon, const char *format, const char *level);
/* Send log lines to a file instead of stderr (NULL = stderr). Returns -1 if it cannot be opened. */
int sb_log_set_file(const char *path);
/* Reopen the log file (SIGHUP); a no-op when logging to stderr. */
void sb_log_reopen(void);
/* Raise the level to debug (-v). */
void sb_log_verbose(void);
/* 1 if a line at this level would be written. */
int sb_log_enabled(sb_log_level lvl);
/* Write one line: an event name plus printf-style key=value details (fmt may be NULL). */
void sb_log(sb_log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Copy s into out as a log-safe value: quoted if it has spaces/quotes, control chars escaped, truncated. */
const char *sb_log_quote(const char *s, char *out, size_t outlen);

#define sb_error_log(ev, ...) sb_log(SB_LOG_ERROR, ev, __VA_ARGS__)
#define sb_warn(ev, ...)      sb_log(SB_LOG_WARN, ev, __VA_ARGS__)
#define sb_info(ev, ...)      sb_log(SB_LOG_INFO, ev, __VA_ARGS__)
#define sb_debug(ev, ...)     do { if (sb_log_enabled(SB_LOG_DEBUG)) sb_log(SB_LOG_DEBUG, ev, __VA_ARGS__); } while (0)

#endif
