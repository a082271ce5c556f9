/* control.c - the control socket: JSON lines on a Unix socket (mode 0600).
 *
 * Runs on the main thread, which has nothing else to do once the workers
 * serve: one poll() over the signals (SIGTERM, SIGINT, SIGHUP; sig.h), the
 * listening socket and up to DX_CTL_CLIENTS clients. Each request is one
 * line, a JSON object {"cmd": "status"}; each answer is one line,
 * {"ok": true, ...} or {"ok": false, "error": "..."}. */
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
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "bgqueue.h"
#include "control.h"
#include "metrics.h"
#include "reload.h"
#include "sig.h"
#include "sock.h"
#include "version.h"

#define DX_CTL_CLIENTS 16
#define DX_CTL_LINE 4096

struct dx_ctl_client {
	int fd;
	size_t len;
	char buf[DX_CTL_LINE];
};

struct dx_control {
	int listen_fd; /* -1: no control socket */
	dx_sig *sig;
	char *path;
	struct dx_ctl_client clients[DX_CTL_CLIENTS];
};

static int dx_ctl_listen(const char *path, dx_diag *d)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = dx_sock_open(AF_UNIX, SOCK_STREAM, DX_SOCK_NONBLOCK);
	if (fd < 0) {
		dx_diag_add(d, "control.socket %s: %s", path, strerror(-fd));
		return fd;
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

/* ---- commands ---- */

static cJSON *dx_ctl_status(const dx_control_ctx *x)
{
	cJSON *o = cJSON_CreateObject();
	dx_server_stats st = {0};
	if (x->server)
		dx_server_stats_sum(x->server, &st);
	cJSON_AddStringToObject(o, "version", DX_VERSION);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddNumberToObject(o, "uptime_s",
				(double)(time(NULL) - x->started));
	cJSON_AddNumberToObject(o, "workers",
				x->server ? dx_server_workers(x->server) : 0);
	cJSON_AddStringToObject(o, "backend",
				x->server ? dx_server_backend(x->server) : "none");
	cJSON *l = cJSON_AddArrayToObject(o, "listen");
	for (size_t i = 0; x->server && i < dx_server_listen_count(x->server);
	     i++) {
		const char *a = dx_server_listen_addr(x->server, i);
		if (a) /* NULL: a listener apply closed */
			cJSON_AddItemToArray(l, cJSON_CreateString(a));
	}
	cJSON_AddNumberToObject(o, "connections", (double)st.connections);
	cJSON_AddNumberToObject(o, "requests", (double)st.requests);
	cJSON_AddNumberToObject(o, "plugins",
				(double)dx_registry_count(x->reg));
	return o;
}

/* Which file an instance came from, and what is mapped. */
static void dx_ctl_file(cJSON *e, const dx_module *m)
{
	cJSON *f = cJSON_AddObjectToObject(e, "file");
	cJSON_AddStringToObject(f, "path", m->path);
	cJSON_AddNumberToObject(f, "size", (double)m->size);
	cJSON_AddNumberToObject(f, "mtime", (double)m->mtime);
	if (m->copy)
		cJSON_AddStringToObject(f, "mapped", m->copy);
	cJSON_AddNumberToObject(e, "loaded_at", (double)m->loaded_at);
}

static void dx_ctl_retiring(void *ud, const dx_module *m, uint64_t last_gen,
			    long holds)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "name", m->desc->name);
	cJSON_AddStringToObject(e, "version", m->desc->version);
	cJSON_AddStringToObject(e, "path", m->path);
	cJSON_AddNumberToObject(e, "last_generation", (double)last_gen);
	cJSON_AddNumberToObject(e, "holds", (double)holds);
	cJSON_AddItemToArray(ud, e);
}

