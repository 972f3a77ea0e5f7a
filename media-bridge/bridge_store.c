/*
 * bridge_store.c — store writes that are not lost when the store is down.
 *
 * Every write the bridge makes (calls.create, calls.update_status,
 * calls.append_transcript, calls.record_tool, payers.update) is idempotent
 * on the store side (callSid, (callSid, seq), (callSid, callRef), payer id),
 * so it is simply resent until acknowledged: sent at once, and on failure
 * retried with exponential backoff (100 ms doubling to 5 s) by the loop's
 * one-second tick. Permanent refusals (invalid_argument, conflict) are
 * logged and dropped. The queue is bounded (oldest unsent dropped, loudly).
 *
 * Thread-safe: writes are queued from the loop; replies arrive on nng
 * threads and only update this module's list under its mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "sb_log.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

#define STORE_MAX_PENDING 50000
#define STORE_MAX_INFLIGHT 512
#define STORE_MAX_ATTEMPTS 40

typedef struct sw {
	struct sw *next, *prev;
	int        op, attempts;
	json_t    *args;
	int64_t    due_ms;
	bool       inflight;
} sw;

static struct {
	pthread_mutex_t mu;
	sw             *head, *tail;
	int             n, inflight;
	bool            closing;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

void store_start(void)
{
	S.closing = false;
}

/* Unlink w (S.mu held) and free it. */
static void unlink_free(sw *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		S.head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		S.tail = w->prev;
	S.n--;
	json_decref(w->args);
	free(w);
}

static bool permanent(const sb_error *e)
{
	return e->code == SB_INVALID_ARGUMENT || e->code == SB_CONFLICT;
}

/* Reply from the store (nng thread). */
static void done_cb(void *arg, int rc, json_t *data, const sb_error *err)
{
	sw *w = arg;
	json_decref(data);
	pthread_mutex_lock(&S.mu);
	w->inflight = false;
	S.inflight--;
	if (rc == 0 || S.closing || permanent(err) || ++w->attempts >= STORE_MAX_ATTEMPTS) {
		if (rc != 0 && !S.closing)
			sb_warn("bridge.store_write_dropped", "op=%s code=%s msg=\"%s\" attempts=%d", SB_SVC_STORE.ops[w->op].name,
				sb_code_name(err->code), err->message, w->attempts);
		unlink_free(w);
	} else {
		long backoff = 100L << (w->attempts < 6 ? w->attempts : 6);
		w->due_ms = sb_mono_ms() + (backoff > 5000 ? 5000 : backoff);
		sb_counter_inc(g_m.store_retries);
	}
	pthread_mutex_unlock(&S.mu);
}

/* Send w (S.mu held). */
static void send_one(sw *w)
{
	w->inflight = true;
	S.inflight++;
	sb_client_call_async(bridge_store(), &SB_SVC_STORE, w->op, json_incref(w->args), done_cb, w);
}

/* Send every due write (up to the in-flight cap). */
static void kick(int64_t now)
{
	pthread_mutex_lock(&S.mu);
	for (sw *w = S.head; w && S.inflight < STORE_MAX_INFLIGHT; w = w->next)
		if (!w->inflight && w->due_ms <= now)
			send_one(w);
	pthread_mutex_unlock(&S.mu);
}

/* Drop the oldest write not in flight (S.mu held). */
static void drop_oldest(void)
{
	for (sw *w = S.head; w; w = w->next)
		if (!w->inflight) {
			sb_error_log("bridge.store_queue_full", "op=%s dropped=1", SB_SVC_STORE.ops[w->op].name);
			unlink_free(w);
			return;
		}
}

void store_write(int op, json_t *args)
{
	sw *w = calloc(1, sizeof *w);
	w->op = op;
	w->args = args;
	pthread_mutex_lock(&S.mu);
	if (S.n >= STORE_MAX_PENDING)
		drop_oldest();
	w->prev = S.tail; /* append: a call's writes are first sent in the order they were made */
	if (S.tail)
		S.tail->next = w;
	else
		S.head = w;
	S.tail = w;
	S.n++;
	if (S.inflight < STORE_MAX_INFLIGHT && !S.closing)
		send_one(w);
	pthread_mutex_unlock(&S.mu);
}

void store_on_done(bridge_msg *m)
{
	(void)m; /* replies are handled on the nng thread (done_cb) */
}

void store_tick(int64_t now)
{
	kick(now);
}

int store_pending(void)
{
	pthread_mutex_lock(&S.mu);
	int n = S.n;
	pthread_mutex_unlock(&S.mu);
	return n;
}

void store_stop(int wait_ms)
{
	int64_t until = sb_mono_ms() + wait_ms;
	while (store_pending() > 0 && sb_mono_ms() < until) {
		kick(sb_mono_ms());
		usleep(20 * 1000);
	}
	pthread_mutex_lock(&S.mu);
	S.closing = true;
	if (S.n)
		sb_error_log("bridge.store_unflushed", "writes=%d", S.n);
	pthread_mutex_unlock(&S.mu);
}

void store_free(void)
{
	pthread_mutex_lock(&S.mu);
	for (sw *w = S.head, *next; w; w = next) {
		next = w->next;
		json_decref(w->args);
		free(w);
	}
	S.head = S.tail = NULL;
	S.n = 0;
	pthread_mutex_unlock(&S.mu);
}
