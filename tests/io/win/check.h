/* check.h - the part of Check (libcheck) that the IO conformance test
 * (tests/io/test_io_backend.c) and tests/unit/check_main.h use, for the
 * Windows build: Check is not packaged for mingw. Included instead of
 * <check.h> there (tests/io/meson.build puts this directory first).
 *
 * Behaves as Check with CK_FORK=no: the cases run one after another in
 * this process; a failed assertion records file, line and message and
 * leaves its case through longjmp (what the case allocated stays
 * allocated, as with CK_NOFORK), and the run goes on with the next. No
 * per-case timeout: meson test's bounds the whole run. The state is
 * check_shim.c's; assertions are made on the thread that runs the cases
 * (Check's own rule without fork). */
#ifndef DX_TEST_CHECK_SHIM_H
#define DX_TEST_CHECK_SHIM_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TTest {
	const char *name;
	void (*fn)(int);
	const char *file;
	int line;
} TTest;

#define START_TEST(__testname)                                             \
	static void __testname##_fn(int _i);                               \
	static const TTest __testname##_ttest = {#__testname,              \
						 __testname##_fn,          \
						 __FILE__, __LINE__};      \
	static const TTest *__testname = &__testname##_ttest;              \
	static void __testname##_fn(int _i)
#define END_TEST

typedef struct TCase {
	const char *name;
	const TTest *tests[64];
	int count;
} TCase;

typedef struct Suite {
	const char *name;
	TCase *tcases[8];
	int count;
} Suite;

typedef struct TestResult {
	const char *file;
	int line;
	const char *tcname;
	char msg[512];
} TestResult;

typedef struct SRunner {
	Suite *suite;
	TestResult *failed[64];
	int nfailed, nrun;
} SRunner;

enum print_output { CK_SILENT, CK_MINIMAL, CK_NORMAL, CK_VERBOSE, CK_ENV };

/* The case running now and where its failure goes (check_shim.c). */
extern jmp_buf ck_shim_bail;
extern TestResult *ck_shim_result;

/* Record the failure in ck_shim_result and leave the case. */
__attribute__((noreturn, format(printf, 3, 4))) void
ck_shim_fail(const char *file, int line, const char *fmt, ...);

#define ck_assert_msg(expr, ...)                                           \
	((expr) ? (void)0 : ck_shim_fail(__FILE__, __LINE__, __VA_ARGS__))
