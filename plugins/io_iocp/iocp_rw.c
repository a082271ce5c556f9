/* iocp_rw.c - recv, send and detach over overlapped WSARecv/WSASend.
 *
 * recv is multishot by re-posting: while armed, one zero-byte WSARecv is
 * in flight; when it completes, one recv() reads into a free lent buffer,
 * which becomes a completion (DX_IO_F_MORE | DX_IO_F_BUFFER), and the
 * zero-byte read goes out again. Why zero bytes (libuv's way): a
 * WSARecv with a real buffer pins it until bytes come, so a thousand idle
 * connections would hold a thousand buffers and the recv would end with
 * -ENOBUFS while the host holds none, which dx/io.h rules out; the
 * zero-byte read takes a buffer only when there are bytes for it. When
 * the host holds every buffer the recv ends with -ENOBUFS. One read per
 * socket per round of the port's FIFO keeps one busy connection from
 * starving the others. Wine 8 completes a pending zero-byte WSARecv when
 * bytes or the end of the stream arrive, as Windows does (checked).
 *
 * send keeps its socket's sends in order: only the queue's head is in
 * flight, in WSASends of up to IC_SEND_CHUNK bytes, the rest of a short
 * write posted again; its completion (len) comes once every byte is out.
 * An error ends the head with the bytes that went out (or -errno) and
 * every send queued behind it with the error.
 *
 * detach cancels with CancelIoEx, naming each OVERLAPPED (never the whole
 * handle: another instance may own the socket's next operations). A
 * recv's -ECANCELED waits for its zero-byte read to come back, as a
 * send's end does: posted at detach, it would let the host arm the socket
 * on another instance while the read is still with the kernel, and where
 * the socket can move between ports (FileReplaceCompletionInformation,
 * Windows 8.1+) that read's packet could then land on the other
 * instance's port, naming this one's memory. With no read in flight the
 * end is at once. A cancelled send reports the bytes that went out: Windows and wine give
 * the count of a cancelled WSASend (checked under wine 8: an 8 MiB send
 * cancelled after 270848 bytes reported 270848, and the peer read
 * exactly those). Sends queued behind the head end with -ECANCELED at
 * once. The socket's entry leaves the table and drains. */
#include <errno.h>
#include <stdlib.h>

#include "iocp.h"

static SOCKET sock_of(int fd)
{
	return (SOCKET)(intptr_t)fd;
}

/* A finished record's outcome: 0 or a negative errno, and the bytes it
 * moved (a cancelled or failed send may have moved some). */
static int ov_outcome(SOCKET s, struct ic_ov *o, size_t *bytes)
{
	DWORD n = 0, flags = 0;
	BOOL ok = WSAGetOverlappedResult(s, &o->ov, &n, FALSE, &flags);
	int rc = ok ? 0 : -ic_errno((DWORD)WSAGetLastError());
	if (!ok && rc == -EBADF) {
		/* The socket was closed without a detach before its packet
		 * was dequeued: the kernel's status (an NTSTATUS) says. */
		ULONG_PTR st = o->ov.Internal;
		rc = st == 0 ? 0 : st == IC_STATUS_CANCELLED ? -ECANCELED : -EBADF;
		n = (DWORD)o->ov.InternalHigh;
	}
	*bytes = n;
	return rc;
}

/* ---- recv ---- */

static void recv_end(dx_io *io, struct ic_sock *k, int32_t result)
{
	k->recv_armed = false;
	ic_post(io, DX_IO_RECV, result, k->recv_udata, 0);
}

/* The zero-byte WSARecv of an armed recv: it completes when bytes (or
 * the end of the stream, or an error) are there, holding no buffer. */
static void recv_post(dx_io *io, struct ic_sock *k)
{
	int rc = ic_ov_prepare(&k->recv_op, IC_OP_RECV, k->foreign, io->port);
	if (rc < 0) {
		recv_end(io, k, rc);
		return;
	}
	WSABUF wb = {.len = 0, .buf = NULL};
	DWORD flags = 0;
	if (WSARecv(k->s, &wb, 1, NULL, &flags, &k->recv_op.ov, NULL) != 0 &&
	    WSAGetLastError() != WSA_IO_PENDING) {
		rc = -ic_errno((DWORD)WSAGetLastError());
		ic_ov_unprepare(&k->recv_op);
		recv_end(io, k, rc);
		return;
	}
	/* Done at once or pending, the packet comes through the port. */
	io->busy++;
	if (ic_ov_issued(&k->recv_op, (HANDLE)k->s) < 0)
		io->host->log(io->host, DX_LOG_WARN,
			      "worker %d: a thread-pool wait failed; the "
			      "recv was cancelled",
			      io->worker);
}

