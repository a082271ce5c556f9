/* reuseport_linux.c - reuseport.h on Linux: SO_REUSEPORT spreads a port's
 * connections over the sockets bound to it by a hash of the peer's
 * address and port. */
#include <errno.h>
#include <sys/socket.h>

#include "reuseport.h"

const bool dx_reuseport_balances = true;

int dx_reuseport(int fd)
{
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		return -errno;
	return 0;
}
