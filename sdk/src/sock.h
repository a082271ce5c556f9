/* sock.h - sockets and accepted connections born close-on-exec (and
 * non-blocking when asked), on systems with and without SOCK_CLOEXEC and
 * accept4, and on Windows; and the few socket calls libdx's client and
 * the host's listeners make, with errors as negative errno values
 * everywhere. One implementation per
 * build (meson picks):
 *   sock_accept4.c  the flags to socket() and accept4(): Linux, FreeBSD,
 *                   NetBSD, OpenBSD, DragonFly.
 *   sock_posix.c    socket() and accept(), then fcntl(): macOS, and Linux
 *                   with -Dportable_fallbacks=true. Another thread's
 *                   fork+exec between the two calls can inherit the fd.
 *   sock_io_posix.c the calls below dx_sock_accept, for both of those.
 *   sock_win.c      Winsock 2 (WSAStartup once, sockets not inherited by
 *                   child processes, WSAPoll, WSAGetLastError turned into
 *                   errno values).
 * Internal: libdx and the host core each compile the one picked (the names
 * are hidden in libdx; a DLL built by mingw exports them, unannounced by
 * any header). Any thread.
 *
 * A socket is an int everywhere: on Windows a SOCKET handle, which is
 * below 2^31 in practice (handle values are small), cast to int, as libuv
 * and PostgreSQL's port do; -1 is INVALID_SOCKET there too. */
#ifndef DX_SOCK_H
#define DX_SOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
/* PE has no ELF visibility; the names stay out of every installed header. */
#define DX_SOCK_HIDDEN
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#define DX_SOCK_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The option a listener sets before bind. POSIX's SO_REUSEADDR lets the
 * host bind its port again at once after a restart (connections of the
 * last run may linger in TIME_WAIT) and lets no other process take a port
 * that is listened on. Windows' SO_REUSEADDR would let any process bind
 * the same port and take connections: there it is SO_EXCLUSIVEADDRUSE,
 * what Microsoft advises for servers (how it meets TIME_WAIT on a restart
 * was not checked on Windows; under wine a second bind is refused). */
#ifdef _WIN32
#define DX_SO_LISTEN_ADDR SO_EXCLUSIVEADDRUSE
#else
#define DX_SO_LISTEN_ADDR SO_REUSEADDR
#endif

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

/* Make the socket API usable: Winsock's WSAStartup, once per process (the
 * first call does it; it is never undone, the process's exit is). 0 or a
 * negative errno; nothing to do elsewhere. dx_sock_open calls it; so must
 * anything that resolves names before opening a socket. */
DX_SOCK_HIDDEN int dx_sock_init(void);
/* close(), or closesocket(). */
DX_SOCK_HIDDEN void dx_sock_close(int fd);
/* poll() one socket for events (POLLIN, POLLOUT) for up to timeout_ms
 * (-1: forever): 1 with *revents set, 0 on timeout, or a negative errno
 * (-EINTR is the caller's to retry). */
DX_SOCK_HIDDEN int dx_sock_poll(int fd, short events, int timeout_ms,
				short *revents);
/* send() with DX_MSG_NOSIGNAL, recv(): the bytes moved, 0 for recv's end
 * of stream, or a negative errno (-EAGAIN when a non-blocking socket has
 * no room or nothing to read, -EINTR to retry). */
DX_SOCK_HIDDEN long dx_sock_send(int fd, const void *buf, size_t n);
DX_SOCK_HIDDEN long dx_sock_recv(int fd, void *buf, size_t n);
/* connect(): 0, -EINPROGRESS on a non-blocking socket still connecting
 * (wait for POLLOUT, then dx_sock_error), or another negative errno. */
DX_SOCK_HIDDEN int dx_sock_connect(int fd, const void *sa, uint32_t len);
/* The socket's pending error (SO_ERROR) as a negative errno, or 0. */
DX_SOCK_HIDDEN int dx_sock_error(int fd);
/* TCP_NODELAY on (requests are small: no Nagle delay); failure ignored. */
DX_SOCK_HIDDEN void dx_sock_nodelay(int fd);
/* bind(), listen(): 0 or a negative errno. */
DX_SOCK_HIDDEN int dx_sock_bind(int fd, const void *sa, uint32_t len);
DX_SOCK_HIDDEN int dx_sock_listen(int fd, int backlog);
/* setsockopt(fd, level, name) to the int 1 (SO_REUSEADDR, IPV6_V6ONLY,
 * SO_REUSEPORT...): 0 or a negative errno. */
DX_SOCK_HIDDEN int dx_sock_set_on(int fd, int level, int name);
/* One send() that never blocks, whatever the socket's mode (MSG_DONTWAIT;
 * on Windows the socket is made non-blocking first): for a last word to a
 * socket about to be closed. As dx_sock_send. */
DX_SOCK_HIDDEN long dx_sock_send_nowait(int fd, const void *buf, size_t n);
/* strerror(err) for a positive errno value. On Windows the socket codes
 * (ECONNREFUSED, ETIMEDOUT...), which the C runtime calls "Unknown
 * error", get glibc's words. Static text; any thread. */
DX_SOCK_HIDDEN const char *dx_sock_strerror(int err);

#endif
