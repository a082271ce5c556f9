/* atomic.c - writes a reader never sees half done: a temp file beside the
 * target, renamed over it (fx_util.h). */
#include "fx_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temp file beside path: "DIR/.NAME.dx-XXXXXX", opened 0600. */
static int dx_fx_temp_beside(const char *path, char **tmp)
{
	*tmp = dx_fx_beside(path, ".dx-XXXXXX");
	if (!*tmp)
		return -ENOMEM;
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		free(*tmp);
		*tmp = NULL;
		return rc;
	}
	return fd;
}

/* fchmod, optionally fsync, close and rename tmp over path; on any
 * failure tmp is removed. */
static int dx_fx_commit(int fd, char *tmp, const char *path, mode_t mode,
			bool fsync_it, int rc, dx_fx_err *e)
{
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = -errno;
	if (rc == 0 && fsync_it && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		if (rc != -EIO || !e || !e->msg[0])
			dx_fx_fail(e, rc, "cannot write %s: %s", path,
				   strerror(-rc));
	}
	free(tmp);
	return rc;
}

int dx_fx_write_atomic(const char *path, const void *data, size_t len,
		       mode_t mode, dx_fx_err *e)
{
	char *tmp;
	int fd = dx_fx_temp_beside(path, &tmp);
	if (fd < 0)
		return dx_fx_fail(e, fd, "cannot write %s: %s", path,
				  strerror(-fd));
	return dx_fx_commit(fd, tmp, path, mode, true,
			    dx_fx_write_all(fd, data, len), e);
}

int dx_fx_copy_atomic(const char *from, const char *to, mode_t mode,
		      const char *want, bool fsync_it,
		      char got[DX_FX_HEX_LEN + 1], dx_fx_err *e)
{
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return dx_fx_fail(e, -errno, "cannot read %s: %s", from,
				  strerror(errno));
	char *tmp;
	int fd = dx_fx_temp_beside(to, &tmp);
	if (fd < 0) {
		close(in);
		return dx_fx_fail(e, fd, "cannot write %s: %s", to,
				  strerror(-fd));
	}
	char hex[DX_FX_HEX_LEN + 1];
	int rc = dx_fx_sha256_fd(in, fd, hex, NULL);
	close(in);
	if (e)
		e->msg[0] = '\0';
	if (rc == 0 && want && strcmp(want, hex) != 0)
		rc = dx_fx_fail(e, -EIO,
				"%s is corrupt: its content hashes to %s, "
				"not %s",
				from, hex, want);
	if (rc == 0 && got)
		memcpy(got, hex, sizeof hex);
	return dx_fx_commit(fd, tmp, to, mode, fsync_it, rc, e);
}
