/*
 * sb_schema.c — table-driven validation of op arguments and event bodies.
 */
#include <math.h>
#include <string.h>

#include "sb_schema.h"

static const char *const type_names[] = {"any", "string", "integer", "number", "boolean", "object", "array"};

const char *sb_type_name(sb_type t)
{
	return (t >= SB_T_ANY && t <= SB_T_ARRAY) ? type_names[t] : "any";
}

int sb_schema_find_op(const sb_service *svc, const char *name)
{
	if (!name)
		return -1;
	for (unsigned i = 0; i < svc->nops; i++)
		if (strcmp(svc->ops[i].name, name) == 0)
			return (int)i;
	return -1;
}

static bool type_ok(sb_type t, const json_t *v)
{
	switch (t) {
	case SB_T_ANY: return true;
	case SB_T_STRING: return json_is_string(v);
	case SB_T_INTEGER: return json_is_integer(v);
	case SB_T_NUMBER: return json_is_number(v);
	case SB_T_BOOLEAN: return json_is_boolean(v);
	case SB_T_OBJECT: return json_is_object(v);
	case SB_T_ARRAY: return json_is_array(v);
	}
	return false;
}

static const sb_field *find_field(const sb_field *f, unsigned n, const char *key)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(f[i].name, key) == 0)
			return &f[i];
	return NULL;
}

/* Bounds and enum checks for one present, correctly typed value. */
static int check_value(const sb_field *f, const json_t *v, sb_error *err)
{
	double size = -1;
	if (json_is_string(v))
		size = (double)json_string_length(v);
	else if (json_is_array(v))
		size = (double)json_array_size(v);
	else if (json_is_number(v))
		size = json_number_value(v);
	if (size >= 0 || json_is_number(v)) {
		const char *what = json_is_number(v) ? "" : " in length";
		if (f->has_min && size < f->min)
			return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' must be at least %g%s", f->name,
					    f->min, what);
		if (f->has_max && size > f->max)
			return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' must be at most %g%s", f->name,
					    f->max, what);
	}
	if (json_is_real(v) && !isfinite(json_real_value(v)))
		return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' must be finite", f->name);
	if (f->enums && json_is_string(v)) {
		for (const char *const *e = f->enums; *e; e++)
			if (strcmp(*e, json_string_value(v)) == 0)
				return 0;
		return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' has an unknown value", f->name);
	}
	if (f->items != SB_T_ANY && json_is_array(v)) {
		size_t i;
		json_t *it;
		json_array_foreach(v, i, it)
			if (!type_ok(f->items, it))
				return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s'[%zu] must be %s",
						    f->name, i, sb_type_name(f->items));
	}
	return 0;
}

int sb_schema_validate(const sb_field *fields, unsigned n, const json_t *obj, sb_error *err)
{
	if (!json_is_object(obj))
		return sb_error_set(err, SB_INVALID_ARGUMENT, "arguments must be a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		const sb_field *f = find_field(fields, n, key);
		if (!f)
			return sb_error_set(err, SB_INVALID_ARGUMENT, "unknown field '%s'", key);
		if (json_is_null(v)) {
			if (!f->nullable && f->required)
				return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' must not be null", key);
			continue;
		}
		if (!type_ok(f->type, v))
			return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' must be %s", key,
					    sb_type_name(f->type));
		if (check_value(f, v, err) < 0)
			return -1;
	}
	for (unsigned i = 0; i < n; i++)
		if (fields[i].required && !json_object_get(obj, fields[i].name))
			return sb_error_set(err, SB_INVALID_ARGUMENT, "missing field '%s'", fields[i].name);
	return 0;
}
