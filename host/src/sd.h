/* sd.h - what the host asks of systemd, through libsystemd's sd-daemon:
 * readiness notifications (sd_notify) and the listening sockets a socket
 * unit passed (sd_listen_fds). sd_linux.c speaks to libsystemd; sd_none.c
 * is the build without it (-Dsystemd=disabled, or no libsystemd-dev at
 * configure time), which notifies nothing and refuses passed sockets
 * rather than ignore them. Nothing here needs systemd to be PID 1: it is
 * all environment variables and a datagram socket. */
#ifndef DX_HOST_SD_H
#define DX_HOST_SD_H

#include <stdbool.h>

/* "libsystemd 252" in a build with it, "" without. */
extern const char dx_sd_build[];

/* Send state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. 0 sent, 1 not
 * asked for (no NOTIFY_SOCKET), negative errno; -ENOTSUP when
 * NOTIFY_SOCKET is set but this build has no libsystemd. Any thread. */
int dx_sd_notify(const char *state);

/* The number of listening sockets passed for this process (LISTEN_FDS
 * with LISTEN_PID = our pid), numbered from DX_SD_LISTEN_FDS_START; the
 * variables are unset so no child inherits them, and the fds are
 * close-on-exec. 0 when none; negative errno; -ENOTSUP when some were
 * passed but this build has no libsystemd. Main thread, once, before
 * any thread starts (it changes the environment). */
#define DX_SD_LISTEN_FDS_START 3
int dx_sd_listen_fds(void);

/* Whether fd is a listening stream socket of family (AF_INET, AF_INET6,
 * AF_UNIX). */
bool dx_sd_is_listener(int fd, int family);

#endif
