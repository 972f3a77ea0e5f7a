/*
 * gateway_pool.c — the worker threads that run blocking handlers.
 *
 * The HTTP threads never wait for a backend; a complete request whose
 * handler makes synchronous calls (the admin API, /healthz, /metrics) is
 * queued here with its connection parked, and one of --workers threads runs
 * it. The queue is a fixed ring (no allocation per request); when it is
 * full the request is refused with 503 rather than queued without bound.
 * With one request per connection at a time, a ring as large as
 * --max-connections never fills.
 */
#include <pthread.h>
#include <stdlib.h>

#include "gateway.h"
#include "sb_log.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	gw_req        **ring;
	size_t          cap, head, len;
	pthread_t      *threads;
	int             n;
	bool            stop;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *arg)
{
	pthread_mutex_lock(&P.mu);
	for (;;) {
		while (P.len == 0 && !P.stop)
			pthread_cond_wait(&P.cv, &P.mu);
		if (P.len == 0)
			break;
		gw_req *r = P.ring[P.head];
		P.head = (P.head + 1) % P.cap;
		P.len--;
		pthread_mutex_unlock(&P.mu);
		gw_run(r);
		pthread_mutex_lock(&P.mu);
	}
	pthread_mutex_unlock(&P.mu);
	return NULL;
}

int gw_pool_start(int n, int queue_max)
{
	P.cap = (size_t)queue_max;
	P.ring = calloc(P.cap, sizeof *P.ring);
	P.threads = calloc((size_t)n, sizeof *P.threads);
	if (!P.ring || !P.threads)
		abort();
	for (P.n = 0; P.n < n; P.n++)
		if (pthread_create(&P.threads[P.n], NULL, worker_main, NULL) != 0) {
			sb_error_log("pool.thread_failed", "started=%d wanted=%d", P.n, n);
			gw_pool_stop();
			return -1;
		}
	return 0;
}

bool gw_pool_submit(gw_req *r)
{
	pthread_mutex_lock(&P.mu);
	bool ok = P.len < P.cap && !P.stop;
	if (ok) {
		P.ring[(P.head + P.len) % P.cap] = r;
		P.len++;
		pthread_cond_signal(&P.cv);
	}
	pthread_mutex_unlock(&P.mu);
	return ok;
}

void gw_pool_stop(void)
{
	if (!P.threads)
		return;
	pthread_mutex_lock(&P.mu);
	P.stop = true;
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mu);
	for (int i = 0; i < P.n; i++)
		pthread_join(P.threads[i], NULL);
	free(P.threads);
	free(P.ring);
	P.threads = NULL;
	P.ring = NULL;
}
