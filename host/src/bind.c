/* bind.c - listening sockets for the manifest's listen entries (bind.h).
 * Main thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bind.h"
#include "reuseport.h"
#include "sock.h"

static int dx_sockaddr(const dx_listen *l, uint16_t port,
		       struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (l->kind == DX_LISTEN_TCP4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, l->host, &a->sin_addr);
		*len = sizeof *a;
	} else if (l->kind == DX_LISTEN_TCP6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, l->host, &a->sin6_addr);
		*len = sizeof *a;
	} else {
		struct sockaddr_un *a = (struct sockaddr_un *)ss;
		a->sun_family = AF_UNIX;
		snprintf(a->sun_path, sizeof a->sun_path, "%s", l->path);
		*len = sizeof *a;
	}
	return 0;
}

/* SO_REUSEPORT lets every socket of the same user share a port, so a
 * second dx-host started by mistake would silently take half the traffic.
 * Before the workers bind with it, one bind without it says whether any
 * other process has the address. */
int dx_port_free(const dx_listen *l, uint16_t port, dx_diag *d)
{
	int family = l->kind == DX_LISTEN_TCP4 ? AF_INET : AF_INET6;
	int fd = dx_sock_open(family, SOCK_STREAM, 0);
	if (fd < 0)
		return 0; /* the real bind will say what is wrong */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	struct sockaddr_storage ss;
	socklen_t len;
	dx_sockaddr(l, port, &ss, &len);
	int rc = bind(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
	close(fd);
	if (rc == -EADDRINUSE)
		dx_diag_add(d,
			    "listen %s: address already in use by another "
			    "process (another dx-host?); stop it or pick another "
			    "port",
			    l->text);
	return rc == -EADDRINUSE ? rc : 0;
}

/* Bind one socket for l; *port is the port to use (0: any) and comes back
 * as the one bound, so every worker shares it. */
int dx_bind(const dx_listen *l, uint16_t *port, dx_diag *d)
{
	int family = l->kind == DX_LISTEN_TCP4	 ? AF_INET
		     : l->kind == DX_LISTEN_TCP6 ? AF_INET6
						 : AF_UNIX;
	int fd = dx_sock_open(family, SOCK_STREAM, DX_SOCK_NONBLOCK);
	if (fd < 0) {
		dx_diag_add(d, "listen %s: socket: %s", l->text, strerror(-fd));
		return fd;
	}
	int one = 1;
	if (family != AF_UNIX) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		dx_reuseport(fd);
	}
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	struct sockaddr_storage ss;
	socklen_t len;
	dx_sockaddr(l, *port, &ss, &len);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		int e = errno;
		dx_diag_add(d, "listen %s: %s%s", l->text, strerror(e),
			    e == EADDRINUSE ? " (another process has it; pick "
					      "another port in listen)"
					    : "");
		close(fd);
		return -e;
	}
	if (family != AF_UNIX) {
		len = sizeof ss;
		getsockname(fd, (struct sockaddr *)&ss, &len);
		*port = ntohs(family == AF_INET
				      ? ((struct sockaddr_in *)&ss)->sin_port
				      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		chmod(l->path, 0660);
	}
	return fd;
}

bool dx_bind_each(const dx_listen *l)
{
	return l->kind != DX_LISTEN_UNIX && dx_reuseport_balances;
}

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

/* bind.h; used where apply adds a unix listener. */
int dx_bind_unix_claim(const dx_listen *l, dx_diag *d)
{
	struct stat st;
	if (lstat(l->path, &st) < 0)
		return 0; /* nothing there (else bind says what is wrong) */
	if (!S_ISSOCK(st.st_mode)) {
		dx_diag_add(d, "listen %s: %s exists and is not a socket; "
			       "remove it or pick another path",
			    l->text, l->path);
		return -EEXIST;
	}
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", l->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* Connected, or its backlog is full: someone listens there. */
	bool live = fd >= 0 && (connect(fd, (struct sockaddr *)&a, sizeof a) ==
					0 ||
				errno == EAGAIN);
	if (fd >= 0)
		close(fd);
	if (live) {
		dx_diag_add(d, "listen %s: another process listens on %s "
			       "(another dx-host?); stop it or pick another path",
			    l->text, l->path);
		return -EADDRINUSE;
	}
	unlink(l->path);
	return 0;
}
