/* traffic.h - forge's traffic manager: install packages as source into a
 * project, never losing a user's edit.
 *
 * A registry is a directory of NAME/VERSION/ trees; each version holds
 * package.json: {"name", "version", "files": [{"from", "to"}]} ("from"
 * relative to the version directory, "to" relative to the project; other
 * keys are ignored). Each file of an install or update gets a light:
 *
 *   Green   absent, identical to the new content, or unchanged since it was
 *           installed: written (a file the user deleted stays deleted unless
 *           restore_deleted is set)
 *   Yellow  changed by the user: three-way merge (base, user, new) with
 *           libgit2's git_merge_file; the clean result is written
 *   Red     the merge conflicts, the file is binary, or it was not installed
 *           by forge: the user's file is untouched, the new content goes to
 *           FILE.new
 *
 * State lives under PROJECT/.dx/forge/ (see traffic.c for the layout and
 * tm_journal.c for how a killed install is finished or rolled back).
 *
 * Errors are 0 or a negative code of dx/error.h; every refusal also appends
 * a message naming the file to the caller's dx_diag. The functions keep no
 * global state: two threads may install into two different projects. */
#ifndef DX_FORGE_TRAFFIC_H
#define DX_FORGE_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

typedef struct dx_tm_opts {
	const char *registry; /* directory of NAME/VERSION/ trees */
	const char *project;  /* the project root (must exist) */
	bool restore_deleted; /* write files the user deleted again */
	/* Called during install after each file is staged and after each is
	 * committed (done counts both passes; total is twice the writes), on
	 * the calling thread; may be NULL. */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
	/* Test hook, never set in normal use: when > 0 the installer raises
	 * SIGKILL after that many file writes (temp files staged, renames and
	 * removals), so tests can check the journal recovers a killed install.
	 * The dx tool fills it from DX_FORGE_TEST_KILL_AFTER. */
	unsigned kill_after;
} dx_tm_opts;

typedef enum dx_tm_light { DX_TM_GREEN, DX_TM_YELLOW, DX_TM_RED } dx_tm_light;

typedef enum dx_tm_action {
	DX_TM_WRITE,     /* the new content is (or will be) written */
	DX_TM_UNCHANGED, /* the file already has the new content */
	DX_TM_MERGE,     /* the user's edits merged into the new version */
	DX_TM_KEEP,      /* the user's edits kept: the package left it alone */
	DX_TM_CONFLICT,  /* user's file untouched; new content in FILE.new */
	DX_TM_KEEP_DELETED, /* the user deleted it: it stays deleted */
	DX_TM_DROP, /* gone from the package: left in place, untracked */
} dx_tm_action;

typedef struct dx_tm_file {
	char *path; /* relative to the project */
	dx_tm_light light;
	dx_tm_action action;
	const char *why; /* static text: why this light */
} dx_tm_file;

/* Owned by the caller after a successful call; free with
 * dx_tm_report_free. */
typedef struct dx_tm_report {
	char *name;
	char *version;
	char *old_version; /* the version installed before, or NULL */
	dx_tm_file *files;
	size_t count;
	/* install: what recovery of an interrupted install did first, or
	 * NULL; plan: non-NULL when an interrupted install is pending (the
	 * next install recovers it before anything else). */
	char *recovered;
} dx_tm_report;

/* The light of every file of NAME@VERSION against the project, computing
 * the merges in memory. Writes nothing at all, not even .dx/forge. */
int dx_tm_plan(const dx_tm_opts *o, const char *name, const char *version,
	       dx_tm_report *out, dx_diag *d);

/* Install or update NAME@VERSION: completely or not at all. Holds
 * PROJECT/.dx/forge/lock while it works (a second install fails with
 * -EBUSY naming the holder's pid) and first recovers any install that was
 * killed half-way. A refused package (escaping path, permission error,
 * bad manifest) leaves the project's files unchanged. */
int dx_tm_install(const dx_tm_opts *o, const char *name, const char *version,
		  dx_tm_report *out, dx_diag *d);

/* Finish or roll back an interrupted install, if any (takes the lock).
 * *what gets a malloc'd sentence saying what was done, or NULL when there
 * was nothing to recover. */
int dx_tm_recover(const dx_tm_opts *o, char **what, dx_diag *d);

void dx_tm_report_free(dx_tm_report *r);

/* "Green", "Yellow", "Red". */
const char *dx_tm_light_name(dx_tm_light l);
/* What install does, as the report prints it: "written", "merged", ... */
const char *dx_tm_action_text(dx_tm_action a);

/* Split "NAME@VERSION" into malloc'd parts and check both are single,
 * safe path components. -EINVAL with a message otherwise. */
int dx_tm_parse_spec(const char *spec, char **name, char **version, dx_diag *d);

#endif
