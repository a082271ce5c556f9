/* fx_util.h - what the forge tasks (snapshot, sync, prefetch, analyse)
 * share: the error message they fill, SHA-256, paths, atomic files and a
 * tree walker. Part of libdxforge, the project's own static library; not
 * installed. Every function is safe to call from any thread: nothing here
 * keeps state between calls. */
#ifndef DX_FX_UTIL_H
#define DX_FX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A user-facing error, one line in PostgreSQL's style: what failed, the
 * thing it names (file, key, endpoint), and what to do where that helps.
 * Functions return 0 or a negative code (-errno or DX_E*) and, on
 * failure, fill msg when the caller passes a dx_fx_err. */
typedef struct dx_fx_err {
	char msg[1024];
} dx_fx_err;

#if defined(__GNUC__)
#define DX_FX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DX_FX_PRINTF(a, b)
#endif

/* Fill e (when not NULL) and return code. */
int dx_fx_fail(dx_fx_err *e, int code, const char *fmt, ...) DX_FX_PRINTF(3, 4);

/* SHA-256 as 64 lowercase hex digits and a NUL. */
#define DX_FX_HEX_LEN 64
void dx_fx_sha256_hex(const void *data, size_t len,
		      char out[DX_FX_HEX_LEN + 1]);
/* The hash of a file's content. 0 or -errno. */
int dx_fx_sha256_file(const char *path, char out[DX_FX_HEX_LEN + 1],
		      uint64_t *size);
/* Hash what is read from in and, when out >= 0, copy it there; size (may
 * be NULL) receives the byte count. 0 or -errno. */
int dx_fx_hash_fd(int in, int out, char hex[DX_FX_HEX_LEN + 1],
		  uint64_t *size);
bool dx_fx_is_hex64(const char *s);

/* "a/b", malloc'd (NULL on ENOMEM); an empty a or b gives the other. */
char *dx_fx_join(const char *a, const char *b);
/* malloc'd printf; NULL on ENOMEM. */
char *dx_fx_printf(const char *fmt, ...) DX_FX_PRINTF(1, 2);

/* mkdir -p with mode for the directories it creates. 0 or -errno. */
int dx_fx_mkdirs(const char *path, mode_t mode);

/* Write data to path atomically: a temp file beside it, fsync, rename.
 * The file gets mode. 0 or -errno (e names path). */
int dx_fx_write_atomic(const char *path, const void *data, size_t len,
		       mode_t mode, dx_fx_err *e);
/* Copy from to a temp file beside to, hashing what was copied; fchmod
 * mode; rename over to. want (may be NULL): the hash the content must
 * have, else nothing is renamed and the result is -EIO. got (may be
 * NULL) receives the hash. No fsync (see fsync_it). */
int dx_fx_copy_atomic(const char *from, const char *to, mode_t mode,
		      const char *want, bool fsync_it,
		      char got[DX_FX_HEX_LEN + 1], dx_fx_err *e);
/* The whole file, malloc'd with a NUL after it. 0 or -errno. */
int dx_fx_read_file(const char *path, char **data, size_t *len);
/* rm -rf path (not following symlinks). 0 or -errno. */
int dx_fx_remove_tree(const char *path);

/* One entry of a walked tree. path is relative to the root, '/'
 * separated, never starting with "./". */
typedef enum dx_fx_type {
	DX_FX_FILE,
	DX_FX_DIR,
	DX_FX_LINK,
	DX_FX_OTHER, /* fifo, socket, device: recorded nowhere */
} dx_fx_type;

typedef struct dx_fx_entry {
	char *path;
	dx_fx_type type;
	mode_t mode; /* permission bits only (07777) */
	uint64_t size;
	char *target; /* DX_FX_LINK only */
	char *hash;   /* DX_FX_FILE: set by whoever knows it (not the walker) */
} dx_fx_entry;

typedef struct dx_fx_tree {
	dx_fx_entry *v;
	size_t count, cap;
} dx_fx_tree;

/* Walk root without following symlinks: every entry but those skip says
 * to leave out (skip(arg, relpath, name, is_top) true: leave it and what
 * is under it). Sorted by path (strcmp): a directory comes before what it
 * holds. 0 or -errno (e names the path). */
typedef bool (*dx_fx_skip_fn)(void *arg, const char *rel, const char *name,
			      bool top);
int dx_fx_walk(const char *root, dx_fx_skip_fn skip, void *arg, dx_fx_tree *out,
	       dx_fx_err *e);
/* Append en (the tree takes its strings) / sort by path. */
int dx_fx_tree_add(dx_fx_tree *t, dx_fx_entry *en);
void dx_fx_tree_sort(dx_fx_tree *t);
/* The entry with path, or NULL (t sorted by dx_fx_walk). */
const dx_fx_entry *dx_fx_tree_find(const dx_fx_tree *t, const char *path);
void dx_fx_tree_free(dx_fx_tree *t);

/* The skip rule every forge task shares: ".git" at any depth and ".dx"
 * at the top (dx's own state: snapshots, cache, reports). */
bool dx_fx_skip_dx(void *arg, const char *rel, const char *name, bool top);

/* A relative path that stays inside its root: not empty, not absolute,
 * no "." or ".." component, no empty component, no NUL (by type). */
bool dx_fx_path_safe(const char *rel);

#endif
