/*
 * gateway_twilio_test.c — sb-gateway's Twilio webhooks against a real
 * sb-store, over real sockets, with signatures made by common/sb_twilio.
 *
 * Cases: the signature check (Twilio's published example parameters pass;
 * a changed parameter, a missing header, a wrong URL, a wrong token get a
 * plain 403; the port variants pass); the insecure flag warns at start;
 * the voice webhook (a known number streams, with a token the bridge
 * accepts; unknown or inactive numbers are not in service; one call log
 * for a CallSid posted twice); the outbound webhook; status callbacks out
 * of order and for unknown calls; content-type and method errors; and, last,
 * the store going down (apology TwiML, /healthz 503) and coming back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/gateway_harness.h"
#include "sb_json.h"
#include "sb_time.h"
#include "sb_token.h"

#define NUMBER "+18005550100"
#define CALLER "+14155550199"

static struct {
	sbt_gw g;
	char   biz[64];
	int    seq; /* for fresh CallSids */
} T;

/* ---- helpers ---------------------------------------------------------------------- */

static void fresh_sid(char out[40])
{
	snprintf(out, 40, "CA%08lx%022d", (unsigned long)time(NULL), ++T.seq);
}

/* The form Twilio posts to a voice webhook. */
static void voice_form(sb_form *f, const char *sid, const char *to)
{
	sb_form_add(f, "AccountSid", "AC00000000000000000000000000000000");
	sb_form_add(f, "ApiVersion", "2010-04-01");
	sb_form_add(f, "CallSid", sid);
	sb_form_add(f, "CallStatus", "ringing");
	sb_form_add(f, "Direction", "inbound");
	sb_form_add(f, "From", CALLER);
	sb_form_add(f, "To", to);
	sb_form_add(f, "CallerName", "Ann O'Neil & Co"); /* needs encoding and XML care */
}

/* Post a signed voice webhook for (sid, to) to path. */
static void post_voice(const char *path, const char *sid, const char *to, sbt_resp *r)
{
	sb_form f = {0};
	voice_form(&f, sid, to);
	assert_int_equal(sbt_twilio(&T.g, SBT_TWILIO_TOKEN, path, &f, r), 0);
	sb_form_free(&f);
}

/* Copy the value of <Parameter name="name" value="..."/> into out; NULL if absent. */
static const char *param(const char *twiml, const char *name, char *out, size_t len)
{
	char key[80];
	snprintf(key, sizeof key, "<Parameter name=\"%s\" value=\"", name);
	const char *p = strstr(twiml, key);
	if (!p)
		return NULL;
	p += strlen(key);
	snprintf(out, len, "%.*s", (int)strcspn(p, "\""), p);
	return out;
}

static void assert_xml_200(const sbt_resp *r)
{
	char ct[64];
	assert_int_equal(r->status, 200);
	assert_non_null(sbt_resp_header(r, "Content-Type", ct, sizeof ct));
	assert_string_equal(ct, "text/xml");
	assert_non_null(strstr(r->body, "<Response"));
}

static void assert_not_in_service(const sbt_resp *r)
{
	assert_xml_200(r);
	assert_non_null(strstr(r->body, "<Say>"));
	assert_non_null(strstr(r->body, "not in service"));
	assert_non_null(strstr(r->body, "<Hangup/></Response>"));
	assert_null(strstr(r->body, "<Connect>"));
}

static void assert_apology(const sbt_resp *r)
{
	assert_xml_200(r);
	assert_non_null(strstr(r->body, "We are sorry"));
	assert_non_null(strstr(r->body, "<Hangup/></Response>"));
	assert_null(strstr(r->body, "<Connect>"));
}

