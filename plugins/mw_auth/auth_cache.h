/* auth_cache.h - one worker's cache of verified tokens.
 *
 * Set-associative (4 ways, LRU within a set), bounded to the configured
 * number of entries, keyed by a seeded 64-bit hash of the token with the
 * whole token compared on a hit. Each entry owns its token copy and the
 * claims (JSON and sub) that mw_auth hands out as request extensions.
 *
 * Thread rule: one cache per worker, touched only by that worker's thread:
 * no locks. Lifetime rule: an entry is only replaced or dropped inside a
 * later auth_cache_put/drop on the same cache, i.e. during a later
 * request's before hook, so the extensions of the request that found it
 * stay valid through its handler and after hooks. */
#ifndef MW_AUTH_CACHE_H
#define MW_AUTH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth_token.h"

typedef struct auth_entry {
	uint64_t hash;
	uint64_t used; /* LRU tick; 0: empty */
	char *token;   /* owned copy */
	size_t token_len;
	auth_claims claims; /* owned */
} auth_entry;

typedef struct auth_cache {
	auth_entry *slots; /* sets * ways */
	unsigned sets, ways;
	uint64_t tick;
	/* The entry the last hit or store was for: a worker sees one token
	 * many times in a row (one client's pipelined requests), and
	 * comparing it with the request's costs less than hashing the
	 * request's token to find its set. NULL with caching off. */
	auth_entry *last;
	/* The wall clock (seconds) as read at monotonic time mono_at (a
	 * request's start_ns; 0: never), for exp and nbf (see wall_now in
	 * mw_auth.c). */
	uint64_t mono_at;
	double wall_at;
	/* With caching off (0 entries) the last verified claims live here
	 * until the next verification on this worker. */
	auth_entry scratch;
} auth_cache;

/* entries 0 disables caching (the scratch entry still works). 0 or
 * -ENOMEM. */
int auth_cache_init(auth_cache *c, unsigned entries);
void auth_cache_fini(auth_cache *c);

/* The last entry found or stored if it holds exactly this token (no
 * hash needed), or NULL. Marks it used. */
auth_entry *auth_cache_last(auth_cache *c, const char *token, size_t len);
/* The entry holding exactly this token, or NULL. Marks it used. */
auth_entry *auth_cache_find(auth_cache *c, uint64_t hash, const char *token,
			    size_t len);
/* Store token with its claims (taken over: *claims is emptied, also on
 * failure, when they are freed) in the least recently used way of its set,
 * or in the scratch entry when caching is off. The entry, or NULL on
 * ENOMEM. */
auth_entry *auth_cache_put(auth_cache *c, uint64_t hash, const char *token,
			   size_t len, auth_claims *claims);
/* Forget e (an entry of c). */
void auth_cache_drop(auth_cache *c, auth_entry *e);

/* A seeded 64-bit hash of n bytes (not cryptographic: hits compare the
 * whole token; the seed keeps outsiders from aiming at one set). */
uint64_t auth_hash(uint64_t seed, const void *p, size_t n);

#endif
