/*
 * store_ops_test.c — every op of schemas/store.json against a real sb-store.
 *
 * One sb-store over ipc:// in a temporary folder for the whole group, one
 * client. Each test owns its own ids (businesses, calls, payers), so tests do
 * not depend on each other's data; lists are checked through a filter or a
 * before/after difference. Covers the documented semantics of each op: CRUD,
 * idempotent creates under resend, forward-only call status, transcript seq
 * rules, pagination math, analytics, outreach claims, API keys, plus a drift
 * check that the daemon knows every op the schema lists. SIGTERM at the end
 * must exit 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/harness.h"
#include "sb_json.h"
#include "sb_time.h"

static struct {
	sbt_proc   store;
	char       url[512];
	sb_client *c;
	bool       dead;     /* the store stopped answering: later tests fail fast */
	char       why[300];
} g;

/* ---- calling ------------------------------------------------------------------ */

/* Compact JSON text of j in a rotating static buffer (for failure messages). */
static const char *js(const json_t *j)
{
	static char bufs[4][2048];
	static int next;
	char *b = bufs[next++ % 4];
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	snprintf(b, sizeof bufs[0], "%s", s ? s : "(absent)");
	free(s);
	return b;
}

/* The whole reply envelope of op(args) (args stolen); fails the test if there is none. */
static json_t *call(const char *op, json_t *args)
{
	sb_error err = {0};
	char req[2048];
	snprintf(req, sizeof req, "%s", js(args));
	if (g.dead) {
		json_decref(args);
		fail_msg("%s: not sent, sb-store stopped answering earlier (%s)", op, g.why);
	}
	json_t *reply = sbt_call(g.c, op, args, &err);
	if (!reply) {
		if (!sbt_alive(&g.store) || sbt_wait_ready(g.url, 1000) < 0) {
			g.dead = true;
			snprintf(g.why, sizeof g.why, "%s: %s%s", op, err.message, sbt_alive(&g.store) ? "" : ", process exited");
		}
		fail_msg("%s %s: no reply: %s", op, req, err.message);
	}
	return reply;
}

/* op(args) must succeed: its data (owned). */
static json_t *ok_(const char *op, json_t *args, const char *file, int line)
{
	char req[2048];
	snprintf(req, sizeof req, "%s", js(args));
	json_t *reply = call(op, args);
	if (!json_is_true(json_object_get(reply, "ok")))
		fail_msg("%s:%d: %s %s: want ok, got %s", file, line, op, req, js(reply));
	json_t *data = json_incref(json_object_get(reply, "data"));
	json_decref(reply);
	return data;
}
#define ok(op, args) ok_(op, args, __FILE__, __LINE__)

/* op(args) must fail with code; returns the error message (static). */
static const char *fails_(const char *code, const char *op, json_t *args, const char *file, int line)
{
	static char msg[512];
	char req[2048];
	snprintf(req, sizeof req, "%s", js(args));
	json_t *reply = call(op, args);
	const char *got = json_is_true(json_object_get(reply, "ok")) ? "ok"
			  : sb_json_str(json_object_get(reply, "error"), "code");
	if (!got || strcmp(got, code) != 0)
		fail_msg("%s:%d: %s %s: want %s, got %s", file, line, op, req, code, js(reply));
	snprintf(msg, sizeof msg, "%s", sb_json_str(json_object_get(reply, "error"), "message") ?: "");
	json_decref(reply);
	return msg;
}
#define fails(code, op, args) fails_(code, op, args, __FILE__, __LINE__)

/*
 * op(args) encoded with full double precision (jansson's default, 17 digits)
 * and sent raw, so a precision loss can only come from the store's side.
 */
static json_t *ok_exact(const char *op, json_t *args)
{
	json_t *req = json_pack("{s:s,s:o}", "op", op, "args", args);
	char *body = json_dumps(req, JSON_COMPACT), *raw = NULL;
	json_decref(req);
	size_t rlen;
	sb_error err = {0};
	if (sb_client_call_raw(g.c, body, strlen(body), &raw, &rlen, &err) < 0)
		fail_msg("%s %s: no reply: %s", op, body, err.message);
	json_t *reply = json_loadb(raw, rlen, 0, NULL);
	if (!json_is_true(json_object_get(reply, "ok")))
		fail_msg("%s %s: want ok, got %s", op, body, raw);
	free(body);
	free(raw);
	json_t *data = json_incref(json_object_get(reply, "data"));
	json_decref(reply);
	return data;
}

/* ---- assertions on JSON fields (failures name the field and show its value) ---- */

#define assert_str(o, k, want) do { \
	const char *_v = sb_json_str(o, k), *_w = (want); \
	if (!_v || strcmp(_v, _w) != 0) \
		fail_msg("field %s: want \"%s\", got %s in %s", k, _w, js(json_object_get(o, k)), js(o)); \
} while (0)

#define assert_int(o, k, want) do { \
	json_t *_v = json_object_get(o, k); \
	long long _w = (want); \
	if (!json_is_integer(_v) || json_integer_value(_v) != _w) \
		fail_msg("field %s: want %lld, got %s in %s", k, _w, js(_v), js(o)); \
} while (0)

#define assert_num(o, k, want) do { \
	json_t *_v = json_object_get(o, k); \
	double _w = (want); \
	if (!json_is_number(_v) || json_number_value(_v) != _w) \
		fail_msg("field %s: want %.17g, got %s in %s", k, _w, js(_v), js(o)); \
} while (0)

#define assert_bool(o, k, want) do { \
	json_t *_v = json_object_get(o, k); \
	if (!json_is_boolean(_v) || json_is_true(_v) != !!(want)) \
		fail_msg("field %s: want %s, got %s in %s", k, (want) ? "true" : "false", js(_v), js(o)); \
} while (0)

#define assert_null_field(o, k) do { \
	json_t *_v = json_object_get(o, k); \
	if (!json_is_null(_v)) \
		fail_msg("field %s: want null, got %s in %s", k, js(_v), js(o)); \
} while (0)

#define assert_absent(o, k) do { \
	if (json_object_get(o, k)) \
		fail_msg("field %s must be absent in %s", k, js(o)); \
} while (0)

/* Field k is a JSON value equal to the JSON text want. */
#define assert_json(o, k, want) do { \
	json_t *_w = json_loads(want, JSON_DECODE_ANY, NULL); \
	assert_non_null(_w); \
	if (!json_equal(json_object_get(o, k), _w)) \
		fail_msg("field %s: want %s, got %s", k, want, js(json_object_get(o, k))); \
	json_decref(_w); \
} while (0)

/* A string field holding an ISO-8601 time. */
#define assert_time(o, k) do { \
	int64_t _ms; \
	const char *_v = sb_json_str(o, k); \
	if (!_v || sb_time_parse_iso(_v, &_ms) < 0) \
		fail_msg("field %s: want an ISO-8601 time, got %s", k, js(json_object_get(o, k))); \
} while (0)

/* Comma-joined values of field k over an array of objects (static buffer). */
static const char *pluck(const json_t *items, const char *k)
{
	static char bufs[2][1024];
	static int next;
	char *b = bufs[next++ % 2];
	size_t n = 0, i;
	json_t *it;
	b[0] = '\0';
	json_array_foreach(items, i, it) {
		json_t *v = json_object_get(it, k);
		n += (size_t)snprintf(b + n, sizeof bufs[0] - n, "%s%s", i ? "," : "",
				      json_is_string(v) ? json_string_value(v) : js(v));
		if (n >= sizeof bufs[0])
			break;
	}
	return b;
}

/* items of a list reply, borrowed. */
static json_t *items(json_t *data)
{
	json_t *it = json_object_get(data, "items");
	if (!json_is_array(it))
		fail_msg("want an items array in %s", js(data));
	return it;
}

/* Poll the wall clock until it is past the time in field k of o, so the next write gets a later timestamp. */
static void after(const json_t *o, const char *k)
{
	int64_t ms;
	const char *v = sb_json_str(o, k);
	if (!v || sb_time_parse_iso(v, &ms) < 0)
		fail_msg("field %s: want an ISO-8601 time, got %s in %s", k, js(json_object_get(o, k)), js(o));
	while (sb_now_ms() <= ms)
		sched_yield();
}

/* A business for one test (fails the test if it cannot be created). */
static void mkbiz(const char *id, const char *name)
{
	json_decref(ok("businesses.create", json_pack("{s:s,s:s}", "id", id, "name", name)));
}

/* ---- sys ------------------------------------------------------------------------ */

