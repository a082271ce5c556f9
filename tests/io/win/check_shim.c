/* check_shim.c - the state of check.h's shim of Check (Windows build). */
#include <stdarg.h>

#include "check.h"

jmp_buf ck_shim_bail;
TestResult *ck_shim_result;

void ck_shim_fail(const char *file, int line, const char *fmt, ...)
{
	TestResult *r = ck_shim_result;
	r->file = file;
	r->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof r->msg, fmt, ap);
	va_end(ap);
	longjmp(ck_shim_bail, 1);
}
