/* iocp.h - io_iocp's internals: the IO facet (dx/io.h) over Windows I/O
 * completion ports. iocp.c says what the backend promises; this header
 * is the shape of its state and the calls between its files:
 *
 *   iocp.c         the plugin: descriptor, init, probe, create, destroy
 *   iocp_core.c    the completion ring, the wait loop over
 *                  GetQueuedCompletionStatusEx, timers, wake, submit
 *   iocp_sock.c    the per-instance socket table, which port a socket
 *                  belongs to (and what to do when it is another's),
 *                  overlapped records, Windows errors as errno values
 *   iocp_rw.c      recv (zero-byte WSARecv, then recv into a lent
 *                  buffer) and send (WSASend in order), detach
 *   iocp_poll.c    poll over IOCTL_AFD_POLL on a helper socket
 *   iocp_accept.c  the per-plugin acceptor (AcceptEx on its own port and
 *                  thread) and the instances' side of accept
 *
 * Threads: a dx_io is its worker's alone, except wake() (any thread) and
 * the acceptor, which posts accepted sockets to an instance's port with
 * PostQueuedCompletionStatus and otherwise touches instance state only
 * under its own lock (struct acceptor). */
#ifndef DX_IO_IOCP_H
#define DX_IO_IOCP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <dx/io.h>
#include <dx/plugin.h>
#include <dx/timer_heap.h>

#define IC_DEFAULT_BUF_COUNT 256u
#define IC_DEFAULT_BUF_SIZE (16u * 1024u)
#define IC_MAX_BUF_COUNT 65536u      /* buf_id is 16 bits */
#define IC_SEND_CHUNK (1u << 20)     /* bytes per WSASend */
#define IC_DEQUEUE 128               /* entries per GQCSEx call */
#define IC_ACCEPT_POSTS 32           /* AcceptEx pre-posted per listener */

/* An OVERLAPPED's Internal when the operation was cancelled. */
#define IC_STATUS_CANCELLED 0xC0000120u

/* Completion keys: what a dequeued packet is. */
#define IC_KEY_IO 1u      /* an overlapped operation on a socket of ours */
#define IC_KEY_FOREIGN 2u /* the same, posted by a pool wait (ic_ov) */
#define IC_KEY_WAKE 3u    /* wake(); no OVERLAPPED */
#define IC_KEY_HANDOFF 4u /* the acceptor: an accepted socket */
#define IC_KEY_STOP 5u    /* the acceptor's thread: stop */

/* What an overlapped record is for. */
enum ic_kind {
	IC_OP_RECV = 1,
	IC_OP_SEND,
	IC_OP_POLL,
	IC_OP_ACCEPTEX, /* the acceptor's */
};

/* One overlapped operation. Native: the socket is associated with the
 * port that dequeues it. Foreign (the socket belongs to another port
 * that cannot be replaced, see iocp_sock.c): hEvent's low bit keeps the
 * packet off that port, and a thread-pool wait on ev posts the OVERLAPPED
 * to ours with IC_KEY_FOREIGN. The record must stay put until its packet
 * is dequeued. */
struct ic_ov {
	OVERLAPPED ov;
	uint8_t kind;   /* enum ic_kind */
	bool busy;      /* issued, packet not yet dequeued */
	bool foreign;   /* issued event-signalled */
	HANDLE ev;      /* foreign: made on first use, kept */
	HANDLE wait;    /* foreign: the registered wait */
	HANDLE port;    /* foreign: where the wait posts */
};

/* A send not yet complete: the host's buffer and how far it went. */
struct ic_send {
	struct ic_send *next;
	const uint8_t *buf;
	size_t len, off;
	uint64_t udata;
};

struct ic_listener;

/* An IOCTL_AFD_POLL request (iocp_poll.c): the layout of the driver's
 * AFD_POLL_INFO with one handle. */
struct ic_afd_poll {
	LARGE_INTEGER timeout;
	ULONG count;
	ULONG exclusive;
	HANDLE handle;
	ULONG events;
	LONG status;
};