static void test_sys_health(void **state)
{
	json_t *h = ok("sys.health", NULL);
	assert_str(h, "status", "ok");
	assert_str(h, "service", "store");
	assert_str(h, "daemon", "sb-store");
	assert_true(json_is_string(json_object_get(h, "version")));
	assert_true(json_integer_value(json_object_get(h, "uptimeMs")) >= 0);
	json_decref(h);
}

static void test_sys_metrics(void **state)
{
	json_decref(ok("sys.health", NULL));
	json_decref(ok("businesses.list", NULL));
	json_t *m = ok("sys.metrics", NULL);
	const char *text = sb_json_str(m, "text");
	assert_non_null(text);
	if (!strstr(text, "sb_rpc_requests_total"))
		fail_msg("metrics lack sb_rpc_requests_total: %.500s", text);
	if (!strstr(text, "op=\"businesses.list\""))
		fail_msg("metrics lack a businesses.list series: %.500s", text);
	json_decref(m);
}

/* ---- businesses ------------------------------------------------------------------- */

static void test_businesses_create_get(void **state)
{
	json_t *b = ok("businesses.create", json_pack("{s:s,s:s,s:b,s:s}", "id", "biz_crud", "name", "Acme Plumbing",
						      "isActive", 0, "timezone", "Europe/Paris"));
	assert_str(b, "id", "biz_crud");
	assert_str(b, "name", "Acme Plumbing");
	assert_bool(b, "isActive", false);
	assert_str(b, "timezone", "Europe/Paris");
	assert_time(b, "createdAt");
	json_t *again = ok("businesses.create", json_pack("{s:s,s:s}", "id", "biz_crud", "name", "Other Name"));
	if (!json_equal(b, again)) /* idempotent on id: the resend sees the original */
		fail_msg("create with the same id: want %s, got %s", js(b), js(again));
	json_t *got = ok("businesses.get", json_pack("{s:s}", "id", "biz_crud"));
	if (!json_equal(b, got))
		fail_msg("get: want %s, got %s", js(b), js(got));
	json_decref(b), json_decref(again), json_decref(got);

	b = ok("businesses.create", json_pack("{s:s}", "name", "Generated Id"));
	assert_true(strncmp(sb_json_str(b, "id") ?: "", "biz_", 4) == 0);
	assert_bool(b, "isActive", true); /* defaults */
	assert_str(b, "timezone", "UTC");
	json_decref(b);

	fails("not_found", "businesses.get", json_pack("{s:s}", "id", "biz_nope"));
	fails("invalid_argument", "businesses.create", json_pack("{s:s}", "name", ""));
	fails("invalid_argument", "businesses.get", json_object());
}

static void test_businesses_update(void **state)
{
	mkbiz("biz_upd", "Before");
	json_t *b = ok("businesses.update", json_pack("{s:s,s:s}", "id", "biz_upd", "name", "After"));
	assert_str(b, "name", "After");
	assert_str(b, "timezone", "UTC"); /* untouched fields stay */
	assert_bool(b, "isActive", true);
	json_decref(b);
	b = ok("businesses.update", json_pack("{s:s,s:b,s:s}", "id", "biz_upd", "isActive", 0, "timezone", "America/Chicago"));
	assert_str(b, "name", "After");
	assert_bool(b, "isActive", false);
	assert_str(b, "timezone", "America/Chicago");
	json_decref(b);
	b = ok("businesses.get", json_pack("{s:s}", "id", "biz_upd"));
	assert_str(b, "name", "After");
	assert_bool(b, "isActive", false);
	json_decref(b);
	fails("not_found", "businesses.update", json_pack("{s:s,s:s}", "id", "biz_nope", "name", "x"));
	fails("invalid_argument", "businesses.update", json_pack("{s:s,s:s}", "id", "biz_upd", "name", ""));
}

static void test_businesses_list(void **state)
{
	json_t *before = ok("businesses.list", json_pack("{s:i}", "limit", 1000));
	json_int_t total0 = json_integer_value(json_object_get(before, "total"));
	json_decref(before);
	static const char *const ids[] = {"biz_list_1", "biz_list_2", "biz_list_3"};
	for (int i = 0; i < 3; i++) {
		json_t *b = ok("businesses.create", json_pack("{s:s,s:s}", "id", ids[i], "name", "Listed"));
		after(b, "createdAt");
		json_decref(b);
	}
	json_t *l = ok("businesses.list", json_pack("{s:i}", "limit", 3));
	assert_int(l, "total", total0 + 3);
	assert_string_equal(pluck(items(l), "id"), "biz_list_3,biz_list_2,biz_list_1"); /* newest first */
	json_decref(l);
	l = ok("businesses.list", json_pack("{s:i,s:i}", "limit", 1, "offset", 1));
	assert_string_equal(pluck(items(l), "id"), "biz_list_2");
	assert_int(l, "total", total0 + 3);
	json_decref(l);
	l = ok("businesses.list", json_pack("{s:i}", "offset", 100000));
	assert_int_equal(json_array_size(items(l)), 0);
	assert_int(l, "total", total0 + 3);
	json_decref(l);
	fails("invalid_argument", "businesses.list", json_pack("{s:i}", "limit", 0));
	fails("invalid_argument", "businesses.list", json_pack("{s:i}", "limit", 1001));
}

