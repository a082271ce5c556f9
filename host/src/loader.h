/* loader.h - open a plugin file and check it against the ABI rules.
 *
 * Every refusal appends one message to the caller's dx_diag that names the
 * file and, where versions are involved, the plugin's and the host's. The
 * checks that need other plugins (duplicate names, facets, routes) are the
 * registry's. */
#ifndef DX_HOST_LOADER_H
#define DX_HOST_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include <dx/plugin.h>

#include "diag.h"

typedef struct dx_module {
	char *path;   /* as opened; owned */
	void *handle; /* from dx_dl_open */
	const dx_plugin *desc;
	/* What is mapped: a private copy of the checked file (owned; the
	 * name /proc/PID/maps shows, the file itself already removed), or
	 * NULL when the file itself is mapped (see dx_module_open). */
	char *copy;
	/* Why the file itself is mapped when a private copy was wanted ("" when
	 * a copy is mapped, or the system makes none): the registry warns,
	 * since a build written over the file in place then reaches the
	 * running code. */
	char in_place[256];
	/* The file as checked: size, mtime, and when it was loaded. */
	uint64_t size;
	int64_t mtime;
	int64_t loaded_at;
} dx_module;

typedef struct dx_load_opts {
	/* Load even when the file or its directory is writable by group or
	 * others (the manifest's plugins[].allow_writable). */
	bool allow_writable;
} dx_load_opts;

/* Open path, resolve dx_plugin_v1 and validate what it returns. 0 with *out
 * filled, or a negative DX_E* code with the reason in d (nothing stays
 * loaded). opts may be NULL.
 *
 * The file is opened once; its permissions are checked on that open file,
 * and its bytes are copied from it into a private file (mode 0500, in
 * $TMPDIR) which is what dlopen maps, and which is removed once mapped. So the
 * bytes checked are the bytes mapped; a plugin file rewritten in place
 * while the host runs never changes (or crashes) the running code; and a
 * new build of the same path is always a new mapping (glibc's dlopen would
 * hand back the object already loaded for a path or inode it knows). A
 * plugin whose own dependencies are found through $ORIGIN cannot be
 * mapped from the copy: then the file itself is mapped (copy NULL), and
 * such a plugin can be reloaded only from a new file. On Windows
 * (loader_win.c) the file itself is always mapped (copy NULL), by its full
 * path, while a handle that shares reading only keeps writers out. */
int dx_module_open(const char *path, const dx_load_opts *opts, dx_module *out,
		   dx_diag *d);
/* Unload (after the plugin's fini, if it was initialised). */
void dx_module_close(dx_module *m);

/* The permission rule alone: 0, DX_EUNSAFE or a negated errno. */
int dx_module_check_perms(const char *path, dx_diag *d);

/* Validate a descriptor in memory (no file involved); file names the
 * source in messages. Checks magic, ABI, sizes, names, facets, vtables and
 * routes within this one plugin. */
int dx_descriptor_check(const dx_plugin *p, const char *file, dx_diag *d);

/* The v1.0 size of kind's vtable, or 0 for a kind this host refuses. */
size_t dx_facet_min_size(uint32_t kind);

/* Print a descriptor for humans (dx plugin inspect, dx-host --check -v). */
void dx_module_describe(const dx_module *m, FILE *out);

#endif
