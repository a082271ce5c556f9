/* test_forge_cli.c - `dx forge` as a user runs it: help texts, plan and
 * install reports, refusals, and an install killed with SIGKILL half-way
 * (through the DX_FORGE_TEST_KILL_AFTER test hook, see traffic.h) that
 * the next run completes or rolls back.
 *
 * argv[1] is the dx executable (meson passes it, so the sanitizer build
 * runs its own). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "forge_util.h"
#include "traffic.h"

#define V1 "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"
#define V2 "ONE\ntwo\nthree\nfour\nfive\nsix\nseven\n"

static void setup(fu_env *e)
{
	fu_env_init(e);
	fu_file v1[] = {{"src/a.c", V1, 0}, {"src/b.c", "bee\n", 0}};
	fu_file v2[] = {{"src/a.c", V2, 0}, {"src/b.c", "bee\n", 0}};
	fu_pkg(e, "ui", "1", v1, 2);
	fu_pkg(e, "ui", "2", v2, 2);
}

/* dx forge VERB SPEC --registry R --project P; returns the exit status. */
static int forge(fu_env *e, const char *verb, const char *spec, char **out,
		 char **err)
{
	const char *args[] = {"forge", verb,        spec,    "--registry",
			      e->reg,  "--project", e->proj, NULL};
	int st = fu_dx(out, err, args);
	ck_assert_msg(WIFEXITED(st), "dx forge %s died (%d)", verb, st);
	return WEXITSTATUS(st);
}

#define assert_has(hay, needle)                                                \
	ck_assert_msg(strstr((hay), (needle)), "expected \"%s\" in:\n%s",      \
		      (needle), (hay))

START_TEST(help_texts)
{
	char *out, *err;
	const char *a1[] = {"forge", "--help", NULL};
	ck_assert_int_eq(fu_dx(&out, &err, a1), 0);
	assert_has(out, "usage: dx forge plan NAME@VERSION");
	assert_has(out, "--restore-deleted");
	assert_has(out, "dx forge status");
	assert_has(out, "dx forge run TOOL");
	free(out);
	free(err);
	const char *a2[] = {"help", "forge", NULL};
	ck_assert_int_eq(fu_dx(&out, &err, a2), 0);
	assert_has(out, "dx forge install NAME@VERSION");
	free(out);
	free(err);
	const char *a3[] = {"--help", NULL};
	ck_assert_int_eq(fu_dx(&out, &err, a3), 0);
	assert_has(out, "forge      developer tools and source packages");
	ck_assert_ptr_null(strstr(out, "still to come"));
	free(out);
	free(err);
	const char *a4[] = {"forge", "plan", "--help", NULL};
	ck_assert_int_eq(fu_dx(&out, &err, a4), 0);
	assert_has(out, "usage: dx forge");
	free(out);
	free(err);
}
END_TEST

START_TEST(usage_errors)
{
	char *out, *err;
	const char *a1[] = {"forge", NULL};
	ck_assert_int_eq(WEXITSTATUS(fu_dx(&out, &err, a1)), 2);
	free(out);
	free(err);
	/* Each verb without what it needs says which thing is missing. */
	const char *tools[] = {"status", "up",   "stop",    "restart",
			       "run",    "logs", "rollback"};
	for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
		const char *a[] = {"forge", tools[i], NULL};
		ck_assert_int_eq(WEXITSTATUS(fu_dx(&out, &err, a)), 2);
		assert_has(err, "which ");
		free(out);
		free(err);
	}
	fu_env e;
	setup(&e);
	ck_assert_int_eq(forge(&e, "plan", "ui", &out, &err), 2);
	assert_has(err, "expected NAME@VERSION");
	free(out);
	free(err);
	const char *a2[] = {"forge", "install", "ui@1", NULL};
	unsetenv("DX_FORGE_REGISTRY");
	ck_assert_int_eq(WEXITSTATUS(fu_dx(&out, &err, a2)), 2);
	assert_has(err, "no registry");
	free(out);
	free(err);
	fu_env_free(&e);
}
END_TEST

