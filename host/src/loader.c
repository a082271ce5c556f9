/* loader.c - open a plugin and hold it to the ABI rules in docs/abi.md.
 *
 * Order matters: the 12-byte prefix is the only part of a descriptor whose
 * layout we know before the versions are checked, so magic, ABI and size are
 * read first and nothing past the prefix is touched until they pass. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dx/io.h>
#include <dx/middleware.h>
#include <dx/routes.h>

#include "dl.h"
#include "loader.h"
#include "loader_fs.h"

/* The largest number of facets or routes one plugin may declare: a bound
 * that stops a corrupt count from walking off into unmapped memory. */
#define DX_MAX_FACETS 64
#define DX_MAX_ROUTES 4096

size_t dx_facet_min_size(uint32_t kind)
{
	switch (kind) {
	case DX_FACET_ROUTES:
		return DX_ROUTES_VTABLE_V1_0_SIZE;
	case DX_FACET_IO:
		return DX_IO_VTABLE_V1_0_SIZE;
	case DX_FACET_MIDDLEWARE:
		return DX_MIDDLEWARE_VTABLE_V1_0_SIZE;
	/* SERVICE and FORGE_DRIVER vtables are private to the plugins that
	 * share them: the host checks only the size word every vtable starts
	 * with, and the consumer checks the rest. */
	case DX_FACET_SERVICE:
	case DX_FACET_FORGE_DRIVER:
		return sizeof(uint32_t);
	default:
		return 0; /* unknown, or PROTOCOL (reserved) */
	}
}

int dx_module_check_perms(const char *path, dx_diag *d)
{
	int rc = 0;
	char *real = dx_loader_resolve(path, d, &rc);
	if (real)
		rc = dx_loader_perms(real, path, d);
	free(real);
	return rc;
}

static int dx_prefix_check(const dx_plugin *p, const char *file, dx_diag *d)
{
	if (p->magic != DX_PLUGIN_MAGIC) {
		dx_diag_add(d,
			    "%s: bad descriptor magic 0x%08x (expected 0x%08x, "
			    "\"DXP1\"): not a dx plugin, or a corrupt build",
			    file, (unsigned)p->magic, (unsigned)DX_PLUGIN_MAGIC);
		return DX_EMAGIC;
	}
	if (p->abi_major != DX_ABI_MAJOR) {
		dx_diag_add(d,
			    "%s: plugin ABI %u.%u is incompatible with this "
			    "host's ABI %u.%u (major versions differ); rebuild "
			    "the plugin against dx-sdk ABI %u.x",
			    file, p->abi_major, p->abi_minor, DX_ABI_MAJOR,
			    DX_ABI_MINOR, DX_ABI_MAJOR);
		return DX_EABI;
	}
	if (p->abi_minor > DX_ABI_MINOR) {
		dx_diag_add(d,
			    "%s: plugin ABI %u.%u is newer than this host's ABI "
			    "%u.%u; upgrade the host, or rebuild the plugin "
			    "against dx-sdk ABI %u.%u",
			    file, p->abi_major, p->abi_minor, DX_ABI_MAJOR,
			    DX_ABI_MINOR, DX_ABI_MAJOR, DX_ABI_MINOR);
		return DX_EABI;
	}
	if (p->size < DX_PLUGIN_V1_0_SIZE) {
		dx_diag_add(d,
			    "%s: descriptor size %u is smaller than the ABI 1.0 "
			    "size %zu (plugin ABI %u.%u, host ABI %u.%u): a "
			    "corrupt or hand-made descriptor; use DX_PLUGIN()",
			    file, (unsigned)p->size, (size_t)DX_PLUGIN_V1_0_SIZE,
			    p->abi_major, p->abi_minor, DX_ABI_MAJOR,
			    DX_ABI_MINOR);
		return DX_ESIZE;
	}
	return 0;
}

static const dx_route *dx_nth_route(const dx_routes_vtable *vt, uint32_t i)
{
	/* Step by the plugin's route_size: a newer SDK may have appended
	 * members to dx_route. */
	return (const void *)((const char *)vt->routes +
			      (size_t)i * vt->route_size);
}

static int dx_routes_check(const dx_plugin *p, const dx_facet *f,
			   const char *file, dx_diag *d)
{
	const dx_routes_vtable *vt = f->vtable;
	if (vt->route_size < DX_ROUTE_V1_0_SIZE || vt->count > DX_MAX_ROUTES ||
	    (vt->count && !vt->routes)) {
		dx_diag_add(d,
			    "%s: plugin \"%s\" facet ROUTES \"%s\": malformed "
			    "route table (route_size %u, v1.0 size %zu; count "
			    "%u, at most %d)",
			    file, p->name, f->name, (unsigned)vt->route_size,
			    (size_t)DX_ROUTE_V1_0_SIZE, (unsigned)vt->count,
			    DX_MAX_ROUTES);
		return DX_ESIZE;
	}
	for (uint32_t i = 0; i < vt->count; i++) {
		const dx_route *r = dx_nth_route(vt, i);
		const char *why = NULL;
		if (r->id == 0)
			why = "id 0 is reserved for route discovery";
		else if (!dx_route_name_valid(r->name))
			why = "invalid name: use [a-z][a-z0-9_.]*, at most 63 "
			      "bytes";
		else if (!r->call)
			why = "no handler";
		if (why) {
			dx_diag_add(d,
				    "%s: plugin \"%s\" facet ROUTES \"%s\" "
				    "route %u (id %u, \"%s\"): %s",
				    file, p->name, f->name, (unsigned)i,
				    (unsigned)r->id, r->name ? r->name : "(null)",
				    why);
			return DX_ENAME;
		}
	}
	return 0;
}

