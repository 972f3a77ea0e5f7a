/*
 * schemagen.c — compile schemas/ into C tables (build step, not shipped).
 *
 *   sb-schemagen OUTDIR SCHEMA.json... MIGRATION.sql...
 *
 * Writes OUTDIR/sb_schema_gen.h and OUTDIR/sb_schema_gen.c:
 *   - per service: an op enum (SB_<SVC>_<OP>), an sb_service table with the
 *     argument fields of every op, and one typed client stub per op
 *     (`<svc>_<op>(client, args, &data, &err)`);
 *   - the event catalogue (SB_EV_<TOPIC> and SB_EVENTS[]);
 *   - the SQL migrations, embedded, in version order (NNNN_name.sql).
 *
 * A schema file is a JSON object:
 *   { "service": "store", "doc": "...",
 *     "ops":    [ { "name": "calls.create", "writes": true, "doc": "...",
 *                   "args": { "callSid": { "type": "string", "required": true,
 *                                          "maxLength": 64, "doc": "..." } },
 *                   "returns": "..." } ],
 *     "events": [ { "topic": "call.started", "doc": "...", "fields": { ... } } ] }
 * Field keys: type (string|integer|number|boolean|object|array|any),
 * required, nullable, enum, items, minimum/maximum, minLength/maxLength,
 * minItems/maxItems, doc. Unknown keys are errors, so typos cannot pass.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *H, *C;
static int nerrors;

static void fail(const char *file, const char *what)
{
	fprintf(stderr, "schemagen: %s: %s\n", file, what);
	nerrors++;
}

/* "calls.append_transcript" → "CALLS_APPEND_TRANSCRIPT" (upper) or lower. */
static void ident(const char *in, char *out, size_t n, int upper)
{
	size_t o = 0;
	for (; *in && o + 1 < n; in++) {
		char c = *in;
		if (c == '.' || c == '-')
			c = '_';
		else if (isupper((unsigned char)c) && o && out[o - 1] != '_') {
			out[o++] = '_';
			if (o + 1 >= n)
				break;
		}
		out[o++] = upper ? (char)toupper((unsigned char)c) : (char)tolower((unsigned char)c);
	}
	out[o] = '\0';
}

static const char *type_enum(const char *t)
{
	static const char *const map[][2] = {
		{"string", "SB_T_STRING"}, {"integer", "SB_T_INTEGER"}, {"number", "SB_T_NUMBER"},
		{"boolean", "SB_T_BOOLEAN"}, {"object", "SB_T_OBJECT"}, {"array", "SB_T_ARRAY"},
		{"any", "SB_T_ANY"},
	};
	for (size_t i = 0; t && i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i][0], t) == 0)
			return map[i][1];
	return NULL;
}

static int known_key(const char *k)
{
	static const char *const keys[] = {"type", "required", "nullable", "enum", "items", "minimum",
					   "maximum", "minLength", "maxLength", "minItems", "maxItems",
					   "doc", NULL};
	for (int i = 0; keys[i]; i++)
		if (strcmp(keys[i], k) == 0)
			return 1;
	return 0;
}

static void emit_bound(json_t *spec, const char *a, const char *b, const char *c, const char *flag,
		       const char *val)
{
	json_t *v = json_object_get(spec, a);
	if (!v)
		v = json_object_get(spec, b);
	if (!v)
		v = json_object_get(spec, c);
	if (json_is_number(v))
		fprintf(C, ".%s = true, .%s = %.17g, ", flag, val, json_number_value(v));
}

/* Emit `static const sb_field <sym>[]` for a fields object; returns count. */
static int emit_fields(const char *file, const char *sym, json_t *fields)
{
	if (fields && !json_is_object(fields)) {
		fail(file, "args/fields must be an object");
		return 0;
	}
	const char *name;
	json_t *spec;
	int n = 0;
	json_object_foreach(fields, name, spec) {
		json_t *en = json_object_get(spec, "enum");
		if (json_is_array(en)) {
			fprintf(C, "static const char *const %s_%d_enum[] = {", sym, n);
			size_t i;
			json_t *e;
			json_array_foreach(en, i, e) fprintf(C, "\"%s\", ", json_string_value(e));
			fprintf(C, "NULL};\n");
		}
		n++;
	}
	if (!n)
		return 0;
	fprintf(C, "static const sb_field %s[] = {\n", sym);
	n = 0;
	json_object_foreach(fields, name, spec) {
		const char *k;
		json_t *kv;
		json_object_foreach(spec, k, kv) if (!known_key(k)) {
			char m[256];
			snprintf(m, sizeof m, "field '%s': unknown key '%s'", name, k);
			fail(file, m);
		}
		const char *t = type_enum(json_string_value(json_object_get(spec, "type")));
		if (!t) {
			char m[256];
			snprintf(m, sizeof m, "field '%s': missing or unknown type", name);
			fail(file, m);
			t = "SB_T_ANY";
		}
		const char *items = type_enum(json_string_value(json_object_get(spec, "items")));
		fprintf(C, "\t{ .name = \"%s\", .type = %s, .required = %s, .nullable = %s, .items = %s, ",
			name, t, json_is_true(json_object_get(spec, "required")) ? "true" : "false",
			json_is_true(json_object_get(spec, "nullable")) ? "true" : "false",
			items ? items : "SB_T_ANY");
		emit_bound(spec, "minimum", "minLength", "minItems", "has_min", "min");
		emit_bound(spec, "maximum", "maxLength", "maxItems", "has_max", "max");
		if (json_is_array(json_object_get(spec, "enum")))
			fprintf(C, ".enums = %s_%d_enum, ", sym, n);
		fprintf(C, "},\n");
		n++;
	}
	fprintf(C, "};\n");
	return n;
}

