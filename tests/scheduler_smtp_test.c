/*
 * scheduler_smtp_test.c — sb-scheduler's SMTP transport against a real MTA
 * on loopback: Debian's OpenSMTPD (tools/deps.sh installs it), started by
 * this test as root with a generated config and
 * delivery into a Maildir in the test folder. Why OpenSMTPD: one small
 * daemon, one config file, runs in the foreground (-d) without systemd, and
 * delivers to a Maildir with a virtual user table, so no local accounts.
 *
 *   - server down: the email is RETRY_PENDING (connection refused is a
 *     definite, retryable failure); once the server is up the retry is
 *     delivered, tries=2;
 *   - STAGE_1 and STAGE_2 arrive in the Maildir with Date, From, To,
 *     Subject, Message-ID, multipart/alternative, the disclosure, the
 *     portal and unsubscribe links;
 *   - the same server with STARTTLS required (the default): it does not
 *     offer STARTTLS, so the email is FAILED and nothing was delivered —
 *     never a silent clear-text fallback.
 *
 * The delivering scheduler runs with --no-smtp-starttls: OpenSMTPD 6.8.0p2
 * as packaged in bookworm fails every TLS handshake with OpenSSL 3 ("EVP
 * lib" in its privilege-separated key engine, RSA and ECDSA alike); the
 * STARTTLS delivery is tested by scheduler_starttls_test.c (an aiosmtpd
 * server) — see docs/OUTREACH.md.
 *
 * Skipped when smtpd is not installed or the test does not run as root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "sb_time.h"
#include "scheduler_util.h"

#define SMTPD "/usr/sbin/smtpd"

static sbt_proc   store, sched, sched_tls, mta;
static sb_client *st, *sc, *sc_tls;
static char       store_url[400];
static int        mta_port;
static bool       available;

/* Certificate, virtual user table, Maildir (owned by nobody) and smtpd.conf in the test folder. */
static int write_mta_config(void)
{
	char cmd[1000], conf[400];
	const char *d = sbt_dir();
	chmod(d, 0711); /* the delivery agent runs as nobody */
	snprintf(cmd, sizeof cmd, "cd %s && echo '@ nobody' > vusers && mkdir -p Maildir && chown nobody Maildir", d);
	if (system(cmd) != 0)
		return -1;
	sbt_path(conf, sizeof conf, "smtpd.conf");
	FILE *f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f, "table vusers file:%s/vusers\n", d);
	fprintf(f, "listen on 127.0.0.1 port %d hostname sbtest.local\n", mta_port);
	fprintf(f, "action \"mdir\" maildir \"%s/Maildir\" virtual <vusers>\n", d);
	fprintf(f, "match from any for any action \"mdir\"\n");
	fclose(f);
	return 0;
}

