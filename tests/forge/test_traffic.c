/* test_traffic.c - the traffic manager (host/forge) with real files: every
 * row of the light table, escaping paths, the lock, and permission errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "forge_util.h"
#include "traffic.h"

static const char V1[] = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
static const char V2[] = "ONE\ntwo\nthree\nfour\nfive\nsix\nseven\n";
static const char MINE_CLEAN[] = "one\ntwo\nthree\nfour\nfive\nsix\nmine\n";
static const char MERGED[] = "ONE\ntwo\nthree\nfour\nfive\nsix\nmine\n";
static const char MINE_CONFLICT[] = "uno\ntwo\nthree\nfour\nfive\nsix\nseven\n";

/* ui@1 and ui@2 with src/a.c (V1, V2) and src/b.c (unchanged). */
static void setup_ui(fu_env *e)
{
	fu_env_init(e);
	fu_file v1[] = {{"src/a.c", V1, 0}, {"src/b.c", "bee\n", 0}};
	fu_file v2[] = {{"src/a.c", V2, 0}, {"src/b.c", "bee\n", 0}};
	fu_pkg(e, "ui", "1", v1, 2);
	fu_pkg(e, "ui", "2", v2, 2);
}

/* Plan NAME@VER, assert it wrote nothing, and return the report. */
static dx_tm_report plan_ok(fu_env *e, const char *name, const char *ver)
{
	char *before = fu_snapshot(e->proj, NULL);
	dx_tm_report r;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_tm_plan(&e->o, name, ver, &r, &d);
	ck_assert_msg(rc == 0, "plan: %d\n%s", rc, tu_diag_all(&d));
	char *after = fu_snapshot(e->proj, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	dx_diag_clear(&d);
	return r;
}

static void check_light(const dx_tm_report *r, const char *path, dx_tm_light l,
			dx_tm_action a, const char *why)
{
	const dx_tm_file *f = fu_find(r, path);
	ck_assert_msg(f->light == l && f->action == a,
		      "%s: got %s/%s (%s), want %s/%s", path,
		      dx_tm_light_name(f->light), dx_tm_action_text(f->action),
		      f->why, dx_tm_light_name(l), dx_tm_action_text(a));
	ck_assert_msg(strstr(f->why, why), "%s: why \"%s\" lacks \"%s\"", path,
		      f->why, why);
}

/* Plan then install; both must give the same light. */
static void plan_install(fu_env *e, const char *ver, const char *path,
			 dx_tm_light l, dx_tm_action a, const char *why)
{
	dx_tm_report r = plan_ok(e, "ui", ver);
	check_light(&r, path, l, a, why);
	dx_tm_report_free(&r);
	dx_diag d = DX_DIAG_INIT;
	int rc = fu_install(e, "ui", ver, &r, &d);
	ck_assert_msg(rc == 0, "install: %d\n%s", rc, tu_diag_all(&d));
	check_light(&r, path, l, a, why);
	dx_tm_report_free(&r);
	dx_diag_clear(&d);
}

static void assert_file(fu_env *e, const char *rel, const char *want)
{
	char *got = fu_read(e->proj, rel, NULL);
	ck_assert_msg(got, "%s is missing", rel);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(green_absent)
{
	fu_env e;
	setup_ui(&e);
	plan_install(&e, "2", "src/a.c", DX_TM_GREEN, DX_TM_WRITE, "absent");
	assert_file(&e, "src/a.c", V2);
	assert_file(&e, ".dx/forge/base/ui/src/a.c", V2);
	ck_assert(!fu_exists(e.proj, ".dx/forge/journal"));
	fu_env_free(&e);
}
END_TEST

START_TEST(green_identical)
{
	fu_env e;
	setup_ui(&e);
	fu_puts(e.proj, "src/a.c", V2);
	plan_install(&e, "2", "src/a.c", DX_TM_GREEN, DX_TM_UNCHANGED,
		     "identical");
	assert_file(&e, "src/a.c", V2);
	fu_env_free(&e);
}
END_TEST

START_TEST(green_unchanged_since_installed)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	assert_file(&e, "src/a.c", V1);
	plan_install(&e, "2", "src/a.c", DX_TM_GREEN, DX_TM_WRITE,
		     "unchanged since installed");
	assert_file(&e, "src/a.c", V2);
	assert_file(&e, ".dx/forge/base/ui/src/a.c", V2);
	char *state = fu_read(e.proj, ".dx/forge/installed.json", NULL);
	ck_assert_ptr_nonnull(strstr(state, "\"version\":\t\"2\""));
	/* git hash-object of V2: the state's hash is the blob id. */
	ck_assert_ptr_nonnull(strstr(state, "\"base\""));
	free(state);
	fu_env_free(&e);
}
END_TEST

START_TEST(yellow_clean_merge)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	fu_puts(e.proj, "src/a.c", MINE_CLEAN);
	plan_install(&e, "2", "src/a.c", DX_TM_YELLOW, DX_TM_MERGE,
		     "merges cleanly");
	assert_file(&e, "src/a.c", MERGED);
	ck_assert(!fu_exists(e.proj, "src/a.c.new"));
	assert_file(&e, ".dx/forge/base/ui/src/a.c", V2);
	fu_env_free(&e);
}
END_TEST