/* fd's entry, on a port, with room for n completions: 0 and *out, or a
 * negative code (nothing changed). */
static int sock_for(dx_io *io, int fd, size_t n, struct ic_sock **out)
{
	struct ic_sock *k;
	int rc = ic_sock_get(io, sock_of(fd), &k);
	if (rc < 0)
		return rc;
	if ((rc = ic_sock_bind(io, &k)) < 0 || (rc = ic_ring_room(io, n)) < 0) {
		if (k) /* NULL: the bind dropped the old entry, made none */
			ic_sock_check(io, k);
		return rc;
	}
	*out = k;
	return 0;
}

int ic_recv(dx_io *io, int fd, uint64_t udata)
{
	struct ic_sock *k;
	int rc = sock_for(io, fd, 2, &k);
	if (rc < 0)
		return rc;
	if (k->recv_armed)
		return -EALREADY;
	k->recv_armed = true;
	k->recv_udata = udata;
	io->queued++;
	if (!k->recv_op.busy)
		recv_post(io, k);
	ic_sock_check(io, k); /* the post failed: its end is posted */
	return 0;
}

/* Bytes are there: one recv() into a free buffer (one only: the socket
 * may be blocking; a full buffer says more may wait, and the next
 * zero-byte read then completes at once, after the other sockets'
 * packets: fair). */
void ic_recv_done(dx_io *io, struct ic_sock *k)
{
	size_t n;
	int rc = ov_outcome(k->s, &k->recv_op, &n);
	if (!k->recv_armed) {
		if (k->recv_cancel_due) { /* detached: its end is now */
			k->recv_cancel_due = false;
			ic_post(io, DX_IO_RECV, -ECANCELED, k->recv_udata, 0);
		}
		ic_sock_check(io, k);
		return;
	}
	if (rc < 0) {
		recv_end(io, k, rc);
	} else if (!io->nfree) {
		recv_end(io, k, -ENOBUFS);
	} else if (ic_ring_room(io, 2) < 0) {
		/* No room for the bytes and the recv's end: read nothing
		 * (bytes read and then lost would corrupt the stream) and
		 * end the recv; its end may be lost too (logged). */
		recv_end(io, k, -ENOMEM);
	} else {
		uint16_t b = io->free_ids[--io->nfree];
		int got = recv(k->s, (char *)io->bufs + (size_t)b * io->buf_size,
			       (int)io->buf_size, 0);
		int e = got < 0 ? WSAGetLastError() : 0;
		if (got > 0) {
			ic_post_data(io, got, k->recv_udata, DX_IO_F_MORE, b);
			recv_post(io, k);
		} else {
			io->free_ids[io->nfree++] = b;
			if (e == WSAEWOULDBLOCK)
				recv_post(io, k); /* nothing after all */
			else
				recv_end(io, k, got == 0 ? 0 : -ic_errno((DWORD)e));
		}
	}
	ic_sock_check(io, k);
}

/* ---- send ---- */

static struct ic_send *send_new(dx_io *io)
{
	struct ic_send *q = io->spare;
	if (q)
		io->spare = q->next;
	else
		q = malloc(sizeof *q);
	return q;
}

void ic_send_free(dx_io *io, struct ic_send *q)
{
	q->next = io->spare;
	io->spare = q;
}

/* Complete the head with result and drop it. */
static void send_pop(dx_io *io, struct ic_sock *k, int32_t result)
{
	struct ic_send *q = k->sq_head;
	k->sq_head = q->next;
	if (!k->sq_head)
		k->sq_tail = NULL;
	ic_post(io, DX_IO_SEND, result, q->udata, 0);
	ic_send_free(io, q);
}

/* End the head with what went out, and everything behind it with err. */
static void send_fail(dx_io *io, struct ic_sock *k, int err)
{
	size_t off = k->sq_head->off;
	send_pop(io, k, off ? (int32_t)off : err);
	while (k->sq_head)
		send_pop(io, k, err);
}

