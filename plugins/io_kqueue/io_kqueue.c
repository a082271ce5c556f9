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
 * buffers, and the fairness bound (RECV_BUDGET reads, ACCEPT_BUDGET
 * accepts, SEND_BUDGET sends per fd per round; an fd with work left stays
 * on the ready list and the next kevent() does not sleep). Arming accept
 * or recv assumes readiness, which also covers an fd another instance had.
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

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the completion ring ---- */

/* Make room for n more completions, before the syscall whose result needs
 * the slot, so a failed allocation loses nothing. */
int ring_room(dx_io *io, size_t n)
{
	if (io->ring_len + n <= io->ring_cap)
		return 0;
	size_t cap = io->ring_cap ? io->ring_cap : 256;
	while (cap < io->ring_len + n)
		cap *= 2;
	dx_io_cqe *r = malloc(cap * sizeof *r);
	if (!r)
		return -ENOMEM;
	size_t first = io->ring_cap - io->ring_head; /* up to the wrap */
	if (first > io->ring_len)
		first = io->ring_len;
	if (io->ring_len) {
		memcpy(r, io->ring + io->ring_head, first * sizeof *r);
		memcpy(r + first, io->ring, (io->ring_len - first) * sizeof *r);
	}
	free(io->ring);
	io->ring = r;
	io->ring_cap = cap;
	io->ring_head = 0;
	return 0;
}

/* Only after ring_room. */
void post(dx_io *io, uint8_t op, int32_t result, uint64_t udata, uint32_t flags)
{
	size_t at = (io->ring_head + io->ring_len) % io->ring_cap;
	io->ring[at] = (dx_io_cqe){.udata = udata, .result = result, .op = op,
				   .flags = flags};
	io->ring_len++;
}

/* ---- the fd table and the ready list ---- */

static struct fdst *fd_get(dx_io *io, int fd)
{
	if ((size_t)fd < io->nfds)
		return &io->fds[fd];
	size_t n = io->nfds ? io->nfds * 2 : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct fdst *f = realloc(io->fds, n * sizeof *f);
	if (!f)
		return NULL;
	io->fds = f;
	int *r = realloc(io->ready, n * sizeof *r); /* never overflows */
	if (!r)
		return NULL; /* fds grew but nfds did not: harmless */
	io->ready = r;
	memset(f + io->nfds, 0, (n - io->nfds) * sizeof *f);
	io->nfds = n;
	return &io->fds[fd];
}

void ready_push(dx_io *io, int fd)
{
	struct fdst *st = &io->fds[fd];
	if (!st->queued) {
		st->queued = true;
		io->ready[io->nready++] = fd;
	}
}

/* No operation left: the next arm registers the fd again (the host may
 * close it and reuse the number; closing drops the knotes). */
void fd_idle_check(struct fdst *st)
{
	if (!st->acc_armed && !st->recv_armed && !st->poll_armed &&
	    !st->sq_head)
		st->reg = st->nosigpipe = false;
}

/* How many operations are armed on st (each will complete once). */
size_t fd_ops(const struct fdst *st)
{
	size_t n = (size_t)st->acc_armed + st->recv_armed + st->poll_armed;
	for (const struct sendop *s = st->sq_head; s; s = s->next)
		n++;
	return n;
}

/* Complete every operation on st with -err (a send that partly went out
 * with its count). Only after ring_room(io, fd_ops(st)). */
void fd_end_all(dx_io *io, struct fdst *st, int err)
{
	if (st->acc_armed)
		post(io, DX_IO_ACCEPT, -err, st->acc_udata, 0);
	if (st->poll_armed)
		post(io, DX_IO_POLL, -err, st->poll_udata, 0);
	if (st->recv_armed)
		post(io, DX_IO_RECV, -err, st->recv_udata, 0);
	st->acc_armed = st->poll_armed = st->recv_armed = false;
	while (st->sq_head)
		send_pop(io, st, st->sq_head->off ? (int32_t)st->sq_head->off :
						    -err);
}

/* ---- receive buffers ---- */

int buf_get(dx_io *io)
{
	if (!io->nfree)
		return -1;
	uint16_t id = io->free_ids[--io->nfree];
	io->lent[id] = 1;
	return id;
}

void buf_put(dx_io *io, uint16_t id)
{
	io->lent[id] = 0;
	io->free_ids[io->nfree++] = id;
}

