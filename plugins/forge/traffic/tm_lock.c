/* tm_lock.c - .dx/forge/lock keeps two installs apart.
 *
 * flock rather than an O_EXCL file: the kernel drops the lock when its
 * holder dies (SIGKILL included), so a killed install never leaves a stale
 * lock behind; the holder writes its pid into the file only so the loser
 * can name it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

static void tm_lock_holder(int fd, const char *path, dx_diag *d)
{
	char buf[32] = "";
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	dx_diag_add(d,
		    "another install holds %s (pid %s); wait for it to "
		    "finish",
		    path, *buf ? buf : "unknown");
}

int tm_lock(const char *root, dx_diag *d)
{
	int rc = tm_mkdir_plain(root, ".dx", d);
	if (!rc)
		rc = tm_mkdir_plain(root, TM_DIR, d);
	if (rc)
		return rc;
	char *path = tm_join(root, TM_LOCK);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = -errno;
		dx_diag_add(d, "cannot open %s: %s", path, strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (rc == -EBUSY)
			tm_lock_holder(fd, path, d);
		else
			dx_diag_add(d, "%s: %s", path, strerror(errno));
		close(fd);
	} else {
		char pid[32];
		int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
			/* Only the loser's message suffers: keep going. */
			(void)0;
		rc = fd;
	}
	free(path);
	return rc;
}

void tm_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the last descriptor drops the flock */
}
