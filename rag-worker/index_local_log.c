/*
 * index_local_log.c — persistence of the local vector index: one
 * append-only log per business under --data-dir/index/.
 *
 * File "<biz>.log" (or "x-<sha256 prefix>.log" when the id has characters
 * unfit for a file name) is a sequence of records:
 *
 *     u32 magic "RAG1" | u32 type | u32 len | payload[len] | check[8]
 *
 * check = the first 8 bytes of SHA-256 over everything before it. Integers
 * and floats are little-endian (the hosts we build for). Types:
 *
 *     HEAD  u32 version, u32 dim, str business          (first record)
 *     PUT   str id, str title, str category (len ~0 = none), str fingerprint,
 *           u32 dim, u32 n, then n × (str text, float[dim] vector)
 *     DEL   str id
 *
 * where str = u32 len + bytes. A PUT replaces the whole document.
 *
 * Durability: a record is appended with one write() and fdatasync()ed
 * before the index changes in memory and before the caller acknowledges,
 * so an acknowledged change survives kill -9 and power loss. On load every
 * record's checksum is verified; the first bad or short record ends the
 * log (a torn tail from a crash mid-append, which was never acknowledged)
 * and the file is cut there. A log whose HEAD has another dimension is
 * moved aside (".dim<N>") and its business re-indexed from the store.
 *
 * Compaction: when the log passes twice the size of its live records
 * (plus 1 MB, so small logs are left alone), the
 * live documents are written to "<file>.tmp", fdatasync, rename over the
 * log, fsync of the folder: a crash at any point leaves the old or the new
 * log, whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_local.h"
#include "sb_hmac.h"
#include "sb_log.h"

#define MAGIC       0x31474152u /* "RAG1" */
#define VERSION     1
#define HDR_BYTES   12
#define CHECK_BYTES 8
#define MAX_RECORD  (256u << 20)
#define NO_STRING   0xFFFFFFFFu

enum { R_HEAD = 1, R_PUT = 2, R_DEL = 3 };

/* ---- building records --------------------------------------------------------------- */

typedef struct wbuf {
	unsigned char *p;
	size_t         n, cap;
} wbuf;