/* A socket this instance has operations on. In the table while armed or
 * busy; detach takes it out (it drains, owned by its busy records, until
 * their packets come). */
struct ic_sock {
	SOCKET s;
	struct dx_io *io;
	bool in_table;
	bool foreign; /* its I/O is event-signalled (struct ic_ov) */
	bool bound;   /* native or foreign decided (ic_sock_bind) */
	/* recv: multishot while armed; a zero-byte WSARecv in flight. */
	bool recv_armed;
	bool recv_cancel_due; /* detached: -ECANCELED when recv_op is back */
	uint64_t recv_udata;
	struct ic_ov recv_op;
	/* send: in order, the head in flight. */
	struct ic_send *sq_head, *sq_tail;
	struct ic_ov send_op;
	/* poll: multishot, re-issued at the next submit. */
	bool poll_armed, poll_rearm;
	uint32_t poll_events;
	uint64_t poll_udata;
	struct ic_ov poll_op;
	SOCKET poll_h; /* the helper poll_op went to */
	struct ic_afd_poll poll_in, poll_out;
	struct ic_sock *rearm_next; /* with poll_rearm: on io->rearm */
	/* accept: a subscription to the acceptor's listener for s. */
	bool acc_armed;
	uint64_t acc_udata;
	uint64_t acc_gen; /* the listener's generation it armed */
};

struct plugin;

struct dx_io {
	struct plugin *pl;
	const dx_host_api *host;
	int worker;
	HANDLE port;
	uint64_t serial; /* the port's identity in the socket registry */
	atomic_int wake_due;

	dx_io_cqe *ring; /* completions not yet handed out */
	size_t ring_cap, ring_head, ring_len;

	uint8_t *bufs; /* buf_count * buf_size */
	uint32_t buf_count, buf_size;
	uint16_t *free_ids; /* a stack */
	uint32_t nfree;
	uint8_t *lent; /* per buffer: 1 while the host has it */

	/* The socket table: open addressing, linear probing, by SOCKET. */
	struct ic_sock **tab;
	size_t tab_cap, tab_len;
	size_t busy; /* overlapped records issued, packets not dequeued */

	struct ic_send *spare; /* free send records */
	struct ic_sock *rearm; /* polls to re-issue at submit */
	dx_timer_heap timers;
	unsigned queued; /* operations since the last submit() */
	bool acceptor_ref; /* holds a reference on pl's acceptor */
	bool closing;      /* destroy has begun: nothing new is issued */

	SOCKET poll_helper[2]; /* AFD poll targets: IPv4, IPv6 (lazy) */
};

/* ---- iocp_core.c ---- */
/* At init, before any instance: ic_now_ns reads what it sets. */
void ic_clock_init(void);
uint64_t ic_now_ns(void);
int ic_ring_room(dx_io *io, size_t n);
/* Post a completion; the ring has room (ic_ring_room) or it is lost and
 * logged: the callers reserve where an allocation can fail. */
void ic_post(dx_io *io, uint8_t op, int32_t result, uint64_t udata,
	     uint32_t flags);
void ic_post_data(dx_io *io, int32_t result, uint64_t udata, uint32_t flags,
		  uint16_t buf_id);
int ic_core_init(dx_io *io, const dx_io_params *params);
void ic_core_free(dx_io *io);
int ic_timeout(dx_io *io, uint64_t ns, uint64_t udata);
int ic_timeout_cancel(dx_io *io, uint64_t udata);
int ic_submit(dx_io *io);
int ic_wait(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms);
int ic_wake(dx_io *io);
void ic_buf_release(dx_io *io, uint16_t buf_id);
/* Dequeue until every issued record has come back (destroy). */
void ic_drain(dx_io *io);

/* ---- iocp_sock.c ---- */
/* Windows (Win32 and Winsock) error codes as the errno values the Linux
 * backends give. */
int ic_errno(DWORD err);
/* Issue bookkeeping around a WSARecv/WSASend/AcceptEx/DeviceIoControl:
 * prepare the OVERLAPPED (foreign: the event), then, once the call said
 * pending or done, ic_ov_issued on the handle it went to (foreign:
 * register the wait; if that fails, the operation is cancelled and
 * reported all the same, and the error returned). A call that
 * failed at once: ic_ov_unprepare. 0 or a negative errno. */
