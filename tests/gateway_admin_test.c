/*
 * gateway_admin_test.c — sb-gateway's admin REST API against a real
 * sb-store (the rag-worker and the scheduler are deliberately absent).
 *
 * Cases: authentication (no key, malformed, unknown, revoked → 401; the
 * SB_ADMIN_KEY and created keys work); a key bound to one business sees
 * nothing of another (404, 403 for admin-only routes); every route of
 * businesses, phone numbers, configuration, knowledge (stored and
 * "pending" while the rag-worker is away; search 503), calls (pagination
 * math and bounds, filters, analytics, detail with transcript and tool
 * calls), payers (outreach 503 without a scheduler) and API keys; and the
 * HTTP-level errors: 400 bad JSON, 422 wrong types, 413 (2 MB), 415, 404,
 * 405 with Allow.
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
#include <unistd.h>

#include "lib/gateway_harness.h"
#include "sb_json.h"
#include "sb_time.h"
#include "sb_token.h"

static struct {
	sbt_gw     g;
	sb_client *store; /* to make calls and transcripts the way the bridge will */
	char       a[64], b[64]; /* two businesses */
	char       key_a[128];   /* an API key bound to business a */
} T;

/* ---- helpers ---------------------------------------------------------------------- */

/* method path [body] with key; assert the status; the JSON body (owned; NULL if none). */
static json_t *req(const char *key, const char *method, const char *path, const char *body, long status)
{
	sbt_resp r;
	assert_int_equal(sbt_api_key(&T.g, key, method, path, body, &r), 0);
	if (r.status != status)
		fail_msg("%s %s %s: want %ld, got %ld %s", method, path, body ? body : "", status, r.status, r.body);
	json_t *j = sbt_resp_json(&r);
	if (status >= 400) { /* every error has the same shape */
		json_t *e = json_object_get(j, "error");
		assert_non_null(sb_json_str(e, "code"));
		assert_non_null(sb_json_str(e, "message"));
	}
	sbt_resp_free(&r);
	return j;
}

#define admin(m, p, b, s) req(SBT_ADMIN_KEY, m, p, b, s)
#define as_a(m, p, b, s)  req(T.key_a, m, p, b, s)

static void drop(json_t *j)
{
	json_decref(j);
}

/* The error code of an error body. */
static const char *code_of(json_t *j)
{
	return sb_json_str(json_object_get(j, "error"), "code");
}

/* Make a call log (as the webhook would) for business biz at time at, with a status and duration. */
static void make_call(const char *sid, const char *biz, const char *at, const char *status, int duration)
{
	json_t *d = sbt_ok(T.store, "calls.create",
			   json_pack("{s:s,s:s,s:s,s:s,s:s}", "callSid", sid, "direction", "inbound", "businessId", biz,
				     "startedAt", at, "to", "+18005550100"));
	assert_non_null(d);
	json_decref(d);
	if (status) {
		d = sbt_ok(T.store, "calls.update_status",
			   json_pack("{s:s,s:s,s:i}", "callSid", sid, "status", status, "durationS", duration));
		assert_non_null(d);
		json_decref(d);
	}
}

static int setup(void **state)
{
	const char *args[] = {"--backend-timeout", "700", NULL};
	if (sbt_gw_start(&T.g, args) != 0 || !(T.store = sb_client_open(T.g.store_url, NULL, NULL)) ||
	    sbt_gw_business(&T.g, "Alpha", "+18005550001", T.a) != 0 ||
	    sbt_gw_business(&T.g, "Beta", "+18005550002", T.b) != 0)
		return -1;
	char body[128];
	sbt_resp r;
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"name\":\"alpha front end\"}", T.a);
	if (sbt_api(&T.g, "POST", "/api/keys", body, &r) != 0 || r.status != 201)
		return -1;
	json_t *k = sbt_resp_json(&r);
	snprintf(T.key_a, sizeof T.key_a, "%s", sb_json_str(k, "key"));
	json_decref(k);
	sbt_resp_free(&r);
	return 0;
}

static int teardown(void **state)
{
	sb_client_close(T.store);
	sbt_gw_stop(&T.g);
	return 0;
}

/* ---- authentication ---------------------------------------------------------------- */

