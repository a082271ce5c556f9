/* kq_compat.c - io_kqueue's platform differences (kq_compat.h says which
 * and why). Each function is the whole of one difference. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kq_compat.h"

int kq_open(void)
{
	int kq = kqueue();
	if (kq < 0)
		return -errno;
	/* FreeBSD 14 has kqueuex(KQUEUE_CLOEXEC); neither older FreeBSD nor
	 * macOS has a flag, and a kqueue is not inherited by fork anyway. */
	if (fcntl(kq, F_SETFD, FD_CLOEXEC) < 0) {
		int rc = -errno;
		close(kq);
		return rc;
	}
	return kq;
}

int kq_accept_nb(int listen_fd)
{
#ifdef DX_HAVE_ACCEPT4 /* FreeBSD 10+, Linux */
	return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else /* macOS */
	int fd = accept(listen_fd, NULL, NULL);
	if (fd < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || kq_nosigpipe(fd) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
#endif
}

bool kq_accept_retry(int err)
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
	default:
		return false;
	}
}

int kq_send_flags(bool more)
{
	int how = MSG_DONTWAIT;
#ifdef MSG_NOSIGNAL /* FreeBSD, Linux; macOS: kq_nosigpipe */
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

int kq_nosigpipe(int fd)
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

void kq_timer_data(uint64_t ns, intptr_t *data, unsigned *fflags)
{
#ifdef NOTE_NSECONDS
	if (ns <= (uint64_t)INTPTR_MAX) {
		*data = (intptr_t)ns;
		*fflags = NOTE_NSECONDS;
		return;
	}
#endif
#ifdef NOTE_USECONDS
	uint64_t us = (ns + 999) / 1000; /* never early */
	if (us <= (uint64_t)INTPTR_MAX) {
		*data = (intptr_t)us;
		*fflags = NOTE_USECONDS;
		return;
	}
#endif
	/* Milliseconds: fflags 0 on FreeBSD and macOS alike. */
	uint64_t ms = (ns + 999999) / 1000000;
	*data = ms > (uint64_t)INTPTR_MAX ? INTPTR_MAX : (intptr_t)ms;
	*fflags = 0;
}
