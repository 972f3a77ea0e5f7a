/*
 * callsim_hook.c — sb-callsim's webhook worker: Twilio's side of a voice
 * webhook and of status callbacks.
 *
 *   voice:  POST url, form (AccountSid ApiVersion CallSid CallStatus Called
 *           Caller Direction From To), X-Twilio-Signature over url + the
 *           sorted params (common/sb_twilio) with --twilio-auth-token; the
 *           TwiML answer is parsed (callsim_twiml.c) and handed to the loop
 *           as CS_OPEN, which opens the stream it names.
 *   status: POST the status callback (standard params + CallStatus,
 *           CallbackSource, SequenceNumber, Timestamp, CallDuration when
 *           completed), signed the same way; the answer is ignored.
 *
 * One thread, a FIFO of jobs, blocking libcurl (common/sb_http, no retries:
 * Twilio retries a webhook only on connect failure, once).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callsim.h"
#include "sb_http.h"
#include "sb_log.h"
#include "sb_twilio.h"

typedef struct job {
	struct job *next;
	bool        voice;
	int         idx, seq;
	long        duration_s;
	char        sid[CS_SID], url[CS_URL], from[64], to[64], what[32];
} job;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	job            *head, *tail;
	bool            stop, started;
	pthread_t       thread;
	sb_http        *http;
	struct { char sid[CS_SID]; int seq; } seqs[256]; /* status callback sequence numbers */
	int             nseqs;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The standard webhook parameters of a call. */
static void std_params(sb_form *f, const job *j)
{
	sb_form_add(f, "AccountSid", cs.account_sid);
	sb_form_add(f, "ApiVersion", "2010-04-01");
	sb_form_add(f, "CallSid", j->sid);
	sb_form_add(f, "From", j->from);
	sb_form_add(f, "Caller", j->from);
	sb_form_add(f, "To", j->to);
	sb_form_add(f, "Called", j->to);
}

/* POST the signed form to j->url; 0 with *rs filled when an answer came. */
static int post_signed(const job *j, const sb_form *f, sb_http_resp *rs)
{
	char sig[SB_TWILIO_SIG_LEN + 1], hdr[64];
	sb_twilio_signature(cs.auth_token ? cs.auth_token : "", j->url, f, sig);
	snprintf(hdr, sizeof hdr, "X-Twilio-Signature: %s", sig);
	const char *headers[] = {hdr, "Content-Type: application/x-www-form-urlencoded", "User-Agent: TwilioProxy/1.1", NULL};
	char *body = sb_form_encode(f);
	sb_http_req rq = {.method = "POST", .url = j->url, .headers = headers, .body = body, .body_len = strlen(body)};
	int rc = sb_http_do(H.http, &rq, rs);
	free(body);
	return rc;
}

static void run_voice(const job *j)
{
	sb_form f = {0};
	std_params(&f, j);
	bool in = strcmp(j->what, "inbound") == 0;
	sb_form_add(&f, "CallStatus", in ? "ringing" : "in-progress");
	sb_form_add(&f, "Direction", j->what);
	sb_http_resp rs = {0};
	cs_msg *m = calloc(1, sizeof *m);
	m->kind = CS_OPEN;
	m->idx = j->idx;
	snprintf(m->call_sid, sizeof m->call_sid, "%s", j->sid);
	if (post_signed(j, &f, &rs) == 0) {
		m->status = rs.status;
		m->twiml = strdup(rs.body);
		if (rs.status == 200 && twiml_stream(rs.body, m->url, sizeof m->url, &m->params) != 1)
			m->url[0] = '\0';
	}
	sb_info("callsim.webhook", "call=%s url=%s status=%d stream=%s", j->sid, j->url, m->status, m->url[0] ? m->url : "-");
	sb_http_resp_free(&rs);
	sb_form_free(&f);
	cs_post(m);
}

