/* timer.c - the worker clock, and each worker's timers: libdx's timer heap
 * in the worker struct (w->timers), touched only on the worker's own
 * thread. */
#include <time.h>

#include "registry.h"
#include "timer.h"
#include "worker.h"

uint64_t dx_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int dx_worker_timer_held(uint64_t delay_ns, void (*fn)(void *arg), void *arg,
			 struct dx_plugin_entry *holder)
{
	dx_worker *w = dx_worker_current;
	if (!w)
		return DX_ESTATE;
	return dx_timer_heap_add(&w->timers, dx_now_ns() + delay_ns,
				 (uint64_t)(uintptr_t)holder, fn, arg);
}

int dx_worker_timer(uint64_t delay_ns, void (*fn)(void *arg), void *arg)
{
	return dx_worker_timer_held(delay_ns, fn, arg, NULL);
}

void dx_timers_run(dx_worker *w, bool all)
{
	uint64_t now = all ? UINT64_MAX : dx_now_ns();
	dx_timer t;
	while (dx_timer_heap_pop_due(&w->timers, now, &t)) {
		t.fn(t.arg);
		dx_entry_release((dx_plugin_entry *)(uintptr_t)t.udata);
	}
}

int dx_timers_wait_ms(const dx_worker *w, int max_ms)
{
	uint64_t now = dx_now_ns(), due = dx_timer_heap_next(&w->timers);
	if (due == UINT64_MAX)
		return max_ms;
	if (due <= now)
		return 0;
	uint64_t ms = (due - now + 999999) / 1000000;
	return ms < (uint64_t)max_ms ? (int)ms : max_ms;
}