START_TEST(plan_and_install_reports)
{
	fu_env e;
	setup(&e);
	char *out, *err;
	ck_assert_int_eq(forge(&e, "plan", "ui@1", &out, &err), 0);
	assert_has(out, "plan for ui@1; nothing written");
	assert_has(out, "  Green   src/a.c: absent");
	assert_has(out, "2 files: 2 green, 0 yellow, 0 red");
	ck_assert(!fu_exists(e.proj, ".dx"));
	free(out);
	free(err);

	ck_assert_int_eq(forge(&e, "install", "ui@1", &out, &err), 0);
	assert_has(out, "installed ui@1\n");
	assert_has(out, "  written   src/a.c\n");
	ck_assert_str_eq(err, ""); /* no progress line off a terminal */
	free(out);
	free(err);

	fu_puts(e.proj, "src/a.c", "uno\ntwo\nthree\nfour\nfive\nsix\nseven\n");
	fu_puts(e.proj, "src/b.c", "my bee\n");
	ck_assert_int_eq(forge(&e, "plan", "ui@2", &out, &err), 0);
	assert_has(out, "(installed: 1)");
	assert_has(out, "  Red     src/a.c: changed by you; the merge "
			"conflicts");
	assert_has(out, "  Yellow  src/b.c: changed by you; the new version "
			"did not change it");
	free(out);
	free(err);

	ck_assert_int_eq(forge(&e, "install", "ui@2", &out, &err), 0);
	assert_has(out, "installed ui@2 (was 1)");
	assert_has(out, "  conflict  src/a.c -> src/a.c.new (");
	assert_has(out, "  kept      src/b.c (kept your version)");
	assert_has(out, "1 conflict: your file is kept");
	ck_assert(fu_exists(e.proj, "src/a.c.new"));
	free(out);
	free(err);
	fu_env_free(&e);
}
END_TEST

START_TEST(refusal_exits_1)
{
	fu_env e;
	fu_env_init(&e);
	fu_pkg_raw(&e, "ev", "1",
		   "{\"name\":\"ev\",\"version\":\"1\",\"files\":["
		   "{\"from\":\"f0\",\"to\":\"../x\"}]}");
	char *out, *err;
	ck_assert_int_eq(forge(&e, "install", "ev@1", &out, &err), 1);
	assert_has(err, "files[0].to \"../x\" has a \"..\" component");
	assert_has(err, "ev@1 refused: nothing was written");
	ck_assert(!fu_exists(e.proj, ".dx"));
	free(out);
	free(err);
	fu_env_free(&e);
}
END_TEST

/* ---- killed half-way ---- */

/* ui@1 -> ui@2 touches everything the journal handles: a merge, a
 * conflict (FILE.new), new files in new directories, a dropped file, base
 * copies and installed.json. */
static void setup_kill(fu_env *e)
{
	fu_env_init(e);
	fu_file v1[] = {{"src/a.c", V1, 0},
			{"src/b.c", "bee\n", 0},
			{"src/c.c", V1, 0},
			{"old/gone.c", "gone\n", 0}};
	fu_file v2[] = {{"src/a.c", V2, 0},
			{"src/b.c", "bee 2\n", 0},
			{"src/c.c", V2, 0},
			{"new/deep/d.c", "dee\n", 0},
			{"new/e.c", "eee\n", 0}};
	fu_pkg(e, "ui", "1", v1, 4);
	fu_pkg(e, "ui", "2", v2, 5);
	fu_install_ok(e, "ui", "1");
	fu_puts(e->proj, "src/a.c", "one\ntwo\nthree\nfour\nfive\nsix\nmine\n");
	fu_puts(e->proj, "src/c.c",
		"uno\ntwo\nthree\nfour\nfive\nsix\nseven\n");
}

static char *snap(fu_env *e)
{
	return fu_snapshot(e->proj, "/.dx/forge/lock");
}

/* Kill dx forge install after n writes; 1 when it was killed. */
static int kill_run(fu_env *e, unsigned n)
{
	char num[16];
	snprintf(num, sizeof num, "%u", n);
	setenv("DX_FORGE_TEST_KILL_AFTER", num, 1);
	const char *args[] = {"forge", "install",   "ui@2",  "--registry",
			      e->reg,  "--project", e->proj, NULL};
	int st = fu_dx(NULL, NULL, args);
	unsetenv("DX_FORGE_TEST_KILL_AFTER");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "after %u writes: status %d", n, st);
	return 1;
}

