/* manifest_plugins.c - the manifest's plugins (found by name along
 * plugin_path or by path), their routes, and the middleware lists that
 * name them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dl.h"
#include "manifest_int.h"

/* "path" given: it must be an existing regular file. */
static void plugin_by_path(mctx *c, dx_manifest_plugin *pl, const cJSON *v,
			   const char *path)
{
	struct stat st;
	int e;
	char *abs = dx_manifest_stat(c, v, path, &st, &e);
	if (!abs)
		return;
	if (e)
		dx_jc_err(&c->jc, path, "%s: %s",
			  e == ENOENT ? "no such file" : strerror(e), abs);
	else if (!S_ISREG(st.st_mode))
		dx_jc_err(&c->jc, path, "not a regular file: %s", abs);
	if (e || !S_ISREG(st.st_mode))
		free(abs);
	else
		pl->path = dx_manifest_canonical(c, abs);
}

/* Only a name: DIR/NAME.so, then DIR/NAME/NAME.so (how the build lays out
 * plugins), in each plugin_path directory in order. */
static void plugin_by_name(mctx *c, dx_manifest_plugin *pl, const char *path)
{
	const dx_manifest *m = c->m;
	dx_jc_buf tried = {0};
	for (size_t i = 0; i < m->plugin_path_count && !pl->path; i++) {
		for (int nested = 0; nested < 2 && !pl->path; nested++) {
			char *f = dx_jc_fmt(&c->jc, "%s/%s%s%s%s",
					    m->plugin_path[i],
					    nested ? pl->name : "",
					    nested ? "/" : "", pl->name,
					    dx_dl_suffix);
			if (!f)
				break;
			dx_jc_add(&tried, "%s%s", tried.len ? ", " : "", f);
			if (dx_manifest_is_file(f))
				pl->path = dx_manifest_canonical(c, f);
			else
				free(f);
		}
	}
	if (!pl->path && !c->jc.oom)
		dx_jc_err(&c->jc, path,
			  "plugin \"%s\" not found; looked in: %s", pl->name,
			  tried.oom ? "?" :
			  tried.s   ? tried.s :
				      "nothing, plugin_path is empty");
	free(tried.s);
}

/* "routes": {"echo": 20}: serve a plugin's route under another id. Names
 * are checked against the plugin when it is loaded. */
static void parse_plugin_routes(mctx *c, const cJSON *v, const char *p,
				dx_manifest_plugin *pl)
{
	char q[DX_JC_PATH_MAX], r[DX_JC_PATH_MAX];
	const cJSON *routes = dx_jc_get(v, "routes");
	pl->routes_path = dx_jc_fmt(&c->jc, "%s.routes", p);
	if (!routes)
		return;
	if (!cJSON_IsObject(routes)) {
		dx_jc_got(&c->jc, dx_jc_key(q, p, "routes"), routes,
			  "an object of route name to id, e.g. {\"echo\": 20}");
		return;
	}
	dx_jc_key(q, p, "routes");
	for (const cJSON *it = routes->child; it; it = it->next) {
		if (!dx_jc_is_int(it, 1, 65535))
			dx_jc_got(&c->jc, dx_jc_key(r, q, it->string), it,
				  "a route id in 1..65535 (0 is discovery)");
		for (const cJSON *o = routes->child; o != it; o = o->next)
			if (dx_jc_is_int(o, 1, 65535) &&
			    dx_jc_is_int(it, 1, 65535) &&
			    o->valuedouble == it->valuedouble)
				dx_jc_err(&c->jc, dx_jc_key(r, q, it->string),
					  "id %.0f is also given to \"%s\"",
					  it->valuedouble, o->string);
	}
	pl->routes = routes;
}

static void parse_plugin(mctx *c, const cJSON *v, const char *p,
			 dx_manifest_plugin *pl)
{
	static const char *const keys[] = {"name",           "path",   "config",
					   "allow_writable", "routes", NULL};
	char q[DX_JC_PATH_MAX];
	pl->json_path = dx_jc_strdup(&c->jc, p);
	pl->config_path = dx_jc_fmt(&c->jc, "%s.config", p);
	if (!cJSON_IsObject(v)) {
		dx_jc_got(&c->jc, p, v,
			  "an object such as {\"name\": \"NAME\"}");
		return;
	}
	dx_jc_keys(&c->jc, v, p, keys);
	const cJSON *name = dx_jc_get(v, "name"), *path = dx_jc_get(v, "path");
	const cJSON *cfg = dx_jc_get(v, "config");
	if (!name && !path)
		dx_jc_err(&c->jc, p, "needs \"name\" or \"path\"");
	if (name && dx_jc_name(&c->jc, name, dx_jc_key(q, p, "name"), "plugin"))
		pl->name = dx_jc_strdup(&c->jc, name->valuestring);
	if (cfg && !cJSON_IsObject(cfg))
		dx_jc_got(&c->jc, dx_jc_key(q, p, "config"), cfg, "an object");
	else
		pl->config = cfg;
	dx_jc_opt_bool(&c->jc, v, p, "allow_writable", &pl->allow_writable);
	parse_plugin_routes(c, v, p, pl);
	if (path)
		plugin_by_path(c, pl, path, dx_jc_key(q, p, "path"));
	else if (pl->name)
		plugin_by_name(c, pl, dx_jc_key(q, p, "name"));
}

