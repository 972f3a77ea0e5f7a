/*
 * rag_bench.c — sb-rag-worker: retrieval quality and query latency.
 *
 * Starts its own sb-store and workers in a temporary folder (tests/lib
 * harness, the same kit as the rag tests) and prints Markdown:
 *
 *   1. Retrieval quality of the local embedder on tests/data/rag (the
 *      Nimbus Fiber set of 72 caller questions and the Maple Dental set of
 *      22): recall@1, recall@3 and MRR, for several dimensions and with the
 *      synonym table off, each through a fresh worker.
 *   2. Query latency (rag.query over nng, end to end: embed + search +
 *      reply), p50/p90/p99/max and queries per second from one client, on
 *      the small business and on a large one (SB_BENCH_BIG_DOCS synthetic
 *      documents of about five chunks each).
 *   3. The same while the large business is being re-indexed (the query
 *      path must not wait for indexing).
 *
 * Knobs (environment): SB_BENCH_QUERIES (default 2000 per measurement),
 * SB_BENCH_BIG_DOCS (default 2000), SB_BENCH_DIMS (default "512,1024,2048").
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../rag_testkit.h"

#define MAX_LAT (1 << 20)

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : def;
}

static void die(const char *what)
{
	fprintf(stderr, "rag_bench: %s (logs in %s)\n", what, sbt_dir());
	exit(1);
}

/* ---- quality ------------------------------------------------------------------------------ */

typedef struct quality {
	int    n;
	double r1, r3, mrr;
} quality;

static int rank_of(const json_t *res, const json_t *want, const char *prefix)
{
	json_t *seen = json_object();
	int rank = 0, pos = 0;
	for (size_t i = 0; i < json_array_size(res) && !rank; i++) {
		const char *id = rt_hit(res, i);
		if (json_object_get(seen, id))
			continue;
		json_object_set_new(seen, id, json_true());
		pos++;
		for (size_t k = 0; k < json_array_size(want); k++) {
			char full[128];
			snprintf(full, sizeof full, "%s%s", prefix, json_string_value(json_array_get(want, k)));
			rank = !strcmp(id, full) ? pos : rank;
		}
	}
	json_decref(seen);
	return rank;
}

static quality evaluate(rt_worker *w, const char *questions, const char *biz, const char *prefix)
{
	json_t *qs = rt_data(questions), *q;
	quality s = {0};
	size_t i;
	json_array_foreach(json_object_get(qs, "questions"), i, q) {
		sb_error err;
		json_t *res = rt_query(w, biz, sb_json_str(q, "q"), 10, &err);
		int rank = rank_of(res, json_object_get(q, "docs"), prefix);
		s.n++;
		s.r1 += rank == 1;
		s.r3 += rank >= 1 && rank <= 3;
		s.mrr += rank ? 1.0 / rank : 0;
		json_decref(res);
	}
	json_decref(qs);
	s.r1 /= s.n ? s.n : 1;
	s.r3 /= s.n ? s.n : 1;
	s.mrr /= s.n ? s.n : 1;
	return s;
}

/* One worker configuration: load both knowledge bases, print one table row per set. */
static void quality_row(const char *label, const char *dims, bool synonyms, int k)
{
	rt_worker w = {0};
	char name[32], pa[16], pb[16];
	snprintf(name, sizeof name, "rag-q%d", k);
	snprintf(pa, sizeof pa, "q%da-", k);
	snprintf(pb, sizeof pb, "q%db-", k);
	const char *args[] = {"--dimensions", dims, synonyms ? "--local-synonyms" : "--no-local-synonyms", NULL};
	if (rt_worker_start(&w, name, args) < 0)
		die("worker did not start");
	char ba[32], bb[32];
	snprintf(ba, sizeof ba, "biz_%sn", pa);
	snprintf(bb, sizeof bb, "biz_%sm", pb);
	if (rt_load_kb(&w, "nimbus_kb.json", ba, pa) < 0 || rt_load_kb(&w, "maple_kb.json", bb, pb) < 0)
		die("indexing the knowledge bases failed");
	quality a = evaluate(&w, "nimbus_questions.json", ba, pa), b = evaluate(&w, "maple_questions.json", bb, pb);
	printf("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", label, dims, a.r1, a.r3, a.mrr, b.r1, b.r3,
	       b.mrr);
	rt_worker_stop(&w, SIGTERM);
	rt_worker_close(&w);
}

/* ---- latency ------------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Run n queries (cycling through the questions of file) against biz; print one row. */
static void latency_row(rt_worker *w, const char *label, const char *biz, const char *file, int n)
{
	json_t *root = rt_data(file), *qs = json_object_get(root, "questions");
	size_t nq = json_array_size(qs);
	uint32_t *lat = malloc((size_t)n * sizeof *lat);
	int errors = 0;
	int64_t t0 = sb_mono_us();
	for (int i = 0; i < n; i++) {
		sb_error err;
		int64_t a = sb_mono_us();
		json_t *res = rt_query(w, biz, sb_json_str(json_array_get(qs, (size_t)i % nq), "q"), 5, &err);
		lat[i] = (uint32_t)(sb_mono_us() - a);
		errors += res == NULL;
		json_decref(res);
	}
	double secs = (double)(sb_mono_us() - t0) / 1e6;
	qsort(lat, (size_t)n, sizeof *lat, cmp_u32);
	printf("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.0f | %d |\n", label, n, lat[n / 2] / 1000.0,
	       lat[(size_t)(n * 0.9)] / 1000.0, lat[(size_t)(n * 0.99)] / 1000.0, lat[n - 1] / 1000.0, n / secs, errors);
	free(lat);
	json_decref(root);
}

