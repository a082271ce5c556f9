/* sig.h - signals for the main thread's poll(): a file descriptor that
 * turns readable when one of them arrives.
 *
 * The caller blocks the signals in every thread before any thread starts
 * (dx-host's main does) and never unblocks them: they reach the process
 * only through this interface, and worker threads never see EINTR from
 * them. Two implementations, one per build (meson picks):
 *   sig_linux.c  a signalfd; the signals stay blocked throughout.
 *   sig_posix.c  a sigaction handler writes the signal's number to a
 *                pipe (the self-pipe); the signals are unblocked in the
 *                calling thread only inside dx_sig_poll, so the handler
 *                runs there and nowhere else. BSD, macOS, and Linux with
 *                -Dportable_fallbacks=true.
 * One dx_sig at a time per process (a handler has one pipe to write);
 * every call from the thread that opened it. Not async-signal-safe. */
#ifndef DX_HOST_SIG_H
#define DX_HOST_SIG_H

#include <poll.h>
#include <stddef.h>

typedef struct dx_sig dx_sig;

/* What delivers the signals ("signalfd", "self-pipe"), for messages. */
extern const char dx_sig_how[];

/* Take the n signals of signos (1..255). 0, -EINVAL, -ENOMEM, or a
 * negative errno from the system; sig_posix.c also refuses a second open
 * dx_sig with -EBUSY. */
int dx_sig_open(const int *signos, size_t n, dx_sig **out);
/* The descriptor to poll for POLLIN. */
int dx_sig_fd(const dx_sig *s);
/* poll(2) over fds, which hold dx_sig_fd(s): a signal that arrives during
 * the wait makes it readable. Returns as poll does (EINTR included). */
int dx_sig_poll(dx_sig *s, struct pollfd *fds, nfds_t n, int timeout_ms);
/* The next signal taken, or 0 when none waits; never blocks. */
int dx_sig_next(dx_sig *s);
/* Give the signals back to their former dispositions (still blocked). */
void dx_sig_close(dx_sig *s);

#endif
