/* registry_reload.c - a new instance of a loaded plugin: prepared beside
 * the old one (checked, initialised with the same config, handed the old
 * one's state), swapped in, and the old one finalised once nothing can
 * reach it. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "registry_int.h"

/* A plugin other live plugins use (they looked up its facets and may
 * call them) cannot be removed while they are there; a reload replaces
 * them too (txn.c). 0, or the refusal in d. */
static int dx_used_by_others(const dx_registry *r, const dx_plugin_entry *e,
			     dx_diag *d)
{
	char users[512];
	if (dx_registry_users(r, e, users, sizeof users) == 0)
		return 0;
	dx_diag_add(d, "unload %s: %s; unload those first", e->mod.desc->name,
		    users);
	return DX_ESTATE;
}

int dx_registry_reloadable(const dx_registry *r, const char *name,
			   dx_diag *d)
{
	int i = dx_registry_find(r, name);
	if (i < 0) {
		dx_diag_add(d, "reload %s: no plugin of that name is loaded",
			    name);
		return -ENOENT;
	}
	return i;
}

/* The clash checks of dx_registry_add, with old's own facets and routes
 * taken out of the way. */
static int dx_reload_clash(const dx_registry *r, const dx_plugin_entry *e,
			   const dx_plugin_entry *old, dx_diag *d)
{
	const dx_plugin *p = e->mod.desc;
	for (uint32_t i = 0; i < p->facet_count; i++) {
		const dx_facet *f = &p->facets[i];
		for (size_t k = 0; k < r->facet_count; k++) {
			const dx_facet_entry *x = &r->facets[k];
			if (x->owner == old || x->kind != f->kind ||
			    strcmp(x->name, f->name) != 0)
				continue;
			dx_diag_add(d,
				    "%s: plugin \"%s\" facet %s \"%s\" is "
				    "already provided by plugin \"%s\" (%s)",
				    e->mod.path, p->name,
				    dx_facet_kind_name(f->kind), f->name,
				    x->owner->mod.desc->name,
				    x->owner->mod.path);
			return DX_EDUP;
		}
	}
	for (size_t k = 0; k < e->route_count; k++) {
		const dx_entry_route *rt = &e->routes[k];
		for (uint32_t id = 1; id < 65536; id++) {
			const dx_route_ref *x = &r->routes[id];
			if (!x->route || strcmp(x->plugin, old->mod.desc->name) == 0)
				continue;
			if (id != rt->id && strcmp(x->route->name, rt->route->name))
				continue;
			dx_diag_add(d,
				    "%s: route %u \"%s\" of plugin \"%s\" has the "
				    "same %s as route %u \"%s\" of plugin \"%s\"",
				    e->mod.path, (unsigned)rt->id,
				    rt->route->name, p->name,
				    id == rt->id ? "id" : "name", id,
				    x->route->name, x->plugin);
			return DX_EDUP;
		}
	}
	return 0;
}

bool dx_registry_is_retiring(const dx_registry *r, const dx_plugin_entry *e)
{
	for (const dx_plugin_entry *x = r->retiring; x; x = x->next_retiring)
		if (x == e)
			return true;
	return false;
}

static void dx_reload_discard(dx_registry *r, dx_plugin_entry *e)
{
	dx_registry_ctl_drop(r, e);
	dx_entry_unuse(e);
	dx_entry_free(e);
}

void dx_entry_retire(dx_plugin_entry *e)
{
	const dx_plugin *p = e->mod.desc;
	if (!e->initialised || e->retire_called || !DX_HAS(p, retire))
		return;
	e->retire_called = true;
	p->retire(e->self);
}

/* An instance that will never be (or is no longer) published: finalised
 * and unloaded now, unless something it set up during init or import
 * (a timer, a post, a watch) still holds it and it has retire to let go;
 * then it is retired and waits on the retiring list like a replaced one,
 * its commands gone at once. Appended at the tail: the head is what a
 * transaction's undo pops. */
