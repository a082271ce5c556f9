/* clock_posix.c - deadline.h's clock: CLOCK_MONOTONIC. */
#include <time.h>

#include "deadline.h"

int64_t dx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
