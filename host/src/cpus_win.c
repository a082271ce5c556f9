/* cpus_win.c - cpus.h through GetActiveProcessorCount, over every
 * processor group (a machine with more than 64 CPUs has several). */
#include <windows.h>

#include "cpus.h"

unsigned dx_cpus(void)
{
	DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
	return n > 0 ? (unsigned)n : 1;
}