static cJSON *dx_ctl_plugins(const dx_control_ctx *x)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "plugins");
	for (size_t i = 0; i < dx_registry_count(x->reg); i++) {
		const dx_module *m = dx_registry_module(x->reg, i);
		const dx_plugin *p = m->desc;
		cJSON *e = cJSON_CreateObject();
		char abi[16];
		snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
		cJSON_AddStringToObject(e, "name", p->name);
		cJSON_AddStringToObject(e, "version", p->version);
		cJSON_AddStringToObject(e, "abi", abi);
		cJSON_AddStringToObject(e, "path", m->path);
		uint64_t g = dx_registry_plugin_gen(x->reg, i);
		cJSON_AddNumberToObject(e, "generation", (double)(g ? g : 1));
		dx_ctl_file(e, m);
		cJSON *fa = cJSON_AddArrayToObject(e, "facets");
		for (uint32_t k = 0; k < p->facet_count; k++) {
			cJSON *f = cJSON_CreateObject();
			cJSON_AddStringToObject(
				f, "kind", dx_facet_kind_name(p->facets[k].kind));
			cJSON_AddStringToObject(f, "name", p->facets[k].name);
			cJSON_AddItemToArray(fa, f);
		}
		cJSON_AddItemToArray(arr, e);
	}
	if (x->server)
		cJSON_AddNumberToObject(o, "generation",
					(double)dx_server_generation(x->server));
	cJSON *ret = cJSON_AddArrayToObject(o, "retiring");
	dx_registry_retiring(x->reg, dx_ctl_retiring, ret);
	return o;
}

static void dx_ctl_counter(void *ud, const char *name, const char *help,
			   uint64_t value)
{
	cJSON_AddNumberToObject(ud, name, (double)value);
}

static void dx_ctl_failure(void *ud, const char *route, uint64_t n)
{
	cJSON_AddNumberToObject(ud, route, (double)n);
}

static cJSON *dx_ctl_stats(const dx_control_ctx *x)
{
	cJSON *o = cJSON_CreateObject();
	dx_server_stats st = {0};
	if (x->server)
		dx_server_stats_sum(x->server, &st);
	cJSON *h = cJSON_AddObjectToObject(o, "host");
#define DX_STAT(f) cJSON_AddNumberToObject(h, #f, (double)st.f)
	DX_STAT(connections);
	DX_STAT(accepted);
	DX_STAT(refused);
	DX_STAT(requests);
	DX_STAT(errors);
	DX_STAT(closed_by_server);
	DX_STAT(bytes_in);
	DX_STAT(bytes_out);
	DX_STAT(zero_copy_sends);
	DX_STAT(output_paused);
	DX_STAT(write_timeouts);
	DX_STAT(buffer_bytes);
#undef DX_STAT
	dx_bg_stats bg;
	dx_registry_bg_stats(x->reg, &bg);
	cJSON *b = cJSON_AddObjectToObject(o, "background");
	cJSON_AddNumberToObject(b, "queued", (double)bg.queued);
	cJSON_AddNumberToObject(b, "done", (double)bg.done);
	cJSON_AddNumberToObject(b, "dropped", (double)bg.dropped);
	cJSON_AddNumberToObject(b, "length", bg.length);
	cJSON_AddNumberToObject(b, "capacity", bg.capacity);
	cJSON_AddNumberToObject(b, "threads", bg.threads);
	cJSON *p = cJSON_AddObjectToObject(o, "plugins");
	dx_registry_each_counter(x->reg, dx_ctl_counter, p);
	cJSON *f = cJSON_AddObjectToObject(o, "route_failures");
	if (x->server)
		dx_server_route_failures(x->server, dx_ctl_failure, f);
	return o;
}

/* The scrape as text: {"text": "# HELP ..."}; dx ctl metrics prints it. */
static cJSON *dx_ctl_metrics(const dx_control_ctx *x)
{
	char *text = dx_metrics_render(x->reg, x->server, NULL);
	cJSON *o = text ? cJSON_CreateObject() : NULL;
	if (o)
		cJSON_AddStringToObject(o, "text", text);
	free(text);
	return o;
}

static cJSON *dx_ctl_error(const char *why)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", why);
	return o;
}

/* {"cmd": "swap", "kind": "io", "name": "epoll"}: move every worker and
 * its live connections to another IO backend. */
