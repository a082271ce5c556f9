/* manifest_listen.c - the manifest's addresses: listen (HOST:PORT,
 * [IPV6]:PORT, unix:PATH, read by libdx's dx_addr_parse),
 * control.socket and metrics.listen. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dx/addr.h>

#include "manifest_int.h"
#include "path.h"
#include "sock.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Resolve a Unix socket path. Its directory must exist now (bind creates
 * only the file), and the result must fit sockaddr_un.sun_path. Returns the
 * absolute path, or NULL after reporting. */
static char *socket_path(mctx *c, const char *path, const char *given)
{
	char *abs = dx_manifest_resolve(c, given);
	if (!abs)
		return NULL;
	size_t n = strlen(abs);
	if (dx_path_is_sep(abs[n - 1])) {
		dx_jc_err(&c->jc, path,
			  "%s names a directory; expected a socket file path",
			  abs);
		free(abs);
		return NULL;
	}
	/* abs is absolute: a separator comes before its last part. */
	const char *base = abs + n;
	while (!dx_path_is_sep(base[-1]))
		base--;
	char *parent = dx_jc_fmt(&c->jc, "%.*s", (int)dx_path_dir_len(abs),
				 abs);
	char *dir = parent ? dx_path_real(parent) : NULL;
	char *full = NULL;
	if (parent && !dir) /* no parent: out of memory, said */
		dx_jc_err(&c->jc, path, "socket directory %s: %s", parent,
			  errno == ENOENT ? "does not exist" : strerror(errno));
	else if (dir && !dx_manifest_is_dir(dir))
		dx_jc_err(&c->jc, path,
			  "socket directory %s is not a directory", dir);
	else if (dir)
		full = dx_manifest_join(c, dir, base);
	free(parent);
	if (full && strlen(full) > SUN_PATH_MAX) {
		dx_jc_err(&c->jc, path,
			  "socket path %s is %zu bytes; a Unix socket path "
			  "must fit in %zu bytes, use a shorter one",
			  full, strlen(full), (size_t)SUN_PATH_MAX);
		free(full);
		full = NULL;
	}
	free(dir);
	free(abs);
	return full;
}

static bool listen_one(mctx *c, const cJSON *v, const char *path, dx_listen *l)
{
	static const char shapes[] = "HOST:PORT, [IPV6]:PORT or unix:PATH";
	char got[DX_JC_GOT_MAX];
	dx_jc_describe(v, got, sizeof got);
	if (!cJSON_IsString(v)) {
		dx_jc_err(&c->jc, path, "expected an address (%s), got %s",
			  shapes, got);
		return false;
	}
	const char *s = v->valuestring;
	if (!(l->text = dx_jc_strdup(&c->jc, s)))
		return false;
	char msg[512];
	dx_addr a;
	int rc = dx_addr_parse(s, &a);
	if (rc == DX_ADDR_ESHAPE || rc == DX_ADDR_ENOPATH) {
		dx_jc_err(&c->jc, path, "%s",
			  dx_addr_message(rc, got, msg, sizeof msg));
		return false;
	}
	if (a.kind == DX_ADDR_UNIX) {
		l->kind = DX_LISTEN_UNIX;
		l->path = socket_path(c, path, a.path);
		return l->path != NULL;
	}
	/* A bad port is reported, and the host is still checked. */
	bool port_ok = rc != DX_ADDR_EPORT;
	if (!port_ok)
		dx_jc_err(&c->jc, path, "%s",
			  dx_addr_message(rc, got, msg, sizeof msg));
	/* The host is kept in inet_ntop's canonical form, so equal
	 * addresses compare equal. */
	int hrc = dx_addr_numeric(&a);
	if (hrc < 0) {
		dx_jc_err(&c->jc, path, "%s",
			  dx_addr_message(hrc, got, msg, sizeof msg));
		return false;
	}
	l->kind = a.bracketed ? DX_LISTEN_TCP6 : DX_LISTEN_TCP4;
	l->port = a.port;
	l->host = dx_jc_strdup(&c->jc, a.host);
	return l->host && port_ok;
}

