/* wintest.c - the harness of wintest.h. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#include "wintest.h"

jmp_buf wt_bail;
const char *wt_case = "";

void wt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s (%s:%d): ", wt_case, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	longjmp(wt_bail, 1);
}

/* One case; false when a check failed in it. setjmp sits here, in a
 * frame of its own, so no local of the loop lives across the longjmp. */
static bool wt_one(const wt_test *t)
{
	wt_case = t->name;
	if (setjmp(wt_bail) != 0)
		return false;
	t->fn();
	return true;
}

int wt_run(const char *suite, const wt_test *tests, size_t n)
{
	size_t ok = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (wt_one(&tests[i])) {
			ok++;
			printf("ok   %s\n", tests[i].name);
		} else {
			failed++;
		}
		fflush(stdout);
	}
	printf("%s: %zu cases passed, %zu failed\n", suite, ok, failed);
	return failed ? 1 : 0;
}
