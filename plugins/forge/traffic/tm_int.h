/* tm_int.h - the traffic manager's internals, shared by its files only.
 *
 * Paths called "rel" are relative to the project root and already checked
 * (no "..", not absolute, no NUL); the functions join them to the root
 * themselves so the journal can store project-relative names.
 *
 * Files, paths and the lock come from forge's utility layer (fx_util.h),
 * which returns codes and leaves the wording to us: the messages a user
 * sees are written here, into the caller's dx_diag (traffic.h). */
#ifndef DX_FORGE_TM_INT_H
#define DX_FORGE_TM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#include "diag.h"
#include "fx_util.h"
#include "traffic.h"

#define TM_DIR ".dx/forge"
#define TM_BASE_DIR ".dx/forge/base"
#define TM_STATE ".dx/forge/installed.json"
#define TM_JOURNAL ".dx/forge/journal"
#define TM_LOCK ".dx/forge/lock"

/* The lexical checks (dx_fx_path_why) for a project-relative path we read
 * (a package's "from", a journal's names) and for one we write (a "to":
 * never inside .dx, forge's own state). */
#define TM_PATH_REL DX_FX_PATH_SHORT
#define TM_PATH_TO (DX_FX_PATH_SHORT | DX_FX_PATH_NOT_DX)

/* ---- tm_buf.c: memory and whole files ---- */

/* The traffic manager runs in a short-lived command; with no memory left
 * there is no safe partial answer, so allocation failure aborts (saying
 * "dx forge: out of memory") before any journal is written (and after,
 * the journal recovers on the next run). p, when it is not NULL. */
void *tm_must(void *p);
/* malloc'd printf and "a/b" (always a '/': root "/" gives "//b"), never
 * NULL: tm_must. */
#define tm_printf(...) ((char *)tm_must(dx_fx_printf(__VA_ARGS__)))
static inline char *tm_join(const char *a, const char *b)
{
	return tm_printf("%s/%s", a, b);
}

/* A whole file in memory. data is malloc'd (NUL-terminated for
 * convenience, the NUL not counted in len). */
typedef struct tm_buf {
	char *data;
	size_t len;
} tm_buf;

void tm_buf_free(tm_buf *b);
bool tm_buf_eq(const tm_buf *a, const tm_buf *b);
/* git's rule: a NUL byte in the first 8000 bytes makes it binary. */
bool tm_is_binary(const tm_buf *b);

/* Read path whole: a regular file only (dx_fx_read_regular). 0, or
 * -ENOENT when absent, or another -errno; out is empty on failure. */
int tm_read(const char *path, tm_buf *out);

/* ---- tm_path.c: paths that stay inside the project ---- */

/* Walk rel's existing prefixes under root (a realpath): every symlink must
 * resolve inside root, every non-final component must be a directory and
 * the final one must not be. Appends the missing directories (rel names,
 * parents first, no duplicates) to *dirs. 0 or -EINVAL with a message. */
int tm_path_resolve(const char *root, const char *rel, char ***dirs,
		    size_t *ndirs, dx_diag *d);
/* The write checks a plan makes for rel so a permission problem refuses
 * the install before anything is written. 0 or -EACCES with a message. */
int tm_path_writable(const char *root, const char *rel, dx_diag *d);

/* ---- tm_pkg.c: package.json and its files ---- */

typedef struct tm_pfile {
	char *from;
	char *to;
	tm_buf content;
} tm_pfile;

typedef struct tm_pkg {
	char *name;
	char *version;
	tm_pfile *files;
	size_t count;
} tm_pkg;

/* Load REGISTRY/NAME/VERSION/package.json and every file it lists. Any
 * unsafe path refuses the whole package. */
int tm_pkg_load(const char *registry, const char *name, const char *version,
		tm_pkg *out, dx_diag *d);
void tm_pkg_free(tm_pkg *p);

/* ---- tm_state.c: .dx/forge/installed.json ---- */

/* The whole state as cJSON: {"format":1,"packages":{NAME:{"version",
 * "files":[{"to","from","base"}]}}}, base being the git blob id of the
 * pristine copy or null. An absent file gives an empty state. */
int tm_state_load(const char *root, cJSON **out, dx_diag *d);
/* The package's entry, or NULL. */
cJSON *tm_state_pkg(cJSON *state, const char *name);
/* The files[] entry for to in pkg, or NULL. */
cJSON *tm_state_file(cJSON *pkg, const char *to);
/* Which other package lists to, or NULL. */
const char *tm_state_owner(cJSON *state, const char *to, const char *skip);
/* The git blob id of b as 40 hex digits + NUL. */
void tm_blob_id(const tm_buf *b, char out[41]);

/* ---- tm_merge.c: one file's light ---- */

typedef struct tm_in {
	const tm_buf *new;  /* the package's content */
	const tm_buf *user; /* the project's file, NULL when absent */
	const tm_buf *base; /* the pristine copy, NULL when none */
	bool installed;     /* forge installed this file before */
	bool restore_deleted;
} tm_in;

typedef struct tm_out {
	dx_tm_light light;
	dx_tm_action action;
	const char *why;
	tm_buf merged;  /* DX_TM_MERGE: the clean merge result */
	bool keep_base; /* Red: the base stays the old one (see tm_merge.c) */
} tm_out;

int tm_classify(const tm_in *in, tm_out *out, dx_diag *d);

/* ---- tm_journal.c: all or nothing ---- */

/* One planned change: target gets data (or is removed when remove). */
typedef struct tm_op {
	char *target; /* rel */
	const char *data;
	size_t len;
	bool remove;
	char *tmp; /* rel, assigned by tm_txn_run */
	char *old; /* rel of the saved-aside previous content, or NULL */
} tm_op;

typedef struct tm_txn {
	const char *root;
	char *label; /* "NAME@VERSION" */
	tm_op *ops;
	size_t nops;
	size_t cap;
	char **dirs; /* rel, parents first, to create */
	size_t ndirs;
	const dx_tm_opts *o;
	size_t writes; /* for the kill hook and progress */
} tm_txn;

void tm_txn_add(tm_txn *t, const char *target, const char *data, size_t len,
		bool remove);
/* Stage every op, write the journal, commit; on any failure roll back so
 * the project is as before. 0 or -errno with a message naming the file. */
int tm_txn_run(tm_txn *t, dx_diag *d);
void tm_txn_free(tm_txn *t);
/* Finish or roll back the journal under root if there is one. *what as
 * dx_tm_recover. */
int tm_journal_recover(const char *root, char **what, dx_diag *d);
bool tm_journal_pending(const char *root);

/* ---- tm_lock.c ---- */

/* Take root/.dx/forge/lock (creating .dx/forge, never through a symlink).
 * Returns the fd, or -EBUSY naming the holder's pid, or -errno. */
int tm_lock(const char *root, dx_diag *d);
void tm_unlock(int fd);

#endif
