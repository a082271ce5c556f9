/* registry.c - loaded plugins, their facets and the route table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/io.h>

#include "log.h"
#include "registry_int.h"
#include "manifest.h"

#define DX_ROUTE_SLOTS 65536u

void dx_registry_emit(const dx_registry *r, int level, const char *who,
		      const char *fmt, va_list ap)
{
	if (level > r->opts.log_level)
		return;
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	r->opts.log(r->opts.log_ud, level, who, msg);
}

void dx_registry_log(const dx_registry *r, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dx_registry_emit(r, level, "dx", fmt, ap);
	va_end(ap);
}

static void dx_registry_bg_dropped(void *ud, const char *name)
{
	dx_registry *r = ud;
	dx_registry_log(r, DX_LOG_WARN,
			"background queue full: dropped the oldest task, \"%s\"",
			name ? name : "?");
}

dx_registry *dx_registry_new(const dx_registry_opts *opts)
{
	dx_registry *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	/* calloc: the kernel hands out zero pages lazily, so the 1.5 MiB table
	 * costs only the slots actually used. */
	r->routes = calloc(DX_ROUTE_SLOTS, sizeof *r->routes);
	if (!r->routes) {
		free(r);
		return NULL;
	}
	if (opts)
		r->opts = *opts;
	else
		r->opts.log_level = DX_LOG_INFO;
	if (!r->opts.log)
		r->opts.log = dx_log_stderr; /* text */
	if (!r->opts.workers)
		r->opts.workers = 1;
	pthread_mutex_init(&r->post_lock, NULL);
	pthread_mutex_init(&r->dep_lock, NULL);
	r->bg = dx_bgqueue_new(r->opts.bg_queue ? r->opts.bg_queue : 1024,
			       dx_registry_bg_dropped, r);
	r->metrics = dx_metrics_new(r->opts.workers);
	if (!r->bg || !r->metrics) {
		dx_metrics_free(r->metrics);
		if (r->bg)
			dx_bgqueue_free(r->bg);
		free(r->routes);
		free(r);
		return NULL;
	}
	return r;
}

void dx_registry_set_manifest(dx_registry *r, const dx_manifest *m)
{
	if (r->manifest == m)
		return;
	/* Plugins initialised from the old one keep strings of its
	 * sections until their fini: keep its nodes until the end. */
	dx_config *old[2] = {r->sections, r->manifest_dir};
	for (int i = 0; i < 2; i++) {
		if (!old[i])
			continue;
		dx_config **k = realloc(r->kept_cfg,
					(r->kept_cfg_count + 1) * sizeof *k);
		if (!k)
			continue; /* leaked rather than freed under a plugin */
		r->kept_cfg = k;
		k[r->kept_cfg_count++] = old[i];
	}
	r->sections = NULL;
	r->manifest_dir = NULL;
	r->manifest = m;
}

void dx_registry_keep_manifest(dx_registry *r, dx_manifest *m)
{
	dx_manifest **k = realloc(r->kept_manifests,
				  (r->kept_manifest_count + 1) * sizeof *k);
	if (!k)
		return; /* not freed either: plugins point into it */
	r->kept_manifests = k;
	k[r->kept_manifest_count++] = m;
}

int dx_registry_start_background(dx_registry *r)
{
	unsigned n = r->opts.bg_threads ? r->opts.bg_threads : 1;
	return r->bg ? dx_bgqueue_start(r->bg, n) : DX_ESTATE;
}

void dx_registry_bg_stats(dx_registry *r, struct dx_bg_stats *out)
{
	if (r->bg)
		dx_bgqueue_stats(r->bg, out);
	else
		*out = (struct dx_bg_stats){0};
}

