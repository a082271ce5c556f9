/* test_snapshot.c - snapshots and rollback on real trees: a round trip is
 * byte-identical (modes and links too) and leaves .git alone; identical
 * contents are stored once; unknown, ambiguous and damaged snapshots are
 * refused with nothing changed; and `dx forge snapshot/rollback` without a
 * host (argv[1]: the dx executable). */
#include <dirent.h>

#include "check_main.h"
#include "ft_util.h"
#include "snapshot.h"

static const char *dx_exe;

/* A project with a bit of everything. */
static void mk_project(const char *p)
{
	ft_puts(p, "README.md", "# demo\n");
	ft_write(p, "src/main.c", "int main(void) { return 0; }\n", 29, 0644);
	ft_write(p, "src/run.sh", "#!/bin/sh\necho hi\n", 18, 0755);
	ft_write(p, "src/secret.txt", "s3cr3t\n", 7, 0600);
	ft_write(p, "src/ro.txt", "read only\n", 10, 0444);
	ft_puts(p, "src/dup1.txt", "same content\n");
	ft_puts(p, "docs/dup2.txt", "same content\n");
	ft_write(p, "empty", "", 0, 0644);
	static const unsigned char bin[] = {0, 1, 2, 255, 0, 10, 13, 0};
	ft_write(p, "data/blob.bin", bin, sizeof bin, 0644);
	char *d = ft_printf("%s/emptydir", p);
	ck_assert_int_eq(mkdir(d, 0750), 0);
	free(d);
	d = ft_printf("%s/private", p);
	ck_assert_int_eq(mkdir(d, 0700), 0);
	free(d);
	ft_puts(p, "private/x", "x\n");
	char *l = ft_printf("%s/link-to-main", p);
	ck_assert_int_eq(symlink("src/main.c", l), 0);
	free(l);
	l = ft_printf("%s/dangling", p);
	ck_assert_int_eq(symlink("../nowhere/at/all", l), 0);
	free(l);
	ft_puts(p, ".git/HEAD", "ref: refs/heads/main\n");
	ft_puts(p, ".git/objects/ab/cdef", "git object\n");
	ft_puts(p, "vendor/lib/.git", "gitdir: ../../.git/modules/lib\n");
	ft_puts(p, "vendor/lib/lib.c", "int lib;\n");
}

static void take(const char *p, dx_snap_result *r)
{
	dx_snap_opts o = {.project = p};
	dx_fx_err e = {{0}};
	ck_assert_msg(dx_snap_create(&o, r, &e) == 0, "snapshot: %s", e.msg);
}

static int roll(const char *p, const char *id, dx_rollback_result *r,
		dx_fx_err *e)
{
	dx_snap_opts o = {.project = p};
	return dx_snap_rollback(&o, id, r, e);
}

static void sh(const char *cwd, const char *cmd)
{
	char *c = ft_printf("cd '%s' && %s", cwd, cmd);
	ck_assert_msg(system(c) == 0, "%s", c);
	free(c);
}

START_TEST(test_round_trip)
{
	char *p = ft_tmpdir();
	mk_project(p);
	dx_snap_result s;
	take(p, &s);
	ck_assert_int_eq(s.files, 11);
	ck_assert_int_eq(s.links, 2);
	char *want = ft_listing(p, false);

	/* Every kind of change. */
	ft_puts(p, "src/main.c", "int main(void) { return 1; }\n");
	sh(p, "chmod 0700 src/run.sh && chmod 0640 src/secret.txt");
	sh(p, "rm README.md data/blob.bin && rm -r emptydir");
	ft_puts(p, "new/deep/file.c", "new\n");
	ft_puts(p, "src/added.h", "added\n");
	sh(p, "rm -r private && echo file > private"); /* dir -> file */
	sh(p,
	   "rm empty && mkdir -p empty/sub && echo y > empty/sub/y"); /* file -> dir */
	sh(p, "rm link-to-main && ln -s README.md link-to-main");
	sh(p, "rm dangling && echo now a file > dangling"); /* link -> file */
	sh(p, "rm docs/dup2.txt && ln -s ../src/dup1.txt docs/dup2.txt");
	sh(p, "chmod 0555 src");
	ft_puts(p, ".git/HEAD", "ref: refs/heads/other\n"); /* after */
	ft_puts(p, ".git/new", "new git file\n");
	char *git = ft_listing(p, true);

	dx_rollback_result r;
	dx_fx_err e = {{0}};
	ck_assert_msg(roll(p, s.id, &r, &e) == 0, "rollback: %s", e.msg);
	char *got = ft_listing(p, false);
	ck_assert_str_eq(got, want);
	char *git_after = ft_listing(p, true);
	ck_assert_str_eq(git_after, git); /* .git untouched */
	ck_assert_uint_gt(r.written, 0);
	ck_assert_uint_gt(r.removed, 0);

	/* Rolling back again changes nothing. */
	ck_assert_int_eq(roll(p, s.id, &r, &e), 0);
	ck_assert_uint_eq(r.written, 0);
	ck_assert_uint_eq(r.removed, 0);
	ck_assert_uint_eq(r.modes, 0);
	free(got);
	got = ft_listing(p, false);
	ck_assert_str_eq(got, want);
	free(got);
	free(git);
	free(git_after);
	free(want);
	ft_rmtree(p);
	free(p);
}
END_TEST

