/*
 * sb_json.c — strict decoding, lossless-or-lossy string building, envelopes.
 */
#include <string.h>

#include "sb_json.h"

/* Nesting depth of a JSON text without parsing it (strings skipped). */
static int max_depth(const char *p, size_t n)
{
	int depth = 0, worst = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[') {
			if (++depth > worst)
				worst = depth;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return worst;
}

json_t *sb_json_parse(const void *buf, size_t len, size_t max_len, sb_error *err)
{
	if (max_len && len > max_len) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "message of %zu bytes exceeds the limit of %zu", len,
			     max_len);
		return NULL;
	}
	if (max_depth(buf, len) > SB_JSON_MAX_DEPTH) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "JSON nested deeper than %d levels", SB_JSON_MAX_DEPTH);
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "malformed JSON at byte %d: %s", je.position, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		sb_error_set(err, SB_INVALID_ARGUMENT, "expected a JSON object");
		return NULL;
	}
	return j;
}

char *sb_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY); /* 17 digits: doubles round-trip exactly */
	if (s && len)
		*len = strlen(s);
	return s;
}

const char *sb_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_int_t sb_json_int(const json_t *obj, const char *key, json_int_t def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

double sb_json_num(const json_t *obj, const char *key, double def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

int sb_json_bool(const json_t *obj, const char *key, int def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return p[0] ? 1 : 0;
	size_t len = (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (!len || len > n || (len == 2 && p[0] < 0xC2) || (len == 4 && p[0] > 0xF4))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (len == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0)))
		return 0;
	if (len == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90)))
		return 0;
	return len;
}

json_t *sb_json_stringn_lossy(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	char *out = malloc(n * 3 + 1);
	if (!out)
		abort();
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		if (l) {
			memcpy(out + o, p + i, l);
			o += l;
			i += l;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(out, o);
	free(out);
	return j ? j : json_string("");
}

json_t *sb_json_string_or_null(const char *s)
{
	return s ? sb_json_stringn_lossy(s, strlen(s)) : json_null();
}

json_t *sb_json_ok(json_t *data)
{
	return json_pack("{s:b,s:o}", "ok", 1, "data", data ? data : json_null());
}

json_t *sb_json_err(sb_code code, const char *message)
{
	return json_pack("{s:b,s:{s:s,s:o}}", "ok", 0, "error", "code", sb_code_name(code), "message",
			 sb_json_string_or_null(message ? message : ""));
}

int sb_json_read_reply(json_t *reply, json_t **data, sb_error *err)
{
	json_t *ok = json_object_get(reply, "ok");
	if (json_is_true(ok)) {
		if (data)
			*data = json_object_get(reply, "data");
		return 0;
	}
	json_t *e = json_object_get(reply, "error");
	const char *code = sb_json_str(e, "code"), *msg = sb_json_str(e, "message");
	if (!json_is_false(ok) || !code)
		return sb_error_set(err, SB_INTERNAL, "malformed reply from peer");
	return sb_error_set(err, sb_code_parse(code), "%s", msg ? msg : code);
}