static void test_auth(void **state)
{
	sbt_resp r;
	char www[64];
	assert_int_equal(sbt_api_key(&T.g, NULL, "GET", "/api/businesses", NULL, &r), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(sbt_resp_header(&r, "WWW-Authenticate", www, sizeof www), "Bearer");
	sbt_resp_free(&r);
	static const char *const bad[] = {"Authorization: Basic YWRtaW46YWRtaW4=", "Authorization: Bearer",
					  "Authorization: Bearer a b", "Authorization: Bearer sbk_0000000000000000000000000000000000000000"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *h[] = {bad[i], NULL};
		assert_int_equal(sbt_http(&T.g, "GET", "/api/businesses", h, NULL, 0, &r), 0);
		if (r.status != 401)
			fail_msg("\"%s\" got %ld", bad[i], r.status);
		sbt_resp_free(&r);
	}
	drop(admin("GET", "/api/businesses", NULL, 200)); /* SB_ADMIN_KEY */

	/* a created admin key: shown once, listed without the key, works, and stops working when revoked */
	json_t *k = admin("POST", "/api/keys", "{\"name\":\"ci\"}", 201);
	char key[128], id[64], path[128];
	snprintf(key, sizeof key, "%s", sb_json_str(k, "key"));
	snprintf(id, sizeof id, "%s", sb_json_str(k, "id"));
	assert_true(json_is_null(json_object_get(k, "businessId")) || !json_object_get(k, "businessId"));
	json_decref(k);
	drop(req(key, "GET", "/api/businesses", NULL, 200));
	drop(req(key, "GET", "/api/businesses", NULL, 200)); /* cached */
	json_t *list = admin("GET", "/api/keys", NULL, 200);
	char *text = json_dumps(list, 0);
	assert_null(strstr(text, key));
	assert_non_null(strstr(text, id));
	free(text);
	json_decref(list);
	snprintf(path, sizeof path, "/api/keys/%s", id);
	json_t *revoked = req(key, "DELETE", path, NULL, 200); /* a key may revoke itself */
	assert_non_null(sb_json_str(revoked, "revokedAt"));
	json_decref(revoked);
	drop(req(key, "GET", "/api/businesses", NULL, 401)); /* at once, cache or not */
}

/* ---- a business key sees only its business ---------------------------------------------- */

static void test_business_key_scope(void **state)
{
	char path[200], body[256];
	json_t *j = as_a("GET", "/api/businesses", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	assert_string_equal(sb_json_str(json_array_get(json_object_get(j, "items"), 0), "id"), T.a);
	json_decref(j);
	snprintf(path, sizeof path, "/api/businesses/%s", T.b);
	drop(as_a("GET", path, NULL, 404));
	drop(as_a("PUT", path, "{\"name\":\"Mine now\"}", 404));
	drop(as_a("DELETE", path, NULL, 403));
	j = as_a("POST", "/api/businesses", "{\"name\":\"Gamma\"}", 403);
	assert_string_equal(code_of(j), "permission_denied");
	json_decref(j);
	snprintf(path, sizeof path, "/api/businesses/%s", T.a);
	drop(as_a("PUT", path, "{\"name\":\"Alpha Inc\"}", 200));

	/* objects of business b: every route answers as if they did not exist */
	snprintf(body, sizeof body, "{\"name\":\"Bob\",\"businessId\":\"%s\"}", T.b);
	j = admin("POST", "/api/payers", body, 201);
	char pb[64];
	snprintf(pb, sizeof pb, "%s", sb_json_str(j, "id"));
	json_decref(j);
	snprintf(path, sizeof path, "/api/payers/%s", pb);
	drop(as_a("GET", path, NULL, 404));
	drop(as_a("PUT", path, "{\"name\":\"x\"}", 404));
	drop(as_a("DELETE", path, NULL, 404));
	snprintf(path, sizeof path, "/api/payers/%s/outreach", pb);
	drop(as_a("POST", path, NULL, 404));
	make_call("CAscopeB0000000000000000000000001", T.b, "2026-01-05T10:00:00Z", NULL, 0);
	drop(as_a("GET", "/api/calls/CAscopeB0000000000000000000000001", NULL, 404));
	snprintf(path, sizeof path, "/api/calls?businessId=%s", T.b);
	drop(as_a("GET", path, NULL, 404));
	drop(as_a("GET", "/api/phone-numbers/+18005550002", NULL, 404));
	drop(as_a("DELETE", "/api/phone-numbers/+18005550002", NULL, 404));
	snprintf(path, sizeof path, "/api/config?businessId=%s", T.b);
	drop(as_a("GET", path, NULL, 404));
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"key\":\"voice\",\"value\":\"alloy\"}", T.b);
	drop(as_a("POST", "/api/config", body, 404));
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"title\":\"t\",\"content\":\"c\"}", T.b);
	drop(as_a("POST", "/api/rag", body, 404));
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"name\":\"Sneaky\"}", T.b);
	drop(as_a("POST", "/api/payers", body, 404));
	drop(as_a("POST", "/api/keys", body, 404));
	snprintf(body, sizeof body, "{\"businessId\":\"%s\"}", T.b);
	drop(as_a("POST", "/api/calls", body, 404));

	/* creates without a businessId land in its own business; lists show only it */
	j = as_a("POST", "/api/payers", "{\"name\":\"Alice\"}", 201);
	assert_string_equal(sb_json_str(j, "businessId"), T.a);
	json_decref(j);
	j = as_a("GET", "/api/payers", NULL, 200);
	json_t *it;
	size_t i;
	json_array_foreach(json_object_get(j, "items"), i, it)
		assert_string_equal(sb_json_str(it, "businessId"), T.a);
	assert_true(json_array_size(json_object_get(j, "items")) >= 1);
	json_decref(j);
	j = as_a("GET", "/api/phone-numbers", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	json_decref(j);
	j = as_a("GET", "/api/keys", NULL, 200);
	json_array_foreach(json_object_get(j, "items"), i, it)
		assert_string_equal(sb_json_str(it, "businessId"), T.a);
	json_decref(j);
	j = admin("GET", "/api/keys", NULL, 200); /* an admin key's id: not a's to revoke */
	const char *other = NULL;
	json_array_foreach(json_object_get(j, "items"), i, it)
		if (!sb_json_str(it, "businessId"))
			other = sb_json_str(it, "id");
	assert_non_null(other);
	snprintf(path, sizeof path, "/api/keys/%s", other);
	drop(as_a("DELETE", path, NULL, 404));
	json_decref(j);
	/* a payer id already used by another business is refused, never shown */
	snprintf(body, sizeof body, "{\"id\":\"%s\",\"name\":\"Clone\"}", pb);
	drop(as_a("POST", "/api/payers", body, 409));
}

