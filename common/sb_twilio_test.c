/*
 * sb_twilio_test.c — Twilio signatures against the published vectors
 * (services-and-libraries.md A3.4, from twilio-python's unit tests), the
 * port rule, repeated keys, the JSON bodySHA256 variant; strict form
 * decoding and encoding; XML escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sb_twilio.h"

#define TOKEN "12345"
#define URL   "https://mycompany.com/myapp.php?foo=1&bar=2"

/* The form of the published example, From/Caller given. */
static void example_form(sb_form *f, const char *from)
{
	sb_form_add(f, "CallSid", "CA1234567890ABCDE");
	sb_form_add(f, "Caller", from);
	sb_form_add(f, "Digits", "1234");
	sb_form_add(f, "From", from);
	sb_form_add(f, "To", "+18005551212");
}

static void test_published_vectors(void **state)
{
	static const struct {
		const char *url, *from, *sig;
	} v[] = {
		{URL, "+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"https://mycompany.com:443/myapp.php?foo=1&bar=2", "+14158675309", "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{URL, "+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		sb_form f = {0};
		char sig[SB_TWILIO_SIG_LEN + 1];
		example_form(&f, v[i].from);
		sb_twilio_signature(TOKEN, v[i].url, &f, sig);
		assert_string_equal(sig, v[i].sig);
		assert_int_equal(sb_twilio_validate(TOKEN, v[i].url, &f, v[i].sig), 1);
		sb_form_free(&f);
	}
}

/* Twilio's port inconsistency: either form of the URL validates either signature. */
static void test_port_variants(void **state)
{
	sb_form f = {0};
	example_form(&f, "+14158675309");
	assert_int_equal(sb_twilio_validate(TOKEN, URL, &f, "kvajT1Ptam85bY51eRf/AJRuM3w="), 1);
	assert_int_equal(sb_twilio_validate(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &f,
					    "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
			 1);
	/* a non-standard port is kept in the "with port" variant */
	const char *u8443 = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
	assert_int_equal(sb_twilio_validate(TOKEN, u8443, &f, "ZOaJEsozlsUyzk5k5fpaCxTxXDA="), 1);
	assert_int_equal(sb_twilio_validate(TOKEN, u8443, &f, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 1);
	sb_form_free(&f);

	static const char *const cases[][3] = {
		{"https://h.test/a?b=1", "1", "https://h.test:443/a?b=1"},
		{"https://h.test/a?b=1", "0", "https://h.test/a?b=1"},
		{"http://h.test:8080/a", "1", "http://h.test:8080/a"},
		{"http://h.test:8080/a", "0", "http://h.test/a"},
		{"http://h.test", "1", "http://h.test:80"},
		{"wss://u:p@h.test/s", "1", "wss://u:p@h.test:443/s"},
		{"http://[::1]:9/x", "0", "http://[::1]/x"},
		{"http://[::1]/x", "1", "http://[::1]:80/x"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[128];
		assert_int_equal(sb_url_port_variant(cases[i][0], cases[i][1][0] == '1', out, sizeof out), 0);
		assert_string_equal(out, cases[i][2]);
	}
	char small[8];
	assert_int_equal(sb_url_port_variant("https://h.test/a", 1, small, sizeof small), -1);
	assert_int_equal(sb_url_port_variant("/relative", 1, small, sizeof small), -1);
}

static void test_rejections(void **state)
{
	sb_form f = {0};
	example_form(&f, "+14158675309");
	const char *good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
	assert_int_equal(sb_twilio_validate("54321", URL, &f, good), 0);                      /* wrong token */
	assert_int_equal(sb_twilio_validate(TOKEN, URL "&x=1", &f, good), 0);                  /* wrong URL */
	assert_int_equal(sb_twilio_validate(TOKEN, "https://mycompany.com/myapp.php?bar=2&foo=1", &f, good),
			 0); /* query reordered: the raw query is signed */
	assert_int_equal(sb_twilio_validate(TOKEN, URL, &f, NULL), 0);                         /* missing */
	assert_int_equal(sb_twilio_validate(TOKEN, URL, &f, ""), 0);
	assert_int_equal(sb_twilio_validate(TOKEN, URL, &f, "RSOYDt4T1cUTdK1PDd93/VVr8B8"), 0); /* short */
	assert_int_equal(sb_twilio_validate("", URL, &f, good), 0);                            /* no token */
	sb_form_free(&f);
	example_form(&f, "+14158675309");
	free(f.p[2].value);
	f.p[2].value = strdup("1235"); /* one changed parameter */
	assert_int_equal(sb_twilio_validate(TOKEN, URL, &f, good), 0);
	sb_form_add(&f, "Extra", ""); /* an added one, even empty */
	assert_int_equal(sb_twilio_validate(TOKEN, URL, &f, good), 0);
	sb_form_free(&f);
}

/* Repeated keys: values sorted, exact duplicates counted once (twilio-python). */
static void test_repeated_keys(void **state)
{
	sb_form f = {0};
	sb_form_add(&f, "b", "x");
	sb_form_add(&f, "a", "2");
	sb_form_add(&f, "a", "1");
	sb_form_add(&f, "a", "1");
	char sig[SB_TWILIO_SIG_LEN + 1];
	sb_twilio_signature(TOKEN, "https://x.test/h", &f, sig);
	assert_string_equal(sig, "/33So3bEzY6OGhIN1O4AdCfspjY=");
	sb_form_free(&f);
}

static void test_json_body(void **state)
{
	const char *body = "{\"property\": \"value\", \"boolean\": true}";
	const char *url = URL "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
	const char *sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
	char got[SB_TWILIO_SIG_LEN + 1];
	sb_twilio_signature(TOKEN, url, NULL, got);
	assert_string_equal(got, sig);
	assert_int_equal(sb_twilio_validate_json(TOKEN, url, body, strlen(body), sig), 1);
	assert_int_equal(sb_twilio_validate_json(TOKEN, url, body, strlen(body) - 1, sig), 0); /* body changed */
	assert_int_equal(sb_twilio_validate_json(TOKEN, URL, body, strlen(body), sig), 0);     /* no bodySHA256 */
	assert_int_equal(sb_twilio_validate_json("x", url, body, strlen(body), sig), 0);
}

static void test_form_decode(void **state)
{
	sb_form f = {0};
	const char *s = "To=%2B18005551212&Caller+Name=A+B%26C&empty=&flag&&x=%e2%82%ac";
	assert_int_equal(sb_form_parse(&f, s, strlen(s), NULL), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(sb_form_get(&f, "To"), "+18005551212");
	assert_string_equal(sb_form_get(&f, "Caller Name"), "A B&C");
	assert_string_equal(sb_form_get(&f, "empty"), "");
	assert_string_equal(sb_form_get(&f, "flag"), "");
	assert_string_equal(sb_form_get(&f, "x"), "\xe2\x82\xac");
	assert_null(sb_form_get(&f, "missing"));
	sb_form_free(&f);
	assert_int_equal(f.n, 0);

	static const char *const bad[] = {"a=%", "a=%4", "a=%zz", "%G1=1", "a=%00", "a=1&b=%2"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		sb_error e = {0};
		if (sb_form_parse(&f, bad[i], strlen(bad[i]), &e) != -1)
			fail_msg("\"%s\" should be refused", bad[i]);
		assert_int_equal(e.code, SB_INVALID_ARGUMENT);
		sb_form_free(&f);
	}
}

static void test_form_limits_and_encode(void **state)
{
	size_t n = SB_FORM_MAX_PARAMS + 1;
	char *many = malloc(n * 4 + 1), *p = many;
	for (size_t i = 0; i < n; i++)
		p = stpcpy(p, "a=1&");
	sb_form f = {0};
	assert_int_equal(sb_form_parse(&f, many, strlen(many), NULL), -1);
	sb_form_free(&f);
	free(many);

	sb_form_add(&f, "To", "+1 800&x=y");
	sb_form_add(&f, "Url", "https://h.test/a?b=c~d");
	char *enc = sb_form_encode(&f);
	assert_string_equal(enc, "To=%2B1%20800%26x%3Dy&Url=https%3A%2F%2Fh.test%2Fa%3Fb%3Dc~d");
	sb_form g = {0}; /* round trip */
	assert_int_equal(sb_form_parse(&g, enc, strlen(enc), NULL), 0);
	assert_string_equal(sb_form_get(&g, "To"), "+1 800&x=y");
	assert_string_equal(sb_form_get(&g, "Url"), "https://h.test/a?b=c~d");
	free(enc);
	sb_form_free(&f);
	sb_form_free(&g);
}

static void test_xml_escape(void **state)
{
	char out[64];
	assert_int_equal(sb_xml_escape("a<b>&\"c'", out, sizeof out), 28);
	assert_string_equal(out, "a&lt;b&gt;&amp;&quot;c&apos;");
	assert_int_equal(sb_xml_escape("", out, sizeof out), 0);
	assert_int_equal(sb_xml_escape("abc", out, 3), -1); /* no room for the NUL */
	assert_int_equal(sb_xml_escape("&", out, 5), -1);
	assert_int_equal(sb_xml_escape("a\x01", out, sizeof out), -1); /* not XML at all */
	assert_int_equal(sb_xml_escape("a\tb\n", out, sizeof out), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_vectors),
		cmocka_unit_test(test_port_variants),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_repeated_keys),
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_form_decode),
		cmocka_unit_test(test_form_limits_and_encode),
		cmocka_unit_test(test_xml_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