static void test_businesses_delete_cascades(void **state)
{
	mkbiz("biz_del", "Doomed");
	json_decref(ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550009001", "businessId", "biz_del")));
	json_decref(ok("config.set", json_pack("{s:s,s:s,s:s}", "businessId", "biz_del", "key", "voice", "value", "alloy")));
	json_decref(ok("knowledge.create", json_pack("{s:s,s:s,s:s,s:s}", "id", "kb_del", "businessId", "biz_del", "title",
						     "Hours", "content", "9 to 5")));
	json_t *key = ok("apikeys.create", json_pack("{s:s}", "businessId", "biz_del"));
	char plain[128];
	snprintf(plain, sizeof plain, "%s", sb_json_str(key, "key"));
	json_decref(key);

	json_t *d = ok("businesses.delete", json_pack("{s:s}", "id", "biz_del"));
	assert_str(d, "id", "biz_del");
	assert_bool(d, "deleted", true);
	json_decref(d);
	fails("not_found", "businesses.get", json_pack("{s:s}", "id", "biz_del"));
	fails("not_found", "businesses.delete", json_pack("{s:s}", "id", "biz_del"));
	/* "everything it owns" */
	fails("not_found", "phone_numbers.lookup", json_pack("{s:s}", "number", "+15550009001"));
	fails("not_found", "config.get", json_pack("{s:s}", "businessId", "biz_del"));
	fails("not_found", "knowledge.get", json_pack("{s:s}", "id", "kb_del"));
	fails("unauthenticated", "apikeys.verify", json_pack("{s:s}", "key", plain));
	/* the number is free again */
	mkbiz("biz_del2", "Heir");
	json_decref(ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550009001", "businessId", "biz_del2")));
}

/* ---- phone numbers ----------------------------------------------------------------- */

static void test_phone_numbers_e164(void **state)
{
	mkbiz("biz_num_v", "Validation");
	static const struct {
		const char *name, *number;
	} bad[] = {
		{"no plus", "15551234567"},       {"leading zero", "+05551234567"}, {"too short", "+1555123"},
		{"spaces", "+1 555 123 4567"},    {"letter", "+1555123456a"},       {"double plus", "++15551234567"},
		{"empty", ""},                    {"dashes", "+1-555-123-4567"},    {"too long", "+1234567890123456"},
		{"plus only", "+"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *reply = call("phone_numbers.create",
				     json_pack("{s:s,s:s}", "number", bad[i].number, "businessId", "biz_num_v"));
		const char *code = sb_json_str(json_object_get(reply, "error"), "code");
		if (!code || strcmp(code, "invalid_argument") != 0)
			fail_msg("E.164 case \"%s\" (%s): want invalid_argument, got %s", bad[i].name, bad[i].number,
				 js(reply));
		json_decref(reply);
	}
	static const char *const good[] = {"+14155550100", "+447911123456", "+12345678", "+123456789012345"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		json_t *n = ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", good[i], "businessId", "biz_num_v"));
		assert_str(n, "number", good[i]);
		json_decref(n);
	}
}

static void test_phone_numbers_bind_lookup(void **state)
{
	mkbiz("biz_num_a", "Number Owner");
	mkbiz("biz_num_b", "Number Thief");
	json_t *n = ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001001", "businessId", "biz_num_a"));
	assert_str(n, "number", "+15550001001");
	assert_str(n, "businessId", "biz_num_a");
	json_decref(n);
	/* the same binding again is a resend: ok */
	json_decref(ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001001", "businessId", "biz_num_a")));
	fails("conflict", "phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001001", "businessId", "biz_num_b"));
	fails("not_found", "phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001002", "businessId", "biz_nope"));

	json_t *l = ok("phone_numbers.lookup", json_pack("{s:s}", "number", "+15550001001"));
	assert_str(l, "number", "+15550001001");
	assert_str(l, "businessId", "biz_num_a");
	json_t *biz = json_object_get(l, "business");
	assert_str(biz, "id", "biz_num_a");
	assert_str(biz, "name", "Number Owner");
	json_decref(l);
	fails("not_found", "phone_numbers.lookup", json_pack("{s:s}", "number", "+15559999999"));

	json_decref(ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001003", "businessId", "biz_num_a")));
	json_decref(ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001004", "businessId", "biz_num_b")));
	l = ok("phone_numbers.list", json_pack("{s:s}", "businessId", "biz_num_a"));
	assert_string_equal(pluck(items(l), "number"), "+15550001001,+15550001003");
	json_decref(l);
	l = ok("phone_numbers.list", NULL);
	const char *all = pluck(items(l), "number");
	assert_non_null(strstr(all, "+15550001001"));
	assert_non_null(strstr(all, "+15550001004"));
	json_decref(l);

	json_t *d = ok("phone_numbers.delete", json_pack("{s:s}", "number", "+15550001001"));
	assert_bool(d, "deleted", true);
	json_decref(d);
	fails("not_found", "phone_numbers.lookup", json_pack("{s:s}", "number", "+15550001001"));
	fails("not_found", "phone_numbers.delete", json_pack("{s:s}", "number", "+15550001001"));
	/* unbound, it can move */
	n = ok("phone_numbers.create", json_pack("{s:s,s:s}", "number", "+15550001001", "businessId", "biz_num_b"));
	assert_str(n, "businessId", "biz_num_b");
	json_decref(n);
}

/* ---- config -------------------------------------------------------------------------- */

static void test_config_types_round_trip(void **state)
{
	mkbiz("biz_cfg", "Configured");
	static const struct {
		const char *key, *value; /* value as JSON text */
	} cases[] = {
		{"greeting_message", "\"Hello, thanks for calling — how can I help? ☎\""},
		{"temperature", "0.8"},
		{"max_turns", "12"},
		{"big_int", "9007199254740993"},
		{"negative", "-42"},
		{"enabled", "true"},
		{"disabled", "false"},
		{"transfer_number", "null"},
		{"empty_string", "\"\""},
		{"vad", "{\"type\":\"server_vad\",\"threshold\":0.5,\"silence_ms\":500,\"nested\":{\"a\":[1,2,{\"b\":null}]}}"},
		{"voices", "[\"alloy\",\"verse\",1,true,null,{}]"},
		{"empty_object", "{}"},
		{"empty_array", "[]"},
	};
	json_t *want = json_object();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *v = json_loads(cases[i].value, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		json_object_set(want, cases[i].key, v);
		json_t *all = ok("config.set", json_pack("{s:s,s:s,s:o}", "businessId", "biz_cfg", "key", cases[i].key, "value", v));
		if (!json_equal(json_object_get(all, cases[i].key), json_object_get(want, cases[i].key)))
			fail_msg("config.set %s: want %s, got %s", cases[i].key, cases[i].value, js(json_object_get(all, cases[i].key)));
		json_decref(all);
	}
	json_t *got = ok("config.get", json_pack("{s:s}", "businessId", "biz_cfg"));
	if (!json_equal(got, want))
		fail_msg("config.get: want %s, got %s", js(want), js(got));
	json_decref(got);
	/* overwrite with another type */
	json_t *all = ok("config.set", json_pack("{s:s,s:s,s:[i,i]}", "businessId", "biz_cfg", "key", "temperature", "value", 1, 2));
	assert_json(all, "temperature", "[1,2]");
	json_decref(all);
	json_decref(want);
	fails("not_found", "config.get", json_pack("{s:s}", "businessId", "biz_nope"));
	fails("not_found", "config.set", json_pack("{s:s,s:s,s:i}", "businessId", "biz_nope", "key", "k", "value", 1));
	fails("invalid_argument", "config.set", json_pack("{s:s,s:s}", "businessId", "biz_cfg", "key", "no_value"));
	fails("invalid_argument", "config.set", json_pack("{s:s,s:s,s:i}", "businessId", "biz_cfg", "key", "", "value", 1));
}

static void test_config_full_precision_number(void **state)
{
	mkbiz("biz_cfg_pi", "Precise");
	const double pi = 3.141592653589793, tiny = 1.0000000000000002;
	json_decref(ok_exact("config.set_many", json_pack("{s:s,s:{s:f,s:f}}", "businessId", "biz_cfg_pi", "values",
							  "pi", pi, "tiny", tiny)));
	json_t *got = ok("config.get", json_pack("{s:s}", "businessId", "biz_cfg_pi"));
	assert_num(got, "pi", pi);
	assert_num(got, "tiny", tiny);
	json_decref(got);
}

static void test_config_set_many_delete(void **state)
{
	mkbiz("biz_cfg_many", "Many");
	json_t *all = ok("config.set_many", json_pack("{s:s,s:{s:s,s:f,s:{s:i}}}", "businessId", "biz_cfg_many", "values",
						      "voice", "alloy", "temperature", 0.7, "vad", "silence_ms", 300));
	assert_str(all, "voice", "alloy");
	assert_num(all, "temperature", 0.7);
	assert_json(all, "vad", "{\"silence_ms\":300}");
	json_decref(all);
	/* atomic: one bad key and nothing of the request is written */
	fails("invalid_argument", "config.set_many",
	      json_pack("{s:s,s:{s:s,s:i,s:s}}", "businessId", "biz_cfg_many", "values", "model", "gpt-realtime", "", 1,
			"voice", "verse"));
	json_t *got = ok("config.get", json_pack("{s:s}", "businessId", "biz_cfg_many"));
	assert_str(got, "voice", "alloy");
	assert_absent(got, "model");
	json_decref(got);
	/* an empty set_many changes nothing */
	json_decref(ok("config.set_many", json_pack("{s:s,s:{}}", "businessId", "biz_cfg_many", "values")));

	json_t *d = ok("config.delete", json_pack("{s:s,s:s}", "businessId", "biz_cfg_many", "key", "voice"));
	assert_bool(d, "deleted", true);
	json_decref(d);
	got = ok("config.get", json_pack("{s:s}", "businessId", "biz_cfg_many"));
	assert_absent(got, "voice");
	assert_num(got, "temperature", 0.7);
	json_decref(got);
	d = ok("config.delete", json_pack("{s:s,s:s}", "businessId", "biz_cfg_many", "key", "voice")); /* resend */
	assert_bool(d, "deleted", false);
	json_decref(d);
	fails("not_found", "config.delete", json_pack("{s:s,s:s}", "businessId", "biz_nope", "key", "voice"));
	fails("not_found", "config.set_many", json_pack("{s:s,s:{s:i}}", "businessId", "biz_nope", "values", "a", 1));
}

/* ---- knowledge ------------------------------------------------------------------------- */

static json_t *mkdoc(const char *id, const char *biz, const char *title)
{
	json_t *d = ok("knowledge.create", json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s}}", "id", id, "businessId", biz, "title",
						     title, "content", "Some text about it.", "category", "faq",
						     "metadata", "source", "test"));
	after(d, "createdAt");
	return d;
}

static void test_knowledge_create_get(void **state)
{
	mkbiz("biz_kb", "Knowing");
	mkbiz("biz_kb_other", "Other");
	json_t *d = mkdoc("kb_one", "biz_kb", "Opening hours");
	assert_str(d, "id", "kb_one");
	assert_str(d, "businessId", "biz_kb");
	assert_str(d, "title", "Opening hours");
	assert_str(d, "content", "Some text about it.");
	assert_str(d, "category", "faq");
	assert_json(d, "metadata", "{\"source\":\"test\"}");
	assert_str(d, "indexStatus", "pending");
	assert_time(d, "createdAt");
	json_t *again = ok("knowledge.create", json_pack("{s:s,s:s,s:s,s:s}", "id", "kb_one", "businessId", "biz_kb",
							 "title", "Changed?", "content", "no"));
	if (!json_equal(d, again))
		fail_msg("create with the same id: want %s, got %s", js(d), js(again));
	json_t *got = ok("knowledge.get", json_pack("{s:s}", "id", "kb_one"));
	if (!json_equal(d, got))
		fail_msg("get: want %s, got %s", js(d), js(got));
	json_decref(d), json_decref(again), json_decref(got);

	d = ok("knowledge.create", json_pack("{s:s,s:s,s:s}", "businessId", "biz_kb", "title", "T", "content", "C"));
	assert_true(strncmp(sb_json_str(d, "id") ?: "", "kb_", 3) == 0);
	assert_json(d, "metadata", "{}");
	json_decref(d);

	fails("conflict", "knowledge.create", json_pack("{s:s,s:s,s:s,s:s}", "id", "kb_one", "businessId", "biz_kb_other",
							"title", "T", "content", "C"));
	fails("not_found", "knowledge.create", json_pack("{s:s,s:s,s:s}", "businessId", "biz_nope", "title", "T", "content", "C"));
	fails("not_found", "knowledge.get", json_pack("{s:s}", "id", "kb_nope"));
	fails("invalid_argument", "knowledge.create", json_pack("{s:s,s:s,s:s}", "businessId", "biz_kb", "title", "", "content", "C"));
}

static void test_knowledge_list_status(void **state)
{
	mkbiz("biz_kbl", "Listing");
	json_decref(mkdoc("kb_l1", "biz_kbl", "First"));
	json_decref(mkdoc("kb_l2", "biz_kbl", "Second"));
	json_decref(mkdoc("kb_l3", "biz_kbl", "Third"));
	json_t *l = ok("knowledge.list", json_pack("{s:s}", "businessId", "biz_kbl"));
	assert_int(l, "total", 3);
	assert_string_equal(pluck(items(l), "id"), "kb_l3,kb_l2,kb_l1"); /* newest first */
	json_decref(l);
	l = ok("knowledge.list", json_pack("{s:s,s:i,s:i}", "businessId", "biz_kbl", "limit", 1, "offset", 1));
	assert_string_equal(pluck(items(l), "id"), "kb_l2");
	assert_int(l, "total", 3);
	json_decref(l);

	json_t *d = ok("knowledge.set_status", json_pack("{s:s,s:s,s:s,s:i}", "id", "kb_l1", "status", "indexed", "vectorId",
							 "vec-l1", "chunks", 4));
	assert_str(d, "indexStatus", "indexed");
	assert_str(d, "vectorId", "vec-l1");
	assert_int(d, "chunks", 4);
	json_decref(d);
	d = ok("knowledge.set_status", json_pack("{s:s,s:s,s:s}", "id", "kb_l2", "status", "failed", "error", "embedder down"));
	assert_str(d, "indexStatus", "failed");
	assert_str(d, "indexError", "embedder down");
	json_decref(d);

	static const struct {
		const char *status, *ids;
	} filters[] = {{"indexed", "kb_l1"}, {"failed", "kb_l2"}, {"pending", "kb_l3"}};
	for (size_t i = 0; i < 3; i++) {
		l = ok("knowledge.list", json_pack("{s:s,s:s}", "businessId", "biz_kbl", "status", filters[i].status));
		if (strcmp(pluck(items(l), "id"), filters[i].ids) != 0)
			fail_msg("status %s: want %s, got %s", filters[i].status, filters[i].ids, pluck(items(l), "id"));
		assert_int(l, "total", 1);
		json_decref(l);
	}
	fails("not_found", "knowledge.set_status", json_pack("{s:s,s:s}", "id", "kb_nope", "status", "indexed"));
	fails("invalid_argument", "knowledge.set_status", json_pack("{s:s,s:s}", "id", "kb_l1", "status", "done"));
	fails("invalid_argument", "knowledge.list", json_pack("{s:s,s:s}", "businessId", "biz_kbl", "status", "done"));
}

static void test_knowledge_update_resets_status(void **state)
{
	mkbiz("biz_kbu", "Updating");
	json_decref(mkdoc("kb_u", "biz_kbu", "Prices"));
	json_decref(ok("knowledge.set_status", json_pack("{s:s,s:s,s:s}", "id", "kb_u", "status", "indexed", "vectorId", "v1")));
	/* category and metadata are not text: still indexed */
	json_t *d = ok("knowledge.update", json_pack("{s:s,s:s,s:{s:i}}", "id", "kb_u", "category", "pricing", "metadata", "v", 2));
	assert_str(d, "category", "pricing");
	assert_json(d, "metadata", "{\"v\":2}");
	assert_str(d, "indexStatus", "indexed");
	json_decref(d);
	/* new content: back to pending */
	d = ok("knowledge.update", json_pack("{s:s,s:s}", "id", "kb_u", "content", "Prices went up."));
	assert_str(d, "content", "Prices went up.");
	assert_str(d, "title", "Prices");
	assert_str(d, "indexStatus", "pending");
	json_decref(d);
	json_decref(ok("knowledge.set_status", json_pack("{s:s,s:s}", "id", "kb_u", "status", "indexed")));
	/* new title: back to pending too */
	d = ok("knowledge.update", json_pack("{s:s,s:s}", "id", "kb_u", "title", "Price list"));
	assert_str(d, "indexStatus", "pending");
	json_decref(d);
	d = ok("knowledge.get", json_pack("{s:s}", "id", "kb_u"));
	assert_str(d, "title", "Price list");
	assert_str(d, "content", "Prices went up.");
	assert_str(d, "category", "pricing");
	json_decref(d);
	fails("not_found", "knowledge.update", json_pack("{s:s,s:s}", "id", "kb_nope", "title", "x"));
}

static void test_knowledge_delete(void **state)
{
	mkbiz("biz_kbd", "Deleting");
	json_decref(mkdoc("kb_d1", "biz_kbd", "Keep"));
	json_decref(mkdoc("kb_d2", "biz_kbd", "Drop"));
	json_t *d = ok("knowledge.delete", json_pack("{s:s}", "id", "kb_d2"));
	assert_bool(d, "deleted", true);
	json_decref(d);
	fails("not_found", "knowledge.get", json_pack("{s:s}", "id", "kb_d2"));
	fails("not_found", "knowledge.delete", json_pack("{s:s}", "id", "kb_d2"));
	json_t *l = ok("knowledge.list", json_pack("{s:s}", "businessId", "biz_kbd"));
	assert_int(l, "total", 1);
	assert_string_equal(pluck(items(l), "id"), "kb_d1");
	json_decref(l);
}

/* ---- calls ------------------------------------------------------------------------------ */

static json_t *mkcall(const char *sid, const char *biz, const char *dir, const char *started)
{
	return ok("calls.create", json_pack("{s:s,s:s,s:s*,s:s,s:s,s:s*}", "callSid", sid, "direction", dir, "businessId",
					    biz, "from", "+15551110000", "to", "+15552220000", "startedAt", started));
}

static void test_calls_create_idempotent(void **state)
{
	mkbiz("biz_calls_c", "Calls");
	json_t *c = mkcall("CA_idem", "biz_calls_c", "inbound", NULL);
	assert_bool(c, "created", true);
	assert_str(c, "callSid", "CA_idem");
	assert_str(c, "businessId", "biz_calls_c");
	assert_str(c, "direction", "inbound");
	assert_str(c, "from", "+15551110000");
	assert_str(c, "to", "+15552220000");
	assert_time(c, "startedAt");
	char id[64];
	snprintf(id, sizeof id, "%s", sb_json_str(c, "id"));
	json_decref(c);
	c = mkcall("CA_idem", "biz_calls_c", "inbound", NULL);
	assert_bool(c, "created", false);
	assert_str(c, "id", id);
	json_decref(c);
	json_t *l = ok("calls.list", json_pack("{s:s}", "businessId", "biz_calls_c"));
	assert_int(l, "total", 1); /* one row */
	json_decref(l);

	c = mkcall("CA_out", "biz_calls_c", "outbound", NULL);
	assert_str(c, "status", "queued");
	json_decref(c);
	c = ok("calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CA_ringing", "direction", "inbound", "status", "ringing"));
	assert_str(c, "status", "ringing");
	assert_null_field(c, "businessId");
	json_decref(c);
	fails("not_found", "calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CA_x1", "direction", "inbound", "businessId", "biz_nope"));
	fails("not_found", "calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CA_x2", "direction", "inbound", "payerId", "payer_nope"));
	fails("invalid_argument", "calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CA_x3", "direction", "inbound", "status", "exploded"));
	fails("invalid_argument", "calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CA_x4", "direction", "inbound", "startedAt", "yesterday"));
	fails("invalid_argument", "calls.create", json_pack("{s:s,s:s}", "callSid", "", "direction", "inbound"));
	fails("not_found", "calls.get", json_pack("{s:s}", "callSid", "CA_x1"));
}

