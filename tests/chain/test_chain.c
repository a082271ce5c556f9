/* test_chain - properties of the middleware chain (host/src/chain.c).
 *
 * For at least 100 random chains of recording middleware: befores run in
 * order; afters run in reverse, for exactly the middleware whose before
 * ran (a middleware without a before counts as run); a stop at a random
 * position skips the handler and the rest; extensions set by one are seen
 * by the later ones and by the handler. The seed is printed in every
 * failure; DX_TEST_SEED replays it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "chain.h"
#include "../unit/check_main.h"

#define CASES 300
#define MAXLEN 12

static uint64_t seed, rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* What every hook did, in order: +i for before i, -i-1 for after i, 100
 * for the handler. */
struct trace {
	int ev[3 * MAXLEN + 2];
	int n;
	bool saw_ext[MAXLEN]; /* before i saw every earlier one's extension */
	bool handler_saw_all;
};

struct mw {
	int index;
	int stop;   /* 0 continue, 1 stop with 401, 2 fail with -EIO */
	bool has_before, has_after;
	struct trace *t;
	char key[16];
};

static int rec_before(void *self, dx_request *req, dx_response *res)
{
	struct mw *m = self;
	m->t->ev[m->t->n++] = m->index;
	bool all = true;
	for (int j = 0; j < m->index; j++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", j);
		size_t len = 0;
		const int *v = dx_request_ext_get(req, k, &len);
		/* Only middleware with a before set one. */
		if (v && (len != sizeof(int) || *v != j))
			all = false;
	}
	m->t->saw_ext[m->index] = all;
	static const int values[MAXLEN] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
	dx_request_ext_set(req, m->key, &values[m->index], sizeof(int));
	if (m->stop == 1) {
		dx_response_error(res, 401, "stopped by %d", m->index);
		return DX_MW_STOP;
	}
	return m->stop == 2 ? -5 : DX_MW_CONTINUE;
}

static void rec_after(void *self, const dx_request *req, dx_response *res)
{
	struct mw *m = self;
	m->t->ev[m->t->n++] = -m->index - 1;
}

static const dx_middleware_vtable vt_both = {
	.size = sizeof vt_both, .before = rec_before, .after = rec_after};
static const dx_middleware_vtable vt_before = {
	.size = sizeof vt_before, .before = rec_before, .after = NULL};
static const dx_middleware_vtable vt_after = {
	.size = sizeof vt_after, .before = NULL, .after = rec_after};
/* An older plugin's vtable: only the size member, no hooks at all. */
static const dx_middleware_vtable vt_tiny = {
	.size = sizeof(uint32_t), .before = rec_before, .after = rec_after};

START_TEST(test_chain_properties)
{
	for (int k = 0; k < CASES; k++) {
		struct trace t = {0};
		struct mw mws[MAXLEN];
		dx_chain_link links[MAXLEN];
		unsigned n = 1 + rnd(MAXLEN);
		int stop_at = rnd(3) ? -1 : (int)rnd(n);
		for (unsigned i = 0; i < n; i++) {
			unsigned kind = rnd(8);
			const dx_middleware_vtable *vt =
				kind == 0 ? &vt_after
				: kind == 1 ? &vt_before
				: kind == 2 ? &vt_tiny
					    : &vt_both;
			mws[i] = (struct mw){(int)i, 0, vt->before && vt->size > 4,
					     vt->after && vt->size > 4, &t, ""};
			snprintf(mws[i].key, sizeof mws[i].key, "k%u", i);
			if ((int)i == stop_at && mws[i].has_before)
				mws[i].stop = 1 + (int)rnd(2);
			links[i] = (dx_chain_link){vt, &mws[i], "rec"};
		}
		dx_chain chain = {.links = links, .count = n};
		ck_assert_int_eq(dx_chain_flatten(&chain), 0);
		dx_ext ext[DX_REQUEST_EXT_MAX];
		dx_request req = {.size = sizeof req, .ext = ext};
		uint8_t body[512];
		dx_response res;
		dx_response_init(&res, body, sizeof body, NULL, 0);
		bool stopped;
		unsigned ran = dx_chain_before(&chain, &req, &res, &stopped);
		if (!stopped) {
			t.ev[t.n++] = 100;
			t.handler_saw_all = true;
			for (unsigned i = 0; i < n; i++)
				if (mws[i].has_before &&
				    !dx_request_ext_get(&req, mws[i].key, NULL))
					t.handler_saw_all = false;
		}
		dx_chain_after(&chain, ran, &req, &res, 0);
		dx_chain_free(&chain); /* the hook arrays; links are ours */

		/* The expected trace, from the model. */
		int want[3 * MAXLEN + 2], w = 0;
		unsigned model_ran = n;
		bool model_stop = false;
		for (unsigned i = 0; i < n; i++) {
			if (!mws[i].has_before)
				continue;
			want[w++] = (int)i;
			if (mws[i].stop) {
				model_ran = i + 1;
				model_stop = true;
				break;
			}
		}
		if (!model_stop)
			want[w++] = 100;
		for (unsigned i = model_ran; i-- > 0;)
			if (mws[i].has_after)
				want[w++] = -(int)i - 1;

		ck_assert_msg(ran == model_ran && stopped == model_stop,
			      "seed %" PRIu64 " case %d: ran %u stopped %d, "
			      "model %u %d",
			      seed, k, ran, stopped, model_ran, model_stop);
		ck_assert_msg(t.n == w && !memcmp(t.ev, want, sizeof(int) * (size_t)w),
			      "seed %" PRIu64 " case %d: hooks ran in the wrong "
			      "order (%d events, model %d)",
			      seed, k, t.n, w);
		for (unsigned i = 0; i < model_ran; i++)
			ck_assert_msg(!mws[i].has_before || t.saw_ext[i],
				      "seed %" PRIu64 " case %d: before %u did "
				      "not see the earlier extensions",
				      seed, k, i);
		if (!model_stop)
			ck_assert_msg(t.handler_saw_all,
				      "seed %" PRIu64 " case %d: the handler did "
				      "not see every extension",
				      seed, k);
		if (model_stop)
			ck_assert_msg(res.status == (mws[model_ran - 1].stop == 1
							     ? 401
							     : 500),
				      "seed %" PRIu64 " case %d: status %u",
				      seed, k, res.status);
	}
}
END_TEST

