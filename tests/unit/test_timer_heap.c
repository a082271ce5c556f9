/* test_timer_heap.c - libdx's timer heap (dx/timer_heap.h): order, ties,
 * pop-due, cancel with and without the udata index, checked against a
 * plain array model over random operations. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <dx/timer_heap.h>

#include "check_main.h"

static const unsigned flag_cases[] = {0, DX_TIMER_HEAP_BY_UDATA};

static int fired;
static void count_fn(void *arg)
{
	fired += *(int *)arg;
}

START_TEST(test_timer_order_and_ties)
{
	dx_timer_heap h;
	dx_timer_heap_init(&h, flag_cases[_i]);
	ck_assert_uint_eq(dx_timer_heap_next(&h), UINT64_MAX);
	static const uint64_t due[] = {50, 10, 30, 10, 40, 10, 20};
	int one = 1;
	for (unsigned i = 0; i < 7; i++)
		ck_assert_int_eq(
			dx_timer_heap_add(&h, due[i], i, count_fn, &one), 0);
	ck_assert_uint_eq(h.count, 7);
	ck_assert_uint_eq(dx_timer_heap_next(&h), 10);
	dx_timer t;
	/* Nothing due before 10. */
	ck_assert(!dx_timer_heap_pop_due(&h, 9, &t));
	/* Equal due times come out in the order they were added. */
	static const uint64_t want_udata[] = {1, 3, 5, 6, 2, 4, 0};
	for (unsigned i = 0; i < 7; i++) {
		ck_assert(dx_timer_heap_pop_due(&h, UINT64_MAX, &t));
		ck_assert_uint_eq(t.udata, want_udata[i]);
		ck_assert_ptr_eq(t.fn, count_fn);
		t.fn(t.arg);
	}
	ck_assert_int_eq(fired, 7);
	fired = 0;
	ck_assert(!dx_timer_heap_pop_due(&h, UINT64_MAX, &t));
	dx_timer_heap_free(&h);
	dx_timer_heap_free(&h);
}
END_TEST

START_TEST(test_timer_cancel)
{
	dx_timer_heap h;
	dx_timer_heap_init(&h, flag_cases[_i]);
	ck_assert_int_eq(dx_timer_heap_cancel(&h, 7), -ENOENT);
	ck_assert(!dx_timer_heap_has(&h, 7));
	for (uint64_t i = 0; i < 100; i++)
		ck_assert_int_eq(dx_timer_heap_add(&h, 1000 - i, i, NULL, NULL),
				 0);
	/* Two timers share udata 7. */
	ck_assert_int_eq(dx_timer_heap_add(&h, 5, 7, NULL, NULL), 0);
	ck_assert(dx_timer_heap_has(&h, 7));
	ck_assert_int_eq(dx_timer_heap_cancel(&h, 7), 0);
	ck_assert(dx_timer_heap_has(&h, 7));
	ck_assert_int_eq(dx_timer_heap_cancel(&h, 7), 0);
	ck_assert(!dx_timer_heap_has(&h, 7));
	ck_assert_int_eq(dx_timer_heap_cancel(&h, 7), -ENOENT);
	ck_assert_int_eq(dx_timer_heap_cancel(&h, 99), 0);
	ck_assert_uint_eq(h.count, 98);
	ck_assert_uint_eq(dx_timer_heap_next(&h), 1000 - 98);
	dx_timer t;
	uint64_t last = 0;
	while (dx_timer_heap_pop_due(&h, UINT64_MAX, &t)) {
		ck_assert_uint_ge(t.due_ns, last);
		ck_assert(t.udata != 7 && t.udata != 99);
		last = t.due_ns;
	}
	dx_timer_heap_free(&h);
}
END_TEST

/* Random adds, cancels and pops against a model: a plain array in which
 * the next due is the smallest (due, order added). */
struct model {
	uint64_t due, udata, seq;
};

static uint64_t rng_state;
static uint64_t rnd(uint64_t n)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (rng_state >> 33) % n;
}

static size_t model_min(const struct model *m, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (m[i].due < m[best].due ||
		    (m[i].due == m[best].due && m[i].seq < m[best].seq))
			best = i;
	return best;
}

START_TEST(test_timer_model)
{
	enum { MAXN = 512, OPS = 20000 };
	static struct model m[MAXN];
	size_t n = 0;
	uint64_t seq = 0;
	dx_timer_heap h;
	dx_timer_heap_init(&h, flag_cases[_i]);
	rng_state = 42 + _i;
	for (int op = 0; op < OPS; op++) {
		unsigned what = (unsigned)rnd(10);
		if (what < 5 && n < MAXN) {
			/* udata unique here; shared ones: test_timer_cancel */
			uint64_t due = rnd(64);
			ck_assert_int_eq(
				dx_timer_heap_add(&h, due, seq, NULL, NULL), 0);
			m[n++] = (struct model){due, seq, seq};
			seq++;
		} else if (what < 7) {
			uint64_t ud = rnd(seq + 8);
			size_t i = 0;
			while (i < n && m[i].udata != ud)
				i++;
			ck_assert(dx_timer_heap_has(&h, ud) == (i < n));
			ck_assert_int_eq(dx_timer_heap_cancel(&h, ud),
					 i < n ? 0 : -ENOENT);
			if (i < n)
				m[i] = m[--n];
		} else {
			uint64_t now = rnd(64);
			dx_timer t;
			bool got = dx_timer_heap_pop_due(&h, now, &t);
			size_t i = n ? model_min(m, n) : 0;
			ck_assert(got == (n && m[i].due <= now));
			if (got) {
				ck_assert_uint_eq(t.due_ns, m[i].due);
				ck_assert_uint_eq(t.udata, m[i].udata);
				m[i] = m[--n];
			}
		}
		ck_assert_uint_eq(h.count, n);
		ck_assert_uint_eq(dx_timer_heap_next(&h),
				  n ? m[model_min(m, n)].due : UINT64_MAX);
	}
	dx_timer_heap_free(&h);
}
END_TEST

static Suite *timer_heap_suite(void)
{
	Suite *s = suite_create("timer_heap");
	TCase *tc = tcase_create("timer_heap");
	tcase_add_loop_test(tc, test_timer_order_and_ties, 0, 2);
	tcase_add_loop_test(tc, test_timer_cancel, 0, 2);
	tcase_add_loop_test(tc, test_timer_model, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(timer_heap_suite());
}
