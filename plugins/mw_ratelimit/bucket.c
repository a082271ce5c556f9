/* bucket.c - the per-worker token bucket table (see bucket.h). */
#include "bucket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DX_RL_NONE ((size_t)-1)

static uint64_t dx_rl_mix(uint64_t x)
{
	/* MurmurHash3's fmix64. */
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* A seeded 64-bit hash, never 0 (0 marks an empty slot). Keys are peer
 * addresses and verified JWT subjects, not free attacker input; the random
 * per-table seed keeps precomputed collisions from working anyway, and a
 * probe run is bounded by the table's size in any case. */
static uint64_t dx_rl_hash(uint64_t seed, const uint8_t *p, size_t len)
{
	uint64_t h = seed ^ (len * UINT64_C(0x9e3779b97f4a7c15));
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ dx_rl_mix(w)) * UINT64_C(0x9e3779b97f4a7c15);
		h = (h << 27) | (h >> 37);
		p += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	for (size_t i = 0; i < len; i++)
		tail |= (uint64_t)p[i] << (8 * i);
	h = dx_rl_mix(h ^ dx_rl_mix(tail ^ UINT64_C(0x2545f4914f6cdd1d)));
	return h ? h : 1;
}

int dx_rl_table_init(dx_rl_table *t, size_t max_keys, uint64_t seed)
{
	memset(t, 0, sizeof *t);
	if (max_keys == 0)
		max_keys = 1;
	/* Load at most 1/2 keeps probe runs short. */
	size_t slots = 8;
	while (slots < 2 * max_keys)
		slots *= 2;
	t->slots = calloc(slots, sizeof *t->slots);
	if (!t->slots)
		return -ENOMEM;
	t->mask = slots - 1;
	t->max_keys = max_keys;
	t->seed = seed;
	return 0;
}

void dx_rl_table_free(dx_rl_table *t)
{
	free(t->slots);
	memset(t, 0, sizeof *t);
}

size_t dx_rl_table_bytes(const dx_rl_table *t)
{
	return t->slots ? (t->mask + 1) * sizeof *t->slots : 0;
}

static bool dx_rl_match(const dx_rl_bucket *b, uint64_t h, const uint8_t *key,
			size_t len)
{
	size_t n = len < DX_RL_KEY_MAX ? len : DX_RL_KEY_MAX;
	return b->hash == h && b->key_len == len && memcmp(b->key, key, n) == 0;
}

/* The slot holding key, or DX_RL_NONE with *empty set to where it would
 * go. The table always has an empty slot (load <= 1/2). */
static size_t dx_rl_find(const dx_rl_table *t, uint64_t h, const uint8_t *key,
			 size_t len, size_t *empty)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const dx_rl_bucket *b = &t->slots[i];
		if (!b->hash) {
			if (empty)
				*empty = i;
			return DX_RL_NONE;
		}
		if (dx_rl_match(b, h, key, len))
			return i;
	}
}

/* Empty slot i and shift the rest of its probe run back (no tombstones, so
 * lookups never slow down however many evictions happen). */
static void dx_rl_delete(dx_rl_table *t, size_t i)
{
	size_t j = i;
	for (;;) {
		t->slots[i].hash = 0;
		for (;;) {
			j = (j + 1) & t->mask;
			if (!t->slots[j].hash)
				goto done;
			size_t home = t->slots[j].hash & t->mask;
			/* Leave j where it is if its home lies in (i, j]. */
			bool stays = i <= j ? (i < home && home <= j) :
					      (i < home || home <= j);
			if (!stays)
				break;
		}
		t->slots[i] = t->slots[j];
		i = j;
	}
done:
	t->count--;
	t->moves++;
}

/* Make room for one key: a CLOCK-style sweep from the hand over at most
 * DX_RL_EVICT_SCAN buckets takes the first idle one. An idle bucket is a
 * full one (tat <= now): a key that comes back after it was evicted starts
 * full again, in exactly the state it was evicted in, so evicting it
 * changes no decision. Only when none of the scanned buckets is idle (the
 * table is full of clients that are all active right now: max_keys is too
 * small for the load) does it take the one closest to full (the smallest
 * tat), which gives that client back the fewest tokens it had not earned;
 * out->evicted_idle says which happened. */
