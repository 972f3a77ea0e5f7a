/*
 * scheduler_util.h — what the sb-scheduler integration tests share
 * (header-only: the Makefile links tests with tests/lib and libsbcommon only).
 *
 *   sched_spawn       start sb-scheduler in the test folder against a store
 *   sched_payer       create a payer
 *   twilio stub       a loopback HTTP responder standing in for Twilio's
 *                     Calls API: records every request (Authorization and
 *                     form body) and answers by the To number: ...0400 → 400,
 *                     ...0500 → 500, anything else → 201 with a fresh CA sid
 *   outbox helpers    count the .eml files of a payer, read one
 */
#ifndef SCHEDULER_UTIL_H
#define SCHEDULER_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/harness.h"
#include "sb_json.h"
#include "sb_twilio.h"

#define STUB_MAX_REQ 4096

typedef struct twilio_stub {
	int             fd, port;
	int             delay_ms; /* answer this late (a slower Twilio widens the window a crash can hit) */
	pthread_t       thread;
	pthread_mutex_t mu;
	int             n;
	char           *auth[STUB_MAX_REQ];
	char           *body[STUB_MAX_REQ];
	char           *path[STUB_MAX_REQ];
} twilio_stub;

/* Read one HTTP request (headers + Content-Length body) from c. */
static inline int stub_read(int c, char *buf, size_t cap, char **body)
{
	size_t n = 0;
	char *eoh = NULL;
	while (n + 1 < cap) {
		ssize_t r = read(c, buf + n, cap - 1 - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		if (!eoh && (eoh = strstr(buf, "\r\n\r\n"))) {
			const char *cl = strcasestr(buf, "content-length:");
			size_t want = (size_t)(eoh + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
			*body = eoh + 4;
			if (n >= want)
				return 0;
		} else if (eoh) {
			const char *cl = strcasestr(buf, "content-length:");
			if (n >= (size_t)(eoh + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0))
				return 0;
		}
	}
	return -1;
}

static inline char *header_value(const char *req, const char *name)
{
	const char *h = strcasestr(req, name);
	if (!h)
		return strdup("");
	h += strlen(name);
	return strndup(h, strcspn(h, "\r\n"));
}

static inline void stub_answer(twilio_stub *s, int c, const char *body)
{
	sb_form f = {0};
	sb_error err;
	const char *to = sb_form_parse(&f, body, strlen(body), &err) == 0 ? sb_form_get(&f, "To") : NULL;
	char resp[600], js[300];
	int status = 201;
	if (to && strstr(to, "0400"))
		status = 400;
	else if (to && strstr(to, "0500"))
		status = 500;
	if (status == 201)
		snprintf(js, sizeof js, "{\"sid\":\"CAstub%04d\",\"status\":\"queued\"}", s->n);
	else
		snprintf(js, sizeof js, "{\"code\":21211,\"message\":\"stub refuses\",\"status\":%d}", status);
	int n = snprintf(resp, sizeof resp,
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, strlen(js), js);
	if (write(c, resp, (size_t)n) < 0)
		perror("stub write");
	sb_form_free(&f);
}

static inline void *stub_main(void *arg)
{
	twilio_stub *s = arg;
	static char buf[65536];
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		char *body = NULL;
		if (stub_read(c, buf, sizeof buf, &body) == 0) {
			if (s->delay_ms)
				usleep((useconds_t)s->delay_ms * 1000);
			pthread_mutex_lock(&s->mu);
			if (s->n < STUB_MAX_REQ) {
				s->auth[s->n] = header_value(buf, "authorization: ");
				s->body[s->n] = strdup(body);
				s->path[s->n] = strndup(buf, strcspn(buf, "\r\n"));
				stub_answer(s, c, body);
				s->n++;
			}
			pthread_mutex_unlock(&s->mu);
		}
		close(c);
	}
}

static inline int stub_start(twilio_stub *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->fd, 64) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, stub_main, s);
}

static inline int stub_count(twilio_stub *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Count the Calls requests whose To is `to`. */
static inline int stub_calls_to(twilio_stub *s, const char *to)
{
	int hits = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n; i++) {
		sb_form f = {0};
		sb_error err;
		if (sb_form_parse(&f, s->body[i], strlen(s->body[i]), &err) == 0 && sb_form_get(&f, "To") &&
		    !strcmp(sb_form_get(&f, "To"), to))
			hits++;
		sb_form_free(&f);
	}
	pthread_mutex_unlock(&s->mu);
	return hits;
}

/* Start sb-scheduler in the test folder against store_url; extra flags may be NULL. Fills url. */
static inline int sched_spawn(sbt_proc *p, const char *store_url, char *url, size_t urllen, const char *const *extra)
{
	char run[300], outbox[300], tpl[600], cwd[400];
	sbt_path(run, sizeof run, "run");
	sbt_path(outbox, sizeof outbox, "outbox");
	snprintf(tpl, sizeof tpl, "%s/scheduler/templates", getcwd(cwd, sizeof cwd) ? cwd : ".");
	snprintf(url, urllen, "ipc://%s/scheduler.sock", run);
	const char *args[64] = {"--run-dir", run, "--store-url", store_url, "--outbox-dir", outbox,
				"--templates-dir", tpl, "--public-url", "https://sb.example.com",
				"--portal-url", "https://pay.example.com/portal", "--mail-from",
				"Acme Accounts <billing@acme.example>", "--secret", "test-secret"};
	int n = 16;
	for (int i = 0; extra && extra[i] && n < 63; i++) {
		if (!strcmp(extra[i], "--listen") && extra[i + 1])
			snprintf(url, urllen, "%s", extra[i + 1]); /* the later flag wins */
		args[n++] = extra[i];
	}
	args[n] = NULL;
	if (sbt_spawn(p, sbt_bin("sb-scheduler"), args) < 0)
		return -1;
	return sbt_wait_ready(url, 10000);
}

/* Create a payer (stage, days overdue, zone); email/phone may be NULL. */
static inline int sched_payer(sb_client *store, const char *id, const char *email, const char *phone, int days,
		       const char *stage, const char *tz)
{
	json_t *a = json_pack("{s:s,s:s,s:s,s:f,s:i,s:s,s:s}", "id", id, "name", "Ann O'Neil", "company", "Acme & Co",
			      "amountDue", 250.75, "daysOverdue", days, "stage", stage, "timezone", tz);
	if (email)
		json_object_set_new(a, "email", json_string(email));
	if (phone)
		json_object_set_new(a, "phone", json_string(phone));
	json_t *d = sbt_ok(store, "payers.create", a);
	int rc = d ? 0 : -1;
	json_decref(d);
	return rc;
}

/* Number of .eml files in the outbox naming payer_id (X-Switchboard-Payer). */
static inline int outbox_count(const char *payer_id, char *first, size_t firstlen)
{
	char dir[300], path[700], line[300], want[200];
	sbt_path(dir, sizeof dir, "outbox");
	snprintf(want, sizeof want, "X-Switchboard-Payer: %s\r\n", payer_id);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		if (!strstr(e->d_name, ".eml"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof line, f) && strcmp(line, "\r\n"))
			if (!strcmp(line, want)) {
				if (n++ == 0 && first)
					snprintf(first, firstlen, "%s", path);
				break;
			}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* The whole file (malloc'd). */
static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *s = calloc(1, 1 << 20);
	size_t n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

#endif
