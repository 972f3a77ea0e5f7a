/*
 * sb_metrics.c - Prometheus metrics registry and text exposition.
 *
 * Layout.  A metric family is one name with one type and help string; a
 * series (struct sb_metric) is one label set within a family.  Families
 * live in a list in registration order, and each family keeps its series
 * in registration order, so the rendered output is stable.  A chained
 * hash table keyed by (name, labels) makes get-or-create O(1).
 *
 * Locking.  reg_lock protects the family list, the hash table and the
 * creation of series; sb_counter()/sb_gauge()/sb_histogram() and
 * sb_metrics_render() take it.  A series never moves or changes shape
 * after it is published, so the update functions touch only its atomic
 * fields and need no lock.  Gauges and histogram sums keep the bits of a
 * double in an _Atomic uint64_t and add with a compare-and-swap loop.
 * Histogram buckets are stored non-cumulative (one atomic increment per
 * observation) and summed when rendering; _count is rendered as that same
 * total so it always equals the +Inf bucket in one scrape.
 *
 * Numbers are formatted with printf, so LC_NUMERIC must stay "C" (the
 * daemons never call setlocale()).
 */
#include "sb_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mtype { M_DUMMY, M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct family;

struct sb_metric {
    enum mtype type;
    _Atomic uint64_t value;    /* counter value; gauge / histogram-sum bits */
    _Atomic uint64_t *buckets; /* histogram: nbounds + 1 per-bucket counts */
    double *bounds;            /* histogram: upper bounds, without +Inf */
    size_t nbounds;
    char *labels; /* "" when the series has no labels */
    struct family *fam;
    sb_metric *next_in_family;
    sb_metric *next_in_hash;
};

struct family {
    char *name;
    char *help;
    enum mtype type;
    sb_metric *first, *last;
    struct family *next;
};

const double SB_LATENCY_MS_BOUNDS[] = {0.1, 0.25, 0.5,  1,    2.5,  5,
                                       10,  25,   50,   100,  250,  500,
                                       1000, 2500, 5000, 10000};
const size_t SB_LATENCY_MS_NBOUNDS =
    sizeof SB_LATENCY_MS_BOUNDS / sizeof SB_LATENCY_MS_BOUNDS[0];

#define HASH_INIT 64

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct family *fam_head, *fam_tail; /* under reg_lock */
static sb_metric **htab;                   /* under reg_lock */
static size_t hsize, hcount;               /* under reg_lock */

/* Returned for every invalid registration; all updates on it are no-ops
 * (they check the type first), so it is never written. */
static sb_metric dummy_metric = {.type = M_DUMMY};

/* ---- double <-> bits --------------------------------------------------- */

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *a, double d)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        a, &old, dbl_bits(bits_dbl(old) + d), memory_order_relaxed,
        memory_order_relaxed))
        ;
}

/* ---- updates (lock-free) ---------------------------------------------- */

void sb_counter_add(sb_metric *m, uint64_t n)
{
    if (m == NULL || m->type != M_COUNTER)
        return;
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void sb_counter_inc(sb_metric *m)
{
    sb_counter_add(m, 1);
}

void sb_gauge_set(sb_metric *m, double v)
{
    if (m == NULL || m->type != M_GAUGE)
        return;
    atomic_store_explicit(&m->value, dbl_bits(v), memory_order_relaxed);
}

void sb_gauge_add(sb_metric *m, double d)
{
    if (m == NULL || m->type != M_GAUGE)
        return;
    atomic_add_double(&m->value, d);
}

/* Index of the first bucket whose bound is >= v; nbounds means +Inf. */
static size_t bucket_index(const sb_metric *m, double v)
{
    size_t lo = 0, hi = m->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void sb_histogram_observe(sb_metric *m, double v)
{
    if (m == NULL || m->type != M_HISTOGRAM || isnan(v))
        return;
    atomic_fetch_add_explicit(&m->buckets[bucket_index(m, v)], 1,
                              memory_order_relaxed);
    atomic_add_double(&m->value, v);
}

/* ---- validation -------------------------------------------------------- */

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static int valid_metric_name(const char *s)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == ':'))
            return 0;
    }
    return 1;
}

/* Label name at *p: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__". */
static int scan_label_name(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return -1;
    if (s[0] == '_' && s[1] == '_')
        return -1;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
           (*s >= '0' && *s <= '9') || *s == '_')
        s++;
    *start = *p;
    *len = (size_t)(s - *p);
    *p = s;
    return 0;
}

/* Quoted label value at *p with escapes \\, \" and \n only. */
static int scan_label_value(const char **p)
{
    const char *s = *p;
    if (*s++ != '"')
        return -1;
    for (;; s++) {
        if (*s == '\0' || *s == '\n')
            return -1;
        if (*s == '"')
            break;
        if (*s == '\\') {
            s++;
            if (*s != '\\' && *s != '"' && *s != 'n')
                return -1;
        }
    }
    *p = s + 1;
    return 0;
}

