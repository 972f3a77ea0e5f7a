/*
 * rag_reconcile.c — make the vector index agree with the store.
 *
 * At start (in the background, retrying with backoff until the store
 * answers) and for rag.reindex, per business, from knowledge.list:
 *
 *   - a document whose status is pending or failed is queued for indexing
 *     (it was never finished: a crash, a transient failure, a permanent
 *     failure whose cause may be fixed by now — "never silently dropped");
 *   - with an index that can list its documents (local): a document marked
 *     indexed but missing from the index, or indexed from other text (its
 *     fingerprint: content, title, category, model, chunking) or into
 *     another number of chunks, is queued too — so changing the model or
 *     the chunking re-indexes everything — and a document in the index that
 *     the store no longer has is deleted (it was deleted while we were
 *     down);
 *   - with an index that cannot list (Pinecone), indexed documents only feed
 *     the local embedder's corpus statistics, if that is the embedder.
 *
 * rag.reindex queues every document of the business regardless of status.
 * Queued jobs read the document from the store when they run, so the queue
 * holds ids, not contents. Paging is by offset: a document deleted during
 * the pass can make one later document be skipped; the next pass (start,
 * reindex) catches it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rag.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_schema_gen.h"
#include "sb_time.h"

#define PAGE 100 /* documents per knowledge.list page: bounds the reply (contents included) */

/* The one start-up reconcile of the process (started and joined by the main thread). */
static struct {
	pthread_t       thread;
	bool            started;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
} recon = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Feed a stored document's chunks to the embedder's corpus statistics. */
static void feed_corpus(rag_ctx *r, const char *biz, const json_t *doc)
{
	rag_chunks c;
	rag_chunk_split(sb_json_str(doc, "content"), r->chunk_size, r->chunk_overlap, &c);
	char **texts = calloc(c.n, sizeof *texts);
	for (size_t i = 0; i < c.n; i++)
		texts[i] = rag_chunk_embed_text(sb_json_str(doc, "title"), c.text[i]);
	r->emb->ops->doc_added(r->emb, biz, sb_json_str(doc, "id"), (const char *const *)texts, c.n);
	for (size_t i = 0; i < c.n; i++)
		free(texts[i]);
	free(texts);
	rag_chunks_free(&c);
}

/* Decide about one stored document: queue it, or only account for it. */
static int reconcile_doc(rag_ctx *r, const char *biz, const json_t *doc, const json_t *local, bool force,
			 int *queued, sb_error *err)
{
	const char *id = sb_json_str(doc, "id"), *status = sb_json_str(doc, "indexStatus");
	const json_t *have = local ? json_object_get(local, id) : NULL;
	char fp[33];
	rag_fingerprint(r, doc, fp);
	bool stale = local && (!have || sb_json_int(have, "chunks", -1) != sb_json_int(doc, "chunks", -2) ||
			       !sb_json_str(have, "fingerprint") || strcmp(sb_json_str(have, "fingerprint"), fp) != 0);
	bool need = force || !status || strcmp(status, "indexed") != 0 || stale;
	if (!need) {
		if (!r->idx->ops->for_each_doc && r->emb->ops->doc_added)
			feed_corpus(r, biz, doc);
		return 0;
	}
	if (rag_jobs_index(r->jobs, NULL, biz, id, NULL) < 0)
		return sb_error_set(err, SB_UNAVAILABLE, "indexing queue full or stopping after %d documents", *queued);
	(*queued)++;
	return 0;
}

/* Walk the business's documents in the store; seen collects their ids. */
static int walk_store(rag_ctx *r, const char *biz, const json_t *local, bool force, json_t *seen, int *queued,
		      sb_error *err)
{
	for (int offset = 0;; offset += PAGE) {
		json_t *page = NULL;
		json_t *args = json_pack("{s:s,s:i,s:i}", "businessId", biz, "limit", PAGE, "offset", offset);
		if (store_knowledge_list(r->store, args, &page, err) < 0)
			return -1;
		json_t *items = json_object_get(page, "items");
		size_t i, n = json_array_size(items);
		json_t *doc;
		int rc = 0;
		json_array_foreach(items, i, doc) {
			json_object_set_new(seen, sb_json_str(doc, "id") ? sb_json_str(doc, "id") : "", json_true());
			if (rc == 0)
				rc = reconcile_doc(r, biz, doc, local, force, queued, err);
		}
		json_decref(page);
		if (rc < 0)
			return -1;
		if (n < PAGE)
			return 0;
	}
}

