/* reap.c - the io_uring backend's completions: each CQE becomes at most one
 * dx_io_cqe (cancel CQEs and the internal steps of a short send become
 * none), and wait(). Completions that do not fit in wait()'s array, and
 * those made without a CQE (detach of a deferred send), wait in u->pend and
 * come out first next time: none is ever dropped. CQEs beyond what fits are
 * left in the CQ ring. Worker thread only. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uring.h"

__attribute__((noinline)) static int pend_push(struct uring *u,
						 const dx_io_cqe *c)
{
	if (u->pend_len == u->pend_cap) {
		uint32_t cap = u->pend_cap * 2;
		dx_io_cqe *np = malloc(cap * sizeof *np);
		if (!np) {
			u->plug->host->log(u->plug->host, DX_LOG_ERROR,
					   "worker %d: out of memory: a "
					   "completion (op %u udata %llu) "
					   "is lost",
					   u->worker, (unsigned)c->op,
					   (unsigned long long)c->udata);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < u->pend_len; i++)
			np[i] = u->pend[(u->pend_head + i) % u->pend_cap];
		free(u->pend);
		u->pend = np;
		u->pend_cap = cap;
		u->pend_head = 0;
	}
	u->pend[(u->pend_head + u->pend_len) % u->pend_cap] = *c;
	u->pend_len++;
	return 0;
}

/* Into out[] while there is room (and nothing older is pending), else
 * into the pending queue. Inline in this file: it runs for every CQE. */
static inline int emit(struct uring *u, dx_io_cqe *out, unsigned max,
		       unsigned *n, const dx_io_cqe *c)
{
	if (u->destroying)
		return 0;
	if (out && n && *n < max && u->pend_len == 0) {
		out[(*n)++] = *c;
		return 0;
	}
	return pend_push(u, c);
}


static unsigned pend_drain(struct uring *u, dx_io_cqe *out, unsigned max)
{
	unsigned n = 0;
	while (n < max && u->pend_len) {
		out[n++] = u->pend[u->pend_head];
		u->pend_head = (u->pend_head + 1) % u->pend_cap;
		u->pend_len--;
	}
	return n;
}

static void emit_notif(struct uring *u, int32_t idx, dx_io_cqe *out,
		       unsigned max, unsigned *n)
{
	struct op *op = uring_op_get(u, idx);
	dx_io_cqe c = {.udata = op->udata,
		       .result = 0,
		       .op = DX_IO_SEND,
		       .flags = DX_IO_F_NOTIF};
	emit(u, out, max, n, &c);
	uring_op_release(u, idx);
}

/* The host's completion of a send; the record lives on while zero-copy
 * notifications are still due. */
static void complete_send(struct uring *u, int32_t idx, int32_t res,
			  dx_io_cqe *out, unsigned max, unsigned *n)
{
	struct op *op = uring_op_get(u, idx);
	op->result = res;
	op->flags |= OPF_SENT;
	if (op->flags & OPF_ON_FD)
		uring_fd_unlink(u, idx); /* detach has nothing left to do */
	dx_io_cqe c = {.udata = op->udata, .result = res, .op = DX_IO_SEND};
	if (op->flags & OPF_ZC_HOST)
		c.flags = DX_IO_F_MORE;
	emit(u, out, max, n, &c);
	if (!(op->flags & OPF_ZC_HOST))
		uring_op_release(u, idx);
	else if (op->notifs <= 0)
		emit_notif(u, idx, out, max, n);
}

/* The send in flight on fd is done: start the next one queued behind it
 * (those detached meanwhile complete -ECANCELED, in order). */
static void send_next(struct uring *u, int fd, dx_io_cqe *out, unsigned max,
		      unsigned *n)
{
	struct fdst *fs = &u->fds[fd];
	fs->send = OP_NONE;
	int32_t j;
	while (!u->destroying && (j = uring_sendq_pop(u, fd)) != OP_NONE) {
		if (uring_op_get(u, j)->flags & OPF_DETACHED) {
			complete_send(u, j, -ECANCELED, out, max, n);
			continue;
		}
		fs->send = j;
		if (uring_arm(u, j) < 0)
			uring_defer_push(u, j);
		return;
	}
}

void uring_finish_send(struct uring *u, int32_t idx, int32_t res,
		       dx_io_cqe *out, unsigned max, unsigned *n)
{
	int fd = uring_op_get(u, idx)->fd;
	complete_send(u, idx, res, out, max, n);
	if ((uint32_t)fd < u->fd_cap && u->fds[fd].send == idx)
		send_next(u, fd, out, max, n);
}

/* Destroy: records that never reached the kernel (deferred or queued
 * sends) go now; no CQE will come for them. */
void uring_drop_unsubmitted(struct uring *u)
{
	int32_t d;
	while ((d = uring_defer_pop(u)) != OP_NONE)
		uring_op_release(u, d);
	for (uint32_t c = 0; c < u->nchunks; c++)
		for (uint32_t i = 0; i < OP_CHUNK; i++) {
			struct op *op = &u->chunks[c][i];
			if (op->kind && (op->flags & (OPF_QUEUED | OPF_PARKED)))
				uring_op_release(u,
						 (int32_t)(c * OP_CHUNK + i));
		}
	u->parked = OP_NONE;
	for (uint32_t f = 0; f < u->fd_cap; f++)
		u->fds[f].send = u->fds[f].sq_head = u->fds[f].sq_tail =
			OP_NONE;
}

