/*
 * scheduler_run.c — when outreach happens: the timer, the job queue and the
 * workers.
 *
 * Threads:
 *   timer     sleeps on a monotonic condition variable; every --interval it
 *             queues one LIST job (unless the previous run is still being
 *             worked through). It never touches the network.
 *   workers   (--workers) take jobs off the queue and do all blocking work:
 *             LIST asks the store for the due payers (payers.due) and queues
 *             one PAYER job each; PAYER evaluates and contacts one payer
 *             (scheduler_attempt.c) and answers the trigger request if the
 *             job came from outreach.trigger; a PAYER job made by
 *             outreach.reconcile only brings the payer's placed calls up to
 *             date from the call log (it contacts nobody).
 *   nng's     outreach.trigger only queues a job (never blocks); the reply
 *             is sent by the worker when the payer is done. outreach.reconcile
 *             is answered as soon as it is queued (or found already queued).
 *
 * One job per payer at a time: a worker skips queued jobs whose payer is
 * being worked on by another worker, so two evaluations of one payer never
 * overlap inside this process (the store's unique claim covers the rest).
 * The queue is bounded (--queue); a trigger that does not fit is answered
 * unavailable at once.
 *
 * Shutdown: stop() wakes everyone; each worker finishes the payer in hand
 * (its attempt is completed in the store) and exits; queued triggers are
 * answered unavailable.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_schema_gen.h"
#include "sb_time.h"
#include "scheduler.h"

#define PAYER_ID_MAX 64
#define DUE_LIMIT    10000 /* payers per run (the store's maximum for payers.due) */

typedef enum { JOB_LIST, JOB_PAYER } job_kind;

typedef struct job_item {
	job_kind kind;
	bool     from_run;   /* part of a timer run (counted in run_pending) */
	bool     reconcile;  /* PAYER: only reconcile its calls with the call log (outreach.reconcile) */
	char     payer_id[PAYER_ID_MAX + 1];
	int64_t  now;        /* injected clock or 0 */
	sb_req  *req;        /* trigger to answer, or NULL */
} job_item;

struct sched_runner {
	sched          *s;
	int64_t         interval_ms;
	pthread_mutex_t mu;
	pthread_cond_t  work_cv, timer_cv;
	job_item       *q;
	size_t          n, cap;
	char          (*active)[PAYER_ID_MAX + 1]; /* payer in hand per worker ("" = idle) */
	int             nworkers, nstarted;
	pthread_t       timer, *workers;
	bool            stop, timer_started;
	/* run statistics, under mu */
	long            runs, run_pending, run_payers;
	int64_t         run_started_ms, last_run_at, next_run_at;
	sb_metric      *m_queue;
};

/* Append a job; -1 when the queue is full. Caller holds mu. */
static int push(sched_runner *r, const job_item *it)
{
	if (r->n == r->cap)
		return -1;
	r->q[r->n++] = *it;
	pthread_cond_signal(&r->work_cv);
	sb_gauge_set(r->m_queue, (double)r->n);
	return 0;
}

static bool payer_active(const sched_runner *r, const char *id)
{
	for (int i = 0; i < r->nworkers; i++)
		if (!strcmp(r->active[i], id))
			return true;
	return false;
}

/* Take the oldest job whose payer nobody is working on. Caller holds mu. */
static bool pop(sched_runner *r, job_item *out)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->q[i].kind == JOB_PAYER && payer_active(r, r->q[i].payer_id))
			continue;
		*out = r->q[i];
		memmove(&r->q[i], &r->q[i + 1], (r->n - i - 1) * sizeof *r->q);
		r->n--;
		sb_gauge_set(r->m_queue, (double)r->n);
		return true;
	}
	return false;
}

/* LIST: queue every due payer as part of this run. */
static void list_due(sched_runner *r)
{
	json_t *data = NULL;
	sb_error err = {0};
	if (store_payers_due(r->s->store, json_pack("{s:i}", "limit", DUE_LIMIT), &data, &err) < 0) {
		sb_warn("sched.run_failed", "code=%s msg=\"%s\"", sb_code_name(err.code), err.message);
		return;
	}
	size_t i, queued = 0;
	json_t *p;
	pthread_mutex_lock(&r->mu);
	json_array_foreach(json_object_get(data, "items"), i, p) {
		job_item it = {.kind = JOB_PAYER, .from_run = true};
		snprintf(it.payer_id, sizeof it.payer_id, "%s", sb_json_str(p, "id"));
		if (push(r, &it) == 0)
			queued++;
	}
	r->run_pending += (long)queued;
	r->run_payers = (long)queued;
	pthread_mutex_unlock(&r->mu);
	json_decref(data);
	sb_debug("sched.run_listed", "payers=%zu", queued);
}