/* The stream TwiML for sid: url path, the subject parameter, and a token the bridge accepts. */
static void assert_stream(const sbt_resp *r, const char *sid, const char *path, const char *subject_name,
			  const char *subject, sb_token_kind kind)
{
	assert_xml_200(r);
	char want[256], v[300];
	snprintf(want, sizeof want, "<Response><Connect><Stream url=\"wss://gw.test%s\">", path);
	if (!strstr(r->body, want))
		fail_msg("no %s in %s", want, r->body);
	assert_non_null(strstr(r->body, "</Stream></Connect></Response>"));
	assert_string_equal(param(r->body, "callSid", v, sizeof v), sid);
	assert_string_equal(param(r->body, subject_name, v, sizeof v), subject);
	assert_non_null(param(r->body, "token", v, sizeof v));
	sb_stream_token t;
	int64_t now = sb_now_ms() / 1000;
	assert_int_equal(sb_token_verify(v, SBT_SECRET, strlen(SBT_SECRET), now, &t), SB_TOKEN_OK);
	assert_string_equal(t.call_sid, sid);
	assert_string_equal(t.subject, subject);
	assert_int_equal(t.kind, kind);
	assert_true(t.expires > now + 250 && t.expires <= now + 301); /* --stream-token-ttl 300 */
	assert_int_equal(sb_token_verify(v, "some other secret value", 23, now, NULL), SB_TOKEN_FORGED);
	assert_int_equal(sb_token_verify(v, SBT_SECRET, strlen(SBT_SECRET), t.expires, NULL), SB_TOKEN_EXPIRED);
}

/* GET an admin path and return its JSON body (owned), asserting the status. */
static json_t *api_json(const char *method, const char *path, const char *body, long status)
{
	sbt_resp r;
	assert_int_equal(sbt_api(&T.g, method, path, body, &r), 0);
	if (r.status != status)
		fail_msg("%s %s: want %ld, got %ld %s", method, path, status, r.status, r.body);
	json_t *j = sbt_resp_json(&r);
	sbt_resp_free(&r);
	return j;
}

/* The call log of sid (owned), or NULL with 404. */
static json_t *call_of(const char *sid)
{
	char path[128];
	snprintf(path, sizeof path, "/api/calls/%s", sid);
	sbt_resp r;
	assert_int_equal(sbt_api(&T.g, "GET", path, NULL, &r), 0);
	json_t *j = r.status == 200 ? sbt_resp_json(&r) : NULL;
	assert_true(r.status == 200 || r.status == 404);
	sbt_resp_free(&r);
	return j;
}

/* Post a signed status callback. */
static void post_status(const char *path, const char *sid, const char *status, const char *duration,
			const char *direction, sbt_resp *r)
{
	sb_form f = {0};
	sb_form_add(&f, "AccountSid", "AC00000000000000000000000000000000");
	sb_form_add(&f, "CallSid", sid);
	sb_form_add(&f, "CallStatus", status);
	if (duration)
		sb_form_add(&f, "CallDuration", duration);
	if (direction)
		sb_form_add(&f, "Direction", direction);
	sb_form_add(&f, "From", "+18005550100");
	sb_form_add(&f, "To", "+14155550123");
	sb_form_add(&f, "CallbackSource", "call-progress-events");
	assert_int_equal(sbt_twilio(&T.g, SBT_TWILIO_TOKEN, path, &f, r), 0);
	sb_form_free(&f);
	assert_xml_200(r);
}

