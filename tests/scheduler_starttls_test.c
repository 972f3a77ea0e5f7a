/*
 * scheduler_starttls_test.c — sb-scheduler's SMTP transport with STARTTLS
 * required (the default for smtp://) against a real SMTP server on
 * loopback: tests/lib/smtp_tls_server.py, on Debian's python3-aiosmtpd,
 * with a self-signed certificate made here by `openssl req` (EC P-256,
 * subjectAltName IP:127.0.0.1). The server logs every SMTP event as a JSON
 * line (connection, event, whether the connection was encrypted then) and
 * spools each message it accepts.
 *
 *   - delivered: the scheduler trusts the test certificate (--smtp-ca-file)
 *     and sends the STAGE_1 email; on the server, the connection's events
 *     are EHLO, STARTTLS, EHLO again, then MAIL FROM, RCPT TO and DATA, all
 *     encrypted (no MAIL FROM ever in clear text); the message has Date,
 *     From, To, Subject, Message-ID <attempt@acme.example>, MIME-Version,
 *     List-Unsubscribe(-Post), multipart/alternative with a text and an HTML
 *     part, the debt-collector disclosure, the portal and unsubscribe links;
 *     the attempt is SENT with that Message-ID;
 *   - untrusted certificate: a scheduler without the CA file fails the
 *     handshake (certificate verification is on) and records FAILED; the
 *     server never sees MAIL FROM for it;
 *   - no STARTTLS offered: the same server without a certificate does not
 *     offer STARTTLS; the scheduler refuses to go on in clear text: FAILED
 *     ("STARTTLS" in the reason, recorded on the payer), the server saw
 *     EHLO and nothing after it, and the attempt is not retried.
 *
 * Skipped (with the reason) when /usr/bin/python3 cannot import aiosmtpd
 * or openssl is missing (tools/deps.sh installs python3-aiosmtpd).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sb_time.h"
#include "scheduler_util.h"

#define PYTHON "/usr/bin/python3"
#define NOW    "2026-03-02T12:00:00-05:00" /* noon in New York: inside the contact window */

typedef struct smtp_server {
	sbt_proc proc;
	int      port;
	char     log[400], spool[400];
} smtp_server;

static sbt_proc    store, sched_tls, sched_noca, sched_plain;
static sb_client  *st, *sc_tls, *sc_noca, *sc_plain;
static smtp_server tls_srv, plain_srv;
static char        store_url[400], cert[400];
static bool        available;

/* Can we run the server at all? Says why not on stderr. */
static bool server_available(void)
{
	if (system(PYTHON " -I -c 'import aiosmtpd.smtp' 2>/dev/null") != 0) {
		fprintf(stderr, "skipping: %s cannot import aiosmtpd (Debian package python3-aiosmtpd)\n", PYTHON);
		return false;
	}
	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skipping: no openssl command\n");
		return false;
	}
	return true;
}

/* A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in the test folder). */
static int make_certificate(void)
{
	char cmd[1200], key[400];
	sbt_path(cert, sizeof cert, "cert.pem");
	sbt_path(key, sizeof key, "key.pem");
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
		 " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s' >'%s/openssl.log' 2>&1",
		 key, cert, sbt_dir());
	return system(cmd) == 0 ? 0 : -1;
}

/* Start the server as name; with the certificate it offers (and requires) STARTTLS. */
static int start_server(smtp_server *s, const char *name, bool tls)
{
	char script[600], cwd[400], port[16], file[100], key[400];
	snprintf(script, sizeof script, "%s/tests/lib/smtp_tls_server.py", getcwd(cwd, sizeof cwd) ? cwd : ".");
	s->port = sbt_free_port();
	snprintf(port, sizeof port, "%d", s->port);
	snprintf(file, sizeof file, "%s-events.jsonl", name);
	sbt_path(s->log, sizeof s->log, file);
	snprintf(file, sizeof file, "%s-spool", name);
	sbt_path(s->spool, sizeof s->spool, file);
	sbt_path(key, sizeof key, "key.pem");
	const char *args[] = {"-I", script, "--port", port, "--log", s->log, "--spool", s->spool,
			      tls ? "--cert" : NULL, cert, "--key", key, NULL};
	if (sbt_spawn_as(&s->proc, name, PYTHON, args) < 0)
		return -1;
	for (int64_t until = sb_mono_ms() + 15000; sb_mono_ms() < until && sbt_alive(&s->proc); usleep(20 * 1000))
		if (sbt_port_open(s->port))
			return 0;
	fprintf(stderr, "%s did not start: see %s\n", name, s->proc.log);
	return -1;
}

