/* forge_util.h - helpers the traffic manager's tests share: real files in
 * temp directories, packages in a registry, a snapshot of a whole tree
 * (to assert "nothing changed"), and running the dx tool. */
#ifndef DX_FORGE_UTIL_H
#define DX_FORGE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"
#include "traffic.h"

/* A registry and a project, fresh for one test. */
typedef struct fu_env {
	char *top;
	char *reg;
	char *proj;
	dx_tm_opts o;
} fu_env;

static inline char *fu_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	return s;
}

/* mkdir -p of path's parent. */
static inline void fu_mkparents(const char *path)
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

static inline void fu_write(const char *dir, const char *rel, const char *data,
			    size_t len)
{
	char *p = fu_printf("%s/%s", dir, rel);
	fu_mkparents(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "create %s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(p);
}

static inline void fu_puts(const char *dir, const char *rel, const char *s)
{
	fu_write(dir, rel, s, strlen(s));
}

/* The file's content, malloc'd and NUL-terminated, or NULL when absent. */
static inline char *fu_read(const char *dir, const char *rel, size_t *len)
{
	char *p = fu_printf("%s/%s", dir, rel);
	FILE *f = fopen(p, "rb");
	free(p);
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);
	char tmp[4096];
	size_t r;
	while ((r = fread(tmp, 1, sizeof tmp, f)) > 0)
		fwrite(tmp, 1, r, m);
	fclose(f);
	fclose(m);
	if (len)
		*len = n;
	return buf;
}

static inline bool fu_exists(const char *dir, const char *rel)
{
	char *p = fu_printf("%s/%s", dir, rel);
	struct stat st;
	bool e = lstat(p, &st) == 0;
	free(p);
	return e;
}

/* A package version in the registry: files given as from/to/content
 * triples, the from name derived from the index. */
typedef struct fu_file {
	const char *to;
	const char *data;
	size_t len; /* 0: strlen(data) */
} fu_file;

static inline void fu_pkg(const fu_env *e, const char *name,
			  const char *version, const fu_file *files, size_t n)
{
	char *vdir = fu_printf("%s/%s/%s", e->reg, name, version);
	char *json = fu_printf("{\"name\":\"%s\",\"version\":\"%s\","
			       "\"files\":[",
			       name, version);
	for (size_t i = 0; i < n; i++) {
		char *from = fu_printf("f%zu", i);
		fu_write(vdir, from, files[i].data,
			 files[i].len ? files[i].len : strlen(files[i].data));
		char *j = fu_printf("%s%s{\"from\":\"%s\",\"to\":\"%s\"}", json,
				    i ? "," : "", from, files[i].to);
		free(json);
		json = j;
		free(from);
	}
	char *j = fu_printf("%s],\"x-extra\":{\"ignored\":true}}", json);
	fu_puts(vdir, "package.json", j);
	free(j);
	free(json);
	free(vdir);
}

/* A raw package.json (for the malformed and escaping cases). */
static inline void fu_pkg_raw(const fu_env *e, const char *name,
			      const char *version, const char *json)
{
	char *vdir = fu_printf("%s/%s/%s", e->reg, name, version);
	fu_puts(vdir, "package.json", json);
	fu_puts(vdir, "f0", "payload\n");
	free(vdir);
}

static inline void fu_env_init(fu_env *e)
{
	memset(e, 0, sizeof *e);
	e->top = tu_tmpdir();
	e->reg = fu_printf("%s/reg", e->top);
	e->proj = fu_printf("%s/proj", e->top);
	ck_assert_int_eq(mkdir(e->reg, 0755), 0);
	ck_assert_int_eq(mkdir(e->proj, 0755), 0);
	e->o.registry = e->reg;
	e->o.project = e->proj;
}

