/* auth_cache.c - one worker's cache of verified tokens (see auth_cache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth_cache.h"

#define WAYS 4

int auth_cache_init(auth_cache *c, unsigned entries)
{
	memset(c, 0, sizeof *c);
	if (entries == 0)
		return 0;
	c->ways = entries < WAYS ? entries : WAYS;
	c->sets = entries / c->ways;
	c->slots = calloc((size_t)c->sets * c->ways, sizeof *c->slots);
	return c->slots ? 0 : -ENOMEM;
}

static void entry_clear(auth_entry *e)
{
	free(e->token);
	auth_claims_free(&e->claims);
	memset(e, 0, sizeof *e);
}

void auth_cache_fini(auth_cache *c)
{
	for (size_t i = 0; i < (size_t)c->sets * c->ways; i++)
		entry_clear(&c->slots[i]);
	free(c->slots);
	entry_clear(&c->scratch);
	memset(c, 0, sizeof *c);
}

static auth_entry *set_of(auth_cache *c, uint64_t hash)
{
	return &c->slots[(size_t)(hash % c->sets) * c->ways];
}

auth_entry *auth_cache_last(auth_cache *c, const char *token, size_t len)
{
	auth_entry *e = c->last;
	/* The slot may hold another token by now (evicted, refilled) or
	 * none (dropped): its bytes decide, as in a lookup. */
	if (e && e->used && e->token_len == len &&
	    memcmp(e->token, token, len) == 0) {
		e->used = ++c->tick;
		return e;
	}
	return NULL;
}

auth_entry *auth_cache_find(auth_cache *c, uint64_t hash, const char *token,
			    size_t len)
{
	if (!c->slots)
		return NULL;
	auth_entry *set = set_of(c, hash);
	for (unsigned w = 0; w < c->ways; w++) {
		auth_entry *e = &set[w];
		if (e->used && e->hash == hash && e->token_len == len &&
		    memcmp(e->token, token, len) == 0) {
			e->used = ++c->tick;
			c->last = e;
			return e;
		}
	}
	return NULL;
}

auth_entry *auth_cache_put(auth_cache *c, uint64_t hash, const char *token,
			   size_t len, auth_claims *claims)
{
	auth_entry *e = &c->scratch;
	if (c->slots) {
		auth_entry *set = set_of(c, hash);
		e = &set[0];
		for (unsigned w = 1; w < c->ways && e->used; w++)
			if (set[w].used < e->used)
				e = &set[w];
	}
	entry_clear(e);
	e->token = malloc(len ? len : 1);
	if (!e->token) {
		auth_claims_free(claims);
		return NULL;
	}
	memcpy(e->token, token, len);
	e->token_len = len;
	e->hash = hash;
	e->claims = *claims;
	memset(claims, 0, sizeof *claims);
	e->used = ++c->tick;
	if (c->slots)
		c->last = e;
	return e;
}

void auth_cache_drop(auth_cache *c, auth_entry *e)
{
	entry_clear(e);
}

static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

uint64_t auth_hash(uint64_t seed, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h = h << 31 | h >> 33;
		b += 8;
		n -= 8;
	}
	uint64_t t = 0;
	for (size_t i = 0; i < n; i++)
		t |= (uint64_t)b[i] << (8 * i);
	return fmix64(h ^ t ^ (t << 32));
}
