/* ft_util.h - helpers the forge task tests share: real files in temp
 * directories, a canonical listing of a tree (to assert "identical" and
 * "untouched"), running the dx tool, and the property tests' seed. */
#ifndef DX_FT_UTIL_H
#define DX_FT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "fx_util.h"

static inline char *ft_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	return s;
}

/* A fresh 0755 directory under TMPDIR, malloc'd. */
static inline char *ft_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = ft_printf("%s/dxft.XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(p));
	ck_assert_int_eq(chmod(p, 0755), 0);
	return p;
}

static inline void ft_rmtree(const char *p)
{
	/* Directories may be read-only: open them up first. */
	char *cmd =
		ft_printf("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", p, p);
	if (system(cmd) != 0) {
		/* best effort */
	}
	free(cmd);
}

static inline void ft_mkparents(const char *path)
{
	char *p = strdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST,
			      "mkdir %s: %s", p, strerror(errno));
		*s = '/';
	}
	free(p);
}

static inline void ft_write(const char *dir, const char *rel, const void *data,
			    size_t len, mode_t mode)
{
	char *p = ft_printf("%s/%s", dir, rel);
	ft_mkparents(p);
	unlink(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

static inline void ft_puts(const char *dir, const char *rel, const char *s)
{
	ft_write(dir, rel, s, strlen(s), 0644);
}

static inline char *ft_read(const char *dir, const char *rel, size_t *len)
{
	char *p = ft_printf("%s/%s", dir, rel);
	char *data = NULL;
	int rc = dx_fx_read_file(p, &data, len);
	free(p);
	return rc == 0 ? data : NULL;
}

static inline bool ft_exists(const char *dir, const char *rel)
{
	char *p = ft_printf("%s/%s", dir, rel);
	struct stat st;
	bool e = lstat(p, &st) == 0;
	free(p);
	return e;
}

/* ---- a canonical listing: "path type mode content-hash-or-target\n",
 * sorted; made with nftw, independent of the code under test ---- */

typedef struct ft_lines {
	char **v;
	size_t n, cap;
} ft_lines;

/* nftw has no user pointer: the listing in progress (tests are
 * single-threaded). */
static ft_lines *ft_cur;
static size_t ft_root_len;
static bool ft_only_git; /* list only what is under a .git */

static inline bool ft_has_git(const char *rel)
{
	for (const char *s = rel; (s = strstr(s, ".git")); s += 4)
		if ((s == rel || s[-1] == '/') && (s[4] == '\0' || s[4] == '/'))
			return true;
	return false;
}

static int ft_visit(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (strlen(path) <= ft_root_len)
		return 0;
	const char *rel = path + ft_root_len + 1;
	bool dx = strcmp(rel, ".dx") == 0 || strncmp(rel, ".dx/", 4) == 0;
	if (dx || ft_has_git(rel) != ft_only_git)
		return 0;
	char what[200] = "";
	char type = '?';
	if (S_ISREG(st->st_mode)) {
		type = 'f';
		char *data = NULL;
		size_t len = 0;
		ck_assert_int_eq(dx_fx_read_file(path, &data, &len), 0);
		dx_fx_sha256_hex(data, len, what);
		free(data);
	} else if (S_ISDIR(st->st_mode)) {
		type = 'd';
	} else if (S_ISLNK(st->st_mode)) {
		type = 'l';
		ssize_t n = readlink(path, what, sizeof what - 1);
		ck_assert_int_ge(n, 0);
		what[n] = '\0';
	}
	if (ft_cur->n == ft_cur->cap) {
		ft_cur->cap = ft_cur->cap ? 2 * ft_cur->cap : 64;
		ft_cur->v = realloc(ft_cur->v, ft_cur->cap * sizeof *ft_cur->v);
	}
	/* A directory's mode only matters for what the snapshot records;
	 * links have none worth comparing. */
	ft_cur->v[ft_cur->n++] = ft_printf(
		"%s %c %04o %s", rel, type,
		type == 'l' ? 0 : (unsigned)(st->st_mode & 07777), what);
	return 0;
}

static int ft_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The listing of root (without .dx; with only_git, only the .git parts),
 * one malloc'd string. */
static inline char *ft_listing(const char *root, bool only_git)
{
	ft_lines l = {0};
	ft_cur = &l;
	ft_root_len = strlen(root);
	ft_only_git = only_git;
	ck_assert_int_eq(nftw(root, ft_visit, 32, FTW_PHYS), 0);
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, ft_cmp);
	size_t len = 1;
	for (size_t i = 0; i < l.n; i++)
		len += strlen(l.v[i]) + 1;
	char *out = malloc(len), *o = out;
	for (size_t i = 0; i < l.n; i++) {
		o += sprintf(o, "%s\n", l.v[i]);
		free(l.v[i]);
	}
	*o = '\0';
	free(l.v);
	return out;
}

/* Run argv (argv[0] a path) in cwd; stdout and stderr into *out (may be
 * NULL). Returns the exit status. */
static inline int ft_run(const char *cwd, char *const argv[], char **out)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);
	char tmp[4096];
	ssize_t r;
	while ((r = read(fds[0], tmp, sizeof tmp)) > 0)
		fwrite(tmp, 1, (size_t)r, m);
	close(fds[0]);
	fclose(m);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- the seed of a property test: DX_TEST_SEED, else the clock ---- */

static inline uint64_t ft_seed(void)
{
	const char *env = getenv("DX_TEST_SEED");
	if (env && *env)
		return strtoull(env, NULL, 10);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
}

/* xorshift64*: small, seedable, the same everywhere. */
static inline uint64_t ft_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static inline unsigned ft_below(uint64_t *s, unsigned n)
{
	return (unsigned)(ft_rand(s) % n);
}

#endif
