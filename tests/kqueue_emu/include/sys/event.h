/* sys/event.h - a test-only kqueue emulation over epoll, for Linux.
 *
 * Linux has no kqueue and Debian ships no libkqueue, so io_kqueue is built
 * and run here against this emulation of the subset of kqueue(2)/kevent(2)
 * it uses, with FreeBSD's documented semantics (macOS where they agree).
 * It is linked only into tests and the test-only io_kqueue build, never
 * installed. Code written for FreeBSD's <sys/event.h> compiles unchanged:
 * the names, types and constant values below are FreeBSD's.
 *
 * Names. kqueue and kevent are macros for dx_emu_kqueue/dx_emu_kevent
 * (struct kevent too becomes struct dx_emu_kevent, consistently in every
 * file that includes this header). Why: a real-named kevent symbol could
 * be confused at link time with a real kqueue library (libkqueue on a
 * developer's machine), and "dx_emu_" in a backtrace or in `nm` says
 * plainly which one ran. The library's symbols are hidden, so every
 * executable or plugin that links it has its own kqueue table.
 *
 * Implemented (FreeBSD semantics):
 * - kqueue(): returns a real fd (an epoll fd): poll it, close() it. It is
 *   readable while events are pending, as a kqueue is.
 * - kevent(): changes applied in order, all before events are collected.
 *   A change that fails, or any change with EV_RECEIPT, is reported in
 *   the eventlist as EV_ERROR with the errno in data (0 for a receipt);
 *   if any was reported kevent returns their number and collects no
 *   events (FreeBSD's kern_kevent). With no room left in the eventlist,
 *   a failing change makes kevent return -1 with errno, and a receipt
 *   ends the call (returning the entries written); either way later
 *   changes are not applied. timeout NULL blocks, {0,0} polls; nevents
 *   0 never waits. EINTR when a signal interrupts the wait; EBADF for a
 *   bad kq;
 *   EINVAL for a bad timeout or negative counts. Thread-safe: any thread
 *   may change a kqueue (e.g. NOTE_TRIGGER) while another waits in it.
 * - Flags: EV_ADD (a new knote starts enabled unless EV_DISABLE;
 *   re-adding modifies udata, fflags and data but neither enables it nor
 *   changes its EV_ONESHOT/EV_CLEAR/EV_DISPATCH, which stay those it was
 *   added with: FreeBSD's kqueue_register), EV_DELETE (ENOENT when
 *   absent), EV_ENABLE (wins over EV_DISABLE in one change), EV_DISABLE,
 *   EV_ONESHOT (deleted after delivery), EV_CLEAR
 *   (state reset after delivery; reported again only after a change:
 *   new data, more room, a new trigger or expiry), EV_DISPATCH (disabled
 *   after delivery until EV_ENABLE), EV_RECEIPT, EV_KEEPUDATA, and on
 *   output EV_EOF and EV_ERROR. Without EV_CLEAR a knote is
 *   level-triggered: reported on every kevent while its condition holds.
 *   Every change to an existing knote replaces its udata (as on FreeBSD)
 *   unless EV_KEEPUDATA (refused with EV_ADD: EINVAL): pass the udata
 *   again with NOTE_TRIGGER or EV_ENABLE, or add EV_KEEPUDATA (FreeBSD
 *   12+; check that the target system has it).
 * - EVFILT_READ on sockets, pipes, other pollable fds: data = bytes
 *   readable (FIONREAD); for a listening TCP socket, the number of
 *   connections waiting in its accept queue (1 for other listeners).
 *   EV_EOF once the peer shut down its writing side (a pipe's writers
 *   are gone), with data = bytes still readable.
 * - EVFILT_WRITE: data = free space in the send buffer (a pipe's free
 *   room). EV_EOF once the socket can send no more (reset, both sides
 *   shut, a pipe's readers gone).
 *   For both: on EV_EOF of a socket that had an error, fflags = that
 *   error (ECONNRESET...).
 * - EVFILT_TIMER: ident is any number; data = period, in milliseconds
 *   unless fflags holds one of NOTE_SECONDS, NOTE_MSECONDS,
 *   NOTE_USECONDS, NOTE_NSECONDS. Periodic unless EV_ONESHOT; EV_CLEAR
 *   is implied; on delivery data = expirations since the last delivery.
 *   Re-adding restarts it with the new period and drops undelivered
 *   expirations (FreeBSD 12+ and macOS). A disabled timer keeps counting.
 * - EVFILT_USER: ident is any number; NOTE_TRIGGER fires it (from any
 *   thread); NOTE_FFNOP/FFAND/FFOR/FFCOPY with NOTE_FFLAGSMASK update
 *   the fflags it reports; data is the last data passed. Without
 *   EV_CLEAR it stays triggered (reported on every kevent).
 *
 * Divergences from real kqueue (what io_kqueue's author must know):
 * - close(). The emulation cannot see close(fd). The epoll registration
 *   goes when the last descriptor of the file is closed, and every
 *   change or delivery first checks that fd still names the file it was
 *   registered for (fstat: device and inode): a knote whose fd was
 *   closed or now names another file is dropped then, silently, as a
 *   real kqueue drops it at close(). So closing without EV_DELETE is
 *   fine, a reused fd number gets fresh knotes on EV_ADD, and EV_DELETE
 *   after close() fails as on FreeBSD (EBADF; ENOENT once the number is
 *   reused). What differs: such a knote's memory is kept until its
 *   number is next used in a change or checked for delivery; a file
 *   still open elsewhere (dup, fork) after close() keeps feeding its
 *   (ignored) registration; and eventfd, timerfd, signalfd and epoll fds
 *   all share one inode on Linux, so for them a number closed and reused
 *   by another such fd is not noticed: EV_DELETE their knotes before
 *   close(). A closed kqueue's own state (two inner epolls, an eventfd,
 *   a timerfd per timer) is freed by the next kqueue() call.
 * - The socket error is consumed. Linux has no way to read a socket's
 *   pending error but getsockopt(SO_ERROR), which clears it. To report it
 *   in fflags with EV_EOF the emulation reads it then (only on EOF with
 *   an error pending) and keeps it for both filters of that fd; a later
 *   recv()/getsockopt(SO_ERROR) on that socket sees no error (recv()
 *   returns 0). Take the error from fflags on EV_EOF, which is portable.
 * - A TCP socket that was never connected reads as EV_EOF (Linux polls
 *   it POLLHUP); register sockets after connect()/listen(). Shutting down
 *   one's own sending side (shutdown(SHUT_WR)) does not set EV_EOF on
 *   EVFILT_WRITE (FreeBSD does); the peer's going does.
 * - kevent() takes a mutex, so unlike the real system call it is not
 *   async-signal-safe: do not call it (a wake's NOTE_TRIGGER) from a
 *   signal handler while testing on the emulation.
 * - Regular files and directories cannot be watched (epoll refuses
 *   them): EV_ADD fails with EPERM, where FreeBSD reports them always
 *   readable.
 * - NOTE_LOWAT, NOTE_ABSTIME and the other filters (EVFILT_VNODE, _PROC,
 *   _SIGNAL, _AIO, _EMPTY...) are not implemented: EV_ADD fails with
 *   EINVAL. EV_FORCEONESHOT is refused the same way. SO_RCVLOWAT is
 *   honoured only as far as Linux's poll honours it.
 * - kqueue fds are not inherited specially across fork() (real kqueues
 *   are not inherited at all); do not use one in a child.
 * - Per-knote cost is a few system calls per delivery (poll, ioctl,
 *   fstat): fine for tests, not a measure of kqueue's speed.
 */
