/* test_analyse.c - a known tree gives known counts per language, in the
 * result and in the JSON report; .git and .dx are not counted. */
#include <cjson/cJSON.h>

#include "analyse.h"
#include "check_main.h"
#include "ft_util.h"
#include "task.h"

static const dx_analyse_lang *find(const dx_analysis *a, const char *lang)
{
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->langs[i].language, lang) == 0)
			return &a->langs[i];
	return NULL;
}

static void known_tree(const char *p)
{
	ft_puts(p, "src/a.c", "int a;\nint b;\n");            /* 2 */
	ft_puts(p, "src/b.c", "int c;");                      /* 1 */
	ft_puts(p, "src/a.h", "#pragma once\n\n\n");          /* 3 */
	ft_puts(p, "build.sh", "#!/bin/sh\necho\n");          /* 2 */
	ft_puts(p, "tool", "#!/usr/bin/env python3\npass\n"); /* Python, 2 */
	ft_puts(p, "x.py", "print(1)\n");                     /* 1 */
	ft_puts(p, "meson.build", "project('x')\n");          /* Meson 1 */
	ft_puts(p, "meson_options.txt", "option('a')\nb\n");  /* Meson 2 */
	ft_puts(p, "doc/README.md", "# t\n\ntext\n");         /* 3 */
	ft_puts(p, "conf.json", "{}\n");                      /* 1 */
	ft_puts(p, "notes.txt", "a\nb\nc\nd\n");              /* Text 4 */
	ft_puts(p, "LICENSE", "MIT\n");                       /* Other 1 */
	ft_write(p, "img.bin", "\x89PNG\0\0\n\n", 8, 0644);   /* Binary */
	ft_puts(p, "empty.c", "");                            /* C, 0 */
	ft_puts(p, ".git/config", "[core]\n");                /* skipped */
	ft_puts(p, "sub/.git/HEAD", "x\n");                   /* skipped */
	ft_puts(p, ".dx/forge/lock", "x\n");                  /* skipped */
	char *l = ft_printf("%s/link.c", p);
	ck_assert_int_eq(symlink("src/a.c", l), 0); /* not counted */
	free(l);
}

START_TEST(test_known_counts)
{
	char *p = ft_tmpdir();
	known_tree(p);
	dx_analyse_opts o = {.project = p};
	dx_analysis a;
	dx_fx_err e = {{0}};
	ck_assert_msg(dx_analyse(&o, &a, &e) == 0, "%s", e.msg);
	static const struct {
		const char *lang;
		size_t files;
		uint64_t lines;
	} want[] = {
		{"C", 3, 3},      {"C header", 1, 3}, {"Shell", 1, 2},
		{"Python", 2, 3}, {"Meson", 2, 3},    {"Markdown", 1, 3},
		{"JSON", 1, 1},   {"Text", 1, 4},     {"Other", 1, 1},
		{"Binary", 1, 0},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const dx_analyse_lang *l = find(&a, want[i].lang);
		ck_assert_msg(l, "no %s", want[i].lang);
		ck_assert_msg(
			l->files == want[i].files && l->lines == want[i].lines,
			"%s: %zu files %llu lines, want %zu and %llu",
			want[i].lang, l->files, (unsigned long long)l->lines,
			want[i].files, (unsigned long long)want[i].lines);
	}
	ck_assert_uint_eq(a.count, sizeof want / sizeof want[0]);
	ck_assert_uint_eq(a.files, 14);
	ck_assert_uint_eq(a.lines, 23);
	/* Sorted: most lines first. */
	for (size_t i = 1; i < a.count; i++)
		ck_assert_uint_ge(a.langs[i - 1].lines, a.langs[i].lines);

	/* The report says the same. */
	char *want_report = ft_printf("%s/.dx/forge/analysis.json", p);
	ck_assert_str_eq(a.report, want_report);
	char *text = NULL;
	ck_assert_int_eq(dx_fx_read_file(a.report, &text, NULL), 0);
	cJSON *j = cJSON_Parse(text);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "files")->valueint, 14);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "lines")->valueint, 23);
	cJSON *langs = cJSON_GetObjectItem(j, "languages");
	ck_assert_int_eq(cJSON_GetArraySize(langs), (int)a.count);
	cJSON *first = cJSON_GetArrayItem(langs, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(first, "language")->valuestring,
			 a.langs[0].language);
	cJSON_Delete(j);
	free(text);
	free(want_report);
	dx_analysis_free(&a);

	/* --output elsewhere; "" writes none. */
	char *out = ft_printf("%s/elsewhere/r.json", p);
	o.report = out;
	ck_assert_int_eq(dx_analyse(&o, &a, &e), 0);
	ck_assert(ft_exists(p, "elsewhere/r.json"));
	dx_analysis_free(&a);
	o.report = "";
	ck_assert_int_eq(dx_analyse(&o, &a, &e), 0);
	ck_assert_ptr_null(a.report);
	dx_analysis_free(&a);
	free(out);
	ft_rmtree(p);
	free(p);
}
END_TEST

START_TEST(test_language_names)
{
	ck_assert_str_eq(dx_analyse_language("x/y/z.C"), "C");
	ck_assert_str_eq(dx_analyse_language("meson_options.txt"), "Meson");
	ck_assert_str_eq(dx_analyse_language("a/Makefile"), "Make");
	ck_assert_ptr_null(dx_analyse_language(".bashrc"));
	ck_assert_ptr_null(dx_analyse_language("LICENSE"));
}
END_TEST

static void on_done(void *arg, const char *task, int rc, const char *msg)
{
	(void)task;
	(void)msg;
	*(int *)arg = rc + 1000;
}

START_TEST(test_task)
{
	char *p = ft_tmpdir();
	known_tree(p);
	int got = 0;
	dx_forge_task *t = dx_forge_task_analyse(p, NULL);
	ck_assert_str_eq(dx_forge_task_name(t), "forge.analyse");
	dx_forge_task_on_done(t, on_done, &got);
	dx_forge_task_run(t);
	ck_assert_int_eq(got, 1000);
	ck_assert(ft_exists(p, ".dx/forge/analysis.json"));
	ft_rmtree(p);
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("analyse");
	TCase *tc = tcase_create("analyse");
	tcase_add_test(tc, test_known_counts);
	tcase_add_test(tc, test_language_names);
	tcase_add_test(tc, test_task);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
