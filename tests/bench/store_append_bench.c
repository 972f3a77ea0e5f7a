/*
 * store_append_bench.c — durable transcript appends per second through nng.
 *
 * Starts its own sb-store in a temporary folder (tests/lib harness), creates
 * one call per client, then for each concurrency level C runs C client
 * threads that append transcript lines synchronously
 * (calls.append_transcript, each acknowledged only after its group commit is
 * fsynced) for a fixed window after a warm-up, REPS times. Prints a Markdown
 * table per level: median appends/s with min/max over the runs; p50/p99
 * latency of one append over all runs of the level; the mean ops per group
 * commit and mean commit time (the store's sb_store_commit_* histograms);
 * and the CPU time spent per append by the store (/proc/<pid>/stat) and by
 * the client threads (getrusage), which share the machine.
 *
 * Knobs (environment): SB_BENCH_LEVELS (default "1,8,64"), SB_BENCH_REPS (5),
 * SB_BENCH_SECS (3), SB_BENCH_WARMUP_MS (500), SB_BENCH_CLIENT ("own": one
 * sb_client per thread, the default; "shared": one client for all threads),
 * SB_BENCH_STORE_ARGS (extra sb-store flags, space separated),
 * SB_BENCH_PAUSE=1 (print the store's pid and wait 5 s before measuring, to
 * attach perf/strace). Everything is bounded: each call times out after 5 s.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../lib/harness.h"
#include "sb_json.h"
#include "sb_time.h"

#define MAX_LEVELS   8
#define MAX_CLIENTS  256
#define MAX_REPS     20
#define LAT_CAP      (1u << 22) /* latency samples kept per thread and run */
#define CALL_TIMEOUT 5000

typedef struct worker {
	pthread_t  thread;
	sb_client *c;
	int        idx;
	int64_t    t_begin, t_end; /* measurement window, monotonic µs */
	uint32_t  *lat;            /* µs per append completed inside the window */
	size_t     n, cap;
	long       errors;
	long       acked;          /* every acknowledged append, warm-up included */
	char       first_err[200];
} worker;

static struct {
	char   url[512];
	pid_t  store_pid;
	int    levels[MAX_LEVELS], nlevels;
	int    reps, secs, warmup_ms;
	bool   shared;
	char   sid[MAX_CLIENTS][32];
	int64_t seq[MAX_CLIENTS]; /* next seq per call, carried across runs */
	pthread_barrier_t go;
} B;

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *s = getenv(name);
	int v = s && *s ? atoi(s) : def;
	return v < lo ? lo : v > hi ? hi : v;
}

static void parse_levels(void)
{
	const char *s = getenv("SB_BENCH_LEVELS");
	char buf[128];
	snprintf(buf, sizeof buf, "%s", s && *s ? s : "1,8,64");
	B.nlevels = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && B.nlevels < MAX_LEVELS;
	     tok = strtok_r(NULL, ",", &save)) {
		int v = atoi(tok);
		if (v >= 1 && v <= MAX_CLIENTS)
			B.levels[B.nlevels++] = v;
	}
}

static void record(worker *w, uint32_t us)
{
	if (w->n == w->cap) {
		if (w->cap >= LAT_CAP)
			return;
		w->cap = w->cap ? w->cap * 2 : 4096;
		w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
	}
	w->lat[w->n++] = us;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	static const char text[] = "Thanks for calling, I can help you with your balance today.";
	pthread_barrier_wait(&B.go);
	for (;;) {
		int64_t t0 = sb_mono_us();
		if (t0 >= w->t_end)
			break;
		json_t *args = json_pack("{s:s,s:I,s:s,s:s}", "callSid", B.sid[w->idx], "seq", (json_int_t)B.seq[w->idx],
					 "role", B.seq[w->idx] % 2 ? "assistant" : "user", "text", text);
		json_t *data = NULL;
		sb_error err = {0};
		int rc = store_calls_append_transcript(w->c, args, &data, &err);
		int64_t t1 = sb_mono_us();
		json_decref(data);
		if (rc != 0) {
			if (!w->errors++)
				snprintf(w->first_err, sizeof w->first_err, "%s: %.150s", sb_code_name(err.code), err.message);
			continue; /* resend the same seq */
		}
		B.seq[w->idx]++;
		w->acked++;
		if (t1 >= w->t_begin && t1 < w->t_end)
			record(w, (uint32_t)(t1 - t0));
	}
	return NULL;
}

typedef struct run_result {
	double    rate;
	uint32_t *lat;
	size_t    n;
	long      errors;
} run_result;

