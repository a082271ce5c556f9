/* dl_posix.c - dx_dl_* over dlopen. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dl.h"

#ifdef __APPLE__
const char dx_dl_suffix[] = ".dylib";
#else
const char dx_dl_suffix[] = ".so";
#endif

void *dx_dl_open(const char *path, char *err, size_t errlen)
{
	/* RTLD_NOW: an unresolved symbol is a load error now, not a crash
	 * on first call. RTLD_LOCAL: plugins never see each other's symbols. */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		size_t n = strlen(path);
		/* glibc says "PATH: reason"; the caller names the file already. */
		if (why && strncmp(why, path, n) == 0 && why[n] == ':' &&
		    why[n + 1] == ' ')
			why += n + 2;
		snprintf(err, errlen, "%s", why ? why : "dlopen failed");
	}
	return h;
}

void *dx_dl_func(void *handle, const char *name)
{
	void *p = dlsym(handle, name);
	return p;
}

/* Under AddressSanitizer a plugin stays mapped: LeakSanitizer walks
 * every thread's TLS at exit and crashes on blocks that unloaded
 * libraries (libpq's dependencies) left behind, and leaks found in plugin
 * code keep their symbols. Plain builds unload as they should. */
#if defined(__SANITIZE_ADDRESS__)
#define DX_DL_UNLOAD 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DX_DL_UNLOAD 0
#endif
#endif
#ifndef DX_DL_UNLOAD
#define DX_DL_UNLOAD 1
#endif

void dx_dl_close(void *handle)
{
	if (handle && DX_DL_UNLOAD)
		dlclose(handle);
}
