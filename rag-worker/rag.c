/*
 * rag.c — sb-rag-worker: main and wiring.
 *
 * Chunks, embeds, indexes and searches each business's knowledge base.
 *
 * Sockets: REP on --listen (the ops of schemas/rag.json), PUB on --events
 * (rag.indexed, rag.failed, rag.deleted, rag.queried), REQ to the store
 * (--store-url: knowledge.get/list/set_status, businesses.list). HTTP to
 * the embeddings API and the vector index when they are not local.
 *
 * Backends (rag_embed.h, rag_index.h): --embedder local|openai and
 * --index local|pinecone, in any combination; the local ones need no
 * account and no network. The local index lives under --data-dir/index.
 *
 * Shutdown (SIGTERM): cancel HTTP calls in flight, stop the reconcile, let
 * running jobs end and refuse queued ones (their documents stay pending in
 * the store and are picked up at the next start), answer the requests in
 * flight, then free everything.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rag.h"
#include "sb_daemon.h"
#include "sb_fs.h"
#include "sb_http.h"
#include "sb_log.h"
#include "sb_schema_gen.h"

static struct {
	char *listen, *events, *store_url, *data_dir, *embedder, *index;
	char *openai_base, *openai_key, *model, *pc_host, *pc_key, *pc_version, *pc_ns;
	long  dimensions, embed_batch, chunk_size, chunk_overlap, top_k, workers, index_workers, max_jobs;
	long  http_timeout_ms, query_timeout_ms, max_retries, retry_base_ms, retry_max_ms, cache_mb, store_timeout_ms;
	bool  synonyms;
} cfg;

static const sb_flag flags[] = {
	{"listen", "SB_RAG_LISTEN", SB_FLAG_STR, "ipc://{run}/rag.sock", "REP socket for requests", &cfg.listen, 0, 0, false},
	{"events", "SB_RAG_EVENTS", SB_FLAG_STR, "ipc://{run}/rag-events.sock", "PUB socket for events", &cfg.events, 0, 0, false},
	{"store-url", "SB_STORE_URL", SB_FLAG_STR, "ipc://{run}/store.sock", "the store's REP socket", &cfg.store_url, 0, 0, false},
	{"data-dir", "SB_RAG_DATA_DIR", SB_FLAG_STR, "./var/rag", "folder of the local index", &cfg.data_dir, 0, 0, false},
	{"embedder", "SB_EMBEDDER", SB_FLAG_STR, "local", "local or openai", &cfg.embedder, 0, 0, false},
	{"index", "SB_VECTOR_INDEX", SB_FLAG_STR, "local", "local or pinecone", &cfg.index, 0, 0, false},
	{"dimensions", "SB_EMBED_DIMENSIONS", SB_FLAG_INT, "0", "vector size; 0: 1024 for local, the model's for openai",
	 &cfg.dimensions, 0, 8192, false},
	{"local-synonyms", "SB_RAG_LOCAL_SYNONYMS", SB_FLAG_BOOL, "true", "local embedder: use its synonym table",
	 &cfg.synonyms, 0, 0, false},
	{"openai-base-url", "OPENAI_BASE_URL", SB_FLAG_STR, "https://api.openai.com", "embeddings API base (no /v1)",
	 &cfg.openai_base, 0, 0, false},
	{"openai-api-key", "OPENAI_API_KEY", SB_FLAG_STR, NULL, "OpenAI API key", &cfg.openai_key, 0, 0, true},
	{"embedding-model", "SB_EMBEDDING_MODEL", SB_FLAG_STR, "text-embedding-3-small", "OpenAI embedding model",
	 &cfg.model, 0, 0, false},
	{"embed-batch", "SB_EMBED_BATCH", SB_FLAG_INT, "256", "texts per embeddings request", &cfg.embed_batch, 1, 2048, false},
	{"pinecone-host", "PINECONE_HOST", SB_FLAG_STR, NULL, "Pinecone index host URL", &cfg.pc_host, 0, 0, false},
	{"pinecone-api-key", "PINECONE_API_KEY", SB_FLAG_STR, NULL, "Pinecone API key", &cfg.pc_key, 0, 0, true},
	{"pinecone-api-version", "PINECONE_API_VERSION", SB_FLAG_STR, "2025-10", "X-Pinecone-Api-Version (pinned)",
	 &cfg.pc_version, 0, 0, false},
	{"pinecone-namespace", "PINECONE_NAMESPACE", SB_FLAG_STR, "switchboard", "Pinecone namespace", &cfg.pc_ns, 0, 0, false},
	{"chunk-size", "SB_RAG_CHUNK_SIZE", SB_FLAG_INT, "1000", "largest chunk in bytes", &cfg.chunk_size, 200, 6000, false},
	{"chunk-overlap", "SB_RAG_CHUNK_OVERLAP", SB_FLAG_INT, "200", "bytes shared by consecutive chunks",
	 &cfg.chunk_overlap, 0, 2000, false},
	{"top-k", "SB_RAG_TOP_K", SB_FLAG_INT, "5", "results when rag.query gives no topK", &cfg.top_k, 1, 50, false},
	{"workers", "SB_RAG_WORKERS", SB_FLAG_INT, "4", "request threads (queries)", &cfg.workers, 1, 64, false},
	{"index-workers", "SB_RAG_INDEX_WORKERS", SB_FLAG_INT, "2", "indexing job threads", &cfg.index_workers, 1, 32, false},
	{"max-jobs", "SB_RAG_MAX_JOBS", SB_FLAG_INT, "100000", "most indexing jobs waiting", &cfg.max_jobs, 1, 10000000, false},
	{"http-timeout-ms", "SB_RAG_HTTP_TIMEOUT_MS", SB_FLAG_INT, "30000", "per HTTP attempt", &cfg.http_timeout_ms, 100,
	 600000, false},
	{"query-timeout-ms", "SB_RAG_QUERY_TIMEOUT_MS", SB_FLAG_INT, "3000",
	 "budget of each cloud call of a query, retries included (it runs inside a live call)", &cfg.query_timeout_ms, 100,
	 600000, false},
	{"max-retries", "SB_RAG_MAX_RETRIES", SB_FLAG_INT, "3", "HTTP retries per call", &cfg.max_retries, 0, 10, false},
	{"retry-base-ms", "SB_RAG_RETRY_BASE_MS", SB_FLAG_INT, "1000", "first retry of a failed document",
	 &cfg.retry_base_ms, 10, 3600000, false},
	{"retry-max-ms", "SB_RAG_RETRY_MAX_MS", SB_FLAG_INT, "300000", "longest wait between retries of a document",
	 &cfg.retry_max_ms, 10, 86400000, false},
	{"cache-mb", "SB_RAG_CACHE_MB", SB_FLAG_INT, "64", "embedding cache size (0: off)", &cfg.cache_mb, 0, 65536, false},
	{"store-timeout-ms", "SB_RAG_STORE_TIMEOUT_MS", SB_FLAG_INT, "5000", "per store request", &cfg.store_timeout_ms,
	 100, 600000, false},
	SB_FLAGS_END,
};

static rag_ctx        R;
static sb_rpc_server *rpc;

/* ---- configuration -------------------------------------------------------------------- */