/* A run's last payer is done: record and publish it. Caller holds mu. */
static void run_finished(sched_runner *r)
{
	char at[SB_ISO_LEN];
	int64_t ms = sb_mono_ms() - r->run_started_ms;
	r->last_run_at = sb_now_ms();
	sb_info("sched.run_done", "payers=%ld duration_ms=%lld", r->run_payers, (long long)ms);
	sb_publish(r->s->pub, SB_EV_OUTREACH_RUN,
		   json_pack("{s:I,s:I,s:s}", "payers", (json_int_t)r->run_payers, "durationMs", (json_int_t)ms, "at",
			     sb_time_iso(r->last_run_at, at)));
}

/* Answer a trigger with the outcome (steals it). */
static void answer(sb_req *req, json_t *res)
{
	const char *result = sb_json_str(res, "result");
	if (result && !strcmp(result, "error")) {
		const char *code = sb_json_str(res, "code");
		sb_req_fail(req, code ? sb_code_parse(code) : SB_UNAVAILABLE, "%s", sb_json_str(res, "reason"));
		json_decref(res);
		return;
	}
	sb_req_ok(req, res);
}

static void run_job(sched_runner *r, int slot, job_item *it)
{
	if (it->kind == JOB_LIST) {
		list_due(r);
		return;
	}
	if (it->reconcile) {
		sched_reconcile_payer(r->s, it->payer_id);
	} else {
		json_t *res = sched_process_payer(r->s, it->payer_id, it->now);
		if (it->req)
			answer(it->req, res);
		else
			json_decref(res);
	}
	pthread_mutex_lock(&r->mu);
	r->active[slot][0] = '\0';
	pthread_cond_broadcast(&r->work_cv); /* a job for this payer may now run */
	if (it->from_run && --r->run_pending == 0)
		run_finished(r);
	pthread_mutex_unlock(&r->mu);
}

typedef struct worker_arg {
	sched_runner *r;
	int           slot;
} worker_arg;

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	sched_runner *r = wa->r;
	int slot = wa->slot;
	free(wa);
	job_item it;
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		if (!pop(r, &it)) {
			pthread_cond_wait(&r->work_cv, &r->mu);
			continue;
		}
		if (it.kind == JOB_PAYER)
			snprintf(r->active[slot], sizeof r->active[slot], "%s", it.payer_id);
		pthread_mutex_unlock(&r->mu);
		run_job(r, slot, &it);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Start a run unless the previous one is still in progress. Caller holds mu. */
static void tick(sched_runner *r)
{
	if (r->run_pending > 0) {
		sb_debug("sched.run_skipped", "pending=%ld", r->run_pending);
		return;
	}
	job_item it = {.kind = JOB_LIST};
	if (push(r, &it) == 0) {
		r->runs++;
		r->run_started_ms = sb_mono_ms();
	}
}

static void *timer(void *arg)
{
	sched_runner *r = arg;
	pthread_mutex_lock(&r->mu);
	int64_t next = sb_mono_ms();
	while (!r->stop) {
		int64_t now = sb_mono_ms();
		if (now >= next) {
			tick(r);
			next = now + r->interval_ms;
			r->next_run_at = sb_now_ms() + r->interval_ms;
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = (int64_t)ts.tv_nsec + (next - now) * 1000000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&r->timer_cv, &r->mu, &ts);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void init_sync(sched_runner *r)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->work_cv, NULL);
	pthread_cond_init(&r->timer_cv, &ca);
	pthread_condattr_destroy(&ca);
}

