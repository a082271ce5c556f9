/* bind_posix.c - bind.h's POSIX half: a listening socket shared by the
 * workers is a dup each, and a unix listener's file is found with lstat,
 * left alone when live, unlinked when stale, and made 0660 once bound.
 * Main thread, but for dx_bind_close. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bind.h"
#include "sock.h"

int dx_bind_share(int fd, const dx_listen *l, dx_diag *d)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy >= 0)
		return copy;
	int e = errno;
	dx_diag_add(d, "%s: cannot share the listening socket: %s", l->text,
		    strerror(e));
	return -e;
}

void dx_bind_close(int fd)
{
	close(fd);
}

void dx_bind_unix_bound(const dx_listen *l)
{
	chmod(l->path, 0660);
}

int dx_bind_unix_file(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0; /* nothing there (else bind says what is wrong) */
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* Connected, or its backlog is full: someone listens there. */
	bool live = fd >= 0 && (connect(fd, (struct sockaddr *)&a, sizeof a) ==
					0 ||
				errno == EAGAIN);
	if (fd >= 0)
		close(fd);
	if (live)
		return -EADDRINUSE;
	unlink(path);
	return 0;
}