/* One run of nclients threads; fills *res (res->lat owned) and adds every acknowledged append to *done. */
static void run_level(int nclients, sb_client *shared, run_result *res, long *done)
{
	static worker w[MAX_CLIENTS];
	sb_client_opts o = {.timeout_ms = CALL_TIMEOUT, .resend_ms = CALL_TIMEOUT};
	pthread_barrier_init(&B.go, NULL, (unsigned)nclients + 1);
	int64_t begin = 0, end = 0;
	for (int i = 0; i < nclients; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].idx = i;
		w[i].c = shared ? shared : sb_client_open(B.url, &o, NULL);
		w[i].t_end = INT64_MAX;
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	begin = sb_mono_us() + (int64_t)B.warmup_ms * 1000;
	end = begin + (int64_t)B.secs * 1000000;
	for (int i = 0; i < nclients; i++) {
		w[i].t_begin = begin;
		w[i].t_end = end;
	}
	pthread_barrier_wait(&B.go); /* the barrier orders the writes above before the workers' reads */
	memset(res, 0, sizeof *res);
	for (int i = 0; i < nclients; i++) {
		pthread_join(w[i].thread, NULL);
		res->n += w[i].n;
		res->errors += w[i].errors;
		*done += w[i].acked;
	}
	pthread_barrier_destroy(&B.go);
	res->lat = malloc((res->n ? res->n : 1) * sizeof *res->lat);
	size_t k = 0;
	for (int i = 0; i < nclients; i++) {
		if (w[i].errors)
			fprintf(stderr, "bench: client %d: %ld errors, first: %s\n", i, w[i].errors, w[i].first_err);
		memcpy(res->lat + k, w[i].lat, w[i].n * sizeof *w[i].lat);
		k += w[i].n;
		free(w[i].lat);
		if (!shared)
			sb_client_close(w[i].c);
	}
	res->rate = (double)res->n / B.secs;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return sorted[i];
}

/* The store's group-commit histograms: ops per commit and commit duration (sum and count of each). */
typedef struct commit_stats {
	double ops_sum, ops_count, ms_sum, ms_count;
} commit_stats;

static double metric_value(const char *text, const char *series)
{
	char key[128];
	snprintf(key, sizeof key, "\n%s ", series);
	const char *p = text ? strstr(text, key) : NULL;
	return p ? strtod(p + strlen(key), NULL) : 0.0;
}

static void read_commit_stats(sb_client *c, commit_stats *cs)
{
	memset(cs, 0, sizeof *cs);
	json_t *data = NULL;
	if (sys_sys_metrics(c, NULL, &data, NULL) != 0)
		return;
	const char *text = sb_json_str(data, "text");
	cs->ops_sum = metric_value(text, "sb_store_commit_batch_ops_sum");
	cs->ops_count = metric_value(text, "sb_store_commit_batch_ops_count");
	cs->ms_sum = metric_value(text, "sb_store_commit_duration_ms_sum");
	cs->ms_count = metric_value(text, "sb_store_commit_duration_ms_count");
	json_decref(data);
}

/* CPU time (user + system) used so far by the store, in µs; 0 if unknown. */
static double store_cpu_us(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)B.store_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* fields after the command name; utime and stime are 14 and 15 */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time used so far by this process (the client threads), in µs. */
static double self_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void bench_level(int nclients, sb_client *admin, sb_client *shared)
{
	double rates[MAX_REPS];
	run_result all = {0};
	commit_stats before, after;
	read_commit_stats(admin, &before);
	double store0 = store_cpu_us(), self0 = self_cpu_us();
	long done = 0; /* every acknowledged append, warm-up included, for the CPU figures */
	for (int r = 0; r < B.reps; r++) {
		run_result res;
		run_level(nclients, shared, &res, &done);
		rates[r] = res.rate;
		all.lat = realloc(all.lat, (all.n + res.n + 1) * sizeof *all.lat);
		memcpy(all.lat + all.n, res.lat, res.n * sizeof *res.lat);
		all.n += res.n;
		all.errors += res.errors;
		free(res.lat);
	}
	read_commit_stats(admin, &after);
	double store_us = done ? (store_cpu_us() - store0) / (double)done : 0.0;
	double self_us = done ? (self_cpu_us() - self0) / (double)done : 0.0;
	double commits = after.ops_count - before.ops_count;
	double ops_per_commit = commits > 0 ? (after.ops_sum - before.ops_sum) / commits : 0.0;
	double ms_per_commit = commits > 0 ? (after.ms_sum - before.ms_sum) / commits : 0.0;
	qsort(rates, (size_t)B.reps, sizeof rates[0], cmp_double);
	qsort(all.lat, all.n, sizeof *all.lat, cmp_u32);
	double median = B.reps % 2 ? rates[B.reps / 2] : (rates[B.reps / 2 - 1] + rates[B.reps / 2]) / 2;
	printf("| %7d | %10.0f | %8.0f | %8.0f | %7u | %7u | %10.1f | %9.2f | %8.0f | %8.0f | %6ld |\n", nclients,
	       median, rates[0], rates[B.reps - 1], pct(all.lat, all.n, 0.50), pct(all.lat, all.n, 0.99),
	       ops_per_commit, ms_per_commit, store_us, self_us, all.errors);
	fflush(stdout);
	free(all.lat);
}

