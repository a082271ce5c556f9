/* kq_compat.h - what differs between the systems io_kqueue runs on:
 * FreeBSD, macOS, and Linux's test emulation (tests/kqueue_emu, built with
 * DX_KQUEUE_EMULATED). Everything else in the plugin is the kqueue(2) API
 * as both FreeBSD and macOS document it. The differences, each handled in
 * kq_compat.c or here and nowhere else:
 *
 * - accept4, SIGPIPE (MSG_NOSIGNAL against SO_NOSIGPIPE), MSG_MORE and the
 *   accept errors that mean "retry" are socket matters io_epoll shares:
 *   plugins/io_ready/ready_sys.c.
 * - EVFILT_TIMER units: both default to milliseconds in data; FreeBSD has
 *   NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS (11.0+),
 *   macOS NOTE_SECONDS, NOTE_USECONDS, NOTE_NSECONDS and no NOTE_MSECONDS
 *   (milliseconds are fflags 0 on both). data is intptr_t: on a 32-bit
 *   system nanoseconds overflow after 2.1 s, so kq_timer_data picks the
 *   finest unit whose count fits.
 * - EV_DISPATCH exists on both but is not used: it would take an EV_ENABLE
 *   change after every event, where EV_CLEAR (edge-triggered) takes none.
 * - SO_REUSEPORT is the host's (it binds one listener per worker): Linux
 *   and FreeBSD 12+ with SO_REUSEPORT_LB spread connections over them;
 *   macOS and FreeBSD's plain SO_REUSEPORT do not (one listener gets
 *   them), so there one worker accepts every connection.
 *
 * The emulation build also changes kq_probe: it is not a kernel kqueue
 * and must not be picked by io.backend "auto" (see io_kqueue.c). */
#ifndef KQ_COMPAT_H
#define KQ_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>

#ifdef DX_KQUEUE_EMULATED
#define KQ_EMULATED true
#else
#define KQ_EMULATED false
#endif

/* Every kevent() call of the plugin: kevent itself, but in the test
 * build, where kq_count.c counts the calls (kq_count.h). */
#ifdef DX_KQUEUE_EMULATED
int kq_kevent(int kq, const struct kevent *chg, int nchg, struct kevent *evl,
	      int nevl, const struct timespec *ts);
#else
#define kq_kevent kevent
#endif

/* A kqueue, close-on-exec: the fd or -errno. */
int kq_open(void);

/* data and fflags of an EVFILT_TIMER firing ns from now (ns > 0). */
void kq_timer_data(uint64_t ns, intptr_t *data, unsigned *fflags);

#endif
