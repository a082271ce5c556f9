/* pin_affinity.c - pin.h over pthread_setaffinity_np, which Linux takes
 * with a cpu_set_t (<sched.h>) and FreeBSD with a cpuset_t
 * (<pthread_np.h>, <sys/cpuset.h>): the same call, two names for the set.
 * Run on Linux only so far. */
#include <errno.h>

#ifdef __FreeBSD__
#include <pthread_np.h>
#include <sys/param.h>
#include <sys/cpuset.h>
typedef cpuset_t dx_cpu_set;
#else
#include <sched.h>
typedef cpu_set_t dx_cpu_set;
#endif

#include "pin.h"

int dx_pin_thread(pthread_t t, unsigned cpu)
{
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	dx_cpu_set set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof set, &set);
}
