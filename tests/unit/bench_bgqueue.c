/* bench_bgqueue - what host->enqueue costs the caller (issue 6), printed,
 * never asserted: p50 / p99 / max nanoseconds per enqueue, 3 rounds of
 * 200,000 each, in three situations: one thread and trivial handlers (a tight loop outruns it),
 * a full queue with slow handlers (every enqueue drops the oldest), and no
 * thread at all (a queue that only fills). usage: bench_bgqueue */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bgqueue.h"

#define N 200000

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fast(void *arg) { (void)arg; }
static void slow(void *arg) { (void)arg; usleep(1000); }
static void drop(void *arg) { (void)arg; }

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void run(const char *what, unsigned cap, unsigned threads,
		void (*fn)(void *))
{
	static uint64_t t[N];
	for (int round = 0; round < 3; round++) {
		dx_bgqueue *q = dx_bgqueue_new(cap, NULL, NULL);
		if (!q || (threads && dx_bgqueue_start(q, threads) < 0)) {
			fprintf(stderr, "bench_bgqueue: cannot make a queue\n");
			exit(1);
		}
		for (int i = 0; i < N; i++) {
			uint64_t a = now_ns();
			dx_bgqueue_push(q, "bench", fn, drop, NULL);
			t[i] = now_ns() - a;
		}
		dx_bg_stats st;
		dx_bgqueue_stats(q, &st);
		dx_bgqueue_free(q);
		qsort(t, N, sizeof t[0], cmp);
		printf("%-34s round %d  p50 %6llu ns  p99 %7llu ns  max %8llu ns"
		       "  (%llu dropped)\n",
		       what, round + 1, (unsigned long long)t[N / 2],
		       (unsigned long long)t[N * 99 / 100],
		       (unsigned long long)t[N - 1],
		       (unsigned long long)st.dropped);
	}
}

int main(void)
{
	printf("host->enqueue, %d enqueues per round, timed around "
	       "dx_bgqueue_push\n",
	       N);
	run("1 thread, trivial handlers", 1024, 1, fast);
	run("full (2 threads, 1 ms handlers)", 64, 2, slow);
	run("no thread (fills, then drops)", 1024, 0, fast);
	return 0;
}