static cJSON *dx_ctl_swap(const cJSON *req, const dx_control_ctx *x)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(req, "kind");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(req, "name");
	cJSON *o = cJSON_CreateObject();
	const char *err = NULL;
	char why[512] = "";
	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "io") != 0)
		err = "swap takes kind \"io\" (a plugin: use reload)";
	else if (!cJSON_IsString(name))
		err = "swap io needs a backend name (an IO facet's name)";
	else if (!x->server)
		err = "this host has no listeners, so no IO backend";
	if (!err) {
		char from[64];
		snprintf(from, sizeof from, "%s", dx_server_backend(x->server));
		dx_diag d = DX_DIAG_INIT;
		if (dx_server_swap(x->server, name->valuestring, &d) < 0) {
			snprintf(why, sizeof why, "%s", dx_diag_last(&d));
			err = why;
		} else {
			cJSON_AddStringToObject(o, "from", from);
			cJSON_AddStringToObject(o, "backend",
						dx_server_backend(x->server));
		}
		dx_diag_clear(&d);
	}
	if (err) {
		cJSON_Delete(o);
		return dx_ctl_error(err);
	}
	return o;
}

/* The answer to reload, load and unload: every reason on failure, as
 * startup would print them; else what changed. */
static cJSON *dx_ctl_changed(int rc, const char *name,
			     const dx_reload_result *res, dx_diag *d)
{
	cJSON *o;
	if (rc < 0 && !res->generation) {
		char why[2048] = "";
		size_t len = 0;
		for (size_t i = 0; i < d->count && len < sizeof why; i++)
			len += (size_t)snprintf(why + len, sizeof why - len,
						"%s%s", i ? "; " : "",
						d->msgs[i]);
		o = dx_ctl_error(why);
	} else {
		o = cJSON_CreateObject();
		if (*res->name)
			name = res->name;
		if (name)
			cJSON_AddStringToObject(o, "name", name);
		if (*res->from)
			cJSON_AddStringToObject(o, "from", res->from);
		if (*res->to)
			cJSON_AddStringToObject(o, "to", res->to);
		cJSON_AddNumberToObject(o, "generation",
					(double)res->generation);
		cJSON_AddBoolToObject(o, "handoff", res->handoff);
		cJSON_AddStringToObject(o, "path", res->path);
		if (*res->also) {
			/* The plugins that use it, reloaded with it. */
			cJSON *a = cJSON_AddArrayToObject(o, "reloaded_with");
			char also[sizeof res->also];
			snprintf(also, sizeof also, "%s", res->also);
			for (char *sv, *n = strtok_r(also, ",", &sv); n;
			     n = strtok_r(NULL, ",", &sv))
				cJSON_AddItemToArray(a, cJSON_CreateString(n));
		}
		cJSON_AddNumberToObject(o, "ms", res->ms);
		if (rc < 0)
			cJSON_AddStringToObject(o, "warning",
						dx_diag_last(d));
	}
	dx_diag_clear(d);
	return o;
}

/* {"cmd": "reload", "name": "routes_echo"[, "path": "FILE"]}: a new build
 * of a plugin, published once every check passed and its init ran; the
 * answer comes once every worker serves with it. */
static cJSON *dx_ctl_reload(const cJSON *req, const dx_control_ctx *x)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(req, "name");
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(req, "path");
	if (!cJSON_IsString(name))
		return dx_ctl_error("reload needs a plugin name: {\"cmd\": "
				    "\"reload\", \"name\": \"NAME\"[, "
				    "\"path\": \"FILE\"]}");
	if (path && !cJSON_IsString(path))
		return dx_ctl_error("reload: \"path\" must be a string");
	if (!x->server)
		return dx_ctl_error("this host has no listeners, so nothing "
				    "serves a reloaded plugin");
	dx_diag d = DX_DIAG_INIT;
	dx_reload_result res;
	int rc = dx_server_reload(x->server, name->valuestring,
				  path ? path->valuestring : NULL, &res, &d);
	return dx_ctl_changed(rc, name->valuestring, &res, &d);
}

/* {"cmd": "load", "plugin": {"name": ..., "path": ..., "config": ...}}:
 * a plugin entry as in the manifest's plugins. */
static cJSON *dx_ctl_load(const cJSON *req, const dx_control_ctx *x)
{
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(req, "plugin");
	if (!pl)
		return dx_ctl_error("load needs a plugin entry: {\"cmd\": "
				    "\"load\", \"plugin\": {\"name\": "
				    "\"NAME\", \"path\": \"FILE\", "
				    "\"config\": {...}}}");
	if (!x->server)
		return dx_ctl_error("this host has no listeners, so nothing "
				    "would serve a loaded plugin");
	dx_diag d = DX_DIAG_INIT;
	dx_reload_result res;
	int rc = dx_server_load(x->server, pl, &res, &d);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(pl, "name");
	return dx_ctl_changed(rc, cJSON_IsString(n) ? n->valuestring : NULL,
			      &res, &d);
}

