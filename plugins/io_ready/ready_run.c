/* ready_run.c - the readiness core (ready.h): running the operations of
 * ready fds, the send queues, and ending an fd's operations. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ready.h"

/* send_some's results (or -errno). */
enum { SENT_ALL = 1, SENT_AGAIN = 0, SENT_BUDGET = 2 };

static int buf_get(struct rd *rd)
{
	if (!rd->nfree)
		return -1;
	uint16_t id = rd->free_ids[--rd->nfree];
	rd->lent[id] = 1;
	return id;
}

static void buf_put(struct rd *rd, uint16_t id)
{
	rd->lent[id] = 0;
	rd->free_ids[rd->nfree++] = id;
}

static uint32_t revents_from_poll(short e)
{
	return (e & POLLIN ? DX_IO_POLLIN : 0) |
	       (e & POLLOUT ? DX_IO_POLLOUT : 0) |
	       (e & POLLERR ? DX_IO_POLLERR : 0) |
	       (e & POLLHUP ? DX_IO_POLLHUP : 0);
}

static void run_poll(struct rd *rd, int fd, struct rd_fd *st)
{
	if (rd_ring_room(rd, 1) < 0)
		return;
	uint32_t rev = st->poll_revents;
	st->poll_revents = 0;
	if (st->poll_check) { /* armed: is it ready already? */
		st->poll_check = false;
		struct pollfd p = {.fd = fd};
		p.events =
			(short)((st->poll_events & DX_IO_POLLIN ? POLLIN : 0) |
				(st->poll_events & DX_IO_POLLOUT ? POLLOUT :
								   0));
		if (poll(&p, 1, 0) == 1) {
			if (p.revents & POLLNVAL) {
				rd_post(rd, DX_IO_POLL, -EBADF, st->poll_udata,
					0);
				st->poll_armed = false;
				return;
			}
			rev |= revents_from_poll(p.revents);
		}
	}
	rev &= st->poll_events | DX_IO_POLLERR | DX_IO_POLLHUP;
	if (rev)
		rd_post(rd, DX_IO_POLL, (int32_t)rev, st->poll_udata,
			DX_IO_F_MORE);
}

static void run_accept(struct rd *rd, int fd, struct rd_fd *st)
{
	for (int n = 0; n < RD_ACCEPT_BUDGET && st->acc_armed && st->rd_ready;
	     n++) {
		if (rd_ring_room(rd, 1) < 0)
			return;
		int c = rd_sys_accept_nb(fd);
		if (c >= 0) {
			rd_post(rd, DX_IO_ACCEPT, c, st->acc_udata,
				DX_IO_F_MORE);
			continue;
		}
		int err = errno;
		if (err == EAGAIN || err == EWOULDBLOCK) {
			st->rd_ready = false;
			return;
		}
		if (rd_sys_accept_retry(err))
			continue;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
		    err == ENOMEM) {
			/* Out of resources: say so, retry later. */
			rd_post(rd, DX_IO_ACCEPT, -err, st->acc_udata,
				DX_IO_F_MORE);
			st->acc_backoff = true;
			if (!rd->backoff_until)
				rd->backoff_until =
					rd_now_ns() +
					RD_ACCEPT_BACKOFF_MS * 1000000ull;
			return;
		}
		/* EBADF, EINVAL (not listening), ENOTSOCK... */
		rd_post(rd, DX_IO_ACCEPT, -err, st->acc_udata, 0);
		st->acc_armed = false;
		return;
	}
}

/* One read into a lent buffer: false when the recv stops for now. */
static bool recv_one(struct rd *rd, int fd, struct rd_fd *st)
{
	int id = buf_get(rd);
	if (id < 0) {
		rd_post(rd, DX_IO_RECV, -ENOBUFS, st->recv_udata, 0);
		st->recv_armed = false;
		return false;
	}
	uint8_t *buf = rd->bufs + (size_t)id * rd->buf_size;
	ssize_t r = recv(fd, buf, rd->buf_size, MSG_DONTWAIT);
	if (r > 0) {
		rd_post(rd, DX_IO_RECV, (int32_t)r, st->recv_udata,
			DX_IO_F_MORE | DX_IO_F_BUFFER);
		dx_io_cqe *c = &rd->ring[(rd->ring_head + rd->ring_len - 1) %
					 rd->ring_cap];
		c->data = buf;
		c->buf_id = (uint16_t)id;
		/* A short read of a stream drained it; new bytes or a FIN
		 * raise a new event (edge-triggered). Not after a hang-up: the EOF
		 * itself must still be read. */
		if ((size_t)r < rd->buf_size && st->stream && !st->hup)
			st->rd_ready = false;
		return true;
	}
	int err = r == 0 ? 0 : errno;
	buf_put(rd, (uint16_t)id);
	if (err == EINTR)
		return true;
	if (err == EAGAIN || err == EWOULDBLOCK) {
		st->rd_ready = false;
		return false;
	}
	rd_post(rd, DX_IO_RECV, -err, st->recv_udata, 0); /* 0: EOF */
	st->recv_armed = false;
	return false;
}

static void run_recv(struct rd *rd, int fd, struct rd_fd *st)
{
	for (int n = 0; n < RD_RECV_BUDGET && st->recv_armed && st->rd_ready;
	     n++)
		if (rd_ring_room(rd, 1) < 0 || !recv_one(rd, fd, st))
			return;
}

static struct rd_send *sendop_new(struct rd *rd)
{
	struct rd_send *s = rd->spare;
	if (s) {
		rd->spare = s->next;
		return s;
	}
	return malloc(sizeof *s);
}

