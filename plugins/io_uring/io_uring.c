/* io_uring.c - the io_uring I/O backend plugin (dx/io.h, docs/architecture.md s8):
 * the plugin, backend instances (create/destroy), and queueing operations.
 * Completions are turned into dx_io_cqe in reap.c.
 *
 * Behaviour the host sees, beyond dx/io.h:
 * - multishot (accept, recv, poll): when the kernel ends one that did not
 *   fail (e.g. the CQ ring overflowed), it is re-armed here and the
 *   completion keeps DX_IO_F_MORE; the host sees an end only on error,
 *   EOF, cancel or -ENOBUFS, then arms again itself.
 * - accept: accepted fds are SOCK_NONBLOCK|SOCK_CLOEXEC (so another
 *   backend, e.g. epoll, can take them over).
 * - recv: provided buffer ring (group 0). DX_IO_F_BUFFER only with result
 *   > 0. When the ring runs dry the recv is parked until the next wait():
 *   re-armed if the host gave a buffer back meanwhile, else it ends with
 *   -ENOBUFS (the host holds every buffer: release some, arm again).
 * - send: completes once every byte is out (MSG_WAITALL, and a short count
 *   is re-submitted here); a short count or -errno only on error or
 *   detach. One send per fd is in the kernel at a time, the rest wait here
 *   in order (two in flight could interleave their bytes). With
 *   DX_IO_SEND_ZC the completion always carries DX_IO_F_MORE and exactly
 *   one DX_IO_F_NOTIF completion (op SEND, result 0, same udata) follows
 *   when the buffer may be reused, whether or not the bytes went out
 *   zero-copy (only sends of zc_threshold bytes or more do).
 * - poll: multishot poll (a completion per wake-up, not level-triggered).
 * - timeout: an absolute CLOCK_MONOTONIC deadline taken at the call; after
 *   timeout_cancel() its completion is always -ECANCELED, even if it fired
 *   meanwhile. detach() does not touch timeouts (they have no fd).
 * - detach(fd): one ASYNC_CANCEL by fd (or one per operation on kernels
 *   without IORING_ASYNC_CANCEL_FD); each operation on fd completes once
 *   more, -ECANCELED (a send with bytes out reports that count).
 *
 * - threads: create() makes the ring disabled; the first call that enters
 *   the kernel (submit, wait, a full SQ) enables it, and with
 *   SINGLE_ISSUER (kernels that take it) binds it to that thread, which
 *   is the worker's: from then on submit() and wait() on any other thread
 *   return -EBADFD, and destroy() there only closes the ring (the host
 *   destroys at exit on the main thread, once the worker has gone).
 *
 * Plugin config: {"zc_threshold": bytes (16384), "sqpoll_idle_ms": 100}.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "uring.h"

#define SEND_CHUNK_MAX (1u << 30)

/* --- SQEs ----------------------------------------------------------- */

/* liburing 2.3 declares io_uring_enable_rings() but does not export it:
 * the register call it makes. */
