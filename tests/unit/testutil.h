/* testutil.h - helpers the loader and registry tests share: where the test
 * plugins are, copying a file, and asserting on diagnostics. */
#ifndef DX_TESTUTIL_H
#define DX_TESTUTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "diag.h"

/* "$env/sub/name.so" (sub may be NULL), malloc'd. */
static inline char *tu_plugin_path(const char *env, const char *sub,
				   const char *name)
{
	const char *dir = getenv(env);
	ck_assert_msg(dir && *dir, "%s is not set: run through meson test",
		      env);
	char *p = NULL;
	int n = sub ? asprintf(&p, "%s/%s/%s.so", dir, sub, name) :
		      asprintf(&p, "%s/%s.so", dir, name);
	ck_assert_int_ge(n, 0);
	return p;
}

/* A test plugin of tests/plugins. */
static inline char *tu_tp(const char *name)
{
	return tu_plugin_path("DX_TEST_PLUGINS", NULL, name);
}

/* Copy from to to, leaving to with mode. */
static inline void tu_copy(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY);
	ck_assert_msg(in >= 0, "open %s", from);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(out >= 0, "create %s", to);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	close(out);
	ck_assert_int_eq(chmod(to, mode), 0);
}

/* A fresh 0755 directory under TMPDIR, malloc'd. */
static inline char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;
	ck_assert_int_ge(asprintf(&p, "%s/dxtest.XXXXXX",
				  base && *base ? base : "/tmp"),
			 0);
	ck_assert_ptr_nonnull(mkdtemp(p));
	ck_assert_int_eq(chmod(p, 0755), 0);
	return p;
}

/* Every message of d, joined by newlines (for failure messages). */
static inline const char *tu_diag_all(const dx_diag *d)
{
	static char buf[8192];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < d->count && len < sizeof buf; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
					i ? "\n" : "", d->msgs[i]);
	return buf;
}

/* Assert that some message of d contains needle. */
#define tu_assert_diag_has(d, needle)                                          \
	ck_assert_msg(tu_diag_find((d), (needle)),                             \
		      "expected \"%s\" in the diagnostics:\n%s", (needle),     \
		      tu_diag_all(d))

static inline int tu_diag_find(const dx_diag *d, const char *needle)
{
	for (size_t i = 0; i < d->count; i++)
		if (strstr(d->msgs[i], needle))
			return 1;
	return 0;
}

/* The last path component of path (for "the message names the file"). */
static inline const char *tu_base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

#endif
