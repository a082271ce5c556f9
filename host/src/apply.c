/* apply.c - `dx ctl apply [MANIFEST]` and SIGHUP: the running host made
 * to match a manifest, as one transaction (txn.h).
 *
 * The new manifest is parsed and checked whole first. What differs from
 * the manifest in force becomes steps: plugins it no longer lists are
 * unloaded (users before what they use, so the reverse of manifest
 * order), plugins whose file, config, routes or own section changed are
 * reloaded with the new entry, plugins it adds are loaded (in manifest
 * order, so a later one can look up an earlier one). Every step is tried
 * even after one failed, so one answer names every reason; then, if any
 * failed, every step is undone. The chains, route_middleware and the
 * live limits come with the generation the steps are published in; a new
 * io.backend is swapped to before the publish (and back if the publish
 * cannot be built); listeners added are bound before the publish and
 * taken by the workers after it, and listeners dropped are closed then
 * (listen.c). Keys only a restart can change are refused by name.
 *
 * Plugins loaded with `dx ctl load` and IO plugins found along plugin_path
 * are not manifest entries: apply leaves them as they are, unless the new
 * manifest lists one, which then takes that entry (a reload). The
 * manifests apply brings are kept until the host exits: plugin configs
 * point into them. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "notify.h"
#include "reload.h"
#include "server_int.h"
#include "timer.h"
#include "txn.h"

/* Top-level keys only a restart can change (and members of two more).
 * metrics: its HTTP endpoint is bound once, at start. */
static const char *const dx_restart_keys[] = {
	"workers",     "pin_cpus", "control", "background",
	"plugin_path", "metrics",  NULL};

static char *dx_json_text(const cJSON *v)
{
	return v ? cJSON_PrintUnformatted(v) : NULL;
}

static void dx_refuse_key(const char *key, const cJSON *was, const cJSON *is,
			  dx_diag *d)
{
	char *a = dx_json_text(was), *b = dx_json_text(is);
	dx_diag_add(d, "%s: changed from %s to %s; it cannot change while the "
		       "host runs: restart the host to change it",
		    key, a ? a : "(absent)", b ? b : "(absent)");
	cJSON_free(a);
	cJSON_free(b);
}

