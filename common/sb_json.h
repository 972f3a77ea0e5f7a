/*
 * sb_json.h — strict JSON over jansson, shared by every daemon.
 *
 * Input from peers is decoded with sb_json_parse: bounded size and nesting
 * depth, duplicate keys rejected, top level must be an object. Readers below
 * return borrowed values (valid while the root is alive).
 */
#ifndef SB_JSON_H
#define SB_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sb_err.h"

#define SB_JSON_MAX_DEPTH 32

/* Parse an object from buf: size ≤ max_len (0 = no limit), depth ≤ SB_JSON_MAX_DEPTH, no duplicate keys. */
json_t *sb_json_parse(const void *buf, size_t len, size_t max_len, sb_error *err);
/* Compact serialisation (malloc'd, NUL-terminated); *len gets its length if len != NULL. NULL on failure. */
char *sb_json_dump(const json_t *j, size_t *len);

/* Borrowed string member, or NULL if absent or not a string. */
const char *sb_json_str(const json_t *obj, const char *key);
/* Integer member, or def if absent or not an integer. */
json_int_t sb_json_int(const json_t *obj, const char *key, json_int_t def);
/* Number member (integer or real), or def. */
double sb_json_num(const json_t *obj, const char *key, double def);
/* Boolean member, or def if absent or not boolean. */
int sb_json_bool(const json_t *obj, const char *key, int def);

/* A JSON string, or JSON null for a NULL pointer; never NULL (invalid UTF-8 is replaced). */
json_t *sb_json_string_or_null(const char *s);
/* A JSON string from n bytes, replacing invalid UTF-8 with U+FFFD; never NULL. */
json_t *sb_json_stringn_lossy(const char *s, size_t n);

/* {"ok":true,"data":<data>} — steals data (NULL → null). */
json_t *sb_json_ok(json_t *data);
/* {"ok":false,"error":{"code":...,"message":...}} */
json_t *sb_json_err(sb_code code, const char *message);
/* Read a reply envelope: 0 and *data (borrowed) on ok, -1 and *err filled on error or malformed reply. */
int sb_json_read_reply(json_t *reply, json_t **data, sb_error *err);

#endif