static int setup(void **state)
{
	const char *args[] = {"--webhook-timeout", "700", "--backend-timeout", "1500", NULL};
	if (sbt_gw_start(&T.g, args) != 0 || sbt_gw_business(&T.g, "Acme Plumbing", NUMBER, T.biz) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	sbt_gw_stop(&T.g);
	return 0;
}

/* ---- signatures -------------------------------------------------------------------- */

/* Twilio's published example (services-and-libraries.md A3.4), through the gateway. */
static void test_signature_published_example(void **state)
{
	sb_form f = {0};
	sb_form_add(&f, "CallSid", "CA1234567890ABCDE");
	sb_form_add(&f, "Caller", "+14158675309");
	sb_form_add(&f, "Digits", "1234");
	sb_form_add(&f, "From", "+14158675309");
	sb_form_add(&f, "To", "+18005551212");
	char sig[SB_TWILIO_SIG_LEN + 1];
	sb_twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &f, sig);
	assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8="); /* the harness signs as Twilio does */

	sbt_resp r;
	assert_int_equal(sbt_twilio(&T.g, SBT_TWILIO_TOKEN, "/api/twilio/voice?foo=1&bar=2", &f, &r), 0);
	assert_not_in_service(&r); /* accepted: +18005551212 is simply not ours */
	sbt_resp_free(&r);
	/* the same with the port made explicit, as Twilio sometimes signs */
	assert_int_equal(sbt_twilio_signed_for(&T.g, "https://gw.test:443/api/twilio/voice?foo=1&bar=2",
					       "/api/twilio/voice?foo=1&bar=2", &f, &r),
			 0);
	assert_int_equal(r.status, 200);
	sbt_resp_free(&r);
	sb_form_free(&f);
}

static void assert_forbidden(const sbt_resp *r)
{
	char ct[64];
	assert_int_equal(r->status, 403);
	assert_string_equal(sbt_resp_header(r, "Content-Type", ct, sizeof ct), "text/plain");
	assert_null(strstr(r->body, "<html"));
}

static void test_signature_refusals(void **state)
{
	char sid[40];
	fresh_sid(sid);
	sb_form f = {0};
	voice_form(&f, sid, NUMBER);
	sbt_resp r;
	/* missing header */
	assert_int_equal(sbt_twilio(&T.g, NULL, "/api/twilio/voice", &f, &r), 0);
	assert_forbidden(&r);
	sbt_resp_free(&r);
	/* wrong token */
	assert_int_equal(sbt_twilio(&T.g, "not-the-token", "/api/twilio/voice", &f, &r), 0);
	assert_forbidden(&r);
	sbt_resp_free(&r);
	/* wrong URLs: another host, another path, the query left out, http instead of https */
	static const char *const wrong[] = {"https://evil.test/api/twilio/voice?x=1", "https://gw.test/api/twilio/status?x=1",
					    "https://gw.test/api/twilio/voice", "http://gw.test/api/twilio/voice?x=1"};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		assert_int_equal(sbt_twilio_signed_for(&T.g, wrong[i], "/api/twilio/voice?x=1", &f, &r), 0);
		assert_forbidden(&r);
		sbt_resp_free(&r);
	}
	/* a parameter changed after signing */
	char url[128], sig[SB_TWILIO_SIG_LEN + 1], hdr[80];
	snprintf(url, sizeof url, "%s/api/twilio/voice", SBT_PUBLIC_URL);
	sb_twilio_signature(SBT_TWILIO_TOKEN, url, &f, sig);
	free(f.p[6].value); /* To */
	f.p[6].value = strdup("+18005550101");
	char *body = sb_form_encode(&f);
	snprintf(hdr, sizeof hdr, "X-Twilio-Signature: %s", sig);
	const char *h[] = {"Content-Type: application/x-www-form-urlencoded", hdr, NULL};
	assert_int_equal(sbt_http(&T.g, "POST", "/api/twilio/voice", h, body, strlen(body), &r), 0);
	assert_forbidden(&r);
	sbt_resp_free(&r);
	free(body);
	sb_form_free(&f);
	assert_null(call_of(sid)); /* nothing was written */
}

