/*
 * sb_metrics_test.c - unit tests for sb_metrics: rendered values of
 * counters, gauges and histograms (parsed back out of the exposition
 * text), get-or-create identity, family grouping and ordering, escaping,
 * the dummy metric for invalid input, and concurrent updates and
 * registrations from several threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_metrics.h"

/* ---- helpers ----------------------------------------------------------- */

/* Value text of the sample line "<series> <value>"; NULL if absent.
 * Returns a pointer into a static buffer. */
static const char *sample(const char *text, const char *series)
{
    static char val[64];
    size_t n = strlen(series);

    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && memcmp(line, series, n) == 0 && line[n] == ' ') {
            size_t vlen = len - n - 1;
            assert_true(vlen < sizeof val);
            memcpy(val, line + n + 1, vlen);
            val[vlen] = '\0';
            return val;
        }
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static void expect_sample(const char *text, const char *series,
                          const char *want)
{
    const char *got = sample(text, series);
    if (got == NULL)
        fail_msg("series %s missing from:\n%s", series, text);
    if (strcmp(got, want) != 0)
        fail_msg("series %s = %s, want %s", series, got, want);
}

static double sample_num(const char *text, const char *series)
{
    const char *got = sample(text, series);
    if (got == NULL)
        fail_msg("series %s missing from:\n%s", series, text);
    return strtod(got, NULL);
}

static int count_substr(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Every line is a comment or "<series> <value>"; each family's HELP and
 * TYPE appear once and the samples of a family are contiguous. */
static void check_well_formed(const char *text)
{
    char families[64][128];
    int nfam = 0;

    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        assert_non_null(eol); /* every line newline-terminated */
        if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *name = line + 7;
            size_t len = (size_t)(strchr(name, ' ') - name);
            for (int i = 0; i < nfam; i++)
                assert_false(strlen(families[i]) == len &&
                             memcmp(families[i], name, len) == 0);
            assert_true(nfam < 64 && len < 128);
            memcpy(families[nfam], name, len);
            families[nfam++][len] = '\0';
        } else if (strncmp(line, "# HELP ", 7) != 0) {
            assert_true(nfam > 0);
            /* sample belongs to the most recent family */
            const char *fam = families[nfam - 1];
            assert_memory_equal(line, fam, strlen(fam));
            const char *sp = memchr(line, ' ', (size_t)(eol - line));
            const char *brace = memchr(line, '{', (size_t)(eol - line));
            if (brace) /* label values may contain spaces */
                sp = strstr(brace, "} ") + 1;
            assert_non_null(sp);
            assert_true(sp < eol);
        }
        line = eol + 1;
    }
}

