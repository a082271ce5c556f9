/* str.c - the message a failing forge call leaves (dx_fx_err) and
 * malloc'd printf (fx_util.h). */
#include "fx_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int dx_fx_fail(dx_fx_err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

char *dx_fx_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
