/*
 * scheduler_crash_test.c — exactly once under kill -9.
 *
 * 200 payers are due at once: 170 for a STAGE_1 email (outbox transport),
 * 30 for a STAGE_3 call (the Twilio stub of scheduler_util.h). sb-scheduler
 * runs on a 1 s timer and is SIGKILLed at a random moment, ROUNDS times,
 * each time restarted on the same store. Then one last scheduler runs until
 * every payer's attempt is closed, and:
 *
 *   - every email payer has exactly one .eml in the outbox and exactly one
 *     attempt, SENT (the outbox tells the scheduler exactly what went out,
 *     so a crash between send and complete never leads to a second file);
 *   - every call payer was dialled at most once, has exactly one attempt,
 *     and it is CALL_INITIATED (dialled, recorded) or UNKNOWN (a crash left
 *     the claim open: never re-dialled); a CALL_INITIATED payer was dialled
 *     exactly once;
 *   - nobody is forgotten: no attempt is left open and every payer has one.
 *
 * SBT_SEED=<n> replays a schedule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "sb_time.h"
#include "scheduler_util.h"

#define NEMAIL  170
#define NCALL   30
#define ROUNDS  20
#define KILL_MIN_MS 5   /* a whole batch takes about 100 ms when nothing is in the way */
#define KILL_MAX_MS 150
#define SETTLE_MS   60000

static sbt_proc    store;
static sb_client  *st;
static twilio_stub tw;
static char        store_url[400], api[64];

static void payer_id(char *buf, size_t len, int i)
{
	snprintf(buf, len, "payer_k%03d", i);
}

static void phone(char *buf, size_t len, int i)
{
	snprintf(buf, len, "+1555200%04d", i);
}

static void create_payers(void)
{
	char id[32], ph[24], email[64];
	for (int i = 0; i < NEMAIL + NCALL; i++) {
		payer_id(id, sizeof id, i);
		phone(ph, sizeof ph, i);
		snprintf(email, sizeof email, "p%d@example.net", i);
		bool call = i >= NEMAIL;
		assert_int_equal(sched_payer(st, id, call ? NULL : email, call ? ph : NULL, call ? 90 : 5,
					     call ? "STAGE_3" : "STAGE_1", "America/New_York"), 0);
	}
}

static void spawn(sbt_proc *p)
{
	char url[400], run[300];
	const char *extra[] = {"--interval", "1", "--workers", "2", "--quiet-start", "00:00", "--quiet-end", "24:00",
			       "--twilio-account-sid", "ACtest", "--twilio-auth-token", "tok", "--twilio-from",
			       "+15550001111", "--twilio-api-url", api, NULL};
	/* not sched_spawn: it waits for readiness, and the kill may come before that */
	sbt_path(run, sizeof run, "run");
	char outbox[300], tpl[600], cwd[400];
	sbt_path(outbox, sizeof outbox, "outbox");
	snprintf(tpl, sizeof tpl, "%s/scheduler/templates", getcwd(cwd, sizeof cwd) ? cwd : ".");
	snprintf(url, sizeof url, "ipc://%s/scheduler.sock", run);
	const char *a[64] = {"--run-dir", run, "--store-url", store_url, "--outbox-dir", outbox, "--templates-dir", tpl};
	int n = 8;
	for (int i = 0; extra[i]; i++)
		a[n++] = extra[i];
	a[n] = NULL;
	assert_int_equal(sbt_spawn(p, sbt_bin("sb-scheduler"), a), 0);
}

/* 1 when every payer has an attempt and none is open or pending. */
static int settled(int *open_out)
{
	char id[32];
	int open = 0;
	for (int i = 0; i < NEMAIL + NCALL; i++) {
		payer_id(id, sizeof id, i);
		json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", id));
		json_t *atts = json_object_get(p, "attempts");
		size_t k;
		json_t *a;
		if (json_array_size(atts) == 0)
			open++;
		json_array_foreach(atts, k, a) {
			const char *s = sb_json_str(a, "status");
			open += !strcmp(s, "SENDING") || !strcmp(s, "DIALING") || !strcmp(s, "CLAIMED") ||
				!strcmp(s, "RETRY_PENDING");
		}
		json_decref(p);
	}
	*open_out = open;
	return open == 0;
}

static void check_email_payer(int i)
{
	char id[32];
	payer_id(id, sizeof id, i);
	int files = outbox_count(id, NULL, 0);
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", id));
	json_t *atts = json_object_get(p, "attempts");
	if (files != 1 || json_array_size(atts) != 1 || strcmp(sb_json_str(json_array_get(atts, 0), "status"), "SENT"))
		fail_msg("%s: %d files, %zu attempts, first %s", id, files, json_array_size(atts),
			 sb_json_str(json_array_get(atts, 0), "status"));
	json_decref(p);
}

/* Returns 1 if the call payer's attempt was closed UNKNOWN. */
static int check_call_payer(int i)
{
	char id[32], ph[24];
	payer_id(id, sizeof id, i);
	phone(ph, sizeof ph, i);
	int dials = stub_calls_to(&tw, ph);
	json_t *p = sbt_ok(st, "payers.get", json_pack("{s:s}", "id", id));
	json_t *atts = json_object_get(p, "attempts");
	const char *s = sb_json_str(json_array_get(atts, 0), "status");
	bool ok = json_array_size(atts) == 1 && dials <= 1 &&
		  ((s && !strcmp(s, "CALL_INITIATED") && dials == 1) || (s && !strcmp(s, "UNKNOWN")));
	if (!ok)
		fail_msg("%s: %d dials, %zu attempts, status %s", id, dials, json_array_size(atts), s ? s : "-");
	int unknown = !strcmp(s, "UNKNOWN");
	json_decref(p);
	return unknown;
}

static void test_kill9_rounds(void **state)
{
	unsigned seed = getenv("SBT_SEED") ? (unsigned)atoi(getenv("SBT_SEED")) : (unsigned)time(NULL);
	printf("seed %u\n", seed);
	srand(seed);
	create_payers();
	for (int r = 0; r < ROUNDS; r++) {
		sbt_proc p;
		spawn(&p);
		int ms = KILL_MIN_MS + rand() % (KILL_MAX_MS - KILL_MIN_MS);
		usleep((useconds_t)ms * 1000); /* a random moment, not a readiness wait */
		sbt_stop(&p, SIGKILL, 5000);
	}
	sbt_proc last;
	spawn(&last);
	int open = -1;
	int64_t until = sb_mono_ms() + SETTLE_MS;
	while (!settled(&open) && sb_mono_ms() < until)
		usleep(200 * 1000);
	assert_int_equal(open, 0);
	for (int i = 0; i < NEMAIL; i++)
		check_email_payer(i);
	int unknown = 0;
	for (int i = NEMAIL; i < NEMAIL + NCALL; i++)
		unknown += check_call_payer(i);
	printf("calls closed UNKNOWN after a crash: %d of %d\n", unknown, NCALL);
	assert_int_equal(sbt_stop(&last, SIGTERM, 20000), 0);
}

static int setup(void **state)
{
	if (stub_start(&tw) < 0 || sbt_start_store(&store, store_url, sizeof store_url, NULL) < 0)
		return -1;
	snprintf(api, sizeof api, "http://127.0.0.1:%d", tw.port);
	tw.delay_ms = 10;
	sb_error err;
	st = sb_client_open(store_url, NULL, &err);
	return st ? 0 : -1;
}

static int teardown(void **state)
{
	sb_client_close(st);
	sbt_stop(&store, SIGTERM, 10000);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_rounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
