/* bench/bare_echo.c - the yardstick for bench/cpu_per_request.sh: a bare
 * single-threaded epoll loop that answers HBTP Ping with Pong (same seq,
 * same body, flags FINAL; docs/protocol.md sections 2 and 9) and nothing
 * else. No framework, no allocation per request: one read per readiness,
 * every whole frame answered into one output buffer, one write. It is what
 * a hand-written server costs, so dx's figures can be read against it.
 *
 * usage: bare_echo PORT      (listens on 127.0.0.1:PORT, prints "ready")
 *
 * Built by the bench script itself (cc -O2); not part of the meson build.
 * Single thread; every buffer belongs to its connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_FD 65536

struct conn {
	uint8_t in[BUF_SIZE];
	size_t in_len;
	uint8_t out[BUF_SIZE + 16];
	size_t out_off, out_len;
	int want_out; /* EPOLLOUT armed: output waits for room */
};

static struct conn *conns[MAX_FD];
static int ep;

static void conn_close(int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

static void set_events(int fd, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.fd = fd};
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

/* Write what is buffered; 0 when all of it went out (or it waits for
 * EPOLLOUT), -1 when the connection is gone. */
static int flush_out(int fd, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -1;
			if (!c->want_out) {
				c->want_out = 1;
				/* Not EPOLLIN: stop reading until the
				 * client has read (no spinning). */
				set_events(fd, EPOLLOUT);
			}
			return 0;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	if (c->want_out) {
		c->want_out = 0;
		set_events(fd, EPOLLIN);
	}
	return 0;
}

/* Answer every whole frame in c->in while the output has room; keep the
 * rest. A frame bigger than the buffer, or not a Ping, ends the
 * connection (the bench sends neither). */
static int answer(struct conn *c)
{
	size_t off = 0;
	while (c->in_len - off >= 8) {
		const uint8_t *h = c->in + off;
		uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8 |
			       (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
		if (h[0] != 0x00 || len > BUF_SIZE - 8)
			return -1;
		if (c->in_len - off < 8 + (size_t)len)
			break;
		if (c->out_len + 8 + len > sizeof c->out)
			break; /* answered after this write */
		uint8_t *o = c->out + c->out_len;
		o[0] = 0x01; /* Pong */
		o[1] = 0x08; /* FINAL */
		memcpy(o + 2, h + 2, 6); /* seq, length */
		memcpy(o + 8, h + 8, len);
		c->out_len += 8 + len;
		off += 8 + len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static void on_readable(int fd, struct conn *c)
{
	if (c->want_out)
		return; /* the client reads no faster than this */
	ssize_t r = recv(fd, c->in + c->in_len, BUF_SIZE - c->in_len, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(fd);
		return;
	}
	if (r < 0)
		return;
	c->in_len += (size_t)r;
	if (answer(c) < 0 || flush_out(fd, c) < 0)
		conn_close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bare_echo PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)atoi(argv[1])),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(ls, 1024) < 0) {
		perror("bare_echo: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = {.events = EPOLLIN, .data.fd = ls};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
	printf("ready\n");
	fflush(stdout);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR) {
			perror("bare_echo: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int cfd;
				while ((cfd = accept4(ls, NULL, NULL,
						      SOCK_NONBLOCK |
							      SOCK_CLOEXEC)) >=
				       0) {
					if (cfd >= MAX_FD) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP,
						   TCP_NODELAY, &one,
						   sizeof one);
					conns[cfd] = calloc(1, sizeof **conns);
					struct epoll_event ce = {
						.events = EPOLLIN,
						.data.fd = cfd};
					if (!conns[cfd] ||
					    epoll_ctl(ep, EPOLL_CTL_ADD, cfd,
						      &ce) < 0) {
						free(conns[cfd]);
						conns[cfd] = NULL;
						close(cfd);
					}
				}
				continue;
			}
			struct conn *c = conns[fd];
			if (!c)
				continue;
			if (evs[i].events & EPOLLOUT) {
				if (flush_out(fd, c) < 0) {
					conn_close(fd);
					continue;
				}
				if (!c->want_out && c->in_len &&
				    (answer(c) < 0 || flush_out(fd, c) < 0)) {
					conn_close(fd);
					continue;
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(fd, c);
		}
	}
}
