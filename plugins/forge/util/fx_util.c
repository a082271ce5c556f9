/* fx_util.c - errors, SHA-256, paths, atomic files and the tree walker the
 * forge tasks share (fx_util.h). */
#include "fx_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int dx_fx_fail(dx_fx_err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void dx_fx_hex(const unsigned char *md, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void dx_fx_sha256_hex(const void *data, size_t len, char out[DX_FX_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	dx_fx_hex(md, n, out);
}

/* Hash what is read from in and, when out >= 0, copy it there. */
static int dx_fx_hash_fd(int in, int out, char hex[DX_FX_HEX_LEN + 1],
			 uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	static const size_t bufsz = 1 << 16;
	char *buf = malloc(bufsz);
	uint64_t total = 0;
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		ssize_t n = read(in, buf, bufsz);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
		for (ssize_t off = 0; out >= 0 && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -errno;
				break;
			}
			off += w;
		}
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	free(buf);
	if (rc == 0) {
		dx_fx_hex(md, mdlen, hex);
		if (size)
			*size = total;
	}
	return rc;
}

int dx_fx_sha256_file(const char *path, char out[DX_FX_HEX_LEN + 1],
		      uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int rc = dx_fx_hash_fd(fd, -1, out, size);
	close(fd);
	return rc;
}

bool dx_fx_is_hex64(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == DX_FX_HEX_LEN;
}

char *dx_fx_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char *dx_fx_join(const char *a, const char *b)
{
	if (!*a)
		return strdup(b);
	if (!*b)
		return strdup(a);
	size_t la = strlen(a);
	return dx_fx_printf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

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

/* A temp file beside path: "DIR/.NAME.dx-XXXXXX", opened 0600. */
static int dx_fx_temp_beside(const char *path, char **tmp)
{
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path + 1) : 0;
	*tmp = dx_fx_printf("%.*s.%s.dx-XXXXXX", dlen, path,
			    slash ? slash + 1 : path);
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

static int dx_fx_write_all(int fd, const void *data, size_t len)
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
	int rc = dx_fx_hash_fd(in, fd, hex, NULL);
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
	size_t cap = (size_t)st.st_size + 1, n = 0;
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
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
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

/* ---- the walker ---- */

int dx_fx_tree_add(dx_fx_tree *t, dx_fx_entry *en)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		dx_fx_entry *v = realloc(t->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->count++] = *en;
	return 0;
}

typedef struct dx_fx_walker {
	const char *root;
	dx_fx_skip_fn skip;
	void *arg;
	dx_fx_tree *out;
	dx_fx_err *e;
} dx_fx_walker;

/* A symlink's target, malloc'd. */
static char *dx_fx_readlink(const char *path, size_t hint)
{
	size_t cap = hint + 2 > 64 ? hint + 2 : 64;
	for (;;) {
		char *buf = malloc(cap);
		if (!buf)
			return NULL;
		ssize_t n = readlink(path, buf, cap);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		cap *= 2;
	}
}

static int dx_fx_walk_dir(dx_fx_walker *w, const char *rel)
{
	char *abs = *rel ? dx_fx_join(w->root, rel) : strdup(w->root);
	if (!abs)
		return -ENOMEM;
	DIR *d = opendir(abs);
	if (!d) {
		int rc = -errno;
		dx_fx_fail(w->e, rc, "cannot read directory %s: %s", abs,
			   strerror(errno));
		free(abs);
		return rc;
	}
	int rc = 0;
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		dx_fx_entry en = {0};
		en.path = dx_fx_join(rel, name);
		char *p = en.path ? dx_fx_join(abs, name) : NULL;
		if (!p) {
			free(en.path);
			rc = -ENOMEM;
			break;
		}
		struct stat st;
		if (w->skip && w->skip(w->arg, en.path, name, !*rel)) {
			free(en.path);
			free(p);
			continue;
		}
		if (lstat(p, &st) < 0) {
			rc = dx_fx_fail(w->e, -errno, "cannot stat %s: %s", p,
					strerror(errno));
			free(en.path);
			free(p);
			break;
		}
		en.mode = st.st_mode & 07777;
		en.size = (uint64_t)st.st_size;
		if (S_ISREG(st.st_mode)) {
			en.type = DX_FX_FILE;
		} else if (S_ISDIR(st.st_mode)) {
			en.type = DX_FX_DIR;
			en.size = 0;
		} else if (S_ISLNK(st.st_mode)) {
			en.type = DX_FX_LINK;
			en.target = dx_fx_readlink(p, (size_t)st.st_size);
			if (!en.target)
				rc = dx_fx_fail(w->e, -errno ? -errno : -ENOMEM,
						"cannot read link %s: %s", p,
						strerror(errno));
		} else {
			en.type = DX_FX_OTHER;
		}
		free(p);
		if (rc == 0)
			rc = dx_fx_tree_add(w->out, &en);
		if (rc < 0) {
			free(en.path);
			free(en.target);
			break;
		}
		if (en.type == DX_FX_DIR)
			rc = dx_fx_walk_dir(w, en.path);
	}
	closedir(d);
	free(abs);
	return rc;
}

static int dx_fx_cmp_entry(const void *a, const void *b)
{
	return strcmp(((const dx_fx_entry *)a)->path,
		      ((const dx_fx_entry *)b)->path);
}

int dx_fx_walk(const char *root, dx_fx_skip_fn skip, void *arg, dx_fx_tree *out,
	       dx_fx_err *e)
{
	memset(out, 0, sizeof *out);
	dx_fx_walker w = {root, skip, arg, out, e};
	int rc = dx_fx_walk_dir(&w, "");
	if (rc < 0) {
		dx_fx_tree_free(out);
		return rc;
	}
	dx_fx_tree_sort(out);
	return 0;
}

void dx_fx_tree_sort(dx_fx_tree *t)
{
	if (t->count)
		qsort(t->v, t->count, sizeof *t->v, dx_fx_cmp_entry);
}

const dx_fx_entry *dx_fx_tree_find(const dx_fx_tree *t, const char *path)
{
	if (!t->count)
		return NULL;
	dx_fx_entry key = {.path = (char *)path};
	return bsearch(&key, t->v, t->count, sizeof *t->v, dx_fx_cmp_entry);
}

void dx_fx_tree_free(dx_fx_tree *t)
{
	for (size_t i = 0; i < t->count; i++) {
		free(t->v[i].path);
		free(t->v[i].target);
		free(t->v[i].hash);
	}
	free(t->v);
	memset(t, 0, sizeof *t);
}

bool dx_fx_skip_dx(void *arg, const char *rel, const char *name, bool top)
{
	(void)arg;
	(void)rel;
	return strcmp(name, ".git") == 0 || (top && strcmp(name, ".dx") == 0);
}

bool dx_fx_path_safe(const char *rel)
{
	if (!*rel || *rel == '/')
		return false;
	for (const char *s = rel;;) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!end)
			return true;
		s = end + 1;
	}
}