static int dimensions(void)
{
	if (cfg.dimensions > 0)
		return (int)cfg.dimensions;
	return strcmp(cfg.embedder, "openai") == 0 ? embed_openai_model_dim(cfg.model) : 1024;
}

static int rag_check(void *ctx)
{
	const char *why = NULL;
	if (strcmp(cfg.embedder, "local") != 0 && strcmp(cfg.embedder, "openai") != 0)
		why = "--embedder must be local or openai";
	else if (strcmp(cfg.index, "local") != 0 && strcmp(cfg.index, "pinecone") != 0)
		why = "--index must be local or pinecone";
	else if (!strcmp(cfg.embedder, "openai") && !cfg.openai_key)
		why = "--embedder openai needs an API key (--openai-api-key or OPENAI_API_KEY)";
	else if (!strcmp(cfg.embedder, "openai") && dimensions() == 0)
		why = "--embedding-model is not a model we know the size of: set --dimensions";
	else if (!strcmp(cfg.index, "pinecone") && (!cfg.pc_host || !cfg.pc_key))
		why = "--index pinecone needs --pinecone-host (PINECONE_HOST) and an API key (PINECONE_API_KEY)";
	else if (dimensions() < 8)
		why = "--dimensions must be at least 8";
	else if (cfg.chunk_overlap * 2 > cfg.chunk_size)
		why = "--chunk-overlap must be at most half of --chunk-size";
	else if (cfg.retry_max_ms < cfg.retry_base_ms)
		why = "--retry-max-ms must be at least --retry-base-ms";
	if (why)
		fprintf(stderr, "sb-rag-worker: %s\n", why);
	return why ? -1 : 0;
}

