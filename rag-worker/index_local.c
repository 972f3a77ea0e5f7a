/*
 * index_local.c — the local vector index: exact top-k over one business's
 * partition at a time (see index_local.h for the layout and the locks,
 * index_local_log.c for the files).
 *
 * A query only ever touches its own business's partition: tenant isolation
 * is structural, not a filter. The scan is a dot product of the query with
 * every stored vector of the partition, contiguous in memory, written so
 * the compiler vectorises it (16 independent sums over zero-padded rows),
 * then a partial selection of the k best.
 *
 * Writes: the log record is made durable first (under the partition's
 * writer mutex), then memory is updated under a short exclusive lock, so
 * nothing is served that is not on disk and nothing on disk is lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_local.h"
#include "sb_log.h"

#define LANES 16

/* ---- memory ------------------------------------------------------------------------ */

void ldoc_free(ldoc *d)
{
	if (!d)
		return;
	for (size_t k = 0; d->texts && k < d->n; k++)
		free(d->texts[k]);
	free(d->texts);
	free(d->slots);
	free(d->id);
	free(d->title);
	free(d->category);
	free(d->fingerprint);
	free(d);
}

lpart *lpart_new(const char *biz)
{
	lpart *p = calloc(1, sizeof *p);
	if (!p || !(p->biz = strdup(biz)))
		abort();
	pthread_rwlock_init(&p->rw, NULL);
	pthread_mutex_init(&p->wmu, NULL);
	p->docs = rag_map_new();
	p->fd = -1;
	return p;
}

static void lpart_free(lpart *p)
{
	rag_map_iter it = rag_map_iterate(p->docs);
	void *d;
	while (rag_map_next(&it, NULL, NULL, &d))
		ldoc_free(d);
	rag_map_free(p->docs);
	if (p->fd >= 0)
		close(p->fd);
	free(p->vecs);
	free(p->slots);
	free(p->biz);
	pthread_rwlock_destroy(&p->rw);
	pthread_mutex_destroy(&p->wmu);
	free(p);
}

static void ensure_cap(lpart *p, size_t need, int stride)
{
	if (need <= p->cap)
		return;
	size_t cap = p->cap ? p->cap : 64;
	while (cap < need)
		cap *= 2;
	p->vecs = realloc(p->vecs, cap * (size_t)stride * sizeof *p->vecs);
	p->slots = realloc(p->slots, cap * sizeof *p->slots);
	if (!p->vecs || !p->slots)
		abort();
	p->cap = cap;
}

/* Move the last slot into s (a swap-remove), keeping its document's slot table right. */
static void remove_slot(lpart *p, size_t s, int stride)
{
	size_t last = p->n - 1;
	if (s != last) {
		memcpy(p->vecs + s * (size_t)stride, p->vecs + last * (size_t)stride, (size_t)stride * sizeof *p->vecs);
		p->slots[s] = p->slots[last];
		p->slots[s].doc->slots[p->slots[s].chunk] = s;
	}
	p->n--;
}

