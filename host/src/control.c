/* control.c - the control channel's commands: one JSON object a line in,
 * one a line out, the same over every transport (control_int.h says which
 * system has which). Each request is one line, a JSON object
 * {"cmd": "status"}; each answer is one line, {"ok": true, ...} or
 * {"ok": false, "error": "..."}. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "bgqueue.h"
#include "control.h"
#include "control_int.h"
#include "metrics.h"
#include "reload.h"
#include "version.h"

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
void dx_ctl_sighup(const dx_control_ctx *x)
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

bool dx_ctl_take(dx_ctl_line *l, size_t n, const dx_control_ctx *x,
		 bool *drain, dx_ctl_send_fn *send, void *ud)
{
	l->len += n;
	l->buf[l->len] = '\0';
	char *nl;
	while ((nl = memchr(l->buf, '\n', l->len))) {
		*nl = '\0';
		char *text = dx_ctl_answer(l->buf, x, drain);
		if (text)
			send(ud, text);
		cJSON_free(text);
		size_t used = (size_t)(nl + 1 - l->buf);
		memmove(l->buf, nl + 1, l->len - used);
		l->len -= used;
	}
	if (l->len == sizeof l->buf - 1) {
		send(ud, "{\"ok\":false,\"error\":\"line too long\"}");
		return false;
	}
	return true;
}
