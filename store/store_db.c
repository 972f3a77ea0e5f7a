/*
 * store_db.c — connections, migrations, the statement cache, and the small
 * query helpers every op handler uses (see store.h for the row mapping).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_id.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_time.h"
#include "store.h"

#define CACHE_SLOTS 512 /* power of two, well above the number of distinct statements */

struct stmt_cache {
	sqlite3 *db;
	struct {
		const char   *sql; /* keyed by address: every statement is a string literal */
		sqlite3_stmt *stmt;
	} slot[CACHE_SLOTS];
};

static int db_fail(sb_error *err, sqlite3 *db, const char *what)
{
	int rc = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
	sb_code c = SB_INTERNAL;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		c = (rc == SQLITE_CONSTRAINT_FOREIGNKEY) ? SB_NOT_FOUND : SB_CONFLICT;
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR)
		c = SB_UNAVAILABLE;
	const char *msg = db ? sqlite3_errmsg(db) : "no database";
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		msg = "a referenced object does not exist";
	return sb_error_set(err, c, "%s: %s", what, msg);
}

sqlite3 *store_db_open(const char *path, bool readonly, sb_error *err)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		db_fail(err, db, path);
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	const char *pragmas = readonly
		? "PRAGMA foreign_keys=ON; PRAGMA cache_size=-8000; PRAGMA temp_store=MEMORY;"
		: "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=10000;"
		  "PRAGMA foreign_keys=ON;"
		  "PRAGMA secure_delete=OFF; PRAGMA journal_size_limit=67108864; PRAGMA cache_size=-16000;"
		  "PRAGMA temp_store=MEMORY;";
	char *msg = NULL;
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		sb_error_set(err, SB_INTERNAL, "%s: %s", path, msg ? msg : "pragma failed");
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

int store_db_migrate(sqlite3 *db, sb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db,
			 "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
			 " applied_at INTEGER NOT NULL) STRICT",
			 NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version),0) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
		return db_fail(err, db, "migrate");
	int have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (have > (int)SB_NMIGRATIONS)
		return sb_error_set(err, SB_INTERNAL, "database schema version %d is newer than this sb-store (%u)",
				    have, SB_NMIGRATIONS);
	for (unsigned i = (unsigned)have; i < SB_NMIGRATIONS; i++) {
		const sb_migration *m = &SB_MIGRATIONS[i];
		char rec[256];
		snprintf(rec, sizeof rec, "INSERT INTO schema_version VALUES (%d, '%s', %lld)", m->version, m->name,
			 (long long)sb_now_ms());
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, rec, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		sb_info("store.migrated", "version=%d name=%s", m->version, m->name);
	}
	return 0;
fail:
	sb_error_set(err, SB_INTERNAL, "migration failed: %s", msg ? msg : "?");
	sqlite3_free(msg);
	return -1;
}

stmt_cache *store_cache_new(sqlite3 *db)
{
	stmt_cache *c = calloc(1, sizeof *c);
	c->db = db;
	return c;
}

void store_cache_free(stmt_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (c->slot[i].stmt)
			sqlite3_finalize(c->slot[i].stmt);
	free(c);
}

/* The cached, reset statement for sql (prepared on first use). */
static sqlite3_stmt *prepare(store_tx *tx, const char *sql, sb_error *err)
{
	stmt_cache *c = tx->cache;
	size_t h = ((uintptr_t)sql >> 3) & (CACHE_SLOTS - 1);
	for (size_t n = 0; n < CACHE_SLOTS; n++, h = (h + 1) & (CACHE_SLOTS - 1)) {
		if (c->slot[h].sql == sql)
			return c->slot[h].stmt;
		if (!c->slot[h].sql) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
				db_fail(err, c->db, "prepare");
				sb_error_log("store.bad_sql", "msg=\"%s\"", sqlite3_errmsg(c->db));
				return NULL;
			}
			c->slot[h].sql = sql;
			c->slot[h].stmt = st;
			return st;
		}
	}
	sb_error_set(err, SB_INTERNAL, "statement cache full");
	return NULL;
}

static int bind(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int rc = SQLITE_OK;
	for (int i = 1; fmt && *fmt && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
			break;
		}
		case 'I': rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t)); break;
		case 'i': rc = sqlite3_bind_int(st, i, va_arg(ap, int)); break;
		case 'b': rc = sqlite3_bind_int(st, i, va_arg(ap, int) ? 1 : 0); break;
		case 'B': { /* optional JSON boolean: absent → NULL */
			json_t *j = va_arg(ap, json_t *);
			rc = json_is_boolean(j) ? sqlite3_bind_int(st, i, json_is_true(j)) : sqlite3_bind_null(st, i);
			break;
		}
		case 'D': { /* optional JSON number: absent → NULL */
			json_t *j = va_arg(ap, json_t *);
			rc = json_is_number(j) ? sqlite3_bind_double(st, i, json_number_value(j)) : sqlite3_bind_null(st, i);
			break;
		}
		case 'N': { /* optional JSON integer: absent → NULL */
			json_t *j = va_arg(ap, json_t *);
			rc = json_is_integer(j) ? sqlite3_bind_int64(st, i, json_integer_value(j)) : sqlite3_bind_null(st, i);
			break;
		}
		case 'd': rc = sqlite3_bind_double(st, i, va_arg(ap, double)); break;
		case 'j': {
			json_t *j = va_arg(ap, json_t *);
			char *s = j ? sb_json_dump(j, NULL) : NULL;
			rc = s ? sqlite3_bind_text(st, i, s, -1, free) : sqlite3_bind_null(st, i);
			break;
		}
		default: rc = SQLITE_MISUSE;
		}
	}
	return rc;
}

