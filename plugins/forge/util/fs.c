/* fs.c - whole files read and written, durably where asked, and
 * directories made and removed (fx_util.h). */
#include "fx_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dx_fx_mkdirs(const char *path, mode_t mode)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

ssize_t dx_fx_read_some(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(fd, buf, n);
		if (r >= 0 || errno != EINTR)
			return r < 0 ? -errno : r;
	}
}

int dx_fx_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read fd to its end (st: its fstat, for the first guess of the size) into
 * a malloc'd buffer with a NUL after it. Closes fd. */
static int dx_fx_read_rest(int fd, const struct stat *st, char **data,
			   size_t *len)
{
	size_t cap = (size_t)st->st_size + 1, n = 0;
	char *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = dx_fx_read_some(fd, buf + n, cap - n - 1);
		if (r < 0)
			rc = (int)r;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*data = buf;
	if (len)
		*len = n;
	return 0;
}

int dx_fx_read_file(const char *path, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return dx_fx_read_rest(fd, &st, data, len);
}

int dx_fx_read_regular(const char *path, char **data, size_t *len)
{
	/* O_NONBLOCK: a FIFO planted where a file should be must not hang
	 * us; regular files ignore the flag. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int e = fstat(fd, &st) < 0   ? errno :
		S_ISDIR(st.st_mode)  ? EISDIR :
		!S_ISREG(st.st_mode) ? EINVAL :
				       0;
	if (e) {
		close(fd);
		return -e;
	}
	return dx_fx_read_rest(fd, &st, data, len);
}

int dx_fx_write_new(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = dx_fx_write_all(fd, data, len);
	/* A journal may only say "committing" once every byte is on disk,
	 * or a roll-forward after a crash could install a torn file. */
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		unlink(path);
		return rc;
	}
	return close(fd) < 0 ? -errno : 0;
}

int dx_fx_fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	int fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int dx_fx_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int rc = 0;
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub = dx_fx_join(path, de->d_name);
		rc = sub ? dx_fx_remove_tree(sub) : -ENOMEM;
		free(sub);
	}
	closedir(d);
	if (rc == 0 && rmdir(path) < 0)
		rc = -errno;
	return rc;
}
