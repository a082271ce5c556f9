/* test_bucket_prop.c - property tests of plugins/mw_ratelimit/bucket.c, the
 * per-worker bucket tables (compiled in from the plugin's source).
 *
 * Each case draws a number of workers W, a rate and burst, max_keys, a
 * pool of client keys (some longer than the stored prefix, sharing it) and
 * a run of requests at a monotonic clock, each on a random worker id (-1
 * and out-of-range ids included: they use the extra table). For every
 * request it checks:
 *   - isolation: the request touches only its own worker's table (every
 *     other table, header and slots, is byte-for-byte what it was);
 *   - the decision, the remaining count and the retry time equal those of
 *     a reference model: a plain token bucket per (table, key) kept as a
 *     level and a last-refill time, in exact integer arithmetic;
 *   - an eviction reported as idle hit a bucket the model says was full
 *     (so evicting it changed no decision); the model forgets the evicted
 *     key either way;
 *   - the table never holds more than max_keys buckets, and holds exactly
 *     the model's keys, each with the model's token count (dx_rl_peek).
 *
 * At least 100 cases from a seed printed on failure; DX_TEST_SEED=N
 * replays one run, DX_TEST_CASES=N changes how many. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "bucket.h"
#include "check_main.h"

static uint64_t g_seed;

/* ck_assert_msg only on failure: Check marks every assertion it passes
 * (a write to its pipe), which would dominate millions of checks. */
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_assert_msg(cond, __VA_ARGS__);                      \
	} while (0)
static unsigned long g_idle_evictions, g_active_evictions;

/* ---- PRNG (splitmix64) ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return rnd(s) % n;
}

/* ---- the reference model ---- */

#define MAX_WORKERS 6
#define MAX_POOL 40
#define KEY_LEN_MAX 128

struct mkey {
	uint8_t b[KEY_LEN_MAX];
	size_t len;
};

/* Per table and key: present, level in ns (tokens * interval), last. */
struct mstate {
	bool present;
	uint64_t level;
	uint64_t last;
};

struct model {
	dx_rl_params p;
	uint64_t cap;
	struct mstate st[MAX_WORKERS + 1][MAX_POOL];
};

static void model_refill(const struct model *m, struct mstate *s, uint64_t now)
{
	if (now > s->last) {
		uint64_t room = m->cap - s->level;
		s->level += now - s->last < room ? now - s->last : room;
		s->last = now;
	}
}

/* One request: allowed?, with the remaining count or the retry time. */
static bool model_take(struct model *m, unsigned t, unsigned k, uint64_t now,
		       uint32_t *remaining, uint64_t *retry)
{
	struct mstate *s = &m->st[t][k];
	if (!s->present)
		*s = (struct mstate){true, m->cap, now};
	model_refill(m, s, now);
	if (s->level >= m->p.interval_ns) {
		s->level -= m->p.interval_ns;
		*remaining = (uint32_t)(s->level / m->p.interval_ns);
		*retry = 0;
		return true;
	}
	*remaining = 0;
	*retry = m->p.interval_ns - s->level;
	return false;
}

/* ---- snapshots, to see which tables a request touched ---- */

struct snap {
	dx_rl_table hdr;
	dx_rl_bucket *slots;
};

/* sn->slots has room for t's slots (allocated once per case). */
static void snap_take(struct snap *sn, const dx_rl_table *t)
{
	sn->hdr = *t;
	memcpy(sn->slots, t->slots, (t->mask + 1) * sizeof *sn->slots);
}

static bool snap_same(const struct snap *sn, const dx_rl_table *t)
{
	return memcmp(&sn->hdr, t, sizeof *t) == 0 &&
	       memcmp(sn->slots, t->slots, (t->mask + 1) * sizeof *t->slots) ==
		       0;
}

static size_t used_slots(const dx_rl_table *t)
{
	size_t n = 0;
	for (size_t i = 0; i <= t->mask; i++)
		n += t->slots[i].hash != 0;
	return n;
}

/* ---- one case ---- */

static void make_pool(uint64_t *s, struct mkey *pool, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct mkey *k = &pool[i];
		if (below(s, 4) == 0) {
			/* Long: a shared 64-byte prefix, told apart by
			 * length (the rest by the hash). */
			k->len = DX_RL_KEY_MAX + 1 + i;
			memset(k->b, 'L', k->len);
			k->b[k->len - 1] = (uint8_t)('a' + i % 26);
		} else {
			int n2 = snprintf((char *)k->b, sizeof k->b,
					  "i10.%u.%u.%u", (unsigned)i,
					  (unsigned)below(s, 256),
					  (unsigned)below(s, 256));
			k->len = (size_t)n2;
		}
		ck_assert_uint_le(k->len, KEY_LEN_MAX);
	}
}

/* The pool index of an evicted key (prefix + length), or -1. */
static int pool_find(const struct mkey *pool, unsigned n, const uint8_t *key,
		     uint32_t len)
{
	size_t cmp = len < DX_RL_KEY_MAX ? len : DX_RL_KEY_MAX;
	for (unsigned i = 0; i < n; i++)
		if (pool[i].len == len && memcmp(pool[i].b, key, cmp) == 0)
			return (int)i;
	return -1;
}

