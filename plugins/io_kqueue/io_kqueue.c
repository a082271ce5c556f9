/* io_kqueue - the IO facet emulated over kqueue (dx/io.h, docs/architecture.md
 * s8), for FreeBSD and macOS; on Linux a test build runs it over an
 * emulation of kqueue (tests/kqueue_emu).
 *
 * Config: "emulation" (bool, default false): only the test build reads
 * it; it lets that build serve (see kq_probe below). Elsewhere it is
 * accepted and ignored, so a manifest runs unchanged on BSD.
 *
 * Batching: every kernel change an operation needs (registering an fd,
 * deleting it on detach, arming the instance's timer) is queued as a
 * struct kevent in the changelist, the submission queue, and the whole
 * changelist goes to the kernel in ONE kevent() call at the next submit()
 * or wait(), which also collects events; submit() returns how many changes
 * it gave (0, and no syscall, when there were none). The changelist grows;
 * -EBUSY only when growing fails (submit and retry, as dx/io.h says).
 * Which operations queue changes:
 * - accept, recv, poll, or a send that must wait, on an fd not registered:
 *   two (EVFILT_READ and EVFILT_WRITE, EV_ADD | EV_CLEAR). An fd stays
 *   registered while any operation is armed on it; the next arm after it
 *   went idle registers it again (the host may have closed the number).
 * - detach of an fd registered since its last detach: two EV_DELETEs.
 * - timers: one EVFILT_TIMER (ident TIMER_IDENT, EV_ONESHOT) per instance
 *   is kept armed at the earliest deadline; a submit whose earliest
 *   deadline differs from the armed one queues one change (EV_ADD re-arms
 *   in place, FreeBSD 11.3+ and macOS; EV_DELETE when none is left).
 *   One kernel timer, not one per timeout, because FreeBSD caps timer
 *   knotes system-wide (kern.kq_calloutmax, 4096 by default).
 * A change the kernel refuses comes back as an EV_ERROR event (the
 * eventlist always has room for one per change): ENOENT from a delete is
 * ignored (closing an fd drops its knotes), any other error on an fd ends
 * that fd's operations with it (-EBADF when it was closed).
 *
 * Triggering: edge-triggered (EV_CLEAR), each fd registered once for read
 * and write and never modified, as io_epoll does with EPOLLET, for the
 * same reasons: no change when a send starts waiting or a recv runs out of
 * buffers, and the fairness bound of the readiness core both share
 * (plugins/io_ready/ready.h: per-fd budgets per round; an fd with work
 * left stays on the ready list and the next kevent() does not sleep).
 * Arming accept or recv assumes readiness, which also covers an fd
 * another instance had.
 *
 * Wake: an EVFILT_USER event (ident WAKE_IDENT, EV_CLEAR) registered at
 * create; wake() triggers it with NOTE_TRIGGER in a kevent() call of its
 * own (any thread, async-signal-safe: one syscall, errno kept). Several
 * wakes before a wait() give one DX_IO_WAKE.
 *
 * Semantics chosen where dx/io.h leaves room (as io_epoll's):
 * - The instance never changes an fd's flags, except that accept() sets
 *   O_NONBLOCK on a blocking listening socket; recv and send are
 *   MSG_DONTWAIT. On macOS a socket gets SO_NOSIGPIPE (kq_compat.h).
 * - One accept, one recv and one poll may be armed per fd (-EALREADY);
 *   sends queue without limit, in order.
 * - DX_IO_SEND_ZC is a hint and ignored (copied, no NOTIF).
 * - poll is edge-like: one completion when armed on a ready fd, then one
 *   per event the kernel reports (EVFILT_READ: POLLIN, EVFILT_WRITE:
 *   POLLOUT, EV_EOF: POLLHUP, an error in fflags: POLLERR).
 * - accept errors meaning "out of resources" (EMFILE, ENFILE, ENOBUFS,
 *   ENOMEM) complete with DX_IO_F_MORE and retry after ACCEPT_BACKOFF_MS.
 * - Timeouts sharing a udata are allowed; timeout_cancel returns -ENOENT
 *   when none is armed. Timers are exact to the kernel's resolution
 *   (NOTE_NSECONDS where it exists), never early.
 * - destroy() closes the fds of accept completions nobody reaped.
 *
 * Threads: an instance is used by one thread; wake() by any. All state
 * lives in the instance.
 */