/* ---- wiring ----------------------------------------------------------------------------- */

static void metrics_init(rag_metrics *m, const char *emb)
{
	char l[64];
	snprintf(l, sizeof l, "backend=\"%s\"", emb);
	m->queries = sb_counter("sb_rag_queries_total", "rag.query requests.", NULL);
	m->query_errors = sb_counter("sb_rag_query_errors_total", "rag.query requests that failed.", NULL);
	m->query_ms = sb_histogram("sb_rag_query_duration_ms", "rag.query: embed + search.", NULL, SB_LATENCY_MS_BOUNDS,
				   SB_LATENCY_MS_NBOUNDS);
	static const double counts[] = {0, 1, 2, 3, 5, 10, 20, 50};
	m->query_results = sb_histogram("sb_rag_query_results", "Results per query.", NULL, counts, 8);
	m->embed_calls = sb_counter("sb_rag_embed_calls_total", "Calls to the embedder.", l);
	m->embed_texts = sb_counter("sb_rag_embed_texts_total", "Texts sent to the embedder.", l);
	m->embed_failures = sb_counter("sb_rag_embed_failures_total", "Embedder calls that failed.", l);
	m->cache_hits = sb_counter("sb_rag_cache_hits_total", "Embedding cache hits.", NULL);
	m->cache_misses = sb_counter("sb_rag_cache_misses_total", "Embedding cache misses.", NULL);
	m->indexed = sb_counter("sb_rag_indexed_total", "Documents indexed.", NULL);
	m->index_failed = sb_counter("sb_rag_index_failures_total", "Index or delete jobs that failed.", NULL);
	m->index_retries = sb_counter("sb_rag_index_retries_total", "Jobs scheduled for a retry.", NULL);
	m->deleted = sb_counter("sb_rag_deleted_total", "Documents removed.", NULL);
	m->documents = sb_gauge("sb_rag_documents", "Documents in the local index.", NULL);
	m->chunks = sb_gauge("sb_rag_chunks", "Chunks in the local index.", NULL);
	m->retry_queue = sb_gauge("sb_rag_retry_queue", "Documents waiting for a retry.", NULL);
}

static int open_backends(sb_error *err)
{
	int dim = dimensions();
	if (!strcmp(cfg.embedder, "openai")) {
		embed_openai_config oc = {.base_url = cfg.openai_base, .api_key = cfg.openai_key, .model = cfg.model,
					  .dimensions = (int)cfg.dimensions, .timeout_ms = (int)cfg.http_timeout_ms,
					  .query_timeout_ms = (int)cfg.query_timeout_ms,
					  .max_retries = (int)cfg.max_retries, .batch_inputs = (int)cfg.embed_batch};
		R.emb = embed_openai_new(&oc, err);
	} else {
		R.emb = embed_local_new(dim, cfg.synonyms);
	}
	if (!R.emb)
		return -1;
	if (!strcmp(cfg.index, "pinecone")) {
		index_pinecone_config pc = {.host = cfg.pc_host, .api_key = cfg.pc_key, .api_version = cfg.pc_version,
					    .ns = cfg.pc_ns, .timeout_ms = (int)cfg.http_timeout_ms,
					    .query_timeout_ms = (int)cfg.query_timeout_ms,
					    .max_retries = (int)cfg.max_retries};
		R.idx = index_pinecone_new(&pc, dim, err);
	} else {
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s/index", cfg.data_dir);
		R.idx = index_local_open(dir, dim, err);
	}
	return R.idx ? 0 : -1;
}