/* A scheduler on its own sockets sending through server s, STARTTLS required; ca may be NULL. */
static int spawn_sched(sbt_proc *p, sb_client **c, const char *name, const smtp_server *s, const char *ca)
{
	char listen[400], events[400], surl[400], url[100];
	snprintf(listen, sizeof listen, "ipc://%s/%s.sock", sbt_dir(), name);
	snprintf(events, sizeof events, "ipc://%s/%s-events.sock", sbt_dir(), name);
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d/sb.test", s->port);
	const char *extra[] = {"--listen", listen, "--events", events, "--interval", "0", "--test-clock",
			       "--smtp-url", url, "--smtp-timeout", "10", ca ? "--smtp-ca-file" : NULL, ca, NULL};
	if (sched_spawn(p, store_url, surl, sizeof surl, extra) < 0)
		return -1;
	sb_client_opts o = {.timeout_ms = 30000, .resend_ms = 60000};
	sb_error err;
	*c = sb_client_open(listen, &o, &err);
	return *c ? 0 : -1;
}

static int setup(void **state)
{
	available = server_available();
	if (!available)
		return 0;
	if (make_certificate() < 0) {
		fprintf(stderr, "openssl req failed: see %s/openssl.log\n", sbt_dir());
		return -1;
	}
	if (start_server(&tls_srv, "smtp-tls", true) < 0 || start_server(&plain_srv, "smtp-plain", false) < 0 ||
	    sbt_start_store(&store, store_url, sizeof store_url, NULL) < 0)
		return -1;
	sb_error err;
	st = sb_client_open(store_url, NULL, &err);
	if (!st || spawn_sched(&sched_tls, &sc_tls, "sched-tls", &tls_srv, cert) < 0 ||
	    spawn_sched(&sched_noca, &sc_noca, "sched-noca", &tls_srv, NULL) < 0 ||
	    spawn_sched(&sched_plain, &sc_plain, "sched-plain", &plain_srv, NULL) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	if (!available)
		return 0;
	sb_client_close(sc_tls);
	sb_client_close(sc_noca);
	sb_client_close(sc_plain);
	sb_client_close(st);
	int rc = 0;
	sbt_proc *scheds[] = {&sched_tls, &sched_noca, &sched_plain};
	for (int i = 0; i < 3; i++)
		if (scheds[i]->pid && sbt_stop(scheds[i], SIGTERM, 20000) != 0)
			rc = -1;
	smtp_server *servers[] = {&tls_srv, &plain_srv};
	for (int i = 0; i < 2; i++)
		if (servers[i]->proc.pid && sbt_stop(&servers[i]->proc, SIGTERM, 10000) != 0)
			rc = -1;
	if (store.pid)
		sbt_stop(&store, SIGTERM, 10000);
	return rc;
}

/* ---- helpers ------------------------------------------------------------------------------------------ */

static json_t *trigger(sb_client *c, const char *payer)
{
	json_t *d = sbt_ok(c, "outreach.trigger", json_pack("{s:s,s:s}", "payerId", payer, "now", NOW));
	assert_non_null(d);
	return d;
}

static void expect_result(json_t *d, const char *want)
{
	const char *r = sb_json_str(d, "result");
	if (!r || strcmp(r, want)) {
		char *js = sb_json_dump(d, NULL);
		fail_msg("want %s, got %s", want, js);
	}
}

/* The server's events (an array, owned), in the order it logged them. */
static json_t *events(const smtp_server *s)
{
	json_t *a = json_array();
	FILE *f = fopen(s->log, "r");
	char line[8192];
	while (f && fgets(line, sizeof line, f)) {
		json_t *e = json_loads(line, 0, NULL);
		if (e)
			json_array_append_new(a, e);
	}
	if (f)
		fclose(f);
	return a;
}

/* The connection number of the event `event` with address `addr` (RCPT TO), or 0. */
static int conn_of_rcpt(const json_t *evs, const char *addr)
{
	size_t i;
	json_t *e;
	json_array_foreach(evs, i, e)
		if (!strcmp(sb_json_str(e, "event"), "rcpt") && !strcmp(sb_json_str(e, "address"), addr))
			return (int)sb_json_int(e, "conn", 0);
	return 0;
}

/* The events of connection conn, as "name" or "name+tls", joined by spaces, into out. */
static const char *conn_story(const json_t *evs, int conn, char *out, size_t cap)
{
	size_t i, n = 0;
	json_t *e;
	out[0] = '\0';
	json_array_foreach(evs, i, e) {
		if (sb_json_int(e, "conn", 0) != conn)
			continue;
		int w = snprintf(out + n, cap - n, "%s%s%s", n ? " " : "", sb_json_str(e, "event"),
				 json_is_true(json_object_get(e, "tls")) ? "+tls" : "");
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	return out;
}

/* How many events named `event` the server logged. */
static int count_events(const json_t *evs, const char *event)
{
	size_t i;
	json_t *e;
	int n = 0;
	json_array_foreach(evs, i, e)
		n += !strcmp(sb_json_str(e, "event"), event);
	return n;
}

static void strip_cr(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
}

/* The payer's first attempt: status and detail (owned), and lastOutreachStatus into last. */
static json_t *first_attempt(const char *payer, char *status, size_t slen, char *last, size_t llen)
{
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", payer));
	assert_non_null(p);
	assert_int_equal(json_array_size(json_object_get(p, "attempts")), 1);
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	snprintf(status, slen, "%s", sb_json_str(a, "status"));
	snprintf(last, llen, "%s", sb_json_str(p, "lastOutreachStatus") ? sb_json_str(p, "lastOutreachStatus") : "");
	json_t *d = json_loads(sb_json_str(a, "detail") ? sb_json_str(a, "detail") : "{}", 0, NULL);
	json_decref(p);
	return d;
}

/* ---- cases -------------------------------------------------------------------------------------------- */

static void test_starttls_delivery(void **state)
{
	if (!available)
		skip();
	char story[600], status[64], last[64], want[300];
	assert_int_equal(sched_payer(st, "payer_t1", "amy@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	json_t *d = trigger(sc_tls, "payer_t1");
	expect_result(d, "sent");
	json_decref(d);
	/* on the wire: STARTTLS first, then the envelope and the message, all encrypted */
	json_t *evs = events(&tls_srv);
	int conn = conn_of_rcpt(evs, "amy@example.net");
	assert_true(conn > 0);
	assert_string_equal(conn_story(evs, conn, story, sizeof story),
			    "ehlo starttls+tls ehlo+tls mail+tls rcpt+tls data+tls");
	size_t i;
	json_t *e, *data = NULL;
	json_array_foreach(evs, i, e) {
		if (!strcmp(sb_json_str(e, "event"), "mail")) {
			assert_true(json_is_true(json_object_get(e, "tls"))); /* never a MAIL FROM in clear text */
			assert_string_equal(sb_json_str(e, "address"), "billing@acme.example");
		}
		if (sb_json_int(e, "conn", 0) == conn && !strcmp(sb_json_str(e, "event"), "data"))
			data = e;
	}
	assert_non_null(data);
	char *file = slurp(sb_json_str(data, "file")), *m = calloc(1, (file ? strlen(file) : 0) + 2);
	json_decref(evs);
	assert_non_null(file);
	assert_non_null(strstr(file, "\r\n\r\n")); /* CRLF on the wire */
	snprintf(m, strlen(file) + 2, "\n%s", file); /* every header line starts after a '\n' */
	free(file);
	strip_cr(m);
	/* the message: headers, multipart, disclosure, links */
	json_t *detail = first_attempt("payer_t1", status, sizeof status, last, sizeof last);
	assert_string_equal(status, "SENT");
	assert_string_equal(last, "SENT");
	snprintf(want, sizeof want, "\nMessage-ID: <%s>\n", sb_json_str(detail, "messageId"));
	assert_non_null(strstr(m, want));
	assert_non_null(strstr(sb_json_str(detail, "messageId"), "@acme.example"));
	json_decref(detail);
	assert_non_null(strstr(m, "\nDate: Mon, 02 Mar 2026 17:00:00 +0000\n"));
	assert_non_null(strstr(m, "\nFrom: Acme Accounts <billing@acme.example>\n"));
	assert_non_null(strstr(m, "\nTo: amy@example.net\n"));
	assert_non_null(strstr(m, "\nSubject: A friendly reminder about your account\n"));
	assert_non_null(strstr(m, "\nMIME-Version: 1.0\n"));
	assert_non_null(strstr(m, "\nList-Unsubscribe: <https://sb.example.com/unsubscribe?payerId=payer_t1"));
	assert_non_null(strstr(m, "\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\n"));
	assert_non_null(strstr(m, "\nX-Switchboard-Payer: payer_t1\n"));
	assert_non_null(strstr(m, "Content-Type: multipart/alternative; boundary="));
	assert_non_null(strstr(m, "Content-Type: text/plain; charset=UTF-8"));
	assert_non_null(strstr(m, "Content-Type: text/html; charset=UTF-8"));
	assert_non_null(strstr(m, "This communication is from a debt collector."));
	assert_non_null(strstr(m, "https://pay.example.com/portal?payer=3Dpayer_t1")); /* quoted-printable '=' */
	assert_non_null(strstr(m, "Acme &amp; Co"));
	free(m);
}

static void test_untrusted_certificate_refused(void **state)
{
	if (!available)
		skip();
	char status[64], last[64];
	assert_int_equal(sched_payer(st, "payer_t2", "bob@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	int mails = 0;
	json_t *evs = events(&tls_srv);
	mails = count_events(evs, "mail");
	json_decref(evs);
	json_t *d = trigger(sc_noca, "payer_t2");
	expect_result(d, "failed"); /* a TLS failure is permanent: retrying would not help */
	json_decref(d);
	evs = events(&tls_srv);
	assert_int_equal(count_events(evs, "mail"), mails);
	assert_int_equal(conn_of_rcpt(evs, "bob@example.net"), 0);
	json_decref(evs);
	json_t *detail = first_attempt("payer_t2", status, sizeof status, last, sizeof last);
	assert_string_equal(status, "FAILED");
	assert_string_equal(last, "FAILED");
	assert_non_null(strstr(sb_json_str(detail, "error"), "certificate"));
	json_decref(detail);
}

static void test_no_starttls_no_cleartext(void **state)
{
	if (!available)
		skip();
	char status[64], last[64];
	assert_int_equal(sched_payer(st, "payer_t3", "cat@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	json_t *d = trigger(sc_plain, "payer_t3");
	const char *reason = sb_json_str(d, "reason");
	assert_non_null(reason);
	assert_non_null(strstr(reason, "STARTTLS"));
	expect_result(d, "failed");
	json_decref(d);
	json_t *evs = events(&plain_srv);
	assert_true(count_events(evs, "ehlo") >= 1); /* it did talk to the server ... */
	json_t *offers = json_object_get(json_array_get(evs, 0), "offers");
	char *o = sb_json_dump(offers, NULL);
	assert_null(strstr(o, "STARTTLS")); /* ... which did not offer STARTTLS ... */
	free(o);
	assert_int_equal(count_events(evs, "mail"), 0); /* ... and never went on in clear text */
	assert_int_equal(count_events(evs, "data"), 0);
	json_decref(evs);
	json_t *detail = first_attempt("payer_t3", status, sizeof status, last, sizeof last);
	assert_string_equal(status, "FAILED");
	assert_string_equal(last, "FAILED");
	assert_non_null(strstr(sb_json_str(detail, "error"), "STARTTLS"));
	json_decref(detail);
	/* FAILED is final: a later evaluation does not try again (the cool-down, then the stage's next attempt) */
	d = trigger(sc_plain, "payer_t3");
	expect_result(d, "none");
	json_decref(d);
	evs = events(&plain_srv);
	assert_int_equal(count_events(evs, "mail"), 0);
	json_decref(evs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starttls_delivery),
		cmocka_unit_test(test_untrusted_certificate_refused),
		cmocka_unit_test(test_no_starttls_no_cleartext),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
