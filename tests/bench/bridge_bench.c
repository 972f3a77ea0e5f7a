/*
 * bridge_bench.c — sb-media-bridge under load: sb-callsim (N calls, 20 ms
 * stamped frames both ways) ⇄ sb-media-bridge ⇄ sb-realtime-sim --echo.
 *
 * For each N (default 200 400 1000; SB_BRIDGE_BENCH_CALLS="200 400" to
 * choose, SB_BRIDGE_BENCH_SECONDS per run, default 30) it prints one
 * Markdown row: latency per direction (callsim→sim "up", sim→callsim
 * "down", p50/p99, which include both simulators and the kernel, so they
 * bound the bridge's added latency from above), frames lost, bridge CPU-ms
 * per call-minute over the steady window (after the ramp), and RSS per call
 * above the idle bridge. sb-store runs as in production (without it the
 * bridge keeps retrying its call-log writes, which showed as ~4 % of its
 * CPU in nng and futex time).
 *
 * Latency twice: over every frame (which includes the frames held, by
 * design, while each call's model session connects) and in steady state
 * (frames sent after each call's first SB_BRIDGE_BENCH_SKIP_MS, default
 * 3000). SB_BRIDGE_BENCH_PERF=1 also records `perf record -g` of the
 * bridge over the steady window into <tmp>/perf-<N>.data (kept with SBT_KEEP=1).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sb_json.h"
#include "sb_time.h"

/* utime+stime of pid in ms. */
static long cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof buf, f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* With SB_BRIDGE_BENCH_PERF=1: perf record -g of pid into <tmp>/perf-<calls>.data. */
static void perf_start(sbt_proc *pf, pid_t pid, int calls)
{
	const char *on = getenv("SB_BRIDGE_BENCH_PERF");
	char spid[16], out[400], name[32];
	if (!on || strcmp(on, "1") != 0)
		return;
	snprintf(spid, sizeof spid, "%d", (int)pid);
	snprintf(name, sizeof name, "perf-%d.data", calls);
	sbt_path(out, sizeof out, name);
	const char *args[] = {"record", "-g", "-F", "999", "-o", out, "-p", spid, NULL};
	if (sbt_spawn(pf, "/usr/bin/perf", args) < 0)
		pf->pid = 0;
}

static char store_url[512];

static void run(int calls, int secs)
{
	char run_dir[300], rt_listen[64], listen[64], rt_url[128], ctl[400], url[128], report[400], dur[32], ncalls[16];
	sbt_path(run_dir, sizeof run_dir, "run");
	int rp = sbt_free_port(), wp = sbt_free_port();
	snprintf(rt_listen, sizeof rt_listen, "127.0.0.1:%d", rp);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", wp);
	snprintf(rt_url, sizeof rt_url, "ws://127.0.0.1:%d/v1/realtime", rp);
	snprintf(ctl, sizeof ctl, "ipc://%s/bridge-bench.sock", run_dir);
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/api/twilio/stream", wp);
	snprintf(report, sizeof report, "%s/bench-%d.json", sbt_dir(), calls);
	snprintf(dur, sizeof dur, "%d", secs * 1000);
	snprintf(ncalls, sizeof ncalls, "%d", calls);
	sbt_proc rt, br, cs;
	const char *ra[] = {"--run-dir", run_dir, "--listen", rt_listen, "--echo", "--log-level", "warn", NULL};
	const char *ba[] = {"--run-dir", run_dir, "--listen", listen, "--control", ctl, "--realtime-url", rt_url,
			    "--secret", "bench", "--idle-seconds", "600", "--log-level", "warn", "--drain-seconds", "1",
			    "--store-url", store_url, NULL};
	const char *skip = getenv("SB_BRIDGE_BENCH_SKIP_MS") ? getenv("SB_BRIDGE_BENCH_SKIP_MS") : "3000";
	const char *ca[] = {"--run-dir", run_dir, "--stream-url", url, "--secret", "bench", "--calls", ncalls, "--duration-ms",
			    dur, "--ramp-ms", "2000", "--stamp", "--latency-skip-ms", skip, "--report", report, "--log-level",
			    "warn", NULL};
	sbt_spawn(&rt, sbt_bin("sb-realtime-sim"), ra);
	sbt_spawn(&br, sbt_bin("sb-media-bridge"), ba);
	if (sbt_wait_ready(ctl, 10000) < 0) {
		printf("| %d | bridge did not start |\n", calls);
		return;
	}
	nap(300);
	long idle_rss = rss_kb(br.pid);
	sbt_spawn(&cs, sbt_bin("sb-callsim"), ca);
	nap(4000); /* ramp (2 s) + settle */
	sbt_proc pf = {0};
	perf_start(&pf, br.pid, calls);
	long c0 = cpu_ms(br.pid);
	int64_t t0 = sb_mono_ms();
	nap((secs - 6) * 1000);
	long c1 = cpu_ms(br.pid), rss = rss_kb(br.pid);
	if (pf.pid > 0)
		sbt_stop(&pf, SIGINT, 30000);
	double minutes = (double)(sb_mono_ms() - t0) / 60000.0;
	sbt_stop(&cs, 0, secs * 1000 + 30000);
	sbt_stop(&br, SIGTERM, 10000);
	sbt_stop(&rt, SIGTERM, 10000);
	json_t *r = json_load_file(report, 0, NULL);
	const json_t *up = json_object_get(r, "upMs"), *down = json_object_get(r, "downMs");
	const json_t *st = json_object_get(r, "steady"), *sup = json_object_get(st, "upMs"), *sdown = json_object_get(st, "downMs");
	printf("| %d | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %lld of %lld | %lld | %.1f | %.1f |\n", calls,
	       sb_json_num(up, "p50", -1), sb_json_num(up, "p99", -1), sb_json_num(down, "p50", -1), sb_json_num(down, "p99", -1),
	       sb_json_num(sup, "p50", -1), sb_json_num(sup, "p99", -1), sb_json_num(sdown, "p50", -1), sb_json_num(sdown, "p99", -1),
	       (long long)sb_json_int(r, "lost", -1), (long long)sb_json_int(r, "framesSent", -1),
	       (long long)sb_json_int(r, "rejected", -1), (double)(c1 - c0) / (calls * minutes),
	       (double)(rss - idle_rss) / calls);
	fflush(stdout);
	json_decref(r);
}

int main(void)
{
	const char *env = getenv("SB_BRIDGE_BENCH_CALLS"), *secs = getenv("SB_BRIDGE_BENCH_SECONDS");
	char list[256];
	snprintf(list, sizeof list, "%s", env && *env ? env : "200 400 1000");
	int s = secs && atoi(secs) >= 10 ? atoi(secs) : 30;
	sbt_proc store;
	const char *quiet[] = {"--log-level", "warn", NULL};
	if (sbt_start_store(&store, store_url, sizeof store_url, quiet) != 0) {
		fprintf(stderr, "sb-store did not start\n");
		return 1;
	}
	printf("### Media bridge relay (callsim ⇄ bridge ⇄ realtime-sim --echo, %d s per run)\n\n", s);
	printf("| calls | up p50 / p99 ms | down p50 / p99 ms | steady up p50 / p99 | steady down p50 / p99 | frames lost | calls refused | bridge CPU-ms per call-minute | RSS KB per call |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (char *tok = strtok(list, " "); tok; tok = strtok(NULL, " "))
		run(atoi(tok), s);
	printf("\n");
	sbt_stop(&store, SIGTERM, 10000);
	return 0;
}