#include "io_kqueue_int.h"

/* ---- queueing operations ---- */

/* The core's arm (struct rd_ops): queue fd's registration, both filters
 * or neither. */
static int kq_arm(struct rd *rd, int fd, struct rd_fd *st)
{
	dx_io *io = (dx_io *)((char *)rd - offsetof(dx_io, rd));
	size_t had = io->nchg;
	if (chg_push(io, (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0) <
		    0 ||
	    chg_push(io, (uintptr_t)fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0) <
		    0) {
		io->nchg = had;
		return -EBUSY;
	}
	st->reg = st->seen = true;
	return 0;
}

static const struct rd_ops kq_ops = {.arm = kq_arm};

static int kq_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	return rd_accept(&io->rd, listen_fd, udata);
}

static int kq_recv(dx_io *io, int fd, uint64_t udata)
{
	return rd_recv(&io->rd, fd, udata);
}

static int kq_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	return rd_poll(&io->rd, fd, events, udata);
}

static int kq_send(dx_io *io, int fd, const void *buf, size_t len,
		   uint64_t udata, uint32_t flags)
{
	return rd_send(&io->rd, fd, buf, len, udata, flags);
}

static int kq_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	return rd_timeout(&io->rd, ns, udata); /* the flush arms the kernel */
}

static int kq_timeout_cancel(dx_io *io, uint64_t udata)
{
	return rd_timeout_cancel(&io->rd, udata);
}

static void kq_buf_release(dx_io *io, uint16_t buf_id)
{
	rd_buf_release(&io->rd, buf_id);
}

