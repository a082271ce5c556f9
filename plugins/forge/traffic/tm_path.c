/* tm_path.c - a package's paths must stay inside the project.
 *
 * Two checks: a lexical one on the string (dx_fx_path_why: no "..", not
 * absolute, no NUL - NUL is caught earlier, in package.json's text,
 * because cJSON truncates strings at it), and one against the disk, here:
 * every existing prefix of the path is lstat'ed, and a symlink anywhere
 * along it must resolve inside the project. We do not defend against the project changing under us while we
 * run (the lock keeps other installs out; the user's own edits are theirs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_int.h"

static void tm_add_dir(char ***dirs, size_t *ndirs, const char *rel, size_t len)
{
	for (size_t i = 0; i < *ndirs; i++)
		if (strlen((*dirs)[i]) == len &&
		    strncmp((*dirs)[i], rel, len) == 0)
			return;
	*dirs = tm_must(realloc(*dirs, (*ndirs + 1) * sizeof **dirs));
	(*dirs)[(*ndirs)++] = tm_must(strndup(rel, len));
}

/* A symlink at prefix: it must resolve, inside root. */
static int tm_check_link(const char *root, const char *rel, const char *prefix,
			 struct stat *st, dx_diag *d)
{
	char *real = realpath(prefix, NULL);
	if (!real) {
		dx_diag_add(d, "%s: %s is a symlink that does not resolve", rel,
			    prefix + strlen(root) + 1);
		return -EINVAL;
	}
	int rc = 0;
	if (!dx_fx_path_inside(root, real)) {
		dx_diag_add(d, "%s: %s is a symlink to %s, outside the project",
			    rel, prefix + strlen(root) + 1, real);
		rc = -EINVAL;
	} else if (stat(real, st) < 0) {
		rc = -errno;
		dx_diag_add(d, "%s: %s: %s", rel, real, strerror(errno));
	}
	free(real);
	return rc;
}

int tm_path_resolve(const char *root, const char *rel, char ***dirs,
		    size_t *ndirs, dx_diag *d)
{
	char *full = tm_join(root, rel);
	char *comp = full + strlen(root) + 1; /* rel inside full */
	int rc = 0;
	for (char *p = comp;; p++) {
		if (*p && *p != '/')
			continue;
		bool last = !*p;
		char saved = *p;
		*p = '\0';
		struct stat st;
		if (lstat(full, &st) < 0) {
			*p = saved;
			if (errno != ENOENT) {
				rc = -errno;
				dx_diag_add(d, "%s: %s", rel, strerror(errno));
				break;
			}
			/* Missing from here on: the rest are directories to
			 * create (all but the final component). */
			for (char *q = p; *q; q++)
				if (*q == '/')
					tm_add_dir(dirs, ndirs, comp,
						   (size_t)(q - comp));
			break;
		}
		if (S_ISLNK(st.st_mode))
			rc = tm_check_link(root, rel, full, &st, d);
		if (!rc && !last && !S_ISDIR(st.st_mode)) {
			dx_diag_add(d, "%s: %s is not a directory", rel, comp);
			rc = -ENOTDIR;
		} else if (!rc && last && S_ISDIR(st.st_mode)) {
			dx_diag_add(d,
				    "%s: is a directory in the project, the "
				    "package has a file there",
				    rel);
			rc = -EISDIR;
		}
		*p = saved;
		if (rc || last)
			break;
	}
	free(full);
	return rc;
}

int tm_path_writable(const char *root, const char *rel, dx_diag *d)
{
	char *full = tm_join(root, rel);
	int rc = 0;
	struct stat st;
	/* AT_EACCESS: ask as the effective user, who does the writing. */
	if (lstat(full, &st) == 0 &&
	    faccessat(AT_FDCWD, full, W_OK, AT_EACCESS) < 0) {
		rc = -errno;
		dx_diag_add(d, "%s: %s: the file is read-only", rel,
			    strerror(errno));
	}
	char *dir = tm_must(dx_fx_existing_dir(full));
	if (!rc && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		rc = -errno;
		const char *shown = dx_fx_path_inside(root, dir) &&
						    strlen(dir) > strlen(root) ?
					    dir + strlen(root) + 1 :
					    dir;
		dx_diag_add(d, "%s: %s: cannot create files in %s/", rel,
			    strerror(errno), shown);
	}
	free(dir);
	free(full);
	return rc;
}
