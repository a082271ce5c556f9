/* test_prefetch.c - a package version copied from the registry into the
 * cache: the copy is whole and identical, a second prefetch changes
 * nothing, a missing package or version and a package.json naming another
 * package are refused with a clear message and nothing cached; and the
 * task wrapper the forge plugin enqueues. */
#include "check_main.h"
#include "ft_util.h"
#include "prefetch.h"
#include "task.h"

typedef struct env {
	char *top, *reg, *proj;
} env;

static void env_init(env *e)
{
	e->top = ft_tmpdir();
	e->reg = ft_printf("%s/registry", e->top);
	e->proj = ft_printf("%s/project", e->top);
	ck_assert_int_eq(mkdir(e->reg, 0755), 0);
	ck_assert_int_eq(mkdir(e->proj, 0755), 0);
	ft_puts(e->reg, "ui/1.1.0/package.json",
		"{\"name\": \"ui\", \"version\": \"1.1.0\", \"files\": "
		"[{\"from\": \"button.c\", \"to\": \"src/ui/button.c\"}]}");
	ft_puts(e->reg, "ui/1.1.0/button.c", "int button;\n");
	ft_write(e->reg, "ui/1.1.0/tools/gen.sh", "#!/bin/sh\n", 10, 0755);
	ft_puts(e->reg, "ui/1.0.0/package.json",
		"{\"name\": \"ui\", \"version\": \"1.0.0\", \"files\": []}");
	ft_puts(e->reg, "liar/1.0.0/package.json",
		"{\"name\": \"someone-else\", \"files\": []}");
	ft_puts(e->reg, "nopkg/1.0.0/readme", "no package.json\n");
}

static void env_free(env *e)
{
	ft_rmtree(e->top);
	free(e->top);
	free(e->reg);
	free(e->proj);
}

static int fetch(env *e, const char *name, const char *version,
		 dx_prefetch_result *r, dx_fx_err *err)
{
	dx_prefetch_opts o = {e->reg, e->proj};
	return dx_prefetch(&o, name, version, r, err);
}

START_TEST(test_copies)
{
	env e;
	env_init(&e);
	dx_prefetch_result r;
	dx_fx_err err = {{0}};
	ck_assert_msg(fetch(&e, "ui", "1.1.0", &r, &err) == 0, "%s", err.msg);
	ck_assert(!r.cached);
	ck_assert_uint_eq(r.files, 3);
	char *want_path = ft_printf("%s/.dx/forge/cache/ui/1.1.0", e.proj);
	ck_assert_str_eq(r.path, want_path);
	char *src = ft_printf("%s/ui/1.1.0", e.reg);
	char *a = ft_listing(src, false), *b = ft_listing(r.path, false);
	ck_assert_str_eq(b, a);
	free(a);
	free(b);
	free(r.path);

	/* Idempotent: cached, nothing copied, nothing changed. */
	char *cache = ft_printf("%s/.dx/forge/cache", e.proj);
	a = ft_listing(cache, false);
	ck_assert_int_eq(fetch(&e, "ui", "1.1.0", &r, &err), 0);
	ck_assert(r.cached);
	ck_assert_uint_eq(r.files, 0);
	b = ft_listing(cache, false);
	ck_assert_str_eq(b, a);
	free(a);
	free(b);
	free(r.path);
	/* No temp directories left behind. */
	char *cmd = ft_printf(
		"test -z \"$(ls -A '%s/ui' | grep -v '^1.1.0$')\"", cache);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(cache);
	free(src);
	free(want_path);
	env_free(&e);
}
END_TEST

START_TEST(test_refusals)
{
	env e;
	env_init(&e);
	dx_prefetch_result r;
	dx_fx_err err = {{0}};
	ck_assert_int_eq(fetch(&e, "ui", "9.9.9", &r, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "ui has no version 9.9.9"), "%s",
		      err.msg);
	ck_assert_int_eq(fetch(&e, "nosuch", "1.0.0", &r, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "no package nosuch"), "%s", err.msg);
	ck_assert_int_eq(fetch(&e, "liar", "1.0.0", &r, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "someone-else"), "%s", err.msg);
	ck_assert_int_eq(fetch(&e, "nopkg", "1.0.0", &r, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "package.json"), "%s", err.msg);
	ck_assert_int_eq(fetch(&e, "..", "1.0.0", &r, &err), -EINVAL);
	ck_assert(!ft_exists(e.proj, ".dx/forge/cache/ui/9.9.9"));
	ck_assert(!ft_exists(e.proj, ".dx/forge/cache/liar"));

	char *n, *v;
	ck_assert_int_eq(dx_prefetch_parse_spec("ui@1.1.0", &n, &v, &err), 0);
	ck_assert_str_eq(n, "ui");
	ck_assert_str_eq(v, "1.1.0");
	free(n);
	free(v);
	ck_assert_int_eq(dx_prefetch_parse_spec("ui", &n, &v, &err), -EINVAL);
	ck_assert_int_eq(dx_prefetch_parse_spec("ui@../x", &n, &v, &err),
			 -EINVAL);
	ck_assert_int_eq(dx_prefetch_parse_spec("@1", &n, &v, &err), -EINVAL);
	env_free(&e);
}
END_TEST

typedef struct done_rec {
	int calls, rc;
	char task[32], msg[1200];
} done_rec;

static void on_done(void *arg, const char *task, int rc, const char *msg)
{
	done_rec *d = arg;
	d->calls++;
	d->rc = rc;
	snprintf(d->task, sizeof d->task, "%s", task);
	snprintf(d->msg, sizeof d->msg, "%s", msg);
}

START_TEST(test_task)
{
	env e;
	env_init(&e);
	done_rec d = {0};
	dx_forge_task *t = dx_forge_task_prefetch(e.reg, e.proj, "ui", "1.0.0");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(dx_forge_task_name(t), "forge.prefetch");
	dx_forge_task_on_done(t, on_done, &d);
	dx_forge_task_run(t);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_msg(d.rc == 0, "%s", d.msg);
	ck_assert(ft_exists(e.proj, ".dx/forge/cache/ui/1.0.0/package.json"));

	t = dx_forge_task_prefetch(e.reg, e.proj, "ui", "7.0.0");
	dx_forge_task_on_done(t, on_done, &d);
	dx_forge_task_run(t);
	ck_assert_int_eq(d.rc, -ENOENT);
	ck_assert_msg(strstr(d.msg, "no version 7.0.0"), "%s", d.msg);

	/* Dropped by a full queue: never runs, says so. */
	t = dx_forge_task_snapshot(e.proj);
	dx_forge_task_on_done(t, on_done, &d);
	dx_forge_task_drop(t);
	ck_assert_int_eq(d.calls, 3);
	ck_assert_int_eq(d.rc, -ECANCELED);
	ck_assert_str_eq(d.task, "forge.snapshot");
	ck_assert(!ft_exists(e.proj, ".dx/forge/snapshots/manifests"));

	t = dx_forge_task_snapshot(e.proj);
	dx_forge_task_on_done(t, on_done, &d);
	dx_forge_task_run(t);
	ck_assert_msg(d.rc == 0, "%s", d.msg);
	ck_assert(ft_exists(e.proj, ".dx/forge/snapshots/manifests"));
	env_free(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prefetch");
	TCase *tc = tcase_create("prefetch");
	tcase_add_test(tc, test_copies);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_task);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
