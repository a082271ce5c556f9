/* io_kqueue_run.c - io_kqueue: readiness from kevent's events, and running
 * the operations of one ready fd. Owner thread only. */
#include "io_kqueue_int.h"

/* ---- readiness ---- */

static bool fd_has_work(const struct fdst *st)
{
	return (st->poll_armed && (st->poll_check || st->poll_revents)) ||
	       (st->rd_ready && ((st->acc_armed && !st->acc_backoff) ||
				 st->recv_armed)) ||
	       (st->wr_ready && st->sq_head);
}

/* An EVFILT_READ or EVFILT_WRITE event. With EV_EOF the peer shut down
 * (read) or went (write), and fflags holds a socket error if there was
 * one; either way reading goes on to EOF and writing to its error. */
void on_event(dx_io *io, const struct kevent *ev)
{
	int fd = (int)ev->ident;
	if (fd < 0 || (size_t)fd >= io->nfds)
		return; /* stale: an fd we no longer know */
	struct fdst *st = &io->fds[fd];
	uint32_t rev = 0;
	if (ev->filter == EVFILT_READ) {
		st->rd_ready = true;
		rev |= DX_IO_POLLIN;
	} else if (ev->filter == EVFILT_WRITE) {
		st->wr_ready = true;
		rev |= DX_IO_POLLOUT;
	} else {
		return;
	}
	if (ev->flags & EV_EOF) {
		st->hup = st->rd_ready = st->wr_ready = true;
		rev |= DX_IO_POLLHUP;
		if (ev->fflags)
			rev |= DX_IO_POLLERR;
	}
	if (st->poll_armed)
		st->poll_revents |= rev;
	if (fd_has_work(st))
		ready_push(io, fd);
}

/* The kernel refused to register fd (err): its operations end with it. */
void fd_fail(dx_io *io, int fd, int err)
{
	if (fd < 0 || (size_t)fd >= io->nfds)
		return;
	struct fdst *st = &io->fds[fd];
	if (ring_room(io, fd_ops(st)) < 0)
		return; /* they stay armed, and unregistered */
	fd_end_all(io, st, err);
	fd_idle_check(st);
}

/* ---- running the operations of one ready fd ---- */

static uint32_t revents_from_poll(short e)
{
	return (e & POLLIN ? DX_IO_POLLIN : 0) |
	       (e & POLLOUT ? DX_IO_POLLOUT : 0) |
	       (e & POLLERR ? DX_IO_POLLERR : 0) |
	       (e & POLLHUP ? DX_IO_POLLHUP : 0);
}

static void run_poll(dx_io *io, int fd, struct fdst *st)
{
	if (ring_room(io, 1) < 0)
		return;
	uint32_t rev = st->poll_revents;
	st->poll_revents = 0;
	if (st->poll_check) { /* armed: is it ready already? */
		st->poll_check = false;
		struct pollfd p = {.fd = fd};
		p.events = (short)((st->poll_events & DX_IO_POLLIN ? POLLIN : 0) |
				   (st->poll_events & DX_IO_POLLOUT ? POLLOUT
								    : 0));
		if (poll(&p, 1, 0) == 1) {
			if (p.revents & POLLNVAL) {
				post(io, DX_IO_POLL, -EBADF, st->poll_udata, 0);
				st->poll_armed = false;
				return;
			}
			rev |= revents_from_poll(p.revents);
		}
	}
	rev &= st->poll_events | DX_IO_POLLERR | DX_IO_POLLHUP;
	if (rev)
		post(io, DX_IO_POLL, (int32_t)rev, st->poll_udata, DX_IO_F_MORE);
}

static void run_accept(dx_io *io, int fd, struct fdst *st)
{
	for (int n = 0; n < ACCEPT_BUDGET && st->acc_armed && st->rd_ready;
	     n++) {
		if (ring_room(io, 1) < 0)
			return;
		int c = kq_accept_nb(fd);
		if (c >= 0) {
			post(io, DX_IO_ACCEPT, c, st->acc_udata, DX_IO_F_MORE);
			continue;
		}
		int err = errno;
		if (err == EAGAIN || err == EWOULDBLOCK) {
			st->rd_ready = false;
			return;
		}
		if (kq_accept_retry(err))
			continue;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
		    err == ENOMEM) {
			/* Out of resources: say so, retry later. */
			post(io, DX_IO_ACCEPT, -err, st->acc_udata, DX_IO_F_MORE);
			st->acc_backoff = true;
			if (!io->backoff_until)
				io->backoff_until =
					now_ns() + ACCEPT_BACKOFF_MS * 1000000ull;
			return;
		}
		/* EBADF, EINVAL (not listening), ENOTSOCK... */
		post(io, DX_IO_ACCEPT, -err, st->acc_udata, 0);
		st->acc_armed = false;
		return;
	}
}