START_TEST(test_empty_chain)
{
	dx_chain chain = {.links = NULL, .count = 0};
	dx_request req = {.size = sizeof req};
	dx_response res = {.size = sizeof res};
	bool stopped = true;
	ck_assert_uint_eq(dx_chain_before(&chain, &req, &res, &stopped), 0);
	ck_assert(!stopped);
	dx_chain_after(&chain, 0, &req, &res, 0);
	ck_assert_uint_eq(res.status, 0);
}
END_TEST

/* Keys checked once: the entry is the one dx_response_meta writes, a bad
 * key is refused at init and at every write, numbers come out in decimal
 * whatever their digit count. */
START_TEST(test_meta_key)
{
	dx_meta_key k, bad;
	ck_assert_int_eq(dx_meta_key_init(&k, "x-response-time"), 0);
	ck_assert_int_eq(dx_meta_key_init(&bad, "X-Upper"), -EINVAL);
	ck_assert_int_eq(dx_meta_key_init(&bad, ""), -EINVAL);
	/* Every digit count, at both of its ends. */
	uint64_t nums[64];
	size_t count = 0;
	nums[count++] = 0;
	for (uint64_t p = 10;; p *= 10) {
		nums[count++] = p - 1;
		nums[count++] = p;
		if (p > UINT64_MAX / 10)
			break;
	}
	nums[count++] = 12345;
	nums[count++] = UINT64_MAX;
	uint8_t m1[1024], m2[1024];
	dx_response a, b;
	dx_response_init(&a, NULL, 0, m1, sizeof m1);
	dx_response_init(&b, NULL, 0, m2, sizeof m2);
	for (size_t i = 0; i < count; i++) {
		if (i == DX_HBTP_META_MAX) { /* a response holds no more */
			ck_assert_uint_eq(a.meta_len, b.meta_len);
			ck_assert(memcmp(m1, m2, a.meta_len) == 0);
			dx_response_init(&a, NULL, 0, m1, sizeof m1);
			dx_response_init(&b, NULL, 0, m2, sizeof m2);
		}
		ck_assert_int_eq(dx_response_meta_key_u64(&a, &k, nums[i]), 0);
		char want[32];
		int n = snprintf(want, sizeof want, "%" PRIu64, nums[i]);
		ck_assert_int_eq(dx_response_meta(&b, "x-response-time", want,
						  (size_t)n),
				 0);
	}
	ck_assert_uint_eq(a.meta_len, b.meta_len);
	ck_assert_uint_eq(a.meta_count, b.meta_count);
	ck_assert(memcmp(m1, m2, a.meta_len) == 0);
	ck_assert_int_eq(dx_response_meta_key(&a, &bad, "v", 1), -EINVAL);
	ck_assert_int_eq(dx_response_meta_key_u64(&a, &bad, 1), -EINVAL);
	ck_assert_uint_eq(a.meta_len, b.meta_len);
	/* No room: -E2BIG, nothing written. */
	dx_response tiny;
	uint8_t m3[8];
	dx_response_init(&tiny, NULL, 0, m3, sizeof m3);
	ck_assert_int_eq(dx_response_meta_key_u64(&tiny, &k, 1), -E2BIG);
	ck_assert_uint_eq(tiny.meta_len, 0);
	/* Random values of every length below 10^8 (times in microseconds,
	 * counts of tokens: what is written on every request) against
	 * printf. */
	for (int i = 0; i < 50000; i++) {
		/* Shifted right by 0..26 bits: every digit count. */
		uint32_t v = rnd(100000000u) >> rnd(27);
		char want[16];
		int wn = snprintf(want, sizeof want, "%" PRIu32, v);
		dx_response_init(&a, NULL, 0, m1, sizeof m1);
		ck_assert_int_eq(dx_response_meta_key_u64(&a, &k, v), 0);
		ck_assert_uint_eq(a.meta_len, k.len + 2 + (size_t)wn);
		ck_assert_msg(m1[k.len] == wn &&
				      memcmp(m1 + k.len + 2, want, (size_t)wn) ==
					      0,
			      "seed %" PRIu64 ": %" PRIu32 " written as %.*s",
			      seed, v, (int)m1[k.len], m1 + k.len + 2);
	}
	/* Exactly the room an entry needs, for keys below, at and past the
	 * 32 bytes copied whole when there is room for them (meta_u64.h):
	 * the entry is right and nothing lands past the room (the byte
	 * after it is a guard; ASan sees the heap block's end too). */
	for (size_t kl = 1; kl <= 40; kl++) {
		char key[48];
		memset(key, 'k', kl);
		key[kl] = '\0';
		dx_meta_key kk;
		ck_assert_int_eq(dx_meta_key_init(&kk, key), 0);
		size_t need = 1 + kl + 2 + 6;
		uint8_t *room = malloc(need + 1);
		ck_assert_ptr_nonnull(room);
		room[need] = 0xA5;
		dx_response r;
		dx_response_init(&r, NULL, 0, room, need);
		ck_assert_int_eq(dx_response_meta_key_u64(&r, &kk, 123456), 0);
		ck_assert_uint_eq(r.meta_len, need);
		ck_assert_uint_eq(room[0], kl);
		ck_assert(memcmp(room + 1, key, kl) == 0);
		ck_assert(memcmp(room + 1 + kl, "\x06\x00" "123456", 8) == 0);
		ck_assert_uint_eq(room[need], 0xA5);
		free(room);
	}
}
END_TEST