static size_t count_objects(const char *p)
{
	char *cmd = ft_printf("find '%s/.dx/forge/snapshots/objects' -type f "
			      "| wc -l",
			      p);
	FILE *f = popen(cmd, "r");
	size_t n = 0;
	ck_assert_int_eq(fscanf(f, "%zu", &n), 1);
	pclose(f);
	free(cmd);
	return n;
}

START_TEST(test_content_addressed)
{
	char *p = ft_tmpdir();
	ft_puts(p, "a.txt", "one\n");
	ft_puts(p, "b.txt", "one\n");
	ft_puts(p, "c/d.txt", "one\n");
	ft_puts(p, "e.txt", "two\n");
	dx_snap_result s1, s2, s3;
	take(p, &s1);
	ck_assert_uint_eq(s1.files, 4);
	ck_assert_uint_eq(s1.new_objects, 2);
	ck_assert_uint_eq(count_objects(p), 2);
	ck_assert(!s1.existed);
	/* The object is named by its content's SHA-256 and holds it. */
	char hex[DX_FX_HEX_LEN + 1];
	dx_fx_sha256_hex("one\n", 4, hex);
	char *obj = dx_snap_object_path(p, hex);
	char *data = NULL;
	ck_assert_int_eq(dx_fx_read_file(obj, &data, NULL), 0);
	ck_assert_str_eq(data, "one\n");
	free(data);
	free(obj);

	/* The same tree: the same ID, nothing new. */
	take(p, &s2);
	ck_assert_str_eq(s2.id, s1.id);
	ck_assert(s2.existed);
	ck_assert_uint_eq(s2.new_objects, 0);

	/* One more file with known content: still two objects. */
	ft_puts(p, "f.txt", "two\n");
	take(p, &s3);
	ck_assert_str_ne(s3.id, s1.id);
	ck_assert_uint_eq(s3.new_objects, 0);
	ck_assert_uint_eq(count_objects(p), 2);

	/* The manifest has no .dx or .git path. */
	char *m = dx_snap_manifest_path(p, s3.id);
	ck_assert_int_eq(dx_fx_read_file(m, &data, NULL), 0);
	ck_assert_ptr_null(strstr(data, "\".dx"));
	ck_assert_ptr_null(strstr(data, ".git"));
	free(data);
	free(m);

	dx_snap_info *v;
	size_t n;
	dx_fx_err e = {{0}};
	ck_assert_int_eq(dx_snap_list(p, &v, &n, &e), 0);
	ck_assert_uint_eq(n, 2);
	free(v);
	ft_rmtree(p);
	free(p);
}
END_TEST

