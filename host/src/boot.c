/* boot.c - load, check and initialise the manifest's plugins, and the IO
 * plugins along plugin_path when the manifest names none. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot.h"
#include "dl.h"
#include "loader.h"

int dx_boot_one(const dx_manifest_plugin *mp, dx_registry *r, dx_diag *d)
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

static int dx_path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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

/* ---- IO plugins found along plugin_path ----
 *
 * A manifest that listens but names no IO plugin gets every plugin along
 * plugin_path that has an IO facet, so the shortest manifest still serves
 * and io.backend "auto" can fall back (native completions where the kernel
 * allows them, else readiness). Which plugins those are is read from their
 * descriptors, never from a list of names: each candidate passes the
 * loader's checks (permissions before it is mapped), is kept when it has an
 * IO facet and closed otherwise, never initialised. Kept ones are added in
 * dx_io_facet_cmp order (registry.h); a name already loaded (by the
 * manifest, or earlier along plugin_path) is not loaded again. */

/* Candidates in dir: DIR/NAME.so, and DIR/NAME/NAME.so as a build tree lays
 * plugins out; appended to *paths in name order, whatever readdir says. */
static int dx_scan_dir(const char *dir, char ***paths, size_t *n)
{
	DIR *dd = opendir(dir);
	if (!dd)
		return 0; /* a plugin_path entry that is not there holds none */
	size_t first = *n, slen = strlen(dx_dl_suffix);
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(dd));) {
		const char *nm = e->d_name;
		size_t len = strlen(nm);
		char path[4096];
		struct stat st;
		if (nm[0] == '.')
			continue;
		if (len > slen && strcmp(nm + len - slen, dx_dl_suffix) == 0)
			snprintf(path, sizeof path, "%s/%s", dir, nm);
		else
			snprintf(path, sizeof path, "%s/%s/%s%s", dir, nm, nm,
				 dx_dl_suffix);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		char **t = realloc(*paths, (*n + 1) * sizeof *t);
		if (t)
			*paths = t;
		if (!t || !(t[*n] = strdup(path)))
			rc = -ENOMEM;
		else
			(*n)++;
	}
	closedir(dd);
	qsort(*paths + first, *n - first, sizeof **paths, dx_path_cmp);
	return rc;
}

/* p's IO facet that auto would try first, or false when it has none. */
static bool dx_best_io(const dx_plugin *p, dx_facet *out)
{
	bool found = false;
	for (uint32_t k = 0; k < p->facet_count; k++) {
		const dx_facet *f = &p->facets[k];
		if (f->kind == DX_FACET_IO &&
		    (!found || dx_io_facet_cmp(f, out) < 0)) {
			*out = *f;
			found = true;
		}
	}
	return found;
}

typedef struct dx_found {
	dx_module mod;
	dx_facet io; /* its first IO facet in auto's order */
} dx_found;

/* Insertion sort, stable: for equal keys scan order decides. */
static void dx_found_sort(dx_found *f, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		dx_found t = f[i];
		size_t j = i;
		for (; j > 0 && dx_io_facet_cmp(&f[j - 1].io, &t.io) > 0; j--)
			f[j] = f[j - 1];
		f[j] = t;
	}
}

/* Open path; keep it in found when it is an IO plugin not loaded yet. A
 * file the loader refuses is skipped (it may be no plugin at all), and
 * the log says why. */
static int dx_consider(const char *path, dx_registry *r, dx_found **found,
		       size_t *n)
{
	dx_diag why = DX_DIAG_INIT;
	dx_found f;
	if (dx_module_open(path, NULL, &f.mod, &why) < 0) {
		dx_registry_log(r, DX_LOG_DEBUG, "plugin_path: skipped %s",
				dx_diag_last(&why));
		dx_diag_clear(&why);
		return 0;
	}
	const char *name = f.mod.desc->name;
	bool fresh = dx_best_io(f.mod.desc, &f.io) &&
		     dx_registry_find(r, name) < 0;
	for (size_t i = 0; fresh && i < *n; i++)
		fresh = strcmp((*found)[i].mod.desc->name, name) != 0;
	dx_found *t = fresh ? realloc(*found, (*n + 1) * sizeof *t) : NULL;
	if (!t) {
		dx_module_close(&f.mod);
		return fresh ? -ENOMEM : 0;
	}
	t[(*n)++] = f;
	*found = t;
	return 0;
}

/* Every IO plugin along plugin_path, in dx_io_facet_cmp order. */
static int dx_find_io(const dx_manifest *m, dx_registry *r, dx_found **found,
		      size_t *n)
{
	char **paths = NULL;
	size_t count = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->plugin_path_count; i++)
		rc = dx_scan_dir(m->plugin_path[i], &paths, &count);
	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = dx_consider(paths[i], r, found, n);
	for (size_t i = 0; i < count; i++)
		free(paths[i]);
	free(paths);
	dx_found_sort(*found, *n);
	return rc;
}

/* Add one found plugin, as if the manifest had named it. */
static int dx_boot_found(dx_found *f, dx_registry *r, dx_diag *d)
{
	char jp[96];
	snprintf(jp, sizeof jp, "(implicit %s)", f->mod.desc->name);
	int rc = dx_registry_add(r, &f->mod, NULL, jp, d);
	if (rc < 0)
		return rc;
	const dx_module *m = dx_registry_module(r, dx_registry_count(r) - 1);
	dx_registry_log(r, DX_LOG_INFO,
			"no IO plugin in the manifest: loaded %s from %s",
			m->desc->name, m->path);
	return 0;
}

static int dx_boot_io(const dx_manifest *m, dx_registry *r, dx_diag *d)
{
	if (!m->listen_count || dx_has_io(r))
		return 0;
	dx_found *found = NULL;
	size_t n = 0;
	int rc = dx_find_io(m, r, &found, &n);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = dx_boot_found(&found[i], r, d); /* takes it */
		else
			dx_module_close(&found[i].mod);
	}
	free(found);
	if (rc < 0 || dx_has_io(r))
		return rc;
	dx_diag_add(d, "listen: serving needs an IO backend plugin, and none "
		       "is in plugins or along plugin_path; add a plugin with "
		       "an IO facet to plugins, or \"listen\": [] to serve "
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