static void dx_rl_evict(dx_rl_table *t, uint64_t now, dx_rl_result *out)
{
	size_t victim = DX_RL_NONE, seen = 0;
	for (size_t step = 0; step <= t->mask && seen < DX_RL_EVICT_SCAN;
	     step++) {
		size_t i = t->hand;
		t->hand = (t->hand + 1) & t->mask;
		const dx_rl_bucket *b = &t->slots[i];
		if (!b->hash)
			continue;
		seen++;
		if (b->tat <= now) {
			victim = i;
			break;
		}
		if (victim == DX_RL_NONE || b->tat < t->slots[victim].tat)
			victim = i;
	}
	const dx_rl_bucket *v = &t->slots[victim];
	out->evicted = true;
	out->evicted_idle = v->tat <= now;
	out->evicted_len = v->key_len;
	memcpy(out->evicted_key, v->key,
	       v->key_len < DX_RL_KEY_MAX ? v->key_len : DX_RL_KEY_MAX);
	dx_rl_delete(t, victim);
}

uint64_t dx_rl_key_hash(const dx_rl_table *t, const void *key, size_t len)
{
	return dx_rl_hash(t->seed, key, len);
}

void dx_rl_take(dx_rl_table *t, const dx_rl_params *p, const void *key,
		size_t len, uint64_t now, dx_rl_result *out)
{
	(void)dx_rl_take_hashed(t, p, key, len, dx_rl_hash(t->seed, key, len),
				now, out);
}

/* One token from bucket b at now, or the time until one is back. */
static void dx_rl_spend(dx_rl_bucket *b, const dx_rl_params *p, uint64_t now,
			dx_rl_result *out)
{
	uint64_t cap = (uint64_t)p->burst * p->interval_ns;
	uint64_t tat = b->tat > now ? b->tat : now;
	uint64_t owed = tat - now; /* C minus what the bucket holds */
	if (owed + p->interval_ns > cap) {
		out->allowed = false;
		out->remaining = 0;
		out->retry_ns = owed + p->interval_ns - cap;
		return;
	}
	b->tat = tat + p->interval_ns;
	out->allowed = true;
	out->remaining = (uint32_t)((cap - (b->tat - now)) / p->interval_ns);
	out->retry_ns = 0;
}

void dx_rl_take_slot(dx_rl_table *t, const dx_rl_params *p, size_t i,
		     uint64_t now, dx_rl_result *out)
{
	out->evicted = out->evicted_idle = false;
	out->evicted_len = 0;
	dx_rl_spend(&t->slots[i], p, now, out);
}

size_t dx_rl_take_hashed(dx_rl_table *t, const dx_rl_params *p,
			 const void *key, size_t len, uint64_t h, uint64_t now,
			 dx_rl_result *out)
{
	const uint8_t *k = key;
	out->evicted = out->evicted_idle = false;
	out->evicted_len = 0;
	size_t empty = 0;
	size_t i = dx_rl_find(t, h, k, len, &empty);
	if (i == DX_RL_NONE) {
		if (t->count >= t->max_keys) {
			dx_rl_evict(t, now, out);
			/* The backward shift may have moved the empty slot. */
			dx_rl_find(t, h, k, len, &empty);
		}
		i = empty;
		dx_rl_bucket *b = &t->slots[i];
		b->hash = h;
		b->tat = now; /* full */
		b->key_len = (uint32_t)len;
		memcpy(b->key, k, len < DX_RL_KEY_MAX ? len : DX_RL_KEY_MAX);
		t->count++;
	}
	dx_rl_spend(&t->slots[i], p, now, out);
	return i;
}

uint32_t dx_rl_peek(const dx_rl_table *t, const dx_rl_params *p,
		    const void *key, size_t len, uint64_t now)
{
	uint64_t h = dx_rl_hash(t->seed, key, len);
	size_t i = dx_rl_find(t, h, key, len, NULL);
	if (i == DX_RL_NONE)
		return p->burst;
	uint64_t cap = (uint64_t)p->burst * p->interval_ns;
	uint64_t tat = t->slots[i].tat;
	uint64_t owed = tat > now ? tat - now : 0;
	return (uint32_t)((cap - owed) / p->interval_ns);
}