static void dx_registry_bury(dx_registry *r, dx_plugin_entry *e)
{
	/* Without retire (a v1.0 plugin), nothing would make it let go:
	 * its fini runs now, as v1.0 hosts did, and must end what it
	 * started itself. */
	if (atomic_load_explicit(&e->holds, memory_order_acquire) == 0 ||
	    !e->initialised || !DX_HAS(e->mod.desc, retire)) {
		if (e->initialised && e->mod.desc->fini)
			e->mod.desc->fini(e->self);
		dx_reload_discard(r, e);
		return;
	}
	dx_registry_ctl_drop(r, e);
	dx_entry_retire(e);
	e->last_gen = 0;
	e->next_retiring = NULL;
	dx_plugin_entry **pp = &r->retiring;
	while (*pp)
		pp = &(*pp)->next_retiring;
	*pp = e;
}

/* The state of from handed to to: from exports, to imports. 0, or the
 * failure, with *why the reason the side that failed gave (through
 * host->fail, into its own errors), else the code's text. */
static int dx_handoff(dx_plugin_entry *from, dx_plugin_entry *to,
		      const char **why)
{
	const void *data = NULL;
	size_t len = 0;
	size_t had_from = from->errors.count, had_to = to->errors.count;
	int rc = from->mod.desc->handoff_export(from->self, &data, &len);
	const dx_plugin_entry *failed = from;
	if (rc == 0) {
		to->handoff_from = from->mod.desc->version;
		rc = to->mod.desc->handoff_import(to->self, data, len);
		to->handoff_from = NULL;
		failed = to;
	}
	bool said = failed->errors.count >
		    (failed == from ? had_from : had_to);
	*why = rc == 0 ? NULL
	       : said  ? dx_diag_last(&failed->errors)
		       : dx_strerror(rc);
	return rc;
}

/* init, then the handoff: old exports, e imports. */
static int dx_reload_init(dx_registry *r, dx_plugin_entry *e,
			  dx_plugin_entry *old, bool *handoff, dx_diag *d)
{
	const dx_plugin *p = e->mod.desc, *o = old->mod.desc;
	int rc = p->init ? p->init(&e->api, e->config, &e->self) : 0;
	if (rc != 0) {
		dx_init_failure(e, rc, d);
		return rc < 0 ? rc : DX_EINIT;
	}
	e->initialised = true;
	*handoff = o->handoff_export && p->handoff_import;
	if (!*handoff)
		return 0;
	const char *why;
	rc = dx_handoff(old, e, &why);
	if (rc != 0) {
		dx_diag_add(d, "plugin \"%s\" %s -> %s (%s): state handoff "
			       "failed: %s",
			    p->name, o->version, p->version, e->mod.path, why);
		return rc < 0 ? rc : DX_EINIT;
	}
	return 0;
}

