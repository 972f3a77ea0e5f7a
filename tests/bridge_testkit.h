/*
 * bridge_testkit.h — helpers the media-bridge test binaries share (header
 * only, static functions): free loopback ports, readiness polling, the
 * realtime-sim record file, store polling, and a tiny HTTP client for the
 * callsim REST stand-in. Every wait polls with a deadline; nothing sleeps
 * for synchronisation.
 */
#ifndef SB_BRIDGE_TESTKIT_H
#define SB_BRIDGE_TESTKIT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/harness.h"
#include "sb_base64.h"
#include "sb_http.h"
#include "sb_json.h"
#include "sb_time.h"
#include "sb_twilio.h"

#define BT_WAIT_MS 15000

static inline void bt_nap(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Lines of a JSON-lines file whose "kind" (or "op" when kind is NULL and op set) matches and that contain needle. */
static inline int bt_count_lines(const char *path, const char *field, const char *value, int conn, const char *needle)
{
	FILE *f = fopen(path, "r");
	static char line[1 << 17];
	int n = 0;
	while (f && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *k = sb_json_str(j, field);
		if ((!value || (k && strcmp(k, value) == 0)) && (conn < 0 || sb_json_int(j, "conn", -1) == conn) &&
		    (!needle || strstr(line, needle)))
			n++;
		json_decref(j);
	}
	if (f)
		fclose(f);
	return n;
}

/* Poll until bt_count_lines(...) >= want; the last count. */
static inline int bt_wait_lines(const char *path, const char *field, const char *value, const char *needle, int want)
{
	int64_t until = sb_mono_ms() + BT_WAIT_MS;
	int n;
	while ((n = bt_count_lines(path, field, value, -1, needle)) < want && sb_mono_ms() < until)
		bt_nap(50);
	return n;
}

/* Poll calls.get until the call has status and at least min_lines transcript lines; the call (owned) or NULL. */
static inline json_t *bt_wait_call(sb_client *c, const char *sid, const char *status, size_t min_lines)
{
	int64_t until = sb_mono_ms() + BT_WAIT_MS;
	while (sb_mono_ms() < until) {
		sb_error err;
		json_t *env = sbt_call(c, "calls.get", json_pack("{s:s}", "callSid", sid), &err); /* quiet: not_found until it exists */
		json_t *call = json_is_true(json_object_get(env, "ok")) ? json_incref(json_object_get(env, "data")) : NULL;
		json_decref(env);
		const char *st = call ? sb_json_str(call, "status") : NULL;
		if (st && (!status || strcmp(st, status) == 0) &&
		    json_array_size(json_object_get(call, "transcript")) >= min_lines)
			return call;
		json_decref(call);
		bt_nap(50);
	}
	return NULL;
}

/* Poll payers.get until lastOutreachStatus is want; 0 or -1. */
static inline int bt_wait_payer(sb_client *c, const char *id, const char *want, int timeout_ms)
{
	int64_t until = sb_mono_ms() + timeout_ms;
	while (sb_mono_ms() < until) {
		json_t *p = sbt_ok(c, "payers.get", json_pack("{s:s}", "id", id));
		const char *st = sb_json_str(p, "lastOutreachStatus");
		int ok = st && strcmp(st, want) == 0;
		json_decref(p);
		if (ok)
			return 0;
		bt_nap(25);
	}
	return -1;
}

/* POST form (may be NULL) to http://127.0.0.1:port{path} with Basic user:pass (user NULL: none).
 * The HTTP status; *body (owned, may be NULL) gets the parsed JSON answer. */
static inline int bt_rest_post(int port, const char *path, const sb_form *form, const char *user, const char *pass, json_t **body)
{
	char url[512], cred[256], hdr[400] = "Authorization: Basic ";
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	int n = snprintf(cred, sizeof cred, "%s:%s", user ? user : "", pass ? pass : "");
	sb_b64_encode(cred, (size_t)n, hdr + strlen(hdr));
	const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", user ? hdr : NULL, NULL};
	char *enc = form ? sb_form_encode(form) : strdup("");
	sb_http_opts o = {.name = "test", .timeout_ms = 5000};
	sb_http *h = sb_http_new(&o);
	sb_http_req rq = {.method = "POST", .url = url, .headers = headers, .body = enc, .body_len = strlen(enc)};
	sb_http_resp rs = {0};
	int status = sb_http_do(h, &rq, &rs) == 0 ? rs.status : 0;
	if (body)
		*body = json_loads(rs.body ? rs.body : "", 0, NULL);
	sb_http_resp_free(&rs);
	sb_http_free(h);
	free(enc);
	return status;
}

#endif
