/* client.c - the blocking HBTP client of dx/client.h: connect, buffered
 * sends, receive with reassembly and inflation, and matching responses to
 * seqs with a bounded queue for the ones that complete out of order.
 *
 * The socket is non-blocking and every wait is a poll() with what is left
 * of the caller's timeout, so no call blocks longer than it was told. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dx/client.h>

#include "client_int.h"

/* --- small helpers --- */

int dx_client_fail(dx_client *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return code;
}

/* The stream cannot go on (peer gone, oversize frame): every later call
 * fails with code. The caller has written c->err. */
int dx_client_kill(dx_client *c, int code)
{
	c->dead = code;
	return code;
}

/* For messages: "RpcCall", or "frame" for an opcode v1 does not define. */
const char *dx_op_name(uint8_t opcode)
{
	const char *name = dx_hbtp_opcode_name(opcode);
	return name ? name : "frame";
}

static int64_t dx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* timeout_ms < 0 is forever (deadline -1). */
int64_t dx_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : dx_now_ms() + timeout_ms;
}

static int dx_remaining(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - dx_now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* poll() one fd for events until deadline: 1 ready, -ETIMEDOUT, -errno. */
int dx_wait_fd(int fd, short events, int64_t deadline, short *revents)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, dx_remaining(deadline));
		if (n > 0) {
			*revents = p.revents;
			return 1;
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* --- connecting --- */

static int dx_connect_fd(dx_client *c, int fd, const struct sockaddr *sa,
			 socklen_t salen, int64_t deadline, const char *addr)
{
	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return dx_client_fail(c, -errno, "connect to %s: %s", addr,
				      strerror(errno));
	short rev = 0;
	int rc = dx_wait_fd(fd, POLLOUT, deadline, &rev);
	if (rc < 0)
		return dx_client_fail(c, rc, "connect to %s: %s", addr,
				      rc == -ETIMEDOUT ? "timed out" :
							 strerror(-rc));
	int soerr = 0;
	socklen_t len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr)
		return dx_client_fail(c, -soerr, "connect to %s: %s", addr,
				      strerror(soerr));
	return 0;
}

static int dx_connect_unix(dx_client *c, const char *addr, int64_t deadline)
{
	const char *path = addr + 5;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!*path || strlen(path) >= sizeof sun.sun_path)
		return dx_client_fail(
			c, -EINVAL,
			"%s: a Unix socket path must be 1 to %zu bytes", addr,
			sizeof sun.sun_path - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return dx_client_fail(c, -errno, "socket: %s", strerror(errno));
	/* A Unix listener with a full backlog says EAGAIN at once, and poll
	 * cannot wait for room: retry every millisecond until the deadline. */
	for (;;) {
		if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return 0;
		if (errno != EAGAIN || dx_remaining(deadline) == 0)
			break;
		poll(NULL, 0, 1);
	}
	return dx_client_fail(c, -errno, "connect to %s: %s", addr,
			      strerror(errno));
}

/* "HOST:PORT" or "[IPV6]:PORT" into host and port (NUL-terminated). */
static int dx_split_hostport(dx_client *c, const char *addr, char *host,
			     size_t hostlen, const char **port)
{
	const char *h = addr, *colon;
	size_t n;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = addr + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			goto bad;
		n = (size_t)(colon - addr);
	}
	if (n == 0 || n >= hostlen || !colon[1])
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
bad:
	return dx_client_fail(
		c, -EINVAL, "%s: expected HOST:PORT, [IPV6]:PORT or unix:PATH",
		addr);
}

/* Try each address getaddrinfo gives until one connects. */
static int dx_connect_tcp(dx_client *c, const char *addr, int64_t deadline)
{
	char host[256];
	const char *port = NULL;
	int rc = dx_split_hostport(c, addr, host, sizeof host, &port);
	if (rc < 0)
		return rc;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV},
			*res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai)
		return dx_client_fail(c, -EHOSTUNREACH, "%s: %s", addr,
				      gai_strerror(gai));
	rc = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = socket(ai->ai_family,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			rc = dx_client_fail(c, -errno, "socket: %s",
					    strerror(errno));
			continue;
		}
		rc = dx_connect_fd(c, c->fd, ai->ai_addr, ai->ai_addrlen,
				   deadline, addr);
	}
	freeaddrinfo(res);
	if (rc == 0) {
		int one = 1; /* requests are small: no Nagle delay */
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return rc;
}

int dx_client_connect(const char *addr, int timeout_ms, dx_client **out,
		      char *err, size_t errlen)
{
	*out = NULL;
	dx_client *c = calloc(1, sizeof *c);
	if (!c) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fd = -1;
	c->max_frame = DX_CLIENT_MAX_FRAME;
	c->max_message = DX_CLIENT_MAX_MESSAGE;
	c->max_queued = DX_CLIENT_MAX_QUEUED;
	c->next_seq = 1;
	dx_hbtp_reasm_init(&c->reasm, NULL, 0);
	int64_t deadline = dx_deadline(timeout_ms);
	int rc = strncmp(addr, "unix:", 5) == 0 ?
			 dx_connect_unix(c, addr, deadline) :
			 dx_connect_tcp(c, addr, deadline);
	if (rc < 0) {
		if (errlen)
			snprintf(err, errlen, "%s", c->err);
		dx_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void dx_client_release_held(dx_client *c)
{
	free(c->held);
	c->held = NULL;
}

void dx_client_close(dx_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	dx_client_release_held(c);
	while (c->q_head) {
		struct dx_kept *k = c->q_head;
		c->q_head = k->next;
		free(k);
	}
	dx_buf_free(&c->w);
	dx_buf_free(&c->r);
	dx_buf_free(&c->s);
	dx_buf_free(&c->z);
	free(c->inflated);
	free(c->reasm_buf);
	free(c->meta);
	free(c);
}

int dx_client_fd(const dx_client *c)
{
	return c->fd;
}

const char *dx_client_error(const dx_client *c)
{
	return c->err;
}

int dx_client_set_limits(dx_client *c, uint32_t max_frame, size_t max_message,
			 unsigned max_queued)
{
	uint32_t f = max_frame ? max_frame : c->max_frame;
	size_t m = max_message ? max_message : c->max_message;
	if (f > m || m > UINT32_MAX)
		return dx_client_fail(
			c, -EINVAL,
			"max_frame %u above max_message %zu (or that above 4 GiB)",
			f, m);
	if (m != c->max_message) {
		/* The buffers are max_message long: reallocate on next use. */
		free(c->inflated);
		free(c->reasm_buf);
		c->inflated = c->reasm_buf = NULL;
		dx_hbtp_reasm_init(&c->reasm, NULL, 0);
	}
	c->max_frame = f;
	c->max_message = m;
	if (max_queued)
		c->max_queued = max_queued;
	return 0;
}

int dx_client_set_meta(dx_client *c, const uint8_t *block, size_t len)
{
	free(c->meta);
	c->meta = NULL;
	c->meta_len = 0;
	if (!block || !len)
		return 0;
	c->meta = malloc(len);
	if (!c->meta)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	memcpy(c->meta, block, len);
	c->meta_len = len;
	return 0;
}

uint16_t dx_client_next_seq(dx_client *c)
{
	return c->next_seq++;
}
