/* clock_win.c - deadline.h's clock: GetTickCount64, milliseconds since
 * boot, which never goes back (its resolution, 10 to 16 ms, is fine for
 * timeouts). */
#include <windows.h>

#include "deadline.h"

int64_t dx_now_ms(void)
{
	return (int64_t)GetTickCount64();
}