#define MAX_LABELS 32

/* name="value"(,name="value")* with unique names; "le" is reserved in
 * histograms. */
static int valid_labels(const char *s, int histogram)
{
    const char *names[MAX_LABELS];
    size_t lens[MAX_LABELS];
    int n = 0;

    if (*s == '\0')
        return 1;
    for (;;) {
        if (n == MAX_LABELS || scan_label_name(&s, &names[n], &lens[n]) ||
            *s++ != '=' || scan_label_value(&s))
            return 0;
        if (histogram && lens[n] == 2 && memcmp(names[n], "le", 2) == 0)
            return 0;
        for (int i = 0; i < n; i++)
            if (lens[i] == lens[n] && memcmp(names[i], names[n], lens[n]) == 0)
                return 0;
        n++;
        if (*s == '\0')
            return 1;
        if (*s++ != ',')
            return 0;
    }
}

/* Finite, strictly increasing; a trailing +Inf is dropped via *used. */
static int valid_bounds(const double *b, size_t n, size_t *used)
{
    if (n > 0 && b == NULL)
        return 0;
    if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0)
        n--;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1])))
            return 0;
    }
    *used = n;
    return 1;
}

/* ---- registry (all under reg_lock) ------------------------------------ */

static uint64_t key_hash(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* separator no name contains */
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static sb_metric *hash_find(const char *name, const char *labels)
{
    if (htab == NULL)
        return NULL;
    sb_metric *m = htab[key_hash(name, labels) & (hsize - 1)];
    for (; m; m = m->next_in_hash)
        if (strcmp(m->fam->name, name) == 0 && strcmp(m->labels, labels) == 0)
            return m;
    return NULL;
}

static int hash_grow(void)
{
    size_t nsize = hsize ? hsize * 2 : HASH_INIT;
    sb_metric **ntab = calloc(nsize, sizeof *ntab);
    if (ntab == NULL)
        return -1;
    for (size_t i = 0; i < hsize; i++) {
        sb_metric *m = htab[i], *next;
        for (; m; m = next) {
            next = m->next_in_hash;
            size_t b = key_hash(m->fam->name, m->labels) & (nsize - 1);
            m->next_in_hash = ntab[b];
            ntab[b] = m;
        }
    }
    free(htab);
    htab = ntab;
    hsize = nsize;
    return 0;
}

static int hash_insert(sb_metric *m)
{
    if (hcount + 1 > hsize * 3 / 4 && hash_grow() != 0)
        return -1;
    size_t b = key_hash(m->fam->name, m->labels) & (hsize - 1);
    m->next_in_hash = htab[b];
    htab[b] = m;
    hcount++;
    return 0;
}

static struct family *family_find(const char *name)
{
    for (struct family *f = fam_head; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static void family_free(struct family *f)
{
    free(f->name);
    free(f->help);
    free(f);
}

static struct family *family_new(const char *name, const char *help,
                                 enum mtype type)
{
    struct family *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->type = type;
    if (f->name == NULL || f->help == NULL) {
        family_free(f);
        return NULL;
    }
    return f;
}

static void family_link(struct family *f)
{
    if (fam_tail)
        fam_tail->next = f;
    else
        fam_head = f;
    fam_tail = f;
}

static void metric_free(sb_metric *m)
{
    free(m->buckets);
    free(m->bounds);
    free(m->labels);
    free(m);
}

static sb_metric *metric_new(enum mtype type, const char *labels,
                             const double *bounds, size_t nbounds)
{
    sb_metric *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->type = type;
    atomic_init(&m->value, type == M_COUNTER ? 0 : dbl_bits(0.0));
    m->labels = strdup(labels);
    if (m->labels == NULL)
        goto fail;
    if (type == M_HISTOGRAM) {
        m->nbounds = nbounds;
        m->bounds = malloc((nbounds ? nbounds : 1) * sizeof *m->bounds);
        m->buckets = malloc((nbounds + 1) * sizeof *m->buckets);
        if (m->bounds == NULL || m->buckets == NULL)
            goto fail;
        if (nbounds)
            memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
        for (size_t i = 0; i <= nbounds; i++)
            atomic_init(&m->buckets[i], 0);
    }
    return m;
fail:
    metric_free(m);
    return NULL;
}

/* Create series (and its family if new) and link it everywhere. */
static sb_metric *series_create(enum mtype type, const char *name,
                                const char *help, const char *labels,
                                const double *bounds, size_t nbounds)
{
    struct family *f = family_find(name);
    int new_family = f == NULL;

    if (f != NULL && f->type != type)
        return &dummy_metric;
    if (new_family && (f = family_new(name, help, type)) == NULL)
        return &dummy_metric;
    sb_metric *m = metric_new(type, labels, bounds, nbounds);
    if (m == NULL) {
        if (new_family)
            family_free(f);
        return &dummy_metric;
    }
    m->fam = f;
    if (hash_insert(m) != 0) {
        metric_free(m);
        if (new_family)
            family_free(f);
        return &dummy_metric;
    }
    if (new_family)
        family_link(f);
    if (f->last)
        f->last->next_in_family = m;
    else
        f->first = m;
    f->last = m;
    return m;
}

static sb_metric *get_or_create(enum mtype type, const char *name,
                                const char *help, const char *labels,
                                const double *bounds, size_t nbounds)
{
    size_t used = 0;
    sb_metric *m;

    if (labels == NULL)
        labels = "";
    if (!valid_metric_name(name) || !valid_labels(labels, type == M_HISTOGRAM))
        return &dummy_metric;
    if (type == M_HISTOGRAM && !valid_bounds(bounds, nbounds, &used))
        return &dummy_metric;

    pthread_mutex_lock(&reg_lock);
    m = hash_find(name, labels);
    if (m != NULL && m->type != type)
        m = &dummy_metric;
    else if (m == NULL)
        m = series_create(type, name, help, labels, bounds, used);
    pthread_mutex_unlock(&reg_lock);
    return m;
}

sb_metric *sb_counter(const char *name, const char *help, const char *labels)
{
    return get_or_create(M_COUNTER, name, help, labels, NULL, 0);
}

sb_metric *sb_gauge(const char *name, const char *help, const char *labels)
{
    return get_or_create(M_GAUGE, name, help, labels, NULL, 0);
}

sb_metric *sb_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds)
{
    return get_or_create(M_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void sb_metrics_free_all(void)
{
    pthread_mutex_lock(&reg_lock);
    struct family *f = fam_head, *fnext;
    for (; f; f = fnext) {
        fnext = f->next;
        sb_metric *m = f->first, *mnext;
        for (; m; m = mnext) {
            mnext = m->next_in_family;
            metric_free(m);
        }
        family_free(f);
    }
    fam_head = fam_tail = NULL;
    free(htab);
    htab = NULL;
    hsize = hcount = 0;
    pthread_mutex_unlock(&reg_lock);
}

/* ---- rendering --------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (np == NULL) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = ncap;
}

static void sbuf_put(struct sbuf *b, const char *s, size_t n)
{
    sbuf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sbuf_puts(struct sbuf *b, const char *s)
{
    sbuf_put(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sbuf_put(b, tmp, (size_t)n);
        return;
    }
    sbuf_reserve(b, (size_t)n);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Shortest of %.15g / %.17g that round-trips; Prometheus spellings for
 * NaN and infinities. */
static const char *fmt_double(double v, char buf[32])
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 32, "%.17g", v);
    return buf;
}

/* HELP text escapes backslash and newline. */
static void put_help(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            sbuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            sbuf_put(b, "\\n", 2);
        else
            sbuf_put(b, s, 1);
    }
}

/* "name<suffix>{labels}" or "name<suffix>" */
static void put_series(struct sbuf *b, const sb_metric *m, const char *suffix)
{
    sbuf_puts(b, m->fam->name);
    sbuf_puts(b, suffix);
    if (m->labels[0]) {
        sbuf_put(b, "{", 1);
        sbuf_puts(b, m->labels);
        sbuf_put(b, "}", 1);
    }
}

static void put_bucket(struct sbuf *b, const sb_metric *m, const char *le,
                       uint64_t cum)
{
    sbuf_puts(b, m->fam->name);
    sbuf_printf(b, "_bucket{%s%sle=\"%s\"} %llu\n", m->labels,
                m->labels[0] ? "," : "", le, (unsigned long long)cum);
}

static void render_histogram(struct sbuf *b, const sb_metric *m)
{
    char num[32];
    uint64_t cum = 0;

    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        put_bucket(b, m,
                   i < m->nbounds ? fmt_double(m->bounds[i], num) : "+Inf",
                   cum);
    }
    put_series(b, m, "_sum");
    sbuf_printf(b, " %s\n",
                fmt_double(bits_dbl(atomic_load_explicit(
                               &m->value, memory_order_relaxed)),
                           num));
    put_series(b, m, "_count");
    sbuf_printf(b, " %llu\n", (unsigned long long)cum);
}