int dx_registry_control(dx_registry *r, const char *cmd, const char *request,
			char **answer, char *why, size_t why_len)
{
	/* The newest registration wins: after a reload, the new instance's
	 * (the old one's goes when it is finalised). */
	for (size_t i = r->ctl_count; i-- > 0;) {
		struct dx_ctl_cmd *c = &r->ctl_cmds[i];
		if (strcmp(c->cmd, cmd) != 0)
			continue;
		dx_diag_clear(&c->owner->errors);
		*answer = c->fn(c->arg, request);
		if (!*answer)
			snprintf(why, why_len, "%s: %s", c->owner->mod.desc->name,
				 c->owner->errors.count
					 ? dx_diag_last(&c->owner->errors)
					 : "failed");
		return 0;
	}
	return -ENOENT;
}

void dx_registry_ctl_drop(dx_registry *r, const dx_plugin_entry *owner)
{
	size_t k = 0;
	for (size_t i = 0; i < r->ctl_count; i++) {
		if (r->ctl_cmds[i].owner == owner)
			free(r->ctl_cmds[i].cmd);
		else
			r->ctl_cmds[k++] = r->ctl_cmds[i];
	}
	r->ctl_count = k;
}

void dx_registry_keep_json(dx_registry *r, cJSON *json)
{
	cJSON **k = realloc(r->kept_json, (r->kept_count + 1) * sizeof *k);
	if (!k) {
		/* Not freed either: a loaded plugin may point into it. */
		return;
	}
	r->kept_json = k;
	r->kept_json[r->kept_count++] = json;
}

void dx_entry_hold(dx_plugin_entry *e)
{
	if (e)
		atomic_fetch_add_explicit(&e->holds, 1, memory_order_relaxed);
}

void dx_entry_release(dx_plugin_entry *e)
{
	if (e)
		atomic_fetch_sub_explicit(&e->holds, 1, memory_order_release);
}

int dx_registry_post(dx_registry *r, int worker, void (*fn)(void *arg),
		     void *arg)
{
	return dx_registry_post_held(r, worker, fn, arg, NULL);
}

int dx_registry_post_held(dx_registry *r, int worker, void (*fn)(void *arg),
			  void *arg, dx_plugin_entry *holder)
{
	pthread_mutex_lock(&r->post_lock);
	int rc;
	if (r->poster) {
		rc = r->poster(r->poster_target, worker, fn, arg, holder);
	} else if (r->poster_target == (void *)r) {
		rc = DX_ESTATE; /* the server stopped */
	} else {
		struct dx_early_post *p = calloc(1, sizeof *p);
		rc = p ? 0 : -ENOMEM;
		if (p) {
			/* Appended, so they run in the order they were made. */
			*p = (struct dx_early_post){NULL, worker, fn, arg,
						    holder};
			struct dx_early_post **pp = &r->early_posts;
			while (*pp)
				pp = &(*pp)->next;
			*pp = p;
		}
	}
	pthread_mutex_unlock(&r->post_lock);
	return rc;
}

void dx_registry_set_poster(dx_registry *r, dx_poster poster, void *target)
{
	pthread_mutex_lock(&r->post_lock);
	r->poster = poster;
	r->poster_target = poster ? target : (void *)r;
	while (poster && r->early_posts) {
		struct dx_early_post *p = r->early_posts;
		r->early_posts = p->next;
		poster(target, p->worker, p->fn, p->arg, p->holder);
		free(p);
	}
	pthread_mutex_unlock(&r->post_lock);
}

void dx_entry_free(dx_plugin_entry *e)
{
	free(e->uses); /* its holds end with the registry */
	for (size_t i = 0; i < e->path_count; i++)
		free(e->paths[i]);
	free(e->paths);
	free(e->routes);
	free(e->routes_path);
	dx_module_close(&e->mod);
	dx_config_free(e->config);
	dx_diag_clear(&e->errors);
	free(e);
}