static int dx_facet_check(const dx_plugin *p, uint32_t i, const char *file,
			  dx_diag *d)
{
	const dx_facet *f = &p->facets[i];
	const char *kind = dx_facet_kind_name(f->kind);
	const char *name = f->name ? f->name : "(null)";
	size_t min = dx_facet_min_size(f->kind);
	if (!min) {
		dx_diag_add(d,
			    "%s: plugin \"%s\" facet %u \"%s\": %s kind %u "
			    "(this host, ABI %u.%u, accepts IO, ROUTES, "
			    "MIDDLEWARE, SERVICE and FORGE_DRIVER)",
			    file, p->name, (unsigned)i, name,
			    kind ? "reserved" : "unknown", (unsigned)f->kind,
			    DX_ABI_MAJOR, DX_ABI_MINOR);
		return DX_EFACET;
	}
	if (!dx_name_valid(f->name)) {
		dx_diag_add(d,
			    "%s: plugin \"%s\" facet %u: invalid name \"%s\": "
			    "use [a-z][a-z0-9_]*, at most %d bytes",
			    file, p->name, (unsigned)i, name, DX_NAME_MAX);
		return DX_ENAME;
	}
	if (!f->vtable) {
		dx_diag_add(d, "%s: plugin \"%s\" facet %s \"%s\": no vtable",
			    file, p->name, kind, name);
		return DX_EFACET;
	}
	uint32_t size = *(const uint32_t *)f->vtable;
	if (size < min) {
		dx_diag_add(d,
			    "%s: plugin \"%s\" facet %s \"%s\": vtable size %u "
			    "is smaller than the ABI 1.0 size %zu (plugin ABI "
			    "%u.%u, host ABI %u.%u)",
			    file, p->name, kind, name, (unsigned)size, min,
			    p->abi_major, p->abi_minor, DX_ABI_MAJOR,
			    DX_ABI_MINOR);
		return DX_ESIZE;
	}
	for (uint32_t j = 0; j < i; j++) {
		const dx_facet *g = &p->facets[j];
		if (g->kind == f->kind && strcmp(g->name, f->name) == 0) {
			dx_diag_add(d,
				    "%s: plugin \"%s\" declares facet %s "
				    "\"%s\" twice (facets %u and %u)",
				    file, p->name, kind, name, (unsigned)j,
				    (unsigned)i);
			return DX_EDUP;
		}
	}
	if (f->kind == DX_FACET_ROUTES)
		return dx_routes_check(p, f, file, d);
	return 0;
}

/* Whether route (fa, a) clashes with any later route of this plugin, in the
 * same table or in a later ROUTES facet. */
static int dx_route_clash_later(const dx_plugin *p, uint32_t fa, uint32_t a,
				const char *file, dx_diag *d)
{
	const dx_routes_vtable *va = p->facets[fa].vtable;
	const dx_route *ra = dx_nth_route(va, a);
	for (uint32_t fb = fa; fb < p->facet_count; fb++) {
		if (p->facets[fb].kind != DX_FACET_ROUTES)
			continue;
		const dx_routes_vtable *vb = p->facets[fb].vtable;
		for (uint32_t b = fb == fa ? a + 1 : 0; b < vb->count; b++) {
			const dx_route *rb = dx_nth_route(vb, b);
			bool same_id = ra->id == rb->id;
			if (!same_id && strcmp(ra->name, rb->name) != 0)
				continue;
			dx_diag_add(d,
				    "%s: plugin \"%s\": routes (id %u, \"%s\") "
				    "of facet \"%s\" and (id %u, \"%s\") of "
				    "facet \"%s\" share %s",
				    file, p->name, (unsigned)ra->id, ra->name,
				    p->facets[fa].name, (unsigned)rb->id,
				    rb->name, p->facets[fb].name,
				    same_id ? "an id" : "a name");
			return DX_EDUP;
		}
	}
	return 0;
}

