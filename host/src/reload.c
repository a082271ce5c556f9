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
#include <unistd.h>

#include "reload.h"
#include "server_int.h"
#include "timer.h"
#include "txn.h"

static double dx_ms_since(uint64_t t0)
{
	return (double)(dx_now_ns() - t0) / 1e6;
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
static int dx_reload_io(dx_server *s, const char *name, const char *path,
			dx_reload_result *out, dx_diag *d)
{
	dx_registry *r = s->view.reg;
	int i = dx_registry_reloadable(r, name, d);
	if (i < 0)
		return i;
	const dx_module *cur = dx_registry_module(r, (size_t)i);
	char backend[64] = "";
	if (dx_backend_of(s, cur->desc))
		snprintf(backend, sizeof backend, "%s", s->backend);
	dx_load_opts opts = {false};
	for (size_t k = 0; k < s->manifest->plugin_count; k++) {
		const dx_manifest_plugin *pl = &s->manifest->plugins[k];
		if ((pl->name && strcmp(pl->name, name) == 0) ||
		    strcmp(pl->path, cur->path) == 0)
			opts.allow_writable = pl->allow_writable;
	}
	dx_module m;
	int rc = dx_module_open(path && *path ? path : cur->path, &opts, &m, d);
	dx_plugin_entry *e = NULL;
	if (rc == 0)
		rc = dx_registry_prepare(r, i, &m, NULL, &out->handoff, &e, d);
	if (rc < 0)
		return rc;
	/* Retire after the current generation: no generation refers to an
	 * IO plugin, so only holds (and the swap below) keep it. */
	dx_plugin_entry *old = dx_registry_entry(r, (size_t)i);
	dx_registry_commit(r, e, atomic_load(&s->view.gen)->id);
	if (!*backend) {
		dx_entry_retire(old);
		return 0;
	}
	rc = dx_server_swap(s, backend, d);
	if (rc < 0) {
		dx_registry_rollback(r, e, out->handoff);
		return rc;
	}
	dx_entry_retire(old);
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

/* The result of a one-plugin change: its first step, and the plugins
 * reloaded with it. */
static void dx_result_of(const dx_txn *t, dx_reload_result *out)
{
	if (!t->count)
		return;
	const dx_txn_step *st = &t->steps[0];
	snprintf(out->name, sizeof out->name, "%s", st->name);
	snprintf(out->from, sizeof out->from, "%s", st->from);
	snprintf(out->to, sizeof out->to, "%s", st->to);
	snprintf(out->path, sizeof out->path, "%s", st->path);
	out->handoff = st->handoff;
	out->generation = t->id;
	size_t at = 0;
	for (size_t i = 1; i < t->count; i++) {
		int n = snprintf(out->also + at, sizeof out->also - at, "%s%s",
				 at ? "," : "", t->steps[i].name);
		if (n < 0 || (size_t)n >= sizeof out->also - at)
			break;
		at += (size_t)n;
	}
}

/* The end every one-plugin change shares: publish when its step went in
 * (rc 0), else undo it; then the result, and the transaction freed. */
static int dx_change_end(dx_txn *t, int rc, dx_reload_result *out,
			 dx_diag *d)
{
	if (rc == 0)
		rc = dx_txn_publish(t, d);
	else
		dx_txn_abort(t);
	dx_result_of(t, out);
	dx_txn_end(t);
	return rc;
}

int dx_server_reload(dx_server *s, const char *name, const char *path,
		     dx_reload_result *out, dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (dx_running(s, "reload", name, d) < 0)
		return DX_ESTATE;
	uint64_t t0 = dx_now_ns();
	dx_registry *r = s->view.reg;
	int i = dx_registry_find(r, name);
	const dx_module *cur = i >= 0 ? dx_registry_module(r, (size_t)i) : NULL;
	int rc;
	if (cur && dx_has_io(cur->desc)) {
		snprintf(out->name, sizeof out->name, "%s", name);
		snprintf(out->from, sizeof out->from, "%s", cur->desc->version);
		rc = dx_reload_io(s, name, path, out, d);
		if (rc < 0 && rc != -ETIMEDOUT)
			return rc;
		cur = dx_registry_module(r, (size_t)i);
		snprintf(out->to, sizeof out->to, "%s", cur->desc->version);
		snprintf(out->path, sizeof out->path, "%s", cur->path);
		out->generation = atomic_load(&s->view.gen)->id;
		dx_registry_log(r, DX_LOG_INFO,
				"reload %s: %s -> %s (%s), generation %llu%s",
				name, out->from, out->to, out->path,
				(unsigned long long)out->generation,
				out->handoff ? ", state handed over" : "");
	} else {
		dx_txn t;
		dx_txn_begin(&t, s, s->manifest);
		rc = dx_change_end(&t, dx_txn_reload(&t, name, path, NULL, d),
				  out, d);
		if (rc < 0 && rc != -ETIMEDOUT)
			return rc;
	}
	dx_server_reap(s);
	out->ms = dx_ms_since(t0);
	return rc;
}

size_t dx_server_reap(dx_server *s)
{
	uint64_t min_qs = dx_server_min_qs(s);
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
	uint64_t t0 = dx_now_ns();
	dx_registry *r = s->view.reg;
	/* The plugin's config and routes point into the entry for as long
	 * as the plugin is loaded: the registry keeps a copy. */
	cJSON *copy = cJSON_Duplicate(entry, 1);
	if (!copy)
		return -ENOMEM;
	dx_manifest_plugin pl;
	int rc = dx_manifest_plugin_parse(s->manifest, copy, "plugin", &pl, d);
	if (rc < 0) {
		cJSON_Delete(copy);
		return rc;
	}
	dx_txn t;
	dx_txn_begin(&t, s, s->manifest);
	rc = dx_txn_load(&t, &pl, d);
	if (rc == 0) {
		dx_registry_keep_json(r, copy);
		copy = NULL;
	}
	rc = dx_change_end(&t, rc, out, d);
	cJSON_Delete(copy);
	dx_manifest_plugin_free(&pl);
	out->ms = dx_ms_since(t0);
	return rc;
}

int dx_server_unload(dx_server *s, const char *name, dx_reload_result *out,
		     dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (dx_running(s, "unload", name, d) < 0)
		return DX_ESTATE;
	uint64_t t0 = dx_now_ns();
	dx_txn t;
	dx_txn_begin(&t, s, s->manifest);
	int rc = dx_change_end(&t, dx_txn_unload(&t, name, d), out, d);
	dx_server_reap(s);
	out->ms = dx_ms_since(t0);
	return rc;
}
