/* test_snapshot_prop.c - property: for random trees (files with random and
 * repeated contents and modes, directories, symlinks, a .git) and random
 * changes, snapshot then rollback gives back the snapshot's tree byte for
 * byte, modes included, and leaves .git as the changes left it.
 *
 * The seed comes from DX_TEST_SEED when set, else from the clock; it is
 * printed, and every failure message carries it ("seed N case K"), so
 * DX_TEST_SEED=N replays a failure. DX_TEST_CASES overrides the count
 * (default 120). */
#include "check_main.h"
#include "ft_util.h"
#include "snapshot.h"

static uint64_t seed;

static const mode_t file_modes[] = {0644, 0755, 0600, 0444, 0640, 0700};
static const mode_t dir_modes[] = {0755, 0700, 0750, 0555};
static const char *const contents[] = {"",  "a\n",  "same\n",
				       "x", "\n\n", "#!/bin/sh\nexit 0\n"};

static char *rand_name(uint64_t *r)
{
	static const char *const names[] = {"a",      "b",   "c.txt", "d.c",
					    "e e",    "f-1", "g.h",   "H",
					    "i.json", "j..k"};
	return ft_printf("%s%u", names[ft_below(r, 10)], ft_below(r, 3));
}

static void rand_content(uint64_t *r, char **data, size_t *len)
{
	if (ft_below(r, 3)) {
		const char *c = contents[ft_below(r, 6)];
		*data = strdup(c);
		*len = strlen(c);
		return;
	}
	*len = ft_below(r, 3000);
	*data = malloc(*len + 1);
	for (size_t i = 0; i < *len; i++)
		(*data)[i] = (char)ft_rand(r);
}

/* Fill dir (relative rel under root) with random entries. Directories are
 * left writable here; their final modes are set by fix_dir_modes. */
static void rand_tree(uint64_t *r, const char *root, const char *rel, int depth)
{
	unsigned n = ft_below(r, depth == 0 ? 7 : 5);
	for (unsigned i = 0; i < n; i++) {
		char *name = rand_name(r);
		char *path = *rel ? ft_printf("%s/%s", rel, name) :
				    strdup(name);
		free(name);
		if (ft_exists(root, path)) {
			free(path);
			continue;
		}
		unsigned kind = ft_below(r, 10);
		char *abs = ft_printf("%s/%s", root, path);
		if (kind < 6) {
			char *data;
			size_t len;
			rand_content(r, &data, &len);
			ft_write(root, path, data, len,
				 file_modes[ft_below(r, 6)]);
			free(data);
		} else if (kind < 8 && depth < 3) {
			ck_assert_int_eq(mkdir(abs, 0755), 0);
			rand_tree(r, root, path, depth + 1);
		} else {
			static const char *const targets[] = {"a0", "../b1",
							      "/etc/hostname",
							      "nowhere",
							      "c.txt2/x"};
			ck_assert_int_eq(symlink(targets[ft_below(r, 5)], abs),
					 0);
		}
		free(abs);
		free(path);
	}
}

/* Random directory modes, deepest first (as chmod -R would need). */
static void fix_dir_modes(uint64_t *r, const char *root)
{
	char *cmd = ft_printf("cd '%s' && find . -mindepth 1 -type d "
			      "-not -path './.git*' -not -path './.dx*' "
			      "| sort -r",
			      root);
	FILE *f = popen(cmd, "r");
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *p = ft_printf("%s/%s", root, line + 2);
		chmod(p, dir_modes[ft_below(r, 4)]);
		free(p);
	}
	pclose(f);
	free(cmd);
}