void dx_registry_free(dx_registry *r)
{
	if (!r)
		return;
	dx_registry_fini_all(r);
	/* Unload in reverse too: a later plugin may hold pointers into an
	 * earlier one's .so (a looked-up vtable) until it is gone. */
	for (size_t i = r->count; i-- > 0;)
		dx_entry_free(r->plugins[i]);
	while (r->retiring) {
		dx_plugin_entry *e = r->retiring;
		r->retiring = e->next_retiring;
		dx_entry_free(e);
	}
	for (size_t i = 0; i < r->kept_count; i++)
		cJSON_Delete(r->kept_json[i]);
	free(r->kept_json);
	dx_metrics_free(r->metrics);
	dx_config_free(r->sections);
	dx_config_free(r->manifest_dir);
	for (size_t i = 0; i < r->kept_cfg_count; i++)
		dx_config_free(r->kept_cfg[i]);
	free(r->kept_cfg);
	for (size_t i = 0; i < r->kept_manifest_count; i++)
		dx_manifest_free(r->kept_manifests[i]);
	free(r->kept_manifests);
	for (size_t i = 0; i < r->ctl_count; i++)
		free(r->ctl_cmds[i].cmd);
	free(r->ctl_cmds);
	while (r->early_posts) {
		struct dx_early_post *p = r->early_posts;
		r->early_posts = p->next;
		free(p);
	}
	pthread_mutex_destroy(&r->post_lock);
	pthread_mutex_destroy(&r->dep_lock);
	free(r->plugins);
	free(r->facets);
	free(r->routes);
	free(r);
}

int dx_registry_find(const dx_registry *r, const char *name)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcmp(r->plugins[i]->mod.desc->name, name) == 0)
			return (int)i;
	return -1;
}

static const dx_route *dx_route_at(const dx_routes_vtable *vt, uint32_t i)
{
	return (const void *)((const char *)vt->routes +
			      (size_t)i * vt->route_size);
}

static const dx_route_ref *dx_route_by_name(const dx_registry *r,
					    const char *name)
{
	for (size_t i = 0; i < r->count; i++) {
		const dx_plugin_entry *o = r->plugins[i];
		for (size_t k = 0; k < o->route_count; k++)
			if (strcmp(o->routes[k].route->name, name) == 0)
				return &r->routes[o->routes[k].id];
	}
	return NULL;
}

/* Routes of e clash with a registered one? Names both plugins. */
static int dx_routes_clash(const dx_registry *r, const dx_plugin_entry *e,
			   dx_diag *d)
{
	for (size_t k = 0; k < e->route_count; k++) {
		const dx_entry_route *rt = &e->routes[k];
		const dx_route_ref *old = &r->routes[rt->id];
		const char *what = "id";
		if (!old->route) {
			old = dx_route_by_name(r, rt->route->name);
			what = "name";
		}
		if (!old)
			continue;
		int j = dx_registry_find(r, old->plugin);
		dx_diag_add(d,
			    "%s: route %u \"%s\" of plugin \"%s\" has the same "
			    "%s as route %u \"%s\" of plugin \"%s\" (%s); give "
			    "one of them another %s (plugins[].routes in the "
			    "manifest moves a route to another id)",
			    e->mod.path, (unsigned)rt->id, rt->route->name,
			    e->mod.desc->name, what, (unsigned)old->id,
			    old->route->name, old->plugin,
			    j >= 0 ? r->plugins[j]->mod.path : "?", what);
		return DX_EDUP;
	}
	return 0;
}

/* Every name the manifest moves must be one of the plugin's routes, and
 * the plugin's routes must still have distinct ids afterwards. */
