/* tm_fs.c - whole files in memory and the durable writes the journal
 * builds on. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_int.h"

/* The traffic manager runs in a short-lived command; with no memory left
 * there is no safe partial answer, so allocation failure aborts before any
 * journal is written (and after, the journal recovers on the next run). */
static void *tm_oom_check(void *p)
{
	if (!p) {
		fputs("dx forge: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *tm_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return tm_oom_check(n < 0 ? NULL : s);
}

char *tm_join(const char *a, const char *b)
{
	return tm_printf("%s/%s", a, b);
}

void tm_buf_free(tm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

bool tm_buf_eq(const tm_buf *a, const tm_buf *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

bool tm_is_binary(const tm_buf *b)
{
	size_t n = b->len < 8000 ? b->len : 8000;
	return memchr(b->data, '\0', n) != NULL;
}

int tm_read(const char *path, tm_buf *out)
{
	out->data = NULL;
	out->len = 0;
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
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *data = tm_oom_check(malloc(cap));
	for (;;) {
		if (len + 1 == cap)
			data = tm_oom_check(realloc(data, cap *= 2));
		ssize_t n = read(fd, data + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			free(data);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	data[len] = '\0';
	out->data = data;
	out->len = len;
	return 0;
}

int tm_write_new(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			unlink(path);
			return -e;
		}
		p += n;
		len -= (size_t)n;
	}
	/* The journal may only say "committing" once every byte is on disk,
	 * or a roll-forward after a crash could install a torn file. */
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return -e;
	}
	return close(fd) < 0 ? -errno : 0;
}

int tm_fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	tm_oom_check(dir);
	int fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

char *tm_side_name(const char *rel, const char *tag, long pid)
{
	const char *slash = strrchr(rel, '/');
	if (!slash)
		return tm_printf(".%s.%s.%ld", rel, tag, pid);
	return tm_printf("%.*s/.%s.%s.%ld", (int)(slash - rel), rel, slash + 1,
			 tag, pid);
}
