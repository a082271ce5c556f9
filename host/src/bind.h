/* bind.h - listening sockets for the manifest's listen entries. bind.c
 * holds what every system shares; one file per system (meson picks) holds
 * how the workers share one socket and what a unix socket's file is:
 *   bind_posix.c  a dup per worker (each closes its own), lstat and
 *                 unlink, mode 0660.
 *   bind_win.c    the same SOCKET value for every worker, counted, closed
 *                 when the last lets go (a completion port backend keys
 *                 its accepts by the socket and a socket can be tied to
 *                 one completion port only: no duplicate can stand in);
 *                 the AF_UNIX reparse point, DeleteFileW.
 * Main thread, but for dx_bind_close (below). */
#ifndef DX_HOST_BIND_H
#define DX_HOST_BIND_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "manifest.h"

/* SO_REUSEPORT lets every socket of the same user share a port: before
 * the workers bind with it, one bind without it says whether any other
 * process has the address. 0, or -EADDRINUSE with the reason in d. */
int dx_port_free(const dx_listen *l, uint16_t port, dx_diag *d);
/* Bind one socket for l; *port is the port to use (0: any) and comes back
 * as the one bound, so every worker shares it. The fd, or negative with
 * the reason in d. */
int dx_bind(const dx_listen *l, uint16_t *port, dx_diag *d);
/* Whether every worker binds its own socket for l (dx_bind each) or the
 * workers share worker 0's (dx_bind_share): their own where the kernel
 * spreads a TCP port's connections over them (reuseport.h), shared for a
 * unix socket and where nothing spreads them. */
bool dx_bind_each(const dx_listen *l);
/* The path of a unix listener may hold a stale socket (a crash left it),
 * which goes. Anything else there is not the host's to take: a socket
 * someone listens on (another dx-host, any process) or a file that is no
 * socket; then -EADDRINUSE or -EEXIST with the reason in d, and the path
 * is left alone. 0 when the path is free to bind. */
int dx_bind_unix_claim(const dx_listen *l, dx_diag *d);
/* Another worker's hold on a shared listening fd, to give back through
 * dx_bind_close. POSIX: a copy (dup), close-on-exec like every socket
 * dx_bind makes, so a child a plugin starts (forge's tools) does not hold
 * the listener open. Windows: fd itself, one more hold counted. The fd,
 * or -errno with the reason in d. */
int dx_bind_share(int fd, const dx_listen *l, dx_diag *d);
/* Let go of a listening fd from dx_bind, dx_bind_share or systemd:
 * close it, or on Windows drop one hold and close at the last. Any
 * thread (a worker closes its listeners on its own thread). */
void dx_bind_close(int fd);
/* What is at a unix listener's path: 0 when it is free (nothing there,
 * or a stale socket file a crash left, removed now), -EADDRINUSE for a
 * socket a process listens on, -EEXIST for a file that is no socket
 * (dx_bind_unix_claim says so). */
int dx_bind_unix_file(const char *path);
/* After a unix listener's bind: its file's mode (0660 on POSIX: the
 * owner and group may connect; nothing on Windows, where the file keeps
 * the ACL its directory gives it). */
void dx_bind_unix_bound(const dx_listen *l);

#endif