static void test_insecure_flag_warns(void **state)
{
	sbt_gw g2 = {.store = T.g.store, .starts = 100};
	snprintf(g2.store_url, sizeof g2.store_url, "%s", T.g.store_url);
	char events[600], sock[512];
	snprintf(events, sizeof events, "ipc://%s", sbt_path(sock, sizeof sock, "gw2-events.sock"));
	const char *args[] = {"--insecure-skip-twilio-signature", "--events", events, NULL};
	assert_int_equal(sbt_gw_start(&g2, args), 0);
	char cmd[700], out[512] = "";
	snprintf(cmd, sizeof cmd, "grep -c 'warn gateway.insecure' %s", g2.gw.log);
	FILE *p = popen(cmd, "r");
	assert_non_null(fgets(out, sizeof out, p));
	pclose(p);
	assert_int_equal(atoi(out), 1);
	char sid[40];
	fresh_sid(sid);
	sb_form f = {0};
	voice_form(&f, sid, NUMBER);
	sbt_resp r;
	assert_int_equal(sbt_twilio(&g2, NULL, "/api/twilio/voice", &f, &r), 0); /* unsigned, accepted */
	assert_stream(&r, sid, "/api/twilio/stream", "businessId", T.biz, SB_TOKEN_BUSINESS);
	sbt_resp_free(&r);
	sb_form_free(&f);
	assert_int_equal(sbt_gw_stop_gateway(&g2, SIGTERM), 0);
}

/* ---- voice webhook --------------------------------------------------------------------- */

static void test_voice_streams_known_number(void **state)
{
	char sid[40];
	fresh_sid(sid);
	sbt_resp r;
	post_voice("/api/twilio/voice", sid, NUMBER, &r);
	assert_stream(&r, sid, "/api/twilio/stream", "businessId", T.biz, SB_TOKEN_BUSINESS);
	assert_null(strchr(strstr(r.body, "url=\""), '?')); /* never a query string in the stream URL */
	sbt_resp_free(&r);
	json_t *call = call_of(sid);
	assert_non_null(call);
	assert_string_equal(sb_json_str(call, "businessId"), T.biz);
	assert_string_equal(sb_json_str(call, "direction"), "inbound");
	assert_string_equal(sb_json_str(call, "from"), CALLER);
	assert_string_equal(sb_json_str(call, "to"), NUMBER);
	assert_string_equal(sb_json_str(call, "status"), "in-progress");
	json_decref(call);
}

static void test_voice_same_callsid_once(void **state)
{
	char sid[40], path[160], b1[400], b2[400];
	fresh_sid(sid);
	sbt_resp r1, r2;
	post_voice("/api/twilio/voice", sid, NUMBER, &r1); /* Twilio retrying: same CallSid */
	post_voice("/api/twilio/voice", sid, NUMBER, &r2);
	assert_stream(&r1, sid, "/api/twilio/stream", "businessId", T.biz, SB_TOKEN_BUSINESS);
	assert_stream(&r2, sid, "/api/twilio/stream", "businessId", T.biz, SB_TOKEN_BUSINESS);
	snprintf(b1, sizeof b1, "%.*s", (int)(strstr(r1.body, "name=\"token\"") - r1.body), r1.body);
	snprintf(b2, sizeof b2, "%.*s", (int)(strstr(r2.body, "name=\"token\"") - r2.body), r2.body);
	assert_string_equal(b1, b2);
	sbt_resp_free(&r1);
	sbt_resp_free(&r2);
	snprintf(path, sizeof path, "/api/calls?businessId=%s&limit=100", T.biz);
	json_t *list = api_json("GET", path, NULL, 200);
	int n = 0;
	json_t *it;
	size_t i;
	json_array_foreach(json_object_get(list, "items"), i, it)
		n += strcmp(sb_json_str(it, "callSid"), sid) == 0;
	assert_int_equal(n, 1);
	json_decref(list);
}

