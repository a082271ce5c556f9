/* registry.h - the loaded plugins, their facets by (kind, name), and routes.
 *
 * Lifecycle: add every module (duplicates are refused here, naming both
 * plugins), then init_all (manifest order; a failure finalises the ones
 * already initialised in reverse and reports the plugin's own message),
 * then fini_all (reverse order) and free (unloads the modules).
 * Not thread-safe: the host builds it on the main thread before workers
 * start; after that it is read-only. */
#ifndef DX_HOST_REGISTRY_H
#define DX_HOST_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "diag.h"
#include "loader.h"

typedef struct dx_registry dx_registry;
typedef struct dx_plugin_entry dx_plugin_entry;

/* A callback the host still owes a plugin instance (a timer, a post, a
 * watch, a stream, a background task): an instance is not finalised
 * while it holds any. Any thread; NULL is nothing. */
void dx_entry_hold(dx_plugin_entry *e);
void dx_entry_release(dx_plugin_entry *e);

/* Where host and plugin log lines go. who is the plugin name or "dx". */
typedef void (*dx_log_sink)(void *ud, int level, const char *who,
			    const char *msg);

typedef struct dx_registry_opts {
	dx_log_sink log;  /* NULL: stderr */
	void *log_ud;
	int log_level;    /* lines above this level are dropped */
	unsigned workers; /* what host->worker_count() answers */
	unsigned bg_threads; /* background threads (0: none until started) */
	unsigned bg_queue;   /* background queue length (0: 1024) */
	bool dry_run;        /* dx-host --check: host->dry_run() says so */
} dx_registry_opts;

/* A route as the router sees it. */
typedef struct dx_route_ref {
	const dx_route *route;
	void *self;         /* the providing plugin's instance */
	const char *plugin; /* its name */
	uint16_t id;        /* served under (the manifest may move it) */
} dx_route_ref;

dx_registry *dx_registry_new(const dx_registry_opts *opts);
/* Finalise whatever is still initialised, unload everything, free. */
void dx_registry_free(dx_registry *r);

/* Take ownership of m (also on failure: it is closed then). config is the
 * plugin's config object (NULL: empty) and must outlive the registry;
 * config_path names it in messages ("plugins[2].config"). */
int dx_registry_add(dx_registry *r, dx_module *m, const cJSON *config,
		    const char *config_path, dx_diag *d);
/* Same, with the manifest's route ids: routes is an object of route name
 * to id (NULL: the plugin's own), routes_path names it in messages. */
int dx_registry_add_routes(dx_registry *r, dx_module *m, const cJSON *config,
			   const char *config_path, const cJSON *routes,
			   const char *routes_path, dx_diag *d);

int dx_registry_init_all(dx_registry *r, dx_diag *d);
void dx_registry_fini_all(dx_registry *r);

size_t dx_registry_count(const dx_registry *r);
const dx_module *dx_registry_module(const dx_registry *r, size_t i);
/* Index of plugin name, or -1. */
int dx_registry_find(const dx_registry *r, const char *name);

int dx_registry_lookup(const dx_registry *r, uint32_t kind, const char *name,
		       dx_facet_ref *out);
/* host->lookup: as dx_registry_lookup, and the caller now uses the
 * provider (held until the caller is finalised; see registry_int.h). */
int dx_registry_lookup_by(dx_plugin_entry *caller, uint32_t kind,
			  const char *name, dx_facet_ref *out);
/* Any facet of kind (the first registered), or -ENOENT. */
int dx_registry_lookup_kind(const dx_registry *r, uint32_t kind,
			    dx_facet_ref *out);
/* The order io.backend "auto" tries IO facets in, and the order plugins
 * found along plugin_path are loaded in: backends with true completions
 * (DX_IO_CAP_NATIVE in the vtable's caps) before those that emulate them
 * over readiness, then by facet name. Each plugin says which it is, so the
 * host names none, and the order never depends on load order or on what
 * a directory listing returns. Negative when a goes first. */
int dx_io_facet_cmp(const dx_facet *a, const dx_facet *b);
/* Every loaded IO facet's name in dx_io_facet_cmp order: writes at most
 * max names, returns how many there are. */
size_t dx_registry_io_names(const dx_registry *r, const char **names,
			    size_t max);

/* The route with this id, or NULL. O(1). */
const dx_route_ref *dx_registry_route(const dx_registry *r, uint16_t id);

/* Call fn for every counter plugins made (name is "<plugin>.<name>"). */
void dx_registry_each_counter(const dx_registry *r,
			      void (*fn)(void *ud, const char *name,
					 const char *help, uint64_t value),
			      void *ud);

/* The metrics store (metrics.h): plugins' metrics, route names. */
struct dx_metrics;
struct dx_metrics *dx_registry_metrics(const dx_registry *r);

/* Route host->post to a running server (target NULL: stopped, posts are
 * refused). Posts made before the first call are delivered now. */
typedef int (*dx_poster)(void *target, int worker, void (*fn)(void *),
			 void *arg, dx_plugin_entry *holder);
void dx_registry_set_poster(dx_registry *r, dx_poster poster, void *target);
/* host->post for plugin code: deliver now, or keep until the server runs. */
int dx_registry_post(dx_registry *r, int worker, void (*fn)(void *arg),
		     void *arg);
/* The same for a plugin's post: holder (held by the caller) is released
 * once fn has run. */
int dx_registry_post_held(dx_registry *r, int worker, void (*fn)(void *arg),
			  void *arg, dx_plugin_entry *holder);