/* After a kill at n: plan writes nothing and notices; recover leaves the
 * project fully old or fully new. Returns 0 for old, 1 for new. */
static int check_recovery(fu_env *e, unsigned n, const char *old_snap,
			  const char *new_snap)
{
	ck_assert_msg(fu_exists(e->proj, ".dx/forge/journal"),
		      "killed after %u writes: no journal", n);
	char *before = snap(e), *out, *err;
	ck_assert_int_eq(forge(e, "plan", "ui@2", &out, &err), 0);
	assert_has(out, "interrupted install is pending");
	char *after = snap(e);
	ck_assert_str_eq(before, after);
	free(out);
	free(err);
	const char *args[] = {"forge", "recover", "--project", e->proj, NULL};
	ck_assert_int_eq(fu_dx(&out, &err, args), 0);
	char *s = snap(e);
	int is_new = strcmp(s, new_snap) == 0;
	ck_assert_msg(is_new || strcmp(s, old_snap) == 0,
		      "killed after %u writes, recovered (%s) to neither "
		      "version:\n%s\nold:\n%s\nnew:\n%s",
		      n, out, s, old_snap, new_snap);
	assert_has(out, is_new ? "finished the interrupted install of ui@2" :
				 "rolled back the interrupted install of ui@2");
	ck_assert(!fu_exists(e->proj, ".dx/forge/journal"));
	free(s);
	free(out);
	free(err);
	free(before);
	free(after);
	return is_new;
}

START_TEST(killed_install_recovers)
{
	fu_env ref;
	setup_kill(&ref);
	char *old_snap = snap(&ref);
	fu_install_ok(&ref, "ui", "2");
	char *new_snap = snap(&ref);
	fu_env_free(&ref);

	int outcomes[2] = {0, 0};
	unsigned n;
	for (n = 1; n < 200; n++) {
		fu_env e;
		setup_kill(&e);
		if (!kill_run(&e, n)) { /* n is past the last write */
			char *s = snap(&e);
			ck_assert_str_eq(s, new_snap);
			free(s);
			fu_env_free(&e);
			break;
		}
		outcomes[check_recovery(&e, n, old_snap, new_snap)]++;
		fu_install_ok(&e, "ui", "2"); /* and the next install works */
		char *s = snap(&e);
		ck_assert_str_eq(s, new_snap);
		free(s);
		fu_env_free(&e);
	}
	ck_assert_msg(n > 10 && n < 200, "%u writes?", n);
	/* Kills while staging roll back; kills while committing finish. */
	ck_assert_int_gt(outcomes[0], 0);
	ck_assert_int_gt(outcomes[1], 0);
	free(old_snap);
	free(new_snap);
}
END_TEST

START_TEST(install_recovers_first)
{
	fu_env e;
	setup_kill(&e);
	ck_assert(kill_run(&e, 3));
	char *out, *err;
	ck_assert_int_eq(forge(&e, "install", "ui@2", &out, &err), 0);
	assert_has(out, "rolled back the interrupted install of ui@2");
	assert_has(out, "installed ui@2 (was 1)");
	ck_assert(!fu_exists(e.proj, ".dx/forge/journal"));
	free(out);
	free(err);
	fu_env_free(&e);
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("forge_cli");
	TCase *t = tcase_create("cli");
	tcase_add_test(t, help_texts);
	tcase_add_test(t, usage_errors);
	tcase_add_test(t, plan_and_install_reports);
	tcase_add_test(t, refusal_exits_1);
	suite_add_tcase(s, t);
	t = tcase_create("killed");
	tcase_set_timeout(t, 240);
	tcase_add_test(t, killed_install_recovers);
	tcase_add_test(t, install_recovers_first);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		setenv("DX_FORGE_DX", argv[1], 1);
	unsetenv("DX_FORGE_TEST_KILL_AFTER");
	return dx_check_run(cli_suite());
}
