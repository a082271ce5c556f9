/* path.c - joining paths and checking that a relative path stays inside
 * its root (fx_util.h). */
#include "fx_util.h"

#include <stdlib.h>
#include <string.h>

char *dx_fx_join(const char *a, const char *b)
{
	if (!*a)
		return strdup(b);
	if (!*b)
		return strdup(a);
	size_t la = strlen(a);
	return dx_fx_printf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

bool dx_fx_path_safe(const char *rel)
{
	if (!*rel || *rel == '/')
		return false;
	for (const char *s = rel;;) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!end)
			return true;
		s = end + 1;
	}
}
