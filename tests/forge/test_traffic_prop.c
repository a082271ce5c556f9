/* test_traffic_prop.c - property tests of the traffic manager over random
 * texts, with real files: a package's base version (installed first), the
 * user's edit of it, and the package's new version.
 *
 * Texts are lines with unique names: the base's "b<i>", the user's own
 * "u<j>", the new version's "n<j>", so "the user's edit survived" is
 * checkable line by line. The seed comes from DX_TEST_SEED when set, else
 * the clock; every failure message carries "seed N case K", and
 * DX_TEST_SEED=N replays the run exactly. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "forge_util.h"
#include "traffic.h"

#define CASES 150

static unsigned long long seed;

/* splitmix64, as test_registry_prop.c: the same stream everywhere. */
typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static unsigned below(rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

/* A random base: 0..15 lines "b0".."bN". */
static char *gen_base(rng *r)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	unsigned k = below(r, 16);
	for (unsigned i = 0; i < k; i++)
		fprintf(f, "b%u\n", i);
	fclose(f);
	return s;
}

enum { KEEP, DEL, REPLACE, INSERT };

/* A line-based edit of base at 0..3 random places: a line deleted,
 * replaced, or given a new line before it (position k: appended). New
 * lines are "<tag><j>". Few places keep clean merges common enough for
 * the merge branch of the properties to be exercised. */
static char *gen_edit(rng *r, const char *base, char tag)
{
	unsigned k = 0, act[17] = {0};
	for (const char *p = base; *p; p++)
		k += *p == '\n';
	for (unsigned m = below(r, 4); m > 0; m--) {
		unsigned at = below(r, k + 1);
		act[at] = at == k ? INSERT : 1 + below(r, 3);
	}
	char *s = NULL;
	size_t n = 0;
	unsigned id = 0, i = 0;
	FILE *f = open_memstream(&s, &n);
	for (const char *p = base; *p; i++) {
		size_t len = strcspn(p, "\n");
		if (act[i] == REPLACE || act[i] == INSERT)
			fprintf(f, "%c%u\n", tag, id++);
		if (act[i] == KEEP || act[i] == INSERT)
			fprintf(f, "%.*s\n", (int)len, p);
		p += len + (p[len] == '\n');
	}
	if (act[k] == INSERT)
		fprintf(f, "%c%u\n", tag, id++);
	fclose(f);
	return s;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		if (len == n && strncmp(p, line, n) == 0)
			return true;
		p += len + (p[len] == '\n');
	}
	return false;
}

/* One case's texts and project, with ui@1 = base, ui@2 = new. */
typedef struct pcase {
	fu_env e;
	char *base, *user, *new_;
	int k;
} pcase;

static void pcase_init(pcase *c, int k, rng *r)
{
	fu_env_init(&c->e);
	c->k = k;
	c->base = gen_base(r);
	c->user = gen_edit(r, c->base, 'u');
	c->new_ = gen_edit(r, c->base, 'n');
	fu_file v1[] = {{"src/f.txt", c->base, 0}};
	fu_file v2[] = {{"src/f.txt", c->new_, 0}};
	/* fu_file's len 0 means strlen: an empty text is written as "". */
	fu_pkg(&c->e, "ui", "1", v1, 1);
	fu_pkg(&c->e, "ui", "2", v2, 1);
}

static void pcase_free(pcase *c)
{
	fu_env_free(&c->e);
	free(c->base);
	free(c->user);
	free(c->new_);
}

static const dx_tm_file *pcase_run(pcase *c, bool install, dx_tm_report *r)
{
	dx_diag d = DX_DIAG_INIT;
	int rc = install ? fu_install(&c->e, "ui", "2", r, &d) :
			   dx_tm_plan(&c->e.o, "ui", "2", r, &d);
	ck_assert_msg(rc == 0, "seed %llu case %d: %s failed: %s", seed, c->k,
		      install ? "install" : "plan", tu_diag_all(&d));
	dx_diag_clear(&d);
	return fu_find(r, "src/f.txt");
}

/* What the user did to the installed file in this case. */
enum umode { U_NEVER, U_DELETED, U_AS_NEW, U_AS_BASE, U_EDITED, U_NMODES };

static void pcase_user(pcase *c, enum umode m)
{
	if (m == U_NEVER)
		return;
	fu_install_ok(&c->e, "ui", "1");
	char *p = fu_printf("%s/src/f.txt", c->e.proj);
	if (m == U_DELETED)
		ck_assert_int_eq(unlink(p), 0);
	else
		fu_puts(c->e.proj, "src/f.txt",
			m == U_AS_NEW  ? c->new_ :
			m == U_AS_BASE ? c->base :
					 c->user);
	free(p);
}

