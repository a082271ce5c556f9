/* io_epoll - the IO facet emulated over epoll (dx/io.h, docs/architecture.md s8).
 *
 * Operations start when they are queued: a send is written at once, an
 * accept, recv or poll marks its fd ready so the next wait() tries it. The
 * completions they produce go into a ring inside the instance and wait()
 * hands them out, up to max per call; the ring grows, so nothing is dropped
 * (room is reserved before any syscall whose result needs a slot).
 *
 * Triggering: edge-triggered. Each fd is added once, for EPOLLIN | EPOLLOUT
 * | EPOLLRDHUP | EPOLLET, and never modified: no epoll_ctl when a send
 * starts waiting or a recv runs out of buffers, which level triggering would
 * need to stop a busy loop. The price is that the backend tracks readiness
 * itself (rd_ready, wr_ready: set by an event, cleared by EAGAIN), and that
 * is also what makes the fairness bound easy: an fd that still has work
 * after its per-round budget (RECV_BUDGET reads, ACCEPT_BUDGET accepts,
 * SEND_BUDGET sends) stays on the ready list and the next wait() polls
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
 *   after ACCEPT_BACKOFF_MS. Others end it (no MORE).
 * - Timeouts sharing a udata are allowed (timeout_cancel takes one of
 *   them); timeout_cancel returns -ENOENT when none is armed (it fired).
 * - wait() returns what it has (maybe nothing) when a signal interrupts.
 * - Several wake() calls before a wait() give one DX_IO_WAKE.
 * - destroy() closes the fds of accept completions nobody reaped.
 *
 * Threads: an instance is used by one thread; wake() by any (an eventfd
 * write, async-signal-safe). All state lives in the instance.
 */
#include "io_epoll_int.h"

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the completion ring ---- */

/* Make room for n more completions. Called before the syscall whose result
 * needs the slot, so a failed allocation loses nothing. */
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
	for (size_t i = 0; i < io->ring_len; i++)
		r[i] = io->ring[(io->ring_head + i) % io->ring_cap];
	free(io->ring);
	io->ring = r;
	io->ring_cap = cap;
	io->ring_head = 0;
	return 0;
}

/* Only after ring_room. */
void post(dx_io *io, uint8_t op, int32_t result, uint64_t udata, uint32_t flags)
{
	dx_io_cqe *c = &io->ring[(io->ring_head + io->ring_len) % io->ring_cap];
	*c = (dx_io_cqe){.udata = udata, .result = result, .op = op,
			 .flags = flags};
	io->ring_len++;
}

/* ---- the fd table and the ready list ---- */

static struct fdst *fd_get(dx_io *io, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd < io->nfds)
		return &io->fds[fd];
	size_t n = io->nfds ? io->nfds : 64;
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

/* No operation left: forget the registration state, so the next arm adds
 * the fd again (the host may have closed it and reused the number). */
void fd_idle_check(struct fdst *st)
{
	if (!st->acc_armed && !st->recv_armed && !st->poll_armed &&
	    !st->sq_head)
		st->reg = false;
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

static void ep_buf_release(dx_io *io, uint16_t buf_id)
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

/* Look fd up and make sure epoll watches it. */
static int fd_arm(dx_io *io, int fd, struct fdst **out)
{
	if (fd < 0)
		return -EBADF;
	struct fdst *st = fd_get(io, fd);
	if (!st)
		return -ENOMEM;
	if (!st->reg) {
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
			.data.u64 = (uint64_t)fd,
		};
		if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
			/* A new registration: epoll reports the current
			 * state, forget what we knew of an older file. */
			st->rd_ready = st->wr_ready = st->hup = false;
		} else if (errno != EEXIST) {
			return -errno;
		}
		st->reg = true;
	}
	*out = st;
	return 0;
}

static int ep_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	struct fdst *st;
	int rc = fd_arm(io, listen_fd, &st);
	if (rc < 0)
		return rc;
	if (st->acc_armed)
		return -EALREADY;
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) &&
		       fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -errno;
	st->acc_armed = true;
	st->acc_backoff = false;
	st->acc_udata = udata;
	st->rd_ready = true; /* try at once: the queue may hold some */
	ready_push(io, listen_fd);
	io->submitted++;
	return 0;
}

static int ep_recv(dx_io *io, int fd, uint64_t udata)
{
	struct fdst *st;
	int rc = fd_arm(io, fd, &st);
	if (rc < 0)
		return rc;
	if (st->recv_armed)
		return -EALREADY;
	int type = 0;
	socklen_t tlen = sizeof type;
	st->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
		     type == SOCK_STREAM;
	st->recv_armed = true;
	st->recv_udata = udata;
	st->rd_ready = true; /* try at once */
	ready_push(io, fd);
	io->submitted++;
	return 0;
}

static int ep_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	struct fdst *st;
	int rc = fd_arm(io, fd, &st);
	if (rc < 0)
		return rc;
	if (st->poll_armed)
		return -EALREADY;
	st->poll_armed = true;
	st->poll_check = true;
	st->poll_events = events;
	st->poll_revents = 0;
	st->poll_udata = udata;
	ready_push(io, fd);
	io->submitted++;
	return 0;
}

