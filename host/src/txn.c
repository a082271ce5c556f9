/* txn.c - steps of a change, each undoable until the publish (txn.h).
 *
 * Undo works because every step changes the registry in a last-in,
 * first-out way: a reload or an unload pushes the old instance on the
 * registry's retiring list, a load appends to the plugin table, and undo
 * pops them in reverse. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "metrics.h"
#include "server_int.h"
#include "txn.h"

/* How long a publish waits for the workers to pass a loop boundary: a
 * worker that does not is stuck in a handler, and the change says so. */
#define DX_PUBLISH_WAIT_MS 10000

void dx_txn_begin(dx_txn *t, dx_server *s, const dx_manifest *m)
{
	*t = (dx_txn){.s = s, .m = m,
		      .before = dx_registry_manifest(s->view.reg),
		      .id = atomic_load(&s->view.gen)->id + 1};
	dx_registry_set_manifest(s->view.reg, m);
}

static dx_txn_step *dx_txn_push(dx_txn *t, dx_step_kind kind,
				dx_plugin_entry *e)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;
		dx_txn_step *p = realloc(t->steps, cap * sizeof *p);
		if (!p)
			return NULL;
		t->steps = p;
		t->cap = cap;
	}
	dx_txn_step *st = &t->steps[t->count++];
	*st = (dx_txn_step){.kind = kind, .e = e};
	const dx_module *m = dx_entry_module(e);
	snprintf(st->name, sizeof st->name, "%s", m->desc->name);
	snprintf(st->path, sizeof st->path, "%s", m->path);
	return st;
}

/* The allow_writable of the manifest entry for a plugin. */
static bool dx_allow_writable(const dx_manifest *m, const char *name,
			      const char *path)
{
	for (size_t i = 0; i < m->plugin_count; i++) {
		const dx_manifest_plugin *pl = &m->plugins[i];
		if ((pl->name && strcmp(pl->name, name) == 0) ||
		    strcmp(pl->path, path) == 0)
			return pl->allow_writable;
	}
	return false;
}

static bool dx_has_io(const dx_plugin *desc)
{
	for (uint32_t i = 0; i < desc->facet_count; i++)
		if (desc->facets[i].kind == DX_FACET_IO)
			return true;
	return false;
}

/* The reload step of t that made e, or NULL. */
static const dx_txn_step *dx_txn_made(const dx_txn *t,
				      const dx_plugin_entry *e)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->steps[i].kind == DX_STEP_RELOAD && t->steps[i].e == e)
			return &t->steps[i];
	return NULL;
}

/* Each of a plugin's users is reloaded after it, so their new instances
 * look up its new build. A user that this transaction itself made, still
 * using the instance now replaced, means the reload came back to where it
 * started: plugins that use each other, which no order of reloads can
 * replace (each new instance would use the other's old one). That is
 * refused at once, naming both; a bound on the steps backs it up. */
static int dx_txn_cascade(dx_txn *t, dx_plugin_entry *old, dx_diag *d)
{
	dx_registry *r = t->s->view.reg;
	dx_plugin_entry *users[64];
	size_t n = dx_registry_users_of(r, old, users, 64);
	const char *was = dx_entry_module(old)->desc->name;
	for (size_t i = 0; i < n && i < 64; i++) {
		if (!dx_txn_made(t, users[i]))
			continue;
		dx_diag_add(d, "reload: %s and %s are in a cycle of plugins "
			       "that use each other; none of them can be "
			       "replaced while the others are loaded: restart "
			       "the host to change them",
			    dx_entry_module(users[i])->desc->name, was);
		return DX_ESTATE;
	}
	if (n > 64 || t->count > 4 * dx_registry_count(r) + 8) {
		dx_diag_add(d, "reload %s: too many plugins use it, or they "
			       "use each other in a cycle; restart the host",
			    was);
		return DX_ESTATE;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = dx_entry_module(users[i])->desc->name;
		size_t at = t->count;
		int rc = dx_txn_reload(t, name, NULL, NULL, d);
		if (rc < 0)
			return rc;
		t->steps[at].cascade = true;
	}
	return 0;
}

