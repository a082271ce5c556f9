/* dx_ctl_conn.h - the transport under dx_ctl_ask (dx_ctl_client.h): one
 * connection to a running host's control channel. One file per system
 * (tools/meson.build picks):
 *   dx_ctl_conn_posix.c  the Unix socket at the path.
 *   dx_ctl_conn_win.c    the named pipe the path names, by
 *                        host/src/control_pipe_win.h's rule.
 * Errors are positive errno values, as dx_ctl_ask's: ENOENT or
 * ECONNREFUSED when no host is there, EPERM when another user's process
 * serves the name (Windows: the pipe's owner is neither this user nor
 * SYSTEM), ETIMEDOUT, EPIPE, EIO. One thread
 * per connection. */
#ifndef DX_CTL_CONN_H
#define DX_CTL_CONN_H

#include <stddef.h>

typedef struct dx_ctl_conn dx_ctl_conn;

/* Connect to the host at path, waiting at most timeout_ms where the
 * system makes a client wait (a pipe whose every instance is busy). */
int dx_ctl_conn_open(const char *path, int timeout_ms, dx_ctl_conn **out);
/* Send all n bytes: 0 or an errno. */
int dx_ctl_conn_send(dx_ctl_conn *c, const char *buf, size_t n);
/* Wait up to timeout_ms for bytes: how many were read into buf (at most
 * cap), 0 at the end of the stream, or a negated errno (-ETIMEDOUT). */
long dx_ctl_conn_recv(dx_ctl_conn *c, char *buf, size_t cap, int timeout_ms);
void dx_ctl_conn_close(dx_ctl_conn *c);
/* What the path reaches, for messages: the path itself, or on Windows
 * "PATH (pipe NAME)"; truncated to cap. */
void dx_ctl_conn_where(const char *path, char *out, size_t cap);

#endif
