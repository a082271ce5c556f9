/* addr_connect.c - resolving and connecting to the addresses of
 * dx/addr.h, through sock.h (POSIX sockets or Winsock). Every wait is a
 * poll bounded by what is left of the caller's timeout. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <dx/addr.h>
#include <dx/plugin.h> /* DX_PRINTF */

#include "deadline.h"
#include "sock.h"

#define DX_ADDR_CANDIDATES 16

_Static_assert(sizeof(((dx_sockaddr *)0)->sa) >=
		       sizeof(struct sockaddr_storage),
	       "dx_sockaddr holds any socket address");

static void dx_addr_err(char *err, size_t errlen, const char *fmt, ...)
	DX_PRINTF(3, 4);
static void dx_addr_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int dx_addr_resolve(const dx_addr *a, dx_sockaddr *out, int n, char *err,
		    size_t errlen)
{
	if (n < 1)
		return -EINVAL;
	int rc = dx_sock_init(); /* Winsock: before getaddrinfo */
	if (rc < 0) {
		dx_addr_err(err, errlen, "%s: sockets cannot be used",
			    a->text);
		return rc;
	}
	if (a->kind == DX_ADDR_UNIX) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		size_t pl = strlen(a->path);
		if (!pl || pl >= sizeof sun.sun_path) {
			dx_addr_err(err, errlen,
				    "%s: a Unix socket path must be 1 to %zu "
				    "bytes",
				    a->text, sizeof sun.sun_path - 1);
			return -EINVAL;
		}
		memcpy(sun.sun_path, a->path, pl + 1);
		memset(&out[0], 0, sizeof out[0]);
		memcpy(out[0].sa, &sun, sizeof sun);
		out[0].len = sizeof sun;
		out[0].family = AF_UNIX;
		return 1;
	}
	char port[8];
	snprintf(port, sizeof port, "%u", (unsigned)a->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV},
			*res = NULL;
	int gai = getaddrinfo(a->host, port, &hints, &res);
	if (gai) {
		dx_addr_err(err, errlen, "%s: %s", a->text, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	int k = 0;
	for (struct addrinfo *ai = res; ai && k < n; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof out[k].sa)
			continue;
		memset(&out[k], 0, sizeof out[k]);
		memcpy(out[k].sa, ai->ai_addr, ai->ai_addrlen);
		out[k].len = (uint32_t)ai->ai_addrlen;
		out[k].family = ai->ai_family;
		k++;
	}
	freeaddrinfo(res);
	if (!k) {
		dx_addr_err(err, errlen, "%s: no usable address", a->text);
		return -EHOSTUNREACH;
	}
	return k;
}

/* Wait for a TCP connect in progress: 0 or -errno. */
static int dx_addr_wait_connect(int fd, int64_t deadline)
{
	for (;;) {
		short rev;
		int n = dx_sock_poll(fd, POLLOUT, dx_deadline_left(deadline),
				     &rev);
		if (n == 0)
			return -ETIMEDOUT;
		if (n > 0)
			break;
		if (n != -EINTR)
			return n;
	}
	return dx_sock_error(fd);
}

static int dx_sockaddr_connect_until(const dx_sockaddr *sa, int64_t deadline)
{
	int fd = dx_sock_open(sa->family, SOCK_STREAM, DX_SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	const struct sockaddr *p =
		(const struct sockaddr *)(const void *)sa->sa;
	int rc = 0;
	for (;;) {
		rc = dx_sock_connect(fd, p, sa->len);
		if (rc == 0)
			break;
		if (rc == -EINTR)
			continue;
		if (rc == -EINPROGRESS) {
			rc = dx_addr_wait_connect(fd, deadline);
			break;
		}
		/* A Unix listener with a full backlog says EAGAIN at once and
		 * poll cannot wait for room: retry every millisecond (a
		 * poll of fd -1, which POSIX poll skips, is a 1 ms sleep;
		 * Windows has no Unix sockets to get here with). */
		short rev;
		if (rc != -EAGAIN || sa->family != AF_UNIX ||
		    dx_deadline_left(deadline) == 0)
			break;
		dx_sock_poll(-1, 0, 1, &rev);
	}
	if (rc < 0) {
		dx_sock_close(fd);
		return rc;
	}
	if (sa->family != AF_UNIX)
		dx_sock_nodelay(fd);
	return fd;
}

int dx_sockaddr_connect(const dx_sockaddr *sa, int timeout_ms)
{
	return dx_sockaddr_connect_until(sa, dx_deadline(timeout_ms));
}

int dx_addr_connect(const dx_addr *a, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = dx_deadline(timeout_ms);
	dx_sockaddr cand[DX_ADDR_CANDIDATES];
	int n = dx_addr_resolve(a, cand, DX_ADDR_CANDIDATES, err, errlen);
	if (n < 0)
		return n;
	int rc = -EHOSTUNREACH;
	for (int i = 0; i < n && rc < 0; i++) {
		rc = dx_sockaddr_connect_until(&cand[i], deadline);
		if (rc == -ETIMEDOUT)
			break;
	}
	if (rc < 0)
		dx_addr_err(err, errlen, "connect to %s: %s", a->text,
			    rc == -ETIMEDOUT ? "timed out" :
					       dx_sock_strerror(-rc));
	return rc;
}
