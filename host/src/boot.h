/* boot.h - from a validated manifest to initialised plugins. */
#ifndef DX_HOST_BOOT_H
#define DX_HOST_BOOT_H

#include "diag.h"
#include "manifest.h"
#include "registry.h"

/* Load every plugin of m into r, in manifest order, checking that a plugin
 * asked for by name is that plugin. Every plugin is tried, so all refusals
 * are reported at once; on any refusal nothing is initialised and the
 * result is negative. Then init_all (on failure the initialised ones are
 * finalised in reverse). r keeps what loaded either way: free it. */
int dx_boot_plugins(const dx_manifest *m, dx_registry *r, dx_diag *d);

/* Load one plugin entry into r (not initialised): the loader's checks,
 * the name the entry asks for, the registry's clash checks. */
int dx_boot_one(const dx_manifest_plugin *mp, dx_registry *r, dx_diag *d);

/* The manifest's middleware must name plugins with a MIDDLEWARE facet
 * of the same name. */
int dx_boot_check_middleware(const dx_manifest *m, const dx_registry *r,
			     dx_diag *d);

#endif