static bool same_listen(const dx_listen *a, const dx_listen *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == DX_LISTEN_UNIX)
		return a->path && b->path && !strcmp(a->path, b->path);
	/* Port 0 asks the kernel for a fresh port each time: no clash. */
	return a->port && a->port == b->port && a->host && b->host &&
	       !strcmp(a->host, b->host);
}

/* Binding the same address twice would fail at start: say so now. */
static void listen_dup(mctx *c, const dx_listen *l, size_t i, const char *p)
{
	for (size_t j = 0; j < i; j++) {
		if (same_listen(&l[j], &l[i])) {
			dx_jc_err(&c->jc, p,
				  "\"%s\" is the same address as listen[%zu] "
				  "(\"%s\")",
				  l[i].text, j, l[j].text);
			return;
		}
	}
}

void dx_manifest_listen(mctx *c, const cJSON *root)
{
	dx_manifest *m = c->m;
	const cJSON *v = dx_jc_get(root, "listen");
	if (v && !cJSON_IsArray(v)) {
		dx_jc_got(&c->jc, "listen", v,
			  "an array of addresses such as [\"127.0.0.1:7070\"]");
		return;
	}
	size_t n = v ? (size_t)cJSON_GetArraySize(v) : 1;
	if (!(m->listen = calloc(n ? n : 1, sizeof *m->listen))) {
		dx_jc_nomem(&c->jc);
		return;
	}
	m->listen_count = n;
	if (!v) {
		dx_listen *l = &m->listen[0];
		l->kind = DX_LISTEN_TCP4;
		l->text = dx_jc_strdup(&c->jc, "127.0.0.1:7070");
		l->host = dx_jc_strdup(&c->jc, "127.0.0.1");
		l->port = 7070;
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[DX_JC_PATH_MAX];
		dx_jc_idx(p, "listen", i);
		if (listen_one(c, it, p, &m->listen[i]))
			listen_dup(c, m->listen, i, p);
	}
}

void dx_manifest_control(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"socket", NULL};
	const cJSON *ctl = dx_jc_object(&c->jc, root, "", "control", keys);
	const cJSON *v = ctl ? dx_jc_get(ctl, "socket") : NULL;
	if (!v || !dx_jc_str(&c->jc, v, "control.socket"))
		return;
	const char *s = v->valuestring;
	int kind = dx_path_pipe(s);
	if (kind == DX_PATH_PIPE_NO)
		c->m->control_socket = socket_path(c, "control.socket", s);
	else if (kind == DX_PATH_PIPE_OK) /* Windows: the pipe's own name */
		c->m->control_socket = dx_jc_strdup(&c->jc, s);
	else
		dx_jc_err(&c->jc, "control.socket", "pipe name \"%s\" %s", s,
			  dx_path_pipe_why(kind));
}

/* "metrics": {"listen": "HOST:PORT"}: Prometheus's HTTP endpoint. TCP
 * only (Prometheus scrapes over TCP); absent, or without listen: none. */
void dx_manifest_metrics(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"listen", NULL};
	const cJSON *mt = dx_jc_object(&c->jc, root, "", "metrics", keys);
	const cJSON *v = mt ? dx_jc_get(mt, "listen") : NULL;
	if (!v)
		return;
	dx_listen *l = calloc(1, sizeof *l);
	if (!l) {
		dx_jc_nomem(&c->jc);
		return;
	}
	c->m->metrics_listen = l;
	if (cJSON_IsString(v) && !strncmp(v->valuestring, "unix:", 5)) {
		dx_jc_got(&c->jc, "metrics.listen", v,
			  "HOST:PORT or [IPV6]:PORT (Prometheus scrapes over "
			  "TCP), such as \"127.0.0.1:9464\"");
		return;
	}
	listen_one(c, v, "metrics.listen", l);
	for (size_t i = 0; l->host && i < c->m->listen_count; i++)
		if (same_listen(&c->m->listen[i], l))
			dx_jc_err(&c->jc, "metrics.listen",
				  "\"%s\" is the same address as listen[%zu]",
				  l->text, i);
}
