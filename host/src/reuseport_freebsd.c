/* reuseport_freebsd.c - reuseport.h on FreeBSD 12 and later: there plain
 * SO_REUSEPORT gives every connection to one socket; SO_REUSEPORT_LB
 * spreads them, as Linux's SO_REUSEPORT does. Not yet run on FreeBSD. */
#include <errno.h>
#include <sys/socket.h>

#include "reuseport.h"

const bool dx_reuseport_balances = true;

int dx_reuseport(int fd)
{
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT_LB, &one, sizeof one) < 0)
		return -errno;
	return 0;
}