int rag_reconcile_business(rag_ctx *r, const char *biz, bool force, int *queued, int *removed, sb_error *err)
{
	json_t *local = r->idx->ops->list_docs ? r->idx->ops->list_docs(r->idx, biz) : NULL;
	json_t *seen = json_object();
	*queued = *removed = 0;
	int rc = walk_store(r, biz, local, force, seen, queued, err);
	const char *id;
	json_t *v;
	json_object_foreach(local, id, v) {
		if (rc == 0 && !json_object_get(seen, id)) {
			if (rag_jobs_delete(r->jobs, NULL, biz, id) < 0)
				rc = sb_error_set(err, SB_UNAVAILABLE, "indexing queue full or stopping");
			else
				(*removed)++;
		}
	}
	json_decref(local);
	json_decref(seen);
	return rc;
}

/* Every business id of the store and of the index, without duplicates. */
static json_t *all_businesses(rag_ctx *r, sb_error *err)
{
	json_t *ids = json_object();
	for (int offset = 0;; offset += PAGE) {
		json_t *page = NULL;
		if (store_businesses_list(r->store, json_pack("{s:i,s:i}", "limit", PAGE, "offset", offset), &page, err) < 0) {
			json_decref(ids);
			return NULL;
		}
		size_t i, n = json_array_size(json_object_get(page, "items"));
		json_t *b;
		json_array_foreach(json_object_get(page, "items"), i, b)
			if (sb_json_str(b, "id"))
				json_object_set_new(ids, sb_json_str(b, "id"), json_true());
		json_decref(page);
		if (n < PAGE)
			break;
	}
	json_t *local = r->idx->ops->list_businesses ? r->idx->ops->list_businesses(r->idx) : json_array();
	size_t i;
	json_t *b;
	json_array_foreach(local, i, b)
		json_object_set_new(ids, json_string_value(b), json_true());
	json_decref(local);
	return ids;
}

/* One full pass; 0 when every business was reconciled. */
static int reconcile_all(rag_ctx *r, sb_error *err)
{
	json_t *ids = all_businesses(r, err);
	if (!ids)
		return -1;
	int total_q = 0, total_rm = 0, rc = 0;
	const char *biz;
	json_t *v;
	json_object_foreach(ids, biz, v) {
		int q, rm;
		if (atomic_load(&r->stopping) || (rc = rag_reconcile_business(r, biz, false, &q, &rm, err)) < 0)
			break;
		total_q += q;
		total_rm += rm;
	}
	if (rc == 0 && !atomic_load(&r->stopping))
		sb_info("rag.reconciled", "businesses=%zu queued=%d removed=%d", json_object_size(ids), total_q, total_rm);
	json_decref(ids);
	return rc;
}

/* Wait ms, or less if stopping. */
static void pause_ms(rag_ctx *r, int ms)
{
	struct timespec ts;
	ts = sb_timespec_in(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&recon.mu);
	if (!atomic_load(&r->stopping))
		pthread_cond_timedwait(&recon.cv, &recon.mu, &ts);
	pthread_mutex_unlock(&recon.mu);
}

static void *reconcile_main(void *arg)
{
	rag_ctx *r = arg;
	for (int attempt = 0; !atomic_load(&r->stopping); attempt++) {
		sb_error err = {0};
		if (reconcile_all(r, &err) == 0) {
			atomic_store(&r->reconciled, true);
			break;
		}
		int wait = 250 << (attempt < 6 ? attempt : 6);
		sb_warn("rag.reconcile_retry", "attempt=%d wait_ms=%d code=%s msg=\"%.120s\"", attempt + 1, wait,
			sb_code_name(err.code), err.message);
		pause_ms(r, wait);
	}
	return NULL;
}

void rag_reconcile_start(rag_ctx *r)
{
	recon.started = pthread_create(&recon.thread, NULL, reconcile_main, r) == 0;
}

void rag_reconcile_join(rag_ctx *r)
{
	if (!recon.started)
		return;
	pthread_mutex_lock(&recon.mu);
	pthread_cond_broadcast(&recon.cv);
	pthread_mutex_unlock(&recon.mu);
	pthread_join(recon.thread, NULL);
	recon.started = false;
}