static void test_voice_unknown_and_inactive(void **state)
{
	char sid[40], path[128];
	sbt_resp r;
	fresh_sid(sid);
	post_voice("/api/twilio/voice", sid, "+18005559999", &r); /* nobody's number */
	assert_not_in_service(&r);
	sbt_resp_free(&r);
	post_voice("/api/twilio/voice", sid, "client:alice", &r); /* not even E.164 */
	assert_not_in_service(&r);
	sbt_resp_free(&r);
	assert_null(call_of(sid));

	char biz[64];
	assert_int_equal(sbt_gw_business(&T.g, "Closed Shop", "+18005550177", biz), 0);
	fresh_sid(sid);
	post_voice("/api/twilio/voice", sid, "+18005550177", &r); /* warms the number cache */
	assert_stream(&r, sid, "/api/twilio/stream", "businessId", biz, SB_TOKEN_BUSINESS);
	sbt_resp_free(&r);
	snprintf(path, sizeof path, "/api/businesses/%s", biz);
	json_decref(api_json("PUT", path, "{\"isActive\":false}", 200)); /* must drop the cached lookup */
	fresh_sid(sid);
	post_voice("/api/twilio/voice", sid, "+18005550177", &r);
	assert_not_in_service(&r);
	sbt_resp_free(&r);
	assert_null(call_of(sid));
	json_decref(api_json("PUT", path, "{\"isActive\":true}", 200));
	post_voice("/api/twilio/voice", sid, "+18005550177", &r);
	assert_stream(&r, sid, "/api/twilio/stream", "businessId", biz, SB_TOKEN_BUSINESS);
	sbt_resp_free(&r);
}

/* ---- outbound webhook ------------------------------------------------------------------ */

static void test_outbound_streams_to_collect_iq(void **state)
{
	char body[256], path[160], sid[40], payer[64];
	snprintf(body, sizeof body, "{\"name\":\"Pat Payer\",\"phone\":\"+14155550142\",\"amountDue\":120.5,\"businessId\":\"%s\"}",
		 T.biz);
	json_t *p = api_json("POST", "/api/payers", body, 201);
	snprintf(payer, sizeof payer, "%s", sb_json_str(p, "id"));
	json_decref(p);

	fresh_sid(sid);
	snprintf(path, sizeof path, "/collect-iq/voice?payerId=%s", payer);
	sbt_resp r;
	post_voice(path, sid, "+14155550142", &r);
	assert_stream(&r, sid, "/collect-iq/media-stream", "payerId", payer, SB_TOKEN_PAYER);
	sbt_resp_free(&r);
	json_t *call = call_of(sid);
	assert_non_null(call);
	assert_string_equal(sb_json_str(call, "direction"), "outbound");
	assert_string_equal(sb_json_str(call, "payerId"), payer);
	assert_string_equal(sb_json_str(call, "businessId"), T.biz);
	json_decref(call);

	fresh_sid(sid); /* no payerId, an unknown payer, a payerId that is not an id */
	static const char *const bad[] = {"/collect-iq/voice", "/collect-iq/voice?payerId=payer_nobody",
					  "/collect-iq/voice?payerId=a%20b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post_voice(bad[i], sid, "+14155550142", &r);
		assert_apology(&r);
		sbt_resp_free(&r);
	}
	assert_null(call_of(sid));
}

/* ---- status callbacks ------------------------------------------------------------------- */

static void test_status_out_of_order(void **state)
{
	char sid[40];
	fresh_sid(sid);
	sbt_resp r;
	post_voice("/api/twilio/voice", sid, NUMBER, &r);
	sbt_resp_free(&r);
	static const struct {
		const char *status, *duration;
	} seq[] = {{"completed", "42"}, {"ringing", NULL}, {"in-progress", NULL}, {"completed", "42"},
		   {"busy", "7"}, {"no-such-status", NULL}};
	for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		post_status("/api/twilio/status", sid, seq[i].status, seq[i].duration, "inbound", &r);
		sbt_resp_free(&r);
		json_t *call = call_of(sid);
		assert_string_equal(sb_json_str(call, "status"), "completed"); /* never moves backwards */
		assert_int_equal(sb_json_int(call, "durationS", -1), 42);
		assert_non_null(sb_json_str(call, "endedAt"));
		json_decref(call);
	}
}