static int ring_enable(struct io_uring *ring)
{
	long rc = syscall(__NR_io_uring_register, ring->ring_fd,
			  IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return rc < 0 ? -errno : 0;
}

/* Whether this thread may enter the kernel on u's ring now: the first
 * call enables a ring made disabled (create() runs on the main thread,
 * and SINGLE_ISSUER binds the ring to whoever enables it, which must be
 * the worker); after that, only that thread may enter. */
bool uring_enter_ready(struct uring *u)
{
	if (u->disabled) {
		int rc = ring_enable(&u->ring);
		if (rc < 0) {
			u->plug->host->log(u->plug->host, DX_LOG_ERROR,
					   "worker %d: enabling the ring: "
					   "%s",
					   u->worker, strerror(-rc));
			return false;
		}
		u->disabled = false;
		u->issuer = pthread_self();
		return true;
	}
	return !u->single_issuer || pthread_equal(u->issuer, pthread_self());
}

/* A free SQE; when the SQ is full, submit what is queued (counted for the
 * next submit()) and try again. NULL when still full (SQPOLL busy). */
struct io_uring_sqe *uring_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (sqe || !uring_enter_ready(u))
		return sqe;
	uring_buf_flush(u);
	int r = io_uring_submit(&u->ring);
	if (r > 0)
		u->early_submitted += (uint32_t)r;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe && u->sqpoll) {
		io_uring_sqring_wait(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/* Queue a send record's next chunk. -EBUSY when no SQE is free. */
int uring_arm(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	struct io_uring_sqe *sqe = uring_sqe(u);
	if (!sqe)
		return -EBUSY;
	size_t left = op->len - op->done;
	size_t chunk = left > SEND_CHUNK_MAX ? SEND_CHUNK_MAX : left;
	if (op->flags & OPF_ZC)
		io_uring_prep_send_zc(sqe, op->fd, op->buf + op->done, chunk,
				      (int)op->msg_flags, 0);
	else
		io_uring_prep_send(sqe, op->fd, op->buf + op->done, chunk,
				   (int)op->msg_flags);
	io_uring_sqe_set_data64(sqe, uring_op_ud(u, idx));
	return 0;
}

/* (Re-)arm a multishot record (accept, recv, poll) on sqe. */
void uring_arm_multi(struct uring *u, struct io_uring_sqe *sqe, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	switch (op->kind) {
	case DX_IO_ACCEPT:
		io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL,
					       SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case DX_IO_RECV:
		io_uring_prep_recv_multishot(sqe, op->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
		break;
	default: /* DX_IO_POLL: the mask is kept in msg_flags */
		io_uring_prep_poll_multishot(sqe, op->fd, op->msg_flags);
		break;
	}
	io_uring_sqe_set_data64(sqe, uring_op_ud(u, idx));
}

int uring_arm_wake(struct uring *u)
{
	if (u->wake_armed || u->destroying)
		return 0;
	struct io_uring_sqe *sqe = uring_sqe(u);
	if (!sqe)
		return -EBUSY; /* tried again at the next submit or wait */
	io_uring_prep_read(sqe, u->wake_fd, &u->wake_val, sizeof u->wake_val,
			   0);
	io_uring_sqe_set_data64(sqe, UD_WAKE);
	u->wake_armed = true;
	return 0;
}

/* --- the provided buffer ring --------------------------------------- */

void uring_buf_recycle(struct uring *u, uint16_t bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->buf_size,
			      u->buf_size, bid, u->buf_mask,
			      (int)u->buf_pending);
	u->buf_pending++;
}

/* Publish the buffers given back since the last flush (one store). */
void uring_buf_flush(struct uring *u)
{
	if (u->buf_pending) {
		io_uring_buf_ring_advance(u->br, (int)u->buf_pending);
		u->buf_pending = 0;
	}
}

static uint32_t pow2_at_least(uint32_t v, uint32_t lo, uint32_t hi)
{
	uint32_t p = lo;
	while (p < v && p < hi)
		p <<= 1;
	return p;
}

static int buf_ring_setup(struct uring *u, const dx_io_params *p)
{
	u->buf_count =
		pow2_at_least(p->buf_count ? p->buf_count : 256, 1, 32768);
	u->buf_size = p->buf_size ? p->buf_size : 16384;
	u->buf_mask = io_uring_buf_ring_mask(u->buf_count);
	u->br_bytes = u->buf_count * sizeof(struct io_uring_buf);
	void *br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED)
		return -errno;
	u->br = br;
	u->bufs = malloc((size_t)u->buf_count * u->buf_size);
	u->buf_lent = calloc(u->buf_count, 1);
	if (!u->bufs || !u->buf_lent)
		return -ENOMEM;
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)br,
		.ring_entries = u->buf_count,
		.bgid = 0,
	};
	int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc < 0)
		return rc;
	u->br_registered = true;
	io_uring_buf_ring_init(u->br);
	for (uint32_t i = 0; i < u->buf_count; i++)
		uring_buf_recycle(u, (uint16_t)i);
	uring_buf_flush(u);
	return 0;
}