static int dx_entry_routes_check(const dx_plugin_entry *e, const cJSON *routes,
				 const char *routes_path, dx_diag *d)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, routes)
	{
		size_t k = 0;
		while (k < e->route_count &&
		       strcmp(e->routes[k].route->name, o->string) != 0)
			k++;
		if (k == e->route_count) {
			dx_diag_add(d, "%s.%s: plugin \"%s\" has no route named "
				       "\"%s\"",
				    routes_path, o->string, e->mod.desc->name,
				    o->string);
			return DX_ENAME;
		}
	}
	for (size_t a = 0; a < e->route_count; a++)
		for (size_t b = a + 1; b < e->route_count; b++)
			if (e->routes[a].id == e->routes[b].id) {
				dx_diag_add(d,
					    "%s: plugin \"%s\" would serve "
					    "routes \"%s\" and \"%s\" both as "
					    "id %u",
					    routes_path, e->mod.desc->name,
					    e->routes[a].route->name,
					    e->routes[b].route->name,
					    (unsigned)e->routes[a].id);
				return DX_EDUP;
			}
	return 0;
}

/* e->routes from the plugin's tables, each under its own id or the one
 * routes (the manifest's plugins[].routes) gives it. */
int dx_entry_routes(dx_plugin_entry *e, const cJSON *routes,
		    const char *routes_path, dx_diag *d)
{
	const dx_plugin *p = e->mod.desc;
	size_t n = 0;
	for (uint32_t i = 0; i < p->facet_count; i++)
		if (p->facets[i].kind == DX_FACET_ROUTES)
			n += ((const dx_routes_vtable *)p->facets[i].vtable)->count;
	e->routes = calloc(n ? n : 1, sizeof *e->routes);
	if (!e->routes)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->facet_count; i++) {
		if (p->facets[i].kind != DX_FACET_ROUTES)
			continue;
		const dx_routes_vtable *vt = p->facets[i].vtable;
		for (uint32_t k = 0; k < vt->count; k++) {
			const dx_route *rt = dx_route_at(vt, k);
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(
				routes, rt->name);
			e->routes[e->route_count++] = (dx_entry_route){
				rt, o ? (uint16_t)o->valueint : rt->id};
		}
	}
	return dx_entry_routes_check(e, routes, routes_path, d);
}

/* Everything e would clash with, checked before anything is inserted. */
static int dx_registry_clash(const dx_registry *r, const dx_plugin_entry *e,
			     dx_diag *d)
{
	const dx_plugin *p = e->mod.desc;
	int j = dx_registry_find(r, p->name);
	if (j >= 0) {
		dx_diag_add(d,
			    "%s: plugin name \"%s\" is already taken by %s; "
			    "plugin names must be unique in a host",
			    e->mod.path, p->name, r->plugins[j]->mod.path);
		return DX_EDUP;
	}
	for (uint32_t i = 0; i < p->facet_count; i++) {
		const dx_facet *f = &p->facets[i];
		dx_facet_ref ref;
		if (dx_registry_lookup(r, f->kind, f->name, &ref) == 0) {
			j = dx_registry_find(r, ref.plugin);
			dx_diag_add(d,
				    "%s: plugin \"%s\" facet %s \"%s\" is "
				    "already provided by plugin \"%s\" (%s)",
				    e->mod.path, p->name,
				    dx_facet_kind_name(f->kind), f->name,
				    ref.plugin, r->plugins[j]->mod.path);
			return DX_EDUP;
		}
	}
	return dx_routes_clash(r, e, d);
}

static int dx_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static void dx_registry_insert(dx_registry *r, dx_plugin_entry *e)
{
	const dx_plugin *p = e->mod.desc;
	for (uint32_t i = 0; i < p->facet_count; i++) {
		const dx_facet *f = &p->facets[i];
		r->facets[r->facet_count++] = (dx_facet_entry){
			f->kind, f->name, f->vtable, e};
	}
	/* self is filled in when the plugin's init has run. */
	for (size_t k = 0; k < e->route_count; k++)
		r->routes[e->routes[k].id] = (dx_route_ref){
			e->routes[k].route, NULL, p->name, e->routes[k].id};
	r->plugins[r->count++] = e;
}

int dx_registry_add(dx_registry *r, dx_module *m, const cJSON *config,
		    const char *config_path, dx_diag *d)
{
	return dx_registry_add_routes(r, m, config, config_path, NULL, NULL, d);
}

