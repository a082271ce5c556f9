/* reuseport_posix.c - reuseport.h where no socket option spreads a port's
 * connections (macOS, OpenBSD, NetBSD): the workers share one listening
 * socket and every idle worker's accept competes for each connection. */
#include "reuseport.h"

const bool dx_reuseport_balances = false;

int dx_reuseport(int fd)
{
	(void)fd;
	return 0;
}
