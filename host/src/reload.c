/* reload.c - a new build of a plugin in a running server.
 *
 * The order is what makes it safe: load and check the file exactly as at
 * startup; initialise the new instance and hand it the old one's state
 * while the old one still serves; swap it into the registry and build a
 * new generation from it; publish the generation and wake every worker;
 * answer only once every worker has adopted it (so a request a client
 * sends after the answer runs on the new code). The old instance is
 * finalised and unloaded later, by dx_server_reap, when no worker can
 * start a request on an old generation, no deferred request still runs on
 * one, and nothing the old instance set up (timers, posts, watches,
 * streams, background tasks) can call it any more. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "reload.h"
#include "server_int.h"

/* How long a reload waits for the workers to pass a loop boundary: a
 * worker that does not is stuck in a handler, and the reload says so. */
#define DX_RELOAD_WAIT_MS 10000

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

/* Publish g and wait until every worker adopted it. */
static int dx_publish(dx_server *s, dx_gen *g, dx_diag *d)
{
	dx_gen *old = atomic_load(&s->view.gen);
	atomic_store_explicit(&s->view.gen, g, memory_order_release);
	old->replaced_by = g->id;
	old->next = s->replaced;
	s->replaced = old;
	for (unsigned i = 0; i < s->nworkers; i++)
		dx_worker_wake(&s->workers[i]);
	for (int t = 0; t < DX_RELOAD_WAIT_MS * 5; t++) {
		if (dx_min_qs(s) >= g->id)
			return 0;
		usleep(200);
	}
	dx_diag_add(d, "generation %llu is published, but a worker has not "
		       "reached a loop boundary in %d ms (a handler that "
		       "blocks?); requests it starts may still run the old "
		       "build",
		    (unsigned long long)g->id, DX_RELOAD_WAIT_MS);
	return -ETIMEDOUT;
}

static double dx_ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The IO facet of desc that the server runs on now, or NULL. */
static const char *dx_backend_of(const dx_server *s, const dx_plugin *desc)
{
	for (uint32_t i = 0; i < desc->facet_count; i++)
		if (desc->facets[i].kind == DX_FACET_IO &&
		    strcmp(desc->facets[i].name, s->backend) == 0)
			return desc->facets[i].name;
	return NULL;
}

static bool dx_has_io(const dx_plugin *desc)
{
	for (uint32_t i = 0; i < desc->facet_count; i++)
		if (desc->facets[i].kind == DX_FACET_IO)
			return true;
	return false;
}

/* An IO plugin: nothing in a generation points to it; what runs its code
 * is each worker's backend instance. When the server runs on it, swap
 * every worker onto an instance of the new build (as `swap io` does: no
 * connection closes), and the old build is free once all have swapped. */
static int dx_reload_io(dx_server *s, const dx_plugin *old, dx_plugin_entry *e,
			dx_diag *d)
{
	dx_registry *r = s->view.reg;
	char backend[64] = "";
	if (dx_backend_of(s, old))
		snprintf(backend, sizeof backend, "%s", s->backend);
	/* Retire after the current generation: no generation refers to an
	 * IO plugin, so only holds (and the swap below) keep it. */
	dx_registry_commit(r, e, atomic_load(&s->view.gen)->id);
	if (!*backend)
		return 0;
	int rc = dx_server_swap(s, backend, d);
	if (rc < 0) {
		dx_registry_rollback(r, e);
		return rc;
	}
	if (atomic_load(&s->view.swapped) < s->nworkers) {
		/* A worker did not swap in time: the old build may still run
		 * there, so it is never unloaded (kept held). */
		dx_registry_hold_retired(r);
		dx_diag_add(d, "a worker did not move to the new build of "
			       "%s in time; the old build stays loaded",
			    backend);
		return -ETIMEDOUT;
	}
	return 0;
}

/* The start every change shares: the server must be running. */
static int dx_running(const dx_server *s, const char *what, const char *name,
		      dx_diag *d)
{
	if (s->started && !s->drained)
		return 0;
	dx_diag_add(d, "%s%s%s: the server is not running", what,
		    name ? " " : "", name ? name : "");
	return DX_ESTATE;
}

int dx_server_reload(dx_server *s, const char *name, const char *path,
		     dx_reload_result *out, dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (dx_running(s, "reload", name, d) < 0)
		return DX_ESTATE;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dx_registry *r = s->view.reg;
	int i = dx_registry_reloadable(r, name, d);
	if (i < 0)
		return i;
	const dx_module *cur = dx_registry_module(r, (size_t)i);
	const char *file = path && *path ? path : cur->path;
	dx_load_opts opts = {dx_allow_writable(s->view.m, name, cur->path)};
	snprintf(out->from, sizeof out->from, "%s", cur->desc->version);
	dx_module m;
	int rc = dx_module_open(file, &opts, &m, d);
	dx_plugin_entry *e = NULL;
	if (rc == 0)
		rc = dx_registry_prepare(r, i, &m, &out->handoff, &e, d);
	if (rc < 0)
		return rc;
	uint64_t id = atomic_load(&s->view.gen)->id;
	if (dx_has_io(dx_entry_desc(e))) {
		rc = dx_reload_io(s, cur->desc, e, d);
		if (rc < 0 && rc != -ETIMEDOUT)
			return rc;
	} else {
		dx_registry_commit(r, e, ++id);
		dx_gen *g;
		rc = dx_gen_build(s->view.m, r, id, &g, d);
		if (rc < 0) {
			dx_registry_rollback(r, e);
			return rc;
		}
		rc = dx_publish(s, g, d);
	}
	cur = dx_registry_module(r, (size_t)i);
	snprintf(out->to, sizeof out->to, "%s", cur->desc->version);
	snprintf(out->path, sizeof out->path, "%s", cur->path);
	out->generation = id;
	dx_registry_log(r, DX_LOG_INFO,
			"reload %s: %s -> %s (%s), generation %llu%s", name,
			out->from, out->to, out->path, (unsigned long long)id,
			out->handoff ? ", state handed over" : "");
	dx_server_reap(s);
	out->ms = dx_ms_since(&t0);
	return rc;
}