void dx_entry_warn_in_place(const dx_plugin_entry *e)
{
	if (e->mod.in_place[0])
		dx_registry_log(e->reg, DX_LOG_WARN,
				"plugin \"%s\" %s: %s is mapped in place (%s): a "
				"build written over that file in place would "
				"reach the running code; install new builds by "
				"renaming over it",
				e->mod.desc->name, e->mod.desc->version,
				e->mod.path, e->mod.in_place);
}

int dx_registry_add_routes(dx_registry *r, dx_module *m, const cJSON *config,
			   const char *config_path, const cJSON *routes,
			   const char *routes_path, dx_diag *d)
{
	dx_plugin_entry *e = calloc(1, sizeof *e);
	if (!e) {
		dx_module_close(m);
		dx_diag_add(d, "out of memory");
		return -ENOMEM;
	}
	e->reg = r;
	e->mod = *m;
	memset(m, 0, sizeof *m); /* ours now */
	dx_entry_warn_in_place(e);
	e->config = dx_config_new(config, config_path ? config_path : "config");
	e->config_json = config;
	e->routes_json = routes;
	e->routes_path = strdup(routes_path ? routes_path : "routes");
	int rc = e->config && e->routes_path
			 ? dx_entry_routes(e, routes, e->routes_path, d)
			 : -ENOMEM;
	if (rc == 0)
		rc = dx_registry_clash(r, e, d);
	if (rc == 0)
		rc = dx_grow((void **)&r->plugins, &r->cap, r->count + 1,
			     sizeof *r->plugins);
	if (rc == 0)
		rc = dx_grow((void **)&r->facets, &r->facet_cap,
			     r->facet_count + e->mod.desc->facet_count,
			     sizeof *r->facets);
	if (rc < 0) {
		if (rc == -ENOMEM)
			dx_diag_add(d, "%s: out of memory", e->mod.path);
		dx_entry_free(e);
		return rc;
	}
	dx_hostapi_fill(e);
	dx_registry_insert(r, e);
	return 0;
}

/* Point the plugin's routes at its instance, now that init made it. */
static void dx_routes_bind(dx_registry *r, const dx_plugin_entry *e)
{
	for (size_t k = 0; k < e->route_count; k++)
		r->routes[e->routes[k].id].self = e->self;
}

/* What init's code says when the plugin recorded no reason. A bare -1 or
 * an unnamed negative code is a C habit, not an errno the plugin meant:
 * say the number rather than "Operation not permitted". */
static void dx_init_code_text(int rc, char *out, size_t len)
{
	const char *hint = "return a negative errno or DX_E* code, and say "
			   "why with host->fail()";
	if (rc > 0)
		snprintf(out, len, "init returned %d, a positive value (%s)",
			 rc, hint);
	else if (rc == -1)
		snprintf(out, len,
			 "init returned -1 without a reason (-1 is -EPERM; "
			 "%s)",
			 hint);
	else if (rc <= -4096 && strcmp(dx_err_name(rc), "UNKNOWN") == 0)
		snprintf(out, len,
			 "init returned %d, which is neither a negative errno "
			 "nor a DX_E* code (%s)",
			 rc, hint);
	else
		snprintf(out, len, "%s (%s)", dx_strerror(rc),
			 dx_err_name(rc));
}

/* "first; second; third" of what the plugin recorded, or the code's text. */
void dx_init_failure(const dx_plugin_entry *e, int rc, dx_diag *d)
{
	char why[2048] = "";
	size_t len = 0;
	for (size_t i = 0; i < e->errors.count && len < sizeof why; i++)
		len += (size_t)snprintf(why + len, sizeof why - len, "%s%s",
					i ? "; " : "", e->errors.msgs[i]);
	if (!*why)
		dx_init_code_text(rc, why, sizeof why);
	dx_diag_add(d, "plugin \"%s\" %s (%s): init failed: %s",
		    e->mod.desc->name, e->mod.desc->version, e->mod.path, why);
}

