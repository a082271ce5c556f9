/* control_posix.c - the control channel's transport on POSIX systems:
 * JSON lines (control.c) on a Unix socket, mode 0600.
 *
 * Runs on the main thread, which has nothing else to do once the workers
 * serve: one poll() over the signals (SIGTERM, SIGINT, SIGHUP; sig.h), the
 * listening socket and up to DX_CTL_CLIENTS clients. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h> /* struct timeval, for SO_SNDTIMEO */
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "control_int.h"
#include "reload.h" /* dx_server_reap */
#include "sig.h"
#include "sock.h"

struct dx_ctl_client {
	int fd;
	dx_ctl_line in;
};

struct dx_control {
	int listen_fd; /* -1: no control socket */
	dx_sig *sig;
	char *path;
	struct dx_ctl_client clients[DX_CTL_CLIENTS];
};

/* Whether a process accepts connections on the socket at a: a host that
 * serves it now, whose socket must not be taken over (a file left by a
 * host that crashed refuses the connection). Two hosts starting in the
 * same instant can both find it free; the later bind wins. */
static bool dx_ctl_live(const struct sockaddr_un *a)
{
	int fd = dx_sock_open(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	bool live = connect(fd, (const struct sockaddr *)a, sizeof *a) == 0;
	close(fd);
	return live;
}

static int dx_ctl_listen(const char *path, dx_diag *d)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = dx_sock_open(AF_UNIX, SOCK_STREAM, DX_SOCK_NONBLOCK);
	if (fd < 0) {
		dx_diag_add(d, "control.socket %s: %s", path, strerror(-fd));
		return fd;
	}
	if (dx_ctl_live(&a)) {
		dx_diag_add(d, "control.socket %s: " DX_CTL_BUSY, path);
		close(fd);
		return -EADDRINUSE;
	}
	unlink(path); /* a socket left by a host that crashed */
	/* umask so the socket is 0600 from birth, not after a chmod race. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		int e = errno;
		dx_diag_add(d, "control.socket %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int dx_control_open(const char *path, dx_diag *d, dx_control **out)
{
	dx_control *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->listen_fd = -1;
	for (int i = 0; i < DX_CTL_CLIENTS; i++)
		c->clients[i].fd = -1;
	static const int signos[] = {SIGTERM, SIGINT, SIGHUP};
	int rc = dx_sig_open(signos, sizeof signos / sizeof *signos, &c->sig);
	if (rc < 0) {
		dx_diag_add(d, "%s: %s", dx_sig_how, strerror(-rc));
		free(c);
		return rc;
	}
	if (path) {
		c->path = strdup(path);
		c->listen_fd = c->path ? dx_ctl_listen(path, d) : -ENOMEM;
		if (c->listen_fd < 0) {
			rc = c->listen_fd;
			c->listen_fd = -1;
			dx_control_close(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

void dx_control_close(dx_control *c)
{
	if (!c)
		return;
	for (int i = 0; i < DX_CTL_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			close(c->clients[i].fd);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	dx_sig_close(c->sig);
	free(c->path);
	free(c);
}

static void dx_ctl_write(int fd, const char *text)
{
	/* Answers are small; a client too slow to take one is dropped by
	 * the send timeout set at accept. */
	size_t n = strlen(text), off = 0;
	while (off < n) {
		ssize_t w = send(fd, text + off, n - off, DX_MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
	send(fd, "\n", 1, DX_MSG_NOSIGNAL);
}

/* dx_ctl_send_fn over a client's socket. */
static void dx_ctl_send(void *ud, const char *text)
{
	dx_ctl_write(*(int *)ud, text);
}

static void dx_ctl_accept(dx_control *c)
{
	int fd = dx_sock_accept(c->listen_fd, 0);
	if (fd < 0)
		return;
	for (int i = 0; i < DX_CTL_CLIENTS; i++) {
		if (c->clients[i].fd >= 0)
			continue;
		struct timeval tv = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		c->clients[i].fd = fd;
		c->clients[i].in.len = 0;
		return;
	}
	dx_ctl_write(fd, DX_CTL_FULL);
	close(fd);
}

/* Read from a client; answer each complete line. */
static void dx_ctl_read(struct dx_ctl_client *k, const dx_control_ctx *x,
			bool *drain)
{
	dx_ctl_line *l = &k->in;
	ssize_t n = recv(k->fd, l->buf + l->len, sizeof l->buf - 1 - l->len, 0);
	/* A signal outside the ones sig.h holds: poll says when to read
	 * again, and the client stays. */
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0 ||
	    !dx_ctl_take(l, (size_t)n, x, drain, dx_ctl_send, &k->fd)) {
		close(k->fd);
		k->fd = -1;
	}
}

int dx_control_run(dx_control *c, const dx_control_ctx *x)
{
	for (;;) {
		struct pollfd p[2 + DX_CTL_CLIENTS];
		int map[2 + DX_CTL_CLIENTS], n = 0;
		p[n] = (struct pollfd){dx_sig_fd(c->sig), POLLIN, 0};
		map[n++] = -2;
		if (c->listen_fd >= 0) {
			p[n] = (struct pollfd){c->listen_fd, POLLIN, 0};
			map[n++] = -1;
		}
		for (int i = 0; i < DX_CTL_CLIENTS; i++) {
			if (c->clients[i].fd < 0)
				continue;
			p[n] = (struct pollfd){c->clients[i].fd, POLLIN, 0};
			map[n++] = i;
		}
		/* While an old plugin instance waits to be finalised, look
		 * again every 20 ms; otherwise sleep until something comes. */
		bool waiting = x->server && dx_server_reap(x->server) > 0;
		if (dx_sig_poll(c->sig, p, (nfds_t)n, waiting ? 20 : -1) < 0 &&
		    errno != EINTR)
			return -errno;
		bool drain = false;
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (map[i] == -2) {
				int signo = dx_sig_next(c->sig);
				if (signo <= 0)
					continue;
				if (signo != SIGHUP)
					return signo;
				dx_ctl_sighup(x);
			} else if (map[i] == -1) {
				dx_ctl_accept(c);
			} else {
				dx_ctl_read(&c->clients[map[i]], x, &drain);
			}
		}
		if (drain)
			return 0;
	}
}