/* Complete the first send of st's queue with result. */
static void send_pop(struct rd *rd, struct rd_fd *st, int32_t result)
{
	struct rd_send *s = st->sq_head;
	rd_post(rd, DX_IO_SEND, result, s->udata, 0);
	st->sq_head = s->next;
	if (!st->sq_head)
		st->sq_tail = NULL;
	s->next = rd->spare;
	rd->spare = s;
}

/* Write buf from *off on, up to budget syscalls. */
static int send_some(int fd, const uint8_t *buf, size_t len, size_t *off,
		     uint32_t flags, int budget)
{
	int how = rd_sys_send_flags(flags & DX_IO_SEND_MORE);
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

static void run_send(struct rd *rd, int fd, struct rd_fd *st)
{
	int budget = RD_SEND_BUDGET;
	while (st->sq_head && st->wr_ready && budget > 0) {
		if (rd_ring_room(rd, 1) < 0)
			return;
		struct rd_send *s = st->sq_head;
		int rc = send_some(fd, s->buf, s->len, &s->off, s->flags, 4);
		budget -= 4;
		if (rc == SENT_ALL)
			send_pop(rd, st, (int32_t)s->len);
		else if (rc < 0) /* a short count, or the error */
			send_pop(rd, st, s->off ? (int32_t)s->off : rc);
		else if (rc == SENT_AGAIN)
			st->wr_ready = false; /* the kernel says when */
	}
}

static void fd_run(struct rd *rd, int fd)
{
	struct rd_fd *st = &rd->fds[fd];
	st->queued = false;
	if (st->poll_armed)
		run_poll(rd, fd, st);
	if (st->acc_armed && st->rd_ready && !st->acc_backoff)
		run_accept(rd, fd, st);
	if (st->recv_armed && st->rd_ready)
		run_recv(rd, fd, st);
	if (st->sq_head && st->wr_ready)
		run_send(rd, fd, st);
	if (rd_has_work(st))
		rd_ready_push(rd, fd); /* budget spent: next round */
	rd_idle_check(st);
}

/* One pass over the fds that were ready when it started; those that still
 * have work go to the back for the next pass. */
void rd_run_ready(struct rd *rd)
{
	size_t n = rd->nready;
	for (size_t i = 0; i < n; i++)
		fd_run(rd, rd->ready[i]);
	if (rd->nready > n)
		memmove(rd->ready, rd->ready + n,
			(rd->nready - n) * sizeof(int));
	rd->nready -= n;
}

/* Accepts that backed off after EMFILE and friends try again. */
void rd_backoff_check(struct rd *rd, uint64_t now)
{
	if (!rd->backoff_until || now < rd->backoff_until)
		return;
	rd->backoff_until = 0;
	for (size_t fd = 0; fd < rd->nfds; fd++) {
		struct rd_fd *st = &rd->fds[fd];
		if (st->acc_backoff) {
			st->acc_backoff = false;
			st->rd_ready = true;
			rd_ready_push(rd, (int)fd);
		}
	}
}

void rd_end_all(struct rd *rd, struct rd_fd *st, int err)
{
	if (st->acc_armed)
		rd_post(rd, DX_IO_ACCEPT, -err, st->acc_udata, 0);
	if (st->poll_armed)
		rd_post(rd, DX_IO_POLL, -err, st->poll_udata, 0);
	if (st->recv_armed)
		rd_post(rd, DX_IO_RECV, -err, st->recv_udata, 0);
	st->acc_armed = st->poll_armed = st->recv_armed = false;
	while (st->sq_head)
		send_pop(rd, st,
			 st->sq_head->off ? (int32_t)st->sq_head->off : -err);
}

int rd_send(struct rd *rd, int fd, const void *buf, size_t len, uint64_t udata,
	    uint32_t flags)
{
	if (len > INT32_MAX) /* the result must fit the cqe */
		return -EINVAL;
	struct rd_fd *st = rd_fd_get(rd, fd);
	if (!st)
		return fd < 0 ? -EBADF : -ENOMEM;
	if (rd_ring_room(rd, 1) < 0)
		return -ENOMEM;
	if (!st->prepared) {
		int rc = rd_sys_nosigpipe(fd);
		if (rc < 0)
			return rc;
		st->prepared = true;
	}
	size_t off = 0;
	int rc = SENT_AGAIN;
	if (!st->sq_head) { /* nothing ahead of it: write now */
		rc = send_some(fd, buf, len, &off, flags, RD_SEND_BUDGET);
		if (rc == SENT_ALL || rc < 0) {
			rd_post(rd, DX_IO_SEND,
				rc == SENT_ALL ? (int32_t)len :
				off            ? (int32_t)off :
						 rc,
				udata, 0);
			return 0;
		}
	}
	struct rd_send *s = sendop_new(rd);
	int arm = s ? rd_fd_arm(rd, fd, &st) : -ENOMEM;
	if (arm < 0) {
		if (s) {
			s->next = rd->spare;
			rd->spare = s;
		}
		if (!off)
			return arm;
		/* Part went out already: that is this send's result. */
		rd_post(rd, DX_IO_SEND, (int32_t)off, udata, 0);
		return 0;
	}
	*s = (struct rd_send){.buf = buf,
			      .len = len,
			      .off = off,
			      .udata = udata,
			      .flags = flags};
	if (st->sq_tail)
		st->sq_tail->next = s;
	else
		st->sq_head = s;
	st->sq_tail = s;
	if (rc == SENT_BUDGET) { /* still writable: go on next round */
		st->wr_ready = true;
		rd_ready_push(rd, fd);
	} else if (s == st->sq_head) {
		st->wr_ready = false; /* EAGAIN: wait for the kernel's word */
	}
	return 0;
}