/* ---- businesses, numbers, configuration ------------------------------------------------ */

static void test_businesses_crud(void **state)
{
	json_t *b = admin("POST", "/api/businesses", "{\"name\":\"Delta\",\"timezone\":\"America/Chicago\"}", 201);
	char id[64], path[128];
	snprintf(id, sizeof id, "%s", sb_json_str(b, "id"));
	assert_true(json_is_true(json_object_get(b, "isActive")));
	assert_non_null(sb_json_str(b, "createdAt"));
	json_decref(b);
	snprintf(path, sizeof path, "/api/businesses/%s", id);
	b = admin("PUT", path, "{\"name\":\"Delta Co\",\"isActive\":false}", 200);
	assert_string_equal(sb_json_str(b, "name"), "Delta Co");
	assert_true(json_is_false(json_object_get(b, "isActive")));
	json_decref(b);
	b = admin("GET", path, NULL, 200);
	assert_string_equal(sb_json_str(b, "timezone"), "America/Chicago");
	json_decref(b);
	b = admin("GET", "/api/businesses?limit=2", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(b, "items")), 2);
	assert_true(sb_json_int(b, "total", 0) >= 3);
	json_decref(b);
	drop(admin("GET", "/api/businesses?limit=0", NULL, 422));
	drop(admin("DELETE", path, NULL, 200));
	drop(admin("GET", path, NULL, 404));
	drop(admin("DELETE", path, NULL, 404));
	drop(admin("PUT", "/api/businesses/biz_nobody", "{\"name\":\"x\"}", 404));
	drop(admin("POST", "/api/businesses", "{}", 422));                /* name missing */
	drop(admin("POST", "/api/businesses", "{\"name\":5}", 422));      /* wrong type */
	drop(admin("POST", "/api/businesses", "{\"name\":\"x\",\"color\":\"red\"}", 422)); /* unknown field */
	drop(admin("POST", "/api/businesses", "[1,2]", 422));             /* JSON, not an object */
	drop(admin("POST", "/api/businesses", "{\"name\":\"x\",\"name\":\"y\"}", 422)); /* duplicate key */
	json_t *e = admin("POST", "/api/businesses", "{\"name\":", 400);  /* not JSON */
	assert_string_equal(code_of(e), "bad_request");
	json_decref(e);
	drop(admin("POST", "/api/businesses", "", 400));
}

