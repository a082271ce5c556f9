/* iocp_poll.c - poll: readiness of a socket the host does not run through
 * this backend (libpq's, for db_teleport), over IOCTL_AFD_POLL.
 *
 * Why AFD poll. The socket is someone else's: it must not be tied to our
 * port (a socket has one port for life, and its owner may want one, or
 * do blocking calls), nor switched to non-blocking or event mode behind
 * its owner's back (WSAEventSelect does both and holds 64 handles per
 * wait). A zero-byte WSARecv would need the port and gives POLLIN only.
 * IOCTL_AFD_POLL, sent to a helper socket of our own that is on our port,
 * names the polled socket in its input and completes on our port when any
 * of POLLIN, POLLOUT, hang-up or error holds: what libuv, wepoll and
 * Rust's mio do. The ioctl is not documented by Microsoft; wine implements
 * it (its select and WSAPoll are built on it) and under wine 8 it reports
 * receive, send, disconnect and local close, and cancels with
 * CancelIoEx.
 *
 * Multishot: each completion with events is posted with DX_IO_F_MORE and
 * the ioctl is sent again at the next submit() (wait() submits), not at
 * once: a socket that stays ready would otherwise complete again before
 * the host read it. So poll is edge-like where the host consumes to
 * EAGAIN before waiting, as dx/io.h asks, and repeats while the socket
 * stays ready otherwise (as epoll's may). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "iocp.h"

#define IOCTL_AFD_POLL 0x00012024
#define AFD_POLL_RECEIVE 0x0001
#define AFD_POLL_SEND 0x0004
#define AFD_POLL_DISCONNECT 0x0008
#define AFD_POLL_ABORT 0x0010
#define AFD_POLL_LOCAL_CLOSE 0x0020
#define AFD_POLL_ACCEPT 0x0080
#define AFD_POLL_CONNECT_FAIL 0x0100

static ULONG afd_events(uint32_t events)
{
	ULONG e = AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE | AFD_POLL_CONNECT_FAIL;
	if (events & DX_IO_POLLIN)
		e |= AFD_POLL_RECEIVE | AFD_POLL_ACCEPT | AFD_POLL_DISCONNECT;
	if (events & DX_IO_POLLOUT)
		e |= AFD_POLL_SEND;
	return e;
}

/* As poll(2) reports them: POLLIN and POLLOUT when asked, hang-up and
 * error always; a peer's shutdown reads as end of stream (POLLIN). */
static uint32_t revents_of(ULONG a, uint32_t events)
{
	uint32_t r = 0;
	if (a & (AFD_POLL_RECEIVE | AFD_POLL_ACCEPT | AFD_POLL_DISCONNECT))
		r |= DX_IO_POLLIN;
	if (a & AFD_POLL_SEND)
		r |= DX_IO_POLLOUT;
	r &= events;
	if (a & AFD_POLL_ABORT)
		r |= DX_IO_POLLHUP | DX_IO_POLLERR;
	if (a & AFD_POLL_CONNECT_FAIL)
		r |= DX_IO_POLLERR;
	return r;
}

/* The helper the ioctl goes to, for the polled socket's family. */
static int helper_for(dx_io *io, SOCKET s, SOCKET *out)
{
	WSAPROTOCOL_INFOW pi;
	int len = sizeof pi;
	int af = AF_INET;
	if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&pi,
		       &len) == 0)
		af = pi.iAddressFamily;
	else if (WSAGetLastError() == WSAENOTSOCK)
		return -EBADF;
	int i = af == AF_INET6 ? 1 : 0;
	if (io->poll_helper[i] == INVALID_SOCKET) {
		SOCKET h = WSASocketW(i ? AF_INET6 : AF_INET, SOCK_STREAM,
				      IPPROTO_TCP, NULL, 0,
				      WSA_FLAG_OVERLAPPED |
					      WSA_FLAG_NO_HANDLE_INHERIT);
		if (h == INVALID_SOCKET)
			return -ic_errno((DWORD)WSAGetLastError());
		if (!CreateIoCompletionPort((HANDLE)h, io->port, IC_KEY_IO,
					    0)) {
			int rc = -ic_errno(GetLastError());
			closesocket(h);
			return rc;
		}
		io->poll_helper[i] = h;
	}
	*out = io->poll_helper[i];
	return 0;
}