START_TEST(prop_traffic_safety)
{
	rng r = {seed ^ 0x5afe};
	for (int k = 0; k < CASES; k++) {
		pcase c;
		pcase_init(&c, k, &r);
		enum umode m = (enum umode)below(&r, U_NMODES);
		pcase_user(&c, m);
		dx_tm_report rep;
		const dx_tm_file *f = pcase_run(&c, false, &rep);
		bool edited = m == U_EDITED && strcmp(c.user, c.base) != 0 &&
			      strcmp(c.user, c.new_) != 0;
		if (edited)
			ck_assert_msg(f->light != DX_TM_GREEN,
				      "seed %llu case %d: a user edit got "
				      "Green (%s)",
				      seed, k, f->why);
		else
			ck_assert_msg(f->light == DX_TM_GREEN,
				      "seed %llu case %d: mode %d got %s (%s)",
				      seed, k, m, dx_tm_light_name(f->light),
				      f->why);
		dx_tm_report_free(&rep);
		pcase_free(&c);
	}
}
END_TEST

START_TEST(prop_green_injection)
{
	rng r = {seed ^ 0x62ee};
	for (int k = 0; k < CASES; k++) {
		pcase c;
		pcase_init(&c, k, &r);
		/* The Green cases that write: never installed, or installed
		 * and untouched. */
		enum umode m = below(&r, 2) ? U_NEVER : U_AS_BASE;
		pcase_user(&c, m);
		dx_tm_report rep;
		const dx_tm_file *f = pcase_run(&c, true, &rep);
		ck_assert_msg(f->light == DX_TM_GREEN,
			      "seed %llu case %d: got %s (%s)", seed, k,
			      dx_tm_light_name(f->light), f->why);
		size_t n;
		char *got = fu_read(c.e.proj, "src/f.txt", &n);
		ck_assert_msg(got && n == strlen(c.new_) &&
				      memcmp(got, c.new_, n) == 0,
			      "seed %llu case %d: file is not the new text",
			      seed, k);
		ck_assert_msg(!fu_exists(c.e.proj, "src/f.txt.new"),
			      "seed %llu case %d: stray FILE.new", seed, k);
		free(got);
		dx_tm_report_free(&rep);
		pcase_free(&c);
	}
}
END_TEST

/* A clean merge keeps every line the user added, drops every base line
 * the user deleted, and (being clean) has every line the new version
 * added. */
static void check_merged(const pcase *c, const char *got)
{
	for (const char *p = c->user; *p;) {
		size_t len = strcspn(p, "\n");
		char line[32];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		ck_assert_msg(line[0] != 'u' || has_line(got, line),
			      "seed %llu case %d: the user's line %s is lost",
			      seed, c->k, line);
		p += len + (p[len] == '\n');
	}
	for (const char *p = c->base; *p;) {
		size_t len = strcspn(p, "\n");
		char line[32];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		ck_assert_msg(has_line(c->user, line) || !has_line(got, line),
			      "seed %llu case %d: the user deleted %s, the "
			      "merge brought it back",
			      seed, c->k, line);
		p += len + (p[len] == '\n');
	}
	for (const char *p = c->new_; *p;) {
		size_t len = strcspn(p, "\n");
		char line[32];
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		ck_assert_msg(line[0] != 'n' || has_line(got, line),
			      "seed %llu case %d: the new line %s is missing "
			      "from a clean merge",
			      seed, c->k, line);
		p += len + (p[len] == '\n');
	}
}

START_TEST(prop_user_edit_never_lost)
{
	rng r = {seed ^ 0x1057};
	int merged = 0, conflicts = 0;
	for (int k = 0; k < CASES; k++) {
		pcase c;
		pcase_init(&c, k, &r);
		pcase_user(&c, U_EDITED);
		dx_tm_report rep;
		const dx_tm_file *f = pcase_run(&c, true, &rep);
		char *got = fu_read(c.e.proj, "src/f.txt", NULL);
		char *side = fu_read(c.e.proj, "src/f.txt.new", NULL);
		ck_assert_msg(got, "seed %llu case %d: the file is gone", seed,
			      k);
		if (f->light == DX_TM_RED) {
			conflicts++;
			ck_assert_msg(strcmp(got, c.user) == 0,
				      "seed %llu case %d: Red but the user's "
				      "file changed",
				      seed, k);
			ck_assert_msg(side && strcmp(side, c.new_) == 0,
				      "seed %llu case %d: Red without "
				      "FILE.new holding the new text",
				      seed, k);
		} else {
			merged += f->action == DX_TM_MERGE;
			check_merged(&c, got);
		}
		free(got);
		free(side);
		dx_tm_report_free(&rep);
		pcase_free(&c);
	}
	/* Both branches must have been exercised for the property to say
	 * anything. */
	ck_assert_msg(merged > 5 && conflicts > 5,
		      "seed %llu: only %d merges and %d conflicts", seed,
		      merged, conflicts);
}
END_TEST

static Suite *prop_suite(void)
{
	Suite *s = suite_create("traffic_prop");
	TCase *t = tcase_create("properties");
	tcase_set_timeout(t, 240);
	tcase_add_test(t, prop_traffic_safety);
	tcase_add_test(t, prop_green_injection);
	tcase_add_test(t, prop_user_edit_never_lost);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	seed = fu_seed();
	printf("test_traffic_prop: seed %llu (DX_TEST_SEED=%llu replays)\n",
	       seed, seed);
	return dx_check_run(prop_suite());
}
