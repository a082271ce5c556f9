/* io_kqueue_int.h - the io_kqueue instance and what its files share.
 *
 * Internal to the plugin: io_kqueue.c (queueing, detach, instances and
 * the vtable), io_kqueue_kev.c (the changelist, submit and wait, events,
 * the timer and wake) and kq_compat.c (what differs between FreeBSD,
 * macOS and the test emulation). The readiness core they build on (the
 * ring, fd table, buffers, running operations) is plugins/io_ready,
 * shared with io_epoll. One instance is used by one thread; only wake()
 * is called from others, and it touches nothing but kq. */
#ifndef IO_KQUEUE_INT_H
#define IO_KQUEUE_INT_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>
#include <unistd.h>

#include <dx/io.h>
#include <dx/plugin.h>

#include "kq_compat.h"
#include "ready.h"

#define MIN_EVENTS 256 /* changelist and eventlist entries, at least */
#define WAKE_IDENT 1   /* EVFILT_USER ident of wake() */
#define TIMER_IDENT 1  /* EVFILT_TIMER ident of the instance's one timer */

struct plugin {
	const dx_host_api *host; /* logging only */
	bool emulation;          /* config "emulation": see kq_probe */
};

/* rd_fd.seen: EV_ADD went out since the fd's last detach (the kernel may
 * hold its knotes; detach deletes them). rd_fd.prepared: kq_nosigpipe. */
struct dx_io {
	struct rd rd; /* the readiness core's state */
	int kq;

	/* The submission queue: kevent changes not yet given to the kernel.
	 * The eventlist is at least as long, so that an EV_ERROR per change
	 * always fits (kevent(2) fails the call, changes after the failed
	 * one unapplied, when one does not). */
	struct kevent *chg;
	size_t nchg, chg_cap;
	struct kevent *evl;
	size_t evl_cap;

	uint64_t timer_armed; /* the kernel timer's deadline; 0: none */
};

/* io_kqueue_kev.c */
int chg_push(dx_io *io, uintptr_t ident, short filter, unsigned short flags,
	     unsigned fflags, intptr_t data);
int kq_submit(dx_io *io);
int kq_wait_cqes(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms);
int kq_wake(dx_io *io);

#endif
