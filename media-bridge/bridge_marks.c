/*
 * bridge_marks.c — playback tracking and barge-in arithmetic (see bridge_marks.h).
 */
#include <stdio.h>
#include <string.h>

#include "bridge_marks.h"

#define BYTES_PER_MS 8

void marks_init(bridge_marks *m)
{
	memset(m, 0, sizeof *m);
	m->gen = 1;
}

/* Forget the timeline (new generation or fresh start); keeps gen and seq. */
static void reset_timeline(bridge_marks *m)
{
	m->sent_pos = m->last_mark_pos = m->acked_pos = 0;
	m->ack_ms = 0;
	m->nitems = 0;
	m->head = m->count = 0;
}

uint32_t marks_played(const bridge_marks *m, int64_t now)
{
	int64_t dt = now > m->ack_ms ? now - m->ack_ms : 0;
	uint64_t est = (uint64_t)m->acked_pos + (uint64_t)dt * BYTES_PER_MS;
	uint32_t cap = m->count ? m->ring[m->head].pos : m->sent_pos;
	if (cap < m->acked_pos)
		cap = m->acked_pos;
	return est < cap ? (uint32_t)est : cap;
}

bool marks_outstanding(const bridge_marks *m, int64_t now)
{
	return m->count > 0 || marks_played(m, now) < m->sent_pos;
}

/* Drop the oldest item if the caller has heard all of it. */
static bool recycle_oldest(bridge_marks *m, int64_t now)
{
	const marks_item *it = &m->items[0];
	if (m->nitems == 0 || it->start + it->sent > marks_played(m, now))
		return false;
	memmove(&m->items[0], &m->items[1], (size_t)(m->nitems - 1) * sizeof m->items[0]);
	m->nitems--;
	return true;
}

int marks_item_slot(bridge_marks *m, const char *item_id, int content_index, int64_t now)
{
	for (int i = m->nitems - 1; i >= 0; i--)
		if (m->items[i].content_index == content_index && strcmp(m->items[i].id, item_id) == 0)
			return i;
	if (m->nitems == MARKS_ITEMS && !recycle_oldest(m, now))
		return -1;
	marks_item *it = &m->items[m->nitems];
	memset(it, 0, sizeof *it);
	snprintf(it->id, sizeof it->id, "%s", item_id);
	it->content_index = content_index;
	it->start = m->sent_pos;
	return m->nitems++;
}

void marks_produced(bridge_marks *m, int slot, uint32_t produced)
{
	if (slot >= 0 && slot < m->nitems)
		m->items[slot].produced += produced;
}

void marks_sent(bridge_marks *m, int slot, uint32_t bytes, int64_t now)
{
	if (slot < 0 || slot >= m->nitems || bytes == 0)
		return;
	if (m->count == 0 && marks_played(m, now) >= m->sent_pos) {
		/* Twilio's buffer is empty: playback of this audio starts now. */
		m->acked_pos = m->sent_pos;
		m->ack_ms = now;
	}
	marks_item *it = &m->items[slot];
	if (it->sent == 0)
		it->start = m->sent_pos;
	it->sent += bytes;
	m->sent_pos += bytes;
}

bool marks_due(const bridge_marks *m)
{
	return m->sent_pos - m->last_mark_pos >= MARKS_EVERY_BYTES && m->count < MARKS_RING;
}

int marks_add(bridge_marks *m, char name[MARKS_NAME_MAX])
{
	if (m->count == MARKS_RING)
		return -1;
	marks_pending *p = &m->ring[(m->head + m->count) % MARKS_RING];
	p->seq = m->next_seq++;
	p->pos = m->sent_pos;
	m->count++;
	m->last_mark_pos = m->sent_pos;
	snprintf(name, MARKS_NAME_MAX, "g%u.%u", m->gen, p->seq);
	return 0;
}

/* Parse "g<gen>.<seq>"; 0 or -1. */
static int parse_name(const char *s, size_t n, uint32_t *gen, uint32_t *seq)
{
	char buf[MARKS_NAME_MAX];
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	unsigned g, q;
	int used = 0;
	if (sscanf(buf, "g%u.%u%n", &g, &q, &used) != 2 || (size_t)used != n)
		return -1;
	*gen = g, *seq = q;
	return 0;
}

int marks_echo(bridge_marks *m, const char *name, size_t len, int64_t now)
{
	uint32_t gen, seq;
	if (parse_name(name, len, &gen, &seq) < 0)
		return -1;
	if (gen != m->gen)
		return 0;
	/* Twilio echoes in order; anything older than this one has been played too. */
	while (m->count) {
		marks_pending p = m->ring[m->head];
		if ((int32_t)(seq - p.seq) < 0)
			return 0;
		m->head = (m->head + 1) % MARKS_RING;
		m->count--;
		if (p.seq == seq) {
			m->acked_pos = p.pos;
			m->ack_ms = now;
			return 1;
		}
	}
	return 0;
}

int marks_barge_in(bridge_marks *m, int64_t now, marks_trunc *out, int max)
{
	uint32_t played = marks_played(m, now);
	int n = 0;
	for (int i = 0; i < m->nitems && n < max; i++) {
		const marks_item *it = &m->items[i];
		if (it->produced == 0 || it->start + it->sent <= played)
			continue; /* nothing produced, or heard in full */
		uint32_t heard = played > it->start ? played - it->start : 0;
		if (heard > it->produced)
			heard = it->produced;
		snprintf(out[n].item_id, sizeof out[n].item_id, "%s", it->id);
		out[n].content_index = it->content_index;
		out[n].audio_end_ms = heard / BYTES_PER_MS;
		n++;
	}
	m->gen++;
	reset_timeline(m);
	return n;
}