static int start_mta(void)
{
	char conf[400];
	sbt_path(conf, sizeof conf, "smtpd.conf");
	const char *args[] = {"-d", "-f", conf, NULL};
	if (sbt_spawn(&mta, SMTPD, args) < 0)
		return -1;
	for (int i = 0; i < 200 && sbt_alive(&mta); i++) {
		if (sbt_port_open(mta_port))
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

/* A scheduler on its own sockets sending through url, requiring STARTTLS or not. */
static int spawn_sched(sbt_proc *p, sb_client **c, const char *name, const char *url, bool starttls)
{
	char listen[400], events[400], surl[400];
	snprintf(listen, sizeof listen, "ipc://%s/%s.sock", sbt_dir(), name);
	snprintf(events, sizeof events, "ipc://%s/%s-events.sock", sbt_dir(), name);
	const char *extra[] = {"--listen", listen, "--events", events, "--interval", "0", "--test-clock",
			       "--smtp-url", url, "--retry-base", "0", "--smtp-timeout", "10", "--cooldown-hours", "0",
			       starttls ? "--smtp-starttls" : "--no-smtp-starttls", NULL};
	if (sched_spawn(p, store_url, surl, sizeof surl, extra) < 0)
		return -1;
	sb_client_opts o = {.timeout_ms = 30000, .resend_ms = 60000};
	sb_error err;
	*c = sb_client_open(listen, &o, &err);
	return *c ? 0 : -1;
}

static int setup(void **state)
{
	available = geteuid() == 0 && access(SMTPD, X_OK) == 0;
	if (!available)
		return 0;
	char url[100];
	mta_port = sbt_free_port();
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d/sb.test", mta_port);
	if (write_mta_config() < 0 || sbt_start_store(&store, store_url, sizeof store_url, NULL) < 0)
		return -1;
	sb_error err;
	st = sb_client_open(store_url, NULL, &err);
	if (spawn_sched(&sched, &sc, "sched", url, false) < 0 || spawn_sched(&sched_tls, &sc_tls, "tls", url, true) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	if (!st) /* never set up */
		return 0;
	sb_client_close(sc);
	sb_client_close(sc_tls);
	sb_client_close(st);
	sbt_stop(&sched, SIGTERM, 20000);
	sbt_stop(&sched_tls, SIGTERM, 20000);
	if (mta.pid)
		sbt_stop(&mta, SIGTERM, 10000);
	sbt_stop(&store, SIGTERM, 10000);
	return 0;
}

static json_t *trigger(sb_client *c, const char *payer)
{
	json_t *d = sbt_ok(c, "outreach.trigger", json_pack("{s:s,s:s}", "payerId", payer, "now", "2026-03-02T12:00:00-05:00"));
	assert_non_null(d);
	return d;
}

static void expect_result(json_t *d, const char *want)
{
	const char *r = sb_json_str(d, "result");
	if (!r || strcmp(r, want))
		fail_msg("want %s, got %s", want, sb_json_dump(d, NULL));
	json_decref(d);
}

static void strip_cr(char *s)
{
	char *w = s;
	for (const char *r = s; r && *r; r++)
		if (*r != '\r')
			*w++ = *r;
	if (s)
		*w = '\0';
}

/* The Maildir message of payer (malloc'd), waiting up to 10 s for delivery; NULL if none. */
static char *maildir_message(const char *payer, int wait_ms)
{
	char dir[400], path[800], want[200];
	sbt_path(dir, sizeof dir, "Maildir/new");
	snprintf(want, sizeof want, "X-Switchboard-Payer: %s\n", payer);
	for (int64_t until = sb_mono_ms() + wait_ms;; usleep(50 * 1000)) {
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			char *m = slurp(path);
			strip_cr(m); /* the MDA may store LF or CRLF line ends */
			if (m && strstr(m, want)) {
				closedir(d);
				return m;
			}
			free(m);
		}
		if (d)
			closedir(d);
		if (sb_mono_ms() > until)
			return NULL;
	}
}

static void test_server_down_then_retried(void **state)
{
	if (!available)
		skip();
	assert_int_equal(sched_payer(st, "payer_s0", "zed@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	expect_result(trigger(sc, "payer_s0"), "retry_pending");
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_s0"));
	assert_string_equal(sb_json_str(p, "lastOutreachStatus"), "RETRY_PENDING");
	json_decref(p);
	if (start_mta() < 0) { /* e.g. a system-wide smtpd holds /var/run/smtpd.sock */
		fprintf(stderr, "smtpd would not start (see %s): skipping the SMTP tests\n", mta.log);
		available = false;
		skip();
	}
	expect_result(trigger(sc, "payer_s0"), "sent");
	p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", "payer_s0"));
	json_t *a = json_array_get(json_object_get(p, "attempts"), 0);
	assert_int_equal(json_array_size(json_object_get(p, "attempts")), 1);
	assert_non_null(strstr(sb_json_str(a, "detail"), "\"tries\":2"));
	json_decref(p);
	char *m = maildir_message("payer_s0", 10000);
	assert_non_null(m);
	free(m);
}

static void check_message(const char *m, const char *subject)
{
	assert_non_null(strstr(m, "\nDate: Mon, 02 Mar 2026 17:00:00 +0000\n"));
	assert_non_null(strstr(m, "\nFrom: Acme Accounts <billing@acme.example>\n"));
	assert_non_null(strstr(m, subject));
	assert_non_null(strstr(m, "\nMessage-ID: <att_"));
	assert_non_null(strstr(m, "multipart/alternative"));
	assert_non_null(strstr(m, "text/plain; charset=UTF-8"));
	assert_non_null(strstr(m, "text/html; charset=UTF-8"));
	assert_non_null(strstr(m, "from a debt collector"));
	assert_non_null(strstr(m, "https://pay.example.com/portal?payer=3D"));
	assert_non_null(strstr(m, "List-Unsubscribe: <https://sb.example.com/unsubscribe?payerId="));
}

static void test_stage1_and_stage2_delivered(void **state)
{
	if (!available)
		skip();
	assert_int_equal(sched_payer(st, "payer_s1", "amy@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	assert_int_equal(sched_payer(st, "payer_s2", "ben@example.net", NULL, 40, "STAGE_1", "America/New_York"), 0);
	expect_result(trigger(sc, "payer_s1"), "sent");
	expect_result(trigger(sc, "payer_s2"), "sent");
	char *m1 = maildir_message("payer_s1", 10000), *m2 = maildir_message("payer_s2", 10000);
	assert_non_null(m1);
	assert_non_null(m2);
	check_message(m1, "\nSubject: A friendly reminder about your account\n");
	check_message(m2, "\nSubject: Urgent: your account is past due\n");
	assert_non_null(strstr(m1, "\nTo: amy@example.net\n"));
	free(m1);
	free(m2);
}

static void test_starttls_required_never_cleartext(void **state)
{
	if (!available)
		skip();
	assert_int_equal(sched_payer(st, "payer_s3", "cat@example.net", NULL, 5, "STAGE_1", "America/New_York"), 0);
	json_t *d = trigger(sc_tls, "payer_s3");
	const char *reason = sb_json_str(d, "reason");
	assert_non_null(reason);
	assert_non_null(strstr(reason, "STARTTLS"));
	expect_result(d, "failed");
	char *m = maildir_message("payer_s3", 500);
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_down_then_retried),
		cmocka_unit_test(test_stage1_and_stage2_delivered),
		cmocka_unit_test(test_starttls_required_never_cleartext),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