static inline int fu_rm_one(const char *p, const struct stat *st, int flag,
			    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	chmod(p, 0755); /* the read-only tests leave 0555 directories */
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static inline void fu_env_free(fu_env *e)
{
	nftw(e->top, fu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e->top);
	free(e->reg);
	free(e->proj);
}

/* ---- a tree snapshot: every entry, its type, mode and content ---- */

/* nftw passes no user pointer: the walk's state lives here, test code
 * only, one walk at a time. */

static char *fu_snap_root;
static const char *fu_snap_skip;
static FILE *fu_snap_out;

static inline int fu_snap_one(const char *p, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	const char *rel = p + strlen(fu_snap_root);
	if (fu_snap_skip && strcmp(rel, fu_snap_skip) == 0)
		return 0;
	fprintf(fu_snap_out, "%s %o", rel, (unsigned)st->st_mode);
	if (S_ISREG(st->st_mode)) {
		FILE *f = fopen(p, "rb");
		int ch;
		fputc(' ', fu_snap_out);
		while (f && (ch = fgetc(f)) != EOF)
			fprintf(fu_snap_out, "%02x", ch);
		if (f)
			fclose(f);
	} else if (S_ISLNK(st->st_mode)) {
		char t[4096];
		ssize_t n = readlink(p, t, sizeof t - 1);
		t[n > 0 ? n : 0] = '\0';
		fprintf(fu_snap_out, " -> %s", t);
	}
	fputc('\n', fu_snap_out);
	return 0;
}

static inline int fu_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole tree under dir as sorted lines, skipping the entry skip
 * (relative, with a leading '/'; e.g. "/.dx/forge/lock", whose pid
 * changes), malloc'd. Comparing two snapshots says "nothing changed". */
static inline char *fu_snapshot(const char *dir, const char *skip)
{
	char *raw = NULL;
	size_t n = 0;
	fu_snap_root = (char *)dir;
	fu_snap_skip = skip;
	fu_snap_out = open_memstream(&raw, &n);
	nftw(dir, fu_snap_one, 16, FTW_PHYS);
	fclose(fu_snap_out);
	size_t nl = 0, cap = 16;
	char **lines = malloc(cap * sizeof *lines);
	for (char *s = strtok(raw, "\n"); s; s = strtok(NULL, "\n")) {
		if (nl == cap)
			lines = realloc(lines, (cap *= 2) * sizeof *lines);
		lines[nl++] = s;
	}
	qsort(lines, nl, sizeof *lines, fu_cmp);
	char *out = NULL;
	size_t on = 0;
	FILE *o = open_memstream(&out, &on);
	for (size_t i = 0; i < nl; i++)
		fprintf(o, "%s\n", lines[i]);
	fclose(o);
	free(lines);
	free(raw);
	return out;
}

/* ---- the API, asserting ---- */

static inline int fu_install(fu_env *e, const char *name, const char *ver,
			     dx_tm_report *r, dx_diag *d)
{
	return dx_tm_install(&e->o, name, ver, r, d);
}

/* Install and expect success; the report is freed. */
static inline void fu_install_ok(fu_env *e, const char *name, const char *ver)
{
	dx_tm_report r;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_tm_install(&e->o, name, ver, &r, &d);
	ck_assert_msg(rc == 0, "install %s@%s: %d\n%s", name, ver, rc,
		      tu_diag_all(&d));
	dx_tm_report_free(&r);
	dx_diag_clear(&d);
}

static inline const dx_tm_file *fu_find(const dx_tm_report *r, const char *p)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcmp(r->files[i].path, p) == 0)
			return &r->files[i];
	ck_abort_msg("%s is not in the report", p);
	return NULL;
}

/* ---- the dx tool ---- */

/* Run dx (DX_FORGE_DX, set by main from argv[1]) with args; capture
 * stdout and stderr (malloc'd) and return the wait status. */
static inline int fu_dx(char **out, char **err, const char *const *args)
{
	const char *dx = getenv("DX_FORGE_DX");
	ck_assert_msg(dx && *dx, "DX_FORGE_DX is not set: run through meson");
	FILE *fo = tmpfile(), *fe = tmpfile();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *argv[32] = {dx};
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		dup2(fileno(fo), 1);
		dup2(fileno(fe), 2);
		execv(dx, (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	FILE *fs[2] = {fo, fe};
	char **dst[2] = {out, err};
	for (int i = 0; i < 2; i++) {
		size_t n = 0;
		char *buf = NULL;
		FILE *m = open_memstream(&buf, &n);
		rewind(fs[i]);
		int ch;
		while ((ch = fgetc(fs[i])) != EOF)
			fputc(ch, m);
		fclose(m);
		fclose(fs[i]);
		if (dst[i])
			*dst[i] = buf;
		else
			free(buf);
	}
	return st;
}

/* Seeded tests: DX_TEST_SEED, else the clock. */
static inline unsigned long long fu_seed(void)
{
	const char *s = getenv("DX_TEST_SEED");
	return s && *s ? strtoull(s, NULL, 0) :
			 (unsigned long long)time(NULL) ^
				 ((unsigned long long)getpid() << 16);
}

#endif