static void handle_send(struct uring *u, int32_t idx,
			const struct io_uring_cqe *cqe, dx_io_cqe *out,
			unsigned max, unsigned *n)
{
	struct op *op = uring_op_get(u, idx);
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		op->notifs--;
		if ((op->flags & OPF_SENT) && op->notifs <= 0)
			emit_notif(u, idx, out, max, n);
		return;
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		op->notifs++; /* a zero-copy notification follows */
	int res = cqe->res;
	if (res > 0) {
		op->done += (size_t)res;
		if (op->done < op->len && !(op->flags & OPF_DETACHED) &&
		    !u->destroying) {
			/* Short: send the rest before telling the host. */
			if (uring_arm(u, idx) < 0)
				uring_defer_push(u, idx);
			return;
		}
	}
	int32_t r;
	if (res >= 0 || op->done > 0)
		r = op->done > INT32_MAX ? INT32_MAX : (int32_t)op->done;
	else
		r = res;
	uring_finish_send(u, idx, r, out, max, n);
}

/* The kernel ended a multishot request that had not failed (the CQ ring
 * overflowed, or the kernel just chose to): arm it again under the same
 * record, so the host only sees an end on error, EOF, cancel or
 * -ENOBUFS, as dx/io.h says. False when that is not possible. */
static bool rearm(struct uring *u, int32_t idx)
{
	if ((uring_op_get(u, idx)->flags & OPF_DETACHED) || u->destroying)
		return false;
	struct io_uring_sqe *sqe = uring_sqe(u);
	if (!sqe)
		return false;
	uring_arm_multi(u, sqe, idx);
	return true;
}

static void handle_recv(struct uring *u, int32_t idx,
			const struct io_uring_cqe *cqe, dx_io_cqe *out,
			unsigned max, unsigned *n)
{
	struct op *op = uring_op_get(u, idx);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	dx_io_cqe c = {.udata = op->udata,
		       .result = cqe->res,
		       .op = DX_IO_RECV,
		       .flags = more ? DX_IO_F_MORE : 0};
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (bid < u->buf_count && cqe->res > 0 && !u->destroying) {
			c.flags |= DX_IO_F_BUFFER;
			c.buf_id = (uint16_t)bid;
			c.data = u->bufs + (size_t)bid * u->buf_size;
			u->buf_lent[bid] = 1;
			u->buf_out++;
		} else if (bid < u->buf_count) {
			/* No bytes in it: straight back to the ring. */
			uring_buf_recycle(u, (uint16_t)bid);
		}
	}
	if (!more && cqe->res > 0 && rearm(u, idx)) {
		more = true;
		c.flags |= DX_IO_F_MORE;
	}
	if (!more && cqe->res == -ENOBUFS && !(op->flags & OPF_DETACHED) &&
	    !u->destroying) {
		/* The ring ran dry, most likely only because the host has
		 * not seen (and given back) the buffers of this very batch:
		 * decide at the next wait(). */
		op->flags |= OPF_PARKED;
		op->next = u->parked;
		u->parked = idx;
		return;
	}
	emit(u, out, max, n, &c);
	if (!more)
		uring_op_release(u, idx);
}

static uint32_t revents_to_dx(int res)
{
	uint32_t r = 0;
	if (res & POLLIN)
		r |= DX_IO_POLLIN;
	if (res & POLLOUT)
		r |= DX_IO_POLLOUT;
	if (res & POLLERR)
		r |= DX_IO_POLLERR;
	if (res & (POLLHUP | POLLRDHUP))
		r |= DX_IO_POLLHUP;
	return r;
}

static void handle_wake(struct uring *u, const struct io_uring_cqe *cqe,
			dx_io_cqe *out, unsigned max, unsigned *n)
{
	u->wake_armed = false;
	if (u->destroying)
		return;
	if (cqe->res == (int)sizeof(uint64_t)) {
		dx_io_cqe c = {.udata = 0, .result = 0, .op = DX_IO_WAKE};
		emit(u, out, max, n, &c);
	} else if (cqe->res != -EINTR && cqe->res != -EAGAIN) {
		u->plug->host->log(u->plug->host, DX_LOG_ERROR,
				   "worker %d: wake eventfd read: %s",
				   u->worker, strerror(-cqe->res));
		return; /* do not spin on a broken eventfd */
	}
	uring_arm_wake(u);
}