static void test_calls_transcript_and_tools(void **state)
{
	json_decref(mkcall("CA_tr", NULL, "inbound", NULL));
	static const struct {
		int seq;
		const char *role, *text;
	} lines[] = {{2, "user", "Tuesday then."}, {0, "assistant", "Hello, how can I help?"}, {1, "user", "Are you open on Monday?"},
		     {3, "tool", "{\"open\":false}"}, {4, "system", "caller hung up"}};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		json_t *r = ok("calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tr", "seq", lines[i].seq,
								    "role", lines[i].role, "text", lines[i].text));
		assert_bool(r, "duplicate", false);
		assert_int(r, "seq", lines[i].seq);
		json_decref(r);
	}
	/* a resend of the same line */
	json_t *r = ok("calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tr", "seq", 1, "role", "user",
							    "text", "Are you open on Monday?"));
	assert_bool(r, "duplicate", true);
	json_decref(r);
	fails("conflict", "calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tr", "seq", 1, "role", "user", "text", "Something else"));
	fails("conflict", "calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tr", "seq", 1, "role", "assistant", "text", "Are you open on Monday?"));
	fails("not_found", "calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_nope", "seq", 0, "role", "user", "text", "hi"));
	fails("invalid_argument", "calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tr", "seq", -1, "role", "user", "text", "hi"));
	fails("invalid_argument", "calls.append_transcript", json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CA_tr", "seq", 9, "role", "robot", "text", "hi"));

	r = ok("calls.record_tool", json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s}", "callSid", "CA_tr", "callRef", "call_1", "name",
					      "search_knowledge", "arguments", "{\"q\":\"monday\"}", "output", "closed", "latencyMs", 42,
					      "at", "2024-01-01T10:00:01Z"));
	assert_bool(r, "duplicate", false);
	json_decref(r);
	r = ok("calls.record_tool", json_pack("{s:s,s:s,s:s,s:s}", "callSid", "CA_tr", "callRef", "call_2", "name", "transfer_call",
					      "at", "2024-01-01T10:00:02Z"));
	assert_bool(r, "duplicate", false);
	json_decref(r);
	r = ok("calls.record_tool", json_pack("{s:s,s:s,s:s,s:s,s:s}", "callSid", "CA_tr", "callRef", "call_1", "name",
					      "search_knowledge", "output", "a different output", "at", "2024-01-01T10:00:01Z"));
	assert_bool(r, "duplicate", true);
	json_decref(r);
	fails("not_found", "calls.record_tool", json_pack("{s:s,s:s,s:s}", "callSid", "CA_nope", "callRef", "c", "name", "n"));

	json_t *c = ok("calls.get", json_pack("{s:s}", "callSid", "CA_tr"));
	json_t *tr = json_object_get(c, "transcript"), *tools = json_object_get(c, "toolCalls");
	assert_string_equal(pluck(tr, "seq"), "0,1,2,3,4");
	assert_string_equal(pluck(tr, "role"), "assistant,user,user,tool,system");
	assert_str(json_array_get(tr, 1), "text", "Are you open on Monday?");
	assert_time(json_array_get(tr, 0), "at");
	assert_string_equal(pluck(tools, "callRef"), "call_1,call_2");
	json_t *t1 = json_array_get(tools, 0);
	assert_str(t1, "name", "search_knowledge");
	assert_str(t1, "arguments", "{\"q\":\"monday\"}");
	assert_str(t1, "output", "closed"); /* the first record stays */
	assert_int(t1, "latencyMs", 42);
	json_decref(c);
}