static void test_phone_numbers(void **state)
{
	char body[160], path[128];
	snprintf(body, sizeof body, "{\"number\":\"+442071838750\",\"businessId\":\"%s\"}", T.a);
	json_t *n = admin("POST", "/api/phone-numbers", body, 201);
	assert_string_equal(sb_json_str(n, "number"), "+442071838750");
	json_decref(n);
	drop(admin("POST", "/api/phone-numbers", body, 201)); /* the same binding again: idempotent */
	snprintf(body, sizeof body, "{\"number\":\"+442071838750\",\"businessId\":\"%s\"}", T.b);
	drop(admin("POST", "/api/phone-numbers", body, 409)); /* bound elsewhere */
	static const char *const bad[] = {"12345", "+0123456789", "+1800555", "+1234567890123456", "+1800CALLNOW"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(body, sizeof body, "{\"number\":\"%s\",\"businessId\":\"%s\"}", bad[i], T.a);
		drop(admin("POST", "/api/phone-numbers", body, 422));
	}
	snprintf(body, sizeof body, "{\"number\":\"+18005550003\",\"businessId\":\"biz_nobody\"}");
	drop(admin("POST", "/api/phone-numbers", body, 404));
	snprintf(path, sizeof path, "/api/phone-numbers?businessId=%s", T.a);
	n = admin("GET", path, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(n, "items")), 2);
	json_decref(n);
	n = as_a("GET", "/api/phone-numbers/%2B442071838750", NULL, 200); /* encoded '+' works too */
	assert_string_equal(sb_json_str(json_object_get(n, "business"), "id"), T.a);
	json_decref(n);
	drop(as_a("DELETE", "/api/phone-numbers/+442071838750", NULL, 200));
	drop(as_a("GET", "/api/phone-numbers/+442071838750", NULL, 404));
}

static void test_config(void **state)
{
	char body[256], path[128];
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"key\":\"greeting_message\",\"value\":\"Hi!\"}", T.a);
	json_t *c = admin("POST", "/api/config", body, 200);
	assert_string_equal(sb_json_str(c, "greeting_message"), "Hi!");
	json_decref(c);
	snprintf(body, sizeof body,
		 "{\"businessId\":\"%s\",\"values\":{\"voice\":\"alloy\",\"temperature\":0.7,\"vad\":{\"silenceMs\":500}}}", T.a);
	drop(admin("PUT", "/api/config", body, 200));
	snprintf(path, sizeof path, "/api/config?businessId=%s", T.a);
	c = as_a("GET", path, NULL, 200);
	assert_string_equal(sb_json_str(c, "greeting_message"), "Hi!");
	assert_string_equal(sb_json_str(c, "voice"), "alloy");
	assert_int_equal(sb_json_int(json_object_get(c, "vad"), "silenceMs", 0), 500);
	json_decref(c);
	c = as_a("GET", "/api/config", NULL, 200); /* a business key needs no businessId */
	assert_string_equal(sb_json_str(c, "voice"), "alloy");
	json_decref(c);
	drop(admin("GET", "/api/config", NULL, 422)); /* an admin must say which */
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"values\":[1]}", T.a);
	drop(admin("PUT", "/api/config", body, 422));
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"key\":\"\",\"value\":1}", T.a);
	drop(admin("POST", "/api/config", body, 422));
}

/* ---- knowledge: stored even while the rag-worker is away ----------------------------------- */

static void test_rag_without_worker(void **state)
{
	char body[256], path[128], id1[64], id2[64];
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"title\":\"Hours\",\"content\":\"Open 9-5.\",\"category\":\"faq\"}",
		 T.a);
	json_t *d = admin("POST", "/api/rag", body, 201);
	snprintf(id1, sizeof id1, "%s", sb_json_str(d, "id"));
	assert_string_equal(sb_json_str(d, "indexStatus"), "pending");
	assert_non_null(sb_json_str(d, "indexError")); /* why it is not indexed yet */
	json_decref(d);
	d = as_a("POST", "/api/rag", "{\"title\":\"Prices\",\"content\":\"Call-out fee 80 USD.\"}", 201);
	snprintf(id2, sizeof id2, "%s", sb_json_str(d, "id"));
	json_decref(d);
	snprintf(path, sizeof path, "/api/rag?businessId=%s", T.a);
	d = admin("GET", path, NULL, 200); /* newest first */
	assert_string_equal(sb_json_str(json_array_get(json_object_get(d, "items"), 0), "id"), id2);
	assert_string_equal(sb_json_str(json_array_get(json_object_get(d, "items"), 1), "id"), id1);
	json_decref(d);
	drop(admin("GET", "/api/rag", NULL, 422));
	snprintf(path, sizeof path, "/api/rag/%s", id1);
	d = as_a("PUT", path, "{\"content\":\"Open 8-6.\"}", 200);
	assert_string_equal(sb_json_str(d, "content"), "Open 8-6.");
	assert_string_equal(sb_json_str(d, "indexStatus"), "pending");
	json_decref(d);
	drop(as_a("PUT", path, "{\"content\":7}", 422));
	drop(as_a("GET", path, NULL, 200));
	d = as_a("DELETE", path, NULL, 200);
	assert_true(json_is_true(json_object_get(d, "deleted")));
	json_decref(d);
	drop(as_a("GET", path, NULL, 404));
	d = as_a("POST", "/api/rag/search", "{\"query\":\"when are you open?\",\"topK\":3}", 503);
	assert_string_equal(code_of(d), "unavailable");
	json_decref(d);
	drop(admin("POST", "/api/rag/search", "{\"query\":\"x\"}", 422)); /* search is always per business */
}

