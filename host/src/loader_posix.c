/* loader_posix.c - loader_fs.h on POSIX systems: realpath, the group and
 * other write bits of stat, and dlopen of a private copy made from the
 * very descriptor whose file was checked (dl_posix.c makes the copy). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dx/plugin.h>

#include "dl.h"
#include "loader_fs.h"

static int dx_perm_check_one(const char *what, const char *path,
			     const char *file, dx_diag *d)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		dx_diag_add(d, "%s: cannot stat %s %s: %s", file, what, path,
			    strerror(e));
		return -e;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		dx_diag_add(d,
			    "%s: refusing to load: its %s %s is writable by "
			    "group or others (mode %04o); run chmod go-w on it, "
			    "or set \"allow_writable\": true for this plugin "
			    "in the manifest",
			    file, what, path, (unsigned)(st.st_mode & 07777));
		return DX_EUNSAFE;
	}
	return 0;
}

/* The permission rule for a path realpath() already resolved. */
int dx_loader_perms(char *real, const char *file, dx_diag *d)
{
	/* Check the file dlopen will map, and the directory it sits in:
	 * whoever can write there can replace the file. */
	int rc = dx_perm_check_one("file", real, file, d);
	if (rc < 0)
		return rc;
	char *slash = strrchr(real, '/');
	char saved = slash ? slash[slash == real] : '\0';
	if (slash)
		slash[slash == real] = '\0'; /* "/x.so" -> "/" */
	rc = dx_perm_check_one("directory", real, file, d);
	if (slash)
		slash[slash == real] = saved;
	return rc;
}

char *dx_loader_resolve(const char *path, dx_diag *d, int *rc)
{
	char *real = realpath(path, NULL);
	if (!real) {
		*rc = -errno;
		dx_diag_add(d, "%s: cannot open: %s", path, strerror(-*rc));
	}
	return real;
}

/* Open real for reading and make sure it is the file whose permissions
 * were checked (not one renamed over it since). fd, or negative. */
static int dx_open_checked(const char *real, const char *path, dx_module *out,
			   dx_diag *d)
{
	struct stat before, st;
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || stat(real, &before) < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		dx_diag_add(d, "%s: cannot open: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (st.st_dev != before.st_dev || st.st_ino != before.st_ino) {
		dx_diag_add(d, "%s: the file was replaced while it was being "
			       "loaded; try again",
			    path);
		close(fd);
		return -EAGAIN;
	}
	out->size = (uint64_t)st.st_size;
	out->mtime = (int64_t)st.st_mtime;
	out->loaded_at = (int64_t)time(NULL);
	return fd;
}

/* dlopen a private copy of fd; when the copy cannot find its own
 * dependencies (an $ORIGIN run path), the file itself. */
static void *dx_map(int fd, const char *real, dx_module *out, char *why,
		    size_t len)
{
	char cwhy[512];
	if (dx_dl_private_copy(fd, real, &out->copy, cwhy, sizeof cwhy) < 0) {
		snprintf(out->in_place, sizeof out->in_place,
			 "no private copy: %.*s",
			 (int)(sizeof out->in_place - 20), cwhy);
		return dx_dl_open(real, why, len);
	}
	void *h = dx_dl_open(out->copy, why, len);
	if (h) {
		/* Mapped: the name is no longer needed, and nothing is left
		 * behind if the process is killed. */
		dx_dl_private_remove(out->copy);
		return h;
	}
	if (!strstr(why, "cannot open shared object file"))
		return NULL;
	dx_dl_private_remove(out->copy);
	free(out->copy);
	out->copy = NULL;
	snprintf(out->in_place, sizeof out->in_place,
		 "its private copy cannot find the libraries it needs (an "
		 "$ORIGIN run path)");
	return dx_dl_open(real, why, len);
}

int dx_loader_map(const char *real, const char *path, dx_module *out,
		  char *why, size_t whylen, dx_diag *d)
{
	int fd = dx_open_checked(real, path, out, d);
	if (fd < 0)
		return fd;
	out->handle = dx_map(fd, real, out, why, whylen);
	close(fd);
	return out->handle ? 0 : DX_ENOTSO;
}