START_TEST(yellow_package_unchanged)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	fu_puts(e.proj, "src/b.c", "my bee\n");
	plan_install(&e, "2", "src/b.c", DX_TM_YELLOW, DX_TM_KEEP,
		     "did not change it");
	assert_file(&e, "src/b.c", "my bee\n");
	fu_env_free(&e);
}
END_TEST

START_TEST(red_conflict)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	fu_puts(e.proj, "src/a.c", MINE_CONFLICT);
	plan_install(&e, "2", "src/a.c", DX_TM_RED, DX_TM_CONFLICT,
		     "conflicts");
	assert_file(&e, "src/a.c", MINE_CONFLICT);
	assert_file(&e, "src/a.c.new", V2);
	/* The base stays V1: the user has not taken V2 in yet. */
	assert_file(&e, ".dx/forge/base/ui/src/a.c", V1);
	fu_env_free(&e);
}
END_TEST

START_TEST(red_binary)
{
	fu_env e;
	fu_env_init(&e);
	fu_file v1[] = {{"img/x.bin", "ab\0cd\n", 6}};
	fu_file v2[] = {{"img/x.bin", "ab\0ce\n", 6}};
	fu_pkg(&e, "ui", "1", v1, 1);
	fu_pkg(&e, "ui", "2", v2, 1);
	fu_install_ok(&e, "ui", "1");
	fu_write(e.proj, "img/x.bin", "zz\0cd\n", 6);
	plan_install(&e, "2", "img/x.bin", DX_TM_RED, DX_TM_CONFLICT, "binary");
	size_t n;
	char *got = fu_read(e.proj, "img/x.bin", &n);
	ck_assert(n == 6 && memcmp(got, "zz\0cd\n", 6) == 0);
	free(got);
	got = fu_read(e.proj, "img/x.bin.new", &n);
	ck_assert(got && n == 6 && memcmp(got, "ab\0ce\n", 6) == 0);
	free(got);
	fu_env_free(&e);
}
END_TEST

START_TEST(red_not_installed_by_forge)
{
	fu_env e;
	setup_ui(&e);
	fu_puts(e.proj, "src/a.c", "the user's own a.c\n");
	plan_install(&e, "1", "src/a.c", DX_TM_RED, DX_TM_CONFLICT,
		     "did not install it");
	assert_file(&e, "src/a.c", "the user's own a.c\n");
	assert_file(&e, "src/a.c.new", V1);
	fu_env_free(&e);
}
END_TEST

START_TEST(deleted_stays_deleted)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	char *p = fu_printf("%s/src/a.c", e.proj);
	ck_assert_int_eq(unlink(p), 0);
	plan_install(&e, "2", "src/a.c", DX_TM_GREEN, DX_TM_KEEP_DELETED,
		     "stays deleted");
	ck_assert(!fu_exists(e.proj, "src/a.c"));
	ck_assert(!fu_exists(e.proj, "src/a.c.new"));
	assert_file(&e, "src/b.c", "bee\n");
	free(p);
	fu_env_free(&e);
}
END_TEST

