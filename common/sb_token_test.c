/*
 * sb_token_test.c — stream tokens: round trip, every field covered by the
 * MAC, expiry, malformed input (truncation, wrong field counts, charsets,
 * lengths), wrong secret, and a fixed known-answer token so the bridge and
 * the gateway can never drift apart silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sb_token.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SLEN   (sizeof SECRET - 1)
#define NOW    1700000000LL

static sb_stream_token sample(void)
{
	sb_stream_token t = {.kind = SB_TOKEN_BUSINESS, .expires = NOW + 300};
	strcpy(t.call_sid, "CA0123456789abcdef0123456789abcdef");
	strcpy(t.subject, "biz_7k3m0q9x2v5w8r1t4c6d");
	return t;
}

static void test_round_trip(void **state)
{
	sb_stream_token t = sample(), got;
	char tok[SB_TOKEN_MAX];
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	assert_int_equal(sb_token_verify(tok, SECRET, SLEN, NOW, &got), SB_TOKEN_OK);
	assert_string_equal(got.call_sid, t.call_sid);
	assert_string_equal(got.subject, t.subject);
	assert_int_equal(got.kind, SB_TOKEN_BUSINESS);
	assert_int_equal(got.expires, t.expires);
	assert_null(strchr(tok, '?'));
	assert_null(strpbrk(tok, "&<>\"'+/= ")); /* nothing to escape in XML or URLs */

	t.kind = SB_TOKEN_PAYER;
	strcpy(t.subject, "payer-42");
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	assert_int_equal(sb_token_verify(tok, SECRET, SLEN, NOW, &got), SB_TOKEN_OK);
	assert_int_equal(got.kind, SB_TOKEN_PAYER);
	assert_string_equal(got.subject, "payer-42");
}

/* A fixed answer: changing the format or the MAC input breaks this test first. */
static void test_known_answer(void **state)
{
	sb_stream_token t = sample();
	char tok[SB_TOKEN_MAX];
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	assert_string_equal(tok, "v1.CA0123456789abcdef0123456789abcdef.b.biz_7k3m0q9x2v5w8r1t4c6d.1700000300."
				 "4O132pbfA6lMkZVTsozjrA_MuFS9znDOIgnM4F_gXKM");
}

static void test_expiry(void **state)
{
	sb_stream_token t = sample();
	char tok[SB_TOKEN_MAX];
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	assert_int_equal(sb_token_verify(tok, SECRET, SLEN, t.expires - 1, NULL), SB_TOKEN_OK);
	assert_int_equal(sb_token_verify(tok, SECRET, SLEN, t.expires, NULL), SB_TOKEN_EXPIRED);
	assert_int_equal(sb_token_verify(tok, SECRET, SLEN, t.expires + 3600, NULL), SB_TOKEN_EXPIRED);
	/* an expired forgery is reported as forged, not expired */
	assert_int_equal(sb_token_verify(tok, "another secret of 32 characters", 31, t.expires + 1, NULL),
			 SB_TOKEN_FORGED);
}

/* Changing any one character of the signed part (or the MAC) is detected. */
static void test_tampering(void **state)
{
	sb_stream_token t = sample();
	char tok[SB_TOKEN_MAX], bad[SB_TOKEN_MAX];
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	size_t n = strlen(tok);
	for (size_t i = 0; i < n; i++) {
		if (tok[i] == '.')
			continue;
		strcpy(bad, tok);
		bad[i] = tok[i] == 'a' ? 'c' : 'a'; /* stays in every field's charset */
		sb_token_result r = sb_token_verify(bad, SECRET, SLEN, NOW, NULL);
		if (r != SB_TOKEN_FORGED && r != SB_TOKEN_MALFORMED)
			fail_msg("changing byte %zu of %s was accepted (%s)", i, tok, sb_token_result_name(r));
	}
	strcpy(bad, tok); /* a business token turned into a payer token */
	strstr(bad, ".b.")[1] = 'p';
	assert_int_equal(sb_token_verify(bad, SECRET, SLEN, NOW, NULL), SB_TOKEN_FORGED);
	assert_int_equal(sb_token_verify(tok, "0123456789abcdef0123456789abcdeF", SLEN, NOW, NULL), SB_TOKEN_FORGED);
}

