/* dl_posix.c - dx_dl_* over dlopen. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int dx_copy_all(int from, int to)
{
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(from, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(to, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			w += k;
		}
		off += n;
	}
}

int dx_dl_private_copy(int fd, const char *base, char **out, char *err,
		       size_t errlen)
{
	*out = NULL;
	const char *tmp = getenv("TMPDIR");
	const char *slash = strrchr(base, '/');
	base = slash ? slash + 1 : base;
	size_t stem = strlen(base);
	if (stem > 3 && strcmp(base + stem - 3, ".so") == 0)
		stem -= 3;
	char *path = NULL;
	if (asprintf(&path, "%s/dx-%.*s.XXXXXX.so", tmp && *tmp ? tmp : "/tmp",
		     (int)stem, base) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* mkostemps: a name nobody else has, created 0600 for us alone;
	 * read-only once written. */
	int to = mkostemps(path, 3, O_CLOEXEC);
	int rc = to < 0 ? -errno : dx_copy_all(fd, to);
	if (rc == 0 && fchmod(to, 0500) < 0)
		rc = -errno;
	if (to >= 0 && close(to) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "copying it to %s: %s", path,
			 strerror(-rc));
		if (to >= 0)
			unlink(path);
		free(path);
		return rc;
	}
	*out = path;
	return 0;
}

void dx_dl_private_remove(const char *copy)
{
	if (copy && DX_DL_UNLOAD)
		unlink(copy);
}

char *dx_dl_exe_dir(void)
{
	/* /proc/self/exe is Linux's; elsewhere readlink fails and the caller
	 * falls back to the configured prefix. */
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0 || (size_t)n >= sizeof buf - 1)
		return NULL;
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return strdup(buf[0] ? buf : "/");
}