START_TEST(deleted_restored_when_asked)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	char *p = fu_printf("%s/src/a.c", e.proj);
	ck_assert_int_eq(unlink(p), 0);
	e.o.restore_deleted = true;
	plan_install(&e, "2", "src/a.c", DX_TM_GREEN, DX_TM_WRITE, "restored");
	assert_file(&e, "src/a.c", V2);
	free(p);
	fu_env_free(&e);
}
END_TEST

START_TEST(dropped_file_left_in_place)
{
	fu_env e;
	setup_ui(&e);
	fu_file v3[] = {{"src/a.c", V2, 0}};
	fu_pkg(&e, "ui", "3", v3, 1);
	fu_install_ok(&e, "ui", "1");
	plan_install(&e, "3", "src/b.c", DX_TM_GREEN, DX_TM_DROP, "no longer");
	assert_file(&e, "src/b.c", "bee\n");
	ck_assert(!fu_exists(e.proj, ".dx/forge/base/ui/src/b.c"));
	char *state = fu_read(e.proj, ".dx/forge/installed.json", NULL);
	ck_assert_ptr_null(strstr(state, "src/b.c"));
	free(state);
	fu_env_free(&e);
}
END_TEST

START_TEST(symlink_inside_project_is_fine)
{
	fu_env e;
	setup_ui(&e);
	char *real = fu_printf("%s/real", e.proj);
	char *link = fu_printf("%s/src", e.proj);
	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(symlink("real", link), 0);
	fu_install_ok(&e, "ui", "1");
	assert_file(&e, "real/a.c", V1);
	free(real);
	free(link);
	fu_env_free(&e);
}
END_TEST

/* ---- escaping paths: the whole package refused, nothing written ---- */

static void refused(fu_env *e, const char *needle)
{
	char *before = fu_snapshot(e->proj, NULL);
	for (int install = 0; install < 2; install++) {
		dx_tm_report r;
		dx_diag d = DX_DIAG_INIT;
		int rc = install ? fu_install(e, "ev", "1", &r, &d) :
				   dx_tm_plan(&e->o, "ev", "1", &r, &d);
		ck_assert_msg(rc < 0, "%s was not refused", needle);
		tu_assert_diag_has(&d, needle);
		tu_assert_diag_has(&d, "refused: nothing was written");
		dx_diag_clear(&d);
		char *after = fu_snapshot(e->proj, NULL);
		ck_assert_str_eq(before, after);
		free(after);
	}
	ck_assert(!fu_exists(e->proj, ".dx"));
	ck_assert(!fu_exists(e->proj, "ok.txt"));
	free(before);
}

/* A package with one good file and one bad "to". */
static void escape_case(const char *to_json, const char *needle)
{
	fu_env e;
	fu_env_init(&e);
	char *json = fu_printf("{\"name\":\"ev\",\"version\":\"1\",\"files\":"
			       "[{\"from\":\"f0\",\"to\":\"ok.txt\"},"
			       "{\"from\":\"f0\",\"to\":\"%s\"}]}",
			       to_json);
	fu_pkg_raw(&e, "ev", "1", json);
	free(json);
	refused(&e, needle);
	fu_env_free(&e);
}

START_TEST(escape_dotdot)
{
	escape_case("../x", "\"..\" component");
}
END_TEST

START_TEST(escape_absolute)
{
	escape_case("/abs", "is absolute");
}
END_TEST

START_TEST(escape_inner_dotdot)
{
	escape_case("a/../../x", "\"..\" component");
}
END_TEST

START_TEST(escape_nul)
{
	escape_case("x\\u0000/../../y", "NUL");
}
END_TEST

START_TEST(escape_into_dx)
{
	escape_case(".dx/forge/installed.json", "inside .dx");
}
END_TEST

