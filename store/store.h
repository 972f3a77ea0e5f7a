/*
 * store.h — internals shared by the sb-store files (not used elsewhere).
 *
 * sb-store is the only process that opens the database. Requests arrive on
 * its REP socket (common/sb_rpc); reads run on a small pool of threads, each
 * with its own read connection; writes go to one writer thread that commits
 * them in groups (store_writer.c): many concurrent writers share one fsync,
 * and nothing is acknowledged before its commit is durable.
 *
 * An op handler is a plain function over a store_tx:
 *
 *     int op(store_tx *tx, json_t *args, json_t **out, sb_error *err);
 *
 * returning 0 with *out (owned) or -1 with err. Write handlers run inside
 * their own SAVEPOINT of the group's transaction, so a failing op undoes only
 * itself; events they emit (store_emit) are published only after COMMIT.
 *
 * Row mapping: store_one/store_all turn result rows into JSON objects keyed
 * by column name. A column alias suffix converts the value:
 *   "createdAt$time"  ms since epoch → ISO-8601 string
 *   "isActive$bool"   0/1 → false/true
 *   "metadata$json"   JSON text → JSON value
 *   "amountDue$cents" integer cents → number
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "sb_err.h"
#include "sb_schema_gen.h"

typedef struct stmt_cache stmt_cache;

typedef struct store_tx {
	sqlite3    *db;
	stmt_cache *cache;
	int64_t     now;    /* ms since epoch, one value for the whole op */
	json_t     *events; /* [[ev, body], ...] published after commit; NULL for reads */
} store_tx;

typedef int (*store_op_fn)(store_tx *tx, json_t *args, json_t **out, sb_error *err);

/* The op table: store_ops.c, indexed by the generated SB_STORE_* enum. */
extern const store_op_fn STORE_OPS[SB_STORE__COUNT];

/* ---- store_db.c ---------------------------------------------------------- */

/* Open a connection with the house pragmas; readonly for reader threads. NULL with err. */
sqlite3 *store_db_open(const char *path, bool readonly, sb_error *err);
/* Apply pending migrations from the generated table, each in its own transaction. */
int store_db_migrate(sqlite3 *db, sb_error *err);
/* Statement cache of one connection. */
stmt_cache *store_cache_new(sqlite3 *db);
void store_cache_free(stmt_cache *c);

/*
 * Bind-format characters for the helpers below, one per '?' in order:
 *   s  const char *        (NULL → NULL)      I  int64_t
 *   i  int                                     b  int as 0/1
 *   d  double                                  j  json_t * as JSON text (NULL → NULL)
 *   B  json_t * boolean or absent (NULL)       N  json_t * integer or absent (NULL)
 *   D  json_t * number or absent (NULL)
 */
/* Run a statement that returns no rows; returns sqlite3_changes or -1 with err. */
int store_exec(store_tx *tx, sb_error *err, const char *sql, const char *fmt, ...);
/* First row as an object: 1 found (*row owned), 0 no row, -1 error. */
int store_one(store_tx *tx, json_t **row, sb_error *err, const char *sql, const char *fmt, ...);
/* All rows as an array (owned) or NULL with err. */
json_t *store_all(store_tx *tx, sb_error *err, const char *sql, const char *fmt, ...);
/* First column of the first row as an integer (0 if no row); -1 with err on error. */
int64_t store_int(store_tx *tx, sb_error *err, const char *sql, const char *fmt, ...);

/* Queue event ev with body (stolen) for publication after commit. */
void store_emit(store_tx *tx, int ev, json_t *body);

/* Parse an optional ISO-8601 argument: 0 with *ms (def if absent), -1 with err. */
int store_arg_time(json_t *args, const char *key, int64_t def, int64_t *ms, sb_error *err);
/* A time as an ISO-8601 JSON string. */
json_t *store_time_json(int64_t ms);
/* The id argument, or a fresh "<prefix>_…" id written into buf. */
const char *store_arg_id(json_t *args, const char *prefix, char *buf, size_t len);

/* ---- store_numbers.c ------------------------------------------------------ */

/* 1 if s is an E.164 number: '+', then 8..15 digits, the first 1-9. */
int store_e164_ok(const char *s);

/* ---- store_writer.c -------------------------------------------------------- */

typedef struct store_writer store_writer;
struct sb_req;
struct sb_pub;

/* Start the writer thread on its own connection. */
store_writer *store_writer_start(sqlite3 *db, struct sb_pub *pub, int batch_max, sb_error *err);
/* Queue a write op; the writer answers req after the group commits. */
void store_writer_submit(store_writer *w, struct sb_req *req, int op, json_t *args);
/* Finish everything queued, stop the thread, free (does not close db). */
void store_writer_stop(store_writer *w);

#endif