static int ep_send(dx_io *io, int fd, const void *buf, size_t len,
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
	size_t off = 0;
	int rc = SENT_AGAIN;
	if (!st->sq_head) { /* nothing ahead of it: write now */
		rc = send_some(fd, buf, len, &off, flags, SEND_BUDGET);
		if (rc == SENT_ALL || rc < 0) {
			post(io, DX_IO_SEND, rc == SENT_ALL ? (int32_t)len :
					     off ? (int32_t)off : rc,
			     udata, 0);
			io->submitted++;
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
		io->submitted++;
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
		st->wr_ready = false; /* EAGAIN: wait for EPOLLOUT */
	}
	io->submitted++;
	return 0;
}

static int ep_detach(dx_io *io, int fd)
{
	if (fd < 0)
		return -EBADF;
	/* Always: an idle fd may still be in the set. */
	(void)epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
	if ((size_t)fd >= io->nfds)
		return 0;
	struct fdst *st = &io->fds[fd];
	size_t n = (size_t)st->acc_armed + st->recv_armed + st->poll_armed;
	for (struct sendop *s = st->sq_head; s; s = s->next)
		n++;
	if (ring_room(io, n) < 0)
		return -ENOMEM; /* nothing cancelled; fd left out of epoll */
	if (st->acc_armed)
		post(io, DX_IO_ACCEPT, -ECANCELED, st->acc_udata, 0);
	if (st->poll_armed)
		post(io, DX_IO_POLL, -ECANCELED, st->poll_udata, 0);
	if (st->recv_armed)
		post(io, DX_IO_RECV, -ECANCELED, st->recv_udata, 0);
	while (st->sq_head)
		send_pop(io, st, st->sq_head->off ? (int32_t)st->sq_head->off :
						    -ECANCELED);
	bool queued = st->queued; /* it may sit on the ready list */
	*st = (struct fdst){.queued = queued};
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
	if (io->nready)
		return 0;
	uint64_t until = end;
	if (dx_timer_heap_next(&io->timers) < until)
		until = dx_timer_heap_next(&io->timers);
	if (io->backoff_until && io->backoff_until < until)
		until = io->backoff_until;
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
	io->submitted = 0;
	uint64_t now = now_ns();
	uint64_t end = timeout_ms < 0 ? UINT64_MAX :
					now + (uint64_t)timeout_ms * 1000000u;
	while (!io->ring_len) {
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
		now = now_ns();
		timers_fire(io, now);
		backoff_check(io, now);
		run_ready(io);
		if (now >= end || intr)
			break;
	}
	unsigned k = 0;
	for (; k < max && io->ring_len; k++) {
		cqes[k] = io->ring[io->ring_head];
		io->ring_head = (io->ring_head + 1) % io->ring_cap;
		io->ring_len--;
	}
	return (int)k;
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
	if (io->epfd >= 0)
		close(io->epfd);
	if (io->wakefd >= 0)
		close(io->wakefd);
	free(io->fds);
	free(io->ready);
	free(io->ring);
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

static int ep_create(void *self, const dx_io_params *params, dx_io **out)
{
	const struct plugin *pl = self;
	uint32_t count = PARAM(params, buf_count);
	uint32_t size = PARAM(params, buf_size);
	uint32_t depth = PARAM(params, queue_depth);
	count = count ? count : DEFAULT_BUF_COUNT;
	size = size ? size : DEFAULT_BUF_SIZE;
	if (count > MAX_BUF_COUNT || size > INT32_MAX)
		return pl->host->fail(pl->host, -EINVAL,
				      "io_epoll: buf_count %u (at most %u) "
				      "or buf_size %u (at most %d) too large",
				      count, MAX_BUF_COUNT, size, INT32_MAX);

	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->host = pl->host;
	io->worker = PARAM(params, worker);
	io->wakefd = -1;
	dx_timer_heap_init(&io->timers, DX_TIMER_HEAP_BY_UDATA);
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_KEY};
	if (io->epfd < 0 || io->wakefd < 0 ||
	    epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->wakefd, &ev) < 0) {
		int rc = -errno;
		ep_destroy(io);
		return rc;
	}
	io->buf_count = count;
	io->buf_size = size;
	io->bufs = malloc((size_t)count * size);
	io->free_ids = malloc(count * sizeof *io->free_ids);
	io->lent = calloc(count, 1);
	if (!io->bufs || !io->free_ids || !io->lent ||
	    ring_room(io, depth > 128 ? 2 * (size_t)depth : 256) < 0) {
		ep_destroy(io);
		return -ENOMEM;
	}
	/* Lend low ids first (a stack: push in reverse). */
	for (uint32_t i = 0; i < count; i++)
		io->free_ids[i] = (uint16_t)(count - 1 - i);
	io->nfree = count;
	pl->host->log(pl->host, DX_LOG_DEBUG,
		      "worker %d: epoll instance, %u buffers of %u bytes",
		      io->worker, count, size);
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
