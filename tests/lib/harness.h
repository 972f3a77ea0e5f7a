/*
 * harness.h — what integration tests use to run the real daemons.
 *
 * Each test binary gets a fresh temporary folder (removed at exit unless
 * SBT_KEEP=1) where daemons keep their database, ipc sockets and logs.
 * Readiness is polled over the daemon's real socket (sys.health), never
 * slept for. Binaries come from $SB_BUILD/bin (default build/bin).
 */
#ifndef SB_TEST_HARNESS_H
#define SB_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sb_err.h"
#include "sb_rpc.h"
#include "sb_schema_gen.h"

typedef struct sbt_proc {
	pid_t pid;
	char  name[64];
	char  log[512];
} sbt_proc;

/* The test's temporary folder (created on first call). */
const char *sbt_dir(void);
/* printf into a static-per-call-site buffer owned by the caller: path inside sbt_dir(). */
char *sbt_path(char *buf, size_t len, const char *name);
/* Full path of a built binary, e.g. sbt_bin("sb-store"). */
const char *sbt_bin(const char *name);
/* Start bin with args (NULL-terminated); output goes to <dir>/<binary name>.log. 0 or -1.
 * Every spawned process still running when the test exits is killed. */
int sbt_spawn(sbt_proc *p, const char *bin, const char *const *args);
/* The same, with the log named <dir>/<name>.log (several instances of one binary). */
int sbt_spawn_as(sbt_proc *p, const char *name, const char *bin, const char *const *args);
/* Poll sys.health on url until it answers ok or timeout_ms passes. 0 or -1. */
int sbt_wait_ready(const char *url, int timeout_ms);
/* A free TCP port on 127.0.0.1 (bound to port 0, read back, released). */
int sbt_free_port(void);
/* true if something accepts connections on 127.0.0.1:port right now. */
bool sbt_port_open(int port);
/* Poll until something accepts on 127.0.0.1:port: 0, or -1 once timeout_ms passed. */
int sbt_tcp_ready(int port, int timeout_ms);
/* Send sig and wait up to timeout_ms for exit. Returns the exit status (0..255), 128+signal, or -1 on timeout (then SIGKILLed). */
int sbt_stop(sbt_proc *p, int sig, int timeout_ms);
/* true while the process runs. */
bool sbt_alive(const sbt_proc *p);

/* Start sb-store in sbt_dir() (run dir, db) and wait for it; extra args may be NULL. Fills *url. */
int sbt_start_store(sbt_proc *p, char *url, size_t urllen, const char *const *extra);

/* Call op by name with args (stolen). Returns the reply envelope (owned) or NULL on transport failure (err set). */
json_t *sbt_call(sb_client *c, const char *op, json_t *args, sb_error *err);
/* Call and expect ok: returns data (owned) or NULL. */
json_t *sbt_ok(sb_client *c, const char *op, json_t *args);
/* Call and return the error code name of the reply ("ok" on success, "transport" if none). */
const char *sbt_code(sb_client *c, const char *op, json_t *args);

#endif