int ic_ov_prepare(struct ic_ov *o, uint8_t kind, bool foreign, HANDLE port);
int ic_ov_issued(struct ic_ov *o, HANDLE h);
void ic_ov_unprepare(struct ic_ov *o);
/* The packet came: release the wait (foreign). */
void ic_ov_done(struct ic_ov *o);
void ic_ov_free(struct ic_ov *o);
/* Put s on port, or find out that it cannot be (another port holds it
 * and cannot let go): 0 with *foreign set, or a negative errno. */
int ic_bind(HANDLE port, uint64_t serial, SOCKET s, bool *foreign);
uint64_t ic_serial_new(void);
/* The socket registry's users: ic_init takes one, ic_fini drops it; the
 * last one frees the registry (a reload's old and new plugin share it). */
void ic_registry_ref(void);
void ic_registry_unref(void);
/* Whether ntdll's FileReplaceCompletionInformation works here. */
bool ic_can_replace(void);

struct ic_sock *ic_sock_find(dx_io *io, SOCKET s);
/* The entry for s, made and bound when new: 0 with *out, or negative. */
int ic_sock_get(dx_io *io, SOCKET s, struct ic_sock **out);
/* Settle *kp's port (ic_bind) before a recv or send; *kp may be
 * replaced by a new entry (see there), or be NULL on an error (the old
 * entry dropped, no new one made). */
int ic_sock_bind(dx_io *io, struct ic_sock **kp);
bool ic_sock_armed(const struct ic_sock *k);
bool ic_sock_busy(const struct ic_sock *k);
/* Out of the table (detach): it drains until its records come back. */
void ic_sock_unlink(dx_io *io, struct ic_sock *k);
/* Free k when it is neither armed nor busy. */
void ic_sock_check(dx_io *io, struct ic_sock *k);
void ic_sock_free_all(dx_io *io);

/* ---- iocp_rw.c ---- */
int ic_recv(dx_io *io, int fd, uint64_t udata);
int ic_send(dx_io *io, int fd, const void *buf, size_t len, uint64_t udata,
	    uint32_t flags);
int ic_detach(dx_io *io, int fd);
void ic_recv_done(dx_io *io, struct ic_sock *k);
void ic_send_done(dx_io *io, struct ic_sock *k);
/* Cancel k's recv and send (destroy, detach). */
void ic_rw_cancel(struct ic_sock *k);
void ic_send_free(dx_io *io, struct ic_send *q);

/* ---- iocp_poll.c ---- */
int ic_poll(dx_io *io, int fd, uint32_t events, uint64_t udata);
void ic_poll_done(dx_io *io, struct ic_sock *k);
void ic_poll_rearm_all(dx_io *io);
void ic_poll_cancel(dx_io *io, struct ic_sock *k);
void ic_poll_free(dx_io *io);

/* ---- iocp_accept.c ---- */
int ic_accept(dx_io *io, int listen_fd, uint64_t udata);
/* The instance's end of its accept on k (detach, destroy). */
void ic_accept_detach(dx_io *io, struct ic_sock *k);
/* A handoff packet (IC_KEY_HANDOFF) dequeued by io. */
void ic_accept_handoff(dx_io *io, OVERLAPPED *ov);
/* destroy: drop io's reference on the acceptor. */
void ic_accept_release(dx_io *io);
/* The plugin's acceptor state; the lock is made at init. */
struct acceptor;
void ic_acceptor_fini(struct plugin *pl);

struct plugin {
	const dx_host_api *host;
	SRWLOCK lock; /* makes and drops the acceptor */
	struct acceptor *acc;
	unsigned acc_refs;
	/* The last reference went and its acceptor is stopping (outside
	 * lock): a new one waits on acc_stopped until it has. */
	bool acc_stopping;
	CONDITION_VARIABLE acc_stopped;
};

#endif
