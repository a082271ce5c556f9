/* dl.h - the platform's dynamic loader, behind a few calls.
 * dl_posix.c (dlopen) everywhere but Windows; dl_win.c (LoadLibrary) there. */
#ifndef DX_HOST_DL_H
#define DX_HOST_DL_H

#include <stddef.h>

/* The platform's shared-object suffix: ".so", ".dylib" or ".dll". */
extern const char dx_dl_suffix[];

/* Open path with every symbol resolved now and none made global. On failure
 * NULL, with the platform's reason in err. */
void *dx_dl_open(const char *path, char *err, size_t errlen);
/* The address of function name, or NULL. */
void *dx_dl_func(void *handle, const char *name);
void dx_dl_close(void *handle);

/* Copy the open file fd (read from offset 0) into a new file of our own
 * ($TMPDIR/dx-NAME.XXXXXX.so, mode 0500), for dx_dl_open to map. 0 with
 * *out (malloc'd path), or a negated errno with the reason in err. */
int dx_dl_private_copy(int fd, const char *base, char **out, char *err,
		       size_t errlen);
/* Remove a copy made above; a mapped copy stays mapped (as "(deleted)").
 * Kept when dx_dl_close keeps libraries mapped (sanitizer builds), so
 * their symbols stay readable. */
void dx_dl_private_remove(const char *copy);

/* The directory of the running executable (no trailing slash), malloc'd and
 * owned by the caller; NULL when the platform cannot say. The default
 * plugin_path is found from it, so an installed tree may be moved. */
char *dx_dl_exe_dir(void);

#endif