static int cmp_desc(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

ldoc *lpart_apply_del(lpart *p, const char *id, int stride)
{
	ldoc *d = rag_map_dels(p->docs, id);
	if (!d)
		return NULL;
	size_t *order = malloc((d->n ? d->n : 1) * sizeof *order);
	memcpy(order, d->slots, d->n * sizeof *order);
	qsort(order, d->n, sizeof *order, cmp_desc); /* highest first: a moved slot is never one of ours */
	for (size_t k = 0; k < d->n; k++)
		remove_slot(p, order[k], stride);
	free(order);
	return d;
}

void lpart_apply_put(lpart *p, int stride, ldoc *d, const float *vecs, int dim)
{
	ldoc_free(lpart_apply_del(p, d->id, stride));
	ensure_cap(p, p->n + d->n, stride);
	d->slots = malloc((d->n ? d->n : 1) * sizeof *d->slots);
	for (size_t k = 0; k < d->n; k++) {
		size_t s = p->n++;
		float *row = p->vecs + s * (size_t)stride;
		memcpy(row, vecs + k * (size_t)dim, (size_t)dim * sizeof *row);
		memset(row + dim, 0, (size_t)(stride - dim) * sizeof *row);
		p->slots[s] = (lslot){d, (int)k};
		d->slots[k] = s;
	}
	rag_map_puts(p->docs, d->id, d);
}

/* ---- partitions ----------------------------------------------------------------------- */

static lpart *find_part(local_index *x, const char *biz)
{
	pthread_rwlock_rdlock(&x->rw);
	lpart *p = rag_map_gets(x->parts, biz);
	pthread_rwlock_unlock(&x->rw);
	return p;
}

/* The partition of biz, created (with its log) on first use; queries never wait for the file creation. */
static lpart *open_part(local_index *x, const char *biz, sb_error *err)
{
	lpart *p = find_part(x, biz);
	if (p)
		return p;
	pthread_mutex_lock(&x->create_mu);
	if (!(p = find_part(x, biz))) {
		p = lpart_new(biz);
		if (llog_create(p, x->dir, biz, x->base.dim, err) < 0) {
			lpart_free(p);
			p = NULL;
		} else {
			pthread_rwlock_wrlock(&x->rw);
			rag_map_puts(x->parts, biz, p);
			pthread_rwlock_unlock(&x->rw);
		}
	}
	pthread_mutex_unlock(&x->create_mu);
	return p;
}

static lpart *part_of_doc(local_index *x, const char *id)
{
	pthread_rwlock_rdlock(&x->rw);
	lpart *p = rag_map_gets(x->where, id);
	pthread_rwlock_unlock(&x->rw);
	return p;
}

static void set_where(local_index *x, const char *id, lpart *p)
{
	pthread_rwlock_wrlock(&x->rw);
	if (p)
		rag_map_puts(x->where, id, p);
	else
		rag_map_dels(x->where, id);
	pthread_rwlock_unlock(&x->rw);
}

/* ---- writes ------------------------------------------------------------------------------ */

/* Remove id from partition p durably. */
static int delete_in(local_index *x, lpart *p, const char *id, bool *existed, sb_error *err)
{
	pthread_mutex_lock(&p->wmu);
	*existed = rag_map_gets(p->docs, id) != NULL;
	int rc = *existed ? llog_del(p, id, err) : 0;
	if (*existed && rc == 0) {
		pthread_rwlock_wrlock(&p->rw);
		ldoc *old = lpart_apply_del(p, id, x->stride);
		pthread_rwlock_unlock(&p->rw);
		p->live_bytes -= (off_t)old->record_bytes;
		ldoc_free(old);
		if (part_of_doc(x, id) == p)
			set_where(x, id, NULL);
		llog_maybe_compact(p, x->base.dim, x->stride);
	}
	pthread_mutex_unlock(&p->wmu);
	return rc;
}

/* A document (strings copied) and its vectors packed dim by dim. */
static ldoc *copy_doc(const rag_doc_in *in, int dim, float **vecs)
{
	ldoc *d = calloc(1, sizeof *d);
	d->id = strdup(in->id);
	d->title = strdup(in->title);
	d->category = in->category ? strdup(in->category) : NULL;
	d->fingerprint = strdup(in->fingerprint ? in->fingerprint : "");
	d->n = in->n;
	d->texts = calloc(in->n ? in->n : 1, sizeof *d->texts);
	*vecs = malloc((in->n ? in->n : 1) * (size_t)dim * sizeof **vecs);
	for (size_t k = 0; k < in->n; k++) {
		d->texts[k] = strdup(in->chunks[k].text);
		memcpy(*vecs + k * (size_t)dim, in->chunks[k].vec, (size_t)dim * sizeof **vecs);
	}
	return d;
}

static int local_put_doc(rag_index *base, const rag_doc_in *in, sb_error *err)
{
	local_index *x = (local_index *)base;
	lpart *p = open_part(x, in->biz, err), *other = part_of_doc(x, in->id);
	bool existed;
	if (!p || (other && other != p && delete_in(x, other, in->id, &existed, err) < 0))
		return -1;
	float *vecs;
	ldoc *d = copy_doc(in, base->dim, &vecs);
	pthread_mutex_lock(&p->wmu);
	int rc = llog_put(p, d, vecs, base->dim, &d->record_bytes, err);
	if (rc == 0) {
		ldoc *old = rag_map_gets(p->docs, d->id);
		p->live_bytes += (off_t)d->record_bytes - (off_t)(old ? old->record_bytes : 0);
		pthread_rwlock_wrlock(&p->rw);
		lpart_apply_put(p, x->stride, d, vecs, base->dim);
		pthread_rwlock_unlock(&p->rw);
		set_where(x, in->id, p);
		llog_maybe_compact(p, base->dim, x->stride);
	} else {
		ldoc_free(d);
	}
	pthread_mutex_unlock(&p->wmu);
	free(vecs);
	return rc;
}

static int local_delete_doc(rag_index *base, const char *biz, const char *id, bool *existed, sb_error *err)
{
	local_index *x = (local_index *)base;
	lpart *p = biz ? find_part(x, biz) : part_of_doc(x, id);
	*existed = false;
	return p ? delete_in(x, p, id, existed, err) : 0;
}

/* ---- search --------------------------------------------------------------------------------- */

/*
 * Dot product of two zero-padded rows (n a multiple of LANES). The LANES
 * sums are independent, so after unrolling GCC keeps them in four SSE
 * registers (4 mulps + 4 addps per 16 floats, no memory round trip); a
 * single running sum could not be vectorised without -ffast-math.
 */
static inline float dot(const float *restrict a, const float *restrict b, size_t n)
{
	float acc[LANES] = {0};
	for (size_t i = 0; i < n; i += LANES) {
#pragma GCC unroll 16
		for (size_t j = 0; j < LANES; j++)
			acc[j] += a[i + j] * b[i + j];
	}
	float s = 0;
	for (size_t j = 0; j < LANES; j++)
		s += acc[j];
	return s;
}

/* Insert (score, slot) into the k best so far, kept in descending order. */
static void keep_best(float *best, size_t *slot, int *nbest, int k, float score, size_t s)
{
	if (*nbest == k && score <= best[k - 1])
		return;
	int i = *nbest < k ? (*nbest)++ : k - 1;
	while (i > 0 && best[i - 1] < score) {
		best[i] = best[i - 1];
		slot[i] = slot[i - 1];
		i--;
	}
	best[i] = score;
	slot[i] = s;
}

static void fill_hit(rag_hit *h, const lslot *sl, float score)
{
	const ldoc *d = sl->doc;
	h->doc_id = strdup(d->id);
	h->title = strdup(d->title);
	h->category = d->category ? strdup(d->category) : NULL;
	h->text = strdup(d->texts[sl->chunk]);
	h->chunk = sl->chunk;
	h->score = score;
	h->truncated = false;
}

static int local_query(rag_index *base, const char *biz, const float *q, int k, float min_score, rag_hit *out,
		       int *nout, sb_error *err)
{
	local_index *x = (local_index *)base;
	lpart *p = find_part(x, biz);
	*nout = 0;
	if (!p || k <= 0)
		return 0;
	float *qp = calloc((size_t)x->stride, sizeof *qp), *best = malloc((size_t)k * sizeof *best);
	size_t *slot = malloc((size_t)k * sizeof *slot);
	memcpy(qp, q, (size_t)base->dim * sizeof *qp);
	pthread_rwlock_rdlock(&p->rw);
	const float *row = p->vecs;
	for (size_t s = 0; s < p->n; s++, row += x->stride) {
		float score = dot(qp, row, (size_t)x->stride);
		if (score >= min_score)
			keep_best(best, slot, nout, k, score, s);
	}
	for (int i = 0; i < *nout; i++)
		fill_hit(&out[i], &p->slots[slot[i]], best[i]);
	pthread_rwlock_unlock(&p->rw);
	free(qp);
	free(best);
	free(slot);
	return 0;
}

/* ---- listing and statistics ------------------------------------------------------------------ */

static json_t *local_list_docs(rag_index *base, const char *biz)
{
	lpart *p = find_part((local_index *)base, biz);
	json_t *o = json_object();
	if (!p)
		return o;
	pthread_rwlock_rdlock(&p->rw);
	rag_map_iter it = rag_map_iterate(p->docs);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		const ldoc *d = v;
		json_object_set_new(o, d->id, json_pack("{s:I,s:s}", "chunks", (json_int_t)d->n, "fingerprint", d->fingerprint));
	}
	pthread_rwlock_unlock(&p->rw);
	return o;
}

