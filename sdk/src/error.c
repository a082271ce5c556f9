/* error.c - dx_strerror and dx_err_name for DX_E* codes and negated errno. */
#include <errno.h>
#include <string.h>

#include <dx/error.h>

#include "sock.h"

struct dx_err_entry {
	int code;
	const char *name;
	const char *text;
};

static const struct dx_err_entry dx_errors[] = {
	{DX_OK, "DX_OK", "success"},
	{DX_EMAGIC, "DX_EMAGIC", "not a dx plugin descriptor (bad magic)"},
	{DX_EABI, "DX_EABI", "incompatible plugin ABI version"},
	{DX_ESIZE, "DX_ESIZE", "structure smaller than its v1.0 size"},
	{DX_ENOSYM, "DX_ENOSYM", "plugin entry point dx_plugin_v1 not found"},
	{DX_ENOTSO, "DX_ENOTSO", "not a loadable shared object"},
	{DX_ENAME, "DX_ENAME", "invalid name"},
	{DX_EDUP, "DX_EDUP", "duplicate name"},
	{DX_EUNSAFE, "DX_EUNSAFE",
	 "file or directory is writable by group or others"},
	{DX_ECONFIG, "DX_ECONFIG", "invalid configuration"},
	{DX_EINIT, "DX_EINIT", "plugin initialisation failed"},
	{DX_EFACET, "DX_EFACET", "unknown, reserved or malformed facet"},
	{DX_ESTATE, "DX_ESTATE", "operation not valid in the current state"},
	{DX_EPROTO, "DX_EPROTO", "malformed protocol input"},
};

/* The errno values dx code returns; named so dx_err_name is useful. */
static const struct dx_err_entry dx_errnos[] = {
	{-ENOMEM, "ENOMEM", NULL}, {-EINVAL, "EINVAL", NULL},
	{-ENOENT, "ENOENT", NULL}, {-EEXIST, "EEXIST", NULL},
	{-EACCES, "EACCES", NULL}, {-EPERM, "EPERM", NULL},
	{-EIO, "EIO", NULL},       {-EAGAIN, "EAGAIN", NULL},
	{-E2BIG, "E2BIG", NULL},   {-ENOTSUP, "ENOTSUP", NULL},
	{-EBUSY, "EBUSY", NULL},   {-ETIMEDOUT, "ETIMEDOUT", NULL},
	{-ENOSPC, "ENOSPC", NULL}, {-ERANGE, "ERANGE", NULL},
	{-ENOSYS, "ENOSYS", NULL}, {-ECANCELED, "ECANCELED", NULL},
};

static const struct dx_err_entry *dx_err_find(const struct dx_err_entry *t,
					      size_t n, int code)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return &t[i];
	return NULL;
}

const char *dx_strerror(int code)
{
	const struct dx_err_entry *e =
		dx_err_find(dx_errors, sizeof dx_errors / sizeof *dx_errors, code);
	if (e)
		return e->text;
	if (code < 0 && code > -4096)
		return dx_sock_strerror(-code); /* strerror, and on Windows
						  * the socket codes' text */
	return "unknown error";
}

const char *dx_err_name(int code)
{
	const struct dx_err_entry *e =
		dx_err_find(dx_errors, sizeof dx_errors / sizeof *dx_errors, code);
	if (!e)
		e = dx_err_find(dx_errnos, sizeof dx_errnos / sizeof *dx_errnos,
				code);
	return e ? e->name : "UNKNOWN";
}
