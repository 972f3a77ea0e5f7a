/*
 * rag_quality_test.c — retrieval quality of the default (local) embedder
 * and index, end to end through sb-rag-worker.
 *
 * tests/data/rag/nimbus_kb.json is a realistic small business knowledge
 * base (an internet provider that also sells equipment online: prices,
 * hours, shipping, returns, accounts, troubleshooting; 29 documents), and
 * nimbus_questions.json 72 questions phrased the way callers speak, each
 * with the document(s) that answer it. maple_*.json is a second, unrelated
 * business (a dental office) used as a check that the model was not fitted
 * to the first one.
 *
 * A question's rank is the position of the first answering document among
 * the distinct documents of the top 10 chunks. Asserts recall@3 ≥ 0.85 on
 * each set; prints recall@1, recall@3 and MRR, and every question that
 * missed the top 3 (to stderr).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "rag_testkit.h"

static rt_worker W;

static int setup(void **state)
{
	if (rt_store_up() < 0 || rt_worker_start(&W, "rag-quality", NULL) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	int rc = rt_worker_stop(&W, SIGTERM);
	rt_worker_close(&W);
	sb_client_close(rt.s);
	sbt_stop(&rt.store, SIGTERM, RT_WAIT_MS);
	return rc == 0 ? 0 : -1;
}

/* 1-based rank of the first expected document among the distinct documents of res, 0 if absent. */
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
		size_t k;
		json_t *w;
		json_array_foreach(want, k, w) {
			char full[128];
			snprintf(full, sizeof full, "%s%s", prefix, json_string_value(w));
			if (!strcmp(id, full))
				rank = pos;
		}
	}
	json_decref(seen);
	return rank;
}

typedef struct score {
	int    n;
	double r1, r3, mrr;
} score;

static score evaluate(const char *questions, const char *biz, const char *prefix)
{
	json_t *qs = rt_data(questions), *q;
	score s = {0};
	size_t i;
	json_array_foreach(json_object_get(qs, "questions"), i, q) {
		sb_error err = {0};
		json_t *res = rt_query(&W, biz, sb_json_str(q, "q"), 10, &err);
		if (!res)
			fail_msg("query failed: %s", err.message);
		int rank = rank_of(res, json_object_get(q, "docs"), prefix);
		s.n++;
		s.r1 += rank == 1;
		s.r3 += rank >= 1 && rank <= 3;
		s.mrr += rank ? 1.0 / rank : 0;
		if (rank == 0 || rank > 3)
			fprintf(stderr, "  miss (rank %d): \"%s\" wants %s, got %s\n", rank, sb_json_str(q, "q"),
				json_string_value(json_array_get(json_object_get(q, "docs"), 0)), rt_hit(res, 0));
		json_decref(res);
	}
	json_decref(qs);
	s.r1 /= s.n;
	s.r3 /= s.n;
	s.mrr /= s.n;
	return s;
}

static void test_recall_nimbus(void **state)
{
	assert_int_equal(rt_load_kb(&W, "nimbus_kb.json", "biz_nimbus", ""), 0);
	score s = evaluate("nimbus_questions.json", "biz_nimbus", "");
	printf("nimbus: %d questions, recall@1 %.3f, recall@3 %.3f, MRR %.3f\n", s.n, s.r1, s.r3, s.mrr);
	assert_true(s.n >= 50);
	assert_true(s.r3 >= 0.85);
}

static void test_recall_maple(void **state)
{
	assert_int_equal(rt_load_kb(&W, "maple_kb.json", "biz_maple", ""), 0);
	score s = evaluate("maple_questions.json", "biz_maple", "");
	printf("maple: %d questions, recall@1 %.3f, recall@3 %.3f, MRR %.3f\n", s.n, s.r1, s.r3, s.mrr);
	assert_true(s.r3 >= 0.85);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recall_nimbus),
		cmocka_unit_test(test_recall_maple),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