/* Apply update_status and check the resulting status and duration. */
static void step_status(const char *sid, const char *status, int duration, const char *want_status, int want_duration)
{
	json_t *args = json_pack("{s:s,s:s}", "callSid", sid, "status", status);
	if (duration >= 0)
		json_object_set_new(args, "durationS", json_integer(duration));
	char step[128];
	if (duration >= 0)
		snprintf(step, sizeof step, "%s after \"%s\" with durationS %d", sid, status, duration);
	else
		snprintf(step, sizeof step, "%s after \"%s\"", sid, status);
	json_t *c = ok("calls.update_status", args);
	if (strcmp(sb_json_str(c, "status") ?: "", want_status) != 0)
		fail_msg("%s: want status %s, got %s", step, want_status, js(c));
	json_t *d = json_object_get(c, "durationS");
	if (want_duration < 0 ? !json_is_null(d) : (!json_is_integer(d) || json_integer_value(d) != want_duration))
		fail_msg("%s: want durationS %d, got %s in %s", step, want_duration, js(d), js(c));
	json_decref(c);
	c = ok("calls.get", json_pack("{s:s}", "callSid", sid)); /* and it is what was stored */
	assert_str(c, "status", want_status);
	json_decref(c);
}

static void test_calls_update_status_out_of_order(void **state)
{
	json_decref(mkcall("CA_ooo", NULL, "outbound", NULL));
	step_status("CA_ooo", "completed", 42, "completed", 42);
	json_t *c = ok("calls.get", json_pack("{s:s}", "callSid", "CA_ooo"));
	assert_time(c, "endedAt");
	char ended[64];
	snprintf(ended, sizeof ended, "%s", sb_json_str(c, "endedAt"));
	json_decref(c);
	step_status("CA_ooo", "ringing", -1, "completed", 42);     /* late callback: never backwards */
	step_status("CA_ooo", "in-progress", -1, "completed", 42);
	step_status("CA_ooo", "failed", -1, "completed", 42);      /* the first terminal sticks */
	step_status("CA_ooo", "no-answer", 0, "completed", 42);    /* and its duration is kept */
	c = ok("calls.get", json_pack("{s:s}", "callSid", "CA_ooo"));
	assert_str(c, "endedAt", ended);
	json_decref(c);

	json_decref(mkcall("CA_fwd", NULL, "outbound", NULL));
	step_status("CA_fwd", "ringing", -1, "ringing", -1);
	step_status("CA_fwd", "in-progress", -1, "in-progress", -1); /* forward after ringing */
	step_status("CA_fwd", "ringing", -1, "in-progress", -1);
	step_status("CA_fwd", "queued", -1, "in-progress", -1);
	c = ok("calls.update_status", json_pack("{s:s,s:s,s:i,s:s,s:s}", "callSid", "CA_fwd", "status", "completed", "durationS", 75,
						"summary", "Customer promised to pay Friday.", "at", "2024-06-01T12:00:00Z"));
	assert_str(c, "status", "completed");
	assert_int(c, "durationS", 75);
	assert_str(c, "summary", "Customer promised to pay Friday.");
	assert_str(c, "endedAt", "2024-06-01T12:00:00.000Z");
	json_decref(c);
	step_status("CA_fwd", "completed", -1, "completed", 75); /* resend without duration keeps it */

	fails("not_found", "calls.update_status", json_pack("{s:s,s:s}", "callSid", "CA_nope", "status", "ringing"));
	fails("invalid_argument", "calls.update_status", json_pack("{s:s,s:s}", "callSid", "CA_fwd", "status", "exploded"));
	fails("invalid_argument", "calls.update_status", json_pack("{s:s,s:s,s:i}", "callSid", "CA_fwd", "status", "completed", "durationS", -1));
}

/* A second, different terminal status carries its own duration: the first terminal's record stands. */
static void test_calls_second_terminal_keeps_duration(void **state)
{
	json_decref(mkcall("CA_term2", NULL, "outbound", NULL));
	step_status("CA_term2", "completed", 42, "completed", 42);
	step_status("CA_term2", "failed", 100, "completed", 42);
	step_status("CA_term2", "completed", 42, "completed", 42); /* a plain resend */
	/* a terminal status that arrived without a duration may still get it from a resend */
	json_decref(mkcall("CA_term3", NULL, "outbound", NULL));
	step_status("CA_term3", "completed", -1, "completed", -1);
	step_status("CA_term3", "completed", 17, "completed", 17);
}

