/* dx_ctl_conn_posix.c - dx_ctl_conn.h over a Unix socket. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dx_ctl_conn.h"
#include "sock.h"

struct dx_ctl_conn {
	int fd;
};

int dx_ctl_conn_open(const char *path, int timeout_ms, dx_ctl_conn **out)
{
	(void)timeout_ms; /* a Unix socket's connect does not wait */
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return ENAMETOOLONG;
	strcpy(a.sun_path, path);
	dx_ctl_conn *c = malloc(sizeof *c);
	if (!c)
		return ENOMEM;
	c->fd = dx_sock_open(AF_UNIX, SOCK_STREAM, 0);
	if (c->fd < 0) {
		int e = -c->fd;
		free(c);
		return e;
	}
	if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		dx_ctl_conn_close(c);
		return e;
	}
	*out = c;
	return 0;
}

int dx_ctl_conn_send(dx_ctl_conn *c, const char *buf, size_t n)
{
	return send(c->fd, buf, n, DX_MSG_NOSIGNAL) == (ssize_t)n ? 0 : EIO;
}

long dx_ctl_conn_recv(dx_ctl_conn *c, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	if (poll(&p, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	ssize_t r = recv(c->fd, buf, cap, 0);
	return r < 0 ? -errno : (long)r;
}

void dx_ctl_conn_close(dx_ctl_conn *c)
{
	close(c->fd);
	free(c);
}

void dx_ctl_conn_where(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s", path);
}
