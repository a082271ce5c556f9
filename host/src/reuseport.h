/* reuseport.h - how the workers share a TCP port. Main thread.
 *
 * Where the kernel spreads a port's connections over several listening
 * sockets, each worker binds its own and none steals another's accepts;
 * elsewhere the workers share one listening socket (as they always do for
 * a unix socket) and the kernel hands each connection to one accept.
 * One implementation per build (meson picks):
 *   reuseport_balance.c  SO_REUSEPORT balances (Linux 3.9 and later), or
 *                        SO_REUSEPORT_LB does (FreeBSD 12 and later).
 *   reuseport_posix.c    nothing balances: macOS, OpenBSD, NetBSD (their
 *                        SO_REUSEPORT gives every connection to one
 *                        socket), and Linux with -Dportable_fallbacks. */
#ifndef DX_HOST_REUSEPORT_H
#define DX_HOST_REUSEPORT_H

#include <stdbool.h>

/* Whether each worker binds a socket of its own for a TCP listener. */
extern const bool dx_reuseport_balances;
/* Let fd share its port with the other workers' sockets, before bind;
 * nothing where dx_reuseport_balances is false. 0 or a negative errno. */
int dx_reuseport(int fd);

#endif