typedef struct loader {
	rt_worker *w;
	int        from, to;
	atomic_int *done;
} loader;

/* A synthetic document of about five chunks: numbered paragraphs about numbered products. */
static char *synthetic(int i)
{
	static const char *const topics[] = {"router", "modem", "cable", "extender", "adapter", "switch", "antenna"};
	size_t cap = 8000, o = 0;
	char *s = malloc(cap);
	for (int p = 0; p < 28; p++)
		o += (size_t)snprintf(s + o, cap - o, "%sThe %s model %d-%d ships in %d days, costs %d dollars and has a %d "
				      "year warranty; returns within %d days.", p ? "\n\n" : "", topics[(i + p) % 7], i, p,
				      1 + (i + p) % 9, 20 + (i * 7 + p) % 300, 1 + p % 3, 10 + i % 50);
	return s;
}

static void *load_main(void *arg)
{
	loader *l = arg;
	for (int i = l->from; i < l->to; i++) {
		char id[32];
		snprintf(id, sizeof id, "big-%05d", i);
		char *c = synthetic(i);
		sb_error err;
		json_t *r = rt_doc(l->w, "biz_big", id, "Product sheet", "products", c, &err);
		json_decref(r);
		free(c);
		atomic_fetch_add(l->done, 1);
	}
	return NULL;
}

/* Index ndocs synthetic documents into biz_big with 4 client threads. */
static void load_big(rt_worker *w, int ndocs)
{
	pthread_t t[4];
	loader l[4];
	atomic_int done = 0;
	rt_business("biz_big");
	for (int k = 0; k < 4; k++) {
		l[k] = (loader){w, ndocs * k / 4, ndocs * (k + 1) / 4, &done};
		pthread_create(&t[k], NULL, load_main, &l[k]);
	}
	for (int k = 0; k < 4; k++)
		pthread_join(t[k], NULL);
}

int main(void)
{
	int nq = env_int("SB_BENCH_QUERIES", 2000), big = env_int("SB_BENCH_BIG_DOCS", 2000);
	const char *dims_env = getenv("SB_BENCH_DIMS");
	char dims[128];
	snprintf(dims, sizeof dims, "%s", dims_env && *dims_env ? dims_env : "512,1024,2048");
	if (rt_store_up() < 0)
		die("sb-store did not start");

	printf("### rag-worker: retrieval quality (local embedder, tests/data/rag)\n\n");
	printf("Nimbus: 29 documents, 72 caller questions; Maple: 14 documents, 22 questions. Rank = first answering "
	       "document among the distinct documents of the top 10 chunks.\n\n");
	printf("| embedder | dims | Nimbus R@1 | Nimbus R@3 | Nimbus MRR | Maple R@1 | Maple R@3 | Maple MRR |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	int k = 0;
	char *save = NULL;
	for (char *d = strtok_r(dims, ",", &save); d; d = strtok_r(NULL, ",", &save))
		quality_row("local", d, true, k++);
	quality_row("local, no synonyms", "1024", false, k++);
	printf("\n");

	rt_worker w = {0};
	if (rt_worker_start(&w, "rag-lat", NULL) < 0 || rt_load_kb(&w, "nimbus_kb.json", "biz_small", "s-") < 0)
		die("latency worker");
	int64_t t0 = sb_mono_ms();
	load_big(&w, big);
	double load_s = (double)(sb_mono_ms() - t0) / 1000.0;
	json_t *st = rt_stats(&w, "biz_big");
	long chunks = (long)sb_json_int(json_object_get(st, "index"), "chunks", 0);
	json_decref(st);
	printf("### rag-worker: query latency (local/local, 1024 dims, rag.query over nng, one client)\n\n");
	printf("Large business: %d documents, %ld chunks, indexed in %.1f s by 4 clients (%.0f documents/s, each "
	       "stored, embedded, fsynced and recorded before its reply).\n\n", big, chunks, load_s, big / load_s);
	printf("| business | queries | p50 ms | p90 ms | p99 ms | max ms | queries/s | errors |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	char label[96];
	st = rt_stats(&w, "biz_small");
	snprintf(label, sizeof label, "small (%lld chunks)", (long long)sb_json_int(json_object_get(st, "index"), "chunks", 0));
	json_decref(st);
	latency_row(&w, label, "biz_small", "nimbus_questions.json", nq);
	snprintf(label, sizeof label, "large (%ld chunks)", chunks);
	latency_row(&w, label, "biz_big", "nimbus_questions.json", nq);
	json_t *data = NULL;
	rag_rag_reindex(w.c, json_pack("{s:s}", "businessId", "biz_big"), &data, NULL);
	json_decref(data);
	latency_row(&w, "small, while the large one re-indexes", "biz_small", "nimbus_questions.json", nq);
	st = rt_stats(&w, NULL);
	printf("\nJobs still queued when the last measurement ended: %lld (the re-index was running throughout).\n\n",
	       (long long)sb_json_int(json_object_get(st, "jobs"), "queued", 0));
	json_decref(st);
	rt_wait_idle(&w, 600000);
	rt_worker_stop(&w, SIGTERM);
	rt_worker_close(&w);
	sb_client_close(rt.s);
	sbt_stop(&rt.store, SIGTERM, RT_WAIT_MS);
	return 0;
}
