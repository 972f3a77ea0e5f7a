/*
 * bridge_marks.h — what has the caller actually heard? Playback tracking and
 * the barge-in arithmetic, as pure functions (no I/O, no clocks: callers
 * pass "now"), so they are unit-tested on their own (tests/bridge_marks_test.c).
 *
 * Model: all assistant audio sent to Twilio since the last barge-in forms
 * one timeline of bytes (8 bytes = 1 ms of μ-law). Each assistant item
 * occupies a stretch of it. About every 100 ms of forwarded audio, and at
 * the end of each item, we send a Twilio mark named "g<generation>.<seq>";
 * Twilio echoes it when playback reaches it. So:
 *
 *   played(now) = min(acked + (now - ack_time) * 8,  position of the oldest
 *                 mark not yet echoed  (or everything sent, if none))
 *
 * where acked is the timeline position of the last echoed mark (between two
 * echoes playback advances in real time, and it cannot pass a mark Twilio
 * has not echoed yet). When audio is sent while Twilio's buffer is empty,
 * playback restarts from "now".
 *
 * Barge-in: every item whose stretch is not fully played is truncated at the
 * played offset inside it (0 for items not started), clamped to the audio
 * the model actually produced for it; then the generation is bumped, so the
 * marks Twilio echoes because of the `clear` (all pending ones, at once) are
 * recognised as stale and ignored.
 */
#ifndef BRIDGE_MARKS_H
#define BRIDGE_MARKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MARKS_RING 128          /* marks in flight per call (≈ 12.8 s of queued audio at 100 ms) */
#define MARKS_ITEMS 8           /* assistant items tracked per generation */
#define MARKS_EVERY_BYTES 800   /* one mark per 100 ms of audio */
#define MARKS_ID_MAX 64
#define MARKS_NAME_MAX 32

typedef struct marks_item {
	char     id[MARKS_ID_MAX];
	int      content_index;
	uint32_t start;       /* timeline position of its first byte */
	uint32_t sent;        /* bytes of it forwarded to Twilio (padding included) */
	uint32_t produced;    /* bytes the model produced for it (the truncate clamp) */
} marks_item;

typedef struct marks_pending {
	uint32_t seq, pos;    /* mark sequence and the timeline position it follows */
} marks_pending;

typedef struct bridge_marks {
	uint32_t      gen, next_seq;
	uint32_t      sent_pos;       /* timeline bytes sent in this generation */
	uint32_t      last_mark_pos;
	uint32_t      acked_pos;      /* position of the last echoed mark (or playback restart) */
	int64_t       ack_ms;         /* when playback was at acked_pos */
	marks_item    items[MARKS_ITEMS];
	int           nitems;
	marks_pending ring[MARKS_RING];
	unsigned      head, count;
} bridge_marks;

/* One conversation.item.truncate to send after a barge-in. */
typedef struct marks_trunc {
	char     item_id[MARKS_ID_MAX];
	int      content_index;
	uint32_t audio_end_ms;
} marks_trunc;

/* Start tracking a call (generation 1, nothing sent). */
void marks_init(bridge_marks *m);
/* Slot of the item (added if new, recycling fully played ones); -1 if every slot holds unplayed audio. */
int marks_item_slot(bridge_marks *m, const char *item_id, int content_index, int64_t now);
/* Account for `produced` model bytes of the item in `slot` (before framing). */
void marks_produced(bridge_marks *m, int slot, uint32_t produced);
/* Account for `bytes` of the item in `slot` just queued to Twilio at `now`. */
void marks_sent(bridge_marks *m, int slot, uint32_t bytes, int64_t now);
/* True when about 100 ms have been sent since the last mark and a mark slot is free. */
bool marks_due(const bridge_marks *m);
/* Record a mark at the current position; writes its name. 0, or -1 if the ring is full. */
int marks_add(bridge_marks *m, char name[MARKS_NAME_MAX]);
/* A mark echo: 1 accepted (current generation), 0 stale or unknown, -1 not one of ours. */
int marks_echo(bridge_marks *m, const char *name, size_t len, int64_t now);
/* Timeline position the caller has heard up to, at `now`. */
uint32_t marks_played(const bridge_marks *m, int64_t now);
/* True if some forwarded audio has not been heard yet. */
bool marks_outstanding(const bridge_marks *m, int64_t now);
/* Barge-in: fill up to max truncations, bump the generation, forget the timeline. Returns the count. */
int marks_barge_in(bridge_marks *m, int64_t now, marks_trunc *out, int max);

#endif