START_TEST(test_unknown_id_refused)
{
	char *p = ft_tmpdir();
	dx_rollback_result r;
	dx_fx_err e = {{0}};
	ft_puts(p, "a.txt", "a\n");
	/* No store at all. */
	ck_assert_int_eq(roll(p, "abcdef", &r, &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "no snapshot abcdef"), "%s", e.msg);

	dx_snap_result s;
	take(p, &s);
	ft_puts(p, "a.txt", "changed\n");
	ft_puts(p, "b.txt", "new\n");
	char *before = ft_listing(p, false);
	const char *other = s.id[0] == '0' ? "111111" : "000000";
	ck_assert_int_eq(roll(p, other, &r, &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "no snapshot") &&
			      strstr(e.msg, "snapshot --list"),
		      "%s", e.msg);
	ck_assert_int_eq(roll(p, "xyz", &r, &e), -EINVAL);
	ck_assert_msg(strstr(e.msg, "not a snapshot ID"), "%s", e.msg);
	ck_assert_int_eq(roll(p, "abc", &r, &e), -EINVAL); /* too short */
	ck_assert_int_eq(roll(p, "", &r, &e), -EINVAL);
	char *after = ft_listing(p, false);
	ck_assert_str_eq(after, before);

	/* A unique prefix works. */
	char prefix[9];
	memcpy(prefix, s.id, 8);
	prefix[8] = '\0';
	ck_assert_msg(roll(p, prefix, &r, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(r.id, s.id);
	char *a = ft_read(p, "a.txt", NULL);
	ck_assert_str_eq(a, "a\n");
	ck_assert(!ft_exists(p, "b.txt"));
	free(a);
	free(before);
	free(after);
	ft_rmtree(p);
	free(p);
}
END_TEST

START_TEST(test_damaged_refused)
{
	char *p = ft_tmpdir();
	ft_puts(p, "a.txt", "a\n");
	ft_puts(p, "b.txt", "b\n");
	dx_snap_result s;
	take(p, &s);
	ft_puts(p, "a.txt", "changed\n");
	char *before = ft_listing(p, false);
	dx_rollback_result r;
	dx_fx_err e = {{0}};

	/* A missing object: refused before anything changes. */
	char hex[DX_FX_HEX_LEN + 1];
	dx_fx_sha256_hex("b\n", 2, hex);
	char *obj = dx_snap_object_path(p, hex);
	char *moved = ft_printf("%s.away", obj);
	ck_assert_int_eq(rename(obj, moved), 0);
	ck_assert_int_eq(roll(p, s.id, &r, &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "incomplete") && strstr(e.msg, "b.txt"),
		      "%s", e.msg);
	char *after = ft_listing(p, false);
	ck_assert_str_eq(after, before);
	free(after);
	ck_assert_int_eq(rename(moved, obj), 0);

	/* A manifest that does not hash to its name. */
	char *m = dx_snap_manifest_path(p, s.id);
	chmod(m, 0644);
	char *text = NULL;
	ck_assert_int_eq(dx_fx_read_file(m, &text, NULL), 0);
	char *edit = ft_printf("%s ", text);
	ft_write("/", m + 1, edit, strlen(edit), 0444);
	ck_assert_int_eq(roll(p, s.id, &r, &e), -EINVAL);
	ck_assert_msg(strstr(e.msg, "damaged"), "%s", e.msg);
	after = ft_listing(p, false);
	ck_assert_str_eq(after, before);
	free(after);
	free(edit);
	free(text);
	free(m);
	free(obj);
	free(moved);
	free(before);
	ft_rmtree(p);
	free(p);
}
END_TEST

/* The last line of out that starts with prefix, after it. */
static char *line_after(const char *out, const char *prefix)
{
	const char *s = strstr(out, prefix);
	ck_assert_msg(s != NULL, "no \"%s\" in:\n%s", prefix, out);
	s += strlen(prefix);
	return strndup(s, strcspn(s, "\n"));
}

START_TEST(test_cli)
{
	ck_assert_msg(dx_exe, "pass the dx executable as argv[1]");
	char *p = ft_tmpdir();
	mk_project(p);
	char *out = NULL;
	char *snap[] = {(char *)dx_exe, "forge", "snapshot", NULL};
	int rc = ft_run(p, snap, &out);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	char *id = line_after(out, "snapshot ");
	ck_assert_msg(dx_fx_is_hex64(id), "%s", out);
	free(out);
	char *want = ft_listing(p, false);

	ft_puts(p, "src/main.c", "broken\n");
	ft_puts(p, "junk.o", "junk\n");
	char *prefix = strndup(id, 10);
	char *pflag = ft_printf("--project=%s", p);
	char *back[] = {(char *)dx_exe, "forge", "rollback",
			prefix,         pflag,   NULL};
	rc = ft_run("/", back, &out);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	ck_assert_msg(strstr(out, "rolled back to"), "%s", out);
	free(out);
	char *got = ft_listing(p, false);
	ck_assert_str_eq(got, want);
	free(got);

	char *list[] = {(char *)dx_exe, "forge", "snapshot", "--list", NULL};
	rc = ft_run(p, list, &out);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, id), "%s", out);
	free(out);

	char *unknown[] = {(char *)dx_exe, "forge", "rollback", "fedcba9876",
			   NULL};
	rc = ft_run(p, unknown, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, "no snapshot fedcba9876"), "%s", out);
	free(out);
	char *noid[] = {(char *)dx_exe, "forge", "rollback", NULL};
	ck_assert_int_eq(ft_run(p, noid, NULL), 2);

	free(want);
	free(pflag);
	free(prefix);
	free(id);
	ft_rmtree(p);
	free(p);
}
END_TEST

int main(int argc, char **argv)
{
	/* Absolute: the tests run it from other directories. */
	dx_exe = argc > 1 ? realpath(argv[1], NULL) : NULL;
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_content_addressed);
	tcase_add_test(tc, test_unknown_id_refused);
	tcase_add_test(tc, test_damaged_refused);
	tcase_add_test(tc, test_cli);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