static void test_status_for_unknown_calls(void **state)
{
	char body[256], sid[40], path[160], payer[64];
	snprintf(body, sizeof body, "{\"name\":\"Never Answers\",\"businessId\":\"%s\"}", T.biz);
	json_t *p = api_json("POST", "/api/payers", body, 201);
	snprintf(payer, sizeof payer, "%s", sb_json_str(p, "id"));
	json_decref(p);
	sbt_resp r;

	/* an outbound call that was never answered: its only webhook is the status callback */
	fresh_sid(sid);
	snprintf(path, sizeof path, "/api/twilio/status?payerId=%s", payer);
	post_status(path, sid, "no-answer", "0", "outbound-api", &r);
	sbt_resp_free(&r);
	json_t *call = call_of(sid);
	assert_non_null(call);
	assert_string_equal(sb_json_str(call, "status"), "no-answer");
	assert_string_equal(sb_json_str(call, "direction"), "outbound");
	assert_string_equal(sb_json_str(call, "payerId"), payer);
	assert_string_equal(sb_json_str(call, "businessId"), T.biz);
	json_decref(call);

	/* nothing to go on: acknowledged, not invented */
	fresh_sid(sid);
	post_status("/api/twilio/status", sid, "completed", "3", NULL, &r);
	sbt_resp_free(&r);
	assert_null(call_of(sid));
}

static void test_webhook_http_errors(void **state)
{
	sbt_resp r;
	const char *h[] = {"Content-Type: application/json", NULL};
	assert_int_equal(sbt_http(&T.g, "POST", "/api/twilio/voice", h, "{}", 2, &r), 0);
	assert_int_equal(r.status, 415);
	sbt_resp_free(&r);
	assert_int_equal(sbt_http(&T.g, "GET", "/api/twilio/voice", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 405);
	char allow[64];
	assert_string_equal(sbt_resp_header(&r, "Allow", allow, sizeof allow), "POST");
	sbt_resp_free(&r);
	const char *f[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	assert_int_equal(sbt_http(&T.g, "POST", "/api/twilio/voice", f, "CallSid=%zz", 11, &r), 0);
	assert_int_equal(r.status, 400); /* malformed form: no signature can cover it */
	sbt_resp_free(&r);
}

/* ---- the store goes away, and comes back -------------------------------------------------- */

static void test_store_down_then_back(void **state)
{
	char sid[40];
	sbt_resp r;
	assert_int_equal(sbt_stop(&T.g.store, SIGTERM, 10000), 0);
	fresh_sid(sid);
	int64_t t0 = sb_mono_ms();
	post_voice("/api/twilio/voice", sid, NUMBER, &r);
	assert_apology(&r); /* never an HTML error page, never a hang */
	assert_true(sb_mono_ms() - t0 < 5000);
	sbt_resp_free(&r);
	post_status("/api/twilio/status", sid, "completed", "1", "inbound", &r); /* acknowledged */
	sbt_resp_free(&r);
	assert_int_equal(sbt_http(&T.g, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 503);
	sbt_resp_free(&r);

	assert_int_equal(sbt_start_store(&T.g.store, T.g.store_url, sizeof T.g.store_url, NULL), 0);
	int64_t until = sb_mono_ms() + 15000;
	long status = 0;
	while (status != 200 && sb_mono_ms() < until) {
		assert_int_equal(sbt_http(&T.g, "GET", "/healthz", NULL, NULL, 0, &r), 0);
		status = r.status;
		sbt_resp_free(&r);
	}
	assert_int_equal(status, 200);
	post_voice("/api/twilio/voice", sid, NUMBER, &r);
	assert_stream(&r, sid, "/api/twilio/stream", "businessId", T.biz, SB_TOKEN_BUSINESS);
	sbt_resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_published_example),
		cmocka_unit_test(test_signature_refusals),
		cmocka_unit_test(test_insecure_flag_warns),
		cmocka_unit_test(test_voice_streams_known_number),
		cmocka_unit_test(test_voice_same_callsid_once),
		cmocka_unit_test(test_voice_unknown_and_inactive),
		cmocka_unit_test(test_outbound_streams_to_collect_iq),
		cmocka_unit_test(test_status_out_of_order),
		cmocka_unit_test(test_status_for_unknown_calls),
		cmocka_unit_test(test_webhook_http_errors),
		cmocka_unit_test(test_store_down_then_back),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
