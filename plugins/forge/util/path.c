/* path.c - joining paths, names beside a file, and the checks that keep a
 * relative path inside its root (fx_util.h). */
#include "fx_util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *dx_fx_join(const char *a, const char *b)
{
	if (!*a)
		return strdup(b);
	if (!*b)
		return strdup(a);
	size_t la = strlen(a);
	return dx_fx_printf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

char *dx_fx_beside(const char *path, const char *suffix)
{
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path + 1) : 0;
	return dx_fx_printf("%.*s.%s%s", dlen, path, slash ? slash + 1 : path,
			    suffix);
}

const char *dx_fx_path_why(const char *rel, unsigned flags)
{
	if (!*rel)
		return "is empty";
	if (rel[0] == '/')
		return "is absolute";
	if ((flags & DX_FX_PATH_SHORT) && strlen(rel) >= PATH_MAX / 2)
		return "is too long";
	const char *p = rel;
	bool first = true;
	for (;;) {
		size_t n = strcspn(p, "/");
		if (n == 0)
			return "has an empty component";
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "has a \"..\" component (it would escape)";
		if (n == 1 && p[0] == '.')
			return "has a \".\" component";
		if ((flags & DX_FX_PATH_NOT_DX) && first && n == 3 &&
		    memcmp(p, ".dx", 3) == 0)
			return "is inside .dx (forge's own state)";
		first = false;
		if (!p[n])
			return NULL;
		p += n + 1;
	}
}

bool dx_fx_path_safe(const char *rel)
{
	return dx_fx_path_why(rel, 0) == NULL;
}

bool dx_fx_path_inside(const char *root, const char *path)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return true;
	return strncmp(path, root, n) == 0 && (!path[n] || path[n] == '/');
}

char *dx_fx_existing_dir(const char *path)
{
	char *dir = strdup(path);
	if (!dir)
		return NULL;
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			dir[1] = '\0';
			dir[0] = '/';
			return dir;
		}
		*slash = '\0';
		struct stat st;
		if (stat(dir, &st) == 0)
			return dir;
	}
}
