/* boot.c - load, check and initialise the manifest's plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "dl.h"
#include "loader.h"

static int dx_boot_one(const dx_manifest_plugin *mp, dx_registry *r,
		       dx_diag *d)
{
	dx_load_opts opts = {.allow_writable = mp->allow_writable};
	dx_module mod;
	size_t before = d->count;
	int rc = dx_module_open(mp->path, &opts, &mod, d);
	if (rc < 0) {
		/* The loader names the file; say which manifest entry it was. */
		dx_diag_prefix(d, before, mp->json_path);
		return rc;
	}
	if (mp->name && strcmp(mp->name, mod.desc->name) != 0) {
		dx_diag_add(d,
			    "%s.name: the manifest asks for plugin \"%s\" but %s "
			    "is plugin \"%s\" %s",
			    mp->json_path, mp->name, mp->path, mod.desc->name,
			    mod.desc->version);
		dx_module_close(&mod);
		return DX_ENAME;
	}
	return dx_registry_add_routes(r, &mod, mp->config, mp->config_path,
				      mp->routes, mp->routes_path, d);
}

static bool dx_has_io(const dx_registry *r)
{
	for (size_t i = 0; i < dx_registry_count(r); i++) {
		const dx_plugin *p = dx_registry_module(r, i)->desc;
		for (uint32_t k = 0; k < p->facet_count; k++)
			if (p->facets[k].kind == DX_FACET_IO)
				return true;
	}
	return false;
}

/* Load the backend plugin name from plugin_path, if it is there. */
static int dx_boot_implicit(const dx_manifest *m, const char *name,
			    dx_registry *r, dx_diag *d)
{
	for (size_t i = 0; i < m->plugin_path_count; i++) {
		char path[4096];
		const char *fmt[] = {"%s/%s%s", "%s/%s/%s%s"};
		for (int f = 0; f < 2; f++) {
			if (f == 0)
				snprintf(path, sizeof path, fmt[0],
					 m->plugin_path[i], name, dx_dl_suffix);
			else
				snprintf(path, sizeof path, fmt[1],
					 m->plugin_path[i], name, name,
					 dx_dl_suffix);
			if (access(path, F_OK) != 0)
				continue;
			char jp[64];
			snprintf(jp, sizeof jp, "(implicit %s)", name);
			dx_manifest_plugin mp = {.name = (char *)name,
						 .path = path,
						 .json_path = jp,
						 .config_path = jp};
			int rc = dx_boot_one(&mp, r, d);
			if (rc == 0)
				dx_registry_log(r, DX_LOG_INFO,
						"no IO plugin in the manifest: "
						"loaded %s from %s",
						name, path);
			return rc;
		}
	}
	return -ENOENT;
}

/* A manifest that listens but names no IO backend gets the ones dx ships,
 * found along plugin_path: the shortest manifest still serves. */
static int dx_boot_io(const dx_manifest *m, dx_registry *r, dx_diag *d)
{
	if (!m->listen_count || dx_has_io(r))
		return 0;
	static const char *const names[] = {"io_uring", "io_epoll"};
	for (size_t i = 0; i < 2; i++) {
		int rc = dx_boot_implicit(m, names[i], r, d);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	if (dx_has_io(r))
		return 0;
	dx_diag_add(d, "listen: serving needs an IO backend plugin, and none "
		       "is in plugins or along plugin_path; add {\"name\": "
		       "\"io_epoll\"} to plugins, or \"listen\": [] to serve "
		       "nothing");
	return DX_EFACET;
}

int dx_boot_plugins(const dx_manifest *m, dx_registry *r, dx_diag *d)
{
	int first = 0;
	for (size_t i = 0; i < m->plugin_count; i++) {
		int rc = dx_boot_one(&m->plugins[i], r, d);
		if (rc < 0 && first == 0)
			first = rc;
	}
	if (first == 0)
		first = dx_boot_io(m, r, d);
	if (first == 0)
		first = dx_boot_check_middleware(m, r, d);
	if (first < 0)
		return first;
	return dx_registry_init_all(r, d);
}

int dx_boot_check_middleware(const dx_manifest *m, const dx_registry *r,
			     dx_diag *d)
{
	int rc = 0;
	for (size_t i = 0; i < m->middleware_count; i++) {
		dx_facet_ref ref;
		if (dx_registry_lookup(r, DX_FACET_MIDDLEWARE, m->middleware[i],
				       &ref) == 0)
			continue;
		dx_diag_add(d,
			    "middleware[%zu]: plugin \"%s\" provides no "
			    "MIDDLEWARE facet named \"%s\"",
			    i, m->middleware[i], m->middleware[i]);
		rc = DX_EFACET;
	}
	return rc;
}
