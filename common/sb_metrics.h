/*
 * sb_metrics.h - process-wide, thread-safe Prometheus metrics registry.
 *
 * Counters, gauges and histograms are registered by (name, labels) and
 * rendered in the Prometheus text exposition format 0.0.4 for a /metrics
 * endpoint.  Registration (sb_counter() etc.) takes a mutex and is meant
 * to be done once per series; the returned pointer is valid until
 * sb_metrics_free_all() and should be cached by hot paths.  Updates are
 * lock-free atomics and may be called from any thread.
 *
 * labels is a pre-rendered, comma-separated label set exactly as it should
 * appear between the braces, e.g. route="/api/calls",status="200" (values
 * escaped per the format: \\, \" and \n), or NULL/"" for none.
 *
 * Misuse never crashes the caller: an invalid metric name, malformed label
 * set, bad histogram bounds, a name already registered with another type,
 * or out-of-memory yields a shared dummy metric whose updates are ignored.
 * Nothing is logged.
 */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_metric sb_metric;

/* Default histogram bounds for latencies in milliseconds. */
extern const double SB_LATENCY_MS_BOUNDS[];
/* Number of entries in SB_LATENCY_MS_BOUNDS. */
extern const size_t SB_LATENCY_MS_NBOUNDS;

/* Get or create the counter series (name, labels). */
sb_metric *sb_counter(const char *name, const char *help, const char *labels);

/* Add n to a counter. */
void sb_counter_add(sb_metric *m, uint64_t n);

/* Add 1 to a counter. */
void sb_counter_inc(sb_metric *m);

/* Get or create the gauge series (name, labels). */
sb_metric *sb_gauge(const char *name, const char *help, const char *labels);

/* Set a gauge to v. */
void sb_gauge_set(sb_metric *m, double v);

/* Add d (may be negative) to a gauge. */
void sb_gauge_add(sb_metric *m, double d);

/* Get or create the histogram series (name, labels) with the given
 * strictly increasing, finite upper bounds (+Inf is implicit; a trailing
 * +Inf is tolerated).  bounds are copied.  An existing series keeps the
 * bounds it was created with. */
sb_metric *sb_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds);

/* Record one observation v in a histogram (NaN is ignored). */
void sb_histogram_observe(sb_metric *m, double v);

/* Render every metric in text format 0.0.4; malloc'd, NULL on OOM. */
char *sb_metrics_render(void);

/* Free every metric (tests, and at exit for leak checkers); all
 * previously returned pointers become invalid. */
void sb_metrics_free_all(void);

/*
 * Merge several Prometheus text expositions into one valid exposition: the
 * samples of each metric family are grouped under one HELP/TYPE, and every
 * sample of texts[i] gets the label set labels[i] (e.g. `daemon="store"`,
 * or NULL for none) put first. Returns a malloc'd string.
 */
char *sb_metrics_merge(const char *const *texts, const char *const *labels, size_t n);

#endif /* SB_METRICS_H */
