/*
 * rag_jobs.c — the indexing queue: rag.index and rag.delete requests, the
 * start-up reconcile and rag.reindex all become jobs here, run by
 * --index-workers threads so that no request thread (and no query) ever
 * waits for an embedding call.
 *
 * Per document there is one slot: the job running, a FIFO of jobs waiting,
 * and at most one retry waiting for its time. Jobs of one document never
 * run at the same time, and run in the order they came, so an older
 * version can never overwrite a newer one. Documents a request is waiting
 * for run before background work (the start-up reconcile, rag.reindex,
 * retries), so one added document does not wait behind a re-index of
 * thousands. Two shortcuts keep the queue small:
 *
 *   - a request identical to the one running or last queued (nng resends a
 *     request whose reply is late) joins it and gets the same answer;
 *   - an index job queued behind another index job of the same document
 *     replaces it (only the newest content matters); the replaced job's
 *     waiters get the newer job's answer.
 *
 * Failures: a transient failure (embedding API down, rate limited, store
 * unreachable) schedules a retry of the document with exponential backoff
 * and jitter (--retry-base-ms doubling up to --retry-max-ms), unless newer
 * work for the document is already queued; it is never dropped, and its
 * status in the store says "failed" with the reason meanwhile. Permanent
 * failures (insufficient_quota, rejected input) are recorded as failed and
 * not retried until the document is indexed again (a new rag.index,
 * rag.reindex, or the reconcile at the next start).
 *
 * Bounded: at most --max-jobs jobs wait (queued plus retrying); beyond
 * that a request is refused with unavailable.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rag.h"
#include "rag_map.h"
#include "sb_hmac.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

typedef enum { JOB_INDEX, JOB_DELETE } job_kind;

typedef struct job {
	job_kind    kind;
	char       *biz; /* may be NULL for a delete */
	char       *doc;
	json_t     *args; /* index: the request's args, or NULL = read the document from the store */
	char        ident[SB_SHA256_LEN * 2 + 1]; /* equal for equal requests */
	sb_req    **waiters;
	int         nwaiters, capwaiters;
	int         attempt; /* failures so far */
	struct job *next;
} job;

typedef struct dslot {
	char         *doc;
	job          *running;
	job          *head, *tail; /* waiting, in order */
	job          *retry;       /* a failed job waiting for retry_at */
	int64_t       retry_at;
	int           ready;       /* the ready list it is in (URGENT, BACKGROUND), or -1 */
	struct dslot *prev_ready, *next_ready;
} dslot;

/* Ready lists: documents a request is waiting for go before background work (reconcile, retries). */
enum { URGENT, BACKGROUND };

typedef struct rlist {
	dslot *head, *tail;
} rlist;

struct rag_jobs {
	rag_ctx        *r;
	pthread_mutex_t mu;
	pthread_cond_t  work, timer;
	rag_map        *slots; /* doc id → dslot* */
	rlist           ready[2];
	int             waiting, retrying, running, max_jobs;
	long            done, failed, retried;
	bool            stop;
	pthread_t      *threads, timer_thread;
	int             nthreads;
	int             retry_base_ms, retry_max_ms;
};

/* ---- jobs ---------------------------------------------------------------------------- */

static job *job_new(job_kind kind, const char *biz, const char *doc, json_t *args)
{
	job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->kind = kind;
	j->biz = biz ? strdup(biz) : NULL;
	j->doc = strdup(doc);
	j->args = args;
	char *dump = args ? sb_json_dump(args, NULL) : NULL;
	unsigned char h[SB_SHA256_LEN];
	char seed[80];
	snprintf(seed, sizeof seed, "%d:%s", (int)kind, dump ? "" : "store");
	sb_sha256(dump ? dump : seed, strlen(dump ? dump : seed), h);
	sb_hex(h, SB_SHA256_LEN, j->ident);
	j->ident[0] = kind == JOB_INDEX ? 'i' : 'd'; /* an index and a delete never compare equal */
	free(dump);
	return j;
}

/* A copy of j without its waiters, to run again later. */
static job *job_copy(const job *j)
{
	job *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	*c = (job){.kind = j->kind, .biz = j->biz ? strdup(j->biz) : NULL, .doc = strdup(j->doc),
		   .args = json_incref(j->args), .attempt = j->attempt};
	memcpy(c->ident, j->ident, sizeof c->ident);
	return c;
}

static void job_free(job *j)
{
	if (!j)
		return;
	json_decref(j->args);
	free(j->biz);
	free(j->doc);
	free(j->waiters);
	free(j);
}

static void add_waiter(job *j, sb_req *req)
{
	if (!req)
		return;
	if (j->nwaiters == j->capwaiters) {
		j->capwaiters = j->capwaiters ? j->capwaiters * 2 : 2;
		j->waiters = realloc(j->waiters, (size_t)j->capwaiters * sizeof *j->waiters);
		if (!j->waiters)
			abort();
	}
	j->waiters[j->nwaiters++] = req;
}

