/* timer.c - the worker clock, and each worker's timers: a binary min-heap
 * by due time, in the worker struct (w->timers), touched only on the
 * worker's own thread. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "timer.h"
#include "worker.h"

uint64_t dx_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void dx_heap_swap(dx_timer *a, dx_timer *b)
{
	dx_timer t = *a;
	*a = *b;
	*b = t;
}

int dx_worker_timer(uint64_t delay_ns, void (*fn)(void *arg), void *arg)
{
	dx_worker *w = dx_worker_current;
	if (!w)
		return DX_ESTATE;
	if (w->timer_count == w->timer_cap) {
		size_t cap = w->timer_cap ? w->timer_cap * 2 : 64;
		dx_timer *t = realloc(w->timers, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		w->timers = t;
		w->timer_cap = cap;
	}
	size_t i = w->timer_count++;
	w->timers[i] = (dx_timer){dx_now_ns() + delay_ns, fn, arg};
	while (i && w->timers[(i - 1) / 2].due_ns > w->timers[i].due_ns) {
		dx_heap_swap(&w->timers[(i - 1) / 2], &w->timers[i]);
		i = (i - 1) / 2;
	}
	return 0;
}

static dx_timer dx_timer_pop(dx_worker *w)
{
	dx_timer top = w->timers[0];
	w->timers[0] = w->timers[--w->timer_count];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->timer_count &&
		    w->timers[l].due_ns < w->timers[m].due_ns)
			m = l;
		if (r < w->timer_count &&
		    w->timers[r].due_ns < w->timers[m].due_ns)
			m = r;
		if (m == i)
			break;
		dx_heap_swap(&w->timers[i], &w->timers[m]);
		i = m;
	}
	return top;
}

void dx_timers_run(dx_worker *w, bool all)
{
	uint64_t now = dx_now_ns();
	while (w->timer_count && (all || w->timers[0].due_ns <= now)) {
		dx_timer t = dx_timer_pop(w);
		t.fn(t.arg);
	}
}

int dx_timers_wait_ms(const dx_worker *w, int max_ms)
{
	if (!w->timer_count)
		return max_ms;
	uint64_t now = dx_now_ns(), due = w->timers[0].due_ns;
	if (due <= now)
		return 0;
	uint64_t ms = (due - now + 999999) / 1000000;
	return ms < (uint64_t)max_ms ? (int)ms : max_ms;
}
