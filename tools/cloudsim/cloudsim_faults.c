/*
 * cloudsim_faults.c — scripted faults for sb-cloudsim.
 *
 * POST /_sim/faults with {target: fault, ...} replaces the table (an empty
 * object clears it). Targets: "embeddings", "upsert", "query", "delete",
 * "fetch", "list", "stats"; "pinecone" matches every Pinecone request and
 * "*" every request; the most specific one applies. A fault:
 *
 *   status        answer with this HTTP status and the API's error body
 *   code          OpenAI error code, e.g. "rate_limit_exceeded" (the
 *                 default for 429) or "insufficient_quota"
 *   message       error message
 *   retryAfter    Retry-After header: seconds (number) or an HTTP date (string)
 *   retryAfterMs  retry-after-ms header
 *   shouldRetry   x-should-retry header (true/false)
 *   delayMs       wait this long before answering (then answer normally
 *                 unless status or body is also given)
 *   body          "truncated" | "garbage" | "wrongtypes" | "huge" | "cut" |
 *                 "badindex" | "dims": a broken 200 answer
 *   count         how many requests it affects (default 1; -1 = all)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloudsim.h"
#include "sb_json.h"
#include "sb_time.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	json_t         *table; /* target → fault (with a live "count") */
	long            injected;
	bool            shutdown;
} F = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static const char *const BODIES[] = {"", "truncated", "garbage", "wrongtypes", "huge", "cut", "badindex", "dims", NULL};

static int body_kind(const char *s)
{
	for (int i = 1; s && BODIES[i]; i++)
		if (!strcmp(s, BODIES[i]))
			return i;
	return -1;
}

/* Check one fault object. */
static const char *check_fault(const json_t *f)
{
	static const char *const keys[] = {"status", "code", "message", "retryAfter", "retryAfterMs", "shouldRetry",
					   "delayMs", "body", "count", NULL};
	const char *k;
	json_t *v;
	if (!json_is_object(f))
		return "a fault must be an object";
	json_object_foreach((json_t *)f, k, v) {
		int ok = 0;
		for (int i = 0; keys[i]; i++)
			ok |= !strcmp(k, keys[i]);
		if (!ok)
			return "unknown key in a fault";
	}
	json_t *st = json_object_get(f, "status");
	if (st && (!json_is_integer(st) || json_integer_value(st) < 100 || json_integer_value(st) > 599))
		return "status must be an HTTP status";
	if (json_object_get(f, "body") && body_kind(sb_json_str(f, "body")) < 0)
		return "unknown body kind";
	return NULL;
}

int sim_faults_set(const json_t *spec, char *why, size_t len)
{
	const char *k;
	json_t *v;
	if (!json_is_object(spec)) {
		snprintf(why, len, "faults must be an object");
		return -1;
	}
	json_object_foreach((json_t *)spec, k, v) {
		const char *bad = check_fault(v);
		if (bad) {
			snprintf(why, len, "%s: %s", k, bad);
			return -1;
		}
	}
	json_t *copy = json_deep_copy(spec);
	json_object_foreach(copy, k, v)
		if (!json_object_get(v, "count"))
			json_object_set_new(v, "count", json_integer(1));
	pthread_mutex_lock(&F.mu);
	json_decref(F.table);
	F.table = copy;
	pthread_mutex_unlock(&F.mu);
	return 0;
}

json_t *sim_faults_get(void)
{
	pthread_mutex_lock(&F.mu);
	json_t *j = json_pack("{s:o,s:I}", "faults", F.table ? json_deep_copy(F.table) : json_object(), "injected",
			      (json_int_t)F.injected);
	pthread_mutex_unlock(&F.mu);
	return j;
}

/* Take one use of the fault for target (caller holds F.mu); a copy, or NULL. */
static json_t *take(const char *target, const char *group)
{
	const char *names[] = {target, group, "*"};
	for (int i = 0; i < 3; i++) {
		json_t *f = names[i] ? json_object_get(F.table, names[i]) : NULL;
		json_int_t count = sb_json_int(f, "count", 0);
		if (!f || count == 0)
			continue;
		json_t *copy = json_deep_copy(f);
		if (count > 0)
			json_object_set_new(f, "count", json_integer(count - 1));
		F.injected++;
		return copy;
	}
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts;
	ts = sb_timespec_in(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&F.mu);
	while (!F.shutdown && pthread_cond_timedwait(&F.cv, &F.mu, &ts) == 0)
		;
	pthread_mutex_unlock(&F.mu);
}

