/* activate.c - the sockets a systemd socket unit passed, matched to the
 * manifest's listen entries (activate.h). Main thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "activate.h"
#include "sd.h"

typedef struct dx_passed {
	int fd;
	bool taken;
	struct sockaddr_storage ss;
	char text[128]; /* "127.0.0.1:7070", "[::1]:7070", "unix:/run/x" */
} dx_passed;

struct dx_inherited {
	unsigned n;
	dx_passed *v;
};

static uint16_t dx_ss_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ?
			     ((const struct sockaddr_in *)ss)->sin_port :
			     ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void dx_ss_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
			  a, sizeof a);
		snprintf(out, len, "%s:%u", a, dx_ss_port(ss));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)ss)->sin6_addr, a,
			  sizeof a);
		snprintf(out, len, "[%s]:%u", a, dx_ss_port(ss));
	} else if (ss->ss_family == AF_UNIX) {
		const char *p = ((const struct sockaddr_un *)ss)->sun_path;
		snprintf(out, len, "unix:%s", *p ? p : "(abstract or unnamed)");
	} else {
		snprintf(out, len, "address family %d", ss->ss_family);
	}
}

/* Describe and check passed fd; 0 or negative with the reason in d. */
static int dx_passed_init(dx_passed *p, int fd, dx_diag *d)
{
	p->fd = fd;
	socklen_t len = sizeof p->ss;
	if (getsockname(fd, (struct sockaddr *)&p->ss, &len) < 0) {
		dx_diag_add(d,
			    "LISTEN_FDS: passed fd %d: %s; a socket unit "
			    "passes sockets only",
			    fd, strerror(errno));
		return -ENOTSOCK;
	}
	dx_ss_text(&p->ss, p->text, sizeof p->text);
	if (!dx_sd_is_listener(fd, p->ss.ss_family)) {
		dx_diag_add(d,
			    "LISTEN_FDS: passed fd %d (%s) is not a "
			    "listening stream socket; use ListenStream= in "
			    "the socket unit",
			    fd, p->text);
		return -ENOTSOCK;
	}
	/* Like the sockets the host binds itself: the backends' accepts
	 * must never block a worker. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

int dx_inherit_open(dx_inherited **out, dx_diag *d)
{
	*out = NULL;
	int n = dx_sd_listen_fds();
	if (n == -ENOTSUP) {
		dx_diag_add(d,
			    "LISTEN_FDS: systemd passed listening sockets, "
			    "but this dx-host was built without libsystemd "
			    "and cannot adopt them; build it with "
			    "libsystemd-dev installed, or start it without a "
			    "socket unit");
		return n;
	}
	if (n < 0) {
		dx_diag_add(d, "LISTEN_FDS: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return 0;
	dx_inherited *in = calloc(1, sizeof *in);
	dx_passed *v = calloc((size_t)n, sizeof *v);
	if (!in || !v) {
		free(in);
		free(v);
		return -ENOMEM;
	}
	in->v = v;
	in->n = (unsigned)n;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		int r = dx_passed_init(&v[i], DX_SD_LISTEN_FDS_START + i, d);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (rc < 0) {
		dx_inherit_free(in);
		return rc;
	}
	*out = in;
	return 0;
}

static bool dx_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return strcmp(a, b) == 0 ||
	       (stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
		sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

static bool dx_matches(const dx_passed *p, const dx_listen *l)
{
	const struct sockaddr_storage *ss = &p->ss;
	if (l->kind == DX_LISTEN_UNIX)
		return ss->ss_family == AF_UNIX &&
		       ((const struct sockaddr_un *)ss)->sun_path[0] &&
		       dx_same_file(((const struct sockaddr_un *)ss)->sun_path,
				    l->path);
	int family = l->kind == DX_LISTEN_TCP4 ? AF_INET : AF_INET6;
	if (ss->ss_family != family || (l->port && l->port != dx_ss_port(ss)))
		return false;
	if (family == AF_INET) {
		struct in_addr a;
		return inet_pton(AF_INET, l->host, &a) == 1 &&
		       memcmp(&a, &((const struct sockaddr_in *)ss)->sin_addr,
			      sizeof a) == 0;
	}
	struct in6_addr a;
	return inet_pton(AF_INET6, l->host, &a) == 1 &&
	       memcmp(&a, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		      sizeof a) == 0;
}

int dx_inherit_take(dx_inherited *in, const dx_listen *l, uint16_t *port)
{
	for (unsigned i = 0; in && i < in->n; i++) {
		dx_passed *p = &in->v[i];
		if (p->taken || !dx_matches(p, l))
			continue;
		p->taken = true;
		if (l->kind != DX_LISTEN_UNIX)
			*port = dx_ss_port(&p->ss);
		return p->fd;
	}
	return -1;
}

int dx_inherit_check(const dx_inherited *in, const dx_manifest *m, dx_diag *d)
{
	char entries[512] = "";
	for (size_t i = 0, at = 0; i < m->listen_count && at < sizeof entries;
	     i++)
		at += (size_t)snprintf(entries + at, sizeof entries - at,
				       "%s\"%s\"", i ? ", " : "",
				       m->listen[i].text);
	int rc = 0;
	for (unsigned i = 0; in && i < in->n; i++) {
		const dx_passed *p = &in->v[i];
		if (p->taken)
			continue;
		dx_diag_add(d,
			    "LISTEN_FDS: passed socket fd %d (%s) matches no "
			    "listen entry (listen: [%s]); add \"%s\" to listen "
			    "or remove it from the socket unit",
			    p->fd, p->text, entries, p->text);
		rc = DX_ECONFIG;
	}
	return rc;
}

bool dx_inherit_owns_path(const dx_inherited *in, const char *path)
{
	for (unsigned i = 0; in && path && i < in->n; i++) {
		const struct sockaddr_storage *ss = &in->v[i].ss;
		const char *sp = ((const struct sockaddr_un *)ss)->sun_path;
		if (ss->ss_family == AF_UNIX && *sp && dx_same_file(sp, path))
			return true;
	}
	return false;
}

unsigned dx_inherit_count(const dx_inherited *in)
{
	return in ? in->n : 0;
}

void dx_inherit_free(dx_inherited *in)
{
	if (!in)
		return;
	for (unsigned i = 0; i < in->n; i++)
		if (!in->v[i].taken && in->v[i].fd >= 0)
			close(in->v[i].fd);
	free(in->v);
	free(in);
}