/* --- create / destroy ----------------------------------------------- */

/* Ring setup flags without SQPOLL, best first; the kernel refuses
 * (-EINVAL) what it does not know, and the next is tried.
 * - SINGLE_ISSUER | DEFER_TASKRUN (6.1): completion work (the TCP
 *   receive of a multishot recv, ...) runs only when the worker enters
 *   to wait, in one batch, instead of as task work that interrupts it;
 *   and the ring skips the locking a shared ring needs. Created disabled
 *   so the worker thread, not the main one, becomes its issuer.
 * - COOP_TASKRUN | TASKRUN_FLAG (5.19): no IPI to run task work, and
 *   liburing sees in the SQ flags when some is due.
 * - COOP_TASKRUN alone, then nothing. */
static const unsigned ring_modes[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		IORING_SETUP_R_DISABLED,
	IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_COOP_TASKRUN,
	0,
};

static int ring_init(struct uring *u, uint32_t qd, unsigned flags)
{
	struct io_uring_params ip;
	memset(&ip, 0, sizeof ip);
	/* Room for a completion per connection and then some: when the CQ
	 * overflows the kernel ends multishot requests (re-armed in reap.c,
	 * but each costs a round trip). */
	ip.flags = IORING_SETUP_CQSIZE | flags;
	ip.cq_entries = qd * 8 < 4096 ? 4096 : qd * 8;
	if (flags & IORING_SETUP_SQPOLL)
		ip.sq_thread_idle = u->plug->sqpoll_idle_ms;
	return io_uring_queue_init_params(qd, &u->ring, &ip);
}

static const char *ring_mode_name(const struct uring *u)
{
	return u->sqpoll        ? "SQPOLL" :
	       u->defer_taskrun ? "SINGLE_ISSUER+DEFER_TASKRUN" :
				  "COOP_TASKRUN";
}

static int ring_setup(struct uring *u, const dx_io_params *p)
{
	const dx_host_api *h = u->plug->host;
	uint32_t qd =
		pow2_at_least(p->queue_depth ? p->queue_depth : 256, 8, 32768);
	unsigned flags = 0;
	int rc = -EINVAL;
	if (p->sqpoll) {
		flags = IORING_SETUP_SQPOLL;
		rc = ring_init(u, qd, flags);
		if (rc < 0)
			h->log(h, DX_LOG_WARN,
			       "worker %d: SQPOLL refused (%s); running "
			       "without it",
			       p->worker, strerror(-rc));
	}
	for (size_t i = 0; rc < 0 && i < sizeof ring_modes / sizeof *ring_modes;
	     i++) {
		flags = ring_modes[i];
		rc = ring_init(u, qd, flags);
		if (rc != -EINVAL)
			break;
	}
	if (rc < 0)
		return h->fail(h, rc, "worker %d: io_uring_queue_init: %s",
			       p->worker, strerror(-rc));
	u->ring_ok = true;
	u->sqpoll = (flags & IORING_SETUP_SQPOLL) != 0;
	u->disabled = (flags & IORING_SETUP_R_DISABLED) != 0;
	u->single_issuer = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;
	u->defer_taskrun = (flags & IORING_SETUP_DEFER_TASKRUN) != 0;

	struct io_uring_probe *pr = io_uring_get_probe_ring(&u->ring);
	u->send_zc = pr && io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
	if (pr)
		io_uring_free_probe(pr);
	/* A disabled ring takes no SQE yet: ask a throwaway one. */
	u->cancel_fd = u->disabled ? uring_cancel_fd_supported() :
				     uring_cancel_fd_works(&u->ring);
	return 0;
}

