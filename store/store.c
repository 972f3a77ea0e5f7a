/*
 * store.c — sb-store: main and wiring.
 *
 * Sockets: REP on --listen (every op of schemas/store.json), PUB on --events
 * (a change event per committed write). Owns --db: opens it, migrates it,
 * and is the only process that ever touches it.
 *
 * Threads: nng's (request intake), --readers reader threads (each with its
 * own read-only connection, opened on first use), one writer (store_writer.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sb_daemon.h"
#include "sb_events.h"
#include "sb_fs.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_rpc.h"
#include "sb_time.h"
#include "store.h"

#define MAX_READERS 32

static struct {
	char *listen, *events, *db;
	long  readers, batch_max, max_msg;
} cfg;

static const sb_flag flags[] = {
	{"listen", "SB_STORE_LISTEN", SB_FLAG_STR, "ipc://{run}/store.sock", "REP socket for requests", &cfg.listen, 0, 0, false},
	{"events", "SB_STORE_EVENTS", SB_FLAG_STR, "ipc://{run}/store-events.sock", "PUB socket for change events", &cfg.events, 0, 0, false},
	{"db", "SB_DB", SB_FLAG_STR, "./var/switchboard.db", "the SQLite database file", &cfg.db, 0, 0, false},
	{"readers", "SB_STORE_READERS", SB_FLAG_INT, "4", "reader threads (each with its own connection)", &cfg.readers, 1, MAX_READERS, false},
	{"batch-max", "SB_STORE_BATCH_MAX", SB_FLAG_INT, "512", "most write ops sharing one commit", &cfg.batch_max, 1, 100000, false},
	{"max-request", "SB_STORE_MAX_REQUEST", SB_FLAG_INT, "1048576", "largest request in bytes", &cfg.max_msg, 1024, 16 << 20, false},
	SB_FLAGS_END,
};

static struct {
	sqlite3        *wdb;
	store_writer   *writer;
	sb_pub         *pub;
	sb_rpc_server  *rpc;
	pthread_mutex_t mu;
	sqlite3        *rdb[MAX_READERS];
	stmt_cache     *rcache[MAX_READERS];
	int             nreaders;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER};

static __thread int reader_slot = -1;

/* This thread's read connection, opened on first use. */
static int reader_tx(store_tx *tx, sb_error *err)
{
	if (reader_slot < 0) {
		sqlite3 *db = store_db_open(cfg.db, true, err);
		if (!db)
			return -1;
		pthread_mutex_lock(&st.mu);
		reader_slot = st.nreaders++;
		st.rdb[reader_slot] = db;
		st.rcache[reader_slot] = store_cache_new(db);
		pthread_mutex_unlock(&st.mu);
	}
	tx->db = st.rdb[reader_slot];
	tx->cache = st.rcache[reader_slot];
	tx->now = sb_now_ms();
	tx->events = NULL;
	return 0;
}

/* Every op arrives here: writes go to the writer, reads run now on this reader thread. */
static void dispatch(sb_req *req, json_t *args, void *ctx)
{
	int op = sb_req_op(req);
	if (SB_SVC_STORE.ops[op].writes) {
		store_writer_submit(st.writer, req, op, args);
		return;
	}
	store_tx tx;
	sb_error err = {0};
	json_t *out = NULL;
	if (reader_tx(&tx, &err) < 0 || STORE_OPS[op](&tx, args, &out, &err) < 0)
		sb_req_fail_err(req, &err);
	else
		sb_req_ok(req, out);
}

static int store_init(void *ctx)
{
	sb_error err = {0};
	static sb_op_fn handlers[SB_STORE__COUNT];
	for (int i = 0; i < SB_STORE__COUNT; i++)
		handlers[i] = STORE_OPS[i] ? dispatch : NULL;
	if (sb_mkdirs_parent(cfg.db) < 0) {
		sb_error_log("store.db_dir", "db=%s err=\"%s\"", cfg.db, strerror(errno));
		return -1;
	}
	if (!(st.wdb = store_db_open(cfg.db, false, &err)) || store_db_migrate(st.wdb, &err) < 0)
		goto fail;
	if (!(st.pub = sb_pub_open(cfg.events, &err)))
		goto fail;
	if (!(st.writer = store_writer_start(st.wdb, st.pub, (int)cfg.batch_max, &err)))
		goto fail;
	sb_rpc_config rc = {.url = cfg.listen, .service = &SB_SVC_STORE, .handlers = handlers,
			    .nctx = 256, .nthreads = (int)cfg.readers, .max_msg = (size_t)cfg.max_msg,
			    .inline_writes = true /* dispatch() only queues writes for the writer */};
	if (sb_rpc_server_start(&rc, &st.rpc, &err) < 0)
		goto fail;
	sb_info("store.open", "db=%s migrations=%u", cfg.db, SB_NMIGRATIONS);
	return 0;
fail:
	sb_error_log("store.init_failed", "code=%s msg=\"%s\"", sb_code_name(err.code), err.message);
	return -1;
}

static void store_fini(void *ctx)
{
	sb_rpc_server_stop(st.rpc); /* answers everything in flight (the writer is still running) */
	store_writer_stop(st.writer);
	for (int i = 0; i < st.nreaders; i++) {
		store_cache_free(st.rcache[i]);
		sqlite3_close(st.rdb[i]);
	}
	if (st.wdb) {
		sqlite3_exec(st.wdb, "PRAGMA optimize", NULL, NULL, NULL);
		sqlite3_close(st.wdb);
	}
	sb_pub_close(st.pub);
	sb_metrics_free_all();
}

static int store_check(void *ctx)
{
	for (int i = 0; i < SB_STORE__COUNT; i++)
		if (!STORE_OPS[i]) {
			fprintf(stderr, "sb-store: no handler for op %s\n", SB_SVC_STORE.ops[i].name);
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-store",
		.summary = "owns the Switchboard database and serves every read and write over nng",
		.flags = flags,
		.check = store_check,
		.init = store_init,
		.fini = store_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