static void test_malformed(void **state)
{
	sb_stream_token t = sample();
	char tok[SB_TOKEN_MAX], bad[SB_TOKEN_MAX * 2];
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	const char *mac = strrchr(tok, '.') + 1;
	static const char *const fmt[] = {
		"",
		"v1",
		"v2.CA1.b.biz.1700000300.%s",
		"v1.CA1.x.biz.1700000300.%s",
		"v1.CA1.bb.biz.1700000300.%s",
		"v1..b.biz.1700000300.%s",
		"v1.CA1.b..1700000300.%s",
		"v1.CA 1.b.biz.1700000300.%s",
		"v1.CA1.b.biz.-1.%s",
		"v1.CA1.b.biz.17e8.%s",
		"v1.CA1.b.biz.1700000300",
		"v1.CA1.b.biz.1700000300.%s.extra",
		"v1.CA1.b.biz.1700000300.%.10s",
		"v1.CA1.b.biz.1234567890123456789.%s",
	};
	for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
		snprintf(bad, sizeof bad, fmt[i], mac);
		if (sb_token_verify(bad, SECRET, SLEN, NOW, NULL) != SB_TOKEN_MALFORMED)
			fail_msg("\"%s\" should be malformed", bad);
	}
	memset(bad, 'a', sizeof bad - 1);
	bad[sizeof bad - 1] = '\0';
	assert_int_equal(sb_token_verify(bad, SECRET, SLEN, NOW, NULL), SB_TOKEN_MALFORMED);
	assert_int_equal(sb_token_verify(NULL, SECRET, SLEN, NOW, NULL), SB_TOKEN_MALFORMED);
	for (size_t cut = 0; cut < strlen(tok); cut++) { /* every truncation */
		snprintf(bad, sizeof bad, "%.*s", (int)cut, tok);
		assert_int_not_equal(sb_token_verify(bad, SECRET, SLEN, NOW, NULL), SB_TOKEN_OK);
	}
}

static void test_sign_refuses_bad_fields(void **state)
{
	char tok[SB_TOKEN_MAX];
	sb_stream_token t = sample();
	strcpy(t.call_sid, "CA.1");
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), -1);
	t = sample();
	t.subject[0] = '\0';
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), -1);
	t = sample();
	t.kind = (sb_token_kind)'x';
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), -1);
	t = sample();
	t.expires = -5;
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), -1);
	t = sample();
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, 40), -1); /* too small */
	memset(t.call_sid, 'C', SB_TOKEN_FIELD_MAX);
	t.call_sid[SB_TOKEN_FIELD_MAX] = '\0';
	memset(t.subject, 's', SB_TOKEN_FIELD_MAX);
	t.subject[SB_TOKEN_FIELD_MAX] = '\0';
	t.expires = 999999999999999999LL; /* the longest of everything still fits */
	assert_int_equal(sb_token_sign(&t, SECRET, SLEN, tok, sizeof tok), 0);
	assert_int_equal(sb_token_verify(tok, SECRET, SLEN, NOW, NULL), SB_TOKEN_OK);
	assert_string_equal(sb_token_result_name(SB_TOKEN_EXPIRED), "expired");
}

/* The unsubscribe signature against an independent computation:
 * printf 'sb-unsubscribe\npayer_1' | openssl dgst -sha256 -hmac test-secret, first 32 hex digits. */
static void test_unsubscribe_sig(void **state)
{
	char sig[SB_UNSUB_SIG_LEN + 1];
	sb_unsubscribe_sig("test-secret", 11, "payer_1", sig);
	assert_string_equal(sig, "cd17a34f88a54a4a7b12ce7593ae770a");
	assert_true(sb_unsubscribe_verify("test-secret", 11, "payer_1", sig));
	assert_false(sb_unsubscribe_verify("test-secret", 11, "payer_2", sig));
	assert_false(sb_unsubscribe_verify("other-secret", 12, "payer_1", sig));
	assert_false(sb_unsubscribe_verify("test-secret", 11, "payer_1", "cd17a34f"));
	assert_false(sb_unsubscribe_verify("test-secret", 11, "payer_1", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_sign_refuses_bad_fields),
		cmocka_unit_test(test_unsubscribe_sig),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