static int dx_routes_cross_check(const dx_plugin *p, const char *file,
				 dx_diag *d)
{
	for (uint32_t f = 0; f < p->facet_count; f++) {
		if (p->facets[f].kind != DX_FACET_ROUTES)
			continue;
		const dx_routes_vtable *vt = p->facets[f].vtable;
		for (uint32_t a = 0; a < vt->count; a++) {
			int rc = dx_route_clash_later(p, f, a, file, d);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int dx_descriptor_check(const dx_plugin *p, const char *file, dx_diag *d)
{
	int rc = dx_prefix_check(p, file, d);
	if (rc < 0)
		return rc;
	if (!dx_name_valid(p->name)) {
		dx_diag_add(d,
			    "%s: invalid plugin name \"%s\": use "
			    "[a-z][a-z0-9_]*, at most %d bytes",
			    file, p->name ? p->name : "(null)", DX_NAME_MAX);
		return DX_ENAME;
	}
	if (!p->version || !*p->version) {
		dx_diag_add(d, "%s: plugin \"%s\" has no version string", file,
			    p->name);
		return DX_ENAME;
	}
	if (p->facet_count > DX_MAX_FACETS || (p->facet_count && !p->facets)) {
		dx_diag_add(d,
			    "%s: plugin \"%s\": malformed facet table (count "
			    "%u, at most %d)",
			    file, p->name, (unsigned)p->facet_count,
			    DX_MAX_FACETS);
		return DX_EFACET;
	}
	for (uint32_t i = 0; i < p->facet_count; i++) {
		rc = dx_facet_check(p, i, file, d);
		if (rc < 0)
			return rc;
	}
	return dx_routes_cross_check(p, file, d);
}

typedef const dx_plugin *(*dx_plugin_fn)(void);

static int dx_module_resolve(dx_module *m, dx_diag *d)
{
	/* dlsym hands back an object pointer; converting it to a function
	 * pointer is what POSIX guarantees works, memcpy keeps ISO C quiet. */
	void *sym = dx_dl_func(m->handle, DX_PLUGIN_SYMBOL);
	if (!sym) {
		dx_diag_add(d,
			    "%s: not a dx plugin: it does not export %s() "
			    "(declare the plugin with DX_PLUGIN() from "
			    "<dx/plugin.h>)",
			    m->path, DX_PLUGIN_SYMBOL);
		return DX_ENOSYM;
	}
	dx_plugin_fn fn;
	memcpy(&fn, &sym, sizeof fn);
	m->desc = fn();
	if (!m->desc) {
		dx_diag_add(d, "%s: %s() returned NULL", m->path,
			    DX_PLUGIN_SYMBOL);
		return DX_EMAGIC;
	}
	return dx_descriptor_check(m->desc, m->path, d);
}

int dx_module_open(const char *path, const dx_load_opts *opts, dx_module *out,
		   dx_diag *d)
{
	memset(out, 0, sizeof *out);
	/* Resolve once and use the result both for the permission check and
	 * for dlopen: given a bare "x.so", dlopen would search the library
	 * path and could map a file that was never checked. */
	int rc = 0;
	char *real = dx_loader_resolve(path, d, &rc);
	if (!real)
		return rc;
	if (!opts || !opts->allow_writable)
		rc = dx_loader_perms(real, path, d);
	out->path = rc == 0 ? strdup(path) : NULL;
	if (rc == 0 && !out->path) {
		dx_diag_add(d, "%s: out of memory", path);
		rc = -ENOMEM;
	}
	char why[512] = "";
	if (rc == 0) {
		rc = dx_loader_map(real, path, out, why, sizeof why, d);
		if (rc == DX_ENOTSO)
			dx_diag_add(d, "%s: not a loadable shared object: %s",
				    path, why);
	}
	free(real);
	if (rc == 0)
		rc = dx_module_resolve(out, d);
	if (rc < 0)
		dx_module_close(out);
	return rc;
}

void dx_module_close(dx_module *m)
{
	dx_dl_close(m->handle);
	dx_dl_private_remove(m->copy);
	free(m->copy);
	free(m->path);
	memset(m, 0, sizeof *m);
}

static void dx_describe_routes(const dx_routes_vtable *vt, FILE *out)
{
	for (uint32_t i = 0; i < vt->count; i++) {
		const dx_route *r = dx_nth_route(vt, i);
		fprintf(out, "    route %u %s\n", (unsigned)r->id, r->name);
	}
}

void dx_module_describe(const dx_module *m, FILE *out)
{
	const dx_plugin *p = m->desc;
	fprintf(out, "file:        %s\n", m->path);
	fprintf(out, "name:        %s\n", p->name);
	fprintf(out, "version:     %s\n", p->version);
	fprintf(out, "description: %s\n", p->description ? p->description : "");
	fprintf(out, "abi:         %u.%u (host %u.%u)\n", p->abi_major,
		p->abi_minor, DX_ABI_MAJOR, DX_ABI_MINOR);
	fprintf(out, "size:        %u bytes (ABI 1.0: %zu)\n",
		(unsigned)p->size, (size_t)DX_PLUGIN_V1_0_SIZE);
	fprintf(out, "handoff:     %s\n",
		p->handoff_export && p->handoff_import ? "yes" : "no");
	fprintf(out, "facets:      %u\n", (unsigned)p->facet_count);
	for (uint32_t i = 0; i < p->facet_count; i++) {
		const dx_facet *f = &p->facets[i];
		fprintf(out, "  %s %s (vtable %u bytes, ABI 1.0: %zu)\n",
			dx_facet_kind_name(f->kind), f->name,
			(unsigned)*(const uint32_t *)f->vtable,
			dx_facet_min_size(f->kind));
		if (f->kind == DX_FACET_ROUTES)
			dx_describe_routes(f->vtable, out);
	}
}
