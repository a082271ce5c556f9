/* registry_int.h - what registry.c and hostapi.c share; not an interface. */
#ifndef DX_HOST_REGISTRY_INT_H
#define DX_HOST_REGISTRY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bgqueue.h"
#include "config.h"
#include "metrics.h"
#include "registry.h"

/* One loaded plugin. Allocated on its own and never moved: the plugin keeps
 * &api (its door into the host) until fini, and hostapi.c finds the entry
 * from that pointer, so api must stay the first member. */
/* One of a plugin's routes and the id it is served under: its own, or
 * the manifest's (plugins[].routes). */
typedef struct dx_entry_route {
	const dx_route *route;
	uint16_t id;
} dx_entry_route;

typedef struct dx_plugin_entry {
	dx_host_api api;
	dx_registry *reg;
	dx_module mod;
	dx_config *config;
	void *self;
	bool initialised;
	dx_diag errors; /* what fail() and config errors recorded */
	dx_entry_route *routes; /* every ROUTES facet's routes, in order */
	size_t route_count;
	/* The manifest's plugins[].config (borrowed; NULL: none), for a
	 * reload's new instance. */
	const cJSON *config_json;
	/* The manifest's plugins[].routes for it (borrowed) and its path. */
	const cJSON *routes_json;
	char *routes_path;
	uint64_t gen; /* the generation it was published in */
	/* During its handoff_import: the exporter's version. */
	const char *handoff_from;
	/* The plugins whose facets it looked up (host->lookup): it may call
	 * their vtables until it is finalised, so each is held (a hold on
	 * the provider) till then, and none can be reloaded or unloaded
	 * without it. Under the registry's dep_lock. */
	struct dx_use {
		struct dx_plugin_entry *provider;
		uint32_t kind;
		const char *name; /* the facet's, in the provider's .so */
	} *uses;
	size_t use_count;
	/* Callbacks the host still owes this instance (timers, posts,
	 * watches, streams, background tasks): it is not finalised while
	 * any is held. */
	_Atomic long holds;
	/* While a new instance is prepared: the one it replaces. */
	struct dx_plugin_entry *replaces;
	size_t detached_at; /* its index before an unload took it out */
	bool retire_called; /* its descriptor's retire ran */
	char **paths; /* config_file's answers, freed with the entry */
	size_t path_count;
	/* Retiring: the last generation that could run it, and the list. */
	uint64_t last_gen;
	struct dx_plugin_entry *next_retiring;
} dx_plugin_entry;

typedef struct dx_facet_entry {
	uint32_t kind;
	const char *name;
	const void *vtable;
	dx_plugin_entry *owner;
} dx_facet_entry;

/* A post made before the workers run. */
struct dx_early_post {
	struct dx_early_post *next;
	int worker;
	void (*fn)(void *arg);
	void *arg;
	dx_plugin_entry *holder;
};

struct dx_registry {
	dx_registry_opts opts;
	/* Where host->post goes once the server runs (set by server.c);
	 * until then posts wait in early_posts. Both under post_lock. */
	pthread_mutex_t post_lock;
	pthread_mutex_t dep_lock; /* every entry's uses */
	dx_poster poster;
	void *poster_target;
	struct dx_early_post *early_posts;
	dx_plugin_entry **plugins;
	size_t count;
	size_t cap;
	/* Instances replaced by a reload, not yet finalised (main thread). */
	dx_plugin_entry *retiring;
	/* Plugin entries given at run time (dx ctl load), kept for good. */
	cJSON **kept_json;
	size_t kept_count;
	dx_facet_entry *facets;
	size_t facet_count;
	size_t facet_cap;
	dx_route_ref *routes; /* 65,536 slots, indexed by route id */
	dx_metrics *metrics; /* plugins' metrics, route names (metrics.h) */
	dx_bgqueue *bg;
	const struct dx_manifest *manifest; /* for host->section */
	/* Made on demand, freed with the registry: the manifest's root node
	 * (its children are the sections) and its directory. */
	dx_config *sections;
	dx_config *manifest_dir;
	/* Those of manifests no longer in force, and the manifests `apply`
	 * brought: plugins keep pointers into them until their fini. */
	dx_config **kept_cfg;
	size_t kept_cfg_count;
	struct dx_manifest **kept_manifests;
	size_t kept_manifest_count;
	struct dx_ctl_cmd {
		char *cmd;
		char *(*fn)(void *arg, const char *request);
		void *arg;
		dx_plugin_entry *owner;
	} *ctl_cmds;
	size_t ctl_count;
};

/* registry.c, for registry_reload.c. */
void dx_entry_free(dx_plugin_entry *e);
int dx_entry_routes(dx_plugin_entry *e, const cJSON *routes,
		    const char *routes_path, dx_diag *d);
void dx_init_failure(const dx_plugin_entry *e, int rc, dx_diag *d);
/* Warn when e maps its file in place (loader.h, in_place). */
void dx_entry_warn_in_place(const dx_plugin_entry *e);
void dx_registry_ctl_drop(dx_registry *r, const dx_plugin_entry *owner);
/* Is e replaced or unloaded, waiting to be finalised? */
bool dx_registry_is_retiring(const dx_registry *r, const dx_plugin_entry *e);
/* Let go of what e used (its providers' holds), once e is finalised. */
void dx_entry_unuse(dx_plugin_entry *e);
/* How many live plugins use e; buf gets them, as "plugin \"forge\"
 * uses its FORGE_DRIVER facet \"process\"", joined by "; ". */
size_t dx_registry_users(const dx_registry *r, const dx_plugin_entry *e,
			 char *buf, size_t len);

/* Fill e->api with the v1.0 host API table. */
void dx_hostapi_fill(dx_plugin_entry *e);
/* Emit a log line through the registry's sink. */
void dx_registry_emit(const dx_registry *r, int level, const char *who,
		      const char *fmt, va_list ap);

#endif
