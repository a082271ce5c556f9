/* path_posix.c - path.h on POSIX systems. */
#include <fcntl.h>
#include <stdlib.h>

#include "path.h"

size_t dx_path_root(const char *p)
{
	return p[0] == '/';
}

bool dx_path_is_sep(char c)
{
	return c == '/';
}

char *dx_path_real(const char *p)
{
	return realpath(p, NULL);
}

int dx_path_open(const char *p)
{
	return open(p, O_RDONLY | O_CLOEXEC);
}

int dx_path_pipe(const char *p)
{
	(void)p;
	return DX_PATH_PIPE_NO;
}

const char *dx_path_pipe_why(int kind)
{
	(void)kind;
	return NULL;
}