static void put_bytes(wbuf *b, const void *src, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void put_u32(wbuf *b, uint32_t v)
{
	put_bytes(b, &v, 4);
}

static void put_str(wbuf *b, const char *s)
{
	if (!s) {
		put_u32(b, NO_STRING);
		return;
	}
	uint32_t n = (uint32_t)strlen(s);
	put_u32(b, n);
	put_bytes(b, s, n);
}

/* Start a record of type t; finish_record fills in len and appends the checksum. */
static void begin_record(wbuf *b, uint32_t t)
{
	b->n = 0;
	put_u32(b, MAGIC);
	put_u32(b, t);
	put_u32(b, 0);
}

static void finish_record(wbuf *b)
{
	uint32_t len = (uint32_t)(b->n - HDR_BYTES);
	memcpy(b->p + 8, &len, 4);
	unsigned char h[SB_SHA256_LEN];
	sb_sha256(b->p, b->n, h);
	put_bytes(b, h, CHECK_BYTES);
}

static void put_doc_record(wbuf *b, const ldoc *d, const float *vecs, int dim, int stride)
{
	begin_record(b, R_PUT);
	put_str(b, d->id);
	put_str(b, d->title);
	put_str(b, d->category);
	put_str(b, d->fingerprint);
	put_u32(b, (uint32_t)dim);
	put_u32(b, (uint32_t)d->n);
	for (size_t k = 0; k < d->n; k++) {
		put_str(b, d->texts[k]);
		put_bytes(b, vecs + (size_t)k * (size_t)stride, (size_t)dim * sizeof(float));
	}
	finish_record(b);
}

/* ---- writing ------------------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Append one finished record durably; on failure cut the file back to where it was. */
static int append(lpart *p, const wbuf *b, sb_error *err)
{
	if (write_all(p->fd, b->p, b->n) == 0 && fdatasync(p->fd) == 0) {
		p->log_bytes += (off_t)b->n;
		return 0;
	}
	int e = errno;
	if (ftruncate(p->fd, p->log_bytes) == 0)
		fdatasync(p->fd);
	return sb_error_set(err, SB_UNAVAILABLE, "index log %s: %s", p->path, strerror(e));
}

int llog_put(lpart *p, const ldoc *d, const float *vecs, int dim, size_t *record_bytes, sb_error *err)
{
	wbuf b = {0};
	put_doc_record(&b, d, vecs, dim, dim);
	int rc = append(p, &b, err);
	*record_bytes = b.n;
	free(b.p);
	return rc;
}

int llog_del(lpart *p, const char *id, sb_error *err)
{
	wbuf b = {0};
	begin_record(&b, R_DEL);
	put_str(&b, id);
	finish_record(&b);
	int rc = append(p, &b, err);
	free(b.p);
	return rc;
}

static void head_record(wbuf *b, const char *biz, int dim)
{
	begin_record(b, R_HEAD);
	put_u32(b, VERSION);
	put_u32(b, (uint32_t)dim);
	put_str(b, biz);
	finish_record(b);
}

/* The log file of biz: the id itself when it is a safe file name, else a hash. */
static void log_path(char *out, size_t len, const char *dir, const char *biz)
{
	size_t n = strlen(biz);
	bool safe = n > 0 && n <= 64 && biz[0] != '.';
	for (size_t i = 0; safe && i < n; i++) {
		char c = biz[i];
		safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
	}
	if (safe) {
		snprintf(out, len, "%s/%s.log", dir, biz);
		return;
	}
	unsigned char h[SB_SHA256_LEN];
	char hex[2 * SB_SHA256_LEN + 1];
	sb_sha256(biz, n, h);
	sb_hex(h, 16, hex);
	snprintf(out, len, "%s/x-%s.log", dir, hex);
}

int llog_create(lpart *p, const char *dir, const char *biz, int dim, sb_error *err)
{
	log_path(p->path, sizeof p->path, dir, biz);
	p->fd = open(p->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (p->fd < 0)
		return sb_error_set(err, SB_UNAVAILABLE, "cannot open %s: %s", p->path, strerror(errno));
	wbuf b = {0};
	head_record(&b, biz, dim);
	p->log_bytes = 0;
	int rc = append(p, &b, err);
	free(b.p);
	if (rc == 0 && fsync_dir(dir) < 0)
		rc = sb_error_set(err, SB_UNAVAILABLE, "cannot sync %s: %s", dir, strerror(errno));
	return rc;
}

/* ---- compaction -------------------------------------------------------------------------- */

/* Write every live document of p to path. */
static int write_snapshot(lpart *p, const char *path, int dim, int stride, off_t *bytes)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	wbuf b = {0};
	head_record(&b, p->biz, dim);
	int rc = write_all(fd, b.p, b.n);
	*bytes = (off_t)b.n;
	rag_map_iter it = rag_map_iterate(p->docs);
	void *val;
	while (rc == 0 && rag_map_next(&it, NULL, NULL, &val)) {
		ldoc *d = val;
		float *vecs = malloc((d->n ? d->n : 1) * (size_t)stride * sizeof *vecs);
		for (size_t k = 0; k < d->n; k++)
			memcpy(vecs + k * (size_t)stride, p->vecs + d->slots[k] * (size_t)stride, (size_t)stride * sizeof *vecs);
		put_doc_record(&b, d, vecs, dim, stride);
		free(vecs);
		rc = write_all(fd, b.p, b.n);
		*bytes += (off_t)b.n;
	}
	free(b.p);
	if (rc == 0)
		rc = fdatasync(fd);
	close(fd);
	return rc;
}

void llog_maybe_compact(lpart *p, int dim, int stride)
{
	if (p->log_bytes < 2 * p->live_bytes + (1 << 20))
		return;
	char tmp[PATH_MAX + 8], dir[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp", p->path);
	snprintf(dir, sizeof dir, "%s", p->path);
	*strrchr(dir, '/') = '\0';
	off_t bytes;
	if (write_snapshot(p, tmp, dim, stride, &bytes) < 0 || rename(tmp, p->path) < 0 || fsync_dir(dir) < 0) {
		sb_warn("index.compact_failed", "path=%s err=\"%s\"", p->path, strerror(errno));
		unlink(tmp);
		return;
	}
	int fd = open(p->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		sb_error_log("index.reopen_failed", "path=%s err=\"%s\"", p->path, strerror(errno));
		return; /* keep appending to the old inode: still durable, compaction retried later */
	}
	sb_info("index.compacted", "business=%s from=%lld to=%lld", p->biz, (long long)p->log_bytes, (long long)bytes);
	close(p->fd);
	p->fd = fd;
	p->log_bytes = bytes;
}

/* ---- reading -------------------------------------------------------------------------------- */

typedef struct rbuf {
	const unsigned char *p;
	size_t               n, off;
	bool                 bad;
} rbuf;

static uint32_t get_u32(rbuf *r)
{
	uint32_t v = 0;
	if (r->off + 4 > r->n) {
		r->bad = true;
		return 0;
	}
	memcpy(&v, r->p + r->off, 4);
	r->off += 4;
	return v;
}

/* A malloc'd NUL-terminated copy, or NULL (also for the "none" marker; check r->bad). */
static char *get_str(rbuf *r)
{
	uint32_t n = get_u32(r);
	if (r->bad || n == NO_STRING)
		return NULL;
	if (r->off + n > r->n) {
		r->bad = true;
		return NULL;
	}
	char *s = strndup((const char *)r->p + r->off, n);
	if (!s)
		abort();
	r->off += n;
	return s;
}

/* The payload of the record at *off in m (size n), checked; advances *off. */
static bool next_record(const unsigned char *m, size_t n, size_t *off, uint32_t *type, rbuf *payload)
{
	uint32_t hdr[3];
	if (*off + HDR_BYTES > n)
		return false;
	memcpy(hdr, m + *off, HDR_BYTES);
	if (hdr[0] != MAGIC || hdr[2] > MAX_RECORD || *off + HDR_BYTES + hdr[2] + CHECK_BYTES > n)
		return false;
	unsigned char h[SB_SHA256_LEN];
	sb_sha256(m + *off, HDR_BYTES + hdr[2], h);
	if (memcmp(h, m + *off + HDR_BYTES + hdr[2], CHECK_BYTES) != 0)
		return false;
	*type = hdr[1];
	*payload = (rbuf){.p = m + *off + HDR_BYTES, .n = hdr[2]};
	*off += HDR_BYTES + hdr[2] + CHECK_BYTES;
	return true;
}

/* Parse a PUT payload into a document and a pointer to its first vector's bytes. */
static ldoc *parse_put(rbuf *r, int dim, float **vecs)
{
	ldoc *d = calloc(1, sizeof *d);
	d->id = get_str(r);
	d->title = get_str(r);
	d->category = get_str(r);
	d->fingerprint = get_str(r);
	uint32_t rdim = get_u32(r), n = get_u32(r);
	if (r->bad || !d->id || !d->title || !d->fingerprint || rdim != (uint32_t)dim || n > r->n) {
		ldoc_free(d);
		return NULL;
	}
	d->n = n;
	d->texts = calloc(n ? n : 1, sizeof *d->texts);
	*vecs = malloc((n ? n : 1) * (size_t)dim * sizeof **vecs);
	for (uint32_t k = 0; k < n && !r->bad; k++) {
		d->texts[k] = get_str(r);
		if (!d->texts[k] || r->off + (size_t)dim * 4 > r->n) {
			r->bad = true;
			break;
		}
		memcpy(*vecs + (size_t)k * (size_t)dim, r->p + r->off, (size_t)dim * 4);
		r->off += (size_t)dim * 4;
	}
	if (r->bad) {
		free(*vecs);
		ldoc_free(d);
		return NULL;
	}
	return d;
}

/* Apply one record to p; false if it does not make sense (treated like a torn record). */
static bool replay(local_index *x, lpart *p, uint32_t type, rbuf *r, size_t record_bytes)
{
	if (type == R_DEL) {
		char *id = get_str(r);
		ldoc *old = id ? lpart_apply_del(p, id, x->stride) : NULL;
		if (old)
			p->live_bytes -= (off_t)old->record_bytes;
		ldoc_free(old);
		free(id);
		return id != NULL;
	}
	float *vecs = NULL;
	ldoc *d = type == R_PUT ? parse_put(r, x->base.dim, &vecs) : NULL;
	if (!d)
		return false;
	d->record_bytes = record_bytes;
	ldoc *old = rag_map_gets(p->docs, d->id);
	if (old)
		p->live_bytes -= (off_t)old->record_bytes;
	p->live_bytes += (off_t)record_bytes;
	lpart_apply_put(p, x->stride, d, vecs, x->base.dim);
	free(vecs);
	return true;
}

/* Read the HEAD record: the business id, or NULL (with *dim set when only the dimension differs). */
static char *read_head(const unsigned char *m, size_t n, size_t *off, uint32_t *dim)
{
	uint32_t type;
	rbuf r;
	*dim = 0;
	if (!next_record(m, n, off, &type, &r) || type != R_HEAD || get_u32(&r) != VERSION)
		return NULL;
	*dim = get_u32(&r);
	char *biz = get_str(&r);
	if (r.bad || !biz || !*biz) {
		free(biz);
		return NULL;
	}
	return biz;
}

/* Move a log we cannot use out of the way, keeping it for inspection. */
static void set_aside(const char *path, const char *why)
{
	char to[PATH_MAX];
	if (snprintf(to, sizeof to, "%s.%s", path, why) < (int)sizeof to && rename(path, to) == 0)
		sb_warn("index.log_set_aside", "path=%s reason=%s", path, why);
}

/* Replay records after the HEAD; cut a torn tail. */
static void replay_all(local_index *x, lpart *p, const unsigned char *m, size_t n, size_t off)
{
	uint32_t type;
	rbuf r;
	size_t start = off;
	while (start = off, next_record(m, n, &off, &type, &r))
		if (!replay(x, p, type, &r, off - start)) {
			off = start;
			break;
		}
	p->log_bytes = (off_t)start;
	if (start < n) {
		sb_warn("index.torn_tail", "business=%s path=%s kept_bytes=%zu dropped_bytes=%zu", p->biz, p->path,
			start, n - start);
		if (ftruncate(p->fd, (off_t)start) == 0)
			fdatasync(p->fd);
	}
}

/* Load one log file into a new partition of x. */
static void load_file(local_index *x, const char *path)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	const unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		sb_warn("index.load_failed", "path=%s err=\"%s\"", path, strerror(errno));
		close(fd);
		return;
	}
	size_t off = 0;
	uint32_t dim;
	char *biz = read_head(m, (size_t)st.st_size, &off, &dim);
	char why[32] = "bad";
	if (dim && dim != (uint32_t)x->base.dim)
		snprintf(why, sizeof why, "dim%u", dim);
	if (!biz || dim != (uint32_t)x->base.dim || rag_map_gets(x->parts, biz)) {
		munmap((void *)m, (size_t)st.st_size);
		close(fd);
		set_aside(path, biz && dim == (uint32_t)x->base.dim ? "duplicate" : why);
		free(biz);
		return;
	}
	lpart *p = lpart_new(biz);
	memcpy(p->path, path, strlen(path) + 1); /* both PATH_MAX */
	p->fd = fd;
	replay_all(x, p, m, (size_t)st.st_size, off);
	munmap((void *)m, (size_t)st.st_size);
	rag_map_puts(x->parts, biz, p);
	rag_map_iter it = rag_map_iterate(p->docs);
	const void *id;
	size_t idlen;
	while (rag_map_next(&it, &id, &idlen, NULL))
		rag_map_put(x->where, id, idlen, p);
	sb_info("index.loaded", "business=%s documents=%zu chunks=%zu bytes=%lld", biz, rag_map_len(p->docs), p->n,
		(long long)p->log_bytes);
	free(biz);
}

int llog_load_all(local_index *x, sb_error *err)
{
	DIR *d = opendir(x->dir);
	if (!d)
		return sb_error_set(err, SB_UNAVAILABLE, "cannot read %s: %s", x->dir, strerror(errno));
	struct dirent *e;
	char path[PATH_MAX];
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (snprintf(path, sizeof path, "%s/%s", x->dir, e->d_name) >= (int)sizeof path)
			continue;
		if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0)
			load_file(x, path);
		else if (n > 8 && strcmp(e->d_name + n - 8, ".log.tmp") == 0)
			unlink(path); /* an unfinished compaction: the .log is whole */
	}
	closedir(d);
	return 0;
}
