/* uring.h - the io_uring backend's internals, shared by its files:
 * io_uring.c (the plugin, create/destroy, queueing operations), oprec.c
 * (operation records, per-fd lists, the timeout table), reap.c (turning
 * CQEs into dx_io_cqe, wait) and probe.c.
 *
 * Threads: a struct uring is used only by its worker's thread, except
 * wake_fd, which any thread may write.
 */
#ifndef DX_URING_H
#define DX_URING_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include <dx/io.h>
#include <dx/plugin.h>

/* The plugin instance (one per host; shared read-only by every backend
 * instance it creates). */
struct uring_plugin {
	const dx_host_api *host;
	uint32_t zc_threshold; /* sends of this many bytes or more use zc */
	uint32_t sqpoll_idle_ms;
};

/* An operation in flight. Records live in fixed-size chunks that never
 * move (the kernel holds a pointer to ts), found by index; the index and
 * a generation make the SQE's user_data. */
enum {
	OPF_DETACHED = 0x01,  /* detach() asked to cancel it */
	OPF_CANCELLED = 0x02, /* timeout_cancel() asked to cancel it */
	OPF_ZC_HOST = 0x04,   /* the host asked for zc: it gets a NOTIF */
	OPF_ZC = 0x08,        /* this send goes out with SEND_ZC */
	OPF_SENT = 0x10,      /* send: the host saw its completion */
	OPF_DEFERRED = 0x20,  /* waiting in the deferred list for an SQE */
	OPF_ON_FD = 0x40,     /* linked in its fd's list */
	OPF_IN_TABLE = 0x80,  /* timeout: linked in the timeout table */
	OPF_QUEUED = 0x100,   /* send: behind another send on its fd */
	OPF_PARKED = 0x200,   /* recv: ran out of buffers, see unpark */
};

struct op {
	uint64_t udata; /* the host's */
	uint32_t gen;   /* bumped on every reuse */
	int32_t fd;
	uint8_t kind; /* dx_io_op; 0 when free */
	uint16_t flags;
	int16_t notifs; /* zc notifications still to come (may dip < 0) */
	int32_t fd_prev, fd_next; /* per-fd list */
	/* Free list, timeout-table chain, deferred list or fd send queue. */
	int32_t next;
	uint32_t msg_flags;
	const uint8_t *buf; /* send: the host's buffer */
	size_t len, done;   /* send: bytes asked, bytes out */
	int32_t result;     /* send: the result the host was given */
	struct __kernel_timespec ts;
};

#define OP_CHUNK_SHIFT 8
#define OP_CHUNK (1u << OP_CHUNK_SHIFT)
#define OP_NONE (-1)

/* user_data of SQEs whose CQE is dropped (cancel, timeout remove) and of
 * the wake eventfd's read. Records use (gen << 32 | index). */
#define UD_IGNORE UINT64_MAX
#define UD_WAKE (UINT64_MAX - 1)

struct fdst {
	int32_t head;             /* records (not sends) through fd_next */
	int32_t send;             /* the send in flight (or deferred) */
	int32_t sq_head, sq_tail; /* sends behind it, through op.next */
};

struct uring {
	struct io_uring ring;
	const struct uring_plugin *plug;
	int worker;
	bool ring_ok;
	bool sqpoll;
	bool cancel_fd; /* IORING_ASYNC_CANCEL_FD works */
	bool send_zc;   /* IORING_OP_SEND_ZC works */
	bool destroying;
	/* Made on the main thread with IORING_SETUP_R_DISABLED: enabled by
	 * the first call that enters the kernel (uring_enter_ready), on the
	 * worker thread, which SINGLE_ISSUER then binds the ring to. */
	bool disabled;
	bool single_issuer; /* SINGLE_ISSUER (and DEFER_TASKRUN) took */
	bool defer_taskrun;
	pthread_t issuer; /* the thread that enabled it */

	/* Operation records. */
	struct op **chunks;
	uint32_t nchunks;
	int32_t free_head;
	uint32_t live; /* records in use */

	/* Per-fd state, indexed by fd: every record on the fd but sends (so
	 * detach finds them), and its sends, one in the kernel at a time and
	 * the rest queued in order (two sends in flight on one socket may
	 * interleave their bytes). */
	struct fdst *fds;
	uint32_t fd_cap;

	/* Timeouts by host udata: chained hash of record indices. */
	int32_t *tmo_buckets;
	uint32_t tmo_mask;
	uint32_t tmo_count;

	/* Records that could not get an SQE yet (internal re-submissions when
	 * the SQ was full): a FIFO through op.next. */
	int32_t defer_head, defer_tail;

