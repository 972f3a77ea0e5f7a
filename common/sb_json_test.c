/*
 * sb_json_test.c — strict decoding and schema validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "sb_json.h"
#include "sb_schema.h"

static json_t *parse(const char *s, sb_error *e)
{
	return sb_json_parse(s, strlen(s), 1 << 20, e);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"", "{", "[1,2]", "\"x\"", "{\"a\":1,\"a\":2}", "{\"a\":1} trailing", "{\"a\":\"\xff\"}", NULL,
	};
	for (int i = 0; bad[i]; i++) {
		sb_error e = {0};
		assert_null(parse(bad[i], &e));
		assert_int_equal(e.code, SB_INVALID_ARGUMENT);
		assert_true(strlen(e.message) > 0);
	}
}

static void test_parse_depth_and_size(void **state)
{
	char deep[512] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "{\"a\":");
	strcat(deep, "1");
	for (int i = 0; i < 40; i++)
		strcat(deep, "}");
	sb_error e = {0};
	assert_null(parse(deep, &e));
	assert_non_null(strstr(e.message, "deeper"));
	/* brackets inside strings do not count */
	json_t *j = parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", &e);
	assert_non_null(j);
	json_decref(j);
	assert_null(sb_json_parse("{\"a\":1}", 7, 3, &e));
	assert_non_null(strstr(e.message, "exceeds"));
}

static void test_readers_and_envelopes(void **state)
{
	sb_error e = {0};
	json_t *j = parse("{\"s\":\"x\",\"i\":3,\"n\":2.5,\"b\":true}", &e);
	assert_string_equal(sb_json_str(j, "s"), "x");
	assert_null(sb_json_str(j, "i"));
	assert_int_equal(sb_json_int(j, "i", 0), 3);
	assert_int_equal(sb_json_int(j, "s", 7), 7);
	assert_true(sb_json_num(j, "n", 0) == 2.5);
	assert_true(sb_json_num(j, "i", 0) == 3.0);
	assert_int_equal(sb_json_bool(j, "b", 0), 1);
	json_decref(j);

	json_t *ok = sb_json_ok(json_string("d")), *data = NULL;
	assert_int_equal(sb_json_read_reply(ok, &data, &e), 0);
	assert_string_equal(json_string_value(data), "d");
	json_decref(ok);
	json_t *bad = sb_json_err(SB_NOT_FOUND, "gone");
	assert_int_equal(sb_json_read_reply(bad, &data, &e), -1);
	assert_int_equal(e.code, SB_NOT_FOUND);
	assert_string_equal(e.message, "gone");
	json_decref(bad);
}

static void test_lossy_utf8(void **state)
{
	json_t *s = sb_json_stringn_lossy("ab\xffz", 4);
	assert_non_null(s);
	assert_string_equal(json_string_value(s), "ab\xEF\xBF\xBDz");
	json_decref(s);
	json_t *n = sb_json_string_or_null(NULL);
	assert_true(json_is_null(n));
}

static const char *const colours[] = {"red", "green", NULL};
static const sb_field fields[] = {
	{.name = "name", .type = SB_T_STRING, .required = true, .has_min = true, .min = 1, .has_max = true, .max = 5},
	{.name = "count", .type = SB_T_INTEGER, .has_min = true, .min = 0, .has_max = true, .max = 10},
	{.name = "colour", .type = SB_T_STRING, .enums = colours},
	{.name = "tags", .type = SB_T_ARRAY, .items = SB_T_STRING},
	{.name = "any", .type = SB_T_ANY, .nullable = true},
};

static const struct {
	const char *json;
	int ok;
	const char *msg;
} cases[] = {
	{"{\"name\":\"abc\"}", 1, NULL},
	{"{\"name\":\"abc\",\"count\":3,\"colour\":\"red\",\"tags\":[\"x\"],\"any\":null}", 1, NULL},
	{"{}", 0, "missing field 'name'"},
	{"{\"name\":1}", 0, "must be string"},
	{"{\"name\":\"\"}", 0, "at least"},
	{"{\"name\":\"toolong\"}", 0, "at most"},
	{"{\"name\":\"a\",\"count\":11}", 0, "at most 10"},
	{"{\"name\":\"a\",\"count\":1.5}", 0, "must be integer"},
	{"{\"name\":\"a\",\"colour\":\"blue\"}", 0, "unknown value"},
	{"{\"name\":\"a\",\"tags\":[1]}", 0, "tags"},
	{"{\"name\":\"a\",\"extra\":1}", 0, "unknown field 'extra'"},
	{"{\"name\":null}", 0, "must not be null"},
	{"{\"name\":\"a\",\"count\":null}", 1, NULL},
};

static void test_schema_validate(void **state)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sb_error e = {0};
		json_t *j = json_loads(cases[i].json, 0, NULL);
		assert_non_null(j);
		int rc = sb_schema_validate(fields, sizeof fields / sizeof fields[0], j, &e);
		if (cases[i].ok)
			assert_int_equal(rc, 0);
		else {
			assert_int_equal(rc, -1);
			assert_int_equal(e.code, SB_INVALID_ARGUMENT);
			if (!strstr(e.message, cases[i].msg))
				fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e.message, cases[i].msg);
		}
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_depth_and_size),
		cmocka_unit_test(test_readers_and_envelopes),
		cmocka_unit_test(test_lossy_utf8),
		cmocka_unit_test(test_schema_validate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