static int teardown(void **state)
{
    sb_metrics_free_all();
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void test_empty(void **state)
{
    char *text = sb_metrics_render();
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
}

static void test_counter(void **state)
{
    sb_metric *ok = sb_counter("sb_http_requests_total", "HTTP requests.",
                               "route=\"/api/calls\",status=\"200\"");
    sb_metric *err = sb_counter("sb_http_requests_total", "HTTP requests.",
                                "route=\"/api/calls\",status=\"500\"");
    sb_metric *plain = sb_counter("sb_calls_total", "Calls.", NULL);

    assert_non_null(ok);
    assert_ptr_not_equal(ok, err);
    sb_counter_inc(ok);
    sb_counter_inc(ok);
    sb_counter_inc(ok);
    sb_counter_add(ok, 5);
    sb_counter_inc(err);
    sb_counter_add(plain, 1ULL << 40);
    sb_counter_add(plain, 0);

    char *text = sb_metrics_render();
    check_well_formed(text);
    expect_sample(text,
                  "sb_http_requests_total{route=\"/api/calls\",status=\"200\"}",
                  "8");
    expect_sample(text,
                  "sb_http_requests_total{route=\"/api/calls\",status=\"500\"}",
                  "1");
    expect_sample(text, "sb_calls_total", "1099511627776");
    assert_int_equal(count_substr(text, "# HELP sb_http_requests_total "), 1);
    assert_int_equal(count_substr(text, "# TYPE sb_http_requests_total counter\n"), 1);
    assert_non_null(strstr(text, "# HELP sb_http_requests_total HTTP requests.\n"
                                 "# TYPE sb_http_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE sb_calls_total counter\n"));
    free(text);
}

static void test_same_pointer(void **state)
{
    sb_metric *a = sb_counter("sb_x_total", "X.", "a=\"1\"");
    assert_ptr_equal(a, sb_counter("sb_x_total", "other help", "a=\"1\""));
    assert_ptr_not_equal(a, sb_counter("sb_x_total", "X.", "a=\"2\""));
    assert_ptr_not_equal(a, sb_counter("sb_x_total", "X.", NULL));
    /* NULL and "" are the same (empty) label set. */
    assert_ptr_equal(sb_counter("sb_y_total", "Y.", NULL),
                     sb_counter("sb_y_total", "Y.", ""));
    sb_metric *g = sb_gauge("sb_g", "G.", NULL);
    assert_ptr_equal(g, sb_gauge("sb_g", "G.", NULL));
    sb_metric *h = sb_histogram("sb_h", "H.", NULL, SB_LATENCY_MS_BOUNDS,
                                SB_LATENCY_MS_NBOUNDS);
    assert_ptr_equal(h, sb_histogram("sb_h", "H.", NULL, NULL, 0));

    /* Many series: survives hash-table growth with identity intact. */
    sb_metric *ptrs[500];
    char labels[32];
    for (int i = 0; i < 500; i++) {
        snprintf(labels, sizeof labels, "id=\"%d\"", i);
        ptrs[i] = sb_counter("sb_many_total", "Many.", labels);
        sb_counter_add(ptrs[i], (uint64_t)i);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(labels, sizeof labels, "id=\"%d\"", i);
        assert_ptr_equal(ptrs[i], sb_counter("sb_many_total", "Many.", labels));
    }
    char *text = sb_metrics_render();
    check_well_formed(text);
    expect_sample(text, "sb_many_total{id=\"499\"}", "499");
    expect_sample(text, "sb_many_total{id=\"0\"}", "0");
    /* First HELP wins. */
    assert_non_null(strstr(text, "# HELP sb_x_total X.\n"));
    free(text);
}

static void test_gauge(void **state)
{
    sb_metric *g = sb_gauge("sb_active_calls", "Active calls.", "node=\"a\"");
    sb_metric *f = sb_gauge("sb_ratio", "Ratio.", NULL);
    sb_metric *n = sb_gauge("sb_special", "Special.", "k=\"nan\"");
    sb_metric *pi = sb_gauge("sb_special", "Special.", "k=\"pinf\"");
    sb_metric *ni = sb_gauge("sb_special", "Special.", "k=\"ninf\"");

    char *text = sb_metrics_render();
    expect_sample(text, "sb_active_calls{node=\"a\"}", "0");
    free(text);

    sb_gauge_set(g, 10);
    sb_gauge_add(g, 5);
    sb_gauge_add(g, -20);
    sb_gauge_set(f, 0.1);
    sb_gauge_add(f, 0.2);
    sb_gauge_set(n, NAN);
    sb_gauge_set(pi, INFINITY);
    sb_gauge_set(ni, -INFINITY);

    text = sb_metrics_render();
    check_well_formed(text);
    expect_sample(text, "sb_active_calls{node=\"a\"}", "-5");
    /* 0.1 + 0.2 is not 0.3; the printed value must round-trip exactly. */
    assert_true(sample_num(text, "sb_ratio") == 0.1 + 0.2);
    expect_sample(text, "sb_special{k=\"nan\"}", "NaN");
    expect_sample(text, "sb_special{k=\"pinf\"}", "+Inf");
    expect_sample(text, "sb_special{k=\"ninf\"}", "-Inf");
    assert_non_null(strstr(text, "# TYPE sb_active_calls gauge\n"));
    free(text);

    sb_gauge_set(f, 0.1);
    text = sb_metrics_render();
    expect_sample(text, "sb_ratio", "0.1");
    free(text);
}

static void test_histogram(void **state)
{
    const double bounds[] = {1, 5, 10};
    sb_metric *h = sb_histogram("sb_latency_ms", "Latency.", "op=\"get\"",
                                bounds, 3);
    const double obs[] = {0.5, 1, 1.0001, 5, 7, 10, 11, 1000, -3};

    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        sb_histogram_observe(h, obs[i]);
    sb_histogram_observe(h, NAN); /* ignored */

    char *text = sb_metrics_render();
    check_well_formed(text);
    assert_non_null(strstr(text, "# TYPE sb_latency_ms histogram\n"));
    /* le is inclusive: 1 and 10 land in their own buckets. */
    expect_sample(text, "sb_latency_ms_bucket{op=\"get\",le=\"1\"}", "3");
    expect_sample(text, "sb_latency_ms_bucket{op=\"get\",le=\"5\"}", "5");
    expect_sample(text, "sb_latency_ms_bucket{op=\"get\",le=\"10\"}", "7");
    expect_sample(text, "sb_latency_ms_bucket{op=\"get\",le=\"+Inf\"}", "9");
    expect_sample(text, "sb_latency_ms_count{op=\"get\"}", "9");
    assert_true(fabs(sample_num(text, "sb_latency_ms_sum{op=\"get\"}") -
                     1032.5001) < 1e-9);
    /* Buckets appear in increasing le order, +Inf last, then sum, count. */
    const char *b1 = strstr(text, "le=\"1\"");
    const char *b5 = strstr(text, "le=\"5\"");
    const char *b10 = strstr(text, "le=\"10\"");
    const char *binf = strstr(text, "le=\"+Inf\"");
    const char *sum = strstr(text, "sb_latency_ms_sum");
    const char *cnt = strstr(text, "sb_latency_ms_count");
    assert_true(b1 < b5 && b5 < b10 && b10 < binf && binf < sum && sum < cnt);
    free(text);
}

static void test_histogram_default_bounds(void **state)
{
    assert_int_equal(SB_LATENCY_MS_NBOUNDS, 16);
    for (size_t i = 1; i < SB_LATENCY_MS_NBOUNDS; i++)
        assert_true(SB_LATENCY_MS_BOUNDS[i] > SB_LATENCY_MS_BOUNDS[i - 1]);

    sb_metric *h = sb_histogram("sb_req_ms", "Request latency.", NULL,
                                SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
    for (int i = 0; i < 20000; i++)
        sb_histogram_observe(h, i * 0.75); /* 0 .. 14999.25 */

    char *text = sb_metrics_render();
    check_well_formed(text);
    static const char *les[] = {"0.1", "0.25", "0.5", "1",    "2.5",  "5",
                                "10",  "25",   "50",  "100",  "250",  "500",
                                "1000", "2500", "5000", "10000", "+Inf"};
    char series[64];
    double prev = -1;
    for (size_t i = 0; i < 17; i++) {
        snprintf(series, sizeof series, "sb_req_ms_bucket{le=\"%s\"}", les[i]);
        double v = sample_num(text, series);
        assert_true(v >= prev); /* cumulative */
        prev = v;
        if (i < 16) {
            /* count of k*0.75 <= bound, k = 0..19999 */
            double want = floor(SB_LATENCY_MS_BOUNDS[i] / 0.75) + 1;
            assert_true(v == want);
        }
    }
    assert_true(prev == 20000);
    expect_sample(text, "sb_req_ms_count", "20000");
    free(text);

    /* No bounds at all: just +Inf; a trailing +Inf in bounds is tolerated. */
    sb_metric *only = sb_histogram("sb_only_inf", "Only inf.", NULL, NULL, 0);
    const double with_inf[] = {1, INFINITY};
    sb_metric *wi = sb_histogram("sb_with_inf", "With inf.", NULL, with_inf, 2);
    sb_histogram_observe(only, 3);
    sb_histogram_observe(wi, 0.5);
    sb_histogram_observe(wi, 3);
    text = sb_metrics_render();
    expect_sample(text, "sb_only_inf_bucket{le=\"+Inf\"}", "1");
    expect_sample(text, "sb_only_inf_sum", "3");
    expect_sample(text, "sb_with_inf_bucket{le=\"1\"}", "1");
    expect_sample(text, "sb_with_inf_bucket{le=\"+Inf\"}", "2");
    assert_int_equal(count_substr(text, "sb_with_inf_bucket{le=\"+Inf\"}"), 1);
    free(text);
}

static void test_order_and_grouping(void **state)
{
    /* Interleaved registration: families keep first-registration order and
     * each family's series stay together. */
    sb_counter_inc(sb_counter("sb_b_total", "B.", "x=\"1\""));
    sb_gauge_set(sb_gauge("sb_a", "A.", NULL), 1);
    sb_counter_inc(sb_counter("sb_b_total", "B.", "x=\"2\""));
    sb_gauge_set(sb_gauge("sb_a", "A.", "y=\"z\""), 2);

    char *text = sb_metrics_render();
    check_well_formed(text);
    const char *tb = strstr(text, "# TYPE sb_b_total");
    const char *b1 = strstr(text, "sb_b_total{x=\"1\"} 1");
    const char *b2 = strstr(text, "sb_b_total{x=\"2\"} 1");
    const char *ta = strstr(text, "# TYPE sb_a gauge");
    const char *a1 = strstr(text, "sb_a 1");
    const char *a2 = strstr(text, "sb_a{y=\"z\"} 2");
    assert_true(tb && b1 && b2 && ta && a1 && a2);
    assert_true(tb < b1 && b1 < b2 && b2 < ta && ta < a1 && a1 < a2);
    free(text);
}

static void test_escaping(void **state)
{
    sb_metric *m = sb_counter("sb_esc_total", "Line one\nback\\slash",
                              "path=\"/a \\\"b\\\"\\\\c\\n\"");
    sb_counter_inc(m);
    char *text = sb_metrics_render();
    assert_non_null(strstr(text, "# HELP sb_esc_total Line one\\nback\\\\slash\n"));
    expect_sample(text, "sb_esc_total{path=\"/a \\\"b\\\"\\\\c\\n\"}", "1");
    check_well_formed(text);
    free(text);
}

static void test_invalid_gives_dummy(void **state)
{
    static const char *bad_names[] = {"", "1abc", "a-b", "a b", "é", "a.b",
                                      "sb_total{", "a\n"};
    static const char *bad_labels[] = {
        "a", "a=", "a=1", "a=\"1", "a=\"1\",", ",a=\"1\"", "a=\"1\"b=\"2\"",
        "1a=\"x\"", "a-b=\"x\"", "__name__=\"x\"", "a=\"x\",a=\"y\"",
        "a=\"bad\\escape\"", "a=\"raw\nnewline\"", "a =\"1\"", "a=\"1\" ",
        "a:b=\"1\"",
    };
    sb_metric *dummy = sb_counter(NULL, "x", NULL);

    assert_non_null(dummy);
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_ptr_equal(sb_counter(bad_names[i], "x", NULL), dummy);
        assert_ptr_equal(sb_gauge(bad_names[i], "x", NULL), dummy);
    }
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++)
        assert_ptr_equal(sb_counter("sb_ok_total", "x", bad_labels[i]), dummy);

    /* Valid names with colons and leading underscore are fine. */
    assert_ptr_not_equal(sb_counter("sb:rule:rate5m", "x", NULL), dummy);
    assert_ptr_not_equal(sb_counter("_sb_x", "x", "_a=\"1\",b2=\"\""), dummy);

    /* Type conflicts. */
    sb_metric *c = sb_counter("sb_conflict", "c", NULL);
    assert_ptr_not_equal(c, dummy);
    assert_ptr_equal(sb_gauge("sb_conflict", "g", NULL), dummy);
    assert_ptr_equal(sb_gauge("sb_conflict", "g", "other=\"labels\""), dummy);
    assert_ptr_equal(sb_histogram("sb_conflict", "h", NULL, NULL, 0), dummy);

    /* Histogram-specific: reserved le, bad bounds. */
    const double unsorted[] = {1, 3, 2}, dup[] = {1, 1}, nan_b[] = {1, NAN},
                 neg_inf[] = {-INFINITY, 1}, mid_inf[] = {1, INFINITY, 5};
    assert_ptr_equal(sb_histogram("sb_h1", "h", "le=\"1\"", NULL, 0), dummy);
    assert_ptr_equal(sb_histogram("sb_h2", "h", NULL, unsorted, 3), dummy);
    assert_ptr_equal(sb_histogram("sb_h3", "h", NULL, dup, 2), dummy);
    assert_ptr_equal(sb_histogram("sb_h4", "h", NULL, nan_b, 2), dummy);
    assert_ptr_equal(sb_histogram("sb_h5", "h", NULL, neg_inf, 2), dummy);
    assert_ptr_equal(sb_histogram("sb_h6", "h", NULL, mid_inf, 3), dummy);
    assert_ptr_equal(sb_histogram("sb_h7", "h", NULL, NULL, 2), dummy);
    /* le is only reserved for histograms. */
    assert_ptr_not_equal(sb_counter("sb_le_total", "x", "le=\"1\""), dummy);

    /* Updates through the dummy, NULL, or the wrong kind are ignored. */
    sb_counter_inc(dummy);
    sb_counter_add(dummy, 7);
    sb_gauge_set(dummy, 3);
    sb_gauge_add(dummy, 3);
    sb_histogram_observe(dummy, 3);
    sb_counter_inc(NULL);
    sb_gauge_set(NULL, 1);
    sb_gauge_add(NULL, 1);
    sb_histogram_observe(NULL, 1);
    sb_gauge_set(c, 99);
    sb_histogram_observe(c, 99);

    char *text = sb_metrics_render();
    check_well_formed(text);
    expect_sample(text, "sb_conflict", "0");
    assert_null(strstr(text, "sb_ok_total"));
    assert_null(strstr(text, "sb_h1"));
    assert_null(strstr(text, "sb_h7"));
    assert_null(strstr(text, "# TYPE sb_conflict gauge"));
    free(text);
}

