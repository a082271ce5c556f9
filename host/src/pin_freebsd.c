/* pin_freebsd.c - pin.h over FreeBSD's pthread_setaffinity_np, which
 * takes a cpuset_t (<sys/cpuset.h>). Not yet run on FreeBSD. */
#include <errno.h>
#include <pthread_np.h>
#include <sys/param.h>
#include <sys/cpuset.h>

#include "pin.h"

int dx_pin_thread(pthread_t t, unsigned cpu)
{
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	cpuset_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof set, &set);
}