static int kq_detach(dx_io *io, int fd)
{
	if (fd < 0)
		return -EBADF;
	struct rd *rd = &io->rd;
	if ((size_t)fd >= rd->nfds)
		return 0;
	struct rd_fd *st = &rd->fds[fd];
	if (rd_ring_room(rd, rd_fd_ops(st)) < 0)
		return -ENOMEM; /* nothing cancelled */
	if (st->seen) {
		size_t had = io->nchg;
		if (chg_push(io, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0) <
			    0 ||
		    chg_push(io, (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0) <
			    0) {
			io->nchg = had;
			return -EBUSY;
		}
	}
	rd_end_all(rd, st, ECANCELED);
	bool queued = st->queued; /* it may sit on the ready list */
	*st = (struct rd_fd){.queued = queued};
	return 0;
}

/* ---- instances ---- */

static void kq_destroy(dx_io *io)
{
	if (!io)
		return;
	rd_free(&io->rd);
	if (io->kq >= 0)
		close(io->kq); /* drops every knote it holds */
	free(io->chg);
	free(io->evl);
	free(io);
}

/* The kqueue and its wake event, registered at once (not batched: the
 * instance is not in use yet). */
static int kq_start(dx_io *io)
{
	io->kq = kq_open();
	if (io->kq < 0)
		return io->kq;
	struct kevent ev;
	EV_SET(&ev, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFNOP, 0,
	       0);
	if (kq_kevent(io->kq, &ev, 1, NULL, 0, NULL) < 0)
		return -errno;
	return 0;
}

static int kq_create(void *self, const dx_io_params *params, dx_io **out)
{
	const struct plugin *pl = self;
	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->kq = -1;
	int rc = rd_init(&io->rd, pl->host, "io_kqueue", params, &kq_ops);
	if (rc == 0)
		rc = kq_start(io);
	/* The changelist starts at queue_depth: the submission queue. */
	uint32_t depth =
		params && params->size >= offsetof(dx_io_params, queue_depth) +
						  sizeof params->queue_depth ?
			params->queue_depth :
			0;
	io->chg_cap = io->evl_cap = depth > MIN_EVENTS ? depth : MIN_EVENTS;
	io->chg = malloc(io->chg_cap * sizeof *io->chg);
	io->evl = malloc(io->evl_cap * sizeof *io->evl);
	if (rc == 0 && (!io->chg || !io->evl))
		rc = -ENOMEM;
	if (rc < 0) {
		kq_destroy(io);
		return rc;
	}
	pl->host->log(pl->host, DX_LOG_DEBUG,
		      "worker %d: kqueue instance%s, %u buffers of %u bytes",
		      io->rd.worker, KQ_EMULATED ? " (test emulation)" : "",
		      io->rd.buf_count, io->rd.buf_size);
	*out = io;
	return 0;
}

/* A kernel kqueue: usable when kqueue() and EVFILT_USER work. The test
 * build over the epoll emulation is not a kernel kqueue: it refuses unless
 * its config says "emulation": true, so that io.backend "auto" never
 * picks it (auto probes every loaded IO facet and logs this reason) and
 * naming it alone says what it is. */
static int kq_probe(void *self, char *why, size_t why_len)
{
	const struct plugin *pl = self;
	if (KQ_EMULATED && !pl->emulation) {
		if (why && why_len)
			snprintf(why, why_len,
				 "this io_kqueue is the test build over an "
				 "emulation of kqueue on epoll, not a kernel "
				 "kqueue; set \"emulation\": true in its "
				 "plugins entry's config to use it anyway");
		return -ENOTSUP;
	}
	int kq = kq_open();
	if (kq < 0) {
		if (why && why_len)
			snprintf(why, why_len, "kqueue: %s", strerror(-kq));
		return kq;
	}
	struct kevent ev;
	EV_SET(&ev, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFNOP, 0,
	       0);
	int rc = kq_kevent(kq, &ev, 1, NULL, 0, NULL) < 0 ? -errno : 0;
	if (rc < 0 && why && why_len)
		snprintf(why, why_len, "kevent(EVFILT_USER): %s",
			 strerror(-rc));
	close(kq);
	return rc;
}

static int kq_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	static const char *const keys[] = {"emulation", NULL};
	int rc = host->config_keys(host, config, keys);
	bool emulation = false;
	if (rc == 0)
		rc = host->config_bool(host, config, "emulation", false,
				       &emulation);
	if (rc < 0)
		return rc;
	struct plugin *pl = calloc(1, sizeof *pl);
	if (!pl)
		return host->fail(host, -ENOMEM, "out of memory");
	pl->host = host;
	pl->emulation = emulation;
	*self = pl;
	return 0;
}

static void kq_fini(void *self)
{
	free(self);
}

static const dx_io_vtable kq_vtable = {
	.size = sizeof(dx_io_vtable),
	/* Emulated multishot; no SEND_ZC, SQPOLL or NATIVE. */
	.caps = DX_IO_CAP_MULTISHOT_ACCEPT | DX_IO_CAP_MULTISHOT_RECV,
	.probe = kq_probe,
	.create = kq_create,
	.destroy = kq_destroy,
	.accept = kq_accept,
	.recv = kq_recv,
	.send = kq_send,
	.poll = kq_poll,
	.timeout = kq_timeout,
	.timeout_cancel = kq_timeout_cancel,
	.detach = kq_detach,
	.submit = kq_submit,
	.wait = kq_wait_cqes,
	.buf_release = kq_buf_release,
	.wake = kq_wake,
};

static const dx_facet kq_facets[] = {
	{DX_FACET_IO, "kqueue", &kq_vtable},
};

DX_PLUGIN(.name = "io_kqueue", .version = "1.0.0",
	  .description = "completion I/O emulated over kqueue (EV_CLEAR, "
			 "one kevent call per turn)",
	  DX_FACETS(kq_facets), .init = kq_init, .fini = kq_fini)