static void uring_free(struct uring *u)
{
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	if (u->br)
		munmap(u->br, u->br_bytes);
	free(u->bufs);
	free(u->buf_lent);
	free(u->pend);
	uring_ops_free(u);
	free(u);
}

/* Cancel everything, reap until every record is done (a zc send waits for
 * its notification) or about half a second passed, then tear down. */
static void uring_destroy(dx_io *io)
{
	struct uring *u = (struct uring *)io;
	if (!u)
		return;
	u->destroying = true;
	if (u->ring_ok && (u->disabled || !uring_enter_ready(u))) {
		/* Never enabled (nothing reached the kernel), or not the
		 * issuer's thread (the host destroys on the main thread at
		 * exit, after the worker has gone, which cancelled what it
		 * had in flight): only closing the ring is left. */
		if (u->br_registered)
			io_uring_unregister_buf_ring(&u->ring, 0);
		io_uring_queue_exit(&u->ring);
	} else if (u->ring_ok) {
		uring_drop_unsubmitted(u);
		struct io_uring_sqe *sqe = uring_sqe(u);
		if (sqe) {
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			io_uring_sqe_set_data64(sqe, UD_IGNORE);
		}
		io_uring_submit(&u->ring);
		for (int tries = 0;
		     tries < 50 && (u->live > 0 || u->wake_armed); tries++) {
			struct __kernel_timespec ts = {.tv_nsec = 10000000};
			struct io_uring_cqe *cqe;
			io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts,
							 NULL);
			unsigned head, seen = 0, n = 0;
			io_uring_for_each_cqe(&u->ring, head, cqe)
			{
				uring_handle_cqe(u, cqe, NULL, 0, &n);
				seen++;
			}
			io_uring_cq_advance(&u->ring, seen);
		}
		if (u->live > 0)
			u->plug->host->log(u->plug->host, DX_LOG_WARN,
					   "worker %d: %u operations still in "
					   "flight at destroy",
					   u->worker, u->live);
		if (u->br_registered)
			io_uring_unregister_buf_ring(&u->ring, 0);
		io_uring_queue_exit(&u->ring);
	}
	uring_free(u);
}

static int uring_create(void *self, const dx_io_params *p, dx_io **out)
{
	const struct uring_plugin *plug = self;
	const dx_host_api *h = plug->host;
	if (!p || p->size < offsetof(dx_io_params, queue_depth) +
				    sizeof(p->queue_depth))
		return h->fail(h, -EINVAL, "dx_io_params too small");
	/* Members past an older caller's size read as 0 (defaults). */
	dx_io_params prm;
	memset(&prm, 0, sizeof prm);
	memcpy(&prm, p, p->size < sizeof prm ? p->size : sizeof prm);
	p = &prm;
	struct uring *u = calloc(1, sizeof *u);
	if (!u)
		return h->fail(h, -ENOMEM, "out of memory");
	u->plug = plug;
	u->worker = p->worker;
	u->wake_fd = -1;
	int rc = uring_ops_init(u);
	if (rc == 0)
		rc = ring_setup(u, p);
	if (rc == 0) {
		rc = buf_ring_setup(u, p);
		if (rc < 0)
			h->fail(h, rc, "worker %d: provided buffer ring: %s",
				p->worker, strerror(-rc));
	}
	if (rc == 0) {
		u->pend_cap = 64;
		u->pend = malloc(u->pend_cap * sizeof *u->pend);
		u->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (!u->pend)
			rc = -ENOMEM;
		else if (u->wake_fd < 0)
			rc = h->fail(h, -errno, "eventfd: %s", strerror(errno));
	}
	if (rc == 0)
		rc = uring_arm_wake(u);
	if (rc < 0) {
		u->destroying = true;
		if (u->ring_ok) {
			if (u->br_registered)
				io_uring_unregister_buf_ring(&u->ring, 0);
			io_uring_queue_exit(&u->ring);
		}
		uring_free(u);
		return rc;
	}
	h->log(h, DX_LOG_DEBUG,
	       "worker %d: io_uring sq %u cq %u, %s, %u buffers of %u bytes, "
	       "send_zc %s, cancel by fd %s",
	       p->worker, u->ring.sq.ring_entries, u->ring.cq.ring_entries,
	       ring_mode_name(u), u->buf_count, u->buf_size,
	       u->send_zc ? "yes" : "no", u->cancel_fd ? "yes" : "no");
	*out = (dx_io *)u;
	return 0;
}

