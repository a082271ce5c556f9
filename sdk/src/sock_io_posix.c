/* sock_io_posix.c - sock.h's socket calls on POSIX systems: the system
 * calls themselves, errno negated. Built with sock_accept4.c or
 * sock_posix.c. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sock.h"

int dx_sock_init(void)
{
	return 0; /* sockets need no setting up */
}

void dx_sock_close(int fd)
{
	close(fd);
}

int dx_sock_poll(int fd, short events, int timeout_ms, short *revents)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n = poll(&p, 1, timeout_ms);
	if (n < 0)
		return -errno;
	*revents = p.revents;
	return n;
}

long dx_sock_send(int fd, const void *buf, size_t n)
{
	ssize_t k = send(fd, buf, n, DX_MSG_NOSIGNAL);
	return k < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : (long)k;
}

long dx_sock_recv(int fd, void *buf, size_t n)
{
	ssize_t k = recv(fd, buf, n, 0);
	return k < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : (long)k;
}

int dx_sock_connect(int fd, const void *sa, uint32_t len)
{
	return connect(fd, sa, (socklen_t)len) < 0 ? -errno : 0;
}

int dx_sock_error(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	return -soerr;
}

const char *dx_sock_strerror(int err)
{
	return strerror(err);
}

void dx_sock_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int dx_sock_bind(int fd, const void *sa, uint32_t len)
{
	return bind(fd, sa, (socklen_t)len) < 0 ? -errno : 0;
}

int dx_sock_listen(int fd, int backlog)
{
	return listen(fd, backlog) < 0 ? -errno : 0;
}

int dx_sock_set_on(int fd, int level, int name)
{
	int one = 1;
	return setsockopt(fd, level, name, &one, sizeof one) < 0 ? -errno : 0;
}

long dx_sock_send_nowait(int fd, const void *buf, size_t n)
{
	ssize_t k = send(fd, buf, n, DX_MSG_NOSIGNAL | MSG_DONTWAIT);
	return k < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : (long)k;
}
