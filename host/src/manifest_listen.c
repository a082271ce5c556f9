/* manifest_listen.c - the manifest's addresses: listen (HOST:PORT,
 * [IPV6]:PORT, unix:PATH) and control.socket. The one HOST:PORT reader of
 * the host (split_hostport, parse_port) lives here. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "manifest_int.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Resolve a Unix socket path. Its directory must exist now (bind creates
 * only the file), and the result must fit sockaddr_un.sun_path. Returns the
 * absolute path, or NULL after reporting. */
static char *socket_path(mctx *c, const char *path, const char *given)
{
	char *abs = dx_manifest_resolve(c, given);
	if (!abs)
		return NULL;
	char *slash = strrchr(abs, '/'); /* abs is absolute: there is one */
	if (!slash[1]) {
		dx_jc_err(&c->jc, path,
			  "%s names a directory; expected a socket file path",
			  abs);
		free(abs);
		return NULL;
	}
	*slash = '\0';
	char *dir = realpath(*abs ? abs : "/", NULL);
	char *full = NULL;
	if (!dir)
		dx_jc_err(&c->jc, path, "socket directory %s: %s",
			  *abs ? abs : "/",
			  errno == ENOENT ? "does not exist" : strerror(errno));
	else if (!dx_manifest_is_dir(dir))
		dx_jc_err(&c->jc, path,
			  "socket directory %s is not a directory", dir);
	else
		full = dx_manifest_join(c, dir, slash + 1);
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

/* Split "HOST:PORT" or "[HOST]:PORT"; false when s has neither shape. */
static bool split_hostport(const char *s, char *host, size_t hostlen,
			   const char **port, bool *bracketed)
{
	const char *h = s, *colon;
	size_t hl;
	*bracketed = s[0] == '[';
	if (*bracketed) {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = colon + 1;
	return true;
}

static bool parse_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	size_t n = 0;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return false;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* Check the address part of a listen entry; the host is stored in the
 * canonical form inet_ntop gives, so equal addresses compare equal. */
static bool listen_addr(mctx *c, const char *path, const char *host, bool v6,
			dx_listen *l, const char *got)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *h = host;
	if (!v6 && !strcmp(host, "localhost"))
		h = "127.0.0.1";
	else if (!v6 && !strcmp(host, "*"))
		h = "0.0.0.0";
	if (inet_pton(v6 ? AF_INET6 : AF_INET, h, addr) != 1) {
		if (v6)
			dx_jc_err(&c->jc, path, "invalid IPv6 address in %s",
				  got);
		else if (strchr(host, ':'))
			dx_jc_err(&c->jc, path,
				  "invalid IPv4 address in %s; write IPv6 "
				  "addresses in brackets, as in [::1]:7070",
				  got);
		else
			dx_jc_err(&c->jc, path,
				  "invalid IPv4 address in %s; expected a "
				  "dotted quad such as 127.0.0.1, localhost "
				  "or *",
				  got);
		return false;
	}
	char canon[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, addr, canon, sizeof canon);
	l->kind = v6 ? DX_LISTEN_TCP6 : DX_LISTEN_TCP4;
	l->host = dx_jc_strdup(&c->jc, canon);
	return l->host != NULL;
}

static bool listen_one(mctx *c, const cJSON *v, const char *path, dx_listen *l)
{
	static const char shapes[] = "HOST:PORT, [IPV6]:PORT or unix:PATH";
	char got[DX_JC_GOT_MAX], host[256];
	const char *port;
	bool v6;
	dx_jc_describe(v, got, sizeof got);
	if (!cJSON_IsString(v)) {
		dx_jc_err(&c->jc, path, "expected an address (%s), got %s",
			  shapes, got);
		return false;
	}
	const char *s = v->valuestring;
	if (!(l->text = dx_jc_strdup(&c->jc, s)))
		return false;
	if (!strncmp(s, "unix:", 5)) {
		if (!s[5]) {
			dx_jc_err(&c->jc, path,
				  "expected a socket path after unix:, got %s",
				  got);
			return false;
		}
		l->kind = DX_LISTEN_UNIX;
		l->path = socket_path(c, path, s + 5);
		return l->path != NULL;
	}
	if (!split_hostport(s, host, sizeof host, &port, &v6)) {
		dx_jc_err(&c->jc, path, "expected %s, got %s", shapes, got);
		return false;
	}
	bool port_ok = parse_port(port, &l->port);
	if (!port_ok)
		dx_jc_err(&c->jc, path,
			  "invalid port in %s; expected a decimal number in "
			  "0..65535 (0 lets the kernel choose)",
			  got);
	return listen_addr(c, path, host, v6, l, got) && port_ok;
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
	if (v && dx_jc_str(&c->jc, v, "control.socket"))
		c->m->control_socket =
			socket_path(c, "control.socket", v->valuestring);
}