/* --- queueing operations -------------------------------------------- */

/* A record for fd, linked in its fd list, and an SQE for it; on failure
 * nothing is left behind. */
static int32_t op_start(struct uring *u, uint8_t kind, int fd, uint64_t udata,
			struct io_uring_sqe **sqe)
{
	if (fd < 0)
		return -EBADF;
	int32_t idx = uring_op_alloc(u, kind, fd, udata);
	if (idx < 0)
		return idx;
	int rc = uring_fd_link(u, idx);
	if (rc == 0) {
		*sqe = uring_sqe(u);
		if (!*sqe)
			rc = -EBUSY;
	}
	if (rc < 0) {
		uring_op_release(u, idx);
		return rc;
	}
	return idx;
}

static int uring_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	struct uring *u = (struct uring *)io;
	struct io_uring_sqe *sqe;
	int32_t idx = op_start(u, DX_IO_ACCEPT, listen_fd, udata, &sqe);
	if (idx < 0)
		return idx;
	uring_arm_multi(u, sqe, idx);
	return 0;
}

static int uring_recv(dx_io *io, int fd, uint64_t udata)
{
	struct uring *u = (struct uring *)io;
	struct io_uring_sqe *sqe;
	int32_t idx = op_start(u, DX_IO_RECV, fd, udata, &sqe);
	if (idx < 0)
		return idx;
	uring_arm_multi(u, sqe, idx);
	return 0;
}

static int uring_send(dx_io *io, int fd, const void *buf, size_t len,
		      uint64_t udata, uint32_t flags)
{
	struct uring *u = (struct uring *)io;
	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EFAULT;
	int32_t idx = uring_op_alloc(u, DX_IO_SEND, fd, udata);
	if (idx < 0)
		return idx;
	struct op *op = uring_op_get(u, idx);
	op->buf = buf;
	op->len = len;
	op->msg_flags = MSG_NOSIGNAL | MSG_WAITALL;
	if (flags & DX_IO_SEND_MORE)
		op->msg_flags |= MSG_MORE;
	if (flags & DX_IO_SEND_ZC) {
		op->flags |= OPF_ZC_HOST;
		if (u->send_zc && len >= u->plug->zc_threshold)
			op->flags |= OPF_ZC;
	}
	struct fdst *fs = uring_fdst(u, fd); /* not on the fd list: detach */
	if (!fs) {
		uring_op_release(u, idx);
		return -ENOMEM;
	}
	if (fs->send != OP_NONE) {
		uring_sendq_push(u, idx); /* goes when the one before is out */
		return 0;
	}
	int rc = uring_arm(u, idx);
	if (rc < 0) {
		uring_op_release(u, idx);
		return rc;
	}
	fs->send = idx;
	return 0;
}

static int uring_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	struct uring *u = (struct uring *)io;
	unsigned mask = 0;
	if (events & DX_IO_POLLIN)
		mask |= POLLIN;
	if (events & DX_IO_POLLOUT)
		mask |= POLLOUT;
	struct io_uring_sqe *sqe;
	int32_t idx = op_start(u, DX_IO_POLL, fd, udata, &sqe);
	if (idx < 0)
		return idx;
	uring_op_get(u, idx)->msg_flags = mask;
	uring_arm_multi(u, sqe, idx);
	return 0;
}