static void kq_buf_release(dx_io *io, uint16_t buf_id)
{
	if (buf_id >= io->buf_count || !io->lent[buf_id]) {
		io->host->log(io->host, DX_LOG_ERROR,
			      "worker %d: buf_release(%u): not a lent buffer",
			      io->worker, (unsigned)buf_id);
		return;
	}
	buf_put(io, buf_id);
}

/* ---- queueing operations ---- */

/* Look fd up and queue its registration when it has none. */
static int fd_arm(dx_io *io, int fd, struct fdst **out)
{
	if (fd < 0)
		return -EBADF;
	struct fdst *st = fd_get(io, fd);
	if (!st)
		return -ENOMEM;
	if (!st->reg) {
		/* Both or neither: chg_push grows for the first, so the
		 * second can fail only after it; undo by dropping it. */
		size_t had = io->nchg;
		if (chg_push(io, (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR,
			     0, 0) < 0 ||
		    chg_push(io, (uintptr_t)fd, EVFILT_WRITE,
			     EV_ADD | EV_CLEAR, 0, 0) < 0) {
			io->nchg = had;
			return -EBUSY;
		}
		st->reg = st->kseen = true;
	}
	*out = st;
	return 0;
}

static int kq_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	struct fdst *st;
	if (listen_fd >= 0 && (size_t)listen_fd < io->nfds &&
	    io->fds[listen_fd].acc_armed)
		return -EALREADY;
	int fl = listen_fd < 0 ? -1 : fcntl(listen_fd, F_GETFL);
	if (fl < 0)
		return listen_fd < 0 ? -EBADF : -errno;
	if (!(fl & O_NONBLOCK) && fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	int rc = fd_arm(io, listen_fd, &st);
	if (rc < 0)
		return rc;
	st->acc_armed = true;
	st->acc_backoff = false;
	st->acc_udata = udata;
	st->rd_ready = true; /* try at once: the queue may hold some */
	ready_push(io, listen_fd);
	return 0;
}

static int kq_recv(dx_io *io, int fd, uint64_t udata)
{
	struct fdst *st;
	if (fd >= 0 && (size_t)fd < io->nfds && io->fds[fd].recv_armed)
		return -EALREADY;
	int rc = fd_arm(io, fd, &st);
	if (rc < 0)
		return rc;
	int type = 0;
	socklen_t tlen = sizeof type;
	st->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
		     type == SOCK_STREAM;
	st->recv_armed = true;
	st->recv_udata = udata;
	st->rd_ready = true; /* try at once */
	ready_push(io, fd);
	return 0;
}

static int kq_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	struct fdst *st;
	if (fd >= 0 && (size_t)fd < io->nfds && io->fds[fd].poll_armed)
		return -EALREADY;
	int rc = fd_arm(io, fd, &st);
	if (rc < 0)
		return rc;
	st->poll_armed = true;
	st->poll_check = true;
	st->poll_events = events;
	st->poll_revents = 0;
	st->poll_udata = udata;
	ready_push(io, fd);
	return 0;
}

static int kq_send(dx_io *io, int fd, const void *buf, size_t len,
		   uint64_t udata, uint32_t flags)
{
	if (len > INT32_MAX) /* the result must fit the cqe */
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	struct fdst *st = fd_get(io, fd);
	if (!st)
		return -ENOMEM;
	if (ring_room(io, 1) < 0)
		return -ENOMEM;
	if (!st->nosigpipe) {
		int rc = kq_nosigpipe(fd);
		if (rc < 0)
			return rc;
		st->nosigpipe = true;
	}
	size_t off = 0;
	int rc = SENT_AGAIN;
	if (!st->sq_head) { /* nothing ahead of it: write now */
		rc = send_some(fd, buf, len, &off, flags, SEND_BUDGET);
		if (rc == SENT_ALL || rc < 0) {
			post(io, DX_IO_SEND, rc == SENT_ALL ? (int32_t)len :
					     off ? (int32_t)off : rc,
			     udata, 0);
			return 0;
		}
	}
	struct sendop *s = sendop_new(io);
	int arm = s ? fd_arm(io, fd, &st) : -ENOMEM;
	if (arm < 0) {
		if (s) {
			s->next = io->spare;
			io->spare = s;
		}
		if (!off)
			return arm;
		/* Part went out already: that is this send's result. */
		post(io, DX_IO_SEND, (int32_t)off, udata, 0);
		return 0;
	}
	*s = (struct sendop){.buf = buf, .len = len, .off = off,
			     .udata = udata, .flags = flags};
	if (st->sq_tail)
		st->sq_tail->next = s;
	else
		st->sq_head = s;
	st->sq_tail = s;
	if (rc == SENT_BUDGET) { /* still writable: go on next round */
		st->wr_ready = true;
		ready_push(io, fd);
	} else if (s == st->sq_head) {
		st->wr_ready = false; /* EAGAIN: wait for EVFILT_WRITE */
	}
	return 0;
}