void uring_handle_cqe(struct uring *u, const struct io_uring_cqe *cqe,
		      dx_io_cqe *out, unsigned max, unsigned *n)
{
	uint64_t ud = cqe->user_data;
	if (ud == UD_IGNORE)
		return;
	if (ud == UD_WAKE) {
		handle_wake(u, cqe, out, max, n);
		return;
	}
	int32_t idx = uring_op_from_ud(u, ud);
	if (idx == OP_NONE) {
		u->plug->host->log(u->plug->host, DX_LOG_ERROR,
				   "worker %d: CQE for no operation "
				   "(user_data %#llx, res %d)",
				   u->worker, (unsigned long long)ud, cqe->res);
		return;
	}
	struct op *op = uring_op_get(u, idx);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	dx_io_cqe c = {.udata = op->udata,
		       .result = cqe->res,
		       .op = op->kind,
		       .flags = more ? DX_IO_F_MORE : 0};
	switch (op->kind) {
	case DX_IO_SEND: handle_send(u, idx, cqe, out, max, n); return;
	case DX_IO_RECV: handle_recv(u, idx, cqe, out, max, n); return;
	case DX_IO_POLL:
		if (cqe->res >= 0)
			c.result = (int32_t)revents_to_dx(cqe->res);
		if (!more && cqe->res > 0 && rearm(u, idx))
			more = true;
		break;
	case DX_IO_TIMEOUT:
		more = false;
		if (op->flags & OPF_CANCELLED)
			c.result = -ECANCELED;
		else if (cqe->res == -ETIME)
			c.result = 0;
		break;
	default: /* DX_IO_ACCEPT */
		if (!more && cqe->res >= 0 && rearm(u, idx))
			more = true;
		break;
	}
	if (more)
		c.flags = DX_IO_F_MORE;
	emit(u, out, max, n, &c);
	if (!more)
		uring_op_release(u, idx);
}

/* Parked recvs (see handle_recv): re-armed when the host has given a
 * buffer back since, else they end with -ENOBUFS, which tells the host to
 * release buffers and arm recv again. Detached ones end -ECANCELED. */
static void unpark(struct uring *u, dx_io_cqe *out, unsigned max, unsigned *n)
{
	int32_t idx = u->parked;
	u->parked = OP_NONE;
	while (idx != OP_NONE) {
		struct op *op = uring_op_get(u, idx);
		int32_t next = op->next;
		op->next = OP_NONE;
		op->flags &= (uint16_t)~OPF_PARKED;
		struct io_uring_sqe *sqe = NULL;
		if (!(op->flags & OPF_DETACHED) && u->buf_out < u->buf_count)
			sqe = uring_sqe(u);
		if (sqe) {
			uring_arm_multi(u, sqe, idx);
		} else {
			dx_io_cqe c = {.udata = op->udata,
				       .result = (op->flags & OPF_DETACHED) ?
							 -ECANCELED :
							 -ENOBUFS,
				       .op = DX_IO_RECV};
			emit(u, out, max, n, &c);
			uring_op_release(u, idx);
		}
		idx = next;
	}
}

/* Re-queue sends that found the SQ full; stop at the first that still
 * does not fit. */
void uring_run_deferred(struct uring *u)
{
	int32_t idx;
	while ((idx = uring_defer_pop(u)) != OP_NONE) {
		if (uring_arm(u, idx) < 0) {
			uring_defer_push(u, idx);
			break;
		}
	}
}

static void reap(struct uring *u, dx_io_cqe *out, unsigned max, unsigned *n)
{
	struct io_uring_cqe *batch[64];
	while (*n < max) {
		unsigned want = max - *n;
		if (want > 64)
			want = 64;
		unsigned got = io_uring_peek_batch_cqe(&u->ring, batch, want);
		if (!got)
			break;
		for (unsigned i = 0; i < got; i++)
			uring_handle_cqe(u, batch[i], out, max, n);
		io_uring_cq_advance(&u->ring, got);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int uring_wait(dx_io *io, dx_io_cqe *out, unsigned max, int timeout_ms)
{
	struct uring *u = (struct uring *)io;
	if (!max)
		return -EINVAL;
	if (!uring_enter_ready(u))
		return -EBADFD; /* not the worker's thread */
	unsigned n = pend_drain(u, out, max);
	unpark(u, out, max, &n);
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	for (;;) {
		uring_run_deferred(u);
		uring_buf_flush(u);
		uring_arm_wake(u);
		bool last = n > 0 || timeout_ms == 0;
		int rc;
		if (last) {
			rc = io_uring_submit_and_get_events(&u->ring);
		} else if (timeout_ms < 0) {
			rc = io_uring_submit_and_wait(&u->ring, 1);
		} else {
			int64_t left = deadline - now_ms();
			if (left < 0)
				left = 0;
			struct __kernel_timespec ts = {
				.tv_sec = left / 1000,
				.tv_nsec = (left % 1000) * 1000000};
			struct io_uring_cqe *cqe;
			rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1,
							      &ts, NULL);
			if (left == 0 || rc == -ETIME)
				last = true;
		}
		if (rc == -EINTR)
			last = true;
		else if (rc < 0 && rc != -ETIME && rc != -EBUSY &&
			 rc != -EAGAIN && !io_uring_cq_ready(&u->ring))
			return n ? (int)n : rc;
		reap(u, out, max, &n);
		if (n < max && u->pend_len)
			n += pend_drain(u, out + n, max - n);
		if (n > 0 || last)
			return (int)n;
		/* Only internal CQEs (cancels, the rest of a short send):
		 * wait on until the deadline. */
	}
}