/* The socket the driver knows (below any layered provider). */
static SOCKET base_of(SOCKET s)
{
	SOCKET base = INVALID_SOCKET;
	DWORD n = 0;
	if (WSAIoctl(s, SIO_BASE_HANDLE, NULL, 0, &base, sizeof base, &n, NULL,
		     NULL) != 0 ||
	    base == INVALID_SOCKET)
		return s;
	return base;
}

static void poll_end(dx_io *io, struct ic_sock *k, int32_t result)
{
	k->poll_armed = false;
	ic_post(io, DX_IO_POLL, result, k->poll_udata, 0);
}

static void poll_issue(dx_io *io, struct ic_sock *k)
{
	SOCKET h;
	int rc = helper_for(io, k->s, &h);
	if (rc < 0) {
		poll_end(io, k, rc);
		return;
	}
	ic_ov_prepare(&k->poll_op, IC_OP_POLL, false, io->port);
	k->poll_h = h;
	k->poll_in = (struct ic_afd_poll){
		.timeout.QuadPart = INT64_MAX,
		.count = 1,
		.handle = (HANDLE)base_of(k->s),
		.events = afd_events(k->poll_events),
	};
	memset(&k->poll_out, 0, sizeof k->poll_out);
	if (!DeviceIoControl((HANDLE)h, IOCTL_AFD_POLL, &k->poll_in,
			     sizeof k->poll_in, &k->poll_out,
			     sizeof k->poll_out, NULL, &k->poll_op.ov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		rc = -ic_errno(GetLastError());
		ic_ov_unprepare(&k->poll_op);
		poll_end(io, k, rc);
		return;
	}
	io->busy++;
	ic_ov_issued(&k->poll_op, (HANDLE)h); /* never foreign */
}

int ic_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	struct ic_sock *k;
	int rc = ic_sock_get(io, (SOCKET)(intptr_t)fd, &k);
	if (rc < 0)
		return rc;
	if (k->poll_armed)
		return -EALREADY;
	if ((rc = ic_ring_room(io, 2)) < 0) {
		ic_sock_check(io, k);
		return rc;
	}
	k->poll_armed = true;
	k->poll_events = events;
	k->poll_udata = udata;
	io->queued++;
	if (!k->poll_op.busy)
		poll_issue(io, k);
	ic_sock_check(io, k);
	return 0;
}

void ic_poll_done(dx_io *io, struct ic_sock *k)
{
	if (!k->poll_armed) {
		ic_sock_check(io, k); /* cancelled: its end is posted */
		return;
	}
	NTSTATUS st = (NTSTATUS)k->poll_op.ov.Internal;
	if (st != 0) {
		poll_end(io, k, st == (NTSTATUS)IC_STATUS_CANCELLED ? -ECANCELED : -EIO);
	} else if (k->poll_out.events & AFD_POLL_LOCAL_CLOSE) {
		poll_end(io, k, -EBADF); /* the socket was closed */
	} else {
		uint32_t r = k->poll_out.count ?
				     revents_of(k->poll_out.events,
						k->poll_events) :
				     0;
		if (r)
			ic_post(io, DX_IO_POLL, (int32_t)r, k->poll_udata,
				DX_IO_F_MORE);
		if (!k->poll_rearm) {
			k->poll_rearm = true;
			k->rearm_next = io->rearm;
			io->rearm = k;
		}
	}
	ic_sock_check(io, k);
}

void ic_poll_rearm_all(dx_io *io)
{
	struct ic_sock *k = io->rearm;
	io->rearm = NULL;
	while (k) {
		struct ic_sock *next = k->rearm_next;
		k->rearm_next = NULL;
		k->poll_rearm = false;
		if (k->poll_armed && !k->poll_op.busy)
			poll_issue(io, k);
		ic_sock_check(io, k);
		k = next;
	}
}

void ic_poll_cancel(dx_io *io, struct ic_sock *k)
{
	poll_end(io, k, -ECANCELED);
	if (k->poll_op.busy)
		CancelIoEx((HANDLE)k->poll_h, &k->poll_op.ov);
	if (k->poll_rearm) {
		struct ic_sock **p = &io->rearm;
		while (*p != k)
			p = &(*p)->rearm_next;
		*p = k->rearm_next;
		k->rearm_next = NULL;
		k->poll_rearm = false;
	}
}

void ic_poll_free(dx_io *io)
{
	for (int i = 0; i < 2; i++)
		if (io->poll_helper[i] != INVALID_SOCKET)
			closesocket(io->poll_helper[i]);
}