static void test_calls_list_pagination(void **state)
{
	mkbiz("biz_calls_l", "Paged");
	static const char *const status[] = {"completed", "no-answer", "completed", "busy", "completed", "failed", "completed"};
	for (int d = 1; d <= 7; d++) {
		char sid[32], at[40];
		snprintf(sid, sizeof sid, "CA_page_%d", d);
		snprintf(at, sizeof at, "2024-01-0%dT10:00:00Z", d);
		json_decref(mkcall(sid, "biz_calls_l", "inbound", at));
		json_decref(ok("calls.update_status", json_pack("{s:s,s:s}", "callSid", sid, "status", status[d - 1])));
	}
	static const struct {
		const char *name;
		int page, limit;
		const char *sids;
		int total, pages;
	} cases[] = {
		{"first page", 1, 3, "CA_page_7,CA_page_6,CA_page_5", 7, 3},
		{"middle page", 2, 3, "CA_page_4,CA_page_3,CA_page_2", 7, 3},
		{"last, partial page", 3, 3, "CA_page_1", 7, 3},
		{"past the end", 4, 3, "", 7, 3},
		{"far past the end", 1000000, 100, "", 7, 1},
		{"one per page", 7, 1, "CA_page_1", 7, 7},
		{"exact fit", 1, 7, "CA_page_7,CA_page_6,CA_page_5,CA_page_4,CA_page_3,CA_page_2,CA_page_1", 7, 1},
		{"max limit", 1, 100, "CA_page_7,CA_page_6,CA_page_5,CA_page_4,CA_page_3,CA_page_2,CA_page_1", 7, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *l = ok("calls.list", json_pack("{s:s,s:i,s:i}", "businessId", "biz_calls_l", "page", cases[i].page,
						       "limit", cases[i].limit));
		const char *got = pluck(items(l), "callSid");
		if (strcmp(got, cases[i].sids) != 0)
			fail_msg("%s: want [%s], got [%s]", cases[i].name, cases[i].sids, got);
		assert_int(l, "page", cases[i].page);
		assert_int(l, "limit", cases[i].limit);
		assert_int(l, "total", cases[i].total);
		assert_int(l, "pages", cases[i].pages);
		json_decref(l);
	}
	json_t *l = ok("calls.list", json_pack("{s:s}", "businessId", "biz_calls_l"));
	assert_int(l, "page", 1);
	assert_int(l, "total", 7);
	json_decref(l);
	fails("invalid_argument", "calls.list", json_pack("{s:i}", "limit", 0));
	fails("invalid_argument", "calls.list", json_pack("{s:i}", "limit", 101));
	fails("invalid_argument", "calls.list", json_pack("{s:i}", "page", 0));
	fails("invalid_argument", "calls.list", json_pack("{s:s}", "from", "last week"));
}

static void test_calls_list_filters(void **state)
{
	static const char *const status[] = {"completed", "no-answer", "completed", "busy", "completed", "failed", "completed"};
	mkbiz("biz_calls_f", "Filtered");
	for (int d = 1; d <= 7; d++) {
		char sid[32], at[40];
		snprintf(sid, sizeof sid, "CA_filt_%d", d);
		snprintf(at, sizeof at, "2024-01-0%dT10:00:00Z", d);
		json_decref(mkcall(sid, "biz_calls_f", "inbound", at));
		json_decref(ok("calls.update_status", json_pack("{s:s,s:s}", "callSid", sid, "status", status[d - 1])));
	}
	static const struct {
		const char *name, *status, *from, *to, *sids;
	} cases[] = {
		{"status completed", "completed", NULL, NULL, "CA_filt_7,CA_filt_5,CA_filt_3,CA_filt_1"},
		{"status busy", "busy", NULL, NULL, "CA_filt_4"},
		{"status none", "ringing", NULL, NULL, ""},
		{"from", NULL, "2024-01-06T00:00:00Z", NULL, "CA_filt_7,CA_filt_6"},
		{"to", NULL, NULL, "2024-01-02T23:59:59Z", "CA_filt_2,CA_filt_1"},
		{"from and to, inclusive", NULL, "2024-01-03T10:00:00Z", "2024-01-05T10:00:00Z", "CA_filt_5,CA_filt_4,CA_filt_3"},
		{"range and status", "completed", "2024-01-02T00:00:00Z", "2024-01-06T00:00:00Z", "CA_filt_5,CA_filt_3"},
		{"from after to", NULL, "2024-01-05T00:00:00Z", "2024-01-02T00:00:00Z", ""},
		{"date only", NULL, "2024-01-07", NULL, "CA_filt_7"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *l = ok("calls.list", json_pack("{s:s,s:s*,s:s*,s:s*,s:i}", "businessId", "biz_calls_f", "status",
						       cases[i].status, "from", cases[i].from, "to", cases[i].to, "limit", 100));
		const char *got = pluck(items(l), "callSid");
		if (strcmp(got, cases[i].sids) != 0)
			fail_msg("%s: want [%s], got [%s]", cases[i].name, cases[i].sids, got);
		int n = *cases[i].sids ? 1 : 0;
		for (const char *p = cases[i].sids; *p; p++)
			n += *p == ',';
		assert_int(l, "total", n);
		json_decref(l);
	}
}

static void test_calls_analytics(void **state)
{
	mkbiz("biz_stats", "Stats");
	static const struct {
		const char *sid, *started, *status;
		int duration;
	} calls[] = {
		{"CA_st_1", "2024-02-01T09:00:00Z", "completed", 60},
		{"CA_st_2", "2024-02-01T15:30:00Z", "completed", 120},
		{"CA_st_3", "2024-02-02T23:59:00Z", "completed", 30},
		{"CA_st_4", "2024-02-02T08:00:00Z", "no-answer", 0},
		{"CA_st_out", "2024-03-01T08:00:00Z", "completed", 999}, /* outside the range */
	};
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		json_decref(mkcall(calls[i].sid, "biz_stats", "outbound", calls[i].started));
		json_decref(ok("calls.update_status", json_pack("{s:s,s:s,s:i}", "callSid", calls[i].sid, "status",
								calls[i].status, "durationS", calls[i].duration)));
	}
	json_t *a = ok("calls.analytics", json_pack("{s:s,s:s,s:s}", "businessId", "biz_stats", "from", "2024-02-01T00:00:00Z",
						    "to", "2024-02-02T23:59:59Z"));
	assert_int(a, "totalCalls", 4);
	assert_int(a, "totalDurationS", 210);
	assert_num(a, "averageDurationS", 52.5);
	assert_json(a, "byStatus", "{\"completed\":3,\"no-answer\":1}");
	assert_json(a, "byDay", "[{\"date\":\"2024-02-01\",\"count\":2,\"durationS\":180},"
				"{\"date\":\"2024-02-02\",\"count\":2,\"durationS\":30}]");
	json_decref(a);
	a = ok("calls.analytics", json_pack("{s:s,s:s,s:s}", "businessId", "biz_stats", "from", "2023-01-01T00:00:00Z", "to",
					    "2023-12-31T23:59:59Z"));
	assert_int(a, "totalCalls", 0);
	assert_int(a, "totalDurationS", 0);
	assert_num(a, "averageDurationS", 0);
	assert_json(a, "byStatus", "{}");
	assert_json(a, "byDay", "[]");
	json_decref(a);
	fails("invalid_argument", "calls.analytics", json_pack("{s:s}", "from", "2024-13-01"));
}

/* ---- payers and outreach ------------------------------------------------------------------ */

static void test_payers_crud(void **state)
{
	mkbiz("biz_pay", "Collections");
	json_t *p = ok("payers.create", json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:i,s:s,s:s}", "id", "payer_crud", "businessId",
						  "biz_pay", "name", "Jane Doe", "company", "Doe LLC", "email", "jane@example.com",
						  "phone", "+15553334444", "amountDue", 123.45, "currency", "usd", "daysOverdue", 10,
						  "stage", "STAGE_2", "timezone", "Europe/London"));
	assert_str(p, "id", "payer_crud");
	assert_str(p, "businessId", "biz_pay");
	assert_str(p, "name", "Jane Doe");
	assert_str(p, "company", "Doe LLC");
	assert_str(p, "email", "jane@example.com");
	assert_str(p, "phone", "+15553334444");
	assert_num(p, "amountDue", 123.45);
	assert_str(p, "currency", "USD");
	assert_int(p, "daysOverdue", 10);
	assert_str(p, "stage", "STAGE_2");
	assert_str(p, "timezone", "Europe/London");
	assert_bool(p, "optedOut", false);
	assert_bool(p, "disputed", false);
	json_t *again = ok("payers.create", json_pack("{s:s,s:s,s:f}", "id", "payer_crud", "name", "Someone Else", "amountDue", 1.0));
	if (!json_equal(p, again))
		fail_msg("create with the same id: want %s, got %s", js(p), js(again));
	json_decref(p), json_decref(again);

	p = ok("payers.get", json_pack("{s:s}", "id", "payer_crud"));
	assert_num(p, "amountDue", 123.45);
	assert_json(p, "attempts", "[]");
	json_decref(p);

	p = ok("payers.update", json_pack("{s:s,s:f,s:s,s:b}", "id", "payer_crud", "amountDue", 19.99, "stage", "STAGE_3", "optedOut", 1));
	assert_num(p, "amountDue", 19.99);
	assert_str(p, "stage", "STAGE_3");
	assert_bool(p, "optedOut", true);
	assert_str(p, "name", "Jane Doe"); /* untouched */
	json_decref(p);
	p = ok("payers.update", json_pack("{s:s,s:s}", "id", "payer_crud", "lastOutreachStatus", "EMAIL_SENT"));
	assert_str(p, "lastOutreachStatus", "EMAIL_SENT");
	assert_time(p, "lastOutreachAt");
	json_decref(p);

	json_t *l = ok("payers.list", json_pack("{s:s}", "businessId", "biz_pay"));
	assert_int(l, "total", 1);
	assert_string_equal(pluck(items(l), "id"), "payer_crud");
	json_decref(l);

	fails("invalid_argument", "payers.create", json_pack("{s:s,s:s}", "name", "P", "phone", "555-1234"));
	fails("invalid_argument", "payers.create", json_pack("{s:s,s:s}", "name", "P", "email", "not-an-email"));
	fails("invalid_argument", "payers.create", json_pack("{s:s,s:s}", "name", "P", "timezone", "Mars/Olympus"));
	fails("invalid_argument", "payers.create", json_pack("{s:s,s:f}", "name", "P", "amountDue", -1.0));
	fails("invalid_argument", "payers.create", json_pack("{s:s,s:s}", "name", "P", "stage", "STAGE_9"));
	fails("not_found", "payers.create", json_pack("{s:s,s:s}", "name", "P", "businessId", "biz_nope"));
	fails("not_found", "payers.get", json_pack("{s:s}", "id", "payer_nope"));
	fails("not_found", "payers.update", json_pack("{s:s,s:s}", "id", "payer_nope", "name", "x"));

	json_t *d = ok("payers.delete", json_pack("{s:s}", "id", "payer_crud"));
	assert_bool(d, "deleted", true);
	json_decref(d);
	fails("not_found", "payers.get", json_pack("{s:s}", "id", "payer_crud"));
	fails("not_found", "payers.delete", json_pack("{s:s}", "id", "payer_crud"));
}

