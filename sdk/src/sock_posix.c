/* sock_posix.c - sock.h in POSIX calls only: socket() or accept(), then
 * fcntl() for close-on-exec and non-blocking (and SO_NOSIGPIPE where
 * send() has no MSG_NOSIGNAL). Between the two calls another thread's
 * fork+exec (forge's process driver starts children) can inherit the
 * fd: the child holds a socket open it never uses, the price of systems
 * without SOCK_CLOEXEC. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <unistd.h>

#include "sock.h"

/* Mark a new socket; on failure close it. The fd or a negative errno.
 * O_NONBLOCK is set or cleared as flags say: BSD's and macOS's accept()
 * hands out a socket that inherited the listening socket's. */
static int dx_sock_mark(int fd, int flags)
{
	if (fd < 0)
		return -errno;
	int fl = fcntl(fd, F_GETFL);
	int rc = fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fl < 0 ? -errno : 0;
	int want = flags & DX_SOCK_NONBLOCK ? fl | O_NONBLOCK :
					      fl & ~O_NONBLOCK;
	if (rc == 0 && want != fl && fcntl(fd, F_SETFL, want) < 0)
		rc = -errno;
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
	int one = 1;
	if (rc == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0)
		rc = -errno;
#endif
	if (rc < 0)
		close(fd);
	return rc < 0 ? rc : fd;
}

int dx_sock_open(int family, int type, int flags)
{
	return dx_sock_mark(socket(family, type, 0), flags);
}

int dx_sock_accept(int fd, int flags)
{
	return dx_sock_mark(accept(fd, NULL, NULL), flags);
}
