/*
 * sb_daemon.c — flags, environment fallbacks, generated --help, signals and
 * orderly shutdown for every Switchboard daemon (see sb_daemon.h).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "sb_daemon.h"
#include "sb_log.h"

#define MAX_FLAGS 96

static char *opt_run_dir, *opt_log_format, *opt_log_level, *opt_log_file;

static const sb_flag core_flags[] = {
	{"run-dir", "SB_RUN_DIR", SB_FLAG_STR, "./var/run",
	 "folder for the default ipc:// sockets", &opt_run_dir, 0, 0, false},
	{"log-format", "SB_LOG_FORMAT", SB_FLAG_STR, "text",
	 "log line format: text or json", &opt_log_format, 0, 0, false},
	{"log-level", "SB_LOG_LEVEL", SB_FLAG_STR, "info",
	 "error, warn, info or debug", &opt_log_level, 0, 0, false},
	{"log-file", "SB_LOG_FILE", SB_FLAG_STR, NULL,
	 "append logs to this file instead of stderr (reopened on SIGHUP)", &opt_log_file, 0, 0, false},
	SB_FLAGS_END,
};

static const sb_daemon *self;
static const sb_flag *table[MAX_FLAGS];
static int ntable;
static char *strings[MAX_FLAGS]; /* owned string values, freed at exit */
static int nstrings;
static struct timespec started;

const char *sb_run_dir(void) { return opt_run_dir ? opt_run_dir : "./var/run"; }
const char *sb_daemon_name(void) { return self ? self->name : "sb"; }

long long sb_daemon_uptime_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - started.tv_sec) * 1000LL + (now.tv_nsec - started.tv_nsec) / 1000000;
}

void sb_daemon_stop(void)
{
	kill(getpid(), SIGTERM);
}

static void build_table(const sb_daemon *d)
{
	ntable = 0;
	for (const sb_flag *f = d->flags; f && f->name; f++)
		if (ntable < MAX_FLAGS)
			table[ntable++] = f;
	for (const sb_flag *f = core_flags; f->name; f++)
		if (ntable < MAX_FLAGS)
			table[ntable++] = f;
}

static const char *type_word(const sb_flag *f)
{
	if (f->type == SB_FLAG_INT)
		return "N";
	if (f->type == SB_FLAG_BOOL)
		return "";
	if (strstr(f->name, "url"))
		return "URL";
	if (strstr(f->name, "dir"))
		return "DIR";
	if (strstr(f->name, "file") || strcmp(f->name, "db") == 0)
		return "FILE";
	return "VALUE";
}

static void print_flag(FILE *o, const sb_flag *f)
{
	char left[64];
	snprintf(left, sizeof left, "--%s %s", f->name, type_word(f));
	fprintf(o, "  %-26s %s\n", left, f->help ? f->help : "");
	fprintf(o, "  %-26s ", "");
	if (f->env)
		fprintf(o, "env %s%s", f->env, f->secret ? " (or " : "");
	if (f->env && f->secret)
		fprintf(o, "%s_FILE)", f->env);
	if (f->secret)
		fprintf(o, "%ssecret", f->env ? "; " : "");
	else if (f->def)
		fprintf(o, "%sdefault %s", f->env ? "; " : "", f->def);
	else
		fprintf(o, "%sdefault unset", f->env ? "; " : "");
	if (f->type == SB_FLAG_INT && f->min < f->max)
		fprintf(o, " (%ld..%ld)", f->min, f->max);
	fputc('\n', o);
}

static void usage(FILE *o)
{
	fprintf(o, "%s %s — %s\n\nUsage: %s [flags]\n\nFlags:\n", self->name, SB_VERSION,
		self->summary, self->name);
	for (const sb_flag *f = self->flags; f && f->name; f++)
		print_flag(o, f);
	fprintf(o, "\nCommon to every daemon:\n");
	for (const sb_flag *f = core_flags; f->name; f++)
		print_flag(o, f);
	fprintf(o, "  %-26s %s\n", "-v", "verbose: log at debug level");
	fprintf(o, "  %-26s %s\n", "--check-config", "validate the configuration, print it and exit");
	fprintf(o, "  %-26s %s\n", "--help, --version", "this text; the version");
	fprintf(o, "\n\"{run}\" in a default stands for --run-dir. Command line beats environment beats default.\n");
}

