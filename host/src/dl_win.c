/* dl_win.c - dx_dl_* over LoadLibrary/GetProcAddress. Compiled on Windows only. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "dl.h"
#include "loader_win.h"

const char dx_dl_suffix[] = ".dll";

void *dx_dl_open(const char *path, char *err, size_t errlen)
{
	/* Only a full path: a bare name would be looked up along the DLL
	 * search path, and the file checked might not be the file loaded. */
	bool full = (path[0] && path[1] == ':' &&
		     (path[2] == '\\' || path[2] == '/')) ||
		    (path[0] == '\\' && path[1] == '\\');
	wchar_t *w = full ? dx_wide(path) : NULL;
	if (!w) {
		snprintf(err, errlen, "%s", full ? "out of memory, or not UTF-8" :
					 "not a full path (C:\\...)");
		free(w);
		return NULL;
	}
	/* LOAD_WITH_ALTERED_SEARCH_PATH: the plugin's own directory is searched
	 * first for its dependencies (libdx), as RPATH $ORIGIN would be on
	 * ELF. */
	HMODULE h = LoadLibraryExW(w, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
	free(w);
	if (!h) {
		DWORD code = GetLastError();
		char msg[256] = "";
		FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM |
				       FORMAT_MESSAGE_IGNORE_INSERTS,
			       NULL, code, 0, msg, sizeof msg, NULL);
		msg[strcspn(msg, "\r\n")] = '\0';
		snprintf(err, errlen, "LoadLibrary error %lu: %s",
			 (unsigned long)code, msg);
	}
	return (void *)h;
}

void *dx_dl_func(void *handle, const char *name)
{
	/* GetProcAddress returns a FARPROC; going through a union avoids
	 * the function-to-object pointer cast warning. */
	union {
		FARPROC f;
		void *p;
	} u;
	u.f = GetProcAddress((HMODULE)handle, name);
	return u.p;
}

void dx_dl_close(void *handle)
{
	if (handle)
		FreeLibrary((HMODULE)handle);
}

/* Windows maps the file itself for now: LoadLibrary keeps it open and
 * locked against writes, which covers the in-place rewrite case. */
int dx_dl_private_copy(int fd, const char *base, char **out, char *err,
		       size_t errlen)
{
	(void)fd;
	(void)base;
	*out = NULL;
	snprintf(err, errlen, "private copies are not made on Windows");
	return -ENOSYS;
}

void dx_dl_private_remove(const char *copy)
{
	(void)copy;
}

char *dx_dl_exe_dir(void)
{
	char buf[MAX_PATH];
	DWORD n = GetModuleFileNameA(NULL, buf, sizeof buf);
	if (n == 0 || n >= sizeof buf)
		return NULL;
	char *sep = strrchr(buf, '\\');
	if (!sep)
		return NULL;
	*sep = '\0';
	return strdup(buf);
}