/* {"cmd": "unload", "name": "routes_echo"} */
static cJSON *dx_ctl_unload(const cJSON *req, const dx_control_ctx *x)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(req, "name");
	if (!cJSON_IsString(name))
		return dx_ctl_error("unload needs a plugin name: {\"cmd\": "
				    "\"unload\", \"name\": \"NAME\"}");
	if (!x->server)
		return dx_ctl_error("this host has no listeners; restart it "
				    "without the plugin");
	dx_diag d = DX_DIAG_INIT;
	dx_reload_result res;
	int rc = dx_server_unload(x->server, name->valuestring, &res, &d);
	return dx_ctl_changed(rc, name->valuestring, &res, &d);
}

/* The answer to apply: what changed, or every reason it did not. */
static cJSON *dx_ctl_applied(int rc, dx_apply_result *res, dx_diag *d)
{
	cJSON *o = cJSON_CreateObject();
	if (rc < 0 && rc != -ETIMEDOUT) {
		cJSON_AddBoolToObject(o, "ok", 0);
		size_t len = 64 + strlen(res->path);
		for (size_t i = 0; i < d->count; i++)
			len += strlen(d->msgs[i]) + 2;
		char *text = malloc(len);
		cJSON *errors = cJSON_AddArrayToObject(o, "errors");
		if (text) {
			int at = snprintf(text, len, "apply %s: ", res->path);
			for (size_t i = 0; i < d->count; i++)
				at += snprintf(text + at, len - (size_t)at, "%s%s",
					       i ? "; " : "", d->msgs[i]);
			if (!d->count)
				snprintf(text + at, len - (size_t)at, "%s",
					 dx_strerror(rc));
		}
		cJSON_AddStringToObject(o, "error", text ? text : "apply failed");
		free(text);
		for (size_t i = 0; i < d->count; i++)
			cJSON_AddItemToArray(errors,
					     cJSON_CreateString(d->msgs[i]));
	} else {
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddStringToObject(o, "path", res->path);
		cJSON_AddNumberToObject(o, "generation",
					(double)res->generation);
		cJSON_AddItemToObject(o, "changes", res->changes);
		res->changes = NULL;
		cJSON_AddNumberToObject(o, "ms", res->ms);
		if (rc < 0)
			cJSON_AddStringToObject(o, "warning",
						dx_diag_last(d));
	}
	cJSON_Delete(res->changes);
	dx_diag_clear(d);
	return o;
}

/* {"cmd": "apply"[, "path": "FILE"]}: the manifest (the host's own, or
 * FILE) applied as one transaction. */
static cJSON *dx_ctl_apply(const cJSON *req, const dx_control_ctx *x)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(req, "path");
	if (path && !cJSON_IsString(path))
		return dx_ctl_error("apply: \"path\" must be a string");
	if (!x->server)
		return dx_ctl_error("this host has no listeners; restart it "
				    "with the new manifest");
	dx_diag d = DX_DIAG_INIT;
	dx_apply_result res;
	int rc = dx_server_apply(x->server, path ? path->valuestring : NULL,
				 &res, &d);
	return dx_ctl_applied(rc, &res, &d);
}

/* SIGHUP: apply the host's manifest, and log how it went. */
static void dx_ctl_sighup(const dx_control_ctx *x)
{
	cJSON *o = x->server ? dx_ctl_apply(NULL, x) : NULL;
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (x->server)
		dx_metrics_change(dx_registry_metrics(x->reg), "apply",
				  !cJSON_IsString(err));
	if (!x->server)
		dx_registry_log(x->reg, DX_LOG_ERROR,
				"SIGHUP: this host has no listeners; restart "
				"it with the new manifest");
	else if (cJSON_IsString(err))
		dx_registry_log(x->reg, DX_LOG_ERROR,
				"SIGHUP: %s; nothing changed", err->valuestring);
	cJSON_Delete(o);
}

