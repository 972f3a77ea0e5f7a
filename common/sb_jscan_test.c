/*
 * sb_jscan_test.c — unit tests for the parse-free field scanner: real Twilio
 * and Realtime media messages, nesting and strings that look like keys,
 * escapes, Twilio's numbers-as-strings, and malformed input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sb_jscan.h"

#define S(js) js, strlen(js)

static const char *TWILIO_MEDIA =
	"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"media\":{\"track\":\"inbound\",\"chunk\":\"2\","
	"\"timestamp\":\"40\",\"payload\":\"/////w==\"},\"streamSid\":\"MZ123\"}";

static void test_twilio_media(void **state)
{
	const char *v;
	size_t n;
	assert_int_equal(sb_jscan_str(S(TWILIO_MEDIA), "event", &v, &n), 1);
	assert_true(sb_jscan_eq(v, n, "media"));
	assert_int_equal(sb_jscan_str(S(TWILIO_MEDIA), "streamSid", &v, &n), 1);
	assert_true(sb_jscan_eq(v, n, "MZ123"));
	sb_jval m;
	assert_int_equal(sb_jscan_get(S(TWILIO_MEDIA), "media", &m), 1);
	assert_int_equal(m.kind, 'o');
	assert_int_equal(sb_jscan_str(m.p, m.len, "payload", &v, &n), 1);
	assert_true(sb_jscan_eq(v, n, "/////w=="));
	long long ts;
	assert_int_equal(sb_jscan_int(m.p, m.len, "timestamp", &ts), 1);
	assert_int_equal(ts, 40);
	/* top level only: "payload" is not a top-level key */
	assert_int_equal(sb_jscan_str(S(TWILIO_MEDIA), "payload", &v, &n), 0);
}

static void test_realtime_delta(void **state)
{
	const char *js = " {\"type\" : \"response.output_audio.delta\", \"event_id\":\"e1\",\"response_id\":\"resp_1\","
			 "\"item_id\":\"item_1\",\"output_index\":0,\"content_index\":1,\"delta\":\"AAAA\"} ";
	const char *v;
	size_t n;
	long long ci;
	assert_int_equal(sb_jscan_str(S(js), "type", &v, &n), 1);
	assert_true(sb_jscan_eq(v, n, "response.output_audio.delta"));
	assert_int_equal(sb_jscan_int(S(js), "content_index", &ci), 1);
	assert_int_equal(ci, 1);
	assert_int_equal(sb_jscan_str(S(js), "delta", &v, &n), 1);
	assert_true(sb_jscan_eq(v, n, "AAAA"));
	assert_int_equal(sb_jscan_str(S(js), "missing", &v, &n), 0);
}

static void test_strings_and_nesting(void **state)
{
	const char *js = "{\"a\":\"x\\\"y:{\\\\\",\"b\":[1,{\"type\":\"no\"},\"]\"],\"c\":{\"d\":{}},\"type\":\"yes\",\"n\":null,\"t\":true}";
	sb_jval v;
	assert_int_equal(sb_jscan_get(S(js), "a", &v), 1);
	assert_true(v.escaped);
	assert_int_equal(v.len, 8);
	assert_int_equal(sb_jscan_get(S(js), "type", &v), 1);
	assert_false(v.escaped);
	assert_true(sb_jscan_eq(v.p, v.len, "yes"));
	assert_int_equal(sb_jscan_get(S(js), "b", &v), 1);
	assert_int_equal(v.kind, 'a');
	assert_int_equal(sb_jscan_get(S(js), "n", &v), 1);
	assert_int_equal(v.kind, 'z');
	assert_int_equal(sb_jscan_get(S(js), "t", &v), 1);
	assert_int_equal(v.kind, 't');
	long long i;
	assert_int_equal(sb_jscan_int(S(js), "type", &i), 0); /* not digits */
}

static void test_malformed(void **state)
{
	static const char *bad[] = {
		"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":\"x}", "{\"a\":1,}", "{\"a\":1 \"b\":2}",
		"{\"a\":{\"b\":1}", "{a:1}", "\"str\"",
	};
	sb_jval v;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sb_jscan_get(S(bad[i]), "zz", &v), -1);
	assert_int_equal(sb_jscan_get(S("{}"), "a", &v), 0);
	assert_int_equal(sb_jscan_get(S(" { } "), "a", &v), 0);
	/* the match is returned before later garbage is seen: callers only use it on well-formed input */
	assert_int_equal(sb_jscan_get(S("{\"a\":1,\"b\":2}"), "b", &v), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twilio_media),
		cmocka_unit_test(test_realtime_delta),
		cmocka_unit_test(test_strings_and_nesting),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