/* With a real sb-rag-worker (when it is built): indexed at once, searchable, deleted from the index. */
static void test_rag_with_worker(void **state)
{
	if (access(sbt_bin("sb-rag-worker"), X_OK) != 0)
		skip();
	char data[512], url[600], body[300], path[128], id[64];
	sbt_proc rag;
	snprintf(url, sizeof url, "ipc://%s/rag.sock", T.g.run);
	const char *args[] = {"--run-dir", T.g.run, "--store-url", T.g.store_url, "--data-dir",
			      sbt_path(data, sizeof data, "rag-data"), NULL};
	assert_int_equal(sbt_spawn(&rag, sbt_bin("sb-rag-worker"), args), 0);
	assert_int_equal(sbt_wait_ready(url, 10000), 0);
	snprintf(body, sizeof body,
		 "{\"businessId\":\"%s\",\"title\":\"Emergency service\",\"content\":\"We answer burst pipes "
		 "around the clock, including Sundays.\"}", T.a);
	json_t *d = admin("POST", "/api/rag", body, 201);
	snprintf(id, sizeof id, "%s", sb_json_str(d, "id"));
	assert_string_equal(sb_json_str(d, "indexStatus"), "indexed");
	assert_null(sb_json_str(d, "indexError"));
	assert_true(sb_json_int(d, "chunks", 0) >= 1);
	json_decref(d);
	json_t *res = as_a("POST", "/api/rag/search", "{\"query\":\"burst pipe on a Sunday\",\"topK\":3}", 200);
	json_t *first = json_array_get(json_object_get(res, "results"), 0);
	assert_non_null(first);
	assert_string_equal(sb_json_str(first, "id"), id);
	json_decref(res);
	snprintf(path, sizeof path, "/api/rag/%s", id);
	d = as_a("DELETE", path, NULL, 200);
	if (json_object_get(d, "indexError"))
		fail_msg("delete: %s", sb_json_str(d, "indexError"));
	json_decref(d);
	assert_int_equal(sbt_stop(&rag, SIGTERM, 10000), 0);
}

/* ---- calls ------------------------------------------------------------------------------ */

static void test_calls_pagination(void **state)
{
	char sid[64], at[40], path[200], biz[64];
	assert_int_equal(sbt_gw_business(&T.g, "Pager", NULL, biz), 0);
	for (int i = 0; i < 25; i++) {
		snprintf(sid, sizeof sid, "CApage%026d", i);
		snprintf(at, sizeof at, "2026-02-%02dT12:00:00Z", i + 1);
		make_call(sid, biz, at, i % 5 == 0 ? "busy" : "completed", 10 + i);
	}
	static const struct {
		const char *q;
		long        status, items, page, limit, pages;
	} cases[] = {
		{"", 200, 20, 1, 20, 2},
		{"&limit=10", 200, 10, 1, 10, 3},
		{"&limit=10&page=3", 200, 5, 3, 10, 3},
		{"&limit=10&page=4", 200, 0, 4, 10, 3}, /* past the end: empty, same totals */
		{"&limit=100", 200, 25, 1, 100, 1},
		{"&limit=1&page=25", 200, 1, 25, 1, 25},
		{"&limit=0", 422, 0, 0, 0, 0}, {"&limit=101", 422, 0, 0, 0, 0}, {"&limit=-1", 422, 0, 0, 0, 0},
		{"&limit=ten", 422, 0, 0, 0, 0}, {"&page=0", 422, 0, 0, 0, 0}, {"&page=abc", 422, 0, 0, 0, 0},
		{"&page=", 422, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "/api/calls?businessId=%s%s", biz, cases[i].q);
		json_t *j = admin("GET", path, NULL, cases[i].status);
		if (cases[i].status == 200) {
			assert_int_equal(json_array_size(json_object_get(j, "items")), cases[i].items);
			assert_int_equal(sb_json_int(j, "total", -1), 25);
			assert_int_equal(sb_json_int(j, "page", -1), cases[i].page);
			assert_int_equal(sb_json_int(j, "limit", -1), cases[i].limit);
			assert_int_equal(sb_json_int(j, "pages", -1), cases[i].pages);
		}
		json_decref(j);
	}
	snprintf(path, sizeof path, "/api/calls?businessId=%s&limit=3", biz);
	json_t *j = admin("GET", path, NULL, 200); /* newest first */
	assert_string_equal(sb_json_str(json_array_get(json_object_get(j, "items"), 0), "callSid"),
			    "CApage00000000000000000000000024");
	json_decref(j);
	snprintf(path, sizeof path, "/api/calls?businessId=%s&status=busy", biz);
	j = admin("GET", path, NULL, 200);
	assert_int_equal(sb_json_int(j, "total", -1), 5);
	json_decref(j);
	snprintf(path, sizeof path, "/api/calls?businessId=%s&from=2026-02-10T00:00:00Z&to=2026-02-12T23:59:59Z", biz);
	j = admin("GET", path, NULL, 200);
	assert_int_equal(sb_json_int(j, "total", -1), 3);
	json_decref(j);
	snprintf(path, sizeof path, "/api/calls?businessId=%s&from=yesterday", biz);
	drop(admin("GET", path, NULL, 422));
}