/* One read into a lent buffer: false when the recv stops for now. */
static bool recv_one(dx_io *io, int fd, struct fdst *st)
{
	int id = buf_get(io);
	if (id < 0) {
		post(io, DX_IO_RECV, -ENOBUFS, st->recv_udata, 0);
		st->recv_armed = false;
		return false;
	}
	uint8_t *buf = io->bufs + (size_t)id * io->buf_size;
	ssize_t r = recv(fd, buf, io->buf_size, MSG_DONTWAIT);
	if (r > 0) {
		post(io, DX_IO_RECV, (int32_t)r, st->recv_udata,
		     DX_IO_F_MORE | DX_IO_F_BUFFER);
		dx_io_cqe *c = &io->ring[(io->ring_head + io->ring_len - 1) %
					 io->ring_cap];
		c->data = buf;
		c->buf_id = (uint16_t)id;
		/* A short read of a stream drained it; new bytes or a FIN
		 * raise a new event (EV_CLEAR). Not after EV_EOF: the EOF
		 * itself must still be read. */
		if ((size_t)r < io->buf_size && st->stream && !st->hup)
			st->rd_ready = false;
		return true;
	}
	int err = r == 0 ? 0 : errno;
	buf_put(io, (uint16_t)id);
	if (err == EINTR)
		return true;
	if (err == EAGAIN || err == EWOULDBLOCK) {
		st->rd_ready = false;
		return false;
	}
	post(io, DX_IO_RECV, -err, st->recv_udata, 0); /* 0: EOF */
	st->recv_armed = false;
	return false;
}

static void run_recv(dx_io *io, int fd, struct fdst *st)
{
	for (int n = 0; n < RECV_BUDGET && st->recv_armed && st->rd_ready;
	     n++)
		if (ring_room(io, 1) < 0 || !recv_one(io, fd, st))
			return;
}

struct sendop *sendop_new(dx_io *io)
{
	struct sendop *s = io->spare;
	if (s) {
		io->spare = s->next;
		return s;
	}
	return malloc(sizeof *s);
}

/* Complete the first send of st's queue with result. */
void send_pop(dx_io *io, struct fdst *st, int32_t result)
{
	struct sendop *s = st->sq_head;
	post(io, DX_IO_SEND, result, s->udata, 0);
	st->sq_head = s->next;
	if (!st->sq_head)
		st->sq_tail = NULL;
	s->next = io->spare;
	io->spare = s;
}

/* Write buf from *off on, up to budget syscalls. */
int send_some(int fd, const uint8_t *buf, size_t len, size_t *off,
	      uint32_t flags, int budget)
{
	int how = kq_send_flags(flags & DX_IO_SEND_MORE);
	for (; budget > 0; budget--) {
		if (*off == len && len)
			return SENT_ALL;
		ssize_t r = send(fd, buf + *off, len - *off, how);
		if (r >= 0) {
			*off += (size_t)r;
			if (*off == len)
				return SENT_ALL;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return SENT_AGAIN;
		return -errno;
	}
	return SENT_BUDGET;
}

static void run_send(dx_io *io, int fd, struct fdst *st)
{
	int budget = SEND_BUDGET;
	while (st->sq_head && st->wr_ready && budget > 0) {
		if (ring_room(io, 1) < 0)
			return;
		struct sendop *s = st->sq_head;
		int rc = send_some(fd, s->buf, s->len, &s->off, s->flags, 4);
		budget -= 4;
		if (rc == SENT_ALL)
			send_pop(io, st, (int32_t)s->len);
		else if (rc < 0) /* a short count, or the error */
			send_pop(io, st, s->off ? (int32_t)s->off : rc);
		else if (rc == SENT_AGAIN)
			st->wr_ready = false; /* EVFILT_WRITE will say when */
	}
}

static void fd_run(dx_io *io, int fd)
{
	struct fdst *st = &io->fds[fd];
	st->queued = false;
	if (st->poll_armed)
		run_poll(io, fd, st);
	if (st->acc_armed && st->rd_ready && !st->acc_backoff)
		run_accept(io, fd, st);
	if (st->recv_armed && st->rd_ready)
		run_recv(io, fd, st);
	if (st->sq_head && st->wr_ready)
		run_send(io, fd, st);
	if (fd_has_work(st))
		ready_push(io, fd); /* budget spent: next round */
	fd_idle_check(st);
}

/* One pass over the fds that were ready when it started; those that still
 * have work go to the back for the next pass. */
void run_ready(dx_io *io)
{
	size_t n = io->nready;
	for (size_t i = 0; i < n; i++)
		fd_run(io, io->ready[i]);
	if (io->nready > n)
		memmove(io->ready, io->ready + n,
			(io->nready - n) * sizeof(int));
	io->nready -= n;
}

/* Accepts that backed off after EMFILE and friends try again. */
void backoff_check(dx_io *io, uint64_t now)
{
	if (!io->backoff_until || now < io->backoff_until)
		return;
	io->backoff_until = 0;
	for (size_t fd = 0; fd < io->nfds; fd++) {
		struct fdst *st = &io->fds[fd];
		if (st->acc_backoff) {
			st->acc_backoff = false;
			st->rd_ready = true;
			ready_push(io, (int)fd);
		}
	}
}
