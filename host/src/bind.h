/* bind.h - listening sockets for the manifest's listen entries. Main
 * thread. */
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
 * workers share worker 0's (a dup each): their own where the kernel
 * spreads a TCP port's connections over them (reuseport.h), shared for a
 * unix socket and where nothing spreads them. */
bool dx_bind_each(const dx_listen *l);
/* The path of a unix listener may hold a stale socket (a crash left it),
 * which goes. Anything else there is not the host's to take: a socket
 * someone listens on (another dx-host, any process) or a file that is no
 * socket; then -EADDRINUSE or -EEXIST with the reason in d, and the path
 * is left alone. 0 when the path is free to bind. */
int dx_bind_unix_claim(const dx_listen *l, dx_diag *d);
/* Another worker's copy of a shared listening fd, close-on-exec like
 * every socket dx_bind makes, so a child a plugin starts (forge's tools)
 * does not hold the listener open. The new fd, or -errno. */
int dx_bind_share(int fd, const dx_listen *l, dx_diag *d);

#endif
