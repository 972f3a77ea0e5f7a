/*
 * sb_log.c — text or JSON log lines with secret redaction.
 *
 * The details string is parsed into key=value tokens once per line; that is
 * what lets both formats redact by key and lets JSON carry proper fields.
 */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sb_log.h"

#define LINE_MAX_BYTES 4096

static char daemon_name[64] = "sb";
static int json_format;
static atomic_int cur_level = SB_LOG_INFO;
static atomic_int log_fd = 2;
static char log_path[512];
static pthread_mutex_t reopen_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Key fragments whose values are never written. */
static const char *const secret_keys[] = {
	"token", "secret", "password", "passwd", "authorization", "apikey",
	"api_key", "key", "signature", "cookie", NULL,
};

int sb_log_setup(const char *daemon, const char *format, const char *level)
{
	if (daemon)
		snprintf(daemon_name, sizeof daemon_name, "%s", daemon);
	if (format) {
		if (strcmp(format, "json") == 0)
			json_format = 1;
		else if (strcmp(format, "text") == 0)
			json_format = 0;
		else
			return -1;
	}
	if (level) {
		int found = -1;
		for (int i = 0; i < 4; i++)
			if (strcasecmp(level, level_names[i]) == 0)
				found = i;
		if (found < 0)
			return -1;
		cur_level = found;
	}
	return 0;
}

int sb_log_set_file(const char *path)
{
	if (!path || !*path) {
		int old = atomic_exchange(&log_fd, 2);
		if (old > 2)
			close(old);
		log_path[0] = '\0';
		return 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	snprintf(log_path, sizeof log_path, "%s", path);
	int old = atomic_exchange(&log_fd, fd);
	if (old > 2)
		close(old);
	return 0;
}

void sb_log_reopen(void)
{
	pthread_mutex_lock(&reopen_mu);
	if (log_path[0]) {
		char p[sizeof log_path];
		memcpy(p, log_path, sizeof p);
		sb_log_set_file(p);
	}
	pthread_mutex_unlock(&reopen_mu);
}

void sb_log_verbose(void)
{
	cur_level = SB_LOG_DEBUG;
}

int sb_log_enabled(sb_log_level lvl)
{
	return (int)lvl <= cur_level;
}

static int is_secret_key(const char *k, size_t n)
{
	char low[64];
	if (n >= sizeof low)
		n = sizeof low - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)k[i]);
	low[n] = '\0';
	for (int i = 0; secret_keys[i]; i++) {
		size_t sl = strlen(secret_keys[i]);
		/* match the whole key or a suffix after '_' / '.' (apiKey -> apikey) */
		if (n >= sl && strcmp(low + n - sl, secret_keys[i]) == 0 &&
		    (n == sl || !isalnum((unsigned char)low[n - sl - 1]) || sl > 3))
			return 1;
	}
	return 0;
}

/* Append with bound; returns new length (never past cap-1). */
static size_t put(char *buf, size_t len, size_t cap, const char *s, size_t n)
{
	if (len + 1 >= cap)
		return len;
	if (n > cap - 1 - len)
		n = cap - 1 - len;
	memcpy(buf + len, s, n);
	len += n;
	buf[len] = '\0';
	return len;
}

static size_t put_json_str(char *buf, size_t len, size_t cap, const char *s, size_t n)
{
	len = put(buf, len, cap, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			len = put(buf, len, cap, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			len = put(buf, len, cap, esc, 6);
		} else {
			len = put(buf, len, cap, (const char *)&s[i], 1);
		}
	}
	return put(buf, len, cap, "\"", 1);
}

/* Next key=value token of details: returns pointer after it, or NULL at end. */
static const char *next_kv(const char *p, const char **k, size_t *kl, const char **v, size_t *vl, int *quoted)
{
	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	*k = p;
	while (*p && *p != '=' && *p != ' ')
		p++;
	*kl = (size_t)(p - *k);
	*quoted = 0;
	if (*p != '=') {
		*v = p;
		*vl = 0;
		return p;
	}
	p++;
	if (*p == '"') {
		*quoted = 1;
		*v = ++p;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		*vl = (size_t)(p - *v);
		if (*p == '"')
			p++;
	} else {
		*v = p;
		while (*p && *p != ' ')
			p++;
		*vl = (size_t)(p - *v);
	}
	return p;
}

static size_t render_details(char *buf, size_t len, size_t cap, const char *details)
{
	const char *k, *v, *p = details;
	size_t kl, vl;
	int quoted;
	while ((p = next_kv(p, &k, &kl, &v, &vl, &quoted)) != NULL) {
		int secret = is_secret_key(k, kl);
		if (json_format) {
			len = put(buf, len, cap, ",", 1);
			len = put_json_str(buf, len, cap, k, kl);
			len = put(buf, len, cap, ":", 1);
			if (secret)
				len = put_json_str(buf, len, cap, "[redacted]", 10);
			else
				len = put_json_str(buf, len, cap, v, vl);
		} else {
			len = put(buf, len, cap, " ", 1);
			len = put(buf, len, cap, k, kl);
			if (!vl && !quoted && !secret)
				continue;
			len = put(buf, len, cap, "=", 1);
			if (secret)
				len = put(buf, len, cap, "[redacted]", 10);
			else if (quoted) {
				len = put(buf, len, cap, "\"", 1);
				len = put(buf, len, cap, v, vl);
				len = put(buf, len, cap, "\"", 1);
			} else
				len = put(buf, len, cap, v, vl);
		}
	}
	return len;
}

void sb_log(sb_log_level lvl, const char *event, const char *fmt, ...)
{
	if (!sb_log_enabled(lvl))
		return;
	char details[LINE_MAX_BYTES] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(details, sizeof details, fmt, ap);
		va_end(ap);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64];
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

	char line[LINE_MAX_BYTES + 512];
	size_t len;
	if (json_format) {
		len = (size_t)snprintf(line, sizeof line,
				       "{\"ts\":\"%s\",\"daemon\":\"%s\",\"level\":\"%s\",\"event\":", when,
				       daemon_name, level_names[lvl]);
		len = put_json_str(line, len, sizeof line - 2, event, strlen(event));
		len = render_details(line, len, sizeof line - 2, details);
		len = put(line, len, sizeof line, "}", 1);
	} else {
		len = (size_t)snprintf(line, sizeof line, "%s %s %s %s", when, daemon_name,
				       level_names[lvl], event);
		len = render_details(line, len, sizeof line - 1, details);
	}
	line[len++] = '\n';
	ssize_t w = write(atomic_load(&log_fd), line, len);
	(void)w;
}

const char *sb_log_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0;
	if (!s)
		s = "";
	int need = (*s == '\0') || strpbrk(s, " \"=\t\n\r") != NULL;
	if (need && o + 1 < outlen)
		out[o++] = '"';
	for (; *s && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			out[o++] = ' ';
		} else
			out[o++] = (char)c;
	}
	if (need && o + 1 < outlen)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}
