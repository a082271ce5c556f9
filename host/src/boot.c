/* boot.c - load, check and initialise the manifest's plugins. */
#include <string.h>

#include "boot.h"
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
	return dx_registry_add(r, &mod, mp->config, mp->config_path, d);
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
