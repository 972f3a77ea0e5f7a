/*
 * bridge_twiml_test.c — sb-callsim's strict TwiML reader (the stream form
 * the gateway returns, other verbs, and malformed documents), as a named
 * case table. The reader is compiled in from tools/callsim/callsim_twiml.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../tools/callsim/callsim_twiml.c"

typedef struct tcase {
	const char *name, *xml;
	int         want;      /* 1 stream, 0 no stream, -1 not accepted */
	const char *url, *token; /* for want == 1 */
} tcase;

static const tcase CASES[] = {
	{"gateway inbound", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream url=\"ws://127.0.0.1:9/api/twilio/stream\">"
	 "<Parameter name=\"businessId\" value=\"biz_1\"/><Parameter name=\"callSid\" value=\"CA1\"/>"
	 "<Parameter name=\"token\" value=\"v1.CA1.b.biz_1.99.mac\"/></Stream></Connect></Response>", 1,
	 "ws://127.0.0.1:9/api/twilio/stream", "v1.CA1.b.biz_1.99.mac"},
	{"whitespace and entities", "\n <Response>\n  <Connect>\n   <Stream url='wss://h/x?a=1&amp;b=2'>\n"
	 "    <Parameter name=\"token\" value=\"a&lt;b&#62;c&#x41;\" />\n   </Stream>\n  </Connect>\n </Response>\n", 1,
	 "wss://h/x?a=1&b=2", "a<b>cA"},
	{"no parameters", "<Response><Connect><Stream url=\"ws://h/s\"></Stream></Connect></Response>", 1, "ws://h/s", NULL},
	{"say and hangup", "<Response><Say>This number is not in service.</Say><Hangup/></Response>", 0, NULL, NULL},
	{"empty response", "<Response/>", 0, NULL, NULL},
	{"not twiml", "hello", -1, NULL, NULL},
	{"empty", "", -1, NULL, NULL},
	{"wrong root", "<Reply><Connect/></Reply>", -1, NULL, NULL},
	{"unclosed", "<Response><Connect><Stream url=\"ws://h/s\"></Stream></Connect>", -1, NULL, NULL},
	{"mismatched", "<Response><Connect><Stream url=\"ws://h/s\"></Connect></Stream></Response>", -1, NULL, NULL},
	{"stream without url", "<Response><Connect><Stream><Parameter name=\"a\" value=\"b\"/></Stream></Connect></Response>", -1, NULL, NULL},
	{"parameter without value", "<Response><Connect><Stream url=\"ws://h/s\"><Parameter name=\"a\"/></Stream></Connect></Response>", -1, NULL, NULL},
	{"unknown entity", "<Response><Connect><Stream url=\"ws://h/s&nbsp;\"></Stream></Connect></Response>", -1, NULL, NULL},
	{"unquoted attribute", "<Response><Connect><Stream url=ws://h/s></Stream></Connect></Response>", -1, NULL, NULL},
	{"text in stream", "<Response><Connect><Stream url=\"ws://h/s\">x<Parameter name=\"a\" value=\"b\"/></Stream></Connect></Response>", -1, NULL, NULL},
	{"trailing junk", "<Response><Connect><Stream url=\"ws://h/s\"></Stream></Connect></Response>junk", -1, NULL, NULL},
	{"unterminated tag", "<Response><Connect><Stream url=\"ws://h/s\"", -1, NULL, NULL},
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
		const tcase *t = &CASES[i];
		char url[CS_URL] = "";
		json_t *params = NULL;
		int got = twiml_stream(t->xml, url, sizeof url, &params);
		if (got != t->want)
			fail_msg("case \"%s\": got %d, want %d", t->name, got, t->want);
		if (t->want == 1) {
			assert_string_equal(url, t->url);
			const char *tok = json_string_value(json_object_get(params, "token"));
			if (t->token)
				assert_string_equal(tok, t->token);
			else
				assert_int_equal(json_object_size(params), 0);
		} else {
			assert_null(params);
		}
		json_decref(params);
	}
}

static void test_too_many_tags(void **state)
{
	char xml[8192] = "<Response><Connect><Stream url=\"ws://h/s\">";
	for (int i = 0; i < 80; i++)
		strcat(xml, "<Parameter name=\"a\" value=\"b\"/>");
	strcat(xml, "</Stream></Connect></Response>");
	char url[CS_URL];
	json_t *params = NULL;
	assert_int_equal(twiml_stream(xml, url, sizeof url, &params), -1);
	assert_null(params);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_too_many_tags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