static void run_status(const job *j)
{
	sb_form f = {0};
	char seq[16], ts[64], dur[24];
	time_t now = time(NULL);
	struct tm tm;
	strftime(ts, sizeof ts, "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&now, &tm));
	snprintf(seq, sizeof seq, "%d", j->seq);
	std_params(&f, j);
	sb_form_add(&f, "CallStatus", j->what);
	sb_form_add(&f, "Direction", "outbound-api");
	sb_form_add(&f, "CallbackSource", "call-progress-events");
	sb_form_add(&f, "SequenceNumber", seq);
	sb_form_add(&f, "Timestamp", ts);
	if (j->duration_s >= 0) {
		snprintf(dur, sizeof dur, "%ld", j->duration_s);
		sb_form_add(&f, "CallDuration", dur);
	}
	sb_http_resp rs = {0};
	int rc = post_signed(j, &f, &rs);
	sb_info("callsim.status_callback", "call=%s status=%s http=%d", j->sid, j->what, rc == 0 ? rs.status : 0);
	sb_http_resp_free(&rs);
	sb_form_free(&f);
}

static void *worker(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&H.mu);
		while (!H.head && !H.stop)
			pthread_cond_wait(&H.cv, &H.mu);
		job *j = H.stop ? NULL : H.head;
		if (j && !(H.head = j->next))
			H.tail = NULL;
		pthread_mutex_unlock(&H.mu);
		if (!j)
			return NULL;
		if (j->voice)
			run_voice(j);
		else
			run_status(j);
		free(j);
	}
}

static void enqueue(job *j)
{
	pthread_mutex_lock(&H.mu);
	if (H.stop || !H.started) {
		pthread_mutex_unlock(&H.mu);
		free(j);
		return;
	}
	if (H.tail)
		H.tail->next = j;
	else
		H.head = j;
	H.tail = j;
	pthread_cond_signal(&H.cv);
	pthread_mutex_unlock(&H.mu);
}

int hook_start(void)
{
	sb_http_global_init();
	sb_http_opts o = {.name = "webhook", .timeout_ms = 15000, .connect_timeout_ms = 5000, .max_response = 65536};
	H.http = sb_http_new(&o);
	if (pthread_create(&H.thread, NULL, worker, NULL) != 0)
		return -1;
	H.started = true;
	return 0;
}

void hook_stop(void)
{
	if (!H.started)
		return;
	pthread_mutex_lock(&H.mu);
	H.stop = true;
	pthread_cond_signal(&H.cv);
	pthread_mutex_unlock(&H.mu);
	sb_http_cancel(H.http);
	pthread_join(H.thread, NULL);
	for (job *j = H.head, *n; j; j = n) {
		n = j->next;
		free(j);
	}
	H.head = H.tail = NULL;
	sb_http_free(H.http);
	H.started = false;
}

void hook_voice(int idx, const char *sid, const char *url, const char *from, const char *to, const char *direction)
{
	job *j = calloc(1, sizeof *j);
	j->voice = true;
	j->idx = idx;
	snprintf(j->sid, sizeof j->sid, "%s", sid);
	snprintf(j->url, sizeof j->url, "%s", url);
	snprintf(j->from, sizeof j->from, "%s", from ? from : "");
	snprintf(j->to, sizeof j->to, "%s", to ? to : "");
	snprintf(j->what, sizeof j->what, "%s", direction);
	enqueue(j);
}

/* The next SequenceNumber for sid's callbacks (under H.mu). */
static int next_seq(const char *sid)
{
	for (int i = 0; i < H.nseqs; i++)
		if (strcmp(H.seqs[i].sid, sid) == 0)
			return ++H.seqs[i].seq;
	int i = H.nseqs < 256 ? H.nseqs++ : 255;
	snprintf(H.seqs[i].sid, sizeof H.seqs[i].sid, "%s", sid);
	return H.seqs[i].seq = 0;
}

void hook_status(const char *sid, const char *url, const char *from, const char *to, const char *status, long duration_s)
{
	job *j = calloc(1, sizeof *j);
	snprintf(j->sid, sizeof j->sid, "%s", sid);
	snprintf(j->url, sizeof j->url, "%s", url);
	snprintf(j->what, sizeof j->what, "%s", status);
	snprintf(j->from, sizeof j->from, "%s", from);
	snprintf(j->to, sizeof j->to, "%s", to);
	j->duration_s = duration_s;
	pthread_mutex_lock(&H.mu);
	j->seq = next_seq(sid);
	pthread_mutex_unlock(&H.mu);
	enqueue(j);
}
