/* bucket.h - mw_ratelimit's per-worker table of token buckets.
 *
 * Pure functions over caller-owned tables: no host, no clock, no globals,
 * so the plugin and its property test (tests/mw_ratelimit) compile the same
 * bucket.c. One table belongs to one worker thread: nothing here locks or
 * uses atomics, and a table must only be touched by its own thread.
 *
 * A bucket is a token bucket in fixed point, kept as a single "theoretical
 * arrival time" (GCRA, as in ATM's cell rate algorithm): with interval T =
 * 1 s / rate and capacity C = burst * T, a bucket at time now holds
 *
 *     tokens(now) = (C - max(0, tat - now)) / T
 *
 * so taking a token is tat = max(tat, now) + T and the bucket is full
 * exactly when tat <= now. One integer per bucket instead of (tokens, last
 * refill): exact (no floating point drift between a decision and the
 * number it reports) and "is this bucket idle?" is one comparison.
 *
 * Memory is fixed at init: max_keys buckets at most, in an open-addressing
 * table (linear probing, backward-shift deletion, load at most 1/2) that
 * never grows. When it holds max_keys buckets and a new key comes, one
 * bucket is evicted first; see dx_rl_take.
 */
#ifndef DX_RL_BUCKET_H
#define DX_RL_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Key bytes kept per bucket. Longer keys are told apart by their 64-bit
 * hash and full length, past the first DX_RL_KEY_MAX bytes. */
#define DX_RL_KEY_MAX 64

/* Buckets looked at (by the clock hand) before an eviction settles for
 * one that is not idle. */
#define DX_RL_EVICT_SCAN 32

typedef struct dx_rl_params {
	uint64_t interval_ns; /* T: ns per token, >= 1 */
	uint32_t burst;       /* capacity in tokens, >= 1 */
} dx_rl_params;

typedef struct dx_rl_bucket {
	uint64_t hash;              /* of the full key; 0 marks an empty slot */
	uint64_t tat;               /* theoretical arrival time, ns */
	uint32_t key_len;           /* the full key's length */
	uint8_t key[DX_RL_KEY_MAX]; /* its first bytes */
} dx_rl_bucket;

typedef struct dx_rl_table {
	dx_rl_bucket *slots;
	size_t mask;  /* slot count - 1 (a power of two) */
	size_t count; /* buckets in use, <= max_keys */
	size_t max_keys;
	size_t hand;   /* the eviction sweep's position */
	uint64_t seed; /* hash seed */
	/* Deletions so far: a bucket stays in its slot until one happens
	 * (inserting never moves a bucket), so a slot index kept with this
	 * count is still the bucket's while the count is the same. */
	uint64_t moves;
} dx_rl_table;

typedef struct dx_rl_result {
	bool allowed;
	uint32_t remaining; /* whole tokens left after this request */
	uint64_t retry_ns;  /* denied: time until one token is back */
	/* An eviction made room for this key: the evicted key (its first
	 * DX_RL_KEY_MAX bytes) and whether it was idle (full). */
	bool evicted;
	bool evicted_idle;
	uint32_t evicted_len;
	uint8_t evicted_key[DX_RL_KEY_MAX];
} dx_rl_result;

/* Room for max_keys (>= 1) buckets: 0 or -ENOMEM. The slots are calloc'd
 * once; pages the table never reaches are never touched. */
int dx_rl_table_init(dx_rl_table *t, size_t max_keys, uint64_t seed);
void dx_rl_table_free(dx_rl_table *t);

/* Bytes the table holds (for the memory bound: fixed at init). */
size_t dx_rl_table_bytes(const dx_rl_table *t);

/* Take one token from key's bucket at time now (a monotonic clock: now
 * never goes back between calls on one table). A new key starts full; if
 * the table is full, a bucket is evicted first. */
void dx_rl_take(dx_rl_table *t, const dx_rl_params *p, const void *key,
		size_t len, uint64_t now, dx_rl_result *out);

/* dx_rl_take with key's hash already known: h is what dx_rl_key_hash
 * gave for this key and this table (a caller that sees the same key
 * again keeps it instead of hashing the key once more). */
size_t dx_rl_take_hashed(dx_rl_table *t, const dx_rl_params *p,
			 const void *key, size_t len, uint64_t h, uint64_t now,
			 dx_rl_result *out);
/* Returns the slot the key's bucket is in. dx_rl_take_slot takes a token
 * from slot i straight away: i must be what dx_rl_take_hashed returned
 * for the key, with t->moves unchanged since (no lookup, no compare). */
void dx_rl_take_slot(dx_rl_table *t, const dx_rl_params *p, size_t i,
		     uint64_t now, dx_rl_result *out);
uint64_t dx_rl_key_hash(const dx_rl_table *t, const void *key, size_t len);

/* Whole tokens key's bucket holds at now, without taking one (burst for a
 * key the table does not hold). */
uint32_t dx_rl_peek(const dx_rl_table *t, const dx_rl_params *p,
		    const void *key, size_t len, uint64_t now);

/* Which of count + 1 per-worker tables worker id uses: its own (id), or
 * the extra one (count) for a thread that is not a worker (id -1: tests,
 * tools; such callers must take turns). */
static inline unsigned dx_rl_index(unsigned count, int id)
{
	return id >= 0 && (unsigned)id < count ? (unsigned)id : count;
}

#endif