static void test_payers_amount_round_trip(void **state)
{
	static const double amounts[] = {123.45, 0.01, 0.1, 19.99, 1000000.07, 0, 99999.99, 123456789.12, 999999999999.99};
	for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
		char id[32];
		snprintf(id, sizeof id, "payer_amt_%zu", i);
		json_t *p = ok_exact("payers.create", json_pack("{s:s,s:s,s:f}", "id", id, "name", "Amount", "amountDue", amounts[i]));
		assert_num(p, "amountDue", amounts[i]);
		json_decref(p);
		p = ok("payers.get", json_pack("{s:s}", "id", id));
		assert_num(p, "amountDue", amounts[i]);
		json_decref(p);
	}
}

static void test_payers_due(void **state)
{
	static const struct {
		const char *id;
		double amount;
		int opted_out, disputed, days;
	} payers[] = {
		{"payer_due_yes", 50.0, 0, 0, 30},
		{"payer_due_older", 75.5, 0, 0, 90},
		{"payer_due_opted", 50.0, 1, 0, 30},
		{"payer_due_disputed", 50.0, 0, 1, 30},
		{"payer_due_nothing", 0.0, 0, 0, 30},
	};
	for (size_t i = 0; i < sizeof payers / sizeof payers[0]; i++)
		json_decref(ok("payers.create", json_pack("{s:s,s:s,s:f,s:b,s:b,s:i}", "id", payers[i].id, "name", "Due?", "amountDue",
							  payers[i].amount, "optedOut", payers[i].opted_out, "disputed",
							  payers[i].disputed, "daysOverdue", payers[i].days)));
	json_t *due = ok("payers.due", json_pack("{s:i}", "limit", 10000));
	const char *ids = pluck(items(due), "id");
	const char *yes = strstr(ids, "payer_due_yes"), *older = strstr(ids, "payer_due_older");
	if (!yes || !older)
		fail_msg("payers.due lacks a payer with something due: %s", ids);
	if (older > yes)
		fail_msg("payers.due: want the most overdue first, got %s", ids);
	for (size_t i = 2; i < sizeof payers / sizeof payers[0]; i++)
		if (strstr(ids, payers[i].id))
			fail_msg("payers.due includes %s: %s", payers[i].id, ids);
	json_decref(due);
	/* no longer opted out: due again */
	json_decref(ok("payers.update", json_pack("{s:s,s:b}", "id", "payer_due_opted", "optedOut", 0)));
	due = ok("payers.due", NULL);
	if (!strstr(pluck(items(due), "id"), "payer_due_opted"))
		fail_msg("payers.due lacks payer_due_opted after opting back in: %s", pluck(items(due), "id"));
	json_decref(due);
	due = ok("payers.due", json_pack("{s:i}", "limit", 1));
	assert_int_equal(json_array_size(items(due)), 1);
	json_decref(due);
	fails("invalid_argument", "payers.due", json_pack("{s:i}", "limit", 0));
}

static void test_outreach_claim_complete_list(void **state)
{
	json_decref(ok("payers.create", json_pack("{s:s,s:s,s:f}", "id", "payer_out", "name", "Outreach", "amountDue", 10.0)));
	json_t *c = ok("outreach.claim", json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "att_a", "payerId", "payer_out", "stage",
						   "STAGE_1", "channel", "email", "window", "2024-05-01"));
	assert_bool(c, "claimed", true);
	json_t *att = json_object_get(c, "attempt");
	assert_str(att, "id", "att_a");
	assert_str(att, "payerId", "payer_out");
	assert_str(att, "stage", "STAGE_1");
	assert_str(att, "channel", "email");
	assert_str(att, "window", "2024-05-01");
	assert_time(att, "claimedAt");
	after(att, "claimedAt");
	json_decref(c);

	/* somebody else (a second scheduler) claims the same slot */
	c = ok("outreach.claim", json_pack("{s:s,s:s,s:s,s:s}", "payerId", "payer_out", "stage", "STAGE_1", "channel", "email",
					   "window", "2024-05-01"));
	assert_bool(c, "claimed", false);
	assert_str(json_object_get(c, "attempt"), "id", "att_a");
	json_decref(c);
	c = ok("outreach.claim", json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "att_b", "payerId", "payer_out", "stage", "STAGE_1",
					   "channel", "call", "window", "2024-05-01"));
	assert_bool(c, "claimed", false);
	assert_str(json_object_get(c, "attempt"), "id", "att_a");
	json_decref(c);
	/* a resend of the winning request is still the winner */
	c = ok("outreach.claim", json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "att_a", "payerId", "payer_out", "stage", "STAGE_1",
					   "channel", "email", "window", "2024-05-01"));
	assert_bool(c, "claimed", true);
	json_decref(c);
	/* another window or stage is another slot */
	c = ok("outreach.claim", json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "att_c", "payerId", "payer_out", "stage", "STAGE_1",
					   "channel", "call", "window", "2024-05-02"));
	assert_bool(c, "claimed", true);
	json_decref(c);
	fails("not_found", "outreach.claim", json_pack("{s:s,s:s,s:s,s:s}", "payerId", "payer_nope", "stage", "STAGE_1",
						       "channel", "email", "window", "w"));
	fails("invalid_argument", "outreach.claim", json_pack("{s:s,s:s,s:s,s:s}", "payerId", "payer_out", "stage", "STAGE_1",
							      "channel", "sms", "window", "w"));

	c = ok("outreach.complete", json_pack("{s:s,s:s,s:s}", "id", "att_a", "status", "SENT", "detail", "message-id 123"));
	assert_str(c, "status", "SENT");
	assert_str(c, "detail", "message-id 123");
	assert_time(c, "completedAt");
	json_decref(c);
	json_t *p = ok("payers.get", json_pack("{s:s}", "id", "payer_out"));
	assert_str(p, "lastOutreachStatus", "SENT");
	assert_time(p, "lastOutreachAt");
	assert_string_equal(pluck(json_object_get(p, "attempts"), "id"), "att_a,att_c");
	json_decref(p);
	fails("not_found", "outreach.complete", json_pack("{s:s,s:s}", "id", "att_nope", "status", "SENT"));

	static const struct {
		const char *name, *since, *channel, *ids;
	} lists[] = {
		{"all, oldest first", NULL, NULL, "att_a,att_c"},
		{"channel email", NULL, "email", "att_a"},
		{"channel call", NULL, "call", "att_c"},
		{"since the past", "2000-01-01T00:00:00Z", NULL, "att_a,att_c"},
		{"since the future", "2999-01-01T00:00:00Z", NULL, ""},
	};
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		json_t *l = ok("outreach.list", json_pack("{s:s,s:s*,s:s*}", "payerId", "payer_out", "since", lists[i].since,
							  "channel", lists[i].channel));
		if (strcmp(pluck(items(l), "id"), lists[i].ids) != 0)
			fail_msg("outreach.list %s: want [%s], got [%s]", lists[i].name, lists[i].ids, pluck(items(l), "id"));
		json_decref(l);
	}
	fails("not_found", "outreach.list", json_pack("{s:s}", "payerId", "payer_nope"));
	fails("invalid_argument", "outreach.list", json_pack("{s:s,s:s}", "payerId", "payer_out", "since", "soon"));
}

