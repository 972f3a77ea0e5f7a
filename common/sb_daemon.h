/*
 * sb_daemon.h — the daemon skeleton every Switchboard main() hands itself to.
 *
 * A daemon describes itself once (name, summary, flag table, hooks) and calls
 * sb_daemon_main(). The skeleton owns what must behave the same everywhere:
 *
 *  - flags: --name VALUE or --name=VALUE, each with an environment-variable
 *    fallback and a default; secrets also read NAME_FILE (container secrets);
 *    --help is generated from the table, --version, --check-config;
 *  - the core flags shared by all daemons: --run-dir, --log-format,
 *    --log-level, --log-file, -v;
 *  - "{run}" in a default is replaced by the run directory, so defaults such
 *    as ipc://{run}/store.sock follow --run-dir;
 *  - the open-files soft limit raised to the hard limit (many sockets);
 *  - signals: SIGTERM/SIGINT → drain hook, then fini hook, exit 0;
 *    SIGHUP → log reopen. All threads the daemon starts inherit a blocked
 *    signal mask; only the main thread waits for signals.
 *
 * Precedence: command line, then environment, then default.
 */
#ifndef SB_DAEMON_H
#define SB_DAEMON_H

#include <stdbool.h>

typedef enum { SB_FLAG_STR, SB_FLAG_INT, SB_FLAG_BOOL } sb_flag_type;

/* One row of a daemon's declarative configuration table. */
typedef struct sb_flag {
	const char  *name;   /* long name without "--", e.g. "store-url" */
	const char  *env;    /* environment fallback, e.g. "SB_STORE_URL" (may be NULL) */
	sb_flag_type type;
	const char  *def;    /* default as text; NULL = unset (empty string / 0 / false) */
	const char  *help;
	void        *dest;   /* char ** (owned by the skeleton), long *, or bool * */
	long         min, max; /* bounds for SB_FLAG_INT when min < max */
	bool         secret; /* never printed; also read from $ENV_FILE */
} sb_flag;

#define SB_FLAGS_END { 0 }

/* What a daemon hands to the skeleton. */
typedef struct sb_daemon {
	const char    *name;    /* binary name, e.g. "sb-store" */
	const char    *summary; /* one line for --help */
	const sb_flag *flags;   /* the daemon's own flags, ended by SB_FLAGS_END */
	/* Validate flag values beyond their types; print why and return -1 on bad config. */
	int  (*check)(void *ctx);
	/* Start sockets and threads; return -1 (after logging why) to exit 1. */
	int  (*init)(void *ctx);
	/* SIGTERM: stop taking work, finish what is in hand. Optional. */
	void (*drain)(void *ctx);
	/* Release everything init made. */
	void (*fini)(void *ctx);
	void *ctx;
} sb_daemon;

/* Run the daemon: parse flags, set up logging and signals, init, wait, drain, fini. Returns the exit code. */
int sb_daemon_main(const sb_daemon *d, int argc, char **argv);
/* Ask the daemon to shut down as if it had received SIGTERM (any thread). */
void sb_daemon_stop(void);
/* The effective run directory (--run-dir). */
const char *sb_run_dir(void);
/* The daemon's name as given in its descriptor. */
const char *sb_daemon_name(void);
/* Milliseconds since the daemon started. */
long long sb_daemon_uptime_ms(void);

#endif
