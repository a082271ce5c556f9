/* pin_none.c - pin.h where dx knows no way to pin a thread: macOS (its
 * thread affinity API only hints at cache sharing), OpenBSD, NetBSD (its
 * cpuset_t is opaque, not written yet), and Linux built with
 * -Dportable_fallbacks. The server logs that workers run unpinned. */
#include <errno.h>

#include "pin.h"

int dx_pin_thread(pthread_t t, unsigned cpu)
{
	(void)t;
	(void)cpu;
	return -ENOTSUP;
}
