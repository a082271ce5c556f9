/* test_bgqueue - the host's background queue (host/src/bgqueue.c).
 *
 * Property (at least 100 cases, seed printed, DX_TEST_SEED replays): with
 * handlers held at a gate that opens only once every task is pushed (so
 * the threads are stuck and the queue stays full), enqueue never waits:
 * were it to wait for a thread, the case would never end (the Check
 * timeout fails it; no wall-clock bound is asserted). And every task
 * either runs or is dropped (its drop function run), exactly once. Which task is the oldest is checked without threads racing
 * (test_drops_oldest_first). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "bgqueue.h"
#include "check_main.h"

#define CASES 120
#define TASKS 200

static uint64_t seed, rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct task {
	_Atomic int ran, dropped;
	bool gated; /* waits for the gate before it counts as run */
};

static struct task tasks[TASKS];
static _Atomic unsigned reported;
static _Atomic bool gate_open;

static void run(void *arg)
{
	struct task *t = arg;
	while (t->gated && !atomic_load(&gate_open))
		usleep(100);
	atomic_fetch_add(&t->ran, 1);
}

static void drop(void *arg)
{
	struct task *t = arg;
	atomic_fetch_add(&t->dropped, 1);
}

static void dropped(void *ud, const char *name)
{
	ck_assert_str_eq(name, "prop");
	atomic_fetch_add(&reported, 1);
}

START_TEST(test_bounded_and_drop_oldest)
{
	for (int k = 0; k < CASES; k++) {
		unsigned cap = 1 + rnd(16), threads = 1 + rnd(3);
		unsigned n = 10 + rnd(TASKS - 10);
		memset(tasks, 0, sizeof tasks);
		atomic_store(&reported, 0);
		dx_bgqueue *q = dx_bgqueue_new(cap, dropped, NULL);
		ck_assert_ptr_nonnull(q);
		ck_assert_int_eq(dx_bgqueue_start(q, threads), 0);
		atomic_store(&gate_open, false);
		for (unsigned i = 0; i < n; i++) {
			tasks[i].gated = rnd(4) == 0;
			ck_assert_int_eq(dx_bgqueue_push(q, "prop", run, drop,
							 &tasks[i]),
					 0);
		}
		atomic_store(&gate_open, true);
		dx_bgqueue_free(q); /* drops what is still queued */
		for (unsigned i = 0; i < n; i++) {
			int r = atomic_load(&tasks[i].ran),
			    d = atomic_load(&tasks[i].dropped);
			ck_assert_msg(r + d == 1,
				      "seed %" PRIu64 " case %d: task %u ran "
				      "%d and was dropped %d times",
				      seed, k, i, r, d);
		}
	}
}
END_TEST

/* With no thread running, a full queue drops strictly the oldest. */
START_TEST(test_drops_oldest_first)
{
	memset(tasks, 0, sizeof tasks);
	atomic_store(&reported, 0);
	dx_bgqueue *q = dx_bgqueue_new(4, dropped, NULL);
	for (int i = 0; i < 10; i++)
		dx_bgqueue_push(q, "prop", run, drop, &tasks[i]);
	dx_bg_stats st;
	dx_bgqueue_stats(q, &st);
	ck_assert_uint_eq(st.dropped, 6);
	ck_assert_uint_eq(st.length, 4);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(atomic_load(&tasks[i].dropped), 1);
	for (int i = 6; i < 10; i++)
		ck_assert_int_eq(atomic_load(&tasks[i].dropped), 0);
	ck_assert_uint_eq(atomic_load(&reported), 6);
	ck_assert_int_eq(dx_bgqueue_start(q, 1), 0);
	for (int t = 0; t < 200 && atomic_load(&tasks[9].ran) == 0; t++)
		usleep(1000);
	for (int i = 6; i < 10; i++)
		ck_assert_int_eq(atomic_load(&tasks[i].ran), 1);
	dx_bgqueue_free(q);
}
END_TEST

int main(void)
{
	const char *env = getenv("DX_TEST_SEED");
	seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	rng = seed ? seed : 1;
	Suite *s = suite_create("bgqueue");
	TCase *tc = tcase_create("queue");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bounded_and_drop_oldest);
	tcase_add_test(tc, test_drops_oldest_first);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
