/* fx_util.h - forge's utility layer, what the background tasks (snapshot,
 * sync, prefetch, analyse) and the traffic manager share: the error message
 * calls fill, SHA-256, paths kept inside their root, whole files and
 * durable or atomic writes, a tree walker and a flock lock. The static
 * library forge_util (util/meson.build), the project's own: not installed.
 * It needs no host and no libdx, only libc and OpenSSL's libcrypto.
 *
 * Errors: every function returns 0 (or a result) or a negative code
 * (-errno, -ENOMEM when an allocation fails; nothing here aborts) and,
 * where it takes a dx_fx_err, fills it with the message; the others leave
 * the wording to the caller. Every function is safe to call from any
 * thread: nothing here keeps state between calls. */
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
/* Hash what is read from in (to its end) and, when out >= 0, copy it
 * there; size (may be NULL) receives the byte count. 0 or -errno. */
int dx_fx_sha256_fd(int in, int out, char hex[DX_FX_HEX_LEN + 1],
		    uint64_t *size);
bool dx_fx_is_hex64(const char *s);

/* "a/b", malloc'd (NULL on ENOMEM); an empty a or b gives the other. */
char *dx_fx_join(const char *a, const char *b);
/* malloc'd printf; NULL on ENOMEM. */
char *dx_fx_printf(const char *fmt, ...) DX_FX_PRINTF(1, 2);
/* "DIR/.NAME" followed by suffix for path "DIR/NAME" (".NAME" + suffix
 * when path has no '/'): a hidden name beside path, in the same directory
 * so a rename over path stays on one filesystem. malloc'd, NULL on ENOMEM. */
char *dx_fx_beside(const char *path, const char *suffix);

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
/* The whole file, malloc'd with a NUL after it (not counted in *len; len
 * may be NULL). Reads what open() gives, pipes included. 0 or -errno;
 * *data is set only on success. */
int dx_fx_read_file(const char *path, char **data, size_t *len);
/* As dx_fx_read_file, for a regular file only: -EISDIR for a directory,
 * -EINVAL for a FIFO, socket or device (opened without blocking, so a FIFO
 * planted where a file should be cannot hang the caller). */
int dx_fx_read_regular(const char *path, char **data, size_t *len);
/* read() retrying EINTR: the count (0 at the end) or -errno. */
ssize_t dx_fx_read_some(int fd, void *buf, size_t n);
/* write() all of data, retrying EINTR and short writes. 0 or -errno. */
int dx_fx_write_all(int fd, const void *data, size_t len);
/* Create path exclusively (0644) with data, fsync it, close it: once it
 * returns 0 every byte is on disk. On failure path is removed. -errno
 * (-EEXIST when path exists). */
int dx_fx_write_new(const char *path, const void *data, size_t len);
/* fsync the directory holding path, so a rename or a create in it is
 * durable ("." for a bare name). 0 or -errno. */
int dx_fx_fsync_parent(const char *path);
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

/* ---- paths kept inside their root ---- */

/* Flags for dx_fx_path_why. */
#define DX_FX_PATH_NOT_DX 1u /* refuse ".dx" as the first component */
#define DX_FX_PATH_SHORT 2u  /* refuse PATH_MAX / 2 characters or more */
/* Why rel would not stay inside its root, as a static phrase to follow
 * the path in a message ("is absolute", "has an empty component"), or
 * NULL when it stays: not empty, not absolute, no "." or ".." component,
 * no empty component (so no trailing '/'), no NUL (by type), and what
 * flags add. Lexical only: dx_fx_path_inside checks where a symlink
 * leads. */
const char *dx_fx_path_why(const char *rel, unsigned flags);
/* dx_fx_path_why(rel, 0) == NULL. */
bool dx_fx_path_safe(const char *rel);
/* Is path root itself or under it? Both absolute and resolved (realpath),
 * so a symlink's target can be checked against the project. */
bool dx_fx_path_inside(const char *root, const char *path);
/* The nearest existing directory above path ("/" at the worst): where a
 * file at path would be created, once the missing directories are made.
 * malloc'd, NULL on ENOMEM. */
char *dx_fx_existing_dir(const char *path);

/* ---- a lock that dies with its holder ---- */

#define DX_FX_PID_MAX 32
/* Take an exclusive flock on fd (open for reading and writing) without
 * waiting; closing fd releases it, and so does the holder's death. 0,
 * -EBUSY when another process holds it, or -errno. With holder (may be
 * NULL) the lock names its holder: on success our pid is written into the
 * file; on -EBUSY holder receives the pid the holder wrote ("" when
 * none). The caller opens fd (its flags, its message) and closes it. */
int dx_fx_flock(int fd, char holder[DX_FX_PID_MAX]);

#endif