/* host_meta (ABI 1.3): the first link asking for x-response-time gets
 * the host's entry, written in its place among the after hooks (the
 * metadata order is the after order, as when a plugin wrote it) when the
 * link ran; a vtable built against 1.2 (its size ends before host_meta)
 * asks for nothing, whatever lies past its end. */
struct tag {
	char key[8];
};

static void tag_after(void *self, const dx_request *req, dx_response *res)
{
	struct tag *t = self;
	ck_assert_int_eq(dx_response_meta(res, t->key, "", 0), 0);
}

static const dx_middleware_vtable vt_tag = {.size = sizeof vt_tag,
					    .after = tag_after};
static const dx_middleware_vtable vt_time = {
	.size = sizeof vt_time, .host_meta = DX_MW_META_RESPONSE_TIME};
static const dx_middleware_vtable vt_time_v12 = {
	.size = DX_MIDDLEWARE_VTABLE_V1_0_SIZE, .after = tag_after,
	.host_meta = DX_MW_META_RESPONSE_TIME};

START_TEST(test_chain_response_time)
{
	for (int k = 0; k < CASES; k++) {
		struct tag tags[MAXLEN];
		dx_chain_link links[MAXLEN];
		unsigned kinds[MAXLEN];
		unsigned n = 1 + rnd(MAXLEN);
		int first = -1;
		for (unsigned i = 0; i < n; i++) {
			kinds[i] = rnd(3);
			const dx_middleware_vtable *vt =
				kinds[i] == 0 ? &vt_time
				: kinds[i] == 1 ? &vt_time_v12
						: &vt_tag;
			if (kinds[i] == 0 && first < 0)
				first = (int)i;
			snprintf(tags[i].key, sizeof tags[i].key, "t%u", i);
			links[i] = (dx_chain_link){vt, &tags[i], "tag"};
		}
		dx_chain chain = {.links = links, .count = n};
		ck_assert_int_eq(dx_chain_flatten(&chain), 0);
		unsigned ran = rnd(n + 1);
		dx_request req = {.size = sizeof req, .start_ns = 1000000};
		uint8_t meta[1024];
		dx_response res;
		dx_response_init(&res, NULL, 0, meta, sizeof meta);
		dx_chain_after(&chain, ran, &req, &res, 1000000 + 42999);
		/* The model: the entries in after order, last link first. */
		uint8_t want[1024];
		dx_response model;
		dx_response_init(&model, NULL, 0, want, sizeof want);
		for (unsigned i = ran; i-- > 0;) {
			if (kinds[i] != 0)
				dx_response_meta(&model, tags[i].key, "", 0);
			else if ((int)i == first)
				dx_response_meta(&model, "x-response-time",
						 "42", 2);
		}
		ck_assert_msg(res.meta_len == model.meta_len &&
				      res.meta_count == model.meta_count &&
				      memcmp(meta, want, res.meta_len) == 0,
			      "seed %" PRIu64 " case %d: ran %u of %u, first "
			      "timing link %d: metadata not in after order",
			      seed, k, ran, n, first);
		dx_chain_free(&chain);
	}
	/* The host's constant key is the one dx_meta_key_init makes. */
	dx_meta_key k;
	ck_assert_int_eq(dx_meta_key_init(&k, "x-response-time"), 0);
	ck_assert_uint_eq(k.len, dx_chain_time_key.len);
	ck_assert(memcmp(k.bytes, dx_chain_time_key.bytes, k.len) == 0);
}
END_TEST

