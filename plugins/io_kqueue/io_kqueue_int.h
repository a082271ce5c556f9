/* io_kqueue_int.h - the io_kqueue instance and what its files share.
 *
 * Internal to the plugin: io_kqueue.c (the ring, the fd table, queueing,
 * instances), io_kqueue_kev.c (the changelist, submit and wait, timers and
 * wake), io_kqueue_run.c (readiness and running the operations of a ready
 * fd) and kq_compat.c (what differs between FreeBSD, macOS and the test
 * emulation). One instance is used by one thread; only wake() is called
 * from others, and it touches nothing but kq. */
#ifndef IO_KQUEUE_INT_H
#define IO_KQUEUE_INT_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <dx/io.h>
#include <dx/plugin.h>
#include <dx/timer_heap.h>

#include "kq_compat.h"

#define DEFAULT_BUF_COUNT 256u
#define DEFAULT_BUF_SIZE (16u * 1024u)
#define MAX_BUF_COUNT 65536u /* buf_id is 16 bits */
#define MIN_EVENTS 256       /* eventlist entries, at least */
#define RECV_BUDGET 8        /* reads per fd per round */
#define ACCEPT_BUDGET 64     /* accepts per listener per round */
#define SEND_BUDGET 16       /* send syscalls per fd per round */
#define ACCEPT_BACKOFF_MS 50
#define WAKE_IDENT 1  /* EVFILT_USER ident of wake() */
#define TIMER_IDENT 1 /* EVFILT_TIMER ident of the instance's one timer */

struct plugin {
	const dx_host_api *host; /* logging only */
	bool emulation;          /* config "emulation": see kq_probe */
};

/* A send that did not go out at once: the host's buffer and how far. */
struct sendop {
	struct sendop *next;
	const uint8_t *buf;
	size_t len, off;
	uint64_t udata;
	uint32_t flags;
};

/* Per-fd state, in a table indexed by fd. */
struct fdst {
	bool reg;      /* EV_ADD queued for both filters, no op ended since */
	bool kseen;    /* the kernel may hold knotes for it: detach deletes */
	bool queued;   /* on the ready list */
	bool rd_ready; /* readable until a read says EAGAIN */
	bool wr_ready; /* writable until a write says EAGAIN */
	bool hup;      /* EV_EOF or an error: read to EOF */
	bool stream;   /* SOCK_STREAM: a short read means drained */
	bool nosigpipe; /* kq_nosigpipe done (where the platform needs it) */
	bool acc_armed, recv_armed, poll_armed;
	bool poll_check; /* poll armed: check current readiness once */
	bool acc_backoff;
	uint32_t poll_events;  /* DX_IO_POLL* asked for */
	uint32_t poll_revents; /* events seen, not yet completed */
	uint64_t acc_udata, recv_udata, poll_udata;
	struct sendop *sq_head, *sq_tail;
};

struct dx_io {
	const dx_host_api *host;
	int worker;
	int kq;

	struct fdst *fds; /* indexed by fd */
	size_t nfds;
	int *ready; /* fds with work; each at most once (fdst.queued) */
	size_t nready;

	dx_io_cqe *ring; /* completions not yet handed out */
	size_t ring_cap, ring_head, ring_len;

	uint8_t *bufs; /* buf_count * buf_size */
	uint32_t buf_count, buf_size;
	uint16_t *free_ids; /* a stack */
	uint32_t nfree;
	uint8_t *lent; /* per buffer: 1 while the host has it */

	struct sendop *spare; /* free send nodes */

	/* The submission queue: kevent changes not yet given to the kernel.
	 * The eventlist is at least as long, so that an EV_ERROR per change
	 * always fits (kevent(2) fails the call, changes after the failed
	 * one unapplied, when one does not). */
	struct kevent *chg;
	size_t nchg, chg_cap;
	struct kevent *evl;
	size_t evl_cap;

	dx_timer_heap timers;  /* by deadline, indexed by udata */
	uint64_t timer_armed;  /* the kernel timer's deadline; 0: none */
	uint64_t backoff_until; /* 0: no accept is backing off */
};

uint64_t now_ns(void);
int ring_room(dx_io *io, size_t n);
void post(dx_io *io, uint8_t op, int32_t result, uint64_t udata,
	  uint32_t flags);
void ready_push(dx_io *io, int fd);
void fd_idle_check(struct fdst *st);
size_t fd_ops(const struct fdst *st);
void fd_end_all(dx_io *io, struct fdst *st, int err);
int buf_get(dx_io *io);
void buf_put(dx_io *io, uint16_t id);

/* io_kqueue_kev.c */
int chg_push(dx_io *io, uintptr_t ident, short filter, unsigned short flags,
	     unsigned fflags, intptr_t data);
int kq_submit(dx_io *io);
int kq_wait_cqes(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms);
int kq_wake(dx_io *io);
int kq_timeout(dx_io *io, uint64_t ns, uint64_t udata);
int kq_timeout_cancel(dx_io *io, uint64_t udata);

/* io_kqueue_run.c */
void on_event(dx_io *io, const struct kevent *ev);
void fd_fail(dx_io *io, int fd, int err);
struct sendop *sendop_new(dx_io *io);
void send_pop(dx_io *io, struct fdst *st, int32_t result);
/* send_some's results (or -errno). */
enum { SENT_ALL = 1, SENT_AGAIN = 0, SENT_BUDGET = 2 };
int send_some(int fd, const uint8_t *buf, size_t len, size_t *off,
	      uint32_t flags, int budget);
void run_ready(dx_io *io);
void backoff_check(dx_io *io, uint64_t now);

#endif
