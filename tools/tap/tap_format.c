/*
 * tap_format.c — turn one received event into one printable line.
 *
 * Human:  14:10:50.123 call.transcript      callSid=CA123 seq=3 role=user text="how much is..."
 *         local time of receipt, the topic padded to the catalogue's longest,
 *         then the body's top-level fields as key=value; strings are quoted
 *         when they hold spaces, quotes or '=', escaped, and cut to VALUE_MAX
 *         characters (never inside a UTF-8 sequence).
 * JSON:   {"topic":"...","body":{...},"received":"2026-11-23T14:10:50.123Z"}
 *
 * Bodies come from other processes, so they are parsed strictly and bounded
 * (sb_json_parse); a body that is not a JSON object is printed raw with a
 * "[malformed]" marker (human) or as "raw" plus "error" (JSON), never dropped
 * and never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_json.h"
#include "sb_schema_gen.h"
#include "sb_time.h"
#include "tap.h"

#define VALUE_MAX 80 /* characters of one value in the human format */

void tap_event_parse(tap_event *ev, const char *topic, const char *raw, int64_t received_ms)
{
	memset(ev, 0, sizeof *ev);
	ev->topic = topic;
	ev->raw = raw;
	ev->received_ms = received_ms;
	sb_error err = {0};
	ev->body = sb_json_parse(raw, strlen(raw), TAP_MAX_BODY, &err);
	if (!ev->body)
		snprintf(ev->why, sizeof ev->why, "%s", err.message[0] ? err.message : "not a JSON object");
}

void tap_event_clear(tap_event *ev)
{
	json_decref(ev->body);
	ev->body = NULL;
}

bool tap_event_has_sid(const tap_event *ev, const char *sid)
{
	if (!sid || !*sid)
		return true;
	const char *have = ev->body ? sb_json_str(ev->body, "callSid") : NULL;
	return have && strcmp(have, sid) == 0;
}

/* ---- JSON lines -------------------------------------------------------- */

static char *json_line(const tap_event *ev)
{
	char iso[SB_ISO_LEN];
	sb_time_iso(ev->received_ms, iso);
	json_t *topic = sb_json_stringn_lossy(ev->topic, strlen(ev->topic));
	json_t *o;
	if (ev->body)
		o = json_pack("{s:o,s:O,s:s}", "topic", topic, "body", ev->body, "received", iso);
	else
		o = json_pack("{s:o,s:o,s:s,s:s}", "topic", topic, "raw",
			      sb_json_stringn_lossy(ev->raw, strlen(ev->raw)), "error", ev->why, "received", iso);
	char *line = o ? sb_json_dump(o, NULL) : NULL;
	json_decref(o);
	return line;
}

/* ---- human lines --------------------------------------------------------- */

/* Bytes of the UTF-8 sequence at s (stray bytes count as one; stops at NUL). */
static size_t seq_len(const char *s)
{
	size_t n = 1;
	while (n < 4 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n++;
	return n;
}

/* Byte length of the first max_chars characters of s. */
static size_t prefix_bytes(const char *s, size_t max_chars)
{
	size_t i = 0;
	for (size_t chars = 0; s[i] && chars < max_chars; chars++)
		i += seq_len(s + i);
	return i;
}

/* Byte length to print of s and whether it was cut (then "..." follows). */
static size_t shown_bytes(const char *s, bool *cut)
{
	size_t all = prefix_bytes(s, VALUE_MAX);
	*cut = s[all] != '\0';
	return *cut ? prefix_bytes(s, VALUE_MAX - 3) : all;
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			return true;
	}
	return false;
}

/* Length of the well-formed UTF-8 sequence at s (within n bytes), 0 if it is not one. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	if (len == 0 || len > n || s[0] > 0xF4)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

/* Write n bytes of s with quotes, backslashes, control characters and stray bytes escaped. */
static void put_escaped(FILE *o, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n; i++) {
		size_t seq = u[i] >= 0x80 ? utf8_ok(u + i, n - i) : 0;
		if (seq) {
			fwrite(u + i, 1, seq, o);
			i += seq - 1;
		} else if (u[i] == '"' || u[i] == '\\')
			fprintf(o, "\\%c", u[i]);
		else if (u[i] == '\n')
			fputs("\\n", o);
		else if (u[i] == '\t')
			fputs("\\t", o);
		else if (u[i] < 0x20 || u[i] >= 0x7f)
			fprintf(o, "\\x%02x", u[i]);
		else
			fputc(u[i], o);
	}
}

/* A string value: quoted and escaped when needed, cut to VALUE_MAX characters. */
static void put_text(FILE *o, const char *s)
{
	bool cut, quote = needs_quotes(s);
	size_t n = shown_bytes(s, &cut);
	if (quote)
		fputc('"', o);
	put_escaped(o, s, n);
	if (cut)
		fputs("...", o);
	if (quote)
		fputc('"', o);
}

/* Any other value: compact JSON (numbers, true, null, arrays, objects), cut likewise. */
static void put_json(FILE *o, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s) {
		fputs("?", o);
		return;
	}
	bool cut;
	fwrite(s, 1, shown_bytes(s, &cut), o);
	if (cut)
		fputs("...", o);
	free(s);
}

/* Width of the topic column: the longest topic in the catalogue. */
static int topic_width(void)
{
	static int w;
	if (!w) {
		w = 16;
		for (int i = 0; i < SB_EV__COUNT; i++)
			if ((int)strlen(SB_EVENTS[i].topic) > w)
				w = (int)strlen(SB_EVENTS[i].topic);
	}
	return w;
}

/* "HH:MM:SS.mmm topic   " in local time. */
static void put_prefix(FILE *o, const tap_event *ev)
{
	time_t secs = (time_t)(ev->received_ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	fprintf(o, "%02d:%02d:%02d.%03d ", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ev->received_ms % 1000));
	size_t before = (size_t)ftell(o);
	put_escaped(o, ev->topic, strlen(ev->topic));
	int used = (int)((size_t)ftell(o) - before);
	fprintf(o, "%*s", used < topic_width() ? topic_width() - used + 1 : 1, "");
}

/* The body's top-level fields as key=value, in the order they arrived. */
static void put_fields(FILE *o, json_t *body)
{
	const char *key;
	json_t *v;
	bool first = true;
	json_object_foreach(body, key, v) {
		if (!first)
			fputc(' ', o);
		first = false;
		put_escaped(o, key, strlen(key));
		fputc('=', o);
		if (json_is_string(v))
			put_text(o, json_string_value(v));
		else
			put_json(o, v);
	}
}

static char *human_line(const tap_event *ev)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);
	if (!o)
		return NULL;
	put_prefix(o, ev);
	if (ev->body)
		put_fields(o, ev->body);
	else {
		fputs("[malformed] error=", o);
		put_text(o, ev->why);
		fputs(" raw=", o);
		put_text(o, ev->raw);
	}
	fclose(o);
	return buf;
}

char *tap_event_line(const tap_event *ev, bool json)
{
	return json ? json_line(ev) : human_line(ev);
}