static const sb_flag *find_flag(const char *name, size_t n)
{
	for (int i = 0; i < ntable; i++)
		if (strlen(table[i]->name) == n && strncmp(table[i]->name, name, n) == 0)
			return table[i];
	return NULL;
}

static int flag_index(const sb_flag *f)
{
	for (int i = 0; i < ntable; i++)
		if (table[i] == f)
			return i;
	return -1;
}

/* Read a secret from a file named by $ENV_FILE, trimming one trailing newline. */
static char *read_secret_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return NULL;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return strdup(buf);
}

/* Replace "{run}" with the run directory. Returns a malloc'd string. */
static char *expand(const char *v, const char *run)
{
	const char *p = strstr(v, "{run}");
	if (!p)
		return strdup(v);
	size_t n = strlen(v) - 5 + strlen(run) + 1;
	char *out = malloc(n);
	if (!out)
		abort();
	snprintf(out, n, "%.*s%s%s", (int)(p - v), v, run, p + 5);
	return out;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !*v)
		*out = false;
	else
		return -1;
	return 0;
}

static int store_value(const sb_flag *f, const char *v)
{
	if (f->type == SB_FLAG_STR) {
		char *s = (v && *v) ? expand(v, opt_run_dir ? opt_run_dir : "./var/run") : NULL;
		*(char **)f->dest = s;
		if (s)
			strings[nstrings++] = s;
		return 0;
	}
	if (f->type == SB_FLAG_BOOL)
		return parse_bool(v ? v : "", (bool *)f->dest);
	char *end;
	errno = 0;
	long n = strtol(v ? v : "0", &end, 10);
	if (errno || *end || (f->min < f->max && (n < f->min || n > f->max)))
		return -1;
	*(long *)f->dest = n;
	return 0;
}

/* Resolve one flag: command line, environment (or _FILE), default. */
static int resolve(const sb_flag *f, const char *cli)
{
	char *from_file = NULL;
	const char *v = cli;
	const char *src = "command line";
	if (!v && f->env && getenv(f->env)) {
		v = getenv(f->env);
		src = f->env;
	}
	if (!v && f->env && f->secret) {
		char fe[128];
		snprintf(fe, sizeof fe, "%s_FILE", f->env);
		if (getenv(fe)) {
			from_file = read_secret_file(getenv(fe));
			if (!from_file) {
				fprintf(stderr, "%s: cannot read %s=%s\n", self->name, fe, getenv(fe));
				return -1;
			}
			v = from_file;
			src = fe;
		}
	}
	if (!v) {
		v = f->def;
		src = "default";
	}
	int rc = store_value(f, v);
	if (rc < 0) {
		if (f->type == SB_FLAG_INT && f->min < f->max)
			fprintf(stderr, "%s: --%s (from %s): \"%s\" is not an integer in %ld..%ld\n",
				self->name, f->name, src, v, f->min, f->max);
		else
			fprintf(stderr, "%s: --%s (from %s): bad value \"%s\"\n", self->name, f->name, src,
				f->secret ? "[redacted]" : v);
	}
	free(from_file);
	return rc;
}

typedef struct {
	bool help, version, check, verbose;
} meta_opts;

/* Collect command-line values into cli[]; returns -1 on a usage error. */
static int scan_args(int argc, char **argv, const char **cli, meta_opts *m)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { m->verbose = true; continue; }
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) { m->help = true; continue; }
		if (!strcmp(a, "--version")) { m->version = true; continue; }
		if (!strcmp(a, "--check-config")) { m->check = true; continue; }
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", self->name, a);
			return -1;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		bool negated = false;
		const sb_flag *f = find_flag(name, n);
		if (!f && n > 3 && !strncmp(name, "no-", 3) && (f = find_flag(name + 3, n - 3)) &&
		    f->type == SB_FLAG_BOOL)
			negated = true;
		if (!f || (negated && eq)) {
			fprintf(stderr, "%s: unknown flag --%.*s (see --help)\n", self->name, (int)n, name);
			return -1;
		}
		int idx = flag_index(f);
		if (f->type == SB_FLAG_BOOL && !eq)
			cli[idx] = negated ? "false" : "true";
		else if (eq)
			cli[idx] = eq + 1;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
			cli[idx] = argv[++i];
		else {
			fprintf(stderr, "%s: --%s needs a value\n", self->name, f->name);
			return -1;
		}
	}
	return 0;
}