/* dx_request_ext_set_n: n keys at once, as n dx_request_ext_set would
 * (a key set before, even as another pointer, is replaced, not doubled). */
START_TEST(test_ext_set_n)
{
	dx_ext store[DX_REQUEST_EXT_MAX];
	dx_request req = {.size = sizeof req, .ext = store};
	int a = 1, b = 2, c = 3;
	const dx_ext two[2] = {{"jwt.sub", &a, 1}, {"jwt.claims", &b, 2}};
	ck_assert_int_eq(dx_request_ext_set_n(&req, two, 2), 0);
	ck_assert_uint_eq(req.ext_count, 2);
	size_t len = 0;
	ck_assert_ptr_eq(dx_request_ext_get(&req, "jwt.sub", &len), &a);
	ck_assert_uint_eq(len, 1);
	ck_assert_ptr_eq(dx_request_ext_get(&req, "jwt.claims", &len), &b);
	ck_assert_uint_eq(len, 2);
	/* Set again: the same key in another buffer replaces, a new one is
	 * added. */
	char key[] = "jwt.sub";
	const dx_ext more[2] = {{key, &c, 3}, {"reqid", &a, 4}};
	ck_assert_int_eq(dx_request_ext_set_n(&req, more, 2), 0);
	ck_assert_uint_eq(req.ext_count, 3);
	ck_assert_ptr_eq(dx_request_ext_get(&req, "jwt.sub", &len), &c);
	ck_assert_uint_eq(len, 3);
	ck_assert_ptr_eq(dx_request_ext_get(&req, "reqid", &len), &a);
	/* No room: -ENOSPC, whether the request had some set or none. */
	static char keys[DX_REQUEST_EXT_MAX + 1][8];
	dx_ext many[DX_REQUEST_EXT_MAX + 1];
	for (unsigned i = 0; i <= DX_REQUEST_EXT_MAX; i++) {
		snprintf(keys[i], sizeof keys[i], "k%u", i);
		many[i] = (dx_ext){keys[i], &a, 0};
	}
	ck_assert_int_eq(dx_request_ext_set_n(&req, many, DX_REQUEST_EXT_MAX),
			 -ENOSPC);
	ck_assert_uint_eq(req.ext_count, DX_REQUEST_EXT_MAX);
	dx_request empty = {.size = sizeof empty, .ext = store};
	ck_assert_int_eq(dx_request_ext_set_n(&empty, many,
					      DX_REQUEST_EXT_MAX + 1),
			 -ENOSPC);
	ck_assert_uint_eq(empty.ext_count, DX_REQUEST_EXT_MAX);
	ck_assert_ptr_eq(dx_request_ext_get(&empty, "k15", NULL), &a);
	ck_assert_ptr_null(dx_request_ext_get(&empty, "k16", NULL));
	dx_request none = {.size = sizeof none};
	ck_assert_int_eq(dx_request_ext_set_n(&none, two, 2), -ENOSPC);
}
END_TEST

int main(void)
{
	const char *env = getenv("DX_TEST_SEED");
	seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	rng = seed ? seed : 1;
	Suite *s = suite_create("chain");
	TCase *tc = tcase_create("properties");
	tcase_add_test(tc, test_chain_properties);
	tcase_add_test(tc, test_empty_chain);
	tcase_add_test(tc, test_meta_key);
	tcase_add_test(tc, test_chain_response_time);
	tcase_add_test(tc, test_ext_set_n);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
