/* loader_win.h - the DACL rule of loader_win.c, on its own for the Windows
 * tests: under wine a file's DACL is made from its Unix mode, so the rights
 * a mode cannot hold (WRITE_DAC, WRITE_OWNER, DELETE, an entry for a
 * named user, a NULL DACL) can be tested only on DACLs built in memory.
 * Windows only; any thread. */
#ifndef DX_HOST_LOADER_WIN_H
#define DX_HOST_LOADER_WIN_H

#include <stddef.h>

#include <windows.h>

/* Whether dacl (NULL: no DACL, everyone may do anything) lets anyone but
 * owner, SYSTEM and Administrators write, add or delete files, or change
 * the DACL or the owner: 1 with that SID named in who ("S-1-1-0
 * (\Everyone)"), else 0. Inherit-only entries and deny entries are not
 * weighed. */
int dx_dacl_writer(PACL dacl, PSID owner, char *who, size_t len);
/* The final path of the file or directory path names (links resolved, no
 * \\?\ prefix, '\' between its parts), malloc'd; NULL with *err a
 * positive errno: ENOENT when nothing is there, ENODEV when something is
 * but has no path on a volume (a device, \\.\pipe\), ENOMEM only when
 * memory ran out. loader_win.c's resolving, and path_win.c's. */
char *dx_full_path(const char *path, int *err);
/* UTF-8 to a malloc'd UTF-16 string, or NULL (not UTF-8, out of memory):
 * the form every wide Windows call takes (loader_win.c, dl_win.c). */
wchar_t *dx_wide(const char *s);

#endif