static void test_calls_analytics(void **state)
{
	char biz[64], sid[64], body[200], path[200];
	assert_int_equal(sbt_gw_business(&T.g, "Stats", NULL, biz), 0);
	static const struct {
		const char *at, *status;
		int         dur;
	} calls[] = {{"2026-03-01T09:00:00Z", "completed", 60}, {"2026-03-01T17:00:00Z", "completed", 120},
		     {"2026-03-02T10:00:00Z", "no-answer", 0},  {"2026-03-03T23:59:00Z", "completed", 30},
		     {"2026-03-04T00:00:01Z", "completed", 999}};
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		snprintf(sid, sizeof sid, "CAstats%025zu", i);
		make_call(sid, biz, calls[i].at, calls[i].status, calls[i].dur);
	}
	snprintf(body, sizeof body, "{\"businessId\":\"%s\",\"startDate\":\"2026-03-01\",\"endDate\":\"2026-03-03\"}", biz);
	json_t *a = admin("POST", "/api/calls", body, 200);
	snprintf(path, sizeof path, "/api/calls/analytics?businessId=%s&startDate=2026-03-01&endDate=2026-03-03", biz);
	json_t *b = admin("GET", path, NULL, 200);
	assert_true(json_equal(a, b));
	assert_int_equal(sb_json_int(a, "totalCalls", -1), 4); /* endDate is inclusive of its whole day */
	assert_int_equal(sb_json_int(a, "totalDurationS", -1), 210);
	assert_true(sb_json_num(a, "averageDurationS", 0) > 52.4 && sb_json_num(a, "averageDurationS", 0) < 52.6);
	assert_int_equal(sb_json_int(json_object_get(a, "byStatus"), "completed", -1), 3);
	assert_int_equal(sb_json_int(json_object_get(a, "byStatus"), "no-answer", -1), 1);
	json_t *days = json_object_get(a, "byDay");
	assert_int_equal(json_array_size(days), 3);
	assert_string_equal(sb_json_str(json_array_get(days, 0), "date"), "2026-03-01");
	assert_int_equal(sb_json_int(json_array_get(days, 0), "count", -1), 2);
	json_decref(a);
	json_decref(b);
	drop(admin("POST", "/api/calls", "{\"startDate\":5}", 422));
	drop(admin("POST", "/api/calls", "{\"startDate\":\"March\"}", 422));
	drop(admin("POST", "/api/calls", "{\"since\":\"2026-01-01\"}", 422));
	a = as_a("GET", "/api/calls/analytics", NULL, 200); /* a's own calls, last 30 days by default */
	assert_non_null(json_object_get(a, "totalCalls"));
	json_decref(a);
}

