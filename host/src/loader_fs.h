/* loader_fs.h - the loader's file-system half: resolving a plugin's path,
 * the permission rule, and opening and mapping the checked file. One file
 * per system (docs/platforms.md), loader.c holds the ABI rules:
 *   loader_posix.c  realpath, the mode bits of stat, open + fstat, and a
 *                   private copy for dlopen to map.
 *   loader_win.c    GetFullPathNameW, the file's and its directory's DACL,
 *                   and a handle that shuts writers out while
 *                   LoadLibraryExW maps the file by its full path.
 * Internal to the host core; any thread (the loader's callers serialise
 * per module). Every message names the file the caller asked for. */
#ifndef DX_HOST_LOADER_FS_H
#define DX_HOST_LOADER_FS_H

#include <stddef.h>

#include "diag.h"
#include "loader.h"

/* The absolute path path names, malloc'd (the caller frees it), with no
 * link or relative part left where the system can say; NULL with *rc a
 * negated errno and "PATH: cannot open: REASON" in d. */
char *dx_loader_resolve(const char *path, dx_diag *d, int *rc);

/* The permission rule on a resolved path: the file and the directory it
 * sits in may be written only by their owner (and, on Windows, SYSTEM and
 * Administrators). 0, DX_EUNSAFE or a negated errno, with one message in
 * d; file is the name the caller asked for. */
int dx_loader_perms(char *real, const char *file, dx_diag *d);

/* Open real, make sure it is still the file checked, fill out's size,
 * mtime and loaded_at, and map it: out->handle (and out->copy when a
 * private copy is mapped). 0; a negated errno with the message in d; or
 * DX_ENOTSO with the system's reason in why and nothing in d. */
int dx_loader_map(const char *real, const char *path, dx_module *out, char *why,
		  size_t whylen, dx_diag *d);

#endif
