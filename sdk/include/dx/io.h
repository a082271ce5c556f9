/* dx/io.h - the IO facet: a completion-based I/O backend (docs/architecture.md
 * section 8, docs/abi.md section 4).
 *
 * The host asks for operations (accept, recv, send, poll, timeout) and later
 * reaps completions {op, result, udata, flags}, as with io_uring or IOCP;
 * epoll and kqueue backends emulate completions over readiness. One backend
 * instance (dx_io) per worker, used only by that worker's thread, except
 * wake(), which any thread may call.
 *
 * Ownership. Connection state and send buffers belong to the host: a send
 * buffer must stay valid until its completion (and, for DX_IO_SEND_ZC, until
 * the DX_IO_F_NOTIF completion). Received bytes arrive in buffers the backend
 * lends (a provided-buffer ring on io_uring); the host copies what it needs
 * and gives each buffer back with buf_release() before the next wait().
 *
 * Multishot. accept, recv and poll keep producing completions flagged
 * DX_IO_F_MORE until one arrives without it: an error, EOF, a cancel, or
 * -ENOBUFS, which comes only while the host holds every lent buffer
 * (release some and arm recv again). When the kernel ends a multishot on
 * its own (a full completion queue), the backend re-arms it unseen.
 * Accepted fds are non-blocking and close-on-exec, so any backend can take
 * them over. poll promises at least one completion each time the fd
 * becomes ready (io_uring's is edge-like, epoll's may repeat while it
 * stays ready): consume until EAGAIN before waiting again.
 *
 * Zero copy. A send flagged DX_IO_SEND_ZC completes with DX_IO_F_MORE
 * exactly when a DX_IO_F_NOTIF completion (same udata, result 0) will
 * follow; the buffer is the host's again only then. A backend that copied
 * completes without MORE and sends no NOTIF.
 *
 * Time. A timeout counts from the call to timeout(), not from submit().
 * wait() returns what it has (maybe 0) when interrupted by a signal.
 *
 * Swapping. detach(fd) cancels every operation on fd and leaves it open;
 * each cancelled operation completes with -ECANCELED (a send that had
 * partly gone out reports its byte count instead). Like every request,
 * the cancel takes effect at the next submit(): keep the fd open (and do
 * not reuse its number) until then. Once the host has reaped the
 * cancellations it may arm the fd on another backend instance.
 */
#ifndef DX_IO_H
#define DX_IO_H

#include <dx/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dx_io dx_io; /* a backend instance, one per worker */

typedef enum dx_io_op {
	DX_IO_ACCEPT = 1,  /* result: the new fd, or -errno */
	DX_IO_RECV = 2,    /* result: bytes in data, 0 on EOF, or -errno */
	DX_IO_SEND = 3,    /* result: len once every byte is out; a short
			    * count or -errno only on error or detach */
	DX_IO_POLL = 4,    /* result: revents (DX_IO_POLLIN...) or -errno */
	DX_IO_TIMEOUT = 5, /* result: 0 when it fired, -ECANCELED when
			    * timeout_cancel()ed (timeouts have no fd:
			    * detach leaves them alone) */
	DX_IO_WAKE = 6,    /* another thread called wake(); udata 0 */
} dx_io_op;

/* Completion flags. */
#define DX_IO_F_MORE 0x1u   /* multishot: more completions will follow */
#define DX_IO_F_BUFFER 0x2u /* data/buf_id hold received bytes */
#define DX_IO_F_NOTIF 0x4u  /* send_zc: the buffer may now be reused */

/* send() flags. */
#define DX_IO_SEND_ZC 0x1u   /* zero-copy when the backend can; a hint */
#define DX_IO_SEND_MORE 0x2u /* more data follows soon (MSG_MORE) */

/* poll() events and revents. */
#define DX_IO_POLLIN 0x1u
#define DX_IO_POLLOUT 0x4u
#define DX_IO_POLLERR 0x8u
#define DX_IO_POLLHUP 0x10u

/* Capabilities a backend reports in its vtable. */
#define DX_IO_CAP_MULTISHOT_ACCEPT 0x1u
#define DX_IO_CAP_MULTISHOT_RECV 0x2u
#define DX_IO_CAP_SEND_ZC 0x4u
#define DX_IO_CAP_SQPOLL 0x8u
#define DX_IO_CAP_NATIVE 0x10u /* true completions, not emulated */

typedef struct dx_io_cqe {
	uint64_t udata;
	int32_t result;
	uint8_t op; /* dx_io_op */
	uint8_t pad;
	uint16_t buf_id;     /* with DX_IO_F_BUFFER: give it back */
	uint32_t flags;      /* DX_IO_F_* */
	const uint8_t *data; /* with DX_IO_F_BUFFER: result bytes */
} dx_io_cqe;

typedef struct dx_io_params {
	uint32_t size;
	uint32_t queue_depth; /* submission entries; a power of two */
	uint32_t buf_count;   /* receive buffers lent at once */
	uint32_t buf_size;    /* bytes each */
	bool sqpoll;          /* kernel-side submission polling, if able */
	int worker;           /* for logs */
} dx_io_params;

typedef struct dx_io_vtable {
	uint32_t size;
	uint32_t caps; /* DX_IO_CAP_* */

	/* Whether this backend works here; 0, or a negative code with the
	 * reason in why ("io_uring_setup: Operation not permitted (seccomp
	 * or kernel.io_uring_disabled=2)"). Main thread. */
	int (*probe)(void *self, char *why, size_t why_len);

	/* One instance per worker; made on the main thread, then used only
	 * on that worker's thread. */
	int (*create)(void *self, const dx_io_params *params, dx_io **out);
	void (*destroy)(dx_io *io);

	/* Queue operations; they take effect at the next submit() (a backend
	 * may start them sooner). 0 or a negative code (-EBUSY: queue full,
	 * submit and retry). */
	int (*accept)(dx_io *io, int listen_fd, uint64_t udata);
	int (*recv)(dx_io *io, int fd, uint64_t udata);
	int (*send)(dx_io *io, int fd, const void *buf, size_t len,
		    uint64_t udata, uint32_t flags);
	int (*poll)(dx_io *io, int fd, uint32_t events, uint64_t udata);
	int (*timeout)(dx_io *io, uint64_t ns, uint64_t udata);
	/* Cancel the timeout armed with udata (use a distinct udata per
	 * timeout; with two alike, either may be the one cancelled). */
	int (*timeout_cancel)(dx_io *io, uint64_t udata);
	/* Cancel every operation on fd; the fd stays open. */
	int (*detach)(dx_io *io, int fd);

	/* Flush queued operations: the number submitted, or negative. */
	int (*submit)(dx_io *io);
	/* Submit, then wait up to timeout_ms (-1: forever, 0: poll) for at
	 * least one completion; fill up to max; return how many. */
	int (*wait)(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms);
	/* Give back a receive buffer lent by a completion. */
	void (*buf_release)(dx_io *io, uint16_t buf_id);
	/* Make a wait() on io return with a DX_IO_WAKE completion. Any
	 * thread; async-signal-safe. */
	int (*wake)(dx_io *io);
} dx_io_vtable;

#define DX_IO_VTABLE_V1_0_SIZE                                             \
	(offsetof(dx_io_vtable, wake) + sizeof(((dx_io_vtable *)0)->wake))

#ifdef __cplusplus
}
#endif
#endif
