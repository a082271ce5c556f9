/* dx/error.h - one error convention for the host, the SDK and plugins.
 *
 * Functions return 0 on success or a negative code. Where an errno value fits,
 * the code is that value negated (-ENOMEM, -EINVAL, -ENOENT, -EEXIST, -EACCES);
 * dx's own conditions use the DX_E* codes below, which sit far below any errno.
 * dx_strerror() names every code; dx_err_name() gives its symbol.
 */
#ifndef DX_ERROR_H
#define DX_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	DX_OK = 0,
	DX_EMAGIC = -10001,   /* descriptor magic is not 'D','X','P','1' */
	DX_EABI = -10002,     /* ABI major differs or plugin minor is newer */
	DX_ESIZE = -10003,    /* descriptor or vtable smaller than its v1.0 size */
	DX_ENOSYM = -10004,   /* the file does not export dx_plugin_v1 */
	DX_ENOTSO = -10005,   /* the file is not a loadable shared object */
	DX_ENAME = -10006,    /* invalid plugin, facet or route name */
	DX_EDUP = -10007,     /* duplicate plugin, facet or route */
	DX_EUNSAFE = -10008,  /* file or directory writable by group or others */
	DX_ECONFIG = -10009,  /* manifest or plugin config is invalid */
	DX_EINIT = -10010,    /* a plugin's init failed without its own code */
	DX_EFACET = -10011,   /* unknown, reserved or malformed facet */
	DX_ESTATE = -10012,   /* call not valid in the current state */
	DX_EPROTO = -10013,   /* malformed protocol input */
};

/* A static, human-readable description of code. Thread-safe. Never NULL. */
const char *dx_strerror(int code);

/* The symbolic name of code ("DX_EABI", "ENOENT"), or "UNKNOWN". */
const char *dx_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif
