/*
 * store_durability_test.c — an acknowledged write survives kill -9.
 *
 * NCLIENTS threads each append transcript lines to their own calls
 * (calls.append_transcript, seq 0, 1, 2, ... with a text naming the client
 * and the line), moving to the next line only once the current one is
 * acknowledged and resending the SAME line after any error or timeout.
 * Meanwhile the main thread SIGKILLs sb-store at random moments and starts
 * it again on the same database, ROUNDS times. Afterwards calls.get must
 * show, for every client: every acknowledged line exactly once with its text,
 * seqs strictly increasing, and nothing beyond the one line a client may have
 * had in flight when it stopped (committed but never acknowledged: allowed).
 * A resend of a committed line must be answered ok (duplicate:true), never
 * conflict. Finally SIGTERM must end the store with status 0.
 *
 * The random schedule is printed as a seed; SBT_SEED=<n> replays it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/harness.h"
#include "sb_json.h"
#include "sb_time.h"

#define NCLIENTS      8
#define ROUNDS        20
#define KILL_MIN_MS   50
#define KILL_MAX_MS   300
#define CALLS_PER_CLIENT 8
#define LINES_PER_CALL 2500 /* keeps each calls.get reply small (about 200 KB) */
#define MAX_LINES     (CALLS_PER_CLIENT * LINES_PER_CALL) /* per client: bounds the run */
/*
 * After the last restart every client must make progress within this. It
 * catches clients stranded by a restart, e.g. nng 1.5.2's dialer giving up
 * for good when the store dies in the middle of the SP handshake.
 */
#define RECOVER_MS    10000
#define ERR_BACKOFF_MS 5

typedef struct dclient {
	int        idx;
	pthread_t  thread;
	sb_client *c;
	/* written by the client thread, read by main after join (or atomically while running) */
	atomic_int next_line; /* lowest line not yet acknowledged == number of acknowledged lines */
	bool       in_flight; /* next_line was sent at least once but not acknowledged */
	long       resends;   /* append attempts after an error or timeout */
	long       dups;      /* ok replies with duplicate:true */
	long       errors;    /* transport / unavailable / deadline errors */
	char       bad[300];  /* first unacceptable reply (conflict, invalid_argument, ...) */
	char       last_err[300]; /* the latest retryable error, for the failure report */
	atomic_bool failed;   /* bad is set; the client has stopped */
} dclient;

static atomic_bool stop_clients;
static dclient     cl[NCLIENTS];
static int         nstarted; /* client threads running */
static sbt_proc    store;
static sb_client  *admin;

/*
 * Client k's line n goes to call CAdurability<k>-<n / LINES_PER_CALL> at seq
 * n % LINES_PER_CALL, with a text naming k and n.
 */
static void call_sid(char *buf, size_t len, int client, int line)
{
	snprintf(buf, len, "CAdurability%02d-%d", client, line / LINES_PER_CALL);
}

static void line_text(char *buf, size_t len, int client, int line)
{
	snprintf(buf, len, "client %d says line %d", client, line);
}

static const char *line_role(int seq)
{
	return seq % 2 ? "assistant" : "user";
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Append line n; 0 acknowledged, 1 retryable failure, -1 unacceptable reply (d->bad set). */
static int append_once(dclient *d, int n)
{
	char text[64], sid[32];
	line_text(text, sizeof text, d->idx, n);
	call_sid(sid, sizeof sid, d->idx, n);
	json_t *args = json_pack("{s:s,s:i,s:s,s:s}", "callSid", sid, "seq", n % LINES_PER_CALL, "role",
				 line_role(n), "text", text);
	json_t *data = NULL;
	sb_error err = {0};
	if (store_calls_append_transcript(d->c, args, &data, &err) == 0) {
		if (json_is_true(json_object_get(data, "duplicate")))
			d->dups++;
		json_decref(data);
		return 0;
	}
	if (err.code == SB_UNAVAILABLE || err.code == SB_DEADLINE_EXCEEDED) {
		d->errors++;
		snprintf(d->last_err, sizeof d->last_err, "%s seq %d: %s: %.200s", sid, n % LINES_PER_CALL,
			 sb_code_name(err.code), err.message);
		return 1;
	}
	snprintf(d->bad, sizeof d->bad, "%s seq %d: %s: %.200s", sid, n % LINES_PER_CALL, sb_code_name(err.code),
		 err.message);
	return -1;
}

static void *client_main(void *arg)
{
	dclient *d = arg;
	int n = atomic_load(&d->next_line);
	while (!atomic_load(&stop_clients) && n < MAX_LINES) {
		if (d->in_flight)
			d->resends++;
		d->in_flight = true;
		int rc = append_once(d, n);
		if (rc < 0) {
			atomic_store(&d->failed, true);
			break;
		}
		if (rc > 0) {
			sleep_ms(ERR_BACKOFF_MS); /* the store is down: don't spin if the error came back at once */
			continue;
		}
		d->in_flight = false;
		atomic_store(&d->next_line, ++n);
	}
	return NULL;
}

static unsigned pick_seed(void)
{
	const char *s = getenv("SBT_SEED");
	if (s && *s)
		return (unsigned)strtoul(s, NULL, 10);
	return (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
}

static int total_acked(void)
{
	int n = 0;
	for (int i = 0; i < NCLIENTS; i++)
		n += atomic_load(&cl[i].next_line);
	return n;
}

/* Wait until every client has had at least one more line acknowledged than in before[]. */
static bool all_progressed(const int *before, int timeout_ms)
{
	int64_t until = sb_mono_ms() + timeout_ms;
	for (;;) {
		int i = 0;
		while (i < NCLIENTS && (atomic_load(&cl[i].next_line) > before[i] || atomic_load(&cl[i].failed) ||
					atomic_load(&cl[i].next_line) >= MAX_LINES))
			i++;
		if (i == NCLIENTS)
			return true;
		if (sb_mono_ms() > until)
			return false;
		sleep_ms(10);
	}
}

/*
 * Check call number `call` of client d: it must hold the client's next lines
 * from *n on, in seq order, each once with its text, none at or beyond limit.
 * *n is advanced over the lines found. Fails the test on anything else.
 */
static void verify_call(sb_client *c, dclient *d, int call, int limit, int *n)
{
	char sid[32];
	call_sid(sid, sizeof sid, d->idx, call * LINES_PER_CALL);
	json_t *data = NULL;
	sb_error err = {0};
	/* The store is up, but nng (re)connects in the background: poll, bounded. */
	int64_t until = sb_mono_ms() + 10000;
	int rc;
	while ((rc = store_calls_get(c, json_pack("{s:s}", "callSid", sid), &data, &err)) != 0 &&
	       (err.code == SB_UNAVAILABLE || err.code == SB_DEADLINE_EXCEEDED) && sb_mono_ms() < until)
		;
	if (rc != 0)
		fail_msg("calls.get %s: %s: %s", sid, sb_code_name(err.code), err.message);
	json_t *lines = json_object_get(data, "transcript"), *line;
	assert_true(json_is_array(lines));
	json_int_t prev = -1;
	size_t i;
	json_array_foreach(lines, i, line) {
		json_int_t seq = sb_json_int(line, "seq", -1);
		int want = *n, got_line = call * LINES_PER_CALL + (int)seq;
		if (seq <= prev)
			fail_msg("%s: seq %lld after %lld (not unique and sorted)", sid, (long long)seq, (long long)prev);
		if (got_line >= limit)
			fail_msg("%s: seq %lld present but never sent (client %d: %d acknowledged, in flight %d)", sid,
				 (long long)seq, d->idx, atomic_load(&d->next_line), d->in_flight);
		if (got_line != want)
			fail_msg("client %d: acknowledged line %d is missing (%s seq %lld comes next)", d->idx, want, sid,
				 (long long)seq);
		char text[64];
		line_text(text, sizeof text, d->idx, want);
		const char *got = sb_json_str(line, "text"), *role = sb_json_str(line, "role");
		if (!got || strcmp(got, text) != 0 || !role || strcmp(role, line_role(want)) != 0)
			fail_msg("%s: seq %lld has role %s text \"%s\", expected %s \"%s\"", sid, (long long)seq,
				 role ? role : "(none)", got ? got : "(none)", line_role(want), text);
		prev = seq;
		(*n)++;
	}
	json_decref(data);
}

/* Check every call of client d; returns its lines committed but never acknowledged (0 or 1). */
static int verify_client(sb_client *c, dclient *d)
{
	int acked = atomic_load(&d->next_line);
	int limit = acked + (d->in_flight ? 1 : 0); /* lines >= limit were never sent */
	int n = 0;
	for (int call = 0; call < CALLS_PER_CLIENT; call++)
		verify_call(c, d, call, limit, &n);
	if (n < acked)
		fail_msg("client %d: %d lines acknowledged, only %d stored", d->idx, acked, n);
	return n - acked;
}

/* Create the calls of every client (before any kill). */
static void create_calls(sb_client *c)
{
	for (int k = 0; k < NCLIENTS; k++)
		for (int call = 0; call < CALLS_PER_CLIENT; call++) {
			char sid[32];
			call_sid(sid, sizeof sid, k, call * LINES_PER_CALL);
			json_t *data = sbt_ok(c, "calls.create",
					      json_pack("{s:s,s:s,s:s,s:s}", "callSid", sid, "direction", "inbound",
							"from", "+15550100", "to", "+15550199"));
			assert_non_null(data);
			json_decref(data);
		}
}

static void stop_all_clients(void)
{
	atomic_store(&stop_clients, true);
	for (; nstarted > 0; nstarted--)
		pthread_join(cl[nstarted - 1].thread, NULL);
}

/* After a failed assertion too: no client thread or sb-store is left behind. */
static int teardown(void **state)
{
	stop_all_clients();
	for (int i = 0; i < NCLIENTS; i++) {
		sb_client_close(cl[i].c);
		cl[i].c = NULL;
	}
	sb_client_close(admin);
	admin = NULL;
	if (store.pid > 0)
		sbt_stop(&store, SIGKILL, 5000);
	return 0;
}

static void test_kill9_keeps_acknowledged_appends(void **state)
{
	unsigned seed = pick_seed();
	print_message("durability: seed=%u (replay with SBT_SEED=%u)\n", seed, seed);
	char url[512];
	assert_int_equal(sbt_start_store(&store, url, sizeof url, NULL), 0);

	admin = sb_client_open(url, NULL, NULL);
	assert_non_null(admin);
	sb_client_opts fast = {.timeout_ms = 1000, .resend_ms = 300};
	create_calls(admin);
	for (int i = 0; i < NCLIENTS; i++) {
		cl[i].idx = i;
		assert_non_null(cl[i].c = sb_client_open(url, &fast, NULL));
	}
	atomic_store(&stop_clients, false);
	for (; nstarted < NCLIENTS; nstarted++)
		assert_int_equal(pthread_create(&cl[nstarted].thread, NULL, client_main, &cl[nstarted]), 0);

	int64_t t0 = sb_mono_ms();
	for (int r = 0; r < ROUNDS; r++) {
		sleep_ms(KILL_MIN_MS + (int)(rand_r(&seed) % (KILL_MAX_MS - KILL_MIN_MS + 1)));
		assert_int_equal(sbt_stop(&store, SIGKILL, 5000), 128 + SIGKILL);
		if (sbt_start_store(&store, url, sizeof url, NULL) != 0)
			fail_msg("round %d: sb-store did not come back (log: %s)", r + 1, store.log);
	}
	int before[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++)
		before[i] = atomic_load(&cl[i].next_line);
	bool progressed = all_progressed(before, RECOVER_MS);
	stop_all_clients();
	int64_t elapsed = sb_mono_ms() - t0;
	for (int i = 0; i < NCLIENTS; i++)
		if (cl[i].bad[0])
			fail_msg("client %d got an unacceptable reply: %s", i, cl[i].bad);
	if (!progressed) {
		for (int i = 0; i < NCLIENTS; i++)
			print_message("client %d: %d acknowledged (%d after the last restart), %ld errors, last: %s\n", i,
				      atomic_load(&cl[i].next_line), atomic_load(&cl[i].next_line) - before[i], cl[i].errors,
				      cl[i].last_err);
		fail_msg("some client made no progress within %d ms of the last restart (store log: %s)", RECOVER_MS,
			 store.log);
	}

	int extra = 0;
	long resends = 0, dups = 0, errors = 0;
	for (int i = 0; i < NCLIENTS; i++) {
		extra += verify_client(admin, &cl[i]);
		resends += cl[i].resends;
		dups += cl[i].dups;
		errors += cl[i].errors;
	}
	print_message("durability: %d kill -9 rounds in %lld ms, %d clients: %d lines acknowledged, all present once;"
		      " %d committed but not acknowledged; %ld errors, %ld resends, %ld answered duplicate\n",
		      ROUNDS, (long long)elapsed, NCLIENTS, total_acked(), extra, errors, resends, dups);
	assert_true(total_acked() > 0);
	assert_int_equal(sbt_stop(&store, SIGTERM, 15000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill9_keeps_acknowledged_appends, teardown),
	};
	return cmocka_run_group_tests_name("store_durability", tests, NULL, NULL);
}
