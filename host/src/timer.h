/* timer.h - the worker clock and its timers. Worker thread only. */
#ifndef DX_HOST_TIMER_H
#define DX_HOST_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define DX_TICK_MS 100

struct dx_worker;

typedef struct dx_timer {
	uint64_t due_ns;
	void (*fn)(void *arg);
	void *arg;
} dx_timer;

uint64_t dx_now_ns(void);
int dx_worker_timer(uint64_t delay_ns, void (*fn)(void *arg), void *arg);
void dx_run_timers(struct dx_worker *w, bool all);
int dx_wait_ms(const struct dx_worker *w);

#endif