static void render_series(struct sbuf *b, const sb_metric *m)
{
    char num[32];
    uint64_t v = atomic_load_explicit(&m->value, memory_order_relaxed);

    switch (m->type) {
    case M_COUNTER:
        put_series(b, m, "");
        sbuf_printf(b, " %llu\n", (unsigned long long)v);
        break;
    case M_GAUGE:
        put_series(b, m, "");
        sbuf_printf(b, " %s\n", fmt_double(bits_dbl(v), num));
        break;
    case M_HISTOGRAM:
        render_histogram(b, m);
        break;
    case M_DUMMY:
        break;
    }
}

static const char *type_name(enum mtype t)
{
    switch (t) {
    case M_COUNTER:
        return "counter";
    case M_GAUGE:
        return "gauge";
    case M_HISTOGRAM:
        return "histogram";
    default:
        return "untyped";
    }
}

char *sb_metrics_render(void)
{
    struct sbuf b = {0};

    sbuf_reserve(&b, 0); /* "" even with no metrics */
    pthread_mutex_lock(&reg_lock);
    for (const struct family *f = fam_head; f && !b.oom; f = f->next) {
        sbuf_printf(&b, "# HELP %s ", f->name);
        put_help(&b, f->help);
        sbuf_printf(&b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        for (const sb_metric *m = f->first; m; m = m->next_in_family)
            render_series(&b, m);
    }
    pthread_mutex_unlock(&reg_lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (b.p)
        b.p[b.len] = '\0';
    return b.p;
}

/* ---- merging expositions (one scrape for the whole stack) ------------------ */

typedef struct {
	char  *s;
	size_t len, cap;
} mbuf;

static void mb_put(mbuf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

typedef struct {
	char *name, *help, *type; /* help/type: whole lines, or NULL */
	mbuf  samples;
} mfam;

typedef struct {
	mfam  *v;
	size_t n, cap;
} mfams;

static mfam *fam_get(mfams *f, const char *name, size_t nlen)
{
	for (size_t i = 0; i < f->n; i++)
		if (strlen(f->v[i].name) == nlen && !strncmp(f->v[i].name, name, nlen))
			return &f->v[i];
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 32;
		f->v = realloc(f->v, f->cap * sizeof *f->v);
		if (!f->v)
			abort();
	}
	mfam *m = &f->v[f->n++];
	memset(m, 0, sizeof *m);
	m->name = strndup(name, nlen);
	return m;
}

/* `name{labels} value` → `name{extra,labels} value` into b. */
static void put_sample(mbuf *b, const char *line, size_t len, const char *extra)
{
	size_t name_len = strcspn(line, "{ ");
	if (name_len > len)
		name_len = len;
	if (!extra || !*extra) {
		mb_put(b, line, len);
	} else if (name_len < len && line[name_len] == '{') {
		mb_put(b, line, name_len + 1);
		mb_put(b, extra, strlen(extra));
		if (line[name_len + 1] != '}')
			mb_put(b, ",", 1);
		mb_put(b, line + name_len + 1, len - name_len - 1);
	} else {
		mb_put(b, line, name_len);
		mb_put(b, "{", 1);
		mb_put(b, extra, strlen(extra));
		mb_put(b, "}", 1);
		mb_put(b, line + name_len, len - name_len);
	}
	mb_put(b, "\n", 1);
}

/* One line of an exposition; *cur is the family the following samples belong to. */
static void merge_line(mfams *f, mfam **cur, const char *line, size_t len, const char *extra)
{
	if (len > 7 && (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7))) {
		const char *name = line + 7;
		size_t nlen = strcspn(name, " \n");
		*cur = fam_get(f, name, nlen);
		char **slot = line[2] == 'H' ? &(*cur)->help : &(*cur)->type;
		if (!*slot)
			*slot = strndup(line, len);
		return;
	}
	if (!len || line[0] == '#')
		return;
	if (!*cur)
		*cur = fam_get(f, line, strcspn(line, "{ "));
	put_sample(&(*cur)->samples, line, len, extra);
}

char *sb_metrics_merge(const char *const *texts, const char *const *labels, size_t n)
{
	mfams f = {0};
	for (size_t i = 0; i < n; i++) {
		mfam *cur = NULL;
		for (const char *p = texts[i]; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			merge_line(&f, &cur, p, len, labels ? labels[i] : NULL);
			p += len + (nl ? 1 : 0);
		}
	}
	mbuf out = {0};
	mb_put(&out, "", 0);
	for (size_t i = 0; i < f.n; i++) {
		mfam *m = &f.v[i];
		if (m->help) {
			mb_put(&out, m->help, strlen(m->help));
			mb_put(&out, "\n", 1);
		}
		if (m->type) {
			mb_put(&out, m->type, strlen(m->type));
			mb_put(&out, "\n", 1);
		}
		if (m->samples.s)
			mb_put(&out, m->samples.s, m->samples.len);
		free(m->name);
		free(m->help);
		free(m->type);
		free(m->samples.s);
	}
	free(f.v);
	return out.s;
}
