/* deadline.h - millisecond deadlines for libdx's blocking calls (connect,
 * the client): a timeout becomes a deadline once, and every wait gets what
 * is left of it, so no call blocks longer than it was told. Internal to
 * libdx. */
#ifndef DX_DEADLINE_H
#define DX_DEADLINE_H

#include <limits.h>
#include <stdint.h>

/* A monotonic clock in milliseconds, one file per system:
 * clock_posix.c (CLOCK_MONOTONIC), clock_win.c (GetTickCount64). */
#ifdef _WIN32
int64_t dx_now_ms(void);
#else
__attribute__((visibility("hidden"))) int64_t dx_now_ms(void);
#endif

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