static const cJSON *dx_member(const cJSON *o, const char *key)
{
	return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static bool dx_same(const cJSON *a, const cJSON *b)
{
	return (!a && !b) || (a && b && cJSON_Compare(a, b, true));
}

/* Refuse what only a restart changes; note what changes live. */
static void dx_diff_host(const dx_manifest *was, const dx_manifest *is,
			 cJSON *changes, dx_diag *d)
{
	for (size_t i = 0; dx_restart_keys[i]; i++) {
		const char *k = dx_restart_keys[i];
		const cJSON *a = dx_member(was->root, k), *b = dx_member(is->root, k);
		if (!dx_same(a, b))
			dx_refuse_key(k, a, b, d);
	}
	/* io: only the backend changes live; limits: all but max_message. */
	static const char *const io_restart[] = {"queue_depth", "sqpoll",
						 "zero_copy", NULL};
	const cJSON *io_a = dx_member(was->root, "io"), *io_b = dx_member(is->root, "io");
	for (size_t i = 0; io_restart[i]; i++) {
		const cJSON *a = dx_member(io_a, io_restart[i]);
		const cJSON *b = dx_member(io_b, io_restart[i]);
		if (!dx_same(a, b)) {
			char key[64];
			snprintf(key, sizeof key, "io.%s", io_restart[i]);
			dx_refuse_key(key, a, b, d);
		}
	}
	if (was->limits.max_message != is->limits.max_message) {
		cJSON *a = cJSON_CreateNumber((double)was->limits.max_message);
		cJSON *b = cJSON_CreateNumber((double)is->limits.max_message);
		dx_refuse_key("limits.max_message", a, b, d);
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
	static const char *const live[] = {"middleware", "route_middleware",
					   "limits", "listen", NULL};
	for (size_t i = 0; live[i]; i++)
		if (!dx_same(dx_member(was->root, live[i]),
			     dx_member(is->root, live[i])))
			cJSON_AddItemToArray(changes, cJSON_CreateString(live[i]));
}

/* The plugin an entry stands for: its name; else the loaded plugin
 * from that file; else the name in the file's descriptor (an entry that
 * moved to another file keeps its identity). "" when none. */
static void dx_entry_name(const dx_registry *r, const dx_manifest_plugin *pl,
			  bool peek, char *out, size_t len)
{
	snprintf(out, len, "%s", pl->name ? pl->name : "");
	for (size_t i = 0; !*out && i < dx_registry_count(r); i++) {
		const dx_module *m = dx_registry_module(r, i);
		if (strcmp(m->path, pl->path) == 0)
			snprintf(out, len, "%s", m->desc->name);
	}
	if (*out || !peek)
		return;
	dx_load_opts opts = {pl->allow_writable};
	dx_module m;
	dx_diag ignored = DX_DIAG_INIT; /* the load step reports it */
	if (dx_module_open(pl->path, &opts, &m, &ignored) == 0) {
		snprintf(out, len, "%s", m.desc->name);
		dx_module_close(&m);
	}
	dx_diag_clear(&ignored);
}

/* The entry of m for plugin name, or NULL. */
static const dx_manifest_plugin *dx_entry_in(const dx_registry *r,
					     const dx_manifest *m,
					     const char *name)
{
	for (size_t i = 0; *name && i < m->plugin_count; i++) {
		char n[64];
		dx_entry_name(r, &m->plugins[i], false, n, sizeof n);
		if (strcmp(n, name) == 0)
			return &m->plugins[i];
	}
	return NULL;
}

static bool dx_loaded(const dx_registry *r, const char *name)
{
	return *name && dx_registry_find(r, name) >= 0;
}

static bool dx_entry_changed(const dx_manifest *was, const dx_manifest_plugin *a,
			     const dx_manifest *is, const dx_manifest_plugin *b,
			     const char *name)
{
	return strcmp(a->path, b->path) != 0 ||
	       a->allow_writable != b->allow_writable ||
	       !dx_same(a->config, b->config) || !dx_same(a->routes, b->routes) ||
	       !dx_same(dx_manifest_section(was, name),
			dx_manifest_section(is, name));
}

static void dx_change(cJSON *changes, const char *what, const char *name)
{
	char s[128];
	snprintf(s, sizeof s, "%s %s", what, name);
	cJSON_AddItemToArray(changes, cJSON_CreateString(s));
}

/* Every plugin step apply makes; each failure is in d, none stops the
 * others. Returns how many failed. */
static size_t dx_apply_steps(dx_txn *t, const dx_manifest *was,
			     const dx_manifest *is, cJSON *changes, dx_diag *d)
{
	dx_registry *r = t->s->view.reg;
	size_t failed = 0;
	/* Names first: the registry changes as steps go. */
	size_t n = is->plugin_count;
	char(*names)[64] = calloc(n ? n : 1, sizeof *names);
	if (!names) {
		dx_diag_add(d, "apply: out of memory");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		dx_entry_name(r, &is->plugins[i], true, names[i], sizeof names[i]);
	for (size_t i = was->plugin_count; i-- > 0;) {
		const dx_manifest_plugin *a = &was->plugins[i];
		char name[64];
		dx_entry_name(r, a, false, name, sizeof name);
		bool kept = false;
		for (size_t k = 0; k < n && !kept; k++)
			kept = strcmp(names[k], name) == 0;
		if (kept || !dx_loaded(r, name))
			continue;
		if (dx_txn_unload(t, name, d) < 0)
			failed++;
		else
			dx_change(changes, "unload", name);
	}
	for (size_t i = 0; i < n; i++) {
		const dx_manifest_plugin *b = &is->plugins[i];
		const dx_manifest_plugin *a = dx_entry_in(r, was, names[i]);
		const char *loaded = dx_loaded(r, names[i]) ? names[i] : NULL;
		const char *nm = names[i];
		size_t before = d->count;
		int rc = 0;
		if (!loaded) {
			rc = dx_txn_load(t, b, d);
			if (rc == 0)
				dx_change(changes, "load",
					  dx_registry_module(r, dx_registry_count(r) - 1)
						  ->desc->name);
		} else if (!a || dx_entry_changed(was, a, is, b, nm)) {
			rc = dx_txn_reload(t, nm, b->path, b, d);
			if (rc == 0)
				dx_change(changes, "reload", nm);
		}
		if (rc < 0) {
			/* Say which entry, as at startup, unless it does. */
			bool named = true;
			for (size_t k = before; k < d->count; k++)
				named = named && strstr(d->msgs[k], b->json_path);
			if (!named)
				dx_diag_prefix(d, before, b->json_path);
			failed++;
		}
	}
	free(names);
	return failed;
}

/* A new io.backend, swapped to before the publish. 1 swapped, 0 nothing
 * to do, negative: refused (d says why). */
static int dx_apply_backend(dx_server *s, const dx_manifest *was,
			    const dx_manifest *is, char *from, size_t len,
			    dx_diag *d)
{
	if (strcmp(was->io.backend, is->io.backend) == 0 ||
	    strcmp(is->io.backend, "auto") == 0 ||
	    strcmp(is->io.backend, s->backend) == 0)
		return 0;
	snprintf(from, len, "%s", s->backend);
	int rc = dx_server_swap(s, is->io.backend, d);
	if (rc < 0)
		dx_diag_prefix(d, d->count ? d->count - 1 : 0, "io.backend");
	return rc < 0 ? rc : 1;
}

static int dx_apply(dx_server *s, const char *path, dx_apply_result *out,
		    dx_diag *d)
{
	uint64_t t0 = dx_now_ns();
	memset(out, 0, sizeof *out);
	out->changes = cJSON_CreateArray();
	const char *file = path && *path ? path : s->view.m->file;
	snprintf(out->path, sizeof out->path, "%s", file);
	out->generation = dx_server_generation(s);
	if (!out->changes)
		return -ENOMEM;
	if (!s->started || s->drained) {
		dx_diag_add(d, "apply: the server is not running");
		return DX_ESTATE;
	}
	dx_manifest *is = NULL;
	int rc = dx_manifest_load(file, &is, d);
	if (rc < 0) {
		dx_manifest_free(is);
		return rc;
	}
	const dx_manifest *was = s->manifest;
	dx_diff_host(was, is, out->changes, d);
	dx_txn t;
	dx_txn_begin(&t, s, is);
	size_t failed = d->count ? 1 : 0;
	failed += dx_apply_steps(&t, was, is, out->changes, d);
	/* New listeners are bound now (a port taken fails the change); the
	 * workers take them after the publish. */
	dx_listen_change *lc = NULL;
	if (!failed && dx_listen_prepare(s, is, &lc, d) < 0)
		failed++;
	char from[64] = "";
	int swapped = 0;
	if (!failed)
		swapped = dx_apply_backend(s, was, is, from, sizeof from, d);
	if (failed || swapped < 0) {
		dx_listen_abort(s, lc);
		dx_txn_abort(&t);
		dx_txn_end(&t);
		dx_manifest_free(is);
		cJSON_Delete(out->changes);
		out->changes = cJSON_CreateArray();
		return failed ? DX_ECONFIG : swapped;
	}
	if (swapped)
		dx_change(out->changes, "io.backend", is->io.backend);
	if (cJSON_GetArraySize(out->changes) == 0 &&
	    dx_same(was->root, is->root)) {
		/* Nothing differs: nothing to publish. */
		dx_txn_abort(&t);
		dx_txn_end(&t);
		dx_manifest_free(is);
		return 0;
	}
	rc = dx_txn_publish(&t, d);
	if (rc < 0 && rc != -ETIMEDOUT) {
		dx_listen_abort(s, lc);
		if (swapped)
			dx_server_swap(s, from, d);
		dx_txn_end(&t);
		dx_manifest_free(is);
		cJSON_Delete(out->changes);
		out->changes = cJSON_CreateArray();
		return rc;
	}
	dx_listen_commit(s, lc);
	out->generation = t.id;
	dx_registry_keep_manifest(s->view.reg, is);
	dx_txn_end(&t);
	char *list = cJSON_PrintUnformatted(out->changes);
	dx_registry_log(s->view.reg, DX_LOG_INFO,
			"apply %s: generation %llu, changes %s", file,
			(unsigned long long)out->generation, list ? list : "");
	cJSON_free(list);
	dx_server_reap(s);
	out->ms = (double)(dx_now_ns() - t0) / 1e6;
	return rc;
}

/* The service manager hears of it (notify.h): reloading, then ready
 * again whether the manifest went in or was refused. */
int dx_server_apply(dx_server *s, const char *path, dx_apply_result *out,
		    dx_diag *d)
{
	dx_notify_reloading(path && *path ? path : s->view.m->file);
	int rc = dx_apply(s, path, out, d);
	dx_notify_ready(s, s->view.reg);
	return rc;
}
