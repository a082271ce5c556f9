/* pin_linux.c - pin.h over pthread_setaffinity_np and a cpu_set_t. */
#include <errno.h>
#include <sched.h>

#include "pin.h"

int dx_pin_thread(pthread_t t, unsigned cpu)
{
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof set, &set);
}