/* Split SB_BENCH_STORE_ARGS on spaces into argv (NULL-terminated). */
static const char **store_args(char *buf, size_t len, const char **argv, int max)
{
	const char *s = getenv("SB_BENCH_STORE_ARGS");
	int n = 0;
	snprintf(buf, len, "%s", s ? s : "");
	for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && n < max - 1; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	return argv;
}

static int create_calls(sb_client *admin, int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(B.sid[i], sizeof B.sid[i], "CAbench%03d", i);
		json_t *data = sbt_ok(admin, "calls.create",
				      json_pack("{s:s,s:s}", "callSid", B.sid[i], "direction", "inbound"));
		if (!data)
			return -1;
		json_decref(data);
	}
	return 0;
}

int main(void)
{
	parse_levels();
	B.reps = env_int("SB_BENCH_REPS", 5, 1, MAX_REPS);
	B.secs = env_int("SB_BENCH_SECS", 3, 1, 600);
	B.warmup_ms = env_int("SB_BENCH_WARMUP_MS", 500, 0, 60000);
	const char *mode = getenv("SB_BENCH_CLIENT");
	B.shared = mode && strcmp(mode, "shared") == 0;
	int maxc = 0;
	for (int i = 0; i < B.nlevels; i++)
		maxc = B.levels[i] > maxc ? B.levels[i] : maxc;

	sbt_proc store;
	char abuf[512];
	const char *argv[32];
	if (sbt_start_store(&store, B.url, sizeof B.url, store_args(abuf, sizeof abuf, argv, 32)) != 0) {
		fprintf(stderr, "bench: sb-store did not start (log: %s)\n", store.log);
		return 1;
	}
	B.store_pid = store.pid;
	sb_client_opts o = {.timeout_ms = CALL_TIMEOUT, .resend_ms = CALL_TIMEOUT};
	sb_client *admin = sb_client_open(B.url, &o, NULL);
	sb_client *shared = B.shared ? sb_client_open(B.url, &o, NULL) : NULL;
	if (create_calls(admin, maxc) != 0) {
		fprintf(stderr, "bench: calls.create failed (log: %s)\n", store.log);
		sbt_stop(&store, SIGKILL, 1000);
		return 1;
	}
	if (getenv("SB_BENCH_PAUSE")) {
		fprintf(stderr, "bench: sb-store pid %d, measuring in 5 s\n", (int)store.pid);
		struct timespec ts = {5, 0};
		nanosleep(&ts, NULL);
	}
	printf("### store_append_bench: durable calls.append_transcript through nng\n\n");
	printf("%d s per run after %d ms warm-up, %d runs per level, %s; database %s/store.db\n\n", B.secs,
	       B.warmup_ms, B.reps, B.shared ? "one sb_client shared by all threads" : "one sb_client per thread",
	       sbt_dir());
	printf("| clients | appends/s (median) | min | max | p50 µs | p99 µs | ops/commit | ms/commit |"
	       " store CPU µs/append | client CPU µs/append | errors |\n");
	printf("|--------:|-------------------:|----:|----:|-------:|-------:|-----------:|----------:|"
	       "--------------------:|---------------------:|-------:|\n");
	fflush(stdout);
	for (int i = 0; i < B.nlevels; i++)
		bench_level(B.levels[i], admin, shared);
	printf("\n");
	sb_client_close(shared);
	sb_client_close(admin);
	int rc = sbt_stop(&store, SIGTERM, 15000);
	if (rc != 0)
		fprintf(stderr, "bench: sb-store exited with %d (log: %s)\n", rc, store.log);
	return rc == 0 ? 0 : 1;
}
