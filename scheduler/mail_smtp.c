/*
 * mail_smtp.c — the SMTP mail transport (libcurl 7.88, services-and-
 * libraries.md A4.1).
 *
 *   smtps://host:465       implicit TLS
 *   smtp://host:587        STARTTLS required (CURLUSESSL_ALL) unless
 *                          --smtp-starttls=false; a server that does not
 *                          offer it fails the send (CURLE_USE_SSL_FAILED),
 *                          never a silent fallback to clear text. TRY is
 *                          never used.
 *
 * One easy handle per send, on the calling worker thread (blocking, with
 * connect and whole-transfer timeouts and CURLOPT_NOSIGNAL). The message is
 * fed by a read callback that copies at most size*nmemb bytes per call.
 *
 * Outcome (mail.h): libcurl keeps the latest SMTP reply code, so after a
 * failure 4xx is TEMP, 5xx PERM; a transfer that broke after 354 (the
 * message was on its way) is UNCERTAIN; no connection at all, or a failure
 * before DATA, is TEMP; TLS and login failures are PERM (configuration or
 * security: retrying would not help and must not downgrade).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"

typedef struct smtp {
	mail_transport t; /* first: the interface */
	char          *url, *user, *password, *ca_file;
	bool           starttls;
	long           timeout_ms, connect_timeout_ms;
} smtp;

typedef struct reader {
	const char *p;
	size_t      left;
} reader;

static size_t read_cb(char *out, size_t size, size_t nmemb, void *arg)
{
	reader *r = arg;
	size_t n = size * nmemb < r->left ? size * nmemb : r->left;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return n;
}

static mail_result classify(CURLcode rc, long code, mail_status *st, const char *errbuf)
{
	st->code = (int)code;
	snprintf(st->why, sizeof st->why, "smtp %ld: %.180s", code, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_OK)
		return code >= 200 && code < 300 ? MAIL_OK : MAIL_UNCERTAIN;
	if (rc == CURLE_USE_SSL_FAILED || rc == CURLE_LOGIN_DENIED || rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
		return MAIL_PERM;
	if (code >= 400 && code < 500)
		return MAIL_TEMP;
	if (code >= 500)
		return MAIL_PERM;
	return code == 354 ? MAIL_UNCERTAIN : MAIL_TEMP;
}

static void set_options(CURL *c, smtp *s, const mail_msg *m, struct curl_slist *rcpt, reader *r, char *errbuf)
{
	char from[300];
	snprintf(from, sizeof from, "<%s>", m->from);
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	if (strncmp(s->url, "smtp://", 7) == 0 && s->starttls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (s->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	if (s->user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, s->password ? s->password : "");
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from); /* copied by libcurl */
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, r);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
}

static mail_result smtp_send(mail_transport *t, const mail_msg *m, mail_status *st)
{
	smtp *s = (smtp *)t;
	char to[300], errbuf[CURL_ERROR_SIZE] = "";
	snprintf(to, sizeof to, "<%s>", m->to);
	CURL *c = curl_easy_init();
	struct curl_slist *rcpt = curl_slist_append(NULL, to);
	reader r = {m->data, m->len};
	if (!c || !rcpt) {
		curl_slist_free_all(rcpt);
		curl_easy_cleanup(c);
		snprintf(st->why, sizeof st->why, "out of memory");
		return MAIL_TEMP;
	}
	set_options(c, s, m, rcpt, &r, errbuf);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	return classify(rc, code, st, errbuf);
}

static void smtp_free(mail_transport *t)
{
	smtp *s = (smtp *)t;
	free(s->url);
	free(s->user);
	free(s->password);
	free(s->ca_file);
	free(s);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

mail_transport *mail_smtp_new(const mail_smtp_opts *o, sb_error *err)
{
	if (!o->url || (strncmp(o->url, "smtp://", 7) != 0 && strncmp(o->url, "smtps://", 8) != 0)) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "--smtp-url must start with smtp:// or smtps://");
		return NULL;
	}
	smtp *s = calloc(1, sizeof *s);
	s->url = strdup(o->url);
	s->user = dup_or_null(o->user);
	s->password = dup_or_null(o->password);
	s->ca_file = dup_or_null(o->ca_file);
	s->starttls = o->starttls;
	s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	s->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
	s->t = (mail_transport){.name = "smtp", .send = smtp_send, .delivered = NULL, .free = smtp_free};
	return &s->t;
}