static sqlite3_stmt *start(store_tx *tx, sb_error *err, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = prepare(tx, sql, err);
	if (!st)
		return NULL;
	if ((int)strlen(fmt ? fmt : "") != sqlite3_bind_parameter_count(st)) {
		sb_error_log("store.bind_mismatch", "format=%s params=%d", fmt ? fmt : "", sqlite3_bind_parameter_count(st));
		sb_error_set(err, SB_INTERNAL, "statement has %d parameters, format has %zu",
			     sqlite3_bind_parameter_count(st), strlen(fmt ? fmt : ""));
		return NULL;
	}
	if (bind(st, fmt, ap) != SQLITE_OK) {
		db_fail(err, tx->db, "bind");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return NULL;
	}
	return st;
}

static void done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static json_t *column_json(sqlite3_stmt *st, int i, const char *conv)
{
	int t = sqlite3_column_type(st, i);
	if (t == SQLITE_NULL)
		return json_null();
	if (conv && !strcmp(conv, "time"))
		return store_time_json(sqlite3_column_int64(st, i));
	if (conv && !strcmp(conv, "bool"))
		return json_boolean(sqlite3_column_int64(st, i) != 0);
	if (conv && !strcmp(conv, "cents"))
		return json_real((double)sqlite3_column_int64(st, i) / 100.0);
	if (conv && !strcmp(conv, "json")) {
		const char *txt = (const char *)sqlite3_column_text(st, i);
		json_t *j = json_loads(txt, JSON_DECODE_ANY, NULL);
		return j ? j : json_null();
	}
	if (t == SQLITE_INTEGER)
		return json_integer(sqlite3_column_int64(st, i));
	if (t == SQLITE_FLOAT)
		return json_real(sqlite3_column_double(st, i));
	return sb_json_stringn_lossy((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
}

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	int n = sqlite3_column_count(st);
	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(st, i);
		const char *dollar = strchr(name, '$');
		char key[128];
		snprintf(key, sizeof key, "%.*s", dollar ? (int)(dollar - name) : (int)strlen(name), name);
		json_object_set_new(o, key, column_json(st, i, dollar ? dollar + 1 : NULL));
	}
	return o;
}

int store_exec(store_tx *tx, sb_error *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = start(tx, err, sql, fmt, ap);
	va_end(ap);
	if (!st)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	int changes = sqlite3_changes(tx->db);
	if (rc != SQLITE_DONE)
		db_fail(err, tx->db, "write");
	done(st);
	return rc == SQLITE_DONE ? changes : -1;
}

int store_one(store_tx *tx, json_t **row, sb_error *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = start(tx, err, sql, fmt, ap);
	va_end(ap);
	*row = NULL;
	if (!st)
		return -1;
	int rc = sqlite3_step(st), out = 0;
	if (rc == SQLITE_ROW) {
		*row = row_json(st);
		out = 1;
	} else if (rc != SQLITE_DONE) {
		out = db_fail(err, tx->db, "read");
	}
	done(st);
	return out;
}

json_t *store_all(store_tx *tx, sb_error *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = start(tx, err, sql, fmt, ap);
	va_end(ap);
	if (!st)
		return NULL;
	json_t *arr = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, row_json(st));
	if (rc != SQLITE_DONE) {
		db_fail(err, tx->db, "read");
		json_decref(arr);
		arr = NULL;
	}
	done(st);
	return arr;
}

int64_t store_int(store_tx *tx, sb_error *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *st = start(tx, err, sql, fmt, ap);
	va_end(ap);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		v = db_fail(err, tx->db, "read");
	done(st);
	return v;
}

void store_emit(store_tx *tx, int ev, json_t *body)
{
	if (!tx->events) {
		json_decref(body);
		return;
	}
	json_object_set_new(body, "at", store_time_json(tx->now));
	json_array_append_new(tx->events, json_pack("[i,o]", ev, body));
}

int store_arg_time(json_t *args, const char *key, int64_t def, int64_t *ms, sb_error *err)
{
	const char *s = sb_json_str(args, key);
	*ms = def;
	if (!s)
		return 0;
	if (sb_time_parse_iso(s, ms) < 0)
		return sb_error_set(err, SB_INVALID_ARGUMENT, "field '%s' is not an ISO-8601 time", key);
	return 0;
}

json_t *store_time_json(int64_t ms)
{
	char buf[SB_ISO_LEN];
	return json_string(sb_time_iso(ms, buf));
}

const char *store_arg_id(json_t *args, const char *prefix, char *buf, size_t len)
{
	const char *id = sb_json_str(args, "id");
	if (id && *id)
		return id;
	sb_id_new(prefix, buf, len);
	return buf;
}
