/* io_epoll - the IO facet emulated over epoll (dx/io.h, docs/architecture.md s8).
 *
 * Operations start when they are queued: a send is written at once, an
 * accept, recv or poll marks its fd ready so the next wait() tries it. The
 * completions they produce go into a ring inside the instance and wait()
 * hands them out, up to max per call; the ring grows, so nothing is dropped
 * (room is reserved before any syscall whose result needs a slot). All of
 * that, the fd table, buffers, send queues and timers, is the readiness
 * core io_epoll shares with io_kqueue (plugins/io_ready/ready.h); this
 * file is what is epoll's: registering fds, events, sleeping and waking.
 *
 * Triggering: edge-triggered. Each fd is added once, for EPOLLIN | EPOLLOUT
 * | EPOLLRDHUP | EPOLLET, and never modified: no epoll_ctl when a send
 * starts waiting or a recv runs out of buffers, which level triggering would
 * need to stop a busy loop. The price is that the backend tracks readiness
 * itself (rd_ready, wr_ready: set by an event, cleared by EAGAIN), and that
 * is also what makes the fairness bound easy: an fd that still has work
 * after its per-round budget (RD_RECV_BUDGET reads, RD_ACCEPT_BUDGET accepts,
 * RD_SEND_BUDGET sends) stays on the ready list and the next wait() polls
 * epoll without sleeping, so one busy connection cannot starve the rest.
 * Arming accept or recv assumes readiness (one extra syscall per arm, not
 * per event), which also covers an fd that arrives from another instance.
 *
 * Timers: libdx's min-heap of deadlines (dx/timer_heap.h; CLOCK_MONOTONIC,
 * relative ns at queue time), indexed by udata so timeout_cancel is
 * O(log n); the earliest deadline bounds epoll_wait's timeout (rounded up
 * to a millisecond, so a timer fires up to 1 ms late, never early). No fd
 * per timer.
 *
 * Semantics chosen where dx/io.h leaves room:
 * - The instance never changes an fd's flags, except that accept() sets
 *   O_NONBLOCK on a blocking listening socket (accept4 has no per-call
 *   non-blocking flag); recv and send pass MSG_DONTWAIT.
 * - One accept, one recv and one poll may be armed per fd; arming a second
 *   one returns -EALREADY. Sends queue without limit, in order.
 * - DX_IO_SEND_ZC is taken as a hint and ignored: data is copied into the
 *   socket as with a plain send, so no DX_IO_F_NOTIF completion follows.
 * - poll is edge-like, as io_uring's multishot poll: one completion when
 *   armed on a ready fd, then one per readiness event the kernel reports.
 * - accept errors that mean "out of resources" (EMFILE, ENFILE, ENOBUFS,
 *   ENOMEM) complete with the error and DX_IO_F_MORE; the accept retries
 *   after RD_ACCEPT_BACKOFF_MS. Others end it (no MORE).
 * - Timeouts sharing a udata are allowed (timeout_cancel takes one of
 *   them); timeout_cancel returns -ENOENT when none is armed (it fired).
 * - wait() returns what it has (maybe nothing) when a signal interrupts.
 * - Several wake() calls before a wait() give one DX_IO_WAKE.
 * - destroy() closes the fds of accept completions nobody reaped.
 *
 * Threads: an instance is used by one thread; wake() by any (an eventfd
 * write, async-signal-safe). All state lives in the instance.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <dx/io.h>
#include <dx/plugin.h>

#include "ready.h"

#define MAX_EVENTS 256
#define WAKE_KEY UINT64_MAX /* epoll data of the eventfd */

struct plugin {
	const dx_host_api *host; /* logging only */
};

struct dx_io {
	struct rd rd; /* the readiness core's state */
	int epfd, wakefd;
	unsigned submitted; /* queued since the last submit() */
	struct epoll_event events[MAX_EVENTS];
};

/* ---- readiness ---- */

static uint32_t revents_from_epoll(uint32_t e)
{
	uint32_t r = 0;
	if (e & (EPOLLIN | EPOLLRDHUP))
		r |= DX_IO_POLLIN;
	if (e & EPOLLOUT)
		r |= DX_IO_POLLOUT;
	if (e & EPOLLERR)
		r |= DX_IO_POLLERR;
	if (e & EPOLLHUP)
		r |= DX_IO_POLLHUP;
	return r;
}

