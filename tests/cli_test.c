/*
 * cli_test.c — the operator's view of sb-store: --help, --version,
 * --check-config, bad flags, and Debian's nngcat as a plain REQ client
 * (the acceptance example of the Foundation issue).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "harness.h"

/* Run a shell command; return its exit status and stdout (static buffer). */
static int run(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_help_lists_every_flag(void **state)
{
	static char out[16384];
	char cmd[600];
	snprintf(cmd, sizeof cmd, "%s --help", sbt_bin("sb-store"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	static const char *const want[][3] = {
		{"--listen", "SB_STORE_LISTEN", "ipc://{run}/store.sock"},
		{"--events", "SB_STORE_EVENTS", "ipc://{run}/store-events.sock"},
		{"--db", "SB_DB", "./var/switchboard.db"},
		{"--readers", "SB_STORE_READERS", "default 4"},
		{"--batch-max", "SB_STORE_BATCH_MAX", "default 512"},
		{"--max-request", "SB_STORE_MAX_REQUEST", "default 1048576"},
		{"--run-dir", "SB_RUN_DIR", "./var/run"},
		{"--log-format", "SB_LOG_FORMAT", "default text"},
		{"--log-level", "SB_LOG_LEVEL", "default info"},
		{"--log-file", "SB_LOG_FILE", "default unset"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		for (int k = 0; k < 3; k++)
			if (!strstr(out, want[i][k]))
				fail_msg("--help lacks \"%s\"", want[i][k]);
	assert_non_null(strstr(out, "--check-config"));
	assert_non_null(strstr(out, "-v"));
}

static void test_version_and_config(void **state)
{
	static char out[8192];
	char cmd[800];
	snprintf(cmd, sizeof cmd, "%s --version", sbt_bin("sb-store"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_non_null(strstr(out, "sb-store "));
	/* env fallback, command line wins over env, {run} expansion */
	snprintf(cmd, sizeof cmd, "SB_STORE_READERS=7 SB_STORE_BATCH_MAX=9 %s --batch-max 11 --run-dir /tmp/rd --check-config",
		 sbt_bin("sb-store"));
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_non_null(strstr(out, "readers = 7"));
	assert_non_null(strstr(out, "batch-max = 11"));
	assert_non_null(strstr(out, "listen = ipc:///tmp/rd/store.sock"));
}

static void test_bad_flags(void **state)
{
	static char out[4096];
	char cmd[600];
	static const char *const bad[] = {"--nope", "--readers 0", "--readers abc", "--log-format xml", "--listen", "stray"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(cmd, sizeof cmd, "%s %s --check-config 2>&1", sbt_bin("sb-store"), bad[i]);
		if (run(cmd, out, sizeof out) != 2)
			fail_msg("\"%s\" should exit 2; said: %s", bad[i], out);
		assert_true(strlen(out) > 0);
	}
}

static void test_nngcat_client(void **state)
{
	sbt_proc store;
	char url[512];
	assert_int_equal(sbt_start_store(&store, url, sizeof url, NULL), 0);
	static char out[8192];
	char cmd[1200];
	snprintf(cmd, sizeof cmd,
		 "nngcat --req --dial %s --format ascii --data '{\"op\":\"businesses.create\",\"args\":{\"name\":\"Acme\"}}'",
		 url);
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_non_null(strstr(out, "{\"ok\":true,"));
	assert_non_null(strstr(out, "\"name\":\"Acme\""));
	snprintf(cmd, sizeof cmd, "nngcat --req --dial %s --format ascii --data '{\"op\":\"nope\"}'", url);
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_non_null(strstr(out, "{\"ok\":false,\"error\":{\"code\":\"invalid_argument\""));
	assert_int_equal(sbt_stop(&store, SIGTERM, 10000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_lists_every_flag),
		cmocka_unit_test(test_version_and_config),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_nngcat_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
