/*
 * sb_log_test.c — line formats, levels, and secret redaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "sb_log.h"

static char path[64];

/* Log one line to a fresh file and return its content (static buffer). */
static const char *capture(const char *fmt, const char *level, sb_log_level lvl, const char *event,
			   const char *details)
{
	static char buf[4096];
	snprintf(path, sizeof path, "/tmp/sblog.%d", (int)getpid());
	unlink(path);
	assert_int_equal(sb_log_setup("sb-test", fmt, level), 0);
	assert_int_equal(sb_log_set_file(path), 0);
	sb_log(lvl, event, "%s", details);
	sb_log_set_file(NULL);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	unlink(path);
	return buf;
}

static void test_text_line(void **state)
{
	const char *l = capture("text", "info", SB_LOG_INFO, "store.open", "db=/x/y.db ops=3 msg=\"a b\"");
	assert_non_null(strstr(l, " sb-test info store.open db=/x/y.db ops=3 msg=\"a b\"\n"));
	assert_true(l[4] == '-' && l[10] == 'T');
}

static void test_json_line(void **state)
{
	const char *l = capture("json", "info", SB_LOG_WARN, "rpc.bad", "code=invalid_argument msg=\"x \\\"y\\\"\"");
	json_t *j = json_loads(l, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(j, "event")), "rpc.bad");
	assert_string_equal(json_string_value(json_object_get(j, "code")), "invalid_argument");
	assert_string_equal(json_string_value(json_object_get(j, "daemon")), "sb-test");
	json_decref(j);
}

static void test_redaction(void **state)
{
	static const char *const fmts[] = {"text", "json"};
	for (int i = 0; i < 2; i++) {
		const char *l = capture(fmts[i], "debug", SB_LOG_INFO, "auth",
					"token=abc123 apiKey=sk-live-1 password=\"p w\" authorization=Bearer"
					" streamToken=zz callSid=CA1");
		assert_null(strstr(l, "abc123"));
		assert_null(strstr(l, "sk-live-1"));
		assert_null(strstr(l, "p w"));
		assert_null(strstr(l, "Bearer"));
		assert_null(strstr(l, "zz"));
		assert_non_null(strstr(l, "CA1"));
		assert_non_null(strstr(l, "[redacted]"));
	}
}

static void test_levels(void **state)
{
	const char *l = capture("text", "warn", SB_LOG_INFO, "quiet", "a=1");
	assert_string_equal(l, "");
	assert_int_equal(sb_log_setup(NULL, "xml", NULL), -1);
	assert_int_equal(sb_log_setup(NULL, NULL, "loud"), -1);
	char q[64];
	assert_string_equal(sb_log_quote("a b\"c", q, sizeof q), "\"a b\\\"c\"");
	assert_string_equal(sb_log_quote("plain", q, sizeof q), "plain");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_line),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
