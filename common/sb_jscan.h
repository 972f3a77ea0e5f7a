/*
 * sb_jscan.h — read a few top-level fields of a JSON object without parsing it.
 *
 * The media path of the bridge and the simulators sees ~50 messages per second
 * per call in each direction, almost all of them audio (Twilio "media",
 * Realtime "input_audio_buffer.append" / "response.output_audio.delta"). A full
 * jansson parse of each costs more than the rest of the relay (see
 * docs/MEDIA.md), so those messages are read with this scanner instead: one
 * pass over the text that skips strings, numbers and nested values and
 * stops at the wanted key. Everything that is not audio still goes through
 * sb_json_parse.
 *
 * The scanner is a validator of structure, not of content: it rejects
 * unbalanced brackets, unterminated strings and missing ':'/',', but does not
 * check number syntax or UTF-8. Callers treat a -1 as "not a well-formed
 * object" and fall back to the strict parser (or drop the message).
 * String values are returned raw, as they appear between the quotes
 * (escapes not decoded); *escaped tells whether a backslash occurs in them.
 */
#ifndef SB_JSCAN_H
#define SB_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* A value found by the scanner: a slice of the input. */
typedef struct sb_jval {
	const char *p;      /* strings: first char after the opening quote; others: first char */
	size_t      len;    /* strings: raw length between the quotes; others: full text length */
	char        kind;   /* 's' string, 'o' object, 'a' array, 'n' number, 't'/'f' bool, 'z' null */
	bool        escaped;/* strings: a backslash occurs in the raw text */
} sb_jval;

/* Find top-level member key of the object in js[0..len). 1 found (*out set), 0 absent, -1 malformed. */
int sb_jscan_get(const char *js, size_t len, const char *key, sb_jval *out);
/* Find a top-level string member; 1 and its raw slice, 0 absent or not a string, -1 malformed. */
int sb_jscan_str(const char *js, size_t len, const char *key, const char **val, size_t *vlen);
/* Find a top-level integer member (a JSON number, or a string of digits as Twilio sends); 1, 0 or -1. */
int sb_jscan_int(const char *js, size_t len, const char *key, long long *val);
/* 1 if the raw string slice equals s exactly. */
bool sb_jscan_eq(const char *p, size_t n, const char *s);

#endif