int dx_txn_reload(dx_txn *t, const char *name, const char *path,
		  const dx_manifest_plugin *conf, dx_diag *d)
{
	dx_registry *r = t->s->view.reg;
	int i = dx_registry_reloadable(r, name, d);
	if (i < 0)
		return i;
	const dx_module *cur = dx_registry_module(r, (size_t)i);
	if (dx_has_io(cur->desc)) {
		dx_diag_add(d, "reload %s: an IO plugin is reloaded on its own "
			       "(dx ctl reload %s), which swaps the workers "
			       "onto the new build",
			    name, name);
		return DX_ESTATE;
	}
	const char *file = path && *path ? path : cur->path;
	dx_load_opts opts = {conf ? conf->allow_writable
				  : dx_allow_writable(t->m, name, cur->path)};
	char from[64];
	snprintf(from, sizeof from, "%s", cur->desc->version);
	dx_module m;
	int rc = dx_module_open(file, &opts, &m, d);
	dx_plugin_entry *e = NULL;
	bool handoff = false;
	if (rc == 0)
		rc = dx_registry_prepare(r, i, &m, conf, &handoff, &e, d);
	if (rc < 0)
		return rc;
	dx_plugin_entry *old = dx_registry_entry(r, (size_t)i);
	dx_registry_commit(r, e, t->id);
	dx_txn_step *st = dx_txn_push(t, DX_STEP_RELOAD, e);
	if (!st) {
		dx_registry_rollback(r, e, handoff);
		return -ENOMEM;
	}
	st->old = old;
	st->handoff = handoff;
	snprintf(st->from, sizeof st->from, "%s", from);
	snprintf(st->to, sizeof st->to, "%s", dx_entry_desc(e)->version);
	return dx_txn_cascade(t, old, d);
}

int dx_txn_load(dx_txn *t, const dx_manifest_plugin *pl, dx_diag *d)
{
	dx_registry *r = t->s->view.reg;
	int rc = dx_boot_one(pl, r, d);
	if (rc == 0)
		rc = dx_registry_init_last(r, t->id, d);
	if (rc < 0)
		return rc;
	dx_plugin_entry *e = dx_registry_entry(r, dx_registry_count(r) - 1);
	dx_txn_step *st = dx_txn_push(t, DX_STEP_LOAD, e);
	if (!st) {
		dx_registry_drop_last(r);
		return -ENOMEM;
	}
	snprintf(st->to, sizeof st->to, "%s", dx_entry_desc(e)->version);
	return 0;
}

/* Is name one of m's middleware (the chains name it)? */
static bool dx_in_chains(const dx_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->middleware_count; i++)
		if (strcmp(m->middleware[i], name) == 0)
			return true;
	for (size_t i = 0; i < m->route_middleware_count; i++)
		for (size_t k = 0; k < m->route_middleware[i].count; k++)
			if (strcmp(m->route_middleware[i].names[k], name) == 0)
				return true;
	return false;
}

int dx_txn_unload(dx_txn *t, const char *name, dx_diag *d)
{
	dx_server *s = t->s;
	dx_registry *r = s->view.reg;
	int i = dx_registry_unloadable(r, name, d);
	if (i < 0)
		return i;
	const dx_plugin *p = dx_registry_module(r, (size_t)i)->desc;
	for (uint32_t k = 0; k < p->facet_count; k++) {
		if (p->facets[k].kind == DX_FACET_IO &&
		    strcmp(p->facets[k].name, s->backend) == 0) {
			dx_diag_add(d, "unload %s: the host runs on its IO "
				       "backend \"%s\"; swap io to another "
				       "backend first",
				    name, s->backend);
			return DX_ESTATE;
		}
	}
	if (dx_in_chains(t->m, name)) {
		dx_diag_add(d, "unload %s: the manifest's middleware names it; "
			       "apply a manifest without it",
			    name);
		return DX_ESTATE;
	}
	dx_plugin_entry *e = dx_registry_entry(r, (size_t)i);
	char from[64];
	snprintf(from, sizeof from, "%s", p->version);
	dx_registry_detach(r, i, t->id);
	dx_txn_step *st = dx_txn_push(t, DX_STEP_UNLOAD, e);
	if (!st) {
		dx_registry_reattach(r);
		return -ENOMEM;
	}
	snprintf(st->from, sizeof st->from, "%s", from);
	return 0;
}