static void print_config(void)
{
	printf("%s %s: configuration ok\n", self->name, SB_VERSION);
	for (int i = 0; i < ntable; i++) {
		const sb_flag *f = table[i];
		if (f->secret) {
			printf("  %s = %s\n", f->name, *(char **)f->dest ? "[set]" : "[unset]");
		} else if (f->type == SB_FLAG_STR) {
			const char *s = *(char **)f->dest;
			printf("  %s = %s\n", f->name, s ? s : "");
		} else if (f->type == SB_FLAG_INT)
			printf("  %s = %ld\n", f->name, *(long *)f->dest);
		else
			printf("  %s = %s\n", f->name, *(bool *)f->dest ? "true" : "false");
	}
}

static void free_strings(void)
{
	for (int i = 0; i < nstrings; i++)
		free(strings[i]);
	nstrings = 0;
	for (int i = 0; i < ntable; i++)
		if (table[i]->type == SB_FLAG_STR)
			*(char **)table[i]->dest = NULL;
}

/* Resolve every flag; run-dir first because other defaults refer to it. */
static int resolve_all(const char **cli)
{
	const sb_flag *rd = find_flag("run-dir", 7);
	if (resolve(rd, cli[flag_index(rd)]) < 0)
		return -1;
	for (int i = 0; i < ntable; i++)
		if (table[i] != rd && resolve(table[i], cli[i]) < 0)
			return -1;
	return 0;
}

static int setup_logging(bool verbose)
{
	if (sb_log_setup(self->name, opt_log_format, opt_log_level) < 0) {
		fprintf(stderr, "%s: --log-format must be text|json and --log-level error|warn|info|debug\n",
			self->name);
		return -1;
	}
	if (verbose)
		sb_log_verbose();
	if (opt_log_file && sb_log_set_file(opt_log_file) < 0) {
		fprintf(stderr, "%s: cannot open log file %s: %s\n", self->name, opt_log_file, strerror(errno));
		return -1;
	}
	return 0;
}

/* Block until SIGTERM/SIGINT; SIGHUP reopens logs. */
static void wait_for_stop(const sigset_t *set)
{
	for (;;) {
		int sig = 0;
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			sb_log_reopen();
			sb_info("daemon.reopened_logs", NULL);
			continue;
		}
		sb_info("daemon.stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
}

int sb_daemon_main(const sb_daemon *d, int argc, char **argv)
{
	self = d;
	clock_gettime(CLOCK_MONOTONIC, &started);
	build_table(d);
	const char *cli[MAX_FLAGS] = {0};
	meta_opts m = {0};
	if (scan_args(argc, argv, cli, &m) < 0)
		return 2;
	if (m.help) {
		usage(stdout);
		return 0;
	}
	if (m.version) {
		printf("%s %s\n", d->name, SB_VERSION);
		return 0;
	}
	/* Block the signals first: any thread started from here on (nng's, ours)
	 * inherits the mask, so only wait_for_stop() ever sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Daemons hold many sockets (the bridge two per call): allow the hard limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	int rc = 2;
	if (resolve_all(cli) < 0 || setup_logging(m.verbose) < 0)
		goto out;
	if (d->check && d->check(d->ctx) < 0)
		goto out;
	if (m.check) {
		print_config();
		rc = 0;
		goto out;
	}

	if (d->init(d->ctx) < 0) {
		sb_error_log("daemon.init_failed", NULL);
		if (d->fini)
			d->fini(d->ctx);
		rc = 1;
		goto out;
	}
	sb_info("daemon.ready", "version=%s pid=%d", SB_VERSION, (int)getpid());
	wait_for_stop(&set);
	if (d->drain)
		d->drain(d->ctx);
	if (d->fini)
		d->fini(d->ctx);
	nng_fini(); /* every socket is closed by now: join nng's threads (clean valgrind runs) */
	sb_info("daemon.stopped", "uptime_ms=%lld", sb_daemon_uptime_ms());
	rc = 0;
out:
	free_strings();
	sb_log_set_file(NULL);
	return rc;
}
