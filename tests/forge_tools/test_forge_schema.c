/* test_forge_schema.c - plugins/forge/orchestrator/forge_schema.c: forge's
 * manifest section is refused with a message that names the JSON path and
 * says what was wrong, and a good one passes with its relative cwd taken
 * from the manifest's directory. The checker runs as `dx forge run` runs
 * it, through the host core's offline host API table (the forge plugin
 * runs the same code through its host's table at init).
 *
 * These cases and their expected messages were the forge cases of
 * tests/manifest/test_manifest.c before forge's schema left the host;
 * fixtures are in tests/forge_tools/cases (found through
 * DX_SOURCE_ROOT). */
#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <dx/error.h>

#include "config.h"
#include "expect_msg.h"
#include "forge_schema.h"
#include "hostapi_offline.h"

static const char *env_or_fail(const char *name)
{
	const char *v = getenv(name);
	ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
	return v;
}

static void case_path(char *out, size_t n, const char *name)
{
	int r = snprintf(out, n, "%s/tests/forge_tools/cases/%s",
			 env_or_fail("DX_SOURCE_ROOT"), name);
	ck_assert(r > 0 && (size_t)r < n);
}

/* One run of the checker over the "forge" member of the manifest text. */
typedef struct run {
	const dx_host_api *h;
	cJSON *root;
	dx_config *sec;
	int rc;
} run;

static void check_text(run *r, const char *text)
{
	r->root = cJSON_Parse(text);
	ck_assert_ptr_nonnull(r->root);
	r->h = dx_hostapi_offline();
	ck_assert_ptr_nonnull(r->h);
	r->sec = dx_config_section(
		cJSON_GetObjectItemCaseSensitive(r->root, "forge"), "forge");
	r->rc = forge_schema_check(r->h, r->sec);
}

static void check_file(run *r, const char *name)
{
	char path[PATH_MAX];
	case_path(path, sizeof path, name);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	static char text[65536];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	check_text(r, text);
}

static const dx_diag *errors(const run *r)
{
	return dx_hostapi_offline_errors(r->h);
}

static void done(run *r)
{
	dx_config_free(r->sec);
	dx_hostapi_offline_free(r->h);
	cJSON_Delete(r->root);
}

/* ---- one bad fixture per case ------------------------------------------ */

static const struct {
	const char *file;
	expect want;
	size_t count;
} bad_cases[] = {
	{"forge_cycle.json",
	 {"forge.tools: dependency cycle: a -> b -> c -> a", {NULL}},
	 1},
	{"forge_unknown_dep.json",
	 {"forge.tools[0].depends_on[0].tool: tool \"web\" depends on \"db\"",
	  {"not in forge.tools"}},
	 1},
};

#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

START_TEST(test_bad_fixture)
{
	run r;
	check_file(&r, bad_cases[_i].file);
	ck_assert_int_eq(r.rc, DX_ECONFIG);
	expect_msg(errors(&r), &bad_cases[_i].want, bad_cases[_i].file);
	ck_assert_msg(errors(&r)->count == bad_cases[_i].count,
		      "%s: %zu messages, expected %zu; first: %s",
		      bad_cases[_i].file, errors(&r)->count,
		      bad_cases[_i].count, dx_diag_last(errors(&r)));
	done(&r);
}
END_TEST

START_TEST(test_bad_forge_tool)
{
	static const expect want[] = {
		{"forge.tools[0].restart: expected one of \"no\", \"on_failure\", \"always\"",
		 {"got \"sometimes\""}},
		{"forge.tools[0].health: expected exactly one of tcp, cmd, alive",
		 {NULL}},
		{"forge.tools[0].depends_on[0].condition: expected one of \"started\"",
		 {"got \"ready\""}},
		{"forge.tools[0].priority: expected an integer in -1000..1000",
		 {"got 5000"}},
		{"forge.tools[0].env.A: expected a string, got 1", {NULL}},
		{"forge.tools[1]: missing required key \"binary\"", {NULL}},
		{"forge.tools[1].args[1]: expected a string, got 3", {NULL}},
		{"forge.tools[2].name: \"db\" is also forge.tools[0]", {NULL}},
	};
	run r;
	check_file(&r, "forge_bad_tool.json");
	ck_assert_int_eq(r.rc, DX_ECONFIG);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		expect_msg(errors(&r), &want[i], "forge_bad_tool.json");
	ck_assert_uint_eq(errors(&r)->count, sizeof want / sizeof want[0]);
	done(&r);
}
END_TEST

/* ---- in-memory bad cases ------------------------------------------------ */

static const struct {
	const char *text;
	expect want;
} bad_texts[] = {
	{"{\"dx\": 1, \"forge\": {\"tools\": [{\"name\": \"a\", \"binary\": \"x\","
	 " \"health\": {\"tcp\": \"db\"}}, {\"name\": \"b\", \"binary\": \"x\","
	 " \"health\": {\"cmd\": []}}]}}",
	 {"forge.tools[0].health.tcp: expected \"HOST:PORT\"", {"got \"db\""}}},
	{"{\"dx\": 1, \"forge\": {\"tools\": [{\"name\": \"b\", \"binary\": \"x\","
	 " \"health\": {\"cmd\": []}}]}}",
	 {"forge.tools[0].health.cmd: expected a non-empty array", {NULL}}},
	{"{\"dx\": 1, \"forge\": {\"tools\": [{\"name\": \"a\", \"binary\": \"x\","
	 " \"depends_on\": [{\"tool\": \"a\"}]}]}}",
	 {"forge.tools: dependency cycle: a -> a", {NULL}}},
	{"{\"dx\": 1, \"forge\": {\"tool\": []}}",
	 {"forge.tool: unknown key; expected one of tools", {NULL}}},
};

#define N_BAD_TEXT (sizeof bad_texts / sizeof bad_texts[0])

START_TEST(test_bad_text)
{
	run r;
	check_text(&r, bad_texts[_i].text);
	ck_assert_int_eq(r.rc, DX_ECONFIG);
	expect_msg(errors(&r), &bad_texts[_i].want, bad_texts[_i].text);
	done(&r);
}
END_TEST

/* ---- good ----------------------------------------------------------------- */

/* The relative cwd comes out relative to the manifest's directory. */
START_TEST(test_good)
{
	char dir[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 8];
	run r;
	check_file(&r, "forge_good.json");
	ck_assert_msg(r.rc == 0, "refused: %s", dx_diag_last(errors(&r)));
	ck_assert_uint_eq(errors(&r)->count, 0);
	case_path(dir, sizeof dir, "");
	ck_assert_ptr_nonnull(realpath(dir, real));
	snprintf(want, sizeof want, "%s/lib", real);
	char *cwd = forge_schema_path(real, "lib");
	ck_assert_str_eq(cwd, want);
	free(cwd);
	cwd = forge_schema_path(real, "/abs");
	ck_assert_str_eq(cwd, "/abs");
	free(cwd);
	done(&r);
	/* No section at all is fine. */
	ck_assert_int_eq(forge_schema_check(NULL, NULL), 0);
}
END_TEST

static Suite *schema_suite(void)
{
	Suite *s = suite_create("forge-schema");
	TCase *bad = tcase_create("bad");
	tcase_add_loop_test(bad, test_bad_fixture, 0, N_BAD);
	tcase_add_loop_test(bad, test_bad_text, 0, N_BAD_TEXT);
	tcase_add_test(bad, test_bad_forge_tool);
	suite_add_tcase(s, bad);
	TCase *good = tcase_create("good");
	tcase_add_test(good, test_good);
	suite_add_tcase(s, good);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(schema_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