static int kq_detach(dx_io *io, int fd)
{
	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= io->nfds)
		return 0;
	struct fdst *st = &io->fds[fd];
	if (ring_room(io, fd_ops(st)) < 0)
		return -ENOMEM; /* nothing cancelled */
	if (st->kseen) {
		size_t had = io->nchg;
		if (chg_push(io, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0) <
			    0 ||
		    chg_push(io, (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0) <
			    0) {
			io->nchg = had;
			return -EBUSY;
		}
	}
	fd_end_all(io, st, ECANCELED);
	bool queued = st->queued; /* it may sit on the ready list */
	*st = (struct fdst){.queued = queued};
	return 0;
}

/* ---- instances ---- */

static void kq_destroy(dx_io *io)
{
	if (!io)
		return;
	/* Connections accepted but never handed out would leak. */
	for (size_t i = 0; i < io->ring_len; i++) {
		const dx_io_cqe *c = &io->ring[(io->ring_head + i) %
					       io->ring_cap];
		if (c->op == DX_IO_ACCEPT && c->result >= 0)
			close(c->result);
	}
	for (size_t fd = 0; fd < io->nfds; fd++) {
		struct fdst *st = &io->fds[fd];
		while (st->sq_head) {
			struct sendop *s = st->sq_head;
			st->sq_head = s->next;
			free(s);
		}
	}
	while (io->spare) {
		struct sendop *s = io->spare;
		io->spare = s->next;
		free(s);
	}
	if (io->kq >= 0)
		close(io->kq); /* drops every knote it holds */
	free(io->fds);
	free(io->ready);
	free(io->ring);
	free(io->chg);
	free(io->evl);
	free(io->bufs);
	free(io->free_ids);
	free(io->lent);
	dx_timer_heap_free(&io->timers);
	free(io);
}

/* A member of params, or 0 when the caller's struct is too old for it. */
#define PARAM(p, m)                                                        \
	((p) && (p)->size >= offsetof(dx_io_params, m) + sizeof((p)->m) ?  \
		 (p)->m :                                                  \
		 0)

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
	uint32_t count = PARAM(params, buf_count);
	uint32_t size = PARAM(params, buf_size);
	uint32_t depth = PARAM(params, queue_depth);
	count = count ? count : DEFAULT_BUF_COUNT;
	size = size ? size : DEFAULT_BUF_SIZE;
	if (count > MAX_BUF_COUNT || size > INT32_MAX)
		return pl->host->fail(pl->host, -EINVAL,
				      "io_kqueue: buf_count %u (at most %u) "
				      "or buf_size %u (at most %d) too large",
				      count, MAX_BUF_COUNT, size, INT32_MAX);

	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->host = pl->host;
	io->worker = PARAM(params, worker);
	dx_timer_heap_init(&io->timers, DX_TIMER_HEAP_BY_UDATA);
	int rc = kq_start(io);
	if (rc < 0) {
		kq_destroy(io);
		return rc;
	}
	io->buf_count = count;
	io->buf_size = size;
	io->bufs = malloc((size_t)count * size);
	io->free_ids = malloc(count * sizeof *io->free_ids);
	io->lent = calloc(count, 1);
	/* The changelist starts at queue_depth: the submission queue. */
	io->chg_cap = depth > MIN_EVENTS ? depth : MIN_EVENTS;
	io->evl_cap = io->chg_cap;
	io->chg = malloc(io->chg_cap * sizeof *io->chg);
	io->evl = malloc(io->evl_cap * sizeof *io->evl);
	if (!io->bufs || !io->free_ids || !io->lent || !io->chg || !io->evl ||
	    ring_room(io, depth > 128 ? 2 * (size_t)depth : 256) < 0) {
		kq_destroy(io);
		return -ENOMEM;
	}
	/* Lend low ids first (a stack: push in reverse). */
	for (uint32_t i = 0; i < count; i++)
		io->free_ids[i] = (uint16_t)(count - 1 - i);
	io->nfree = count;
	pl->host->log(pl->host, DX_LOG_DEBUG,
		      "worker %d: kqueue instance%s, %u buffers of %u bytes",
		      io->worker, KQ_EMULATED ? " (test emulation)" : "",
		      count, size);
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
