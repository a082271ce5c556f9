/* bind_win.c - bind.h's Windows half.
 *
 * Sharing: Windows has no SO_REUSEPORT that spreads a port's connections
 * (reuseport_posix.c is built), so the workers share one listening
 * socket, and they share the same SOCKET value: a duplicate (WSADuplicate-
 * Socket) would be another handle to tie to a completion port, while a
 * socket can be tied to one port only and io_iocp keys its pre-posted
 * accepts by the socket. So every worker's table holds the one value, and
 * the holds are counted here: the socket is closed once, when the last
 * worker lets go (draining, or an apply that removed the listener), after
 * each has detached it from its backend. Only shared sockets are in the
 * table; a socket nobody shared is closed at once.
 *
 * Unix listeners: Windows 10 (1803) and later have AF_UNIX, whose socket
 * file is a reparse point tagged IO_REPARSE_TAG_AF_UNIX; wine 8 has no
 * AF_UNIX at all (socket() fails and dx_bind says so), so the code below
 * for a socket file was not run under wine nor checked on Windows. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "sock.h" /* winsock2.h before loader_win.h's windows.h */

#include "bind.h"
#include "loader_win.h"

typedef struct dx_held {
	int fd;
	unsigned holds;
} dx_held;

/* The shared sockets and their holds. Any thread, under dx_held_lock. */
static SRWLOCK dx_held_lock = SRWLOCK_INIT;
static dx_held *dx_held_v;
static size_t dx_held_n, dx_held_cap;

static dx_held *dx_held_find(int fd)
{
	for (size_t i = 0; i < dx_held_n; i++)
		if (dx_held_v[i].fd == fd)
			return &dx_held_v[i];
	return NULL;
}

int dx_bind_share(int fd, const dx_listen *l, dx_diag *d)
{
	AcquireSRWLockExclusive(&dx_held_lock);
	dx_held *h = dx_held_find(fd);
	if (!h && dx_held_n == dx_held_cap) {
		size_t cap = dx_held_cap ? 2 * dx_held_cap : 8;
		dx_held *v = realloc(dx_held_v, cap * sizeof *v);
		if (v) {
			dx_held_v = v;
			dx_held_cap = cap;
		}
	}
	if (!h && dx_held_n < dx_held_cap) {
		h = &dx_held_v[dx_held_n++];
		*h = (dx_held){fd, 1}; /* the hold dx_bind gave */
	}
	if (h)
		h->holds++;
	ReleaseSRWLockExclusive(&dx_held_lock);
	if (h)
		return fd;
	dx_diag_add(d, "%s: cannot share the listening socket: %s", l->text,
		    dx_sock_strerror(ENOMEM));
	return -ENOMEM;
}

void dx_bind_close(int fd)
{
	AcquireSRWLockExclusive(&dx_held_lock);
	dx_held *h = dx_held_find(fd);
	bool last = !h || --h->holds == 0;
	if (h && last)
		*h = dx_held_v[--dx_held_n];
	ReleaseSRWLockExclusive(&dx_held_lock);
	/* Closed out of the table: the value may name a new socket at once,
	 * which must not find the old holds. */
	if (last)
		dx_sock_close(fd);
}

void dx_bind_unix_bound(const dx_listen *l)
{
	(void)l; /* the file has the ACL its directory passes on */
}

int dx_bind_unix_file(const char *path)
{
	wchar_t *w = dx_wide(path);
	if (!w)
		return 0; /* bind will say what is wrong */
	WIN32_FIND_DATAW fd;
	HANDLE h = FindFirstFileW(w, &fd);
	if (h == INVALID_HANDLE_VALUE) {
		free(w);
		return 0;
	}
	FindClose(h);
	/* dwReserved0 holds the reparse tag of a reparse point. */
	bool sock = (fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
		    fd.dwReserved0 == IO_REPARSE_TAG_AF_UNIX;
	int rc = sock ? 0 : -EEXIST;
	int s = sock ? dx_sock_open(AF_UNIX, SOCK_STREAM, 0) : -1;
	if (s >= 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
		/* Connected: someone listens there (a full backlog refuses
		 * on Windows, and then the file is taken for stale). */
		if (dx_sock_connect(s, &a, sizeof a) == 0)
			rc = -EADDRINUSE;
		dx_sock_close(s);
	}
	if (rc == 0 && sock)
		DeleteFileW(w);
	free(w);
	return rc;
}