/* Start the background threads (after init_all). fini_all stops them
 * first: queued tasks are dropped before any plugin is finalised. */
int dx_registry_start_background(dx_registry *r);
/* Background queue figures for the control socket. */
struct dx_bg_stats;
void dx_registry_bg_stats(dx_registry *r, struct dx_bg_stats *out);

/* A plugin's control command: its answer (malloc'd JSON) or NULL with
 * the reason in why. -ENOENT when no plugin registered cmd. */
int dx_registry_control(dx_registry *r, const char *cmd, const char *request,
			char **answer, char *why, size_t why_len);

/* The manifest, for host->section: its plugin sections and its directory
 * (borrowed; must outlive the registry). */
struct dx_manifest;
void dx_registry_set_manifest(dx_registry *r, const struct dx_manifest *m);
/* Free m with the registry (a manifest `apply` brought: plugin configs
 * point into it). */
void dx_registry_keep_manifest(dx_registry *r, struct dx_manifest *m);

/* ---- reload (registry_reload.c), main thread ---- */

/* The index of plugin name if a reload can replace it, else negative with
 * the reason in d. */
int dx_registry_reloadable(const dx_registry *r, const char *name,
			   dx_diag *d);
/* A new instance of plugins[index] from m (taken over, also on failure):
 * the same name, facet kinds a reload can swap, no clash with any other
 * plugin, initialised with conf's config and routes (a manifest entry;
 * NULL: the old instance's), and handed its
 * state (*handoff: whether both had the hooks). Nothing is published: the
 * old instance still serves. 0 with *out, or negative with the reason in
 * d, the message the host gives at startup for the same problem. */
struct dx_manifest_plugin;
int dx_registry_prepare(dx_registry *r, int index, dx_module *m,
			const struct dx_manifest_plugin *conf, bool *handoff,
			dx_plugin_entry **out, dx_diag *d);
/* Put prepared e in its old instance's place (plugin table, facets,
 * routes) as of generation gen; the old instance retires, to be
 * finalised by dx_registry_reap once no generation up to gen - 1 lives
 * and nothing holds it. */
void dx_registry_commit(dx_registry *r, dx_plugin_entry *e, uint64_t gen);
/* Undo the last commit (when the new generation could not be built):
 * the old instance is back (given its state back when handoff says the
 * state went to e: e exports, the old instance imports), e is finalised
 * and unloaded. */
void dx_registry_rollback(dx_registry *r, dx_plugin_entry *e, bool handoff);
/* The live plugins that use e's facets (they looked one up), at most max
 * of them into out; returns how many there are. */
size_t dx_registry_users_of(const dx_registry *r, const dx_plugin_entry *e,
			    dx_plugin_entry **out, size_t max);
/* plugins[i]'s entry, and an entry's module. */
dx_plugin_entry *dx_registry_entry(const dx_registry *r, size_t i);
const dx_module *dx_entry_module(const dx_plugin_entry *e);
/* The manifest host->section reads (dx_registry_set_manifest). */
const struct dx_manifest *dx_registry_manifest(const dx_registry *r);
/* Tell an instance that is out of service so (its descriptor's retire,
 * ABI 1.1), once. */
void dx_entry_retire(dx_plugin_entry *e);
/* A prepared (or committed) instance's descriptor. */
const dx_plugin *dx_entry_desc(const dx_plugin_entry *e);
/* Keep the instance retired last from ever being finalised (something
 * may still run its code). */
void dx_registry_hold_retired(dx_registry *r);
/* Finalise and unload a prepared e that is not going to be committed. */
void dx_registry_abandon(dx_registry *r, dx_plugin_entry *e);
/* Finalise and unload every retiring instance that no generation from
 * oldest_live on can run and that holds nothing; returns how many are
 * left. */
size_t dx_registry_reap(dx_registry *r, uint64_t oldest_live);
/* Call fn for each retiring instance (fn may be NULL); returns how many. */
size_t dx_registry_retiring(const dx_registry *r,
			    void (*fn)(void *ud, const dx_module *m,
				       uint64_t last_gen, long holds),
			    void *ud);
/* The generation plugins[i] was published in (0: at start). */
uint64_t dx_registry_plugin_gen(const dx_registry *r, size_t i);

/* ---- load and unload (registry_reload.c), main thread ---- */

/* Initialise the plugin added last (dx_boot_one) as part of generation
 * gen. On failure it is removed and unloaded, with init's reason in d. */
int dx_registry_init_last(dx_registry *r, uint64_t gen, dx_diag *d);
/* Finalise and remove the plugin added last (its generation could not
 * be built). */
void dx_registry_drop_last(dx_registry *r);
/* The index of plugin name if it can be unloaded, else negative with the
 * reason in d (unknown; a SERVICE or FORGE_DRIVER facet others may hold). */
int dx_registry_unloadable(const dx_registry *r, const char *name,
			   dx_diag *d);
/* Take plugins[index] out of the tables; it retires like a replaced
 * instance, after generation gen - 1. */
void dx_registry_detach(dx_registry *r, int index, uint64_t gen);
/* Undo the last detach: back where it was. */
void dx_registry_reattach(dx_registry *r);
/* Keep json (a plugin entry given at run time) until the registry is
 * freed: the plugin's config and routes point into it. */
void dx_registry_keep_json(dx_registry *r, cJSON *json);

/* Log through the registry's sink as "dx". */
void dx_registry_log(const dx_registry *r, int level, const char *fmt, ...)
	DX_PRINTF(3, 4);

#endif