static int uring_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	struct uring *u = (struct uring *)io;
	int32_t idx = uring_op_alloc(u, DX_IO_TIMEOUT, -1, udata);
	if (idx < 0)
		return idx;
	struct op *op = uring_op_get(u, idx);
	/* An absolute deadline from now, not from when the kernel takes the
	 * SQE (a batch may sit in the SQ for a while). */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t at =
		(uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec + ns;
	op->ts.tv_sec = (long long)(at / 1000000000u);
	op->ts.tv_nsec = (long long)(at % 1000000000u);
	int rc = uring_tmo_add(u, idx);
	struct io_uring_sqe *sqe = rc == 0 ? uring_sqe(u) : NULL;
	if (!sqe) {
		uring_op_release(u, idx);
		return rc < 0 ? rc : -EBUSY;
	}
	/* The kernel reads ts when it takes the SQE (later with SQPOLL), so
	 * it lives in the record, which never moves. */
	io_uring_prep_timeout(sqe, &op->ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, uring_op_ud(u, idx));
	return 0;
}

static int uring_timeout_cancel(dx_io *io, uint64_t udata)
{
	struct uring *u = (struct uring *)io;
	int32_t idx = uring_tmo_find(u, udata);
	if (idx == OP_NONE)
		return -ENOENT;
	struct io_uring_sqe *sqe = uring_sqe(u);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout_remove(sqe, uring_op_ud(u, idx), 0);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
	uring_op_get(u, idx)->flags |= OPF_CANCELLED;
	return 0;
}

static int uring_detach(dx_io *io, int fd)
{
	struct uring *u = (struct uring *)io;
	if (fd < 0)
		return -EBADF;
	bool in_kernel = false;
	for (int32_t i = uring_fd_first(u, fd); i != OP_NONE;
	     i = uring_op_get(u, i)->fd_next) {
		struct op *op = uring_op_get(u, i);
		op->flags |= OPF_DETACHED;
		if (!(op->flags & (OPF_DEFERRED | OPF_QUEUED | OPF_PARKED)))
			in_kernel = true;
	}
	/* Sends are not on the fd list (it would cost a link and an unlink
	 * per send): the one in flight and those queued behind it are in
	 * the fd's send state. */
	int32_t s = (uint32_t)fd < u->fd_cap ? u->fds[fd].send : OP_NONE;
	if (s != OP_NONE) {
		struct op *op = uring_op_get(u, s);
		op->flags |= OPF_DETACHED;
		if (!(op->flags & OPF_DEFERRED))
			in_kernel = true;
		for (int32_t q = u->fds[fd].sq_head; q != OP_NONE;
		     q = uring_op_get(u, q)->next)
			uring_op_get(u, q)->flags |= OPF_DETACHED;
	}
	/* A send that never reached the kernel completes here; the ones
	 * queued behind the send in flight complete (-ECANCELED) right
	 * after it does. */
	if (s != OP_NONE && (uring_op_get(u, s)->flags & OPF_DEFERRED)) {
		struct op *op = uring_op_get(u, s);
		uring_defer_drop(u, s);
		uring_finish_send(u, s,
				  op->done ? (int32_t)op->done : -ECANCELED,
				  NULL, 0, NULL);
	}
	if (!in_kernel)
		return 0;
	if (u->cancel_fd) {
		struct io_uring_sqe *sqe = uring_sqe(u);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, UD_IGNORE);
		return 0;
	}
	for (int32_t i = uring_fd_first(u, fd); i != OP_NONE;
	     i = uring_op_get(u, i)->fd_next) {
		if (uring_op_get(u, i)->flags &
		    (OPF_DEFERRED | OPF_QUEUED | OPF_PARKED))
			continue;
		struct io_uring_sqe *sqe = uring_sqe(u);
		if (!sqe)
			return -EBUSY; /* the host calls detach again */
		io_uring_prep_cancel64(sqe, uring_op_ud(u, i), 0);
		io_uring_sqe_set_data64(sqe, UD_IGNORE);
	}
	s = u->fds[fd].send; /* fd < fd_cap: something was in the kernel */
	if (s != OP_NONE && !(uring_op_get(u, s)->flags & OPF_DEFERRED)) {
		struct io_uring_sqe *sqe = uring_sqe(u);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_cancel64(sqe, uring_op_ud(u, s), 0);
		io_uring_sqe_set_data64(sqe, UD_IGNORE);
	}
	return 0;
}