static void test_call_detail(void **state)
{
	const char *sid = "CAdetail000000000000000000000001";
	make_call(sid, T.a, "2026-04-01T10:00:00Z", NULL, 0);
	static const char *const lines[][2] = {{"assistant", "Hello, Alpha."}, {"user", "Are you open?"},
					       {"tool", "hours: 9-5"}, {"assistant", "Yes, until five."}};
	for (int i = 3; i >= 0; i--) /* appended out of order: read back in seq order */
		json_decref(sbt_ok(T.store, "calls.append_transcript",
				   json_pack("{s:s,s:i,s:s,s:s}", "callSid", sid, "seq", i, "role", lines[i][0], "text",
					     lines[i][1])));
	json_decref(sbt_ok(T.store, "calls.record_tool",
			   json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "callSid", sid, "callRef", "t1", "name", "search_kb",
				     "arguments", "{\"q\":\"hours\"}", "output", "9-5", "latencyMs", 12)));
	json_t *c = as_a("GET", "/api/calls/CAdetail000000000000000000000001", NULL, 200);
	json_t *t = json_object_get(c, "transcript");
	assert_int_equal(json_array_size(t), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(sb_json_int(json_array_get(t, (size_t)i), "seq", -1), i);
		assert_string_equal(sb_json_str(json_array_get(t, (size_t)i), "text"), lines[i][1]);
	}
	assert_string_equal(sb_json_str(json_array_get(json_object_get(c, "toolCalls"), 0), "name"), "search_kb");
	json_decref(c);
	drop(as_a("GET", "/api/calls/CAnope", NULL, 404));
}

/* ---- payers ------------------------------------------------------------------------------ */

static void test_payers(void **state)
{
	char body[300], path[160], id[64];
	snprintf(body, sizeof body,
		 "{\"name\":\"Dana Debtor\",\"email\":\"dana@example.com\",\"phone\":\"+14155550111\",\"amountDue\":250.75,"
		 "\"daysOverdue\":40,\"businessId\":\"%s\"}", T.a);
	json_t *p = admin("POST", "/api/payers", body, 201);
	snprintf(id, sizeof id, "%s", sb_json_str(p, "id"));
	assert_true(sb_json_num(p, "amountDue", 0) > 250.74 && sb_json_num(p, "amountDue", 0) < 250.76);
	assert_string_equal(sb_json_str(p, "stage"), "STAGE_1");
	json_decref(p);
	snprintf(path, sizeof path, "/api/payers/%s", id);
	p = as_a("PUT", path, "{\"stage\":\"STAGE_2\",\"daysOverdue\":45}", 200);
	assert_string_equal(sb_json_str(p, "stage"), "STAGE_2");
	json_decref(p);
	drop(as_a("PUT", path, "{\"stage\":\"STAGE_9\"}", 422));
	drop(as_a("PUT", path, "{\"amountDue\":\"lots\"}", 422));
	drop(as_a("PUT", path, "{\"phone\":\"555-0100\"}", 422));
	p = as_a("GET", path, NULL, 200);
	assert_non_null(json_object_get(p, "attempts"));
	json_decref(p);
	snprintf(path, sizeof path, "/api/payers/%s/outreach", id);
	p = as_a("POST", path, NULL, 503);
	assert_non_null(strstr(sb_json_str(json_object_get(p, "error"), "message"), "scheduler"));
	json_decref(p);
	drop(as_a("POST", "/api/payers/payer_nobody/outreach", NULL, 404));
	p = as_a("GET", "/api/payers?limit=1", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(p, "items")), 1);
	json_decref(p);
	snprintf(path, sizeof path, "/api/payers/%s", id);
	drop(as_a("DELETE", path, NULL, 200));
	drop(as_a("GET", path, NULL, 404));
	drop(admin("POST", "/api/payers", "{\"name\":\"x\",\"email\":\"not-an-email\"}", 422));
}

/* ---- the signed unsubscribe link of outreach emails ---------------------------------------------- */