static void on_event(dx_io *io, int fd, uint32_t e)
{
	struct rd *rd = &io->rd;
	if (fd < 0 || (size_t)fd >= rd->nfds)
		return; /* stale: an fd we no longer know */
	struct rd_fd *st = &rd->fds[fd];
	if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		st->rd_ready = true;
	if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		st->hup = true;
	if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		st->wr_ready = true;
	if (st->poll_armed)
		st->poll_revents |= revents_from_epoll(e);
	if (rd_has_work(st))
		rd_ready_push(rd, fd);
}

static void on_wake(dx_io *io)
{
	if (rd_ring_room(&io->rd, 1) < 0)
		return; /* the eventfd stays readable: next round */
	uint64_t n;
	if (read(io->wakefd, &n, sizeof n) == (ssize_t)sizeof n)
		rd_post(&io->rd, DX_IO_WAKE, 0, 0, 0);
}

/* ---- queueing operations ---- */

/* The core's arm (struct rd_ops): make sure epoll watches fd. */
static int ep_arm(struct rd *rd, int fd, struct rd_fd *st)
{
	dx_io *io = (dx_io *)((char *)rd - offsetof(dx_io, rd));
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = (uint64_t)fd,
	};
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
		/* A new registration: epoll reports the current state,
		 * forget what we knew of an older file. */
		st->rd_ready = st->wr_ready = st->hup = false;
	} else if (errno != EEXIST) {
		return -errno;
	}
	st->reg = true;
	return 0;
}

static const struct rd_ops ep_ops = {.arm = ep_arm};

/* Each queued operation counts for submit(). */
static int counted(dx_io *io, int rc)
{
	if (rc == 0)
		io->submitted++;
	return rc;
}

static int ep_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	return counted(io, rd_accept(&io->rd, listen_fd, udata));
}

static int ep_recv(dx_io *io, int fd, uint64_t udata)
{
	return counted(io, rd_recv(&io->rd, fd, udata));
}

static int ep_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	return counted(io, rd_poll(&io->rd, fd, events, udata));
}

static int ep_send(dx_io *io, int fd, const void *buf, size_t len,
		   uint64_t udata, uint32_t flags)
{
	return counted(io, rd_send(&io->rd, fd, buf, len, udata, flags));
}

static int ep_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	return counted(io, rd_timeout(&io->rd, ns, udata));
}

static int ep_timeout_cancel(dx_io *io, uint64_t udata)
{
	return rd_timeout_cancel(&io->rd, udata);
}

static void ep_buf_release(dx_io *io, uint16_t buf_id)
{
	rd_buf_release(&io->rd, buf_id);
}

static int ep_detach(dx_io *io, int fd)
{
	if (fd < 0)
		return -EBADF;
	/* Always: an idle fd may still be in the set. */
	(void)epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
	struct rd *rd = &io->rd;
	if ((size_t)fd >= rd->nfds)
		return 0;
	struct rd_fd *st = &rd->fds[fd];
	if (rd_ring_room(rd, rd_fd_ops(st)) < 0)
		return -ENOMEM; /* nothing cancelled; fd left out of epoll */
	rd_end_all(rd, st, ECANCELED);
	bool queued = st->queued; /* it may sit on the ready list */
	*st = (struct rd_fd){.queued = queued};
	return 0;
}

/* Operations start when queued, so there is nothing left to flush. */
static int ep_submit(dx_io *io)
{
	int n = (int)(io->submitted > INT_MAX ? INT_MAX : io->submitted);
	io->submitted = 0;
	return n;
}

/* How long epoll_wait may sleep: until end, the next timer or the accept
 * backoff, rounded up to a millisecond; 0 when work is waiting. */