int dx_registry_prepare(dx_registry *r, int index, dx_module *m,
			const dx_manifest_plugin *conf, bool *handoff,
			dx_plugin_entry **out, dx_diag *d)
{
	*out = NULL;
	dx_plugin_entry *old = r->plugins[index];
	const char *name = old->mod.desc->name;
	if (strcmp(m->desc->name, name) != 0) {
		dx_diag_add(d, "%s: the file's plugin is named \"%s\", not \"%s\"",
			    m->path, m->desc->name, name);
		dx_module_close(m);
		return DX_ENAME;
	}
	dx_plugin_entry *e = calloc(1, sizeof *e);
	if (!e) {
		dx_module_close(m);
		return -ENOMEM;
	}
	e->reg = r;
	e->mod = *m;
	memset(m, 0, sizeof *m);
	dx_entry_warn_in_place(e);
	e->config_json = conf ? conf->config : old->config_json;
	e->config = dx_config_new(e->config_json,
				  conf ? conf->config_path
				       : dx_config_node_path(old->config));
	e->routes_json = conf ? conf->routes : old->routes_json;
	e->routes_path = strdup(conf ? conf->routes_path : old->routes_path);
	int rc = e->config && e->routes_path
			 ? dx_entry_routes(e, e->routes_json, e->routes_path, d)
			 : -ENOMEM;
	if (rc == 0)
		rc = dx_reload_clash(r, e, old, d);
	/* Room for the facet table's worst case, so commit cannot fail. */
	if (rc == 0 && r->facet_count + e->mod.desc->facet_count > r->facet_cap) {
		size_t cap = r->facet_count + e->mod.desc->facet_count;
		dx_facet_entry *f = realloc(r->facets, cap * sizeof *f);
		if (f) {
			r->facets = f;
			r->facet_cap = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	if (rc == 0) {
		dx_hostapi_fill(e);
		e->replaces = old;
		rc = dx_reload_init(r, e, old, handoff, d);
	}
	if (rc != 0) {
		if (rc == -ENOMEM)
			dx_diag_add(d, "%s: out of memory", e->mod.path);
		dx_registry_bury(r, e);
		return rc;
	}
	*out = e;
	return 0;
}

/* Put in where out is: the plugin table, the facets, the routes. out
 * NULL: in is already in the plugin table (a load); in NULL: out just
 * leaves (an unload). The facet table has room for in's (see prepare and
 * dx_registry_add_routes). */
static void dx_registry_swap(dx_registry *r, dx_plugin_entry *out,
			     dx_plugin_entry *in)
{
	size_t k = 0;
	for (size_t i = 0; out && i < r->count; i++) {
		if (r->plugins[i] != out)
			r->plugins[k++] = r->plugins[i];
		else if (in)
			r->plugins[k++] = in;
	}
	if (out)
		r->count = k;
	/* Drop out's facets, and in's (a load already inserted them), then
	 * add in's again: one path for reload, load and unload. */
	k = 0;
	for (size_t i = 0; i < r->facet_count; i++)
		if (r->facets[i].owner != out && r->facets[i].owner != in)
			r->facets[k++] = r->facets[i];
	r->facet_count = k;
	for (size_t i = 0; out && i < out->route_count; i++)
		memset(&r->routes[out->routes[i].id], 0, sizeof r->routes[0]);
	if (!in)
		return;
	const dx_plugin *p = in->mod.desc;
	for (uint32_t i = 0; i < p->facet_count; i++)
		r->facets[r->facet_count++] = (dx_facet_entry){
			p->facets[i].kind, p->facets[i].name,
			p->facets[i].vtable, in};
	for (size_t i = 0; i < in->route_count; i++)
		r->routes[in->routes[i].id] = (dx_route_ref){
			in->routes[i].route, in->self, p->name,
			in->routes[i].id};
}

void dx_registry_commit(dx_registry *r, dx_plugin_entry *e, uint64_t gen)
{
	dx_plugin_entry *old = e->replaces;
	dx_registry_swap(r, old, e);
	e->replaces = NULL;
	e->gen = gen;
	old->last_gen = gen - 1;
	old->next_retiring = r->retiring;
	r->retiring = old;
}

/* Give old back the state e imported from it. */
static void dx_handoff_back(dx_registry *r, dx_plugin_entry *e,
			    dx_plugin_entry *old)
{
	const dx_plugin *p = e->mod.desc, *o = old->mod.desc;
	if (!p->handoff_export || !o->handoff_import) {
		dx_registry_log(r, DX_LOG_ERROR,
				"plugin \"%s\" %s -> %s: the state cannot go "
				"back (%s has no handoff_%s); the old instance "
				"serves without it",
				o->name, p->version, o->version,
				p->handoff_export ? o->version : p->version,
				p->handoff_export ? "import" : "export");
		return;
	}
	const char *why;
	if (dx_handoff(e, old, &why) != 0)
		dx_registry_log(r, DX_LOG_ERROR,
				"plugin \"%s\" %s -> %s: giving the state back "
				"failed: %s; the old instance serves without it",
				o->name, p->version, o->version, why);
}

void dx_registry_rollback(dx_registry *r, dx_plugin_entry *e, bool handoff)
{
	dx_plugin_entry *old = r->retiring;
	r->retiring = old->next_retiring;
	old->next_retiring = NULL;
	if (handoff)
		dx_handoff_back(r, e, old);
	dx_registry_swap(r, e, old);
	dx_registry_bury(r, e);
}

void dx_registry_abandon(dx_registry *r, dx_plugin_entry *e)
{
	dx_registry_bury(r, e);
}

size_t dx_registry_reap(dx_registry *r, uint64_t oldest_live)
{
	size_t left = 0;
	for (dx_plugin_entry **pp = &r->retiring; *pp;) {
		dx_plugin_entry *e = *pp;
		if (e->last_gen >= oldest_live ||
		    atomic_load_explicit(&e->holds, memory_order_acquire) > 0) {
			pp = &e->next_retiring;
			left++;
			continue;
		}
		*pp = e->next_retiring;
		if (e->initialised && e->mod.desc->fini)
			e->mod.desc->fini(e->self);
		dx_registry_log(r, DX_LOG_INFO, "retired %s %s (%s)",
				e->mod.desc->name, e->mod.desc->version,
				e->mod.path);
		dx_reload_discard(r, e);
	}
	return left;
}

size_t dx_registry_retiring(const dx_registry *r,
			    void (*fn)(void *ud, const dx_module *m,
				       uint64_t last_gen, long holds),
			    void *ud)
{
	size_t n = 0;
	for (const dx_plugin_entry *e = r->retiring; e; e = e->next_retiring) {
		if (fn)
			fn(ud, &e->mod, e->last_gen,
			   atomic_load_explicit(&e->holds,
						memory_order_relaxed));
		n++;
	}
	return n;
}

uint64_t dx_registry_plugin_gen(const dx_registry *r, size_t i)
{
	return i < r->count ? r->plugins[i]->gen : 0;
}

const dx_plugin *dx_entry_desc(const dx_plugin_entry *e)
{
	return e->mod.desc;
}

void dx_registry_hold_retired(dx_registry *r)
{
	dx_entry_hold(r->retiring);
}

/* ---- load and unload ---- */

int dx_registry_init_last(dx_registry *r, uint64_t gen, dx_diag *d)
{
	dx_plugin_entry *e = r->plugins[r->count - 1];
	const dx_plugin *p = e->mod.desc;
	dx_diag_clear(&e->errors);
	int rc = p->init ? p->init(&e->api, e->config, &e->self) : 0;
	if (rc != 0) {
		dx_init_failure(e, rc, d);
		dx_registry_swap(r, e, NULL);
		dx_registry_bury(r, e);
		return rc < 0 ? rc : DX_EINIT;
	}
	e->initialised = true;
	e->gen = gen;
	dx_registry_swap(r, NULL, e); /* its routes now carry its self */
	return 0;
}

void dx_registry_drop_last(dx_registry *r)
{
	dx_plugin_entry *e = r->plugins[r->count - 1];
	dx_registry_swap(r, e, NULL);
	dx_registry_abandon(r, e);
}

int dx_registry_unloadable(const dx_registry *r, const char *name,
			   dx_diag *d)
{
	int i = dx_registry_find(r, name);
	if (i < 0) {
		dx_diag_add(d, "unload %s: no plugin of that name is loaded",
			    name);
		return -ENOENT;
	}
	int rc = dx_used_by_others(r, r->plugins[i], d);
	if (rc < 0)
		return rc;
	return i;
}

void dx_registry_detach(dx_registry *r, int index, uint64_t gen)
{
	dx_plugin_entry *e = r->plugins[index];
	e->detached_at = (size_t)index;
	dx_registry_swap(r, e, NULL);
	e->last_gen = gen - 1;
	e->next_retiring = r->retiring;
	r->retiring = e;
}

void dx_registry_reattach(dx_registry *r)
{
	dx_plugin_entry *e = r->retiring;
	r->retiring = e->next_retiring;
	e->next_retiring = NULL;
	/* Room: it was there. */
	memmove(&r->plugins[e->detached_at + 1], &r->plugins[e->detached_at],
		(r->count - e->detached_at) * sizeof r->plugins[0]);
	r->plugins[e->detached_at] = e;
	r->count++;
	dx_registry_swap(r, NULL, e);
}

size_t dx_registry_users_of(const dx_registry *r, const dx_plugin_entry *e,
			    dx_plugin_entry **out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock((pthread_mutex_t *)&r->dep_lock);
	for (size_t i = 0; i < r->count; i++) {
		dx_plugin_entry *c = r->plugins[i];
		for (size_t k = 0; k < c->use_count; k++) {
			if (c->uses[k].provider != e)
				continue;
			if (n < max)
				out[n] = c;
			n++;
			break;
		}
	}
	pthread_mutex_unlock((pthread_mutex_t *)&r->dep_lock);
	return n;
}

dx_plugin_entry *dx_registry_entry(const dx_registry *r, size_t i)
{
	return i < r->count ? r->plugins[i] : NULL;
}

const dx_module *dx_entry_module(const dx_plugin_entry *e)
{
	return &e->mod;
}

const struct dx_manifest *dx_registry_manifest(const dx_registry *r)
{
	return r->manifest;
}
