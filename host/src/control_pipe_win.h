/* control_pipe_win.h - the control channel's named pipe on Windows: how
 * control.socket's value names a pipe, and the server end control_win.c
 * runs (the client end is tools/dx_ctl_conn_win.c). Windows only.
 *
 * The name rule, the same for dx-host.exe and dx.exe:
 *   - a value that starts with \\.\pipe\ (or //./pipe/) is the pipe's
 *     name as it is (path.h's dx_path_pipe: something after the prefix,
 *     no backslash in it, at most DX_PIPE_NAME_MAX UTF-16 units); the
 *     manifest refuses any other such value with the reason;
 *   - any other value is a file path: made absolute from the current
 *     directory (the manifest's are already), every backslash turned into
 *     a slash (a pipe name may hold any character but a backslash), after
 *     \\.\pipe\dx-. So C:\srv\dx.sock is \\.\pipe\dx-C:/srv/dx.sock: one
 *     path, one pipe, and two paths never share one.
 * Pipe names are case-insensitive, as paths are on Windows.
 *
 * The server's pipe: one instance per client plus one waiting for the
 * next, all overlapped. Its DACL (protected, owner set to the user)
 * allows FILE_ALL_ACCESS to the user the host runs as and to SYSTEM, and
 * nothing to anyone else, the 0600 Unix socket's equivalent: SYSTEM as
 * root, who passes a 0600 mode on Linux (a service manager or an agent
 * running as LocalSystem may drive the host); not Administrators, whose
 * members act as the owner only by taking ownership, as on Linux a sudoer
 * acts only as root. The same DACL bars anyone else from creating an
 * instance of the name beside the host's. PIPE_REJECT_REMOTE_CLIENTS
 * keeps it to this machine; FILE_FLAG_FIRST_PIPE_INSTANCE on the first
 * instance makes a second host on the same name stop with DX_CTL_BUSY's
 * reason instead of sharing the name. Single-threaded: the thread that
 * opened the server makes every call. */
#ifndef DX_HOST_CONTROL_PIPE_WIN_H
#define DX_HOST_CONTROL_PIPE_WIN_H

#include <stddef.h>

#include <windows.h>

#include "diag.h"
#include "path.h" /* DX_PATH_PIPE_MAX, dx_path_pipe */

/* Clients at once: control_int.h's DX_CTL_CLIENTS. */
#define DX_PIPE_CLIENTS 16
/* The longest pipe name Windows takes, in UTF-16 units. */
#define DX_PIPE_NAME_MAX DX_PATH_PIPE_MAX

/* The pipe that control.socket's value path names (the rule above), as
 * UTF-8 in out (cap bytes). 0; -ENAMETOOLONG for a name over
 * DX_PIPE_NAME_MAX (or over cap); -EINVAL for an empty name, a pipe name
 * holding a backslash after \\.\pipe\, a path that is not UTF-8 or that
 * the system cannot make absolute. */
int dx_pipe_name(const char *path, char *out, size_t cap);

typedef struct dx_pipe_srv dx_pipe_srv;

/* Create the pipe named name (dx_pipe_name's) and wait for clients.
 * what names it in messages ("control.socket PATH"). full: the line a
 * client is sent, before it is let go, when DX_PIPE_CLIENTS are
 * connected. 0; -EADDRINUSE when another process has the name
 * (DX_CTL_BUSY's message); another negative errno. Every failure adds
 * one message to d. */
int dx_pipe_srv_open(const char *name, const char *what, const char *full,
		     dx_diag *d, dx_pipe_srv **out);

/* What dx_pipe_srv_wait saw. */
enum {
	DX_PIPE_NONE, /* the timeout, or nothing for the caller: look again */
	DX_PIPE_WAKE, /* wake is signalled (it stays so: the caller's) */
	DX_PIPE_NEW,  /* a client connected in slot *client: arm a read */
	DX_PIPE_READ, /* a read armed on *client completed with *n bytes; 0
		       * when the client went, its slot free again */
};

/* Wait up to timeout_ms (-1: no limit) for wake (an event; NULL: none),
 * a client, or a read. One of the enum above, or a negative errno. */
int dx_pipe_srv_wait(dx_pipe_srv *s, HANDLE wake, int timeout_ms, int *client,
		     size_t *n);
/* Read up to cap bytes from the client into buf, which must stay valid
 * until dx_pipe_srv_wait reports the read or the client is dropped. 0,
 * or -EPIPE for a client gone (its slot is free). */
int dx_pipe_srv_read(dx_pipe_srv *s, int client, void *buf, size_t cap);
/* Send text and a newline, waiting at most a second for the client to
 * take them: 0, or -EPIPE, and the client has been dropped. */
int dx_pipe_srv_write(dx_pipe_srv *s, int client, const char *text);
/* Let a client go: cancel its read, close its instance (it can still
 * read what was sent), free the slot. */
void dx_pipe_srv_drop(dx_pipe_srv *s, int client);
/* The pipe's name, for messages. */
const char *dx_pipe_srv_name(const dx_pipe_srv *s);
/* Drop every client and close the pipe; NULL is a no-op. */
void dx_pipe_srv_close(dx_pipe_srv *s);

#endif