static int sleep_ms(const dx_io *io, uint64_t now, uint64_t end)
{
	const struct rd *rd = &io->rd;
	if (rd->nready)
		return 0;
	uint64_t until = end;
	if (dx_timer_heap_next(&rd->timers) < until)
		until = dx_timer_heap_next(&rd->timers);
	if (rd->backoff_until && rd->backoff_until < until)
		until = rd->backoff_until;
	if (until == UINT64_MAX)
		return -1;
	if (until <= now)
		return 0;
	uint64_t ms = (until - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int ep_wait_cqes(dx_io *io, dx_io_cqe *cqes, unsigned max,
			int timeout_ms)
{
	if (!cqes || !max)
		return -EINVAL;
	struct rd *rd = &io->rd;
	io->submitted = 0;
	uint64_t now = rd_now_ns();
	uint64_t end = timeout_ms < 0 ? UINT64_MAX :
					now + (uint64_t)timeout_ms * 1000000u;
	while (!rd->ring_len) {
		int n = epoll_wait(io->epfd, io->events, MAX_EVENTS,
				   sleep_ms(io, now, end));
		if (n < 0 && errno != EINTR)
			return -errno;
		bool intr = n < 0;
		for (int i = 0; i < n; i++) {
			if (io->events[i].data.u64 == WAKE_KEY)
				on_wake(io);
			else
				on_event(io, (int)io->events[i].data.u64,
					 io->events[i].events);
		}
		now = rd_now_ns();
		rd_timers_fire(rd, now);
		rd_backoff_check(rd, now);
		rd_run_ready(rd);
		if (now >= end || intr)
			break;
	}
	return (int)rd_reap(rd, cqes, max);
}

static int ep_wake(dx_io *io)
{
	int saved = errno; /* async-signal-safe: leave errno as it was */
	uint64_t one = 1;
	int rc = 0;
	if (write(io->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
		rc = -errno; /* EAGAIN: the counter is full, a wake is due */
	errno = saved;
	return rc;
}

/* ---- instances ---- */

static void ep_destroy(dx_io *io)
{
	if (!io)
		return;
	rd_free(&io->rd);
	if (io->epfd >= 0)
		close(io->epfd);
	if (io->wakefd >= 0)
		close(io->wakefd);
	free(io);
}

static int ep_create(void *self, const dx_io_params *params, dx_io **out)
{
	const struct plugin *pl = self;
	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->epfd = io->wakefd = -1;
	int rc = rd_init(&io->rd, pl->host, "io_epoll", params, &ep_ops);
	if (rc < 0) {
		ep_destroy(io);
		return rc;
	}
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_KEY};
	if (io->epfd < 0 || io->wakefd < 0 ||
	    epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->wakefd, &ev) < 0) {
		rc = -errno;
		ep_destroy(io);
		return rc;
	}
	pl->host->log(pl->host, DX_LOG_DEBUG,
		      "worker %d: epoll instance, %u buffers of %u bytes",
		      io->rd.worker, io->rd.buf_count, io->rd.buf_size);
	*out = io;
	return 0;
}

static int ep_probe(void *self, char *why, size_t why_len)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		if (why && why_len)
			snprintf(why, why_len, "epoll_create1: %s",
				 strerror(-rc));
		return rc;
	}
	close(fd);
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		if (why && why_len)
			snprintf(why, why_len, "eventfd: %s", strerror(-rc));
		return rc;
	}
	close(fd);
	return 0;
}

static int ep_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	static const char *const keys[] = {NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	struct plugin *pl = calloc(1, sizeof *pl);
	if (!pl)
		return host->fail(host, -ENOMEM, "out of memory");
	pl->host = host;
	*self = pl;
	return 0;
}

static void ep_fini(void *self)
{
	free(self);
}

static const dx_io_vtable ep_vtable = {
	.size = sizeof(dx_io_vtable),
	/* Emulated multishot; no SEND_ZC, SQPOLL or NATIVE. */
	.caps = DX_IO_CAP_MULTISHOT_ACCEPT | DX_IO_CAP_MULTISHOT_RECV,
	.probe = ep_probe,
	.create = ep_create,
	.destroy = ep_destroy,
	.accept = ep_accept,
	.recv = ep_recv,
	.send = ep_send,
	.poll = ep_poll,
	.timeout = ep_timeout,
	.timeout_cancel = ep_timeout_cancel,
	.detach = ep_detach,
	.submit = ep_submit,
	.wait = ep_wait_cqes,
	.buf_release = ep_buf_release,
	.wake = ep_wake,
};

static const dx_facet ep_facets[] = {
	{DX_FACET_IO, "epoll", &ep_vtable},
};

DX_PLUGIN(.name = "io_epoll", .version = "1.0.0",
	  .description = "completion I/O emulated over epoll (edge-triggered)",
	  DX_FACETS(ep_facets), .init = ep_init, .fini = ep_fini)