sched_runner *sched_runner_start(sched *s, long interval_s, int nworkers, size_t queue_cap, sb_error *err)
{
	sched_runner *r = calloc(1, sizeof *r);
	r->s = s;
	r->interval_ms = interval_s * 1000;
	r->cap = queue_cap;
	r->q = calloc(r->cap, sizeof *r->q);
	r->nworkers = nworkers;
	r->active = calloc((size_t)nworkers, sizeof *r->active);
	r->workers = calloc((size_t)nworkers, sizeof *r->workers);
	r->m_queue = sb_gauge("sb_outreach_queue", "jobs waiting for a worker", NULL);
	init_sync(r);
	for (; r->nstarted < nworkers; r->nstarted++) {
		worker_arg *wa = malloc(sizeof *wa);
		*wa = (worker_arg){r, r->nstarted};
		if (pthread_create(&r->workers[r->nstarted], NULL, worker, wa) != 0) {
			free(wa);
			sb_error_set(err, SB_INTERNAL, "cannot start worker threads");
			sched_runner_stop(r);
			sched_runner_free(r);
			return NULL;
		}
	}
	r->timer_started = interval_s > 0 && pthread_create(&r->timer, NULL, timer, r) == 0;
	return r;
}

void sched_runner_trigger(sched_runner *r, const char *payer_id, int64_t now, sb_req *req)
{
	job_item it = {.kind = JOB_PAYER, .now = now, .req = req};
	snprintf(it.payer_id, sizeof it.payer_id, "%s", payer_id);
	pthread_mutex_lock(&r->mu);
	int rc = r->stop ? -1 : push(r, &it);
	pthread_mutex_unlock(&r->mu);
	if (rc < 0)
		sb_req_fail(req, SB_UNAVAILABLE, "the scheduler is %s", r->stop ? "shutting down" : "busy (queue full)");
}

/* A job for id waiting in the queue (not yet taken) that will reconcile its calls when it runs. Caller holds mu. */
static bool reconcile_queued(const sched_runner *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->q[i].kind == JOB_PAYER && !strcmp(r->q[i].payer_id, id) && (r->q[i].reconcile || r->s->twilio))
			return true;
	return false;
}

void sched_runner_reconcile(sched_runner *r, const char *payer_id, sb_req *req)
{
	job_item it = {.kind = JOB_PAYER, .reconcile = true};
	snprintf(it.payer_id, sizeof it.payer_id, "%s", payer_id);
	pthread_mutex_lock(&r->mu);
	bool waiting = !r->stop && reconcile_queued(r, payer_id); /* it reads the call log after us anyway */
	int rc = r->stop ? -1 : waiting ? 0 : push(r, &it);
	pthread_mutex_unlock(&r->mu);
	if (rc < 0)
		sb_req_fail(req, SB_UNAVAILABLE, "the scheduler is %s", r->stop ? "shutting down" : "busy (queue full)");
	else
		sb_req_ok(req, json_pack("{s:s,s:b}", "payerId", payer_id, "queued", !waiting));
}

json_t *sched_runner_status(sched_runner *r)
{
	char last[SB_ISO_LEN], next[SB_ISO_LEN];
	pthread_mutex_lock(&r->mu);
	int active = 0;
	for (int i = 0; i < r->nworkers; i++)
		active += r->active[i][0] != '\0';
	json_t *o = json_pack("{s:o,s:o,s:I,s:I,s:i,s:I}", "lastRunAt",
			      r->last_run_at ? json_string(sb_time_iso(r->last_run_at, last)) : json_null(), "nextRunAt",
			      r->next_run_at ? json_string(sb_time_iso(r->next_run_at, next)) : json_null(), "runs",
			      (json_int_t)r->runs, "queued", (json_int_t)r->n, "active", active, "runPending",
			      (json_int_t)r->run_pending);
	pthread_mutex_unlock(&r->mu);
	return o;
}

void sched_runner_stop(sched_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->work_cv);
	pthread_cond_broadcast(&r->timer_cv);
	pthread_mutex_unlock(&r->mu);
	if (r->timer_started)
		pthread_join(r->timer, NULL);
	for (int i = 0; i < r->nstarted; i++)
		pthread_join(r->workers[i], NULL);
	r->timer_started = false;
	r->nstarted = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->q[i].req)
			sb_req_fail(r->q[i].req, SB_UNAVAILABLE, "the scheduler is shutting down");
	r->n = 0;
}

void sched_runner_free(sched_runner *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->work_cv);
	pthread_cond_destroy(&r->timer_cv);
	free(r->q);
	free(r->active);
	free(r->workers);
	free(r);
}
