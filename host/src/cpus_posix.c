/* cpus_posix.c - cpus.h through sysconf(_SC_NPROCESSORS_ONLN), which
 * Linux, the BSDs and macOS all have. */
#include <unistd.h>

#include "cpus.h"

unsigned dx_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