static json_t *local_list_businesses(rag_index *base)
{
	local_index *x = (local_index *)base;
	json_t *a = json_array();
	pthread_rwlock_rdlock(&x->rw);
	rag_map_iter it = rag_map_iterate(x->parts);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v))
		json_array_append_new(a, json_string(((lpart *)v)->biz));
	pthread_rwlock_unlock(&x->rw);
	return a;
}

static void local_for_each_doc(rag_index *base, rag_doc_cb cb, void *arg)
{
	local_index *x = (local_index *)base;
	pthread_rwlock_rdlock(&x->rw);
	rag_map_iter it = rag_map_iterate(x->parts);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		lpart *p = v;
		pthread_rwlock_rdlock(&p->rw);
		rag_map_iter d = rag_map_iterate(p->docs);
		void *dv;
		while (rag_map_next(&d, NULL, NULL, &dv)) {
			ldoc *doc = dv;
			cb(arg, p->biz, doc->id, doc->title, (const char *const *)doc->texts, doc->n);
		}
		pthread_rwlock_unlock(&p->rw);
	}
	pthread_rwlock_unlock(&x->rw);
}

static json_t *local_stats(rag_index *base, const char *biz)
{
	local_index *x = (local_index *)base;
	json_int_t docs = 0, chunks = 0, bytes = 0, nbiz = 0;
	pthread_rwlock_rdlock(&x->rw);
	rag_map_iter it = rag_map_iterate(x->parts);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v)) {
		lpart *p = v;
		if (biz && strcmp(biz, p->biz) != 0)
			continue;
		pthread_rwlock_rdlock(&p->rw);
		docs += (json_int_t)rag_map_len(p->docs);
		chunks += (json_int_t)p->n;
		bytes += (json_int_t)p->log_bytes;
		nbiz += rag_map_len(p->docs) > 0;
		pthread_rwlock_unlock(&p->rw);
	}
	pthread_rwlock_unlock(&x->rw);
	return json_pack("{s:I,s:I,s:I,s:I,s:i}", "documents", docs, "chunks", chunks, "businesses", nbiz, "logBytes",
			 bytes, "dimensions", base->dim);
}

