/* snapshot.h - content-addressed snapshots of a project tree, and rollback.
 *
 * The store is PROJECT/.dx/forge/snapshots/:
 *   objects/AB/CDEF...   each file's content once, named by its SHA-256
 *                        (AB: the first two hex digits), read-only
 *   manifests/ID.json    one per snapshot: {"version": 1, "entries":
 *                        [{"path", "type": "file"|"dir"|"link", "mode",
 *                        "hash", "size"} or {"path", "type": "link",
 *                        "target"}]}, sorted by path
 *   lock                 held (flock) while a snapshot or rollback works
 * The snapshot ID is the SHA-256 of the manifest's bytes: the same tree
 * always gets the same ID, and a snapshot of an unchanged tree stores
 * nothing new. Commands accept any unique prefix of at least 6 digits.
 *
 * What a snapshot leaves out: ".git" at any depth, and ".dx" at the top
 * (dx's own state: this store, the package cache, reports). Rollback never
 * touches either. Symlinks are recorded as links and never followed;
 * fifos, sockets and devices are skipped (counted). Owners and times are
 * not recorded; permission bits are.
 *
 * Thread rules: every function is reentrant; two snapshots or rollbacks
 * of one project exclude each other through the lock file (the second
 * fails with -EBUSY rather than wait). */
#ifndef DX_FORGE_SNAPSHOT_H
#define DX_FORGE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_util.h"

#define DX_SNAP_ID_LEN DX_FX_HEX_LEN
#define DX_SNAP_ID_MIN 6 /* shortest prefix accepted */

/* Progress: done of total steps (files hashed, or entries restored).
 * Called on the caller's thread. */
typedef void (*dx_snap_progress_fn)(void *arg, const char *what, size_t done,
				    size_t total);

typedef struct dx_snap_opts {
	const char *project;          /* NULL: "." */
	dx_snap_progress_fn progress; /* may be NULL */
	void *progress_arg;
} dx_snap_opts;

typedef struct dx_snap_result {
	char id[DX_SNAP_ID_LEN + 1];
	size_t files, dirs, links;
	size_t skipped;     /* fifos, sockets, devices */
	size_t new_objects; /* contents not stored before */
	uint64_t bytes;     /* of all files */
	bool existed;       /* the same snapshot was taken before */
} dx_snap_result;

/* Take a snapshot. 0 or a negative code with e filled. */
int dx_snap_create(const dx_snap_opts *o, dx_snap_result *r, dx_fx_err *e);

typedef struct dx_rollback_result {
	char id[DX_SNAP_ID_LEN + 1];
	size_t written;   /* files and links (re)written */
	size_t removed;   /* entries created since, or of another type */
	size_t unchanged; /* files and links already right */
	size_t modes;     /* permission bits changed */
} dx_rollback_result;

/* Restore the tree to snapshot id (a unique prefix will do): files and
 * links are written atomically (temp + rename), what was created since
 * is removed, modes are restored. Before changing anything it checks the
 * manifest and that every object is present. An unknown or ambiguous id
 * is refused (-ENOENT, -EINVAL) with nothing changed. */
int dx_snap_rollback(const dx_snap_opts *o, const char *id,
		     dx_rollback_result *r, dx_fx_err *e);

/* Resolve a prefix to a full ID. 0, -ENOENT (unknown), -EINVAL (too
 * short, not hex, ambiguous); e says which. */
int dx_snap_resolve(const char *project, const char *prefix,
		    char id[DX_SNAP_ID_LEN + 1], dx_fx_err *e);

/* The snapshots in the store, oldest first (by the manifest's mtime). */
typedef struct dx_snap_info {
	char id[DX_SNAP_ID_LEN + 1];
	int64_t taken; /* seconds since the epoch */
	size_t entries;
} dx_snap_info;
int dx_snap_list(const char *project, dx_snap_info **out, size_t *count,
		 dx_fx_err *e);

/* Paths inside the store, malloc'd: the store directory, an object, a
 * manifest. */
char *dx_snap_store_dir(const char *project);
char *dx_snap_object_path(const char *project, const char *hash);
char *dx_snap_manifest_path(const char *project, const char *id);

#endif