static void emit_service(const char *file, json_t *root)
{
	const char *svc = json_string_value(json_object_get(root, "service"));
	json_t *ops = json_object_get(root, "ops");
	if (!svc)
		return;
	if (!json_is_array(ops)) {
		fail(file, "'ops' must be an array");
		return;
	}
	char SVC[64], lsvc[64];
	ident(svc, SVC, sizeof SVC, 1);
	ident(svc, lsvc, sizeof lsvc, 0);
	fprintf(H, "\n/* ---- service %s (%s) ---- */\nenum sb_%s_op {\n", svc, file, lsvc);
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op) {
		char OP[128];
		ident(json_string_value(json_object_get(op, "name")), OP, sizeof OP, 1);
		fprintf(H, "\tSB_%s_%s = %zu,\n", SVC, OP, i);
	}
	fprintf(H, "\tSB_%s__COUNT = %zu\n};\nextern const sb_service SB_SVC_%s;\n", SVC, json_array_size(ops),
		SVC);

	json_array_foreach(ops, i, op) {
		const char *name = json_string_value(json_object_get(op, "name"));
		if (!name) {
			fail(file, "op without a name");
			continue;
		}
		char sym[320], lop[128];
		ident(name, lop, sizeof lop, 0);
		snprintf(sym, sizeof sym, "args_%s_%s", lsvc, lop);
		int n = emit_fields(file, sym, json_object_get(op, "args"));
		fprintf(C, "#define N_%s %d\n", sym, n);
		if (!n)
			fprintf(C, "#define %s NULL\n", sym);
	}
	fprintf(C, "static const sb_op_spec ops_%s[] = {\n", lsvc);
	json_array_foreach(ops, i, op) {
		const char *name = json_string_value(json_object_get(op, "name"));
		char lop[128];
		ident(name ? name : "?", lop, sizeof lop, 0);
		fprintf(C, "\t{ \"%s\", args_%s_%s, N_args_%s_%s, %s },\n", name ? name : "?", lsvc, lop, lsvc,
			lop, json_is_true(json_object_get(op, "writes")) ? "true" : "false");
	}
	fprintf(C, "};\nconst sb_service SB_SVC_%s = { \"%s\", ops_%s, %zu };\n", SVC, svc, lsvc,
		json_array_size(ops));

	/* typed client stubs */
	json_array_foreach(ops, i, op) {
		const char *name = json_string_value(json_object_get(op, "name"));
		const char *doc = json_string_value(json_object_get(op, "doc"));
		char lop[128], OP[128];
		ident(name ? name : "?", lop, sizeof lop, 0);
		ident(name ? name : "?", OP, sizeof OP, 1);
		fprintf(H, "/* %s: %s */\nint %s_%s(sb_client *c, json_t *args, json_t **data, sb_error *err);\n",
			name, doc ? doc : "", lsvc, lop);
		fprintf(C, "int %s_%s(sb_client *c, json_t *args, json_t **data, sb_error *err)\n"
			   "{\n\treturn sb_client_call(c, &SB_SVC_%s, SB_%s_%s, args, data, err);\n}\n",
			lsvc, lop, SVC, SVC, OP);
	}
}

static json_t *all_events;

static void collect_events(const char *file, json_t *root)
{
	json_t *ev = json_object_get(root, "events");
	if (!ev)
		return;
	if (!json_is_array(ev)) {
		fail(file, "'events' must be an array");
		return;
	}
	json_array_extend(all_events, ev);
}

static void emit_events(void)
{
	fprintf(H, "\n/* ---- events ---- */\nenum sb_event_id {\n");
	size_t i;
	json_t *e;
	json_array_foreach(all_events, i, e) {
		char T[128];
		ident(json_string_value(json_object_get(e, "topic")), T, sizeof T, 1);
		fprintf(H, "\tSB_EV_%s = %zu,\n", T, i);
	}
	fprintf(H, "\tSB_EV__COUNT = %zu\n};\nextern const sb_event_spec SB_EVENTS[];\n", json_array_size(all_events));
	json_array_foreach(all_events, i, e) {
		char t[128], sym[320];
		ident(json_string_value(json_object_get(e, "topic")), t, sizeof t, 0);
		snprintf(sym, sizeof sym, "ev_%s", t);
		int n = emit_fields("events", sym, json_object_get(e, "fields"));
		fprintf(C, "#define N_%s %d\n", sym, n);
		if (!n)
			fprintf(C, "#define %s NULL\n", sym);
	}
	fprintf(C, "const sb_event_spec SB_EVENTS[] = {\n");
	json_array_foreach(all_events, i, e) {
		char t[128];
		const char *topic = json_string_value(json_object_get(e, "topic"));
		ident(topic, t, sizeof t, 0);
		fprintf(C, "\t{ \"%s\", ev_%s, N_ev_%s },\n", topic, t, t);
	}
	fprintf(C, "};\n");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void emit_sql_literal(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fail(path, "cannot open");
		return;
	}
	fputc('"', C);
	int c;
	while ((c = fgetc(f)) != EOF) {
		if (c == '"' || c == '\\')
			fprintf(C, "\\%c", c);
		else if (c == '\n')
			fprintf(C, "\\n\"\n\t\"");
		else if (c == '\t')
			fprintf(C, "\\t");
		else
			fputc(c, C);
	}
	fputc('"', C);
	fclose(f);
}

