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
 * errno set as realpath(3): ENOENT when nothing is there, ENOMEM only
 * when memory ran out; on Windows ENODEV for something that opens but
 * has no path on a volume (a device, the pipe file system's root). */
char *dx_path_real(const char *p);
/* p opened for reading, not inherited by a child: an fd for read(),
 * fstat() and close(), or -1 with errno set. */
int dx_path_open(const char *p);

/* The longest name Windows takes for a named pipe, \\.\pipe\ included,
 * in UTF-16 units. */
#define DX_PATH_PIPE_MAX 256
/* What dx_path_pipe finds. */
enum {
	DX_PATH_PIPE_NO,    /* a path, not a pipe's name */
	DX_PATH_PIPE_OK,    /* a pipe's name, well formed */
	DX_PATH_PIPE_EMPTY, /* nothing after \\.\pipe\ */
	DX_PATH_PIPE_SEP,   /* a backslash after \\.\pipe\ */
	DX_PATH_PIPE_LONG,  /* over DX_PATH_PIPE_MAX UTF-16 units */
	DX_PATH_PIPE_UTF8,  /* not UTF-8 */
};
/* Whether p is a named pipe's own name rather than a file path, and if
 * so whether the system takes it. On Windows a value that starts with
 * \\.\pipe\ (or //./pipe/) is one: control.socket names its pipe so
 * (control_pipe_win.h). On POSIX nothing is: there a backslash is a
 * character of a file name, and DX_PATH_PIPE_NO comes back always. */
int dx_path_pipe(const char *p);
/* What is wrong with a pipe name dx_path_pipe found wrong (kind is what
 * it returned), as words to follow "pipe name NAME": "names no pipe;
 * ...". Only Windows is asked (POSIX gives NULL: it finds none). */
const char *dx_path_pipe_why(int kind);

#endif