static void local_destroy(rag_index *base)
{
	local_index *x = (local_index *)base;
	rag_map_iter it = rag_map_iterate(x->parts);
	void *v;
	while (rag_map_next(&it, NULL, NULL, &v))
		lpart_free(v);
	rag_map_free(x->parts);
	rag_map_free(x->where);
	pthread_rwlock_destroy(&x->rw);
	pthread_mutex_destroy(&x->create_mu);
	free(x);
}

static const rag_index_ops local_ops = {
	.put_doc = local_put_doc,
	.delete_doc = local_delete_doc,
	.query = local_query,
	.list_docs = local_list_docs,
	.list_businesses = local_list_businesses,
	.for_each_doc = local_for_each_doc,
	.stats = local_stats,
	.destroy = local_destroy,
};

rag_index *index_local_open(const char *dir, int dim, sb_error *err)
{
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		sb_error_set(err, SB_UNAVAILABLE, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	local_index *x = calloc(1, sizeof *x);
	if (!x)
		abort();
	x->base = (rag_index){.ops = &local_ops, .name = "local", .dim = dim};
	snprintf(x->dir, sizeof x->dir, "%s", dir);
	x->stride = (dim + LANES - 1) / LANES * LANES;
	pthread_rwlock_init(&x->rw, NULL);
	pthread_mutex_init(&x->create_mu, NULL);
	x->parts = rag_map_new();
	x->where = rag_map_new();
	if (llog_load_all(x, err) < 0) {
		local_destroy(&x->base);
		return NULL;
	}
	return &x->base;
}
