/* reuseport_balance.c - reuseport.h where a socket option spreads a
 * port's connections over the sockets bound to it: Linux's SO_REUSEPORT
 * (3.9 and later, by a hash of the peer's address and port) and FreeBSD's
 * SO_REUSEPORT_LB (12 and later; there plain SO_REUSEPORT gives every
 * connection to one socket). Run on Linux only so far. */
#include <errno.h>
#include <sys/socket.h>

#include "reuseport.h"

#ifdef SO_REUSEPORT_LB
#define DX_REUSEPORT SO_REUSEPORT_LB
#else
#define DX_REUSEPORT SO_REUSEPORT
#endif

const bool dx_reuseport_balances = true;

int dx_reuseport(int fd)
{
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, DX_REUSEPORT, &one, sizeof one) < 0)
		return -errno;
	return 0;
}