static void run_case(uint64_t seed, unsigned c)
{
	uint64_t s = seed;
	unsigned workers = 1 + (unsigned)below(&s, MAX_WORKERS);
	unsigned npool = 1 + (unsigned)below(&s, MAX_POOL);
	struct model *m = calloc(1, sizeof *m);
	ck_assert_ptr_nonnull(m);
	m->p.burst = 1 + (uint32_t)below(&s, 8);
	m->p.interval_ns = 1 + below(&s, 2000);
	m->cap = m->p.burst * m->p.interval_ns;
	size_t max_keys = 1 + below(&s, npool + 4);
	struct mkey pool[MAX_POOL];
	make_pool(&s, pool, npool);

	dx_rl_table tables[MAX_WORKERS + 1];
	struct snap sn[MAX_WORKERS + 1];
	for (unsigned t = 0; t <= workers; t++) {
		ck_assert_int_eq(
			dx_rl_table_init(&tables[t], max_keys, rnd(&s)), 0);
		sn[t].slots = malloc(dx_rl_table_bytes(&tables[t]));
		ck_assert_ptr_nonnull(sn[t].slots);
	}
	uint64_t now = below(&s, 2) ? 0 : rnd(&s) >> 8;
	unsigned steps = 100 + (unsigned)below(&s, 900);
	unsigned idle_evictions = 0, active_evictions = 0;
	for (unsigned i = 0; i < steps; i++) {
		/* Bursts at one instant, short gaps and long idle ones. */
		uint64_t r = below(&s, 10);
		now += r < 3 ? 0 :
		       r < 9 ? below(&s, m->p.interval_ns * 2) :
			       below(&s, m->cap * 2 + 1);
		int id = (int)below(&s, workers + 2) - 1; /* -1..workers */
		unsigned t = dx_rl_index(workers, id);
		CHECK(t == (id >= 0 && (unsigned)id < workers ? (unsigned)id :
								workers),
		      "seed %" PRIu64 ": worker %d -> table %u", g_seed, id, t);
		unsigned k = (unsigned)below(&s, npool);

		for (unsigned u = 0; u <= workers; u++)
			snap_take(&sn[u], &tables[u]);

		/* What the model holds for the key the table may evict is
		 * checked after the call, from the pre-call state. */
		struct model before = *m;
		dx_rl_result res;
		dx_rl_take(&tables[t], &m->p, pool[k].b, pool[k].len, now,
			   &res);

		for (unsigned u = 0; u <= workers; u++) {
			CHECK(u == t || snap_same(&sn[u], &tables[u]),
			      "seed %" PRIu64 " case %u step %u: a "
			      "request of worker %d (table %u) "
			      "changed table %u",
			      g_seed, c, i, id, t, u);
		}
		if (res.evicted) {
			int e = pool_find(pool, npool, res.evicted_key,
					  res.evicted_len);
			CHECK(e >= 0 && e != (int)k && before.st[t][e].present,
			      "seed %" PRIu64 " case %u step %u: "
			      "evicted a key the table should not "
			      "hold (%d)",
			      g_seed, c, i, e);
			struct mstate es = before.st[t][e];
			model_refill(m, &es, now);
			CHECK(res.evicted_idle == (es.level == m->cap),
			      "seed %" PRIu64 " case %u step %u: "
			      "eviction called %s, model level "
			      "%" PRIu64 " of %" PRIu64,
			      g_seed, c, i,
			      res.evicted_idle ? "idle" : "active", es.level,
			      m->cap);
			m->st[t][e].present = false;
			if (res.evicted_idle)
				idle_evictions++;
			else
				active_evictions++;
		}
		uint32_t rem;
		uint64_t retry;
		bool ok = model_take(m, t, k, now, &rem, &retry);
		CHECK(res.allowed == ok && res.remaining == rem &&
			      res.retry_ns == retry,
		      "seed %" PRIu64 " case %u step %u (table %u key "
		      "%u at %" PRIu64 "): table says %s/%u/%" PRIu64
		      ", model %s/%u/%" PRIu64 " (burst %u, "
		      "interval %" PRIu64 ")",
		      g_seed, c, i, t, k, now, res.allowed ? "allow" : "deny",
		      res.remaining, res.retry_ns, ok ? "allow" : "deny", rem,
		      retry, m->p.burst, m->p.interval_ns);

		/* The table holds exactly the model's keys, within bound. */
		const dx_rl_table *tt = &tables[t];
		CHECK(tt->count <= max_keys, "seed %" PRIu64 ": %zu buckets",
		      g_seed, tt->count);
		CHECK(used_slots(tt) == tt->count,
		      "seed %" PRIu64 ": slot count", g_seed);
		size_t present = 0;
		for (unsigned q = 0; q < npool; q++) {
			struct mstate ms = m->st[t][q];
			uint32_t want = m->p.burst;
			if (ms.present) {
				present++;
				model_refill(m, &ms, now);
				want = (uint32_t)(ms.level / m->p.interval_ns);
			}
			uint32_t got = dx_rl_peek(tt, &m->p, pool[q].b,
						  pool[q].len, now);
			CHECK(got == want,
			      "seed %" PRIu64 " case %u step %u: key "
			      "%u holds %u tokens, model %u",
			      g_seed, c, i, q, got, want);
		}
		CHECK(present == tt->count,
		      "seed %" PRIu64 " case %u step %u: table %u "
		      "holds %zu buckets, model %zu",
		      g_seed, c, i, t, tt->count, present);
	}
	g_idle_evictions += idle_evictions;
	g_active_evictions += active_evictions;
	for (unsigned t = 0; t <= workers; t++) {
		dx_rl_table_free(&tables[t]);
		free(sn[t].slots);
	}
	free(m);
}