int dx_registry_init_all(dx_registry *r, dx_diag *d)
{
	for (size_t i = 0; i < r->count; i++) {
		dx_plugin_entry *e = r->plugins[i];
		if (e->initialised)
			continue;
		const dx_plugin *p = e->mod.desc;
		dx_diag_clear(&e->errors);
		int rc = p->init ? p->init(&e->api, e->config, &e->self) : 0;
		if (rc != 0) {
			dx_init_failure(e, rc, d);
			e->self = NULL;
			dx_registry_fini_all(r);
			return rc < 0 ? rc : DX_EINIT;
		}
		/* Errors a getter recorded that init chose to ignore. */
		for (size_t k = 0; k < e->errors.count; k++)
			dx_registry_log(r, DX_LOG_WARN, "plugin \"%s\": %s",
					p->name, e->errors.msgs[k]);
		e->initialised = true;
		dx_routes_bind(r, e);
	}
	return 0;
}

void dx_registry_fini_all(dx_registry *r)
{
	/* Background tasks point into plugins: stop them before any fini. */
	dx_bgqueue_free(r->bg);
	r->bg = NULL;
	/* Replaced instances first: they are older than every current one
	 * (the workers have stopped, so nothing they held still runs). */
	for (dx_plugin_entry *e = r->retiring; e; e = e->next_retiring) {
		if (e->initialised && e->mod.desc->fini)
			e->mod.desc->fini(e->self);
		e->initialised = false;
	}
	for (size_t i = r->count; i-- > 0;) {
		dx_plugin_entry *e = r->plugins[i];
		if (!e->initialised)
			continue;
		if (e->mod.desc->fini)
			e->mod.desc->fini(e->self);
		e->initialised = false;
		e->self = NULL;
		dx_routes_bind(r, e);
	}
}

size_t dx_registry_count(const dx_registry *r)
{
	return r->count;
}

const dx_module *dx_registry_module(const dx_registry *r, size_t i)
{
	return i < r->count ? &r->plugins[i]->mod : NULL;
}

int dx_registry_lookup(const dx_registry *r, uint32_t kind, const char *name,
		       dx_facet_ref *out)
{
	for (size_t i = 0; i < r->facet_count; i++) {
		const dx_facet_entry *f = &r->facets[i];
		if (f->kind == kind && strcmp(f->name, name) == 0) {
			*out = (dx_facet_ref){f->vtable, f->owner->self,
					      f->owner->mod.desc->name};
			return 0;
		}
	}
	return -ENOENT;
}

int dx_registry_lookup_by(dx_plugin_entry *caller, uint32_t kind,
			  const char *name, dx_facet_ref *out)
{
	dx_registry *r = caller->reg;
	const dx_facet_entry *f = NULL;
	for (size_t i = 0; i < r->facet_count && !f; i++)
		if (r->facets[i].kind == kind &&
		    strcmp(r->facets[i].name, name) == 0)
			f = &r->facets[i];
	if (!f)
		return -ENOENT;
	dx_plugin_entry *p = f->owner;
	if (p != caller) {
		pthread_mutex_lock(&r->dep_lock);
		bool known = false;
		for (size_t i = 0; i < caller->use_count && !known; i++)
			known = caller->uses[i].provider == p &&
				caller->uses[i].kind == kind &&
				strcmp(caller->uses[i].name, f->name) == 0;
		struct dx_use *u = known ? NULL
				 : realloc(caller->uses, (caller->use_count + 1) *
							   sizeof *u);
		if (u) {
			caller->uses = u;
			u[caller->use_count++] =
				(struct dx_use){p, kind, f->name};
			dx_entry_hold(p);
		}
		pthread_mutex_unlock(&r->dep_lock);
		if (!known && !u)
			return -ENOMEM;
	}
	*out = (dx_facet_ref){f->vtable, p->self, p->mod.desc->name};
	return 0;
}