START_TEST(escape_symlink_outside)
{
	fu_env e;
	fu_env_init(&e);
	char *link = fu_printf("%s/link", e.proj);
	ck_assert_int_eq(symlink("/tmp", link), 0);
	fu_pkg_raw(&e, "ev", "1",
		   "{\"name\":\"ev\",\"version\":\"1\",\"files\":["
		   "{\"from\":\"f0\",\"to\":\"ok.txt\"},"
		   "{\"from\":\"f0\",\"to\":\"link/x\"}]}");
	refused(&e, "outside the project");
	free(link);
	fu_env_free(&e);
}
END_TEST

START_TEST(escape_from_outside_registry)
{
	fu_env e;
	fu_env_init(&e);
	fu_pkg_raw(&e, "ev", "1",
		   "{\"name\":\"ev\",\"version\":\"1\",\"files\":["
		   "{\"from\":\"f0\",\"to\":\"ok.txt\"},"
		   "{\"from\":\"../../../../../etc/passwd\",\"to\":\"p\"}]}");
	refused(&e, "\"..\" component");
	fu_env_free(&e);
}
END_TEST

/* ---- the lock ---- */

struct hold {
	int ready; /* write end: "I hold the lock" */
	int go;    /* read end: "finish now" */
};

static void hold_progress(void *arg, size_t done, size_t total)
{
	struct hold *h = arg;
	char c = 0;
	if (done != 1)
		return;
	if (write(h->ready, "x", 1) != 1 || read(h->go, &c, 1) != 1)
		_exit(3);
}

START_TEST(second_install_names_the_holder)
{
	fu_env e;
	setup_ui(&e);
	int ready[2], go[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hold h = {ready[1], go[0]};
		e.o.progress = hold_progress;
		e.o.progress_arg = &h;
		dx_tm_report r;
		dx_diag d = DX_DIAG_INIT;
		_exit(fu_install(&e, "ui", "1", &r, &d) == 0 ? 0 : 1);
	}
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	dx_tm_report r;
	dx_diag d = DX_DIAG_INIT;
	int rc = fu_install(&e, "ui", "2", &r, &d);
	ck_assert_int_eq(rc, -EBUSY);
	char *want = fu_printf("pid %ld", (long)pid);
	tu_assert_diag_has(&d, want);
	tu_assert_diag_has(&d, ".dx/forge/lock");
	dx_diag_clear(&d);
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_file(&e, "src/a.c", V1);
	fu_install_ok(&e, "ui", "2"); /* the lock is free again */
	assert_file(&e, "src/a.c", V2);
	free(want);
	fu_env_free(&e);
}
END_TEST

/* ---- permission errors ----
 *
 * Tests run as root in CI, and root ignores file modes, so a chmod 0444
 * file would be written anyway. Instead the install runs in a child that
 * drops to "nobody" (setuid works for root, in containers too) over a
 * project chown'ed to nobody; a non-root developer needs no switch. The
 * child reports rc and the messages through a pipe. */

static void drop_to_nobody(const char *dir)
{
	if (geteuid() != 0)
		return;
	struct passwd *pw = getpwnam("nobody");
	uid_t uid = pw ? pw->pw_uid : 65534;
	gid_t gid = pw ? pw->pw_gid : 65534;
	char *cmd = fu_printf("chown -R %u:%u '%s'", (unsigned)uid,
			      (unsigned)gid, dir);
	if (system(cmd) != 0 || setgroups(0, NULL) < 0 || setgid(gid) < 0 ||
	    setuid(uid) < 0)
		_exit(100);
	free(cmd);
	/* TMPDIR under a 0700 home would hide the project from nobody. */
	if (access(dir, R_OK | W_OK | X_OK) < 0)
		_exit(102);
}

