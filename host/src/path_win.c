/* path_win.c - path.h on Windows: both separators, drive letters and
 * UNC roots; the final path of a handle (loader_win.c's dx_full_path)
 * with '/' between its parts. Under wine a Unix path such as /tmp/x is
 * taken on the current drive, which wine maps to the Unix root (Z:), so
 * it names the same file; Windows itself has no such drive. A
 * control.socket starting with \\.\pipe\ is a named pipe's own name
 * (dx_path_pipe), never resolved as a file: the pipe file system's root
 * opens, but has no final path to give back (dx_path_real says ENODEV,
 * for a unix: listen address under it, say). */
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "loader_win.h"
#include "path.h"

bool dx_path_is_sep(char c)
{
	return c == '/' || c == '\\';
}

size_t dx_path_root(const char *p)
{
	if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) &&
	    p[1] == ':' && dx_path_is_sep(p[2]))
		return 3;
	if (dx_path_is_sep(p[0]) && dx_path_is_sep(p[1])) {
		/* \\server\share\: the share is part of the root. */
		size_t n = 2, parts = 0;
		while (p[n] && parts < 2)
			parts += dx_path_is_sep(p[n++]);
		return n;
	}
	return dx_path_is_sep(p[0]);
}

char *dx_path_real(const char *p)
{
	int e;
	char *r = dx_full_path(p, &e);
	if (!r) {
		errno = e;
		return NULL;
	}
	for (char *s = r; *s; s++)
		if (*s == '\\')
			*s = '/';
	return r;
}

int dx_path_open(const char *p)
{
	wchar_t *w = dx_wide(p);
	if (!w) {
		errno = EINVAL; /* not UTF-8 */
		return -1;
	}
	int fd = _wopen(w, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
	int e = errno;
	free(w);
	errno = e;
	return fd;
}

int dx_path_pipe(const char *p)
{
	static const char pre[] = "\\\\.\\pipe\\";
	size_t n = sizeof pre - 1;
	if (strncmp(p, pre, n) != 0 && strncmp(p, "//./pipe/", n) != 0)
		return DX_PATH_PIPE_NO;
	if (!p[n])
		return DX_PATH_PIPE_EMPTY;
	if (strchr(p + n, '\\'))
		return DX_PATH_PIPE_SEP;
	/* The whole name, as the system counts it: UTF-16 units. */
	int units = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, p, -1,
					NULL, 0);
	if (units <= 0)
		return DX_PATH_PIPE_UTF8;
	return units - 1 > DX_PATH_PIPE_MAX ? DX_PATH_PIPE_LONG :
					      DX_PATH_PIPE_OK;
}

_Static_assert(DX_PATH_PIPE_MAX == 256, "dx_path_pipe_why says 256");

const char *dx_path_pipe_why(int kind)
{
	switch (kind) {
	case DX_PATH_PIPE_EMPTY:
		return "names no pipe; put the pipe's name after \\\\.\\pipe\\ "
		       "(such as \\\\.\\pipe\\dx-myapp), or give a file path";
	case DX_PATH_PIPE_SEP:
		return "holds a backslash after \\\\.\\pipe\\; a pipe's name may "
		       "hold any character but a backslash (use / instead)";
	case DX_PATH_PIPE_LONG:
		return "is too long: Windows takes at most 256 characters, "
		       "\\\\.\\pipe\\ included; use a shorter one";
	case DX_PATH_PIPE_UTF8: return "is not UTF-8";
	default: return NULL;
	}
}