void dx_entry_unuse(dx_plugin_entry *e)
{
	pthread_mutex_lock(&e->reg->dep_lock);
	for (size_t i = 0; i < e->use_count; i++)
		dx_entry_release(e->uses[i].provider);
	free(e->uses);
	e->uses = NULL;
	e->use_count = 0;
	pthread_mutex_unlock(&e->reg->dep_lock);
}

size_t dx_registry_users(const dx_registry *r, const dx_plugin_entry *e,
			 char *buf, size_t len)
{
	size_t n = 0, at = 0;
	if (len)
		buf[0] = '\0';
	pthread_mutex_lock((pthread_mutex_t *)&r->dep_lock);
	for (size_t i = 0; i < r->count; i++) {
		const dx_plugin_entry *c = r->plugins[i];
		for (size_t k = 0; k < c->use_count; k++) {
			const struct dx_use *u = &c->uses[k];
			if (u->provider != e)
				continue;
			int w = snprintf(buf + at, at < len ? len - at : 0,
					 "%splugin \"%s\" uses its %s facet "
					 "\"%s\"",
					 n ? "; " : "", c->mod.desc->name,
					 dx_facet_kind_name(u->kind), u->name);
			if (w > 0 && at + (size_t)w < len)
				at += (size_t)w;
			n++;
		}
	}
	pthread_mutex_unlock((pthread_mutex_t *)&r->dep_lock);
	return n;
}

int dx_registry_lookup_kind(const dx_registry *r, uint32_t kind,
			    dx_facet_ref *out)
{
	for (size_t i = 0; i < r->facet_count; i++) {
		const dx_facet_entry *f = &r->facets[i];
		if (f->kind == kind) {
			*out = (dx_facet_ref){f->vtable, f->owner->self,
					      f->owner->mod.desc->name};
			return 0;
		}
	}
	return -ENOENT;
}

int dx_io_facet_cmp(const dx_facet *a, const dx_facet *b)
{
	const dx_io_vtable *va = a->vtable, *vb = b->vtable;
	bool na = va->caps & DX_IO_CAP_NATIVE, nb = vb->caps & DX_IO_CAP_NATIVE;
	if (na != nb)
		return na ? -1 : 1;
	return strcmp(a->name, b->name);
}

static dx_facet dx_facet_of(const dx_facet_entry *f)
{
	return (dx_facet){f->kind, f->name, f->vtable};
}

size_t dx_registry_io_names(const dx_registry *r, const char **names,
			    size_t max)
{
	/* Each facet's place is the number of IO facets that go before it:
	 * (kind, name) is unique, so no two share a place. A host has a
	 * handful of IO facets at most. */
	size_t n = 0;
	for (size_t i = 0; i < r->facet_count; i++) {
		const dx_facet_entry *f = &r->facets[i];
		if (f->kind != DX_FACET_IO)
			continue;
		dx_facet fi = dx_facet_of(f);
		size_t place = 0;
		for (size_t j = 0; j < r->facet_count; j++) {
			dx_facet fj = dx_facet_of(&r->facets[j]);
			if (fj.kind == DX_FACET_IO &&
			    dx_io_facet_cmp(&fj, &fi) < 0)
				place++;
		}
		if (place < max)
			names[place] = f->name;
		n++;
	}
	return n;
}

const dx_route_ref *dx_registry_route(const dx_registry *r, uint16_t id)
{
	const dx_route_ref *ref = &r->routes[id];
	return ref->route ? ref : NULL;
}

void dx_registry_each_counter(const dx_registry *r,
			      void (*fn)(void *ud, const char *name,
					 const char *help, uint64_t value),
			      void *ud)
{
	dx_metrics_each_counter(r->metrics, fn, ud);
}

dx_metrics *dx_registry_metrics(const dx_registry *r)
{
	return r->metrics;
}