static unsigned g_cases = 200;

START_TEST(tables_isolated_and_match_model)
{
	uint64_t s = g_seed;
	for (unsigned c = 0; c < g_cases; c++)
		run_case(rnd(&s), c);
	/* The cases must reach both kinds of eviction to mean anything. */
	ck_assert_msg(g_idle_evictions > 0 && g_active_evictions > 0,
		      "seed %" PRIu64 ": %lu idle and %lu active evictions",
		      g_seed, g_idle_evictions, g_active_evictions);
	if (getenv("CK_VERBOSITY"))
		printf("%lu idle and %lu active evictions\n", g_idle_evictions,
		       g_active_evictions);
}
END_TEST

/* Deletion keeps every other key findable: fill, evict through, check. */
START_TEST(eviction_keeps_probe_runs)
{
	uint64_t s = g_seed ^ 0x5eed;
	for (unsigned c = 0; c < 100; c++) {
		size_t max_keys = 1 + below(&s, 64);
		dx_rl_table t;
		ck_assert_int_eq(dx_rl_table_init(&t, max_keys, rnd(&s)), 0);
		/* Everything idle (interval 1 ns, time moving): every new
		 * key evicts an idle one, the rest stay findable. */
		dx_rl_params p = {.interval_ns = 1, .burst = 1};
		uint64_t now = 1000;
		for (unsigned i = 0; i < 4 * max_keys + 10; i++) {
			char key[32];
			int n = snprintf(key, sizeof key, "k%u", i);
			dx_rl_result r;
			dx_rl_take(&t, &p, key, (size_t)n, now, &r);
			ck_assert(r.allowed);
			ck_assert(!r.evicted || r.evicted_idle);
			ck_assert_uint_le(t.count, max_keys);
			ck_assert_uint_eq(used_slots(&t), t.count);
			now += 5;
		}
		/* Every key the table holds is still found after all those
		 * backward shifts: taking it evicts nothing (the table is
		 * full, so a miss would have to). */
		ck_assert_uint_eq(t.count, max_keys);
		size_t nkeys = 0;
		struct mkey *held = calloc(max_keys, sizeof *held);
		ck_assert_ptr_nonnull(held);
		for (size_t i = 0; i <= t.mask; i++)
			if (t.slots[i].hash) {
				held[nkeys].len = t.slots[i].key_len;
				memcpy(held[nkeys].b, t.slots[i].key,
				       held[nkeys].len);
				nkeys++;
			}
		ck_assert_uint_eq(nkeys, max_keys);
		for (size_t i = 0; i < nkeys; i++) {
			dx_rl_result r;
			dx_rl_take(&t, &p, held[i].b, held[i].len, now, &r);
			ck_assert_msg(!r.evicted,
				      "seed %" PRIu64 ": key %.*s was not "
				      "found (max_keys %zu)",
				      g_seed, (int)held[i].len, held[i].b,
				      max_keys);
		}
		free(held);
		ck_assert_uint_eq(dx_rl_table_bytes(&t),
				  (t.mask + 1) * sizeof(dx_rl_bucket));
		ck_assert_uint_le(t.mask + 1,
				  2 * max_keys < 8 ? 8 : 4 * max_keys);
		dx_rl_table_free(&t);
	}
}
END_TEST

static Suite *prop_suite(void)
{
	Suite *s = suite_create("mw_ratelimit_bucket");
	TCase *tc = tcase_create("prop");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tables_isolated_and_match_model);
	tcase_add_test(tc, eviction_keeps_probe_runs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *e = getenv("DX_TEST_SEED");
	g_seed = e && *e ? strtoull(e, NULL, 0) :
			   (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	const char *n = getenv("DX_TEST_CASES");
	if (n && *n && atoi(n) >= 100)
		g_cases = (unsigned)atoi(n);
	printf("test_bucket_prop: seed %" PRIu64 " (DX_TEST_SEED=%" PRIu64
	       " replays it), %u cases\n",
	       g_seed, g_seed, g_cases);
	return dx_check_run(prop_suite());
}