void dx_txn_abort(dx_txn *t)
{
	dx_registry *r = t->s->view.reg;
	while (t->count > 0) {
		dx_txn_step *st = &t->steps[--t->count];
		switch (st->kind) {
		case DX_STEP_LOAD: dx_registry_drop_last(r); break;
		case DX_STEP_RELOAD:
			dx_registry_rollback(r, st->e, st->handoff);
			break;
		case DX_STEP_UNLOAD: dx_registry_reattach(r); break;
		}
	}
	dx_registry_set_manifest(r, t->before);
}

static uint64_t dx_min_qs(const dx_server *s)
{
	uint64_t min = UINT64_MAX;
	for (unsigned i = 0; i < s->nworkers; i++) {
		uint64_t q = atomic_load_explicit(&s->workers[i].qs,
						  memory_order_acquire);
		if (q < min)
			min = q;
	}
	return min;
}

uint64_t dx_server_min_qs(const dx_server *s)
{
	return dx_min_qs(s);
}

int dx_server_publish(dx_server *s, dx_gen *g, dx_diag *d)
{
	dx_gen *old = atomic_load(&s->view.gen);
	atomic_store_explicit(&s->view.gen, g, memory_order_release);
	old->replaced_by = g->id;
	old->next = s->replaced;
	s->replaced = old;
	dx_metrics_publish(s->view.reg, g);
	for (unsigned i = 0; i < s->nworkers; i++)
		dx_worker_wake(&s->workers[i]);
	for (int t = 0; t < DX_PUBLISH_WAIT_MS * 5; t++) {
		if (dx_min_qs(s) >= g->id)
			return 0;
		usleep(200);
	}
	dx_diag_add(d, "generation %llu is published, but a worker has not "
		       "reached a loop boundary in %d ms (a handler that "
		       "blocks?); requests it starts may still run the old "
		       "build",
		    (unsigned long long)g->id, DX_PUBLISH_WAIT_MS);
	return -ETIMEDOUT;
}

int dx_txn_publish(dx_txn *t, dx_diag *d)
{
	dx_gen *g;
	int rc = dx_gen_build(t->m, t->s->view.reg, t->id, &g, d);
	if (rc < 0) {
		dx_txn_abort(t);
		return rc;
	}
	t->s->manifest = t->m;
	rc = dx_server_publish(t->s, g, d);
	/* Out of service now: tell the instances that left. */
	for (size_t i = 0; i < t->count; i++) {
		const dx_txn_step *st = &t->steps[i];
		if (st->kind != DX_STEP_LOAD)
			dx_entry_retire(st->kind == DX_STEP_RELOAD ? st->old
								    : st->e);
	}
	return rc;
}

void dx_txn_end(dx_txn *t)
{
	dx_registry *r = t->s->view.reg;
	unsigned long long id = (unsigned long long)t->id;
	for (size_t i = 0; i < t->count; i++) {
		const dx_txn_step *st = &t->steps[i];
		switch (st->kind) {
		case DX_STEP_LOAD:
			dx_registry_log(r, DX_LOG_INFO,
					"load %s %s (%s), generation %llu",
					st->name, st->to, st->path, id);
			break;
		case DX_STEP_RELOAD:
			dx_registry_log(r, DX_LOG_INFO,
					"reload %s: %s -> %s (%s), generation "
					"%llu%s%s",
					st->name, st->from, st->to, st->path, id,
					st->handoff ? ", state handed over" : "",
					st->cascade ? ", as it uses a reloaded "
						      "plugin"
						    : "");
			break;
		case DX_STEP_UNLOAD:
			dx_registry_log(r, DX_LOG_INFO,
					"unload %s %s (%s), generation %llu",
					st->name, st->from, st->path, id);
			break;
		}
	}
	free(t->steps);
	*t = (dx_txn){0};
}
