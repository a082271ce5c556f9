/* pin_win.c - pin.h through SetThreadAffinityMask on the worker's thread
 * handle (winpthreads' pthread_gethandle). A mask holds the 64 CPUs of
 * one processor group: a CPU past them is -EINVAL, and the server logs
 * that workers run unpinned. Under wine the call maps to Linux's
 * sched_setaffinity (not checked on Windows itself). */
#include <errno.h>

#include <windows.h>

#include "pin.h"

int dx_pin_thread(pthread_t t, unsigned cpu)
{
	if (cpu >= 64)
		return -EINVAL;
	HANDLE h = pthread_gethandle(t);
	if (!h)
		return -ESRCH;
	if (!SetThreadAffinityMask(h, (DWORD_PTR)1 << cpu))
		return GetLastError() == ERROR_INVALID_PARAMETER ? -EINVAL
								   : -EPERM;
	return 0;
}