/* Install ui@2 as nobody; returns rc, *msgs gets the diagnostics. */
static int install_unprivileged(fu_env *e, char **msgs)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		drop_to_nobody(e->proj);
		dx_tm_report r;
		dx_diag d = DX_DIAG_INIT;
		int rc = fu_install(e, "ui", "2", &r, &d);
		const char *all = tu_diag_all(&d);
		if (write(p[1], all, strlen(all)) < 0)
			_exit(101);
		_exit(rc == -EACCES ? 0 : rc == 0 ? 1 : 2);
	}
	close(p[1]);
	char buf[8192];
	ssize_t n, len = 0;
	while ((n = read(p[0], buf + len, sizeof buf - 1 - (size_t)len)) > 0)
		len += n;
	buf[len] = '\0';
	close(p[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	*msgs = strdup(buf);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 100,
		      "could not switch to nobody");
	ck_assert_msg(WEXITSTATUS(st) != 102,
		      "nobody cannot reach %s: set TMPDIR to a directory "
		      "others can traverse (e.g. /tmp)",
		      e->proj);
	return WEXITSTATUS(st);
}

START_TEST(read_only_file_is_refused)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	char *a = fu_printf("%s/src/a.c", e.proj);
	ck_assert_int_eq(chmod(a, 0444), 0);
	char *before = fu_snapshot(e.proj, NULL);
	char *msgs = NULL;
	int st = install_unprivileged(&e, &msgs);
	ck_assert_msg(st == 0, "want -EACCES (child %d): %s", st, msgs);
	ck_assert_msg(strstr(msgs, "src/a.c") && strstr(msgs, "read-only"),
		      "the message must name the file: %s", msgs);
	char *after = fu_snapshot(e.proj, NULL);
	/* chown changed owners, not modes or contents: same snapshot. */
	ck_assert_str_eq(before, after);
	assert_file(&e, "src/a.c", V1);
	free(a);
	free(msgs);
	free(before);
	free(after);
	fu_env_free(&e);
}
END_TEST

START_TEST(read_only_dir_is_refused)
{
	fu_env e;
	setup_ui(&e);
	fu_file v2[] = {{"src/a.c", V2, 0}, {"src/new.c", "new\n", 0}};
	fu_pkg(&e, "ui", "2", v2, 2); /* overwrite ui@2: adds src/new.c */
	fu_install_ok(&e, "ui", "1");
	char *src = fu_printf("%s/src", e.proj);
	ck_assert_int_eq(chmod(src, 0555), 0);
	char *before = fu_snapshot(e.proj, NULL);
	char *msgs = NULL;
	int st = install_unprivileged(&e, &msgs);
	ck_assert_msg(st == 0, "want -EACCES (child %d): %s", st, msgs);
	ck_assert_msg(strstr(msgs, "src/") && strstr(msgs, "Permission"),
		      "the message must name the file: %s", msgs);
	char *after = fu_snapshot(e.proj, NULL);
	ck_assert_str_eq(before, after);
	free(src);
	free(msgs);
	free(before);
	free(after);
	fu_env_free(&e);
}
END_TEST

START_TEST(red_altered_base)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	fu_puts(e.proj, "src/a.c", MINE_CLEAN);
	/* A base copy that no longer matches installed.json is no base. */
	fu_puts(e.proj, ".dx/forge/base/ui/src/a.c", "tampered\n");
	plan_install(&e, "2", "src/a.c", DX_TM_RED, DX_TM_CONFLICT,
		     "missing or altered");
	assert_file(&e, "src/a.c", MINE_CLEAN);
	assert_file(&e, "src/a.c.new", V2);
	fu_env_free(&e);
}
END_TEST

/* chattr +i on a base copy: the plan's checks pass (they look at the
 * project), staging passes, and renaming over the immutable file fails
 * after the project's files were already renamed - the live roll-back
 * must put them back. Needs CAP_LINUX_IMMUTABLE and a filesystem with the
 * flag (ext4, xfs); elsewhere the test says so and passes. */