/* A plugin's own command: its JSON answer, with "ok" added. */
static cJSON *dx_ctl_plugin(const char *name, const char *line,
			    const dx_control_ctx *x)
{
	char *answer = NULL, why[512] = "";
	if (dx_registry_control(x->reg, name, line, &answer, why, sizeof why) <
	    0)
		return NULL; /* nobody has it: "unknown command" */
	if (!answer)
		return dx_ctl_error(why);
	cJSON *o = cJSON_Parse(answer);
	free(answer);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return dx_ctl_error("the plugin's answer is not a JSON object");
	}
	return o;
}

/* The answer to one request line; *drain set by the drain command. */
static char *dx_ctl_answer(const char *line, const dx_control_ctx *x,
			   bool *drain)
{
	cJSON *req = cJSON_Parse(line);
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	const char *name = cJSON_IsString(cmd) ? cmd->valuestring : NULL;
	cJSON *o = NULL;
	if (!name)
		o = NULL;
	else if (strcmp(name, "status") == 0)
		o = dx_ctl_status(x);
	else if (strcmp(name, "plugins") == 0)
		o = dx_ctl_plugins(x);
	else if (strcmp(name, "stats") == 0)
		o = dx_ctl_stats(x);
	else if (strcmp(name, "metrics") == 0)
		o = dx_ctl_metrics(x);
	else if (strcmp(name, "swap") == 0)
		o = dx_ctl_swap(req, x);
	else if (strcmp(name, "reload") == 0)
		o = dx_ctl_reload(req, x);
	else if (strcmp(name, "load") == 0)
		o = dx_ctl_load(req, x);
	else if (strcmp(name, "unload") == 0)
		o = dx_ctl_unload(req, x);
	else if (strcmp(name, "apply") == 0)
		o = dx_ctl_apply(req, x);
	else if (strcmp(name, "drain") == 0) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "draining", 1);
		*drain = true;
	} else
		o = dx_ctl_plugin(name, line, x);
	if (name) /* a live change's outcome: dx_reloads_total */
		dx_metrics_change(dx_registry_metrics(x->reg), name,
				  o && !cJSON_IsFalse(cJSON_GetObjectItem(o, "ok")));
	if (o && !cJSON_HasObjectItem(o, "ok"))
		cJSON_AddBoolToObject(o, "ok", 1);
	else if (!o)
		o = dx_ctl_error(name ? "unknown command; use status, plugins, "
					"stats, metrics, swap, reload, load, "
					"unload, apply or drain"
				      : "expected a JSON object like {\"cmd\": "
					"\"status\"}");
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cJSON_Delete(req);
	return text;
}

static void dx_ctl_write(int fd, const char *text)
{
	/* Answers are small; a client too slow to take one is dropped by
	 * the send timeout set at accept. */
	size_t n = strlen(text), off = 0;
	while (off < n) {
		ssize_t w = send(fd, text + off, n - off, DX_MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
	send(fd, "\n", 1, DX_MSG_NOSIGNAL);
}

/* ---- the loop ---- */

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
		c->clients[i].len = 0;
		return;
	}
	dx_ctl_write(fd, "{\"ok\":false,\"error\":\"too many control clients\"}");
	close(fd);
}

/* Read from a client; answer each complete line. */
static void dx_ctl_read(struct dx_ctl_client *k, const dx_control_ctx *x,
			bool *drain)
{
	ssize_t n = recv(k->fd, k->buf + k->len, sizeof k->buf - 1 - k->len, 0);
	if (n <= 0) {
		close(k->fd);
		k->fd = -1;
		return;
	}
	k->len += (size_t)n;
	k->buf[k->len] = '\0';
	char *nl;
	while ((nl = memchr(k->buf, '\n', k->len))) {
		*nl = '\0';
		char *text = dx_ctl_answer(k->buf, x, drain);
		if (text)
			dx_ctl_write(k->fd, text);
		cJSON_free(text);
		size_t used = (size_t)(nl + 1 - k->buf);
		memmove(k->buf, nl + 1, k->len - used);
		k->len -= used;
	}
	if (k->len == sizeof k->buf - 1) {
		dx_ctl_write(k->fd, "{\"ok\":false,\"error\":\"line too long\"}");
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
