/*
 * store_writer.c — the single writer thread and its group commit.
 *
 * Write requests queue up while the previous group is committing. The writer
 * takes everything queued (up to batch_max), runs each op in its own
 * SAVEPOINT inside one BEGIN IMMEDIATE transaction, COMMITs once (one WAL
 * fsync with synchronous=FULL), and only then answers the requests and
 * publishes their events. So N concurrent writers share one fsync, and an
 * acknowledged write is on disk: it survives kill -9.
 */
#include <pthread.h>
#include <stdlib.h>

#include "sb_events.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_rpc.h"
#include "sb_time.h"
#include "store.h"

typedef struct wreq {
	sb_req      *req;
	int          op;
	json_t      *args;
	json_t      *out;
	json_t      *events;
	sb_error     err;
	int          rc;
	struct wreq *next;
} wreq;

struct store_writer {
	sqlite3        *db;
	stmt_cache     *cache;
	sb_pub         *pub;
	int             batch_max;
	pthread_t       thread;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	wreq           *head, *tail;
	bool            stop;
	bool            idle; /* waiting for work: only then does a submit need to wake it */
	sb_metric      *m_batch, *m_commit_ms, *m_commit_fail;
};

static const double BATCH_BOUNDS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

/* Run a transaction-control statement (prepared once, from the writer's statement cache). */
static int exec_simple(store_writer *w, const char *sql)
{
	store_tx tx = {.db = w->db, .cache = w->cache};
	return store_exec(&tx, NULL, sql, "") < 0 ? -1 : 0;
}

/* Run one op inside its savepoint. */
static void run_one(store_writer *w, wreq *r)
{
	store_tx tx = {.db = w->db, .cache = w->cache, .now = sb_now_ms(), .events = json_array()};
	exec_simple(w, "SAVEPOINT op");
	r->rc = STORE_OPS[r->op](&tx, r->args, &r->out, &r->err);
	if (r->rc == 0) {
		exec_simple(w, "RELEASE op");
		r->events = tx.events;
	} else {
		exec_simple(w, "ROLLBACK TO op");
		exec_simple(w, "RELEASE op");
		json_decref(tx.events);
		json_decref(r->out);
		r->out = NULL;
	}
}

/* Answer and free every request of a group. */
static void answer(store_writer *w, wreq *list, bool committed, const char *why)
{
	while (list) {
		wreq *r = list;
		list = r->next;
		if (!committed) {
			json_decref(r->out);
			sb_req_fail(r->req, SB_UNAVAILABLE, "commit failed: %s", why);
		} else if (r->rc == 0) {
			size_t i;
			json_t *ev;
			json_array_foreach(r->events, i, ev)
				sb_publish(w->pub, (int)json_integer_value(json_array_get(ev, 0)),
					   json_incref(json_array_get(ev, 1)));
			sb_req_ok(r->req, r->out);
		} else {
			sb_req_fail_err(r->req, &r->err);
		}
		json_decref(r->events);
		free(r);
	}
}

static void commit_group(store_writer *w, wreq *list, int n)
{
	int64_t t0 = sb_mono_us();
	if (exec_simple(w, "BEGIN IMMEDIATE") < 0) {
		answer(w, list, false, sqlite3_errmsg(w->db));
		sb_counter_inc(w->m_commit_fail);
		return;
	}
	for (wreq *r = list; r; r = r->next)
		run_one(w, r);
	if (exec_simple(w, "COMMIT") < 0) {
		char why[256];
		snprintf(why, sizeof why, "%s", sqlite3_errmsg(w->db));
		exec_simple(w, "ROLLBACK");
		sb_error_log("store.commit_failed", "ops=%d msg=\"%s\"", n, why);
		sb_counter_inc(w->m_commit_fail);
		answer(w, list, false, why);
		return;
	}
	sb_histogram_observe(w->m_batch, n);
	sb_histogram_observe(w->m_commit_ms, (double)(sb_mono_us() - t0) / 1000.0);
	answer(w, list, true, NULL);
}

static void *writer_main(void *arg)
{
	store_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop) {
			w->idle = true;
			pthread_cond_wait(&w->cv, &w->mu);
			w->idle = false;
		}
		if (!w->head)
			break;
		wreq *list = w->head, *last = list;
		int n = 1;
		while (last->next && n < w->batch_max) {
			last = last->next;
			n++;
		}
		w->head = last->next;
		if (!w->head)
			w->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&w->mu);
		commit_group(w, list, n);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

store_writer *store_writer_start(sqlite3 *db, sb_pub *pub, int batch_max, sb_error *err)
{
	store_writer *w = calloc(1, sizeof *w);
	w->db = db;
	w->cache = store_cache_new(db);
	w->pub = pub;
	w->batch_max = batch_max > 0 ? batch_max : 256;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->m_batch = sb_histogram("sb_store_commit_batch_ops", "Write ops per group commit.", NULL, BATCH_BOUNDS,
				  sizeof BATCH_BOUNDS / sizeof BATCH_BOUNDS[0]);
	w->m_commit_ms = sb_histogram("sb_store_commit_duration_ms", "Time to run and commit one group.", NULL,
				      SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
	w->m_commit_fail = sb_counter("sb_store_commit_failures_total", "Groups whose commit failed.", NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		store_cache_free(w->cache);
		free(w);
		sb_error_set(err, SB_INTERNAL, "cannot start the writer thread");
		return NULL;
	}
	return w;
}

void store_writer_submit(store_writer *w, sb_req *req, int op, json_t *args)
{
	wreq *r = calloc(1, sizeof *r);
	r->req = req;
	r->op = op;
	r->args = args;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = r;
	else
		w->head = r;
	w->tail = r;
	if (w->idle)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void store_writer_stop(store_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	store_cache_free(w->cache);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