static void move_waiters(job *from, job *to)
{
	for (int i = 0; i < from->nwaiters; i++)
		add_waiter(to, from->waiters[i]);
	from->nwaiters = 0;
}

/* ---- replies and events ------------------------------------------------------------------- */

static json_t *index_reply(const job *j, const rag_result *res, int64_t retry_in)
{
	const char *status = res->outcome == RAG_DONE ? "indexed" : res->recorded ? "failed" : "pending";
	json_t *o = json_pack("{s:s,s:s?,s:s,s:i}", "id", j->doc, "businessId", j->biz, "status", status, "chunks",
			      res->outcome == RAG_DONE ? res->chunks : 0);
	if (res->outcome != RAG_DONE) {
		char e[sizeof res->err.message + 32];
		snprintf(e, sizeof e, "%s: %s", sb_code_name(res->err.code), res->err.message);
		json_object_set_new(o, "error", sb_json_string_or_null(e));
		json_object_set_new(o, "retry", json_boolean(retry_in >= 0));
		if (retry_in >= 0)
			json_object_set_new(o, "retryInMs", json_integer(retry_in));
	}
	return o;
}

/* Answer every waiter of j with the outcome (retry_in ≥ 0: a retry is scheduled). */
static void answer(job *j, const rag_result *res, int64_t retry_in)
{
	for (int i = 0; i < j->nwaiters; i++) {
		sb_req *req = j->waiters[i];
		if (res->outcome == RAG_GONE || res->outcome == RAG_REFUSED)
			sb_req_fail_err(req, &res->err);
		else if (j->kind == JOB_DELETE && res->outcome != RAG_DONE && retry_in >= 0)
			sb_req_fail(req, SB_UNAVAILABLE, "%s (will retry)", res->err.message);
		else if (j->kind == JOB_DELETE && res->outcome != RAG_DONE)
			sb_req_fail_err(req, &res->err);
		else if (j->kind == JOB_DELETE)
			sb_req_ok(req, json_pack("{s:s,s:b}", "id", j->doc, "deleted", res->existed));
		else
			sb_req_ok(req, index_reply(j, res, retry_in));
	}
	j->nwaiters = 0;
}

static void publish(rag_jobs *q, const job *j, const rag_result *res, bool retry)
{
	rag_ctx *r = q->r;
	if (res->outcome == RAG_DONE && j->kind == JOB_INDEX) {
		sb_counter_inc(r->m.indexed);
		rag_publish(r, SB_EV_RAG_INDEXED, json_pack("{s:s,s:s?,s:i}", "id", j->doc, "businessId", j->biz,
							    "chunks", res->chunks));
	} else if (res->outcome == RAG_DONE && res->existed) {
		sb_counter_inc(r->m.deleted);
		rag_publish(r, SB_EV_RAG_DELETED, json_pack("{s:s,s:s?}", "id", j->doc, "businessId", j->biz));
	} else if (res->outcome == RAG_RETRY || res->outcome == RAG_FAILED) {
		sb_counter_inc(r->m.index_failed);
		rag_publish(r, SB_EV_RAG_FAILED, json_pack("{s:s,s:s?,s:s,s:b}", "id", j->doc, "businessId", j->biz,
							   "error", res->err.message, "retry", retry));
	}
}

/* ---- the queue (caller holds q->mu) -------------------------------------------------------- */

static dslot *slot_of(rag_jobs *q, const char *doc)
{
	dslot *s = rag_map_gets(q->slots, doc);
	if (!s) {
		s = calloc(1, sizeof *s);
		s->doc = strdup(doc);
		s->ready = -1;
		rag_map_puts(q->slots, doc, s);
	}
	return s;
}

static void unready(rag_jobs *q, dslot *s)
{
	rlist *l = &q->ready[s->ready];
	if (s->prev_ready)
		s->prev_ready->next_ready = s->next_ready;
	else
		l->head = s->next_ready;
	if (s->next_ready)
		s->next_ready->prev_ready = s->prev_ready;
	else
		l->tail = s->prev_ready;
	s->prev_ready = s->next_ready = NULL;
	s->ready = -1;
}

/* Put a document with queued work (and nothing running) in the right ready list. */
static void make_ready(rag_jobs *q, dslot *s)
{
	if (s->running || !s->head)
		return;
	int want = BACKGROUND;
	for (job *j = s->head; j && want == BACKGROUND; j = j->next)
		want = j->nwaiters ? URGENT : BACKGROUND;
	if (s->ready == want)
		return;
	if (s->ready >= 0)
		unready(q, s);
	rlist *l = &q->ready[want];
	s->ready = want;
	s->prev_ready = l->tail;
	if (l->tail)
		l->tail->next_ready = s;
	else
		l->head = s;
	l->tail = s;
	pthread_cond_signal(&q->work);
}

