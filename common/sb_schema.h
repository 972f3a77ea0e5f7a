/*
 * sb_schema.h — the shapes that the JSON files in schemas/ compile into.
 *
 * tools/schemagen turns every schema file into constant tables (build/gen/
 * sb_schema_gen.[ch]): one sb_service per service with its ops and their
 * argument fields, the event catalogue, and the SQL migrations. Servers
 * dispatch and validate from these tables, clients name ops by the generated
 * enum, so no op name is ever spelled by hand in two places.
 */
#ifndef SB_SCHEMA_H
#define SB_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>

#include "sb_err.h"

typedef enum sb_type {
	SB_T_ANY = 0, SB_T_STRING, SB_T_INTEGER, SB_T_NUMBER, SB_T_BOOLEAN, SB_T_OBJECT, SB_T_ARRAY,
} sb_type;

/* One field of an op's arguments or of an event body. */
typedef struct sb_field {
	const char *name;
	sb_type     type;
	bool        required;
	bool        nullable;
	sb_type     items;          /* element type of an array (SB_T_ANY = unchecked) */
	bool        has_min, has_max;
	double      min, max;       /* numbers: value bounds; strings/arrays: length bounds */
	const char *const *enums;   /* allowed string values, NULL-terminated, or NULL */
} sb_field;

typedef struct sb_op_spec {
	const char     *name;       /* "calls.create" */
	const sb_field *args;
	unsigned        nargs;
	bool            writes;     /* changes state (store: runs on the writer) */
} sb_op_spec;

typedef struct sb_service {
	const char       *name;     /* "store" */
	const sb_op_spec *ops;
	unsigned          nops;
} sb_service;

typedef struct sb_event_spec {
	const char     *topic;      /* "call.started" */
	const sb_field *fields;
	unsigned        nfields;
} sb_event_spec;

typedef struct sb_migration {
	int         version;
	const char *name;
	const char *sql;
} sb_migration;

/* Index of op `name` in svc, or -1. */
int sb_schema_find_op(const sb_service *svc, const char *name);
/* Check obj against fields: types, required, bounds, enums, no unknown keys. 0 or -1 with err (invalid_argument). */
int sb_schema_validate(const sb_field *fields, unsigned n, const json_t *obj, sb_error *err);
/* The wire name of a type ("string", ...). */
const char *sb_type_name(sb_type t);

#endif
