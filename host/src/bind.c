/* bind.c - listening sockets for the manifest's listen entries (bind.h),
 * over sock.h: what is the same on every system. bind_posix.c and
 * bind_win.c hold what is not (sharing a socket among the workers, and a
 * unix socket's file). Main thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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
	dx_sock_set_on(fd, SOL_SOCKET, DX_SO_LISTEN_ADDR);
	if (family == AF_INET6)
		dx_sock_set_on(fd, IPPROTO_IPV6, IPV6_V6ONLY);
	struct sockaddr_storage ss;
	socklen_t len;
	dx_sockaddr(l, port, &ss, &len);
	int rc = dx_sock_bind(fd, &ss, (uint32_t)len);
	dx_sock_close(fd);
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
		/* Windows before 10 (1803), and wine, have no AF_UNIX. */
		dx_diag_add(d, "listen %s: socket: %s%s", l->text,
			    dx_sock_strerror(-fd),
			    family == AF_UNIX && fd == -EAFNOSUPPORT
				    ? " (this system has no unix sockets; "
				      "listen on HOST:PORT instead)"
				    : "");
		return fd;
	}
	if (family != AF_UNIX) {
		dx_sock_set_on(fd, SOL_SOCKET, DX_SO_LISTEN_ADDR);
		dx_reuseport(fd);
	}
	if (family == AF_INET6)
		dx_sock_set_on(fd, IPPROTO_IPV6, IPV6_V6ONLY);
	struct sockaddr_storage ss;
	socklen_t len;
	dx_sockaddr(l, *port, &ss, &len);
	int rc = dx_sock_bind(fd, &ss, (uint32_t)len);
	if (rc == 0)
		rc = dx_sock_listen(fd, 4096);
	if (rc < 0) {
		dx_diag_add(d, "listen %s: %s%s", l->text,
			    dx_sock_strerror(-rc),
			    rc == -EADDRINUSE ? " (another process has it; "
						"pick another port in listen)"
					      : "");
		dx_sock_close(fd);
		return rc;
	}
	if (family != AF_UNIX) {
		len = sizeof ss;
		getsockname(fd, (struct sockaddr *)&ss, &len);
		*port = ntohs(family == AF_INET
				      ? ((struct sockaddr_in *)&ss)->sin_port
				      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		dx_bind_unix_bound(l);
	}
	return fd;
}

bool dx_bind_each(const dx_listen *l)
{
	return l->kind != DX_LISTEN_UNIX && dx_reuseport_balances;
}

/* bind.h; used where apply adds a unix listener. */
int dx_bind_unix_claim(const dx_listen *l, dx_diag *d)
{
	int rc = dx_bind_unix_file(l->path);
	if (rc == -EEXIST)
		dx_diag_add(d, "listen %s: %s exists and is not a socket; "
			       "remove it or pick another path",
			    l->text, l->path);
	else if (rc == -EADDRINUSE)
		dx_diag_add(d, "listen %s: another process listens on %s "
			       "(another dx-host?); stop it or pick another path",
			    l->text, l->path);
	return rc;
}