size_t dx_server_reap(dx_server *s)
{
	uint64_t min_qs = dx_min_qs(s);
	uint64_t oldest = atomic_load(&s->view.gen)->id;
	size_t left = 0;
	for (dx_gen **pp = &s->replaced; *pp;) {
		dx_gen *g = *pp;
		if (g->replaced_by <= min_qs &&
		    atomic_load_explicit(&g->refs, memory_order_acquire) == 0) {
			*pp = g->next;
			dx_gen_free(g);
			continue;
		}
		if (g->id < oldest)
			oldest = g->id;
		left++;
		pp = &g->next;
	}
	return left + dx_registry_reap(s->view.reg, oldest);
}

uint64_t dx_server_generation(const dx_server *s)
{
	return atomic_load(&((dx_server *)s)->view.gen)->id;
}

/* ---- load and unload ---- */

int dx_server_load(dx_server *s, const cJSON *entry, dx_reload_result *out,
		   dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (dx_running(s, "load", NULL, d) < 0)
		return DX_ESTATE;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dx_registry *r = s->view.reg;
	/* The plugin's config and routes point into the entry for as long
	 * as the plugin is loaded: the registry keeps a copy. */
	cJSON *copy = cJSON_Duplicate(entry, 1);
	if (!copy)
		return -ENOMEM;
	dx_manifest_plugin pl;
	int rc = dx_manifest_plugin_parse(s->view.m, copy, "plugin", &pl, d);
	if (rc < 0) {
		cJSON_Delete(copy);
		return rc;
	}
	rc = dx_boot_one(&pl, r, d);
	uint64_t id = atomic_load(&s->view.gen)->id + 1;
	if (rc == 0)
		rc = dx_registry_init_last(r, id, d);
	dx_gen *g = NULL;
	if (rc == 0) {
		dx_registry_keep_json(r, copy);
		copy = NULL;
		rc = dx_gen_build(s->view.m, r, id, &g, d);
		if (rc < 0)
			dx_registry_drop_last(r);
	}
	cJSON_Delete(copy);
	if (rc == 0) {
		const dx_module *m =
			dx_registry_module(r, dx_registry_count(r) - 1);
		snprintf(out->name, sizeof out->name, "%s", m->desc->name);
		snprintf(out->to, sizeof out->to, "%s", m->desc->version);
		snprintf(out->path, sizeof out->path, "%s", m->path);
		out->generation = id;
		rc = dx_publish(s, g, d);
		dx_registry_log(r, DX_LOG_INFO,
				"load %s %s (%s), generation %llu",
				m->desc->name, out->to, out->path,
				(unsigned long long)id);
	}
	dx_manifest_plugin_free(&pl);
	out->ms = dx_ms_since(&t0);
	return rc;
}

/* Is name one of the manifest's middleware (the chains name it)? */
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

int dx_server_unload(dx_server *s, const char *name, dx_reload_result *out,
		     dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (dx_running(s, "unload", name, d) < 0)
		return DX_ESTATE;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dx_registry *r = s->view.reg;
	int i = dx_registry_unloadable(r, name, d);
	if (i < 0)
		return i;
	const dx_module *m = dx_registry_module(r, (size_t)i);
	if (dx_backend_of(s, m->desc)) {
		dx_diag_add(d, "unload %s: the host runs on its IO backend "
			       "\"%s\"; swap io to another backend first",
			    name, s->backend);
		return DX_ESTATE;
	}
	if (dx_in_chains(s->view.m, name)) {
		dx_diag_add(d, "unload %s: the manifest's middleware names it; "
			       "restart with a manifest without it",
			    name);
		return DX_ESTATE;
	}
	snprintf(out->from, sizeof out->from, "%s", m->desc->version);
	snprintf(out->path, sizeof out->path, "%s", m->path);
	uint64_t id = atomic_load(&s->view.gen)->id + 1;
	dx_registry_detach(r, i, id);
	dx_gen *g;
	int rc = dx_gen_build(s->view.m, r, id, &g, d);
	if (rc < 0) {
		dx_registry_reattach(r);
		return rc;
	}
	out->generation = id;
	rc = dx_publish(s, g, d);
	dx_registry_log(r, DX_LOG_INFO, "unload %s %s (%s), generation %llu",
			name, out->from, out->path, (unsigned long long)id);
	dx_server_reap(s);
	out->ms = dx_ms_since(&t0);
	return rc;
}