static void test_free_all_resets(void **state)
{
    sb_counter_add(sb_counter("sb_r_total", "R.", NULL), 5);
    sb_metrics_free_all();
    char *text = sb_metrics_render();
    assert_string_equal(text, "");
    free(text);
    sb_counter_inc(sb_counter("sb_r_total", "R.", NULL));
    text = sb_metrics_render();
    expect_sample(text, "sb_r_total", "1");
    free(text);
    sb_metrics_free_all();
    sb_metrics_free_all(); /* idempotent */
}

/* ---- concurrency ------------------------------------------------------- */

#define THREADS 4
#define ITERS 100000

struct worker {
    int id;
    sb_metric *shared_counter, *shared_gauge, *shared_hist;
    int mismatches;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char labels[32];

    snprintf(labels, sizeof labels, "thread=\"%d\"", w->id);
    sb_metric *mine = sb_counter("sb_conc_per_thread_total", "Per thread.",
                                 labels);
    for (int i = 0; i < ITERS; i++) {
        sb_counter_inc(w->shared_counter);
        sb_counter_inc(mine);
        sb_gauge_add(w->shared_gauge, 1.0);
        sb_histogram_observe(w->shared_hist, (double)(i % 4));
        if (i % 1000 == 0) {
            /* Lookups and registrations race with updates and renders. */
            if (sb_counter("sb_conc_total", "Shared.", NULL) !=
                w->shared_counter)
                w->mismatches++;
            snprintf(labels, sizeof labels, "n=\"%d\"", i / 1000);
            sb_counter_add(sb_counter("sb_conc_dyn_total", "Dynamic.", labels),
                           1);
        }
        if (w->id == 0 && i % 20000 == 0)
            free(sb_metrics_render());
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    const double bounds[] = {0, 1, 2};
    struct worker w[THREADS];
    pthread_t th[THREADS];
    sb_metric *c = sb_counter("sb_conc_total", "Shared.", NULL);
    sb_metric *g = sb_gauge("sb_conc_gauge", "Shared gauge.", NULL);
    sb_metric *h = sb_histogram("sb_conc_hist", "Shared hist.", NULL, bounds, 3);

    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){i, c, g, h, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].mismatches, 0);
    }

    char *text = sb_metrics_render();
    check_well_formed(text);
    char want[32], series[64];
    snprintf(want, sizeof want, "%d", THREADS * ITERS);
    expect_sample(text, "sb_conc_total", want);
    expect_sample(text, "sb_conc_gauge", want); /* CAS add lost nothing */
    expect_sample(text, "sb_conc_hist_count", want);
    expect_sample(text, "sb_conc_hist_bucket{le=\"+Inf\"}", want);
    snprintf(want, sizeof want, "%d", THREADS * ITERS / 4);
    expect_sample(text, "sb_conc_hist_bucket{le=\"0\"}", want);
    snprintf(want, sizeof want, "%d", THREADS * ITERS / 2);
    expect_sample(text, "sb_conc_hist_bucket{le=\"1\"}", want);
    snprintf(want, sizeof want, "%d", THREADS * ITERS / 4 * 6);
    expect_sample(text, "sb_conc_hist_sum", want);
    for (int i = 0; i < THREADS; i++) {
        snprintf(series, sizeof series,
                 "sb_conc_per_thread_total{thread=\"%d\"}", i);
        expect_sample(text, series, "100000");
    }
    for (int i = 0; i < ITERS / 1000; i++) {
        snprintf(series, sizeof series, "sb_conc_dyn_total{n=\"%d\"}", i);
        snprintf(want, sizeof want, "%d", THREADS);
        expect_sample(text, series, want);
    }
    assert_int_equal(count_substr(text, "# TYPE sb_conc_dyn_total counter"), 1);
    free(text);
}


