/* prefetch.h - copy a package version from the registry into the project's
 * package cache, PROJECT/.dx/forge/cache/NAME/VERSION/.
 *
 * The registry is a directory of NAME/VERSION/ trees, each with a
 * package.json naming it ({"name": NAME, "version": VERSION, ...}).
 * The copy is built in a temp directory beside its final place and renamed
 * into it, so the cache holds a whole version or none of it; a version
 * already cached is left as it is (versions do not change once
 * published). Symlinks are copied as links; fifos, sockets and devices
 * refuse the package.
 *
 * Thread rules: reentrant; two prefetches of one version may race, one
 * rename wins and the other reports the version cached. */
#ifndef DX_FORGE_PREFETCH_H
#define DX_FORGE_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_util.h"

typedef struct dx_prefetch_opts {
	const char *registry;
	const char *project; /* NULL: "." */
} dx_prefetch_opts;

typedef struct dx_prefetch_result {
	bool cached; /* it was there already: nothing copied */
	size_t files;
	uint64_t bytes;
	char *path; /* the cache directory, malloc'd (free it) */
} dx_prefetch_result;

/* Split "NAME@VERSION" (both malloc'd). -EINVAL with e saying why: each
 * part must be non-empty, without '/', '\\', NUL, and not "." or "..". */
int dx_prefetch_parse_spec(const char *spec, char **name, char **version,
			   dx_fx_err *e);

/* 0, -ENOENT (no such package or version: e names the directory), -EINVAL
 * (package.json missing, malformed or naming another package), -errno. */
int dx_prefetch(const dx_prefetch_opts *o, const char *name,
		const char *version, dx_prefetch_result *r, dx_fx_err *e);

#endif
