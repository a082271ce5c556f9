/* io_kqueue_kev.c - io_kqueue's side of the kernel: the changelist (the
 * submission queue), the one kevent() call per submit or wait that takes
 * it, the events that come back, the instance's timer (EVFILT_TIMER) and
 * wake (EVFILT_USER). Owner thread only, but for kq_wake. */
#include "io_kqueue_int.h"

/* Grow the changelist, and the eventlist with it (one EV_ERROR per change
 * must fit), to hold n more. */
static int chg_room(dx_io *io, size_t n)
{
	if (io->nchg + n <= io->chg_cap)
		return 0;
	size_t cap = io->chg_cap * 2;
	while (cap < io->nchg + n)
		cap *= 2;
	if (cap > INT_MAX)
		return -EBUSY; /* kevent() counts in int */
	struct kevent *c = realloc(io->chg, cap * sizeof *c);
	if (!c)
		return -EBUSY;
	io->chg = c;
	io->chg_cap = cap;
	struct kevent *e = realloc(io->evl, cap * sizeof *e);
	if (!e)
		return -EBUSY; /* chg grew, evl did not: next time */
	io->evl = e;
	io->evl_cap = cap;
	return 0;
}

int chg_push(dx_io *io, uintptr_t ident, short filter, unsigned short flags,
	     unsigned fflags, intptr_t data)
{
	int rc = chg_room(io, 1);
	if (rc < 0)
		return rc;
	EV_SET(&io->chg[io->nchg], ident, filter, flags, fflags, data, 0);
	io->nchg++;
	return 0;
}

/* ---- the timer ---- */

/* Queue the change that keeps the kernel timer at the earliest deadline. */
static void timer_sync(dx_io *io)
{
	uint64_t next = dx_timer_heap_next(&io->rd.timers);
	if (next == io->timer_armed || (next == UINT64_MAX && !io->timer_armed))
		return;
	if (next == UINT64_MAX) {
		if (chg_push(io, TIMER_IDENT, EVFILT_TIMER, EV_DELETE, 0, 0) ==
		    0)
			io->timer_armed = 0;
		return;
	}
	uint64_t now = rd_now_ns();
	intptr_t data;
	unsigned fflags;
	/* Due already: the shortest wait the kernel takes. */
	kq_timer_data(next > now ? next - now : 1, &data, &fflags);
	if (chg_push(io, TIMER_IDENT, EVFILT_TIMER, EV_ADD | EV_ONESHOT, fflags,
		     data) == 0)
		io->timer_armed = next;
	/* else: the next flush tries again (the deadline still differs). */
}

/* ---- wake ---- */

