/*
 * gateway_cache.c — a small, bounded, thread-safe cache with a time to live.
 *
 * Direct-mapped: a key lives in exactly one slot (FNV-1a of the key modulo
 * the slot count); a colliding key simply replaces it. Memory is fixed at
 * creation, lookups are O(1), nothing is ever allocated afterwards. Used
 * for verified API keys and phone-number lookups, where a miss only costs
 * one store round trip.
 *
 * Invalidation versus in-flight lookups: a lookup that started before an
 * invalidation must not put its (now stale) answer back afterwards. Every
 * drop bumps a generation; gw_cache_put takes the generation read before
 * the lookup began and does nothing if it has moved.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "sb_time.h"

#define KEY_MAX 80

typedef struct slot {
	char    key[KEY_MAX];
	int64_t expires_ms; /* 0: empty */
	/* value_size bytes follow */
} slot;

struct gw_cache {
	pthread_mutex_t mu;
	size_t          nslots, value_size, slot_size;
	int             ttl_ms;
	uint64_t        gen;
	unsigned char  *slots;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static slot *slot_of(gw_cache *c, const char *key)
{
	return (slot *)(c->slots + (fnv1a(key) % c->nslots) * c->slot_size);
}

gw_cache *gw_cache_new(size_t slots, size_t value_size, int ttl_ms)
{
	gw_cache *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->nslots = slots;
	c->value_size = value_size;
	c->slot_size = (sizeof(slot) + value_size + 7) & ~(size_t)7;
	c->ttl_ms = ttl_ms;
	c->slots = calloc(slots, c->slot_size);
	if (!c->slots)
		abort();
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void gw_cache_free(gw_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->slots);
	free(c);
}

uint64_t gw_cache_gen(gw_cache *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t g = c->gen;
	pthread_mutex_unlock(&c->mu);
	return g;
}

bool gw_cache_get(gw_cache *c, const char *key, void *out)
{
	if (strlen(key) >= KEY_MAX)
		return false;
	int64_t now = sb_mono_ms();
	pthread_mutex_lock(&c->mu);
	slot *s = slot_of(c, key);
	bool hit = s->expires_ms > now && strcmp(s->key, key) == 0;
	if (hit)
		memcpy(out, s + 1, c->value_size);
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void gw_cache_put(gw_cache *c, const char *key, const void *value, uint64_t gen)
{
	if (strlen(key) >= KEY_MAX)
		return;
	pthread_mutex_lock(&c->mu);
	if (gen == c->gen) {
		slot *s = slot_of(c, key);
		strcpy(s->key, key);
		s->expires_ms = sb_mono_ms() + c->ttl_ms;
		memcpy(s + 1, value, c->value_size);
	}
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_drop(gw_cache *c, const char *key)
{
	pthread_mutex_lock(&c->mu);
	c->gen++;
	slot *s = slot_of(c, key);
	if (strcmp(s->key, key) == 0)
		s->expires_ms = 0;
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_drop_if(gw_cache *c, bool (*pred)(const void *value, const void *arg), const void *arg)
{
	pthread_mutex_lock(&c->mu);
	c->gen++;
	for (size_t i = 0; i < c->nslots; i++) {
		slot *s = (slot *)(c->slots + i * c->slot_size);
		if (s->expires_ms && (!pred || pred(s + 1, arg)))
			s->expires_ms = 0;
	}
	pthread_mutex_unlock(&c->mu);
}
