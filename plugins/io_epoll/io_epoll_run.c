/* io_epoll_run.c - io_epoll: readiness, and running the operations of
 * one ready fd. */
#include "io_epoll_int.h"

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

static uint32_t revents_from_poll(short e)
{
	uint32_t r = 0;
	if (e & POLLIN)
		r |= DX_IO_POLLIN;
	if (e & POLLOUT)
		r |= DX_IO_POLLOUT;
	if (e & POLLERR)
		r |= DX_IO_POLLERR;
	if (e & POLLHUP)
		r |= DX_IO_POLLHUP;
	return r;
}

static bool fd_has_work(const struct fdst *st)
{
	return (st->poll_armed && (st->poll_check || st->poll_revents)) ||
	       (st->rd_ready && ((st->acc_armed && !st->acc_backoff) ||
				 st->recv_armed)) ||
	       (st->wr_ready && st->sq_head);
}

void on_event(dx_io *io, int fd, uint32_t e)
{
	if (fd < 0 || (size_t)fd >= io->nfds)
		return; /* stale: an fd we no longer know */
	struct fdst *st = &io->fds[fd];
	if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		st->rd_ready = true;
	if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		st->hup = true;
	if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		st->wr_ready = true;
	if (st->poll_armed)
		st->poll_revents |= revents_from_epoll(e);
	if (fd_has_work(st))
		ready_push(io, fd);
}

void on_wake(dx_io *io)
{
	if (ring_room(io, 1) < 0)
		return; /* the eventfd stays readable: next round */
	uint64_t n;
	if (read(io->wakefd, &n, sizeof n) == (ssize_t)sizeof n)
		post(io, DX_IO_WAKE, 0, 0, 0);
}

/* ---- running the operations of one ready fd ---- */

static void run_poll(dx_io *io, int fd, struct fdst *st)
{
	if (ring_room(io, 1) < 0)
		return;
	uint32_t rev = st->poll_revents;
	st->poll_revents = 0;
	if (st->poll_check) {
		st->poll_check = false;
		struct pollfd p = {.fd = fd};
		if (st->poll_events & DX_IO_POLLIN)
			p.events |= POLLIN;
		if (st->poll_events & DX_IO_POLLOUT)
			p.events |= POLLOUT;
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

static void accept_backoff(dx_io *io, struct fdst *st)
{
	st->acc_backoff = true;
	if (!io->backoff_until)
		io->backoff_until = now_ns() + ACCEPT_BACKOFF_MS * 1000000ull;
}

static void run_accept(dx_io *io, int fd, struct fdst *st)
{
	for (int n = 0; n < ACCEPT_BUDGET && st->acc_armed && st->rd_ready;
	     n++) {
		if (ring_room(io, 1) < 0)
			return;
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			post(io, DX_IO_ACCEPT, c, st->acc_udata, DX_IO_F_MORE);
			continue;
		}
		int err = errno;
		switch (err) {
		case EAGAIN:
			st->rd_ready = false;
			return;
		/* The connection died in the queue, or a network error
		 * (accept(2) says: retry, as for EAGAIN). */
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case ENETUNREACH:
		case EPERM:
			continue;
		/* Out of resources: say so, keep the accept, retry later. */
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			post(io, DX_IO_ACCEPT, -err, st->acc_udata, DX_IO_F_MORE);
			accept_backoff(io, st);
			return;
		default: /* EBADF, EINVAL (not listening), ENOTSOCK... */
			post(io, DX_IO_ACCEPT, -err, st->acc_udata, 0);
			st->acc_armed = false;
			return;
		}
	}
}

static void run_recv(dx_io *io, int fd, struct fdst *st)
{
	for (int n = 0; n < RECV_BUDGET && st->recv_armed && st->rd_ready;
	     n++) {
		if (ring_room(io, 1) < 0)
			return;
		int id = buf_get(io);
		if (id < 0) {
			post(io, DX_IO_RECV, -ENOBUFS, st->recv_udata, 0);
			st->recv_armed = false;
			return;
		}
		uint8_t *buf = io->bufs + (size_t)id * io->buf_size;
		ssize_t r = recv(fd, buf, io->buf_size, MSG_DONTWAIT);
		if (r > 0) {
			post(io, DX_IO_RECV, (int32_t)r, st->recv_udata,
			     DX_IO_F_MORE | DX_IO_F_BUFFER);
			dx_io_cqe *c = &io->ring[(io->ring_head +
						  io->ring_len - 1) %
						 io->ring_cap];
			c->data = buf;
			c->buf_id = (uint16_t)id;
			/* A short read of a stream drained it; new bytes or
			 * a FIN after this raise a new edge. Not after a
			 * hang-up was seen: the EOF must still be read. */
			if ((size_t)r < io->buf_size && st->stream && !st->hup)
				st->rd_ready = false;
			continue;
		}
		int err = r == 0 ? 0 : errno;
		buf_put(io, (uint16_t)id);
		if (err == EINTR)
			continue;
		if (err == EAGAIN || err == EWOULDBLOCK) {
			st->rd_ready = false;
			return;
		}
		post(io, DX_IO_RECV, -err, st->recv_udata, 0); /* 0: EOF */
		st->recv_armed = false;
		return;
	}
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
	int how = MSG_DONTWAIT | MSG_NOSIGNAL;
	if (flags & DX_IO_SEND_MORE)
		how |= MSG_MORE;
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
			st->wr_ready = false; /* EPOLLOUT will say when */
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
	if (io->nready > n) /* io->ready is NULL until an fd is armed */
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