int kq_wake(dx_io *io)
{
	int saved = errno; /* async-signal-safe: leave errno as it was */
	struct kevent ev;
	EV_SET(&ev, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
	int rc = kq_kevent(io->kq, &ev, 1, NULL, 0, NULL) < 0 ? -errno : 0;
	errno = saved;
	return rc;
}

static void on_wake(dx_io *io)
{
	if (rd_ring_room(&io->rd, 1) == 0)
		rd_post(&io->rd, DX_IO_WAKE, 0, 0, 0);
	else /* EV_CLEAR took the trigger: trigger again, next flush */
		(void)chg_push(io, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0);
}

/* ---- events ---- */

/* An EVFILT_READ or EVFILT_WRITE event. With EV_EOF the peer shut down
 * (read) or went (write), and fflags holds a socket error if there was
 * one; either way reading goes on to EOF and writing to its error. */
static void on_event(dx_io *io, const struct kevent *ev)
{
	int fd = (int)ev->ident;
	struct rd *rd = &io->rd;
	if (fd < 0 || (size_t)fd >= rd->nfds)
		return; /* stale: an fd we no longer know */
	struct rd_fd *st = &rd->fds[fd];
	uint32_t rev = 0;
	if (ev->filter == EVFILT_READ) {
		st->rd_ready = true;
		rev |= DX_IO_POLLIN;
	} else {
		st->wr_ready = true;
		rev |= DX_IO_POLLOUT;
	}
	if (ev->flags & EV_EOF) {
		st->hup = st->rd_ready = st->wr_ready = true;
		rev |= DX_IO_POLLHUP;
		if (ev->fflags)
			rev |= DX_IO_POLLERR;
	}
	if (st->poll_armed)
		st->poll_revents |= rev;
	if (rd_has_work(st))
		rd_ready_push(rd, fd);
}

/* The kernel refused to register fd (err): its operations end with it. */
static void fd_fail(dx_io *io, int fd, int err)
{
	struct rd *rd = &io->rd;
	if (fd < 0 || (size_t)fd >= rd->nfds)
		return;
	struct rd_fd *st = &rd->fds[fd];
	if (rd_ring_room(rd, rd_fd_ops(st)) < 0)
		return; /* they stay armed, and unregistered */
	rd_end_all(rd, st, err);
	rd_idle_check(st);
}

/* A change the kernel refused (EV_ERROR, errno in data). */
static void on_change_error(dx_io *io, const struct kevent *ev)
{
	int err = (int)ev->data;
	if (ev->filter == EVFILT_READ || ev->filter == EVFILT_WRITE) {
		if (err != ENOENT) /* a delete after close: nothing to do */
			fd_fail(io, (int)ev->ident, err);
		return;
	}
	if (ev->filter == EVFILT_TIMER && err == ENOENT)
		return; /* deleted after it fired */
	if (ev->filter == EVFILT_TIMER)
		io->timer_armed = 0; /* not armed: the next flush retries */
	io->rd.host->log(io->rd.host, DX_LOG_ERROR,
			 "worker %d: kevent refused a change of filter %d: %s",
			 io->rd.worker, (int)ev->filter, strerror(err));
}

/* Give the changelist to the kernel and take up to evl_cap events,
 * sleeping at most timeout_ns (UINT64_MAX: until an event). The one place
 * kevent() is called on an instance (but for wake). */
static int kq_flush(dx_io *io, uint64_t timeout_ns, bool *intr)
{
	timer_sync(io);
	struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
			      .tv_nsec = (long)(timeout_ns % 1000000000u)};
	int n = kq_kevent(io->kq, io->chg, (int)io->nchg, io->evl,
			  (int)io->evl_cap,
			  timeout_ns == UINT64_MAX ? NULL : &ts);
	/* The kernel applies every change before it waits, so an EINTR
	 * leaves none behind; another error is the kqueue's own (EBADF,
	 * EFAULT), and there is nothing to resubmit to. */
	io->nchg = 0;
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		*intr = true;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		const struct kevent *ev = &io->evl[i];
		if (ev->flags & EV_ERROR)
			on_change_error(io, ev);
		else if (ev->filter == EVFILT_USER)
			on_wake(io);
		else if (ev->filter == EVFILT_TIMER)
			io->timer_armed = 0; /* EV_ONESHOT: gone */
		else if (ev->filter == EVFILT_READ ||
			 ev->filter == EVFILT_WRITE)
			on_event(io, ev);
	}
	return 0;
}

/* The changes queued since the last flush, in one kevent() call that does
 * not sleep; how many there were. */
int kq_submit(dx_io *io)
{
	timer_sync(io);
	size_t n = io->nchg;
	if (!n)
		return 0;
	bool intr = false;
	int rc = kq_flush(io, 0, &intr);
	return rc < 0 ? rc : (int)n;
}

/* How long kevent may sleep: until end or the accept backoff; 0 when work
 * is waiting. Timers need no bound: the kernel timer wakes it. */
static uint64_t sleep_ns(const dx_io *io, uint64_t now, uint64_t end)
{
	if (io->rd.nready || io->rd.ring_len)
		return 0;
	uint64_t until = end;
	if (io->rd.backoff_until && io->rd.backoff_until < until)
		until = io->rd.backoff_until;
	if (until == UINT64_MAX)
		return UINT64_MAX;
	return until > now ? until - now : 0;
}

int kq_wait_cqes(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms)
{
	if (!cqes || !max)
		return -EINVAL;
	struct rd *rd = &io->rd;
	uint64_t now = rd_now_ns();
	uint64_t end = timeout_ms < 0 ? UINT64_MAX :
					now + (uint64_t)timeout_ms * 1000000u;
	bool intr = false;
	/* The first pass submits what is queued, whatever the ring holds.
	 * Timers already due complete without asking the kernel (later
	 * passes fire them at the end of the one before). */
	rd_timers_fire(rd, now);
	do {
		int rc = kq_flush(io, sleep_ns(io, now, end), &intr);
		if (rc < 0)
			return rc;
		now = rd_now_ns();
		rd_timers_fire(rd, now);
		rd_backoff_check(rd, now);
		rd_run_ready(rd);
	} while (!rd->ring_len && now < end && !intr);
	return (int)rd_reap(rd, cqes, max);
}
