/* tm_lock.c - .dx/forge/lock keeps two installs apart.
 *
 * A flock that names its holder (dx_fx_flock): a killed install never
 * leaves a stale lock behind, and the loser says which pid to wait for. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_int.h"

/* mkdir root/rel unless it exists; a symlink there is refused, since
 * forge's state must not be redirected outside the project. */
static int tm_mkdir_plain(const char *root, const char *rel, dx_diag *d)
{
	char *p = tm_join(root, rel);
	struct stat st;
	int rc = 0;
	if (lstat(p, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			dx_diag_add(d,
				    "%s: must be a directory (not a symlink "
				    "or a file)",
				    p);
			rc = -ENOTDIR;
		}
	} else if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		dx_diag_add(d, "cannot create %s: %s", p, strerror(errno));
	}
	free(p);
	return rc;
}

int tm_lock(const char *root, dx_diag *d)
{
	int rc = tm_mkdir_plain(root, ".dx", d);
	if (!rc)
		rc = tm_mkdir_plain(root, TM_DIR, d);
	if (rc)
		return rc;
	char *path = tm_join(root, TM_LOCK);
	char holder[DX_FX_PID_MAX];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = -errno;
		dx_diag_add(d, "cannot open %s: %s", path, strerror(errno));
	} else if ((rc = dx_fx_flock(fd, holder)) == -EBUSY) {
		dx_diag_add(d,
			    "another install holds %s (pid %s); wait for it to "
			    "finish",
			    path, *holder ? holder : "unknown");
	} else if (rc < 0) {
		dx_diag_add(d, "%s: %s", path, strerror(-rc));
	}
	if (fd >= 0 && rc < 0)
		close(fd);
	free(path);
	return rc < 0 ? rc : fd;
}

void tm_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the last descriptor drops the flock */
}
