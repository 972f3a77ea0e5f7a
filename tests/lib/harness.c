/*
 * harness.c — spawn, poll, stop (see harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sb_json.h"
#include "sb_time.h"

static char dir[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

#define MAX_SPAWNED 256
static pid_t spawned[MAX_SPAWNED];
static int nspawned;

/* Kill whatever a failed test left running, so no daemon outlives its test. */
static void kill_spawned(void)
{
	for (int i = 0; i < nspawned; i++)
		if (spawned[i] > 0 && waitpid(spawned[i], NULL, WNOHANG) == 0) {
			kill(spawned[i], SIGKILL);
			waitpid(spawned[i], NULL, 0);
		}
}

static void cleanup(void)
{
	kill_spawned();
	const char *keep = getenv("SBT_KEEP");
	if (dir[0] && !(keep && *keep == '1'))
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *sbt_dir(void)
{
	if (!dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/sbt.XXXXXX", base && *base ? base : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(cleanup);
	}
	return dir;
}

char *sbt_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", sbt_dir(), name);
	return buf;
}

const char *sbt_bin(const char *name)
{
	static __thread char buf[512];
	const char *b = getenv("SB_BUILD");
	snprintf(buf, sizeof buf, "%s/bin/%s", b && *b ? b : "build", name);
	return buf;
}

int sbt_spawn(sbt_proc *p, const char *bin, const char *const *args)
{
	const char *base = strrchr(bin, '/');
	return sbt_spawn_as(p, base ? base + 1 : bin, bin, args);
}

int sbt_spawn_as(sbt_proc *p, const char *name, const char *bin, const char *const *args)
{
	sbt_dir(); /* registers the cleanup before the first child exists */
	snprintf(p->name, sizeof p->name, "%s", name);
	char logname[128];
	snprintf(logname, sizeof logname, "%s.log", p->name);
	sbt_path(p->log, sizeof p->log, logname);
	const char *argv[64] = {bin};
	int n = 1;
	for (int i = 0; args && args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(bin, (char *const *)argv);
		perror("execv");
		_exit(127);
	}
	p->pid = pid;
	if (nspawned < MAX_SPAWNED)
		spawned[nspawned++] = pid;
	return 0;
}

int sbt_wait_ready(const char *url, int timeout_ms)
{
	sb_client_opts o = {.timeout_ms = 200, .resend_ms = 100};
	sb_client *c = sb_client_open(url, &o, NULL);
	if (!c)
		return -1;
	int64_t until = sb_mono_ms() + timeout_ms;
	int rc = -1;
	while (sb_mono_ms() < until) {
		json_t *data = NULL;
		if (sb_client_call(c, &SB_SVC_SYS, SB_SYS_SYS_HEALTH, NULL, &data, NULL) == 0) {
			json_decref(data);
			rc = 0;
			break;
		}
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	sb_client_close(c);
	return rc;
}

bool sbt_alive(const sbt_proc *p)
{
	return p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == 0;
}

int sbt_stop(sbt_proc *p, int sig, int timeout_ms)
{
	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	int64_t until = sb_mono_ms() + timeout_ms;
	int status;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid)
			break;
		if (sb_mono_ms() > until) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = 0;
			return -1;
		}
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	p->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int sbt_start_store(sbt_proc *p, char *url, size_t urllen, const char *const *extra)
{
	char run[300], db[300];
	sbt_path(run, sizeof run, "run");
	sbt_path(db, sizeof db, "store.db");
	snprintf(url, urllen, "ipc://%s/store.sock", run);
	const char *args[40] = {"--run-dir", run, "--db", db};
	int n = 4;
	for (int i = 0; extra && extra[i] && n < 39; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	if (sbt_spawn(p, sbt_bin("sb-store"), args) < 0)
		return -1;
	return sbt_wait_ready(url, 10000);
}

json_t *sbt_call(sb_client *c, const char *op, json_t *args, sb_error *err)
{
	json_t *req = json_pack("{s:s,s:o}", "op", op, "args", args ? args : json_object());
	size_t len;
	char *body = sb_json_dump(req, &len), *raw = NULL;
	json_decref(req);
	size_t rlen;
	int rc = sb_client_call_raw(c, body, len, &raw, &rlen, err);
	free(body);
	if (rc < 0)
		return NULL;
	json_t *reply = json_loadb(raw, rlen, 0, NULL);
	free(raw);
	return reply;
}

json_t *sbt_ok(sb_client *c, const char *op, json_t *args)
{
	sb_error err = {0};
	json_t *reply = sbt_call(c, op, args, &err);
	if (!reply) {
		fprintf(stderr, "sbt_ok %s: transport: %s\n", op, err.message);
		return NULL;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		char *s = json_dumps(reply, JSON_COMPACT);
		fprintf(stderr, "sbt_ok %s: %s\n", op, s);
		free(s);
		json_decref(reply);
		return NULL;
	}
	json_t *data = json_incref(json_object_get(reply, "data"));
	json_decref(reply);
	return data;
}

const char *sbt_code(sb_client *c, const char *op, json_t *args)
{
	static __thread char code[64];
	json_t *reply = sbt_call(c, op, args, NULL);
	if (!reply)
		return "transport";
	if (json_is_true(json_object_get(reply, "ok")))
		snprintf(code, sizeof code, "ok");
	else
		snprintf(code, sizeof code, "%s", sb_json_str(json_object_get(reply, "error"), "code") ?: "?");
	json_decref(reply);
	return code;
}

int sbt_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

bool sbt_port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

int sbt_tcp_ready(int port, int timeout_ms)
{
	int64_t until = sb_mono_ms() + timeout_ms;
	while (!sbt_port_open(port)) {
		if (sb_mono_ms() >= until)
			return -1;
		usleep(20 * 1000); /* polling a process that is still starting */
	}
	return 0;
}