static void test_unsubscribe_link(void **state)
{
	json_t *p = admin("POST", "/api/payers", "{\"name\":\"Uma Unsub\",\"email\":\"uma@example.com\"}", 201);
	char id[64], sig[SB_UNSUB_SIG_LEN + 1], path[300], payer[160];
	snprintf(id, sizeof id, "%s", sb_json_str(p, "id"));
	json_decref(p);
	/* signed as the scheduler signs it, with the shared SB_SECRET */
	sb_unsubscribe_sig(SBT_SECRET, strlen(SBT_SECRET), id, sig);
	snprintf(path, sizeof path, "/unsubscribe?payerId=%s&sig=%s", id, sig);
	snprintf(payer, sizeof payer, "/api/payers/%s", id);
	sbt_resp r;
	/* GET only shows the button (mail scanners prefetch links) */
	assert_int_equal(sbt_http(&T.g, "GET", path, NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<form method=\"post\""));
	sbt_resp_free(&r);
	p = admin("GET", payer, NULL, 200);
	assert_false(json_is_true(json_object_get(p, "optedOut")));
	json_decref(p);
	/* RFC 8058 one-click POST opts out; twice is fine */
	const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sbt_http(&T.g, "POST", path, form, "List-Unsubscribe=One-Click", 26, &r), 0);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "Unsubscribed"));
		sbt_resp_free(&r);
	}
	p = admin("GET", payer, NULL, 200);
	assert_true(json_is_true(json_object_get(p, "optedOut")));
	json_decref(p);
	/* a forged or missing signature changes nothing */
	p = admin("POST", "/api/payers", "{\"name\":\"Vic Victim\"}", 201);
	snprintf(id, sizeof id, "%s", sb_json_str(p, "id"));
	json_decref(p);
	snprintf(path, sizeof path, "/unsubscribe?payerId=%s&sig=%s", id, sig);
	assert_int_equal(sbt_http(&T.g, "POST", path, form, "List-Unsubscribe=One-Click", 26, &r), 0);
	assert_int_equal(r.status, 403);
	sbt_resp_free(&r);
	snprintf(path, sizeof path, "/unsubscribe?payerId=%s", id);
	assert_int_equal(sbt_http(&T.g, "GET", path, NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 403);
	sbt_resp_free(&r);
	assert_int_equal(sbt_http(&T.g, "GET", "/unsubscribe?payerId=%3Cscript%3E&sig=00", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 400);
	sbt_resp_free(&r);
	snprintf(payer, sizeof payer, "/api/payers/%s", id);
	p = admin("GET", payer, NULL, 200);
	assert_false(json_is_true(json_object_get(p, "optedOut")));
	json_decref(p);
}

/* ---- HTTP-level errors ------------------------------------------------------------------------ */

static void test_http_errors(void **state)
{
	sbt_resp r;
	char allow[64];
	/* 2 MB body: 413 before it is read */
	size_t big = 2u << 20;
	char *body = malloc(big);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	const char *h[] = {"Authorization: Bearer " SBT_ADMIN_KEY, "Content-Type: application/json", NULL};
	assert_int_equal(sbt_http(&T.g, "POST", "/api/businesses", h, body, big, &r), 0);
	assert_int_equal(r.status, 413);
	json_t *e = sbt_resp_json(&r);
	assert_string_equal(code_of(e), "payload_too_large");
	json_decref(e);
	sbt_resp_free(&r);
	free(body);
	/* wrong method: 405 with Allow */
	assert_int_equal(sbt_api(&T.g, "PATCH", "/api/payers", "{}", &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(sbt_resp_header(&r, "Allow", allow, sizeof allow), "GET, POST");
	sbt_resp_free(&r);
	assert_int_equal(sbt_api(&T.g, "DELETE", "/api/calls/CA1", NULL, &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(sbt_resp_header(&r, "Allow", allow, sizeof allow), "GET");
	sbt_resp_free(&r);
	/* wrong content type: 415 */
	const char *t[] = {"Authorization: Bearer " SBT_ADMIN_KEY, "Content-Type: text/plain", NULL};
	assert_int_equal(sbt_http(&T.g, "POST", "/api/businesses", t, "{\"name\":\"x\"}", 12, &r), 0);
	assert_int_equal(r.status, 415);
	sbt_resp_free(&r);
	const char *cs[] = {"Authorization: Bearer " SBT_ADMIN_KEY, "Content-Type: application/json; charset=utf-8", NULL};
	assert_int_equal(sbt_http(&T.g, "POST", "/api/businesses", cs, "{\"name\":\"Charset\"}", 18, &r), 0);
	assert_int_equal(r.status, 201);
	sbt_resp_free(&r);
	/* unknown paths: 404 JSON */
	drop(admin("GET", "/api/nothing-here", NULL, 404));
	drop(admin("GET", "/", NULL, 404));
	/* a trailing slash is the same resource */
	drop(admin("GET", "/api/businesses/", NULL, 200));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_business_key_scope),
		cmocka_unit_test(test_businesses_crud),
		cmocka_unit_test(test_phone_numbers),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_rag_without_worker),
		cmocka_unit_test(test_rag_with_worker),
		cmocka_unit_test(test_calls_pagination),
		cmocka_unit_test(test_calls_analytics),
		cmocka_unit_test(test_call_detail),
		cmocka_unit_test(test_payers),
		cmocka_unit_test(test_unsubscribe_link),
		cmocka_unit_test(test_http_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
