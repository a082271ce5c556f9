/* prop_rng.h - the seeded generator every property test draws from.
 *
 * splitmix64: small, and the same stream on every platform, so a seed
 * printed by a failure (DX_TEST_SEED=N replays it) reproduces the case.
 * Each test owns its rng (tests run in their own process under CK_FORK,
 * or one after another). */
#ifndef DX_PROP_RNG_H
#define DX_PROP_RNG_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <check.h>

typedef struct rng {
	uint64_t s;
	unsigned long long seed;
} rng;

static inline uint64_t rnd(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static inline size_t rnd_below(rng *r, size_t n)
{
	return n ? (size_t)(rnd(r) % n) : 0;
}

/* Seeded from DX_TEST_SEED when set, else the clock. */
static inline rng rng_seeded(void)
{
	const char *env = getenv("DX_TEST_SEED");
	rng r;
	r.seed = env && *env ? strtoull(env, NULL, 0) :
			       (unsigned long long)time(NULL);
	r.s = r.seed;
	return r;
}

/* The seed and case first in every message (GNU ## drops the comma when
 * there are no arguments; gcc and clang both take it in C11 mode). */
#define FAILIF(cond, r, k, fmt, ...)                                           \
	ck_assert_msg(!(cond), "seed %llu case %d: " fmt, (r)->seed, (k),      \
		      ##__VA_ARGS__)

#endif