static int uring_submit(dx_io *io)
{
	struct uring *u = (struct uring *)io;
	if (!uring_enter_ready(u))
		return -EBADFD; /* not the worker's thread */
	uring_run_deferred(u);
	uring_buf_flush(u);
	uring_arm_wake(u);
	int r = io_uring_submit(&u->ring);
	if (r < 0)
		return r;
	r += (int)u->early_submitted;
	u->early_submitted = 0;
	return r;
}

static void uring_buf_release(dx_io *io, uint16_t buf_id)
{
	struct uring *u = (struct uring *)io;
	if (buf_id >= u->buf_count || !u->buf_lent[buf_id]) {
		u->plug->host->log(u->plug->host, DX_LOG_ERROR,
				   "worker %d: buf_release(%u): not lent",
				   u->worker, (unsigned)buf_id);
		return;
	}
	u->buf_lent[buf_id] = 0;
	u->buf_out--;
	uring_buf_recycle(u, buf_id);
}

static int uring_wake(dx_io *io)
{
	struct uring *u = (struct uring *)io;
	uint64_t one = 1;
	if (write(u->wake_fd, &one, sizeof one) < 0)
		return -errno;
	return 0;
}

/* --- the plugin ----------------------------------------------------- */

static int uring_vt_probe(void *self, char *why, size_t why_len)
{
	return uring_probe(why, why_len, NULL);
}

static int uring_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	static const char *const keys[] = {"zc_threshold", "sqpoll_idle_ms",
					   NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	int64_t zc, idle;
	rc = host->config_int(host, config, "zc_threshold", 16384, 0, INT32_MAX,
			      &zc);
	if (rc == 0)
		rc = host->config_int(host, config, "sqpoll_idle_ms", 100, 1,
				      60000, &idle);
	if (rc < 0)
		return rc;
	struct uring_plugin *p = calloc(1, sizeof *p);
	if (!p)
		return host->fail(host, -ENOMEM, "out of memory");
	p->host = host;
	p->zc_threshold = (uint32_t)zc;
	p->sqpoll_idle_ms = (uint32_t)idle;
	*self = p;
	return 0;
}

static void uring_fini(void *self)
{
	free(self);
}

static const dx_io_vtable uring_vtable = {
	.size = sizeof(dx_io_vtable),
	.caps = DX_IO_CAP_MULTISHOT_ACCEPT | DX_IO_CAP_MULTISHOT_RECV |
		DX_IO_CAP_SEND_ZC | DX_IO_CAP_SQPOLL | DX_IO_CAP_NATIVE,
	.probe = uring_vt_probe,
	.create = uring_create,
	.destroy = uring_destroy,
	.accept = uring_accept,
	.recv = uring_recv,
	.send = uring_send,
	.poll = uring_poll,
	.timeout = uring_timeout,
	.timeout_cancel = uring_timeout_cancel,
	.detach = uring_detach,
	.submit = uring_submit,
	.wait = uring_wait,
	.buf_release = uring_buf_release,
	.wake = uring_wake,
};

static const dx_facet uring_facets[] = {
	{DX_FACET_IO, "io_uring", &uring_vtable},
};

DX_PLUGIN(.name = "io_uring", .version = "1.0.0",
	  .description = "io_uring I/O backend: multishot accept and recv, "
			 "provided buffers, send_zc, SQPOLL",
	  DX_FACETS(uring_facets), .init = uring_init, .fini = uring_fini)
