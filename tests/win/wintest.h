/* wintest.h - the assertion harness of the Windows tests (tests/win), which
 * run under wine: Check is not packaged for mingw, and its fork-per-test
 * has no Windows equivalent worth building. One executable per area; each
 * case is a function run in turn; a failed check prints where and why and
 * fails its case, which stops there; the executable prints
 * "NAME: N cases passed, N failed" and exits 1 if any failed, so meson
 * test counts it as one failed test. Single-threaded. */
#ifndef DX_WINTEST_H
#define DX_WINTEST_H

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <dx/plugin.h>

extern jmp_buf wt_bail;
extern const char *wt_case;

/* Report a failed check and leave the case. */
void wt_fail(const char *file, int line, const char *fmt, ...) DX_PRINTF(3, 4);

#define WT_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond))                                                   \
			wt_fail(__FILE__, __LINE__, __VA_ARGS__);              \
	} while (0)
/* cond must hold; the message says what was expected and what came. */
#define WT_ASSERT(cond) WT_CHECK(cond, "%s", #cond)
#define WT_INT_EQ(a, b)                                                        \
	do {                                                                   \
		long long wt_a = (long long)(a), wt_b = (long long)(b);        \
		WT_CHECK(wt_a == wt_b, "%s == %s: %lld != %lld", #a, #b, wt_a, \
			 wt_b);                                                \
	} while (0)
#define WT_STR_HAS(hay, needle)                                                \
	do {                                                                   \
		const char *wt_h = (hay), *wt_n = (needle);                    \
		WT_CHECK(wt_h &&strstr(wt_h, wt_n), "\"%s\" lacks \"%s\"",     \
			 wt_h ? wt_h : "(null)", wt_n);                        \
	} while (0)

typedef struct wt_test {
	const char *name;
	void (*fn)(void);
} wt_test;

/* Run every case of tests[n]; the process's exit status. */
int wt_run(const char *suite, const wt_test *tests, size_t n);

#endif