/* Start-up corpus statistics from what the index holds (local index + local embedder). */
static void seed_one(void *arg, const char *biz, const char *doc, const char *title, const char *const *texts,
		     size_t n)
{
	char **full = calloc(n ? n : 1, sizeof *full);
	for (size_t i = 0; i < n; i++)
		full[i] = rag_chunk_embed_text(title, texts[i]);
	R.emb->ops->doc_added(R.emb, biz, doc, (const char *const *)full, n);
	for (size_t i = 0; i < n; i++)
		free(full[i]);
	free(full);
}

static int rag_init(void *ctx)
{
	sb_error err = {0};
	json_object_seed(0);
	sb_http_global_init();
	R.chunk_size = (int)cfg.chunk_size;
	R.chunk_overlap = (int)cfg.chunk_overlap;
	R.default_topk = (int)cfg.top_k;
	metrics_init(&R.m, cfg.embedder);
	if (sb_mkdirs(cfg.data_dir) < 0) {
		sb_error_log("rag.data_dir", "dir=%s err=\"%s\"", cfg.data_dir, strerror(errno));
		return -1;
	}
	if (open_backends(&err) < 0)
		goto fail;
	if (R.emb->ops->doc_added && R.idx->ops->for_each_doc)
		R.idx->ops->for_each_doc(R.idx, seed_one, NULL);
	if (cfg.cache_mb > 0)
		R.cache = rag_cache_new((size_t)cfg.cache_mb << 20, R.emb->dim);
	sb_client_opts so = {.timeout_ms = (int)cfg.store_timeout_ms, .resend_ms = 2000};
	if (!(R.store = sb_client_open(cfg.store_url, &so, &err)) || !(R.pub = sb_pub_open(cfg.events, &err)))
		goto fail;
	R.jobs = rag_jobs_start(&R, (int)cfg.index_workers, (int)cfg.max_jobs, (int)cfg.retry_base_ms,
				(int)cfg.retry_max_ms);
	sb_rpc_config rc = {.url = cfg.listen, .service = &SB_SVC_RAG, .handlers = RAG_OPS, .ctx = &R, .nctx = 128,
			    .nthreads = (int)cfg.workers, .max_msg = 4u << 20};
	if (sb_rpc_server_start(&rc, &rpc, &err) < 0)
		goto fail;
	rag_update_gauges(&R);
	rag_reconcile_start(&R);
	sb_info("rag.started", "embedder=%s model=%s dimensions=%d index=%s", R.emb->name, R.emb->model, R.emb->dim,
		R.idx->name);
	return 0;
fail:
	sb_error_log("rag.init_failed", "code=%s msg=\"%s\"", sb_code_name(err.code), err.message);
	return -1;
}

static void rag_fini(void *ctx)
{
	atomic_store(&R.stopping, true);
	if (R.emb)
		embed_openai_cancel(R.emb);
	if (R.idx && R.idx->ops->cancel)
		R.idx->ops->cancel(R.idx);
	rag_reconcile_join(&R);
	rag_jobs_stop(R.jobs);    /* running jobs end, queued requests are refused */
	sb_rpc_server_stop(rpc);  /* queries in flight are answered */
	rag_jobs_free(R.jobs);
	if (R.idx)
		R.idx->ops->destroy(R.idx);
	if (R.emb)
		R.emb->ops->destroy(R.emb);
	rag_cache_free(R.cache);
	sb_client_close(R.store);
	sb_pub_close(R.pub);
	sb_metrics_free_all();
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-rag-worker",
		.summary = "chunks, embeds, indexes and searches each business's knowledge base",
		.flags = flags,
		.check = rag_check,
		.init = rag_init,
		.fini = rag_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
