/* sock_accept4.c - sock.h with SOCK_CLOEXEC/SOCK_NONBLOCK and accept4:
 * one call each, nothing to race with. */
#include <errno.h>
#include <stddef.h>

#include "sock.h"

static int dx_sock_flags(int flags)
{
	return SOCK_CLOEXEC | (flags & DX_SOCK_NONBLOCK ? SOCK_NONBLOCK : 0);
}

int dx_sock_open(int family, int type, int flags)
{
	int fd = socket(family, type | dx_sock_flags(flags), 0);
	return fd < 0 ? -errno : fd;
}

int dx_sock_accept(int fd, int flags)
{
	int c = accept4(fd, NULL, NULL, dx_sock_flags(flags));
	return c < 0 ? -errno : c;
}