	/* Multishot recvs that ended with -ENOBUFS, through op.next: the
	 * next wait() re-arms them if the host gave buffers back, else
	 * reports -ENOBUFS. */
	int32_t parked;

	/* Provided buffer ring, group 0. */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	uint32_t buf_count, buf_size;
	int buf_mask;
	uint32_t buf_pending; /* added but not yet advanced */
	uint8_t *buf_lent;    /* 1 while the host holds buffer i */
	uint32_t buf_out;     /* how many the host holds */
	bool br_registered;

	/* Wake: an eventfd with a read always armed. */
	int wake_fd;
	uint64_t wake_val;
	bool wake_armed;

	/* Completions made without a CQE, or beyond wait()'s max. */
	dx_io_cqe *pend;
	uint32_t pend_cap, pend_head, pend_len;

	uint32_t early_submitted; /* submitted by prep, reported by submit */
};

/* oprec.c; the lookups every CQE and every send make are inline here
 * (the plugin is built without LTO: a call to another file is never
 * inlined). */
int uring_ops_init(struct uring *u);
void uring_ops_free(struct uring *u);
int32_t uring_op_alloc(struct uring *u, uint8_t kind, int fd, uint64_t udata);
void uring_op_release(struct uring *u, int32_t idx);
int uring_fd_link(struct uring *u, int32_t idx);
void uring_fd_unlink(struct uring *u, int32_t idx);
int32_t uring_fd_first(const struct uring *u, int fd);
struct fdst *uring_fdst_grow(struct uring *u, int fd);

static inline struct op *uring_op_get(struct uring *u, int32_t idx)
{
	return &u->chunks[(uint32_t)idx >> OP_CHUNK_SHIFT]
			 [(uint32_t)idx & (OP_CHUNK - 1)];
}

static inline uint64_t uring_op_ud(struct uring *u, int32_t idx)
{
	return (uint64_t)uring_op_get(u, idx)->gen << 32 | (uint32_t)idx;
}

/* The record a CQE's user_data names, or OP_NONE when it is stale (which
 * would be a bug here: each record outlives its last CQE). */
static inline int32_t uring_op_from_ud(struct uring *u, uint64_t ud)
{
	uint32_t idx = (uint32_t)ud;
	if (idx >= u->nchunks << OP_CHUNK_SHIFT)
		return OP_NONE;
	struct op *op = uring_op_get(u, (int32_t)idx);
	if (!op->kind || op->gen != (uint32_t)(ud >> 32))
		return OP_NONE;
	return (int32_t)idx;
}

/* Per-fd state (NULL when it cannot grow to fd). */
static inline struct fdst *uring_fdst(struct uring *u, int fd)
{
	if ((uint32_t)fd < u->fd_cap)
		return &u->fds[(uint32_t)fd];
	return uring_fdst_grow(u, fd);
}
void uring_sendq_push(struct uring *u, int32_t idx);
int32_t uring_sendq_pop(struct uring *u, int fd);
int uring_tmo_add(struct uring *u, int32_t idx);
int32_t uring_tmo_find(const struct uring *u, uint64_t udata);
void uring_tmo_remove(struct uring *u, int32_t idx);
void uring_defer_push(struct uring *u, int32_t idx);
int32_t uring_defer_pop(struct uring *u);
void uring_defer_drop(struct uring *u, int32_t idx);

/* io_uring.c */
bool uring_enter_ready(struct uring *u);
struct io_uring_sqe *uring_sqe(struct uring *u);
int uring_arm(struct uring *u, int32_t idx);
int uring_arm_wake(struct uring *u);
void uring_buf_flush(struct uring *u);
void uring_buf_recycle(struct uring *u, uint16_t bid);

/* reap.c */
void uring_handle_cqe(struct uring *u, const struct io_uring_cqe *cqe,
		      dx_io_cqe *out, unsigned max, unsigned *n);
int uring_wait(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms);
void uring_finish_send(struct uring *u, int32_t idx, int32_t res,
		       dx_io_cqe *out, unsigned max, unsigned *n);
void uring_drop_unsubmitted(struct uring *u);
void uring_arm_multi(struct uring *u, struct io_uring_sqe *sqe, int32_t idx);
void uring_run_deferred(struct uring *u);

/* probe.c */
struct uring_features {
	bool send_zc;
	bool cancel_fd;
	unsigned kmajor, kminor;
};
int uring_probe(char *why, size_t why_len, struct uring_features *f);
bool uring_kernel_at_least(unsigned major, unsigned minor);
bool uring_cancel_fd_works(struct io_uring *ring);
bool uring_cancel_fd_supported(void);

#endif
