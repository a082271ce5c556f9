/* sock.h - sockets and accepted connections born close-on-exec (and
 * non-blocking when asked), on systems with and without SOCK_CLOEXEC and
 * accept4. Two implementations, one per build (meson picks):
 *   sock_accept4.c  the flags to socket() and accept4(): Linux, FreeBSD,
 *                   NetBSD, OpenBSD, DragonFly.
 *   sock_posix.c    socket() and accept(), then fcntl(): macOS, and Linux
 *                   with -Dportable_fallbacks=true. Another thread's
 *                   fork+exec between the two calls can inherit the fd.
 * Internal: libdx and the host core each compile the one picked (the names
 * are hidden in libdx). Any thread. */
#ifndef DX_SOCK_H
#define DX_SOCK_H

#include <sys/socket.h>

#define DX_SOCK_HIDDEN __attribute__((visibility("hidden")))

/* flags for dx_sock_open and dx_sock_accept */
#define DX_SOCK_NONBLOCK 1

/* send()'s flag against SIGPIPE. Where <sys/socket.h> lacks MSG_NOSIGNAL
 * (macOS, depending on the SDK), it is 0 and dx_sock_open and dx_sock_accept set
 * SO_NOSIGPIPE on the socket instead; a socket made elsewhere (an IO
 * backend's accept) is that code's to mark. */
#ifdef MSG_NOSIGNAL
#define DX_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define DX_MSG_NOSIGNAL 0
#endif

/* socket(family, type, 0), close-on-exec. The fd or a negative errno. */
DX_SOCK_HIDDEN int dx_sock_open(int family, int type, int flags);
/* accept(fd, NULL, NULL), the new socket close-on-exec, and blocking
 * unless flags has DX_SOCK_NONBLOCK whatever fd is (BSD's accept() would
 * pass on fd's O_NONBLOCK; accept4 and Linux's accept do not). The fd or
 * a negative errno. */
DX_SOCK_HIDDEN int dx_sock_accept(int fd, int flags);

#endif