static void emit_migrations(char **sql, int n)
{
	qsort(sql, (size_t)n, sizeof *sql, cmp_str);
	fprintf(H, "\n/* ---- migrations ---- */\nextern const sb_migration SB_MIGRATIONS[];\n"
		   "extern const unsigned SB_NMIGRATIONS;\n");
	fprintf(C, "const sb_migration SB_MIGRATIONS[] = {\n");
	for (int i = 0; i < n; i++) {
		const char *base = strrchr(sql[i], '/');
		base = base ? base + 1 : sql[i];
		int version = atoi(base);
		if (version != i + 1)
			fail(sql[i], "migrations must be numbered 0001, 0002, ... without gaps");
		fprintf(C, "\t{ %d, \"%.*s\",\n\t", version, (int)(strlen(base) - 4), base);
		emit_sql_literal(sql[i]);
		fprintf(C, " },\n");
	}
	if (!n)
		fprintf(C, "\t{ 0, NULL, NULL },\n");
	fprintf(C, "};\nconst unsigned SB_NMIGRATIONS = %d;\n", n);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sb-schemagen OUTDIR FILE.json... FILE.sql...\n");
		return 2;
	}
	char hp[1024], cp[1024], htmp[1100], ctmp[1100];
	snprintf(hp, sizeof hp, "%s/sb_schema_gen.h", argv[1]);
	snprintf(cp, sizeof cp, "%s/sb_schema_gen.c", argv[1]);
	snprintf(htmp, sizeof htmp, "%s.tmp", hp);
	snprintf(ctmp, sizeof ctmp, "%s.tmp", cp);
	H = fopen(htmp, "w");
	C = fopen(ctmp, "w");
	if (!H || !C) {
		perror("schemagen");
		return 1;
	}
	fprintf(H, "/* Generated by tools/schemagen from schemas/. Do not edit. */\n"
		   "#ifndef SB_SCHEMA_GEN_H\n#define SB_SCHEMA_GEN_H\n#include \"sb_schema.h\"\n"
		   "typedef struct sb_client sb_client;\n"
		   "int sb_client_call(sb_client *c, const sb_service *svc, int op, json_t *args, json_t **data, sb_error *err);\n");
	fprintf(C, "/* Generated by tools/schemagen from schemas/. Do not edit. */\n"
		   "#include <stddef.h>\n#include \"sb_schema_gen.h\"\n");
	all_events = json_array();
	char **sql = calloc((size_t)argc, sizeof *sql);
	int nsql = 0;
	fprintf(H, "extern const sb_service *const SB_SERVICES[];\nextern const unsigned SB_NSERVICES;\n");
	json_t *services = json_array();
	for (int i = 2; i < argc; i++) {
		size_t l = strlen(argv[i]);
		if (l > 4 && strcmp(argv[i] + l - 4, ".sql") == 0) {
			sql[nsql++] = argv[i];
			continue;
		}
		json_error_t je;
		json_t *root = json_load_file(argv[i], JSON_REJECT_DUPLICATES, &je);
		if (!root) {
			char m[300];
			snprintf(m, sizeof m, "line %d: %s", je.line, je.text);
			fail(argv[i], m);
			continue;
		}
		emit_service(argv[i], root);
		collect_events(argv[i], root);
		const char *svc = json_string_value(json_object_get(root, "service"));
		if (svc)
			json_array_append_new(services, json_string(svc));
		json_decref(root);
	}
	emit_events();
	emit_migrations(sql, nsql);
	fprintf(C, "const sb_service *const SB_SERVICES[] = {\n");
	size_t i;
	json_t *s;
	json_array_foreach(services, i, s) {
		char S[64];
		ident(json_string_value(s), S, sizeof S, 1);
		fprintf(C, "\t&SB_SVC_%s,\n", S);
	}
	fprintf(C, "\tNULL\n};\nconst unsigned SB_NSERVICES = %zu;\n", json_array_size(services));
	fprintf(H, "#endif\n");
	json_decref(services);
	json_decref(all_events);
	free(sql);
	fclose(H);
	fclose(C);
	if (nerrors) {
		remove(htmp);
		remove(ctmp);
		return 1;
	}
	return rename(htmp, hp) || rename(ctmp, cp);
}