static void drop_slot_if_idle(rag_jobs *q, dslot *s)
{
	if (s->running || s->head || s->retry || s->ready >= 0)
		return;
	rag_map_dels(q->slots, s->doc);
	free(s->doc);
	free(s);
}

/* A pending retry is superseded by new work for the same document. */
static void cancel_retry(rag_jobs *q, dslot *s)
{
	if (!s->retry)
		return;
	job_free(s->retry);
	s->retry = NULL;
	q->retrying--;
}

/* Put j behind the document's queue, joining or replacing an equivalent job. */
static void enqueue(rag_jobs *q, dslot *s, job *j, sb_req *req)
{
	if (s->tail && !strcmp(s->tail->ident, j->ident)) {
		add_waiter(s->tail, req);
		job_free(j);
		make_ready(q, s); /* a request now waits: it may become urgent */
		return;
	}
	if (!s->head && s->running && !strcmp(s->running->ident, j->ident)) {
		add_waiter(s->running, req);
		job_free(j);
		return;
	}
	add_waiter(j, req);
	if (s->tail && s->tail->kind == JOB_INDEX && j->kind == JOB_INDEX) {
		move_waiters(s->tail, j); /* an older version nobody needs any more */
		job *prev = s->head;
		while (prev != s->tail && prev->next != s->tail)
			prev = prev->next;
		if (prev == s->tail)
			s->head = j;
		else
			prev->next = j;
		job_free(s->tail);
		q->waiting--;
	} else if (s->tail) {
		s->tail->next = j;
	} else {
		s->head = j;
	}
	s->tail = j;
	q->waiting++;
	cancel_retry(q, s);
	make_ready(q, s);
}

/* Queue j for req unless stopping or full; answers req itself when refusing. */
static int submit(rag_jobs *q, job *j, sb_req *req)
{
	pthread_mutex_lock(&q->mu);
	const char *why = q->stop ? "sb-rag-worker is shutting down"
		: q->waiting + q->retrying >= q->max_jobs ? "the indexing queue is full" : NULL;
	if (!why)
		enqueue(q, slot_of(q, j->doc), j, req);
	pthread_mutex_unlock(&q->mu);
	if (!why)
		return 0;
	if (req)
		sb_req_fail(req, SB_UNAVAILABLE, "%s", why);
	job_free(j);
	return -1;
}

int rag_jobs_index(rag_jobs *q, sb_req *req, const char *biz, const char *doc, json_t *args)
{
	return submit(q, job_new(JOB_INDEX, biz, doc, args), req);
}

int rag_jobs_delete(rag_jobs *q, sb_req *req, const char *biz, const char *doc)
{
	return submit(q, job_new(JOB_DELETE, biz, doc, NULL), req);
}

/* ---- workers ---------------------------------------------------------------------------------- */

/* The next job to run (urgent ones first), marked running; NULL when stopping. */
static job *take(rag_jobs *q, dslot **sp)
{
	while (!q->stop && !q->ready[URGENT].head && !q->ready[BACKGROUND].head)
		pthread_cond_wait(&q->work, &q->mu);
	if (q->stop)
		return NULL;
	dslot *s = q->ready[URGENT].head ? q->ready[URGENT].head : q->ready[BACKGROUND].head;
	unready(q, s);
	job *j = s->head;
	s->head = j->next;
	if (!s->head)
		s->tail = NULL;
	j->next = NULL;
	s->running = j;
	q->waiting--;
	q->running++;
	*sp = s;
	return j;
}

static void run(rag_jobs *q, job *j, rag_result *res)
{
	if (j->kind == JOB_INDEX)
		rag_index_document(q->r, j->biz, j->doc, j->args, res);
	else
		rag_delete_document(q->r, j->biz, j->doc, res);
}

/* Backoff before retry number `attempt` (1-based): base × 2^(attempt-1) capped, minus up to 20% jitter. */
static int64_t retry_delay(const rag_jobs *q, int attempt)
{
	int64_t ms = q->retry_base_ms;
	for (int i = 1; i < attempt && ms < q->retry_max_ms; i++)
		ms *= 2;
	if (ms > q->retry_max_ms)
		ms = q->retry_max_ms;
	return ms - (ms / 5) * (sb_mono_us() % 1000) / 1000;
}

/* After a run (lock held): schedule a retry if needed; returns the delay or -1. */
static int64_t settle(rag_jobs *q, dslot *s, job *j, const rag_result *res)
{
	s->running = NULL;
	q->running--;
	q->done++;
	bool transient = res->outcome == RAG_RETRY;
	if (!transient || q->stop || s->head) {
		q->failed += res->outcome == RAG_FAILED;
		return -1;
	}
	j->attempt++;
	int64_t delay = retry_delay(q, j->attempt);
	s->retry = job_copy(j);
	s->retry_at = sb_mono_ms() + delay;
	q->retrying++;
	q->retried++;
	sb_counter_inc(q->r->m.index_retries);
	pthread_cond_signal(&q->timer);
	return delay;
}