/* Two daemons' expositions merge into one valid one: families grouped once, each sample labelled. */
static void test_merge_expositions(void **state)
{
	const char *a = "# HELP sb_x_total Things.\n# TYPE sb_x_total counter\nsb_x_total{op=\"a\"} 1\n"
			"# HELP sb_h_ms Lat.\n# TYPE sb_h_ms histogram\nsb_h_ms_bucket{le=\"1\"} 2\nsb_h_ms_sum 3\nsb_h_ms_count 2\n";
	const char *b = "# HELP sb_x_total Things.\n# TYPE sb_x_total counter\nsb_x_total 5\n";
	const char *texts[] = {a, b};
	const char *labels[] = {"daemon=\"store\"", "daemon=\"rag\""};
	char *m = sb_metrics_merge(texts, labels, 2);
	assert_non_null(m);
	assert_non_null(strstr(m, "# TYPE sb_x_total counter\nsb_x_total{daemon=\"store\",op=\"a\"} 1\n"
				  "sb_x_total{daemon=\"rag\"} 5\n"));
	assert_non_null(strstr(m, "sb_h_ms_bucket{daemon=\"store\",le=\"1\"} 2\nsb_h_ms_sum{daemon=\"store\"} 3\n"));
	/* each family's HELP appears exactly once */
	const char *first = strstr(m, "# HELP sb_x_total");
	assert_null(strstr(first + 1, "# HELP sb_x_total"));
	free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_expositions),
        cmocka_unit_test_teardown(test_empty, teardown),
        cmocka_unit_test_teardown(test_counter, teardown),
        cmocka_unit_test_teardown(test_same_pointer, teardown),
        cmocka_unit_test_teardown(test_gauge, teardown),
        cmocka_unit_test_teardown(test_histogram, teardown),
        cmocka_unit_test_teardown(test_histogram_default_bounds, teardown),
        cmocka_unit_test_teardown(test_order_and_grouping, teardown),
        cmocka_unit_test_teardown(test_escaping, teardown),
        cmocka_unit_test_teardown(test_invalid_gives_dummy, teardown),
        cmocka_unit_test_teardown(test_free_all_resets, teardown),
        cmocka_unit_test_teardown(test_concurrent, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
