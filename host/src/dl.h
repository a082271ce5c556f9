/* dl.h - the platform's dynamic loader, behind three calls.
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

#endif
