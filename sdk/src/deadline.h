/* deadline.h - millisecond deadlines for libdx's blocking calls (connect,
 * the client): a timeout becomes a deadline once, and every wait gets what
 * is left of it, so no call blocks longer than it was told. Internal to
 * libdx. */
#ifndef DX_DEADLINE_H
#define DX_DEADLINE_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

static inline int64_t dx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* timeout_ms < 0 is forever (deadline -1). */
static inline int64_t dx_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : dx_now_ms() + timeout_ms;
}

/* What is left until deadline, for poll(): -1 forever, 0 passed. */
static inline int dx_deadline_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - dx_now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

#endif
