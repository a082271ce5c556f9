/* timer.h - the host's monotonic clock and the worker's timers.
 *
 * Timers belong to the worker whose thread made them (host->timer runs on
 * a worker only) and run on that thread, in due order, at a loop boundary.
 * Worker thread only, but dx_now_ns, which any thread may call. */
#ifndef DX_HOST_TIMER_H
#define DX_HOST_TIMER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dx_worker dx_worker;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t dx_now_ns(void);
/* host->timer: run fn(arg) on the calling worker after delay_ns. 0,
 * DX_ESTATE off a worker thread, or -ENOMEM. */
int dx_worker_timer(uint64_t delay_ns, void (*fn)(void *arg), void *arg);
/* The same for a plugin: holder (registry.h) is released once fn ran. */
struct dx_plugin_entry;
int dx_worker_timer_held(uint64_t delay_ns, void (*fn)(void *arg), void *arg,
			 struct dx_plugin_entry *holder);
/* Run the timers that are due (all: every one left, as the worker ends). */
void dx_timers_run(dx_worker *w, bool all);
/* How long the loop may wait for completions: until the next timer is
 * due, at most max_ms. */
int dx_timers_wait_ms(const dx_worker *w, int max_ms);

#endif
