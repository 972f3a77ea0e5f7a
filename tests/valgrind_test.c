/*
 * valgrind_test.c — no leaks and no memory errors on the daemons' normal
 * path: each daemon runs under valgrind memcheck, serves real requests over
 * its real socket, gets SIGTERM, and must exit 0 (valgrind exits 9 on any
 * error or definite/indirect/possible leak). Skipped in sanitizer builds,
 * where valgrind cannot run.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "sb_json.h"

static bool sanitizer_build(void)
{
	const char *b = getenv("SB_BUILD");
	return b && strstr(b, "asan");
}

/* Start bin under valgrind with args; the tool's report goes to the daemon log. */
static int spawn_valgrind(sbt_proc *p, const char *bin, const char *const *args)
{
	const char *argv[48] = {"--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
				"--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=9", bin};
	int n = 6;
	for (int i = 0; args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return sbt_spawn(p, "/usr/bin/valgrind", argv);
}

static void test_store_clean_shutdown(void **state)
{
	if (sanitizer_build())
		skip();
	char run[300], db[300], url[400];
	sbt_path(run, sizeof run, "vg-run");
	sbt_path(db, sizeof db, "vg.db");
	snprintf(url, sizeof url, "ipc://%s/store.sock", run);
	const char *args[] = {"--run-dir", run, "--db", db, NULL};
	sbt_proc p;
	assert_int_equal(spawn_valgrind(&p, sbt_bin("sb-store"), args), 0);
	assert_int_equal(sbt_wait_ready(url, 60000), 0);
	sb_client_opts o = {.timeout_ms = 10000};
	sb_client *c = sb_client_open(url, &o, NULL);
	json_t *b = sbt_ok(c, "businesses.create", json_pack("{s:s}", "name", "Valgrind Co"));
	assert_non_null(b);
	json_t *call = sbt_ok(c, "calls.create", json_pack("{s:s,s:s,s:s}", "callSid", "CAvg1", "direction",
							   "inbound", "businessId", sb_json_str(b, "id")));
	assert_non_null(call);
	for (int i = 0; i < 20; i++)
		json_decref(sbt_ok(c, "calls.append_transcript",
				   json_pack("{s:s,s:i,s:s,s:s}", "callSid", "CAvg1", "seq", i, "role", "user", "text", "hello")));
	json_decref(sbt_ok(c, "calls.get", json_pack("{s:s}", "callSid", "CAvg1")));
	assert_string_equal(sbt_code(c, "nope", NULL), "invalid_argument");
	json_decref(b);
	json_decref(call);
	sb_client_close(c);
	int rc = sbt_stop(&p, SIGTERM, 60000);
	if (rc != 0)
		fail_msg("sb-store under valgrind exited %d; see %s", rc, p.log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