void dx_manifest_plugins(mctx *c, const cJSON *root)
{
	dx_manifest *m = c->m;
	const cJSON *v = dx_jc_get(root, "plugins");
	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		dx_jc_got(&c->jc, "plugins", v, "an array of plugin objects");
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
	if (n && !(m->plugins = calloc(n, sizeof *m->plugins))) {
		dx_jc_nomem(&c->jc);
		return;
	}
	m->plugin_count = n; /* every slot, so free finds each one */
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[DX_JC_PATH_MAX], q[DX_JC_PATH_MAX];
		parse_plugin(c, it, dx_jc_idx(p, "plugins", i), &m->plugins[i]);
		for (size_t j = 0; m->plugins[i].name && j < i; j++) {
			if (!m->plugins[j].name ||
			    strcmp(m->plugins[j].name, m->plugins[i].name))
				continue;
			dx_jc_err(&c->jc, dx_jc_key(q, p, "name"),
				  "\"%s\" is also plugins[%zu]"
				  "; load each plugin once",
				  m->plugins[i].name, j);
			break;
		}
	}
}

int dx_manifest_plugin_parse(const dx_manifest *m, const cJSON *v,
			     const char *jpath, dx_manifest_plugin *out,
			     dx_diag *d)
{
	memset(out, 0, sizeof *out);
	/* Read-only use of m: plugin_path and the directory. */
	mctx c = {.jc = {.d = d}, .m = (dx_manifest *)m};
	parse_plugin(&c, v, jpath, out);
	if (c.jc.errors || !out->path) {
		dx_manifest_plugin_free(out);
		return c.jc.oom ? -ENOMEM : DX_ECONFIG;
	}
	return 0;
}

void dx_manifest_plugin_free(dx_manifest_plugin *pl)
{
	free(pl->name);
	free(pl->path);
	free(pl->config_path);
	free(pl->routes_path);
	free(pl->json_path);
	memset(pl, 0, sizeof *pl);
}

bool dx_manifest_is_plugin(const dx_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->plugin_count; i++)
		if (m->plugins[i].name && !strcmp(m->plugins[i].name, name))
			return true;
	return false;
}

/* name, used at path, names no plugin. Names come from "name" only, so an
 * entry given by path alone cannot be named here: say which one may be
 * meant, since the plugin's own name is not known until it loads. */
static void dx_not_a_plugin(mctx *c, const char *path, const char *name)
{
	const dx_manifest *m = c->m;
	size_t i = 0;
	while (i < m->plugin_count && m->plugins[i].name)
		i++;
	if (i == m->plugin_count) {
		dx_jc_err(&c->jc, path,
			  "\"%s\" is not a plugin in this manifest; add it "
			  "to plugins",
			  name);
		return;
	}
	dx_jc_err(&c->jc, path,
		  "\"%s\" is not a plugin in this manifest; add it to "
		  "plugins, or, if it is %s (given by path alone), give that "
		  "entry \"name\": \"%s\" too",
		  name, m->plugins[i].json_path, name);
}

/* A list of middleware plugin names at path, into *out. */
static void parse_mw_list(mctx *c, const cJSON *v, const char *path,
			  char ***out, size_t *count)
{
	if (!cJSON_IsArray(v)) {
		dx_jc_got(&c->jc, path, v, "an array of plugin names");
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[DX_JC_PATH_MAX];
		const cJSON *dup = v->child;
		snprintf(p, sizeof p, "%s[%zu]", path, i);
		if (!dx_jc_name(&c->jc, it, p, "plugin"))
			continue;
		if (!dx_manifest_is_plugin(c->m, it->valuestring)) {
			dx_not_a_plugin(c, p, it->valuestring);
			continue;
		}
		size_t j = 0;
		while (dup != it && (!cJSON_IsString(dup) ||
				     strcmp(dup->valuestring, it->valuestring)))
			dup = dup->next, j++;
		if (dup != it)
			dx_jc_err(&c->jc, p, "\"%s\" is also %s[%zu]",
				  it->valuestring, path, j);
		else
			dx_manifest_push_str(c, out, count,
					     dx_jc_strdup(&c->jc,
							  it->valuestring));
	}
}

void dx_manifest_middleware(mctx *c, const cJSON *root)
{
	dx_manifest *m = c->m;
	const cJSON *v = dx_jc_get(root, "middleware");
	if (v)
		parse_mw_list(c, v, "middleware", &m->middleware,
			      &m->middleware_count);
	const cJSON *r = dx_jc_get(root, "route_middleware");
	if (!r)
		return;
	if (!cJSON_IsObject(r)) {
		dx_jc_got(
			&c->jc, "route_middleware", r,
			"an object of route name to a list of middleware, e.g. "
			"{\"ROUTE\": [\"PLUGIN\"]}");
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(r), i = 0;
	m->route_middleware = calloc(n ? n : 1, sizeof *m->route_middleware);
	if (!m->route_middleware) {
		dx_jc_nomem(&c->jc);
		return;
	}
	for (const cJSON *it = r->child; it; it = it->next, i++) {
		dx_route_mw *rm =
			&m->route_middleware[m->route_middleware_count++];
		char p[DX_JC_PATH_MAX];
		snprintf(p, sizeof p, "route_middleware.%s", it->string);
		rm->route = dx_jc_strdup(&c->jc, it->string);
		parse_mw_list(c, it, p, &rm->names, &rm->count);
	}
}
