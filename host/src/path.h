/* path.h - the file-system path rules the manifest follows, per system.
 * One file per system (meson picks):
 *   path_posix.c  '/' alone separates; a path starting with it is
 *                 absolute; realpath; open(O_CLOEXEC).
 *   path_win.c    '/' and '\' separate; "C:/", "C:\", "\\server\share\"
 *                 and the current drive's "/" or "\" start an absolute
 *                 path; the final path of a handle on the file (links
 *                 resolved, as realpath does) given back with '/' between
 *                 its parts, so joining with '/' stays right; _wopen,
 *                 not inherited. UTF-8 outside, UTF-16 to the system.
 * Internal to the host core; any thread. */
#ifndef DX_HOST_PATH_H
#define DX_HOST_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* How many bytes of p are its root, separator included: 0 for a relative
 * path. */
size_t dx_path_root(const char *p);
/* Whether c separates a path's parts. */
bool dx_path_is_sep(char c);
/* The absolute path p names, every link resolved, malloc'd; NULL with
 * errno set (ENOENT when nothing is there) as realpath(3). */
char *dx_path_real(const char *p);
/* p opened for reading, not inherited by a child: an fd for read(),
 * fstat() and close(), or -1 with errno set. */
int dx_path_open(const char *p);

#endif