/* ---- api keys ---------------------------------------------------------------------------- */

static void test_apikeys(void **state)
{
	mkbiz("biz_keys", "Keyed");
	json_t *admin = ok("apikeys.create", json_pack("{s:s}", "name", "ops"));
	json_t *bound = ok("apikeys.create", json_pack("{s:s,s:s}", "businessId", "biz_keys", "name", "tenant"));
	char akey[128], bkey[128], aid[64], bid[64];
	snprintf(akey, sizeof akey, "%s", sb_json_str(admin, "key") ?: "");
	snprintf(bkey, sizeof bkey, "%s", sb_json_str(bound, "key") ?: "");
	snprintf(aid, sizeof aid, "%s", sb_json_str(admin, "id") ?: "");
	snprintf(bid, sizeof bid, "%s", sb_json_str(bound, "id") ?: "");
	assert_true(strlen(akey) >= 20);
	assert_string_not_equal(akey, bkey);
	assert_str(bound, "businessId", "biz_keys");
	json_decref(admin), json_decref(bound);

	json_t *l = ok("apikeys.list", NULL);
	char *all = json_dumps(l, JSON_COMPACT);
	if (strstr(all, akey) || strstr(all, bkey))
		fail_msg("apikeys.list shows a plain key: %.1000s", all);
	free(all);
	size_t i;
	json_t *it;
	int seen = 0;
	json_array_foreach(items(l), i, it) {
		assert_absent(it, "key");
		assert_absent(it, "hash");
		seen += !strcmp(sb_json_str(it, "id") ?: "", aid) + !strcmp(sb_json_str(it, "id") ?: "", bid);
	}
	assert_int_equal(seen, 2);
	json_decref(l);
	l = ok("apikeys.list", json_pack("{s:s}", "businessId", "biz_keys"));
	assert_string_equal(pluck(items(l), "id"), bid);
	json_decref(l);

	json_t *v = ok("apikeys.verify", json_pack("{s:s}", "key", akey));
	assert_str(v, "id", aid);
	assert_null_field(v, "businessId");
	json_decref(v);
	v = ok("apikeys.verify", json_pack("{s:s}", "key", bkey));
	assert_str(v, "id", bid);
	assert_str(v, "businessId", "biz_keys");
	json_decref(v);
	fails("unauthenticated", "apikeys.verify", json_pack("{s:s}", "key", "sbk_0000000000000000000000000000000000000000"));
	fails("unauthenticated", "apikeys.verify", json_pack("{s:s}", "key", ""));

	json_t *r = ok("apikeys.revoke", json_pack("{s:s}", "id", aid));
	assert_time(r, "revokedAt");
	char revoked[64];
	snprintf(revoked, sizeof revoked, "%s", sb_json_str(r, "revokedAt"));
	json_decref(r);
	fails("unauthenticated", "apikeys.verify", json_pack("{s:s}", "key", akey));
	r = ok("apikeys.revoke", json_pack("{s:s}", "id", aid)); /* resend: the first revocation stands */
	assert_str(r, "revokedAt", revoked);
	json_decref(r);
	v = ok("apikeys.verify", json_pack("{s:s}", "key", bkey)); /* the other key still works */
	json_decref(v);
	fails("not_found", "apikeys.revoke", json_pack("{s:s}", "id", "key_nope"));
	fails("not_found", "apikeys.create", json_pack("{s:s}", "businessId", "biz_nope"));
}

/* ---- schema / code drift ------------------------------------------------------------------ */

static void test_schema_drift(void **state)
{
	const sb_service *const svcs[] = {&SB_SVC_STORE, &SB_SVC_SYS};
	for (size_t s = 0; s < 2; s++)
		for (unsigned i = 0; i < svcs[s]->nops; i++) {
			const char *name = svcs[s]->ops[i].name;
			json_t *reply = call(name, json_object());
			const char *code = json_is_true(json_object_get(reply, "ok")) ? "ok"
					   : sb_json_str(json_object_get(reply, "error"), "code");
			const char *msg = sb_json_str(json_object_get(reply, "error"), "message");
			if (!code)
				fail_msg("%s: malformed reply %s", name, js(reply));
			if (!strcmp(code, "invalid_argument") && msg && !strncmp(msg, "unknown op", 10))
				fail_msg("schema op %s is unknown to sb-store: %s", name, js(reply));
			if (strcmp(code, "ok") && strcmp(code, "invalid_argument") && strcmp(code, "not_found") &&
			    strcmp(code, "unauthenticated"))
				fail_msg("%s with {}: unexpected %s", name, js(reply));
			json_decref(reply);
		}
	const char *msg = fails("invalid_argument", "businesses.frobnicate", json_object());
	if (strncmp(msg, "unknown op", 10) != 0)
		fail_msg("want \"unknown op...\", got \"%s\"", msg);
	msg = fails("invalid_argument", "rag.search", json_object()); /* another service's op */
	if (strncmp(msg, "unknown op", 10) != 0)
		fail_msg("want \"unknown op...\", got \"%s\"", msg);
}

/* ---- fixture -------------------------------------------------------------------------------- */

static void print_log_tail(void)
{
	FILE *f = fopen(g.store.log, "r");
	if (!f)
		return;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	const char *p = buf + n;
	for (int lines = 0; p > buf && lines < 30; p--)
		if (p[-1] == '\n')
			lines++;
	fprintf(stderr, "---- tail of %s ----\n%s\n", g.store.log, p);
}

static int group_setup(void **state)
{
	if (sbt_start_store(&g.store, g.url, sizeof g.url, NULL) < 0) {
		fprintf(stderr, "sb-store did not become ready (binary %s)\n", sbt_bin("sb-store"));
		print_log_tail();
		return -1;
	}
	sb_error err = {0};
	if (!(g.c = sb_client_open(g.url, NULL, &err))) {
		fprintf(stderr, "client: %s\n", err.message);
		return -1;
	}
	return 0;
}

/*
 * The last test: SIGTERM must drain and exit 0 (a sanitizer finding at exit
 * makes it non-zero). A named test rather than only the group teardown,
 * because cmocka 1.1.5 leaves a failed group teardown out of its exit code.
 */
static void test_sigterm_exits_0(void **state)
{
	int status = sbt_stop(&g.store, SIGTERM, 15000);
	if (status != 0) {
		print_log_tail();
		fail_msg("sb-store: SIGTERM gave exit status %d (want 0; -1 = did not exit in 15 s)", status);
	}
}

/* Stops the store if the last test did not get to (and fails the group then). */
static int group_teardown(void **state)
{
	sb_client_close(g.c);
	if (g.store.pid <= 0)
		return 0;
	int status = sbt_stop(&g.store, SIGTERM, 15000);
	if (status != 0) {
		fprintf(stderr, "sb-store: SIGTERM gave exit status %d (want 0; -1 = did not exit in 15 s)\n", status);
		print_log_tail();
	}
	assert_int_equal(status, 0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sys_health),
		cmocka_unit_test(test_businesses_create_get),
		cmocka_unit_test(test_businesses_update),
		cmocka_unit_test(test_businesses_list),
		cmocka_unit_test(test_businesses_delete_cascades),
		cmocka_unit_test(test_phone_numbers_e164),
		cmocka_unit_test(test_phone_numbers_bind_lookup),
		cmocka_unit_test(test_config_types_round_trip),
		cmocka_unit_test(test_config_full_precision_number),
		cmocka_unit_test(test_config_set_many_delete),
		cmocka_unit_test(test_knowledge_create_get),
		cmocka_unit_test(test_knowledge_list_status),
		cmocka_unit_test(test_knowledge_update_resets_status),
		cmocka_unit_test(test_knowledge_delete),
		cmocka_unit_test(test_calls_create_idempotent),
		cmocka_unit_test(test_calls_transcript_and_tools),
		cmocka_unit_test(test_calls_update_status_out_of_order),
		cmocka_unit_test(test_calls_second_terminal_keeps_duration),
		cmocka_unit_test(test_calls_list_pagination),
		cmocka_unit_test(test_calls_list_filters),
		cmocka_unit_test(test_calls_analytics),
		cmocka_unit_test(test_payers_crud),
		cmocka_unit_test(test_payers_amount_round_trip),
		cmocka_unit_test(test_payers_due),
		cmocka_unit_test(test_outreach_claim_complete_list),
		cmocka_unit_test(test_apikeys),
		cmocka_unit_test(test_schema_drift),
		cmocka_unit_test(test_sys_metrics),
		cmocka_unit_test(test_sigterm_exits_0),
	};
	return cmocka_run_group_tests_name("store_ops", tests, group_setup, group_teardown);
}
