/*
 * bridge_marks_test.c — unit tests of the playback/barge-in arithmetic
 * (media-bridge/bridge_marks.c, compiled in directly: it is pure).
 *
 * Cases: real-time extrapolation between echoes and its cap at the oldest
 * unechoed mark; playback restarting after Twilio's buffer ran dry; marks
 * echoed after a `clear` (old generation) ignored; truncation of the audible
 * item at the played offset, clamped to what the model produced, and of later
 * items at 0; fully played items not truncated; ring and item-table limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../media-bridge/bridge_marks.c"

/* Send `bytes` of item slot with marks every 100 ms as the bridge does. */
static void send_audio(bridge_marks *m, int slot, uint32_t bytes, int64_t now, char names[][MARKS_NAME_MAX], int *nnames)
{
	for (uint32_t off = 0; off < bytes; off += 160) {
		marks_produced(m, slot, 160);
		marks_sent(m, slot, 160, now);
		if (marks_due(m))
			assert_int_equal(marks_add(m, names[(*nnames)++]), 0);
	}
}

static void test_extrapolation_and_cap(void **state)
{
	bridge_marks m;
	char names[64][MARKS_NAME_MAX];
	int n = 0;
	marks_init(&m);
	int s = marks_item_slot(&m, "item_a", 0, 1000);
	send_audio(&m, s, 8000, 1000, names, &n); /* 1 s of audio at t=1000 */
	assert_int_equal(n, 10);
	assert_string_equal(names[0], "g1.0");
	/* nothing echoed: playback started at 1000, capped at the first mark (800) */
	assert_int_equal(marks_played(&m, 1050), 400);
	assert_int_equal(marks_played(&m, 1500), 800);
	assert_true(marks_outstanding(&m, 1500));
	/* echo of g1.2 (position 2400) at t=1310 */
	assert_int_equal(marks_echo(&m, names[2], strlen(names[2]), 1310), 1);
	assert_int_equal(m.count, 7);
	assert_int_equal(marks_played(&m, 1310), 2400);
	assert_int_equal(marks_played(&m, 1360), 2800);
	assert_int_equal(marks_played(&m, 1900), 3200); /* cap: g1.3 not echoed */
	/* everything echoed: cap is everything sent */
	assert_int_equal(marks_echo(&m, names[9], strlen(names[9]), 2000), 1);
	assert_int_equal(marks_played(&m, 2100), 8000);
	assert_false(marks_outstanding(&m, 2100));
}

static void test_restart_after_idle(void **state)
{
	bridge_marks m;
	char names[64][MARKS_NAME_MAX];
	int n = 0;
	marks_init(&m);
	int a = marks_item_slot(&m, "item_a", 0, 0);
	send_audio(&m, a, 800, 0, names, &n);
	assert_int_equal(marks_echo(&m, names[0], strlen(names[0]), 100), 1);
	/* 10 s later a new answer: playback of it starts now, not 10 s ago */
	int b = marks_item_slot(&m, "item_b", 0, 10100);
	send_audio(&m, b, 1600, 10100, names, &n);
	assert_int_equal(marks_played(&m, 10150), 800 + 400);
	marks_trunc t[4];
	assert_int_equal(marks_barge_in(&m, 10150, t, 4), 1);
	assert_string_equal(t[0].item_id, "item_b");
	assert_int_equal(t[0].audio_end_ms, 50);
}

static void test_barge_in_generations(void **state)
{
	bridge_marks m;
	char names[64][MARKS_NAME_MAX];
	int n = 0;
	marks_init(&m);
	int a = marks_item_slot(&m, "item_a", 0, 0);
	send_audio(&m, a, 4000, 0, names, &n);
	int b = marks_item_slot(&m, "item_b", 0, 0);
	send_audio(&m, b, 4000, 0, names, &n);
	assert_int_equal(marks_echo(&m, names[1], strlen(names[1]), 200), 1); /* pos 1600 */
	marks_trunc t[4];
	int k = marks_barge_in(&m, 230, t, 4); /* played = 1600 + 240 = 1840 */
	assert_int_equal(k, 2);
	assert_string_equal(t[0].item_id, "item_a");
	assert_int_equal(t[0].audio_end_ms, 230);
	assert_string_equal(t[1].item_id, "item_b");
	assert_int_equal(t[1].audio_end_ms, 0);
	assert_int_equal(m.gen, 2);
	/* the clear makes Twilio echo every pending mark at once: all stale */
	for (int i = 2; i < n; i++)
		assert_int_equal(marks_echo(&m, names[i], strlen(names[i]), 240), 0);
	assert_false(marks_outstanding(&m, 240));
	assert_int_equal(marks_echo(&m, "bogus", 5, 240), -1);
	assert_int_equal(marks_echo(&m, "g2.x", 4, 240), -1);
	char nm[MARKS_NAME_MAX];
	marks_sent(&m, marks_item_slot(&m, "item_c", 0, 300), 160, 300);
	assert_int_equal(marks_add(&m, nm), 0);
	assert_string_equal(nm, "g2.10");
}

static void test_clamp_to_produced(void **state)
{
	bridge_marks m;
	marks_init(&m);
	int a = marks_item_slot(&m, "item_a", 0, 0);
	/* 100 bytes produced, padded to 160 sent */
	marks_produced(&m, a, 100);
	marks_sent(&m, a, 160, 0);
	marks_trunc t[2];
	assert_int_equal(marks_barge_in(&m, 19, t, 2), 1); /* played 152 > produced 100 */
	assert_int_equal(t[0].audio_end_ms, 12);
}

static void test_fully_played_not_truncated(void **state)
{
	bridge_marks m;
	char names[64][MARKS_NAME_MAX];
	int n = 0;
	marks_init(&m);
	int a = marks_item_slot(&m, "item_a", 0, 0);
	send_audio(&m, a, 800, 0, names, &n);
	assert_int_equal(marks_echo(&m, names[0], strlen(names[0]), 100), 1);
	marks_trunc t[2];
	assert_int_equal(marks_barge_in(&m, 500, t, 2), 0);
}

static void test_limits(void **state)
{
	bridge_marks m;
	marks_init(&m);
	char nm[MARKS_NAME_MAX];
	int a = marks_item_slot(&m, "item_a", 0, 0);
	for (int i = 0; i < MARKS_RING; i++) {
		marks_sent(&m, a, 800, 0);
		assert_true(marks_due(&m));
		assert_int_equal(marks_add(&m, nm), 0);
	}
	marks_sent(&m, a, 800, 0);
	assert_false(marks_due(&m));
	assert_int_equal(marks_add(&m, nm), -1);
	/* item table: unplayed items are never recycled */
	for (int i = 1; i < MARKS_ITEMS; i++) {
		char id[32];
		snprintf(id, sizeof id, "item_%d", i);
		int s = marks_item_slot(&m, id, 0, 0);
		assert_int_equal(s, i);
		marks_sent(&m, s, 160, 0);
	}
	assert_int_equal(marks_item_slot(&m, "item_x", 0, 0), -1);
	assert_int_equal(marks_item_slot(&m, "item_3", 0, 0), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extrapolation_and_cap),
		cmocka_unit_test(test_restart_after_idle),
		cmocka_unit_test(test_barge_in_generations),
		cmocka_unit_test(test_clamp_to_produced),
		cmocka_unit_test(test_fully_played_not_truncated),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