void sim_faults_shutdown(void)
{
	pthread_mutex_lock(&F.mu);
	F.shutdown = true;
	pthread_cond_broadcast(&F.cv);
	json_decref(F.table);
	F.table = NULL;
	pthread_mutex_unlock(&F.mu);
}

/* The error body of api for status. */
static json_t *error_body(const char *api, int status, const char *code, const char *message)
{
	if (!strcmp(api, "openai")) {
		const char *type = status == 429 ? (code && !strcmp(code, "insufficient_quota") ? "insufficient_quota"
											 : "requests")
				   : status >= 500 ? "server_error" : "invalid_request_error";
		return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", message, "type", type, "param", "code",
				 code);
	}
	return json_pack("{s:i,s:s,s:[]}", "code", status == 429 ? 8 : status >= 500 ? 13 : 3, "message", message,
			 "details");
}

static void error_response(const json_t *f, const char *api, sim_resp *r)
{
	int status = (int)sb_json_int(f, "status", 500);
	const char *code = sb_json_str(f, "code");
	if (!code && status == 429 && !strcmp(api, "openai"))
		code = "rate_limit_exceeded";
	char msg[200];
	snprintf(msg, sizeof msg, "%s", sb_json_str(f, "message") ? sb_json_str(f, "message")
		 : code && !strcmp(code, "insufficient_quota") ? "You exceeded your current quota, please check your plan and billing details."
		 : status == 429 ? "Rate limit reached. Please try again later." : "The server had an error (sb-cloudsim fault).");
	sim_json(r, status, error_body(api, status, code, msg));
	json_t *ra = json_object_get(f, "retryAfter");
	char v[64];
	if (json_is_integer(ra)) {
		snprintf(v, sizeof v, "%lld", (long long)json_integer_value(ra));
		sim_add_header(r, "Retry-After", v);
	} else if (json_is_string(ra)) {
		sim_add_header(r, "Retry-After", json_string_value(ra));
	}
	if (json_is_integer(json_object_get(f, "retryAfterMs"))) {
		snprintf(v, sizeof v, "%lld", (long long)sb_json_int(f, "retryAfterMs", 0));
		sim_add_header(r, "retry-after-ms", v);
	}
	if (json_is_boolean(json_object_get(f, "shouldRetry")))
		sim_add_header(r, "x-should-retry", sb_json_bool(f, "shouldRetry", 0) ? "true" : "false");
}

void sim_broken(sim_resp *r, sim_body kind, const char *api)
{
	static const char *const openai_bad[] = {
		[SIM_TRUNCATED] = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.0123,-0.04",
		[SIM_GARBAGE] = "<html><body><h1>502 Bad Gateway</h1></body></html>",
		[SIM_WRONGTYPES] = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":\"0\",\"embedding\":\"not base64!\"}],\"usage\":7}",
	};
	static const char *const pinecone_bad[] = {
		[SIM_TRUNCATED] = "{\"matches\":[{\"id\":\"x#0\",\"score\":0.9,\"metadata\":{\"busi",
		[SIM_GARBAGE] = "\x01\x02not json\xff",
		[SIM_WRONGTYPES] = "{\"matches\":{\"id\":17,\"score\":\"high\"},\"upsertedCount\":\"many\",\"namespace\":[]}",
	};
	r->status = 200;
	r->broken = kind;
	if (kind == SIM_TRUNCATED || kind == SIM_GARBAGE || kind == SIM_WRONGTYPES)
		r->body = strdup(!strcmp(api, "openai") ? openai_bad[kind] : pinecone_bad[kind]);
}

bool sim_fault(const char *target, const char *api, sim_resp *r)
{
	pthread_mutex_lock(&F.mu);
	json_t *f = F.table ? take(target, strcmp(api, "pinecone") == 0 ? "pinecone" : NULL) : NULL;
	pthread_mutex_unlock(&F.mu);
	if (!f)
		return false;
	if (sb_json_int(f, "delayMs", 0) > 0)
		sleep_ms((long)sb_json_int(f, "delayMs", 0));
	bool answered = true;
	int kind = body_kind(sb_json_str(f, "body"));
	if (json_object_get(f, "status"))
		error_response(f, api, r);
	else if (kind == SIM_BADINDEX || kind == SIM_DIMS) {
		r->broken = (sim_body)kind; /* the handler makes a wrong but well-formed answer */
		answered = false;
	} else if (kind > 0)
		sim_broken(r, (sim_body)kind, api);
	else
		answered = false; /* only slow */
	json_decref(f);
	return answered;
}
