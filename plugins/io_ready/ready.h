/* ready.h - the readiness core the emulating IO backends share: io_epoll
 * and io_kqueue complete operations (dx/io.h) over a readiness API, and
 * everything but the API itself is this core, written once.
 *
 * What the core does: the completion ring wait() hands out; the per-fd
 * table and the ready list of fds with work; the lent receive buffers;
 * the send queues; running the operations of a ready fd (accept, recv,
 * send, poll) within per-fd budgets; the accept backoff; the timeouts
 * (libdx's timer heap). What a backend does: register fds with its kernel
 * API, turn its events into readiness (rd_ready, wr_ready, hup and poll
 * revents, then rd_ready_push), sleep, and wake.
 *
 * A backend embeds one struct rd in its dx_io (member rd) and fills
 * rd.ops with the few calls that differ between systems. Semantics (the
 * same for both backends, documented in io_epoll.c and io_kqueue.c):
 * arming accept or recv assumes readiness; one accept, recv and poll per
 * fd (-EALREADY); sends queue in order; poll is edge-like; ENOBUFS ends a
 * recv while the host holds every buffer; out-of-resource accept errors
 * back off ACCEPT_BACKOFF_MS.
 *
 * Threads: the instance's thread only (wake() is the backend's). */
#ifndef DX_IO_READY_H
#define DX_IO_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/io.h>
#include <dx/plugin.h>
#include <dx/timer_heap.h>

#define RD_DEFAULT_BUF_COUNT 256u
#define RD_DEFAULT_BUF_SIZE (16u * 1024u)
#define RD_MAX_BUF_COUNT 65536u /* buf_id is 16 bits */
#define RD_RECV_BUDGET 8        /* reads per fd per round */
#define RD_ACCEPT_BUDGET 64     /* accepts per listener per round */
#define RD_SEND_BUDGET 16       /* send syscalls per fd per round */
#define RD_ACCEPT_BACKOFF_MS 50

/* A send that did not go out at once: the host's buffer and how far. */
struct rd_send {
	struct rd_send *next;
	const uint8_t *buf;
	size_t len, off;
	uint64_t udata;
	uint32_t flags;
};

/* Per-fd state, in a table indexed by fd. */
struct rd_fd {
	bool reg;      /* registered with the kernel API, as far as we know;
			* cleared when the fd goes idle (rd_idle_check) */
	bool seen;     /* the backend's: the kernel may hold state for it */
	bool prepared; /* rd_sys_nosigpipe done (idle clears) */
	bool queued;   /* on the ready list */
	bool rd_ready; /* readable until a read says EAGAIN */
	bool wr_ready; /* writable until a write says EAGAIN */
	bool hup;      /* the peer shut down or the fd erred: read to EOF */
	bool stream;   /* SOCK_STREAM: a short read means drained */
	bool acc_armed, recv_armed, poll_armed;
	bool poll_check; /* poll armed: check current readiness once */
	bool acc_backoff;
	uint32_t poll_events;  /* DX_IO_POLL* asked for */
	uint32_t poll_revents; /* events seen, not yet completed */
	uint64_t acc_udata, recv_udata, poll_udata;
	struct rd_send *sq_head, *sq_tail;
};

struct rd;

/* The backend's part of the core. */
struct rd_ops {
	/* Register fd with the kernel API (st->reg is false): set st->reg,
	 * return 0, or a negative code. */
	int (*arm)(struct rd *rd, int fd, struct rd_fd *st);
};

/* Socket calls whose form differs between systems (ready_sys.c). */
/* accept(2) non-blocking and close-on-exec: fd, or -1 and errno. */
int rd_sys_accept_nb(int listen_fd);
/* Whether an accept error means "try the next connection". */
bool rd_sys_accept_retry(int err);
/* send(2) flags: non-blocking, no SIGPIPE where a flag says so, MSG_MORE
 * where there is one and more was asked for. */
int rd_sys_send_flags(bool more);
/* Make fd never raise SIGPIPE where that is a socket option (macOS): 0 or
 * a negative code; 0 and nothing done elsewhere. */
int rd_sys_nosigpipe(int fd);

struct rd {
	const dx_host_api *host; /* logging */
	int worker;
	const struct rd_ops *ops;

	struct rd_fd *fds; /* indexed by fd */
	size_t nfds;
	int *ready; /* fds with work; each at most once (rd_fd.queued) */
	size_t nready;

	dx_io_cqe *ring; /* completions not yet handed out */
	size_t ring_cap, ring_head, ring_len;

	uint8_t *bufs; /* buf_count * buf_size */
	uint32_t buf_count, buf_size;
	uint16_t *free_ids; /* a stack */
	uint32_t nfree;
	uint8_t *lent; /* per buffer: 1 while the host has it */

	struct rd_send *spare;  /* free send nodes */
	dx_timer_heap timers;   /* by deadline, indexed by udata */
	uint64_t backoff_until; /* 0: no accept is backing off */
};

uint64_t rd_now_ns(void);

/* Set up rd (buffers, ring room for queue_depth): 0 or -ENOMEM / -EINVAL
 * (after host->fail) for sizes out of range. rd_free releases it, closing
 * the fds of accept completions nobody reaped. */
int rd_init(struct rd *rd, const dx_host_api *host, const char *plugin,
	    const dx_io_params *params, const struct rd_ops *ops);
void rd_free(struct rd *rd);

/* The completion ring: make room for n more before the syscall whose
 * result needs the slot; rd_post only after. */
int rd_ring_room(struct rd *rd, size_t n);
void rd_post(struct rd *rd, uint8_t op, int32_t result, uint64_t udata,
	     uint32_t flags);
/* Hand out up to max completions. */
unsigned rd_reap(struct rd *rd, dx_io_cqe *cqes, unsigned max);

/* The fd table (grown on demand: NULL when out of memory) and the ready
 * list. */
struct rd_fd *rd_fd_get(struct rd *rd, int fd);
void rd_ready_push(struct rd *rd, int fd);
bool rd_has_work(const struct rd_fd *st);
size_t rd_fd_ops(const struct rd_fd *st);
/* Complete every operation on st with -err (a send that partly went out
 * with its count). Only after rd_ring_room(rd, rd_fd_ops(st)). */
void rd_end_all(struct rd *rd, struct rd_fd *st, int err);
/* No operation left: forget the registration (rd_fd.reg, .prepared). */
void rd_idle_check(struct rd_fd *st);

/* fd's state, registered through rd->ops->arm if it is not: 0 and *out,
 * or a negative code. */
int rd_fd_arm(struct rd *rd, int fd, struct rd_fd **out);

/* The dx/io.h calls the core implements whole. */
int rd_accept(struct rd *rd, int listen_fd, uint64_t udata);
int rd_recv(struct rd *rd, int fd, uint64_t udata);
int rd_poll(struct rd *rd, int fd, uint32_t events, uint64_t udata);
int rd_send(struct rd *rd, int fd, const void *buf, size_t len, uint64_t udata,
	    uint32_t flags);
int rd_timeout(struct rd *rd, uint64_t ns, uint64_t udata);
int rd_timeout_cancel(struct rd *rd, uint64_t udata);
void rd_buf_release(struct rd *rd, uint16_t buf_id);

/* The loop: complete due timers; retry backed-off accepts; one pass over
 * the ready list. */
void rd_timers_fire(struct rd *rd, uint64_t now);
void rd_backoff_check(struct rd *rd, uint64_t now);
void rd_run_ready(struct rd *rd);

#endif