/* Put the head's next piece in flight (empty sends complete at once). */
static void send_post(dx_io *io, struct ic_sock *k)
{
	while (k->sq_head && k->sq_head->off == k->sq_head->len)
		send_pop(io, k, (int32_t)k->sq_head->len);
	struct ic_send *q = k->sq_head;
	if (!q)
		return;
	int rc = ic_ov_prepare(&k->send_op, IC_OP_SEND, k->foreign, io->port);
	if (rc < 0) {
		send_fail(io, k, rc);
		return;
	}
	size_t n = q->len - q->off;
	WSABUF wb = {.len = (ULONG)(n > IC_SEND_CHUNK ? IC_SEND_CHUNK : n),
		     .buf = (char *)(uintptr_t)(q->buf + q->off)};
	if (WSASend(k->s, &wb, 1, NULL, 0, &k->send_op.ov, NULL) != 0 &&
	    WSAGetLastError() != WSA_IO_PENDING) {
		rc = -ic_errno((DWORD)WSAGetLastError());
		ic_ov_unprepare(&k->send_op);
		send_fail(io, k, rc);
		return;
	}
	io->busy++;
	if (ic_ov_issued(&k->send_op, (HANDLE)k->s) < 0)
		io->host->log(io->host, DX_LOG_WARN,
			      "worker %d: a thread-pool wait failed; the "
			      "send was cancelled",
			      io->worker);
}

int ic_send(dx_io *io, int fd, const void *buf, size_t len, uint64_t udata,
	    uint32_t flags)
{
	(void)flags; /* SEND_ZC: a hint; SEND_MORE: no Windows equivalent */
	if (len > INT32_MAX)
		return -EINVAL; /* the result must fit */
	struct ic_sock *k;
	int rc = sock_for(io, fd, 1, &k);
	if (rc < 0)
		return rc;
	struct ic_send *q = send_new(io);
	if (!q) {
		ic_sock_check(io, k);
		return -ENOMEM;
	}
	*q = (struct ic_send){.buf = buf, .len = len, .udata = udata};
	if (k->sq_tail)
		k->sq_tail->next = q;
	else
		k->sq_head = q;
	k->sq_tail = q;
	io->queued++;
	if (!k->send_op.busy)
		send_post(io, k);
	ic_sock_check(io, k); /* the post failed: its end is posted */
	return 0;
}

void ic_send_done(dx_io *io, struct ic_sock *k)
{
	size_t n;
	int rc = ov_outcome(k->s, &k->send_op, &n);
	struct ic_send *q = k->sq_head;
	if (!q) {
		ic_sock_check(io, k); /* destroy emptied the queue */
		return;
	}
	q->off += n;
	/* Detached while in flight, or destroy cancelled it: a chunk
	 * that completed before the cancel must not post the next. */
	bool cancelled = !k->in_table || io->closing;
	if (rc == 0 && n == 0 && q->off < q->len)
		rc = -EPIPE; /* no progress: nothing more will go */
	if (rc < 0)
		send_fail(io, k, rc);
	else if (cancelled && q->off < q->len)
		send_fail(io, k, -ECANCELED);
	else if (!cancelled)
		send_post(io, k); /* the rest, or the next send */
	else
		send_pop(io, k, (int32_t)q->len);
	ic_sock_check(io, k);
}

/* ---- detach ---- */

void ic_rw_cancel(struct ic_sock *k)
{
	if (k->recv_op.busy)
		CancelIoEx((HANDLE)k->s, &k->recv_op.ov);
	if (k->send_op.busy)
		CancelIoEx((HANDLE)k->s, &k->send_op.ov);
}

int ic_detach(dx_io *io, int fd)
{
	SOCKET s = sock_of(fd);
	if (s == INVALID_SOCKET)
		return -EBADF;
	struct ic_sock *k = ic_sock_find(io, s);
	if (!k)
		return 0;
	/* One completion per armed operation, and each queued send. */
	size_t need = 3;
	for (struct ic_send *q = k->sq_head; q; q = q->next)
		need++;
	if (ic_ring_room(io, need) < 0)
		return -ENOMEM; /* nothing cancelled */
	if (k->acc_armed)
		ic_accept_detach(io, k);
	if (k->poll_armed)
		ic_poll_cancel(io, k);
	if (k->recv_armed && k->recv_op.busy) {
		/* Its end when the cancelled read comes back (see top). */
		k->recv_armed = false;
		k->recv_cancel_due = true;
	} else if (k->recv_armed) {
		recv_end(io, k, -ECANCELED);
	}
	/* Behind the head: never started. */
	if (k->sq_head) {
		struct ic_send *q = k->sq_head->next;
		k->sq_head->next = NULL;
		k->sq_tail = k->sq_head;
		while (q) {
			struct ic_send *next = q->next;
			ic_post(io, DX_IO_SEND, -ECANCELED, q->udata, 0);
			ic_send_free(io, q);
			q = next;
		}
		if (!k->send_op.busy)
			send_fail(io, k, -ECANCELED);
	}
	ic_rw_cancel(k);
	ic_sock_unlink(io, k);
	ic_sock_check(io, k);
	io->queued++;
	return 0;
}
