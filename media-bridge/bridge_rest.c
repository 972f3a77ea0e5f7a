/*
 * bridge_rest.c — Twilio REST call control, off the loop.
 *
 *   transfer: POST {api}/2010-04-01/Accounts/{AC}/Calls/{CA}.json
 *             Twiml=<Response><Dial>{number}</Dial></Response>
 *   hang up:  the same resource with Status=completed (404 = already ended)
 *
 * Basic auth with the account SID and auth token. Requests block (libcurl
 * through common/sb_http with retries), so they run on one worker thread fed
 * by a small queue; each result is posted back to the loop (MSG_REST_DONE,
 * ref "transfer"/"hangup", rc 0 on success).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "sb_base64.h"
#include "sb_http.h"
#include "sb_log.h"
#include "sb_twilio.h"

typedef struct rest_job {
	struct rest_job *next;
	uint64_t         call_id;
	char             call_sid[BR_SID];
	rest_kind        kind;
	char            *arg;
} rest_job;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	rest_job       *head, *tail;
	bool            stop, started;
	pthread_t       thread;
	sb_http        *http;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The form body for a job (malloc'd). */
static char *job_body(const rest_job *j)
{
	sb_form f = {0};
	if (j->kind == REST_HANGUP) {
		sb_form_add(&f, "Status", "completed");
	} else {
		char esc[256], twiml[512];
		if (sb_xml_escape(j->arg ? j->arg : "", esc, sizeof esc) < 0)
			esc[0] = '\0';
		snprintf(twiml, sizeof twiml, "<Response><Dial>%s</Dial></Response>", esc);
		sb_form_add(&f, "Twiml", twiml);
	}
	char *body = sb_form_encode(&f);
	sb_form_free(&f);
	return body;
}

static int run_job(const rest_job *j)
{
	char url[768], auth[600], cred[400], hdr[700];
	snprintf(url, sizeof url, "%s/2010-04-01/Accounts/%s/Calls/%s.json", g_cfg.twilio_api_url, g_cfg.twilio_sid, j->call_sid);
	int n = snprintf(cred, sizeof cred, "%s:%s", g_cfg.twilio_sid, g_cfg.twilio_token);
	if (n < 0 || (size_t)n >= sizeof cred || sb_b64_encoded_len((size_t)n) >= sizeof auth)
		return -1;
	sb_b64_encode(cred, (size_t)n, auth);
	snprintf(hdr, sizeof hdr, "Authorization: Basic %s", auth);
	const char *headers[] = {hdr, "Content-Type: application/x-www-form-urlencoded", NULL};
	char *body = job_body(j);
	sb_http_req rq = {.method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
	sb_http_retry pol = {.max_retries = 2, .base_ms = 300};
	sb_http_resp rs = {0};
	int rc = sb_http_call(R.http, &rq, &pol, sb_http_classify_default, NULL, &rs);
	char d[160];
	bool ok = rc == 0 && ((rs.status >= 200 && rs.status < 300) || (j->kind == REST_HANGUP && rs.status == 404));
	if (!ok)
		sb_warn("bridge.rest_failed", "call=%s action=%s result=\"%s\"", j->call_sid,
			j->kind == REST_HANGUP ? "hangup" : "transfer", sb_http_describe(&rs, d, sizeof d));
	sb_http_resp_free(&rs);
	free(body);
	return ok ? 0 : -1;
}

static void *worker(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&R.mu);
		while (!R.head && !R.stop)
			pthread_cond_wait(&R.cv, &R.mu);
		rest_job *j = R.head;
		if (j && !(R.head = j->next))
			R.tail = NULL;
		pthread_mutex_unlock(&R.mu);
		if (!j)
			return NULL;
		bridge_msg *m = calloc(1, sizeof *m);
		m->kind = MSG_REST_DONE;
		m->call_id = j->call_id;
		m->rc = run_job(j);
		snprintf(m->ref, sizeof m->ref, "%s", j->kind == REST_HANGUP ? "hangup" : "transfer");
		bridge_post(m);
		free(j->arg);
		free(j);
	}
}

int rest_start(void)
{
	sb_http_global_init();
	sb_http_opts o = {.name = "twilio", .timeout_ms = 10000, .connect_timeout_ms = 3000, .max_response = 65536};
	R.http = sb_http_new(&o);
	R.stop = false;
	if (pthread_create(&R.thread, NULL, worker, NULL) != 0)
		return -1;
	R.started = true;
	return 0;
}

void rest_stop(void)
{
	if (!R.started)
		return;
	pthread_mutex_lock(&R.mu);
	R.stop = true;
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
	sb_http_cancel(R.http);
	pthread_join(R.thread, NULL);
	R.started = false;
	for (rest_job *j = R.head, *next; j; j = next) {
		next = j->next;
		free(j->arg);
		free(j);
	}
	R.head = R.tail = NULL;
	sb_http_free(R.http);
	R.http = NULL;
}

void rest_update_call(uint64_t call_id, const char *call_sid, rest_kind kind, const char *arg)
{
	rest_job *j = calloc(1, sizeof *j);
	j->call_id = call_id;
	snprintf(j->call_sid, sizeof j->call_sid, "%s", call_sid);
	j->kind = kind;
	j->arg = arg ? strdup(arg) : NULL;
	pthread_mutex_lock(&R.mu);
	if (R.tail)
		R.tail->next = j;
	else
		R.head = j;
	R.tail = j;
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
}
