/*
 * scheduler_twilio.c — outbound calls through Twilio's Calls API
 * (services-and-libraries.md A3.1), over common/sb_http (libcurl, blocking:
 * called on worker threads only).
 *
 *   POST {api}/2010-04-01/Accounts/{sid}/Calls.json   basic auth sid:token
 *   To, From, Url = {public}/collect-iq/voice?payerId=…,
 *   StatusCallback = {public}/api/twilio/status?payerId=…&attemptId=…,
 *   StatusCallbackEvent repeated (initiated, ringing, answered, completed),
 *   Timeout, optional MachineDetection.
 *
 * A call must never be placed twice, so only outcomes that prove the call
 * was not created are retried: a refused connection, and 429 (Twilio error
 * 20429: "not processed, safe to retry"). A 5xx or a transfer that broke
 * after the request went out may have created the call: CALL_UNCERTAIN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_base64.h"
#include "sb_http.h"
#include "sb_json.h"
#include "sb_twilio.h"
#include "scheduler.h"

struct sched_twilio {
	sb_http *http;
	char     url[512];
	char     auth[480]; /* "Authorization: Basic …" */
	char     from[32], public_url[400], amd[32];
	long     timeout_s;
};

sched_twilio *sched_twilio_new(const sched_twilio_opts *o)
{
	if (!o->account_sid || !*o->account_sid)
		return NULL;
	sched_twilio *t = calloc(1, sizeof *t);
	sb_http_opts ho = {.name = "twilio", .timeout_ms = 15000, .connect_timeout_ms = 5000, .max_response = 1 << 20};
	t->http = sb_http_new(&ho);
	snprintf(t->url, sizeof t->url, "%s/2010-04-01/Accounts/%s/Calls.json", o->api_url, o->account_sid);
	char cred[300], b64[420];
	int n = snprintf(cred, sizeof cred, "%s:%s", o->account_sid, o->auth_token ? o->auth_token : "");
	b64[sb_b64_encode(cred, (size_t)n, b64)] = '\0';
	snprintf(t->auth, sizeof t->auth, "Authorization: Basic %s", b64);
	snprintf(t->from, sizeof t->from, "%s", o->from ? o->from : "");
	snprintf(t->public_url, sizeof t->public_url, "%s", o->public_url);
	snprintf(t->amd, sizeof t->amd, "%s", o->machine_detection ? o->machine_detection : "");
	t->timeout_s = o->timeout_s;
	return t;
}

void sched_twilio_free(sched_twilio *t)
{
	if (!t)
		return;
	sb_http_free(t->http);
	free(t);
}

void sched_twilio_cancel(sched_twilio *t)
{
	if (t)
		sb_http_cancel(t->http);
}

/* Retry only what proves the call was not created. */
static sb_http_verdict classify(const sb_http_resp *r, void *arg)
{
	if (r->status == 429 || (r->status == 0 && r->fail == SB_HTTP_F_CONNECT))
		return SB_HTTP_RETRY;
	return SB_HTTP_DONE;
}

/* The form body of a Calls request (malloc'd). */
static char *call_form(sched_twilio *t, const char *to, const char *payer_id, const char *attempt_id)
{
	char url[600], cb[700], timeout[16];
	snprintf(url, sizeof url, "%s/collect-iq/voice?payerId=%s", t->public_url, payer_id);
	snprintf(cb, sizeof cb, "%s/api/twilio/status?payerId=%s&attemptId=%s", t->public_url, payer_id, attempt_id);
	snprintf(timeout, sizeof timeout, "%ld", t->timeout_s);
	sb_form f = {0};
	sb_form_add(&f, "To", to);
	sb_form_add(&f, "From", t->from);
	sb_form_add(&f, "Url", url);
	sb_form_add(&f, "Method", "POST");
	sb_form_add(&f, "StatusCallback", cb);
	sb_form_add(&f, "StatusCallbackMethod", "POST");
	static const char *const events[] = {"initiated", "ringing", "answered", "completed"};
	for (int i = 0; i < 4; i++) /* one field per value: a space-separated list only yields "initiated" */
		sb_form_add(&f, "StatusCallbackEvent", events[i]);
	sb_form_add(&f, "Timeout", timeout);
	if (t->amd[0])
		sb_form_add(&f, "MachineDetection", t->amd);
	char *body = sb_form_encode(&f);
	sb_form_free(&f);
	return body;
}

/* Map the final HTTP outcome to a call result; sid from a 2xx body. */
static sched_call_result outcome(const sb_http_resp *rs, char *sid, size_t sidlen, char *why, size_t whylen)
{
	char desc[200];
	sb_http_describe(rs, desc, sizeof desc);
	json_t *j = rs->status ? json_loads(rs->body, 0, NULL) : NULL;
	const char *msg = sb_json_str(j, "message"), *s = sb_json_str(j, "sid");
	snprintf(why, whylen, "%s%s%s", desc, msg ? ": " : "", msg ? msg : "");
	sched_call_result res;
	if (rs->status >= 200 && rs->status < 300 && s) {
		snprintf(sid, sidlen, "%s", s);
		res = CALL_PLACED;
	} else if (rs->status == 429 || (rs->status == 0 && rs->fail == SB_HTTP_F_CONNECT)) {
		res = CALL_NOT_PLACED;
	} else if (rs->status >= 400 && rs->status < 500) {
		res = CALL_REJECTED;
	} else {
		res = CALL_UNCERTAIN; /* 5xx, a 2xx without a sid, a timeout or broken transfer */
	}
	json_decref(j);
	return res;
}

sched_call_result sched_twilio_dial(sched_twilio *t, const char *to, const char *payer_id, const char *attempt_id,
				    char *sid, size_t sidlen, char *why, size_t whylen)
{
	char *body = call_form(t, to, payer_id, attempt_id);
	const char *hdrs[] = {t->auth, "Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
			      NULL};
	sb_http_req rq = {.method = "POST", .url = t->url, .headers = hdrs, .body = body, .body_len = strlen(body)};
	sb_http_retry policy = {.max_retries = 2, .base_ms = 500, .max_backoff_ms = 4000, .budget_ms = 10000};
	sb_http_resp rs = {0};
	sb_http_call(t->http, &rq, &policy, classify, NULL, &rs);
	sched_call_result res = outcome(&rs, sid, sidlen, why, whylen);
	sb_http_resp_free(&rs);
	free(body);
	return res;
}