static int chattr(const char *flag, const char *path)
{
	char *cmd = fu_printf("chattr %s '%s' 2>/dev/null", flag, path);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

START_TEST(commit_failure_rolls_back)
{
	fu_env e;
	setup_ui(&e);
	fu_install_ok(&e, "ui", "1");
	fu_puts(e.proj, "src/a.c", MINE_CLEAN);
	char *base = fu_printf("%s/.dx/forge/base/ui/src/a.c", e.proj);
	char *before = fu_snapshot(e.proj, "/.dx/forge/lock");
	if (chattr("+i", base) != 0) {
		printf("commit_failure_rolls_back: chattr +i unavailable, "
		       "not run\n");
	} else {
		dx_tm_report r;
		dx_diag d = DX_DIAG_INIT;
		int rc = fu_install(&e, "ui", "2", &r, &d);
		chattr("-i", base);
		ck_assert_int_lt(rc, 0);
		tu_assert_diag_has(&d, ".dx/forge/base/ui/src/a.c");
		tu_assert_diag_has(&d, "rolled back, nothing was changed");
		char *after = fu_snapshot(e.proj, "/.dx/forge/lock");
		ck_assert_str_eq(before, after);
		free(after);
		dx_diag_clear(&d);
	}
	free(base);
	free(before);
	fu_env_free(&e);
}
END_TEST

START_TEST(bad_specs)
{
	const char *bad[] = {"ui",      "@1",     "ui@",   "../ui@1",
			     "ui@../1", "ui@1/2", ".ui@1", "ui@1@2"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *n, *v;
		dx_diag d = DX_DIAG_INIT;
		ck_assert_msg(dx_tm_parse_spec(bad[i], &n, &v, &d) == -EINVAL,
			      "%s accepted", bad[i]);
		dx_diag_clear(&d);
	}
	char *n, *v;
	dx_diag d = DX_DIAG_INIT;
	ck_assert_int_eq(dx_tm_parse_spec("ui@1.1.0", &n, &v, &d), 0);
	ck_assert_str_eq(n, "ui");
	ck_assert_str_eq(v, "1.1.0");
	free(n);
	free(v);
}
END_TEST

START_TEST(missing_package)
{
	fu_env e;
	setup_ui(&e);
	dx_tm_report r;
	dx_diag d = DX_DIAG_INIT;
	ck_assert_int_lt(dx_tm_plan(&e.o, "ui", "9", &r, &d), 0);
	tu_assert_diag_has(&d, "no ui@9 in the registry");
	dx_diag_clear(&d);
	fu_env_free(&e);
}
END_TEST

static Suite *traffic_suite(void)
{
	Suite *s = suite_create("traffic");
	TCase *t = tcase_create("lights");
	tcase_add_test(t, green_absent);
	tcase_add_test(t, green_identical);
	tcase_add_test(t, green_unchanged_since_installed);
	tcase_add_test(t, yellow_clean_merge);
	tcase_add_test(t, yellow_package_unchanged);
	tcase_add_test(t, red_conflict);
	tcase_add_test(t, red_binary);
	tcase_add_test(t, red_not_installed_by_forge);
	tcase_add_test(t, red_altered_base);
	tcase_add_test(t, deleted_stays_deleted);
	tcase_add_test(t, deleted_restored_when_asked);
	tcase_add_test(t, dropped_file_left_in_place);
	tcase_add_test(t, symlink_inside_project_is_fine);
	suite_add_tcase(s, t);
	t = tcase_create("escapes");
	tcase_add_test(t, escape_dotdot);
	tcase_add_test(t, escape_absolute);
	tcase_add_test(t, escape_inner_dotdot);
	tcase_add_test(t, escape_nul);
	tcase_add_test(t, escape_into_dx);
	tcase_add_test(t, escape_symlink_outside);
	tcase_add_test(t, escape_from_outside_registry);
	tcase_add_test(t, bad_specs);
	tcase_add_test(t, missing_package);
	suite_add_tcase(s, t);
	t = tcase_create("safety");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, second_install_names_the_holder);
	tcase_add_test(t, read_only_file_is_refused);
	tcase_add_test(t, read_only_dir_is_refused);
	tcase_add_test(t, commit_failure_rolls_back);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return dx_check_run(traffic_suite());
}