/* Random changes: rewrite, delete, chmod, add (anywhere writable). */
static void mutate(uint64_t *r, const char *root)
{
	/* Open every directory so the mutations can reach everything. */
	char *cmd = ft_printf("chmod -R u+rwx '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	cmd = ft_printf("cd '%s' && find . -mindepth 1 -not -path './.git*' "
			"-not -path './.dx*'",
			root);
	FILE *f = popen(cmd, "r");
	char line[4096];
	char **paths = NULL;
	size_t n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		paths = realloc(paths, (n + 1) * sizeof *paths);
		paths[n++] = strdup(line + 2);
	}
	pclose(f);
	free(cmd);
	unsigned changes = 1 + ft_below(r, 6);
	for (unsigned i = 0; i < changes; i++) {
		unsigned op = ft_below(r, 5);
		const char *victim = n ? paths[ft_below(r, (unsigned)n)] : NULL;
		if (!victim || op == 4) {
			rand_tree(r, root, "", 1);
			continue;
		}
		char *abs = ft_printf("%s/%s", root, victim);
		struct stat st;
		if (lstat(abs, &st) < 0) {
			free(abs);
			continue;
		}
		if (op == 0 && S_ISREG(st.st_mode)) {
			char *data;
			size_t len;
			rand_content(r, &data, &len);
			ft_write(root, victim, data, len, st.st_mode & 07777);
			free(data);
		} else if (op == 1) {
			char *rm = ft_printf("rm -rf '%s'", abs);
			ck_assert_int_eq(system(rm), 0);
			free(rm);
		} else if (op == 2 && !S_ISLNK(st.st_mode)) {
			chmod(abs, S_ISDIR(st.st_mode) ?
					   dir_modes[ft_below(r, 3)] :
					   file_modes[ft_below(r, 6)]);
		} else if (S_ISDIR(st.st_mode)) {
			rand_tree(r, root, victim, 2);
		}
		free(abs);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	/* And .git changes too, which rollback must leave alone. */
	char name[32];
	snprintf(name, sizeof name, ".git/obj%u", ft_below(r, 1000));
	ft_puts(root, name, "git\n");
}

static void one_case(unsigned k)
{
	uint64_t r = seed ^ (0x9E3779B97F4A7C15ULL * (k + 1));
	ft_rand(&r);
	char *p = ft_tmpdir();
	ft_puts(p, ".git/HEAD", "ref: refs/heads/main\n");
	rand_tree(&r, p, "", 0);
	fix_dir_modes(&r, p);
	char *want = ft_listing(p, false);
	dx_snap_opts o = {.project = p};
	dx_snap_result s;
	dx_fx_err e = {{0}};
	ck_assert_msg(dx_snap_create(&o, &s, &e) == 0,
		      "seed %llu case %u: snapshot: %s",
		      (unsigned long long)seed, k, e.msg);
	mutate(&r, p);
	char *git = ft_listing(p, true);
	dx_rollback_result rb;
	ck_assert_msg(dx_snap_rollback(&o, s.id, &rb, &e) == 0,
		      "seed %llu case %u: rollback: %s",
		      (unsigned long long)seed, k, e.msg);
	char *got = ft_listing(p, false);
	ck_assert_msg(strcmp(got, want) == 0,
		      "seed %llu case %u: the tree differs from the "
		      "snapshot:\nwant:\n%s\ngot:\n%s",
		      (unsigned long long)seed, k, want, got);
	char *git_after = ft_listing(p, true);
	ck_assert_msg(strcmp(git_after, git) == 0,
		      "seed %llu case %u: .git changed",
		      (unsigned long long)seed, k);
	free(git_after);
	free(got);
	free(git);
	free(want);
	ft_rmtree(p);
	free(p);
}

START_TEST(test_round_trip_property)
{
	const char *env = getenv("DX_TEST_CASES");
	unsigned cases = env && *env ? (unsigned)strtoul(env, NULL, 10) : 120;
	for (unsigned k = 0; k < cases; k++)
		one_case(k);
}
END_TEST

int main(void)
{
	seed = ft_seed();
	printf("snapshot-prop: seed %llu (DX_TEST_SEED=%llu replays)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	fflush(stdout);
	Suite *s = suite_create("snapshot-prop");
	TCase *tc = tcase_create("round trip");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_round_trip_property);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