#define ck_assert(expr)                                                    \
	ck_assert_msg(expr, "Assertion '%s' failed", #expr)
#define ck_abort_msg(...) ck_shim_fail(__FILE__, __LINE__, __VA_ARGS__)

#define ck_shim_cmp(T, PRI, X, OP, Y)                                      \
	do {                                                               \
		T ck_x_ = (T)(X), ck_y_ = (T)(Y);                          \
		ck_assert_msg(ck_x_ OP ck_y_,                              \
			      "Assertion '%s' failed: %s == %" PRI         \
			      ", %s == %" PRI,                             \
			      #X " " #OP " " #Y, #X, ck_x_, #Y, ck_y_);    \
	} while (0)
#define ck_assert_int_eq(X, Y) ck_shim_cmp(intmax_t, PRIdMAX, X, ==, Y)
#define ck_assert_int_ne(X, Y) ck_shim_cmp(intmax_t, PRIdMAX, X, !=, Y)
#define ck_assert_int_lt(X, Y) ck_shim_cmp(intmax_t, PRIdMAX, X, <, Y)
#define ck_assert_int_le(X, Y) ck_shim_cmp(intmax_t, PRIdMAX, X, <=, Y)
#define ck_assert_int_gt(X, Y) ck_shim_cmp(intmax_t, PRIdMAX, X, >, Y)
#define ck_assert_int_ge(X, Y) ck_shim_cmp(intmax_t, PRIdMAX, X, >=, Y)
#define ck_assert_uint_eq(X, Y) ck_shim_cmp(uintmax_t, PRIuMAX, X, ==, Y)
#define ck_assert_uint_ne(X, Y) ck_shim_cmp(uintmax_t, PRIuMAX, X, !=, Y)
#define ck_assert_uint_lt(X, Y) ck_shim_cmp(uintmax_t, PRIuMAX, X, <, Y)
#define ck_assert_uint_le(X, Y) ck_shim_cmp(uintmax_t, PRIuMAX, X, <=, Y)
#define ck_assert_uint_gt(X, Y) ck_shim_cmp(uintmax_t, PRIuMAX, X, >, Y)
#define ck_assert_uint_ge(X, Y) ck_shim_cmp(uintmax_t, PRIuMAX, X, >=, Y)
#define ck_assert_ptr_nonnull(X)                                           \
	ck_assert_msg((X) != NULL, "Assertion '%s != NULL' failed", #X)
#define ck_assert_ptr_null(X)                                              \
	ck_assert_msg((X) == NULL, "Assertion '%s == NULL' failed", #X)

static inline Suite *suite_create(const char *name)
{
	Suite *s = calloc(1, sizeof *s);
	if (s)
		s->name = name;
	return s;
}

static inline TCase *tcase_create(const char *name)
{
	TCase *tc = calloc(1, sizeof *tc);
	if (tc)
		tc->name = name;
	return tc;
}

/* No fork, so no per-case timer (see the top). */
static inline void tcase_set_timeout(TCase *tc, double seconds)
{
	(void)tc;
	(void)seconds;
}

static inline void tcase_add_test(TCase *tc, const TTest *t)
{
	/* A case left out would pass unseen: stop the run instead. */
	if (tc->count >= (int)(sizeof tc->tests / sizeof tc->tests[0])) {
		fprintf(stderr, "check shim: too many cases in %s, %s left "
				"out: raise TTest's limit\n",
			tc->name, t->name);
		abort();
	}
	tc->tests[tc->count++] = t;
}

static inline void suite_add_tcase(Suite *s, TCase *tc)
{
	if (s->count >= (int)(sizeof s->tcases / sizeof s->tcases[0])) {
		fprintf(stderr, "check shim: too many tcases in %s, %s left "
				"out: raise Suite's limit\n",
			s->name, tc->name);
		abort();
	}
	s->tcases[s->count++] = tc;
}

static inline SRunner *srunner_create(Suite *s)
{
	SRunner *sr = calloc(1, sizeof *sr);
	if (sr)
		sr->suite = s;
	return sr;
}

/* One case; false when an assertion failed in it. setjmp sits in a
 * frame of its own, so no local of the loop lives across longjmp. */
static inline int ck_shim_one(const TTest *t, TestResult *r)
{
	ck_shim_result = r;
	if (setjmp(ck_shim_bail) != 0)
		return 0;
	t->fn(0);
	return 1;
}

/* CK_SILENT prints nothing; otherwise (CK_ENV: CK_VERBOSITY set) a line
 * per case, as Check's verbose output does, and the summary. */
static inline void srunner_run_all(SRunner *sr, enum print_output mode)
{
	int npassed = 0;
	for (int i = 0; i < sr->suite->count; i++) {
		TCase *tc = sr->suite->tcases[i];
		for (int j = 0; j < tc->count; j++) {
			const TTest *t = tc->tests[j];
			TestResult *r = calloc(1, sizeof *r);
			if (!r)
				abort();
			r->tcname = t->name;
			sr->nrun++;
			if (ck_shim_one(t, r)) {
				npassed++;
				free(r);
				if (mode != CK_SILENT)
					printf("%s:%d:P:%s:%s:0: Passed\n",
					       t->file, t->line, tc->name,
					       t->name);
			} else if (sr->nfailed < 64) {
				sr->failed[sr->nfailed++] = r;
				if (mode != CK_SILENT)
					printf("%s:%d:F:%s:%s:0: %s\n",
					       r->file, r->line, tc->name,
					       t->name, r->msg);
			} else {
				free(r);
			}
			fflush(stdout);
		}
	}
	if (mode != CK_SILENT)
		printf("%d%%: Checks: %d, Failures: %d, Errors: 0\n",
		       sr->nrun ? 100 * npassed / sr->nrun : 100, sr->nrun,
		       sr->nrun - npassed);
}

static inline int srunner_ntests_failed(SRunner *sr)
{
	return sr->nfailed;
}

static inline int srunner_ntests_run(SRunner *sr)
{
	return sr->nrun;
}

/* The caller frees the array (not its members: srunner_free does). */
static inline TestResult **srunner_failures(SRunner *sr)
{
	TestResult **tr = malloc((size_t)(sr->nfailed ? sr->nfailed : 1) *
				 sizeof *tr);
	if (tr)
		memcpy(tr, sr->failed, (size_t)sr->nfailed * sizeof *tr);
	return tr;
}

static inline const char *tr_lfile(TestResult *r)
{
	return r->file;
}

static inline int tr_lno(TestResult *r)
{
	return r->line;
}

static inline const char *tr_tcname(TestResult *r)
{
	return r->tcname;
}

static inline const char *tr_msg(TestResult *r)
{
	return r->msg;
}

static inline void srunner_free(SRunner *sr)
{
	for (int i = 0; i < sr->nfailed; i++)
		free(sr->failed[i]);
	for (int i = 0; i < sr->suite->count; i++)
		free(sr->suite->tcases[i]);
	free(sr->suite);
	free(sr);
}

#endif
