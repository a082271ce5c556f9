/* ready_sys.c - the socket calls whose form differs between the systems
 * the readiness backends run on (Linux for io_epoll; FreeBSD, macOS and
 * Linux's test emulation for io_kqueue). Each function is the whole of one
 * difference:
 *
 * - accept4: Linux and FreeBSD (10+) have it (DX_HAVE_ACCEPT4, from
 *   meson); macOS does not, so there it is accept() then fcntl(O_NONBLOCK),
 *   fcntl(FD_CLOEXEC) and SO_NOSIGPIPE: more syscalls per connection, and
 *   a window in which a fork+exec elsewhere in the process inherits the fd
 *   (the host does not fork workers).
 * - SIGPIPE: Linux and FreeBSD take MSG_NOSIGNAL per send; macOS has no
 *   MSG_NOSIGNAL and wants SO_NOSIGPIPE set on the socket (at accept, and
 *   before the first send on a socket from elsewhere).
 * - MSG_MORE (DX_IO_SEND_MORE) is Linux only; on BSD the hint is dropped
 *   (TCP_NOPUSH is per socket and would cost a syscall to set and clear).
 * - accept(2) errors that mean "retry" differ (ENONET is Linux's). */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ready.h"

int rd_sys_accept_nb(int listen_fd)
{
#ifdef DX_HAVE_ACCEPT4 /* FreeBSD 10+, Linux */
	return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else /* macOS */
	int fd = accept(listen_fd, NULL, NULL);
	if (fd < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || rd_sys_nosigpipe(fd) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
#endif
}

bool rd_sys_accept_retry(int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EPERM:
#ifdef EPROTO /* Linux: a protocol error on the new connection */
	case EPROTO:
#endif
#ifdef ENONET /* Linux only */
	case ENONET:
#endif
		return true;
	default: return false;
	}
}

int rd_sys_send_flags(bool more)
{
	int how = MSG_DONTWAIT;
#ifdef MSG_NOSIGNAL /* FreeBSD, Linux; macOS: rd_sys_nosigpipe */
	how |= MSG_NOSIGNAL;
#endif
#ifdef MSG_MORE /* Linux only */
	if (more)
		how |= MSG_MORE;
#else
	(void)more;
#endif
	return how;
}

int rd_sys_nosigpipe(int fd)
{
#if defined(SO_NOSIGPIPE) && !defined(MSG_NOSIGNAL) /* macOS */
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0 &&
	    errno != ENOTSOCK) /* a pipe: SIGPIPE is the host's to ignore */
		return -errno;
#else
	(void)fd;
#endif
	return 0;
}