#ifndef DX_KQUEUE_EMU_SYS_EVENT_H
#define DX_KQUEUE_EMU_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define kqueue dx_emu_kqueue
#define kevent dx_emu_kevent

/* FreeBSD's layout (ext[] since FreeBSD 12; macOS has none: zero it). */
struct kevent {
	uintptr_t ident;      /* identifier for this event */
	short filter;         /* filter for event */
	unsigned short flags; /* action flags for kqueue */
	unsigned int fflags;  /* filter flag value */
	int64_t data;         /* filter data value */
	void *udata;          /* opaque user data identifier */
	uint64_t ext[4];      /* extensions; zero */
};

#define EV_SET(kevp_, a, b, c, d, e, f)                                        \
	do {                                                                   \
		struct kevent *dx_emu_kevp_ = (kevp_);                         \
		dx_emu_kevp_->ident = (a);                                     \
		dx_emu_kevp_->filter = (b);                                    \
		dx_emu_kevp_->flags = (c);                                     \
		dx_emu_kevp_->fflags = (d);                                    \
		dx_emu_kevp_->data = (e);                                      \
		dx_emu_kevp_->udata = (f);                                     \
		dx_emu_kevp_->ext[0] = 0;                                      \
		dx_emu_kevp_->ext[1] = 0;                                      \
		dx_emu_kevp_->ext[2] = 0;                                      \
		dx_emu_kevp_->ext[3] = 0;                                      \
	} while (0)

/* Filters. Only READ, WRITE, TIMER and USER are implemented. */
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_AIO (-3)
#define EVFILT_VNODE (-4)
#define EVFILT_PROC (-5)
#define EVFILT_SIGNAL (-6)
#define EVFILT_TIMER (-7)
#define EVFILT_PROCDESC (-8)
#define EVFILT_FS (-9)
#define EVFILT_LIO (-10)
#define EVFILT_USER (-11)
#define EVFILT_SENDFILE (-12)
#define EVFILT_EMPTY (-13)
#define EVFILT_SYSCOUNT 13

/* Actions. */
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_FORCEONESHOT 0x0100 /* not implemented: EINVAL */
#define EV_KEEPUDATA 0x0200

/* Flags. */
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_DISPATCH 0x0080

#define EV_SYSFLAGS 0xF000
#define EV_DROP 0x1000
#define EV_FLAG1 0x2000
#define EV_FLAG2 0x4000

/* Returned values. */
#define EV_EOF 0x8000
#define EV_ERROR 0x4000

/* EVFILT_USER fflags. */
#define NOTE_FFNOP 0x00000000u
#define NOTE_FFAND 0x40000000u
#define NOTE_FFOR 0x80000000u
#define NOTE_FFCOPY 0xc0000000u
#define NOTE_FFCTRLMASK 0xc0000000u
#define NOTE_FFLAGSMASK 0x00ffffffu
#define NOTE_TRIGGER 0x01000000u

/* EVFILT_READ/EVFILT_WRITE fflags (not implemented: EINVAL). */
#define NOTE_LOWAT 0x0001u
#define NOTE_FILE_POLL 0x0002u

/* EVFILT_TIMER fflags: the unit of data (milliseconds when none). */
#define NOTE_SECONDS 0x00000001u
#define NOTE_MSECONDS 0x00000002u
#define NOTE_USECONDS 0x00000004u
#define NOTE_NSECONDS 0x00000008u
#define NOTE_ABSTIME 0x00000010u /* not implemented: EINVAL */

/* A new kqueue: its fd, or -1 with errno. */
int kqueue(void);

/* Apply nchanges changes, then collect up to nevents events, waiting up
 * to timeout (NULL: forever). The number of entries placed in eventlist
 * (events, or EV_ERROR entries for changes), 0 on timeout, or -1 with
 * errno. Any thread. */
int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout);

#ifdef __cplusplus
}
#endif
#endif