static void *worker_main(void *arg)
{
	rag_jobs *q = arg;
	pthread_mutex_lock(&q->mu);
	dslot *s;
	job *j;
	while ((j = take(q, &s))) {
		pthread_mutex_unlock(&q->mu);
		rag_result res;
		run(q, j, &res);
		pthread_mutex_lock(&q->mu);
		int64_t retry_in = settle(q, s, j, &res); /* after this nobody else can reach j */
		make_ready(q, s);
		drop_slot_if_idle(q, s);
		sb_gauge_set(q->r->m.retry_queue, q->retrying);
		pthread_mutex_unlock(&q->mu);
		answer(j, &res, retry_in); /* outside the lock: replies go to nng */
		publish(q, j, &res, retry_in >= 0);
		job_free(j);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* ---- retry timer ------------------------------------------------------------------------------- */

/* Queue the retries that are due; returns the earliest future due time, or -1. */
static int64_t release_due(rag_jobs *q, int64_t now)
{
	int64_t next = -1;
	rag_map_iter it = rag_map_iterate(q->slots);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		dslot *s = v;
		if (!s->retry)
			continue;
		if (s->retry_at > now) {
			next = next < 0 || s->retry_at < next ? s->retry_at : next;
			continue;
		}
		job *j = s->retry;
		s->retry = NULL;
		q->retrying--;
		j->next = NULL; /* the queue is empty: a retry only waits while nothing newer is queued */
		s->head = s->tail = j;
		q->waiting++;
		make_ready(q, s);
	}
	return next;
}

static void *timer_main(void *arg)
{
	rag_jobs *q = arg;
	pthread_mutex_lock(&q->mu);
	while (!q->stop) {
		int64_t next = release_due(q, sb_mono_ms());
		if (next < 0) {
			pthread_cond_wait(&q->timer, &q->mu);
			continue;
		}
		int64_t ms = next - sb_mono_ms();
		struct timespec ts = sb_timespec_in(CLOCK_MONOTONIC, ms < 1 ? 1 : ms);
		pthread_cond_timedwait(&q->timer, &q->mu, &ts);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------------------ */

rag_jobs *rag_jobs_start(rag_ctx *r, int nthreads, int max_jobs, int retry_base_ms, int retry_max_ms)
{
	rag_jobs *q = calloc(1, sizeof *q);
	if (!q)
		abort();
	q->r = r;
	q->max_jobs = max_jobs;
	q->retry_base_ms = retry_base_ms;
	q->retry_max_ms = retry_max_ms;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->timer, &ca);
	pthread_condattr_destroy(&ca);
	q->slots = rag_map_new();
	q->nthreads = nthreads;
	q->threads = calloc((size_t)nthreads, sizeof *q->threads);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&q->threads[i], NULL, worker_main, q);
	pthread_create(&q->timer_thread, NULL, timer_main, q);
	return q;
}

json_t *rag_jobs_stats(rag_jobs *q)
{
	pthread_mutex_lock(&q->mu);
	json_t *o = json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:i}", "running", q->running, "queued", q->waiting,
			      "retrying", q->retrying, "done", (json_int_t)q->done, "failed", (json_int_t)q->failed,
			      "retries", (json_int_t)q->retried, "maxJobs", q->max_jobs);
	pthread_mutex_unlock(&q->mu);
	return o;
}

/* Answer the waiters of every queued job (not the running ones) and free the queue. */
static void refuse_waiting(rag_jobs *q)
{
	rag_map_iter it = rag_map_iterate(q->slots);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		dslot *s = v;
		for (job *j = s->head, *next; j; j = next) {
			next = j->next;
			for (int i = 0; i < j->nwaiters; i++)
				sb_req_fail(j->waiters[i], SB_UNAVAILABLE, "sb-rag-worker is shutting down");
			job_free(j);
		}
		s->head = s->tail = NULL;
		cancel_retry(q, s);
	}
}

void rag_jobs_stop(rag_jobs *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->timer);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL); /* running jobs finish (their HTTP calls are canceled) */
	pthread_join(q->timer_thread, NULL);
	pthread_mutex_lock(&q->mu);
	refuse_waiting(q);
	pthread_mutex_unlock(&q->mu);
}

void rag_jobs_free(rag_jobs *q)
{
	if (!q)
		return;
	rag_map_iter it = rag_map_iterate(q->slots);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		free(((dslot *)v)->doc);
		free(v);
	}
	rag_map_free(q->slots);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->timer);
	free(q->threads);
	free(q);
}
