/* io_iocp - the IO facet (dx/io.h, docs/architecture.md s8) over Windows
 * I/O completion ports: true completions (DX_IO_CAP_NATIVE), one port
 * per instance, GetQueuedCompletionStatusEx in batches.
 *
 * Operations start when they are queued (dx/io.h allows it); submit()
 * re-issues the polls that fired. Completions go into a ring in the
 * instance, which wait() hands out up to max per call; the ring grows,
 * so nothing is dropped (room is reserved where the call can say
 * -ENOMEM).
 *
 *   accept  AcceptEx, pre-posted by the plugin's acceptor (iocp_accept.c:
 *           its own port and thread, shared by the instances, which all
 *           arm the same listening socket on Windows), handed round-robin
 *           to the instances that armed it. Multishot.
 *   recv    a zero-byte WSARecv, then recv() into a lent buffer,
 *           re-posted while armed (multishot); -ENOBUFS while the host
 *           holds every buffer (iocp_rw.c).
 *   send    WSASend, in order per socket, a completion for len once every
 *           byte is out (iocp_rw.c).
 *   poll    IOCTL_AFD_POLL on a helper socket, so the polled socket (a
 *           foreign one, libpq's) is never tied to our port
 *           (iocp_poll.c).
 *   timeout libdx's timer heap; its earliest deadline is the dequeue's
 *           timeout (iocp_core.c).
 *   detach  CancelIoEx per operation: -ECANCELED, or a cancelled send's
 *           byte count; the socket may then be armed on another instance
 *           (iocp_sock.c says how a socket, bound to one port for life,
 *           gets there).
 *   wake    PostQueuedCompletionStatus, any thread; several before a wait
 *           give one DX_IO_WAKE.
 *
 * Semantics chosen where dx/io.h leaves room, as io_epoll's: one accept,
 * recv and poll armed per socket (-EALREADY for a second); sends queue
 * without limit; DX_IO_SEND_ZC is a hint and ignored (no NOTIF follows);
 * timeouts sharing a udata are allowed; timeout_cancel returns -ENOENT
 * when none is armed; destroy() closes the sockets of accept completions
 * nobody reaped. Sockets are SOCKET values cast to int, as everywhere in
 * dx on Windows (sdk/src/sock.h).
 *
 * Threads: an instance is its worker's; wake() is any thread's; the
 * acceptor has a thread of its own (iocp_accept.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocp.h"

/* ---- instances ---- */

static void ic_destroy(dx_io *io)
{
	if (!io)
		return;
	/* First: a send chunk that completed before its cancel must not
	 * post the next one (ic_send_done). */
	io->closing = true;
	if (io->port) {
		/* Disarm and cancel everything; the packets come back
		 * before the memory they name goes. */
		for (size_t i = 0; i < io->tab_cap; i++) {
			struct ic_sock *k = io->tab[i];
			if (!k)
				continue;
			if (k->acc_armed)
				ic_accept_detach(io, k);
			k->recv_armed = k->poll_armed = false;
			ic_rw_cancel(k);
			if (k->poll_op.busy)
				CancelIoEx((HANDLE)k->poll_h, &k->poll_op.ov);
		}
		ic_drain(io);
		/* Handoffs the acceptor posted before we left it go back. */
		OVERLAPPED_ENTRY e;
		ULONG n = 0;
		while (GetQueuedCompletionStatusEx(io->port, &e, 1, &n, 0,
						   FALSE) &&
		       n == 1)
			if (e.lpCompletionKey == IC_KEY_HANDOFF)
				ic_accept_handoff(io, e.lpOverlapped);
	}
	ic_accept_release(io);
	/* Accepted sockets nobody reaped. */
	for (size_t i = 0; i < io->ring_len; i++) {
		const dx_io_cqe *c = &io->ring[(io->ring_head + i) %
					       io->ring_cap];
		if (c->op == DX_IO_ACCEPT && c->result >= 0)
			closesocket((SOCKET)(intptr_t)c->result);
	}
	if (!io->busy) /* else leaked: ic_drain said so */
		ic_sock_free_all(io);
	ic_poll_free(io);
	if (io->port)
		CloseHandle(io->port);
	ic_core_free(io);
	free(io);
}

static int ic_create(void *self, const dx_io_params *params, dx_io **out)
{
	struct plugin *pl = self;
	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->pl = pl;
	io->host = pl->host;
	io->worker = params->worker;
	io->poll_helper[0] = io->poll_helper[1] = INVALID_SOCKET;
	io->serial = ic_serial_new();
	int rc = ic_core_init(io, params);
	if (rc < 0) {
		ic_destroy(io);
		return rc;
	}
	io->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (!io->port) {
		rc = -ic_errno(GetLastError());
		ic_destroy(io);
		return rc;
	}
	pl->host->log(pl->host, DX_LOG_DEBUG,
		      "worker %d: completion port, %u buffers of %u bytes",
		      io->worker, io->buf_count, io->buf_size);
	*out = io;
	return 0;
}

/* ---- the plugin ---- */

/* Whether the machinery works here, the reason in why: Winsock, a port,
 * AcceptEx, and a socket on the port. */
static int ic_probe(void *self, char *why, size_t why_len)
{
	(void)self;
	const char *what = NULL;
	DWORD err = 0;
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	SOCKET s = INVALID_SOCKET;
	if (!port) {
		what = "CreateIoCompletionPort";
		err = GetLastError();
	} else if ((s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
				   WSA_FLAG_OVERLAPPED |
					   WSA_FLAG_NO_HANDLE_INHERIT)) ==
		   INVALID_SOCKET) {
		what = "WSASocket";
		err = (DWORD)WSAGetLastError();
	} else {
		GUID guid = WSAID_ACCEPTEX;
		LPFN_ACCEPTEX fn = NULL;
		DWORD n = 0;
		if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid,
			     sizeof guid, &fn, sizeof fn, &n, NULL, NULL)) {
			what = "WSAIoctl(AcceptEx)";
			err = (DWORD)WSAGetLastError();
		} else if (!CreateIoCompletionPort((HANDLE)s, port, IC_KEY_IO,
						   0)) {
			what = "CreateIoCompletionPort(socket)";
			err = GetLastError();
		}
	}
	if (s != INVALID_SOCKET)
		closesocket(s);
	if (port)
		CloseHandle(port);
	if (!what)
		return 0;
	int rc = -ic_errno(err);
	if (why && why_len)
		snprintf(why, why_len, "%s: Windows error %lu (%s)", what,
			 (unsigned long)err, strerror(-rc));
	return rc;
}

static int ic_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	static const char *const keys[] = {NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	WSADATA wsa;
	int e = WSAStartup(MAKEWORD(2, 2), &wsa);
	if (e)
		return host->fail(host, -ic_errno((DWORD)e),
				  "WSAStartup: Windows error %d", e);
	struct plugin *pl = calloc(1, sizeof *pl);
	if (!pl) {
		WSACleanup();
		return host->fail(host, -ENOMEM, "out of memory");
	}
	pl->host = host;
	InitializeSRWLock(&pl->lock);
	InitializeConditionVariable(&pl->acc_stopped);
	ic_clock_init();
	ic_registry_ref();
	host->log(host, DX_LOG_DEBUG,
		  "moving a socket between ports: %s",
		  ic_can_replace() ? "FileReplaceCompletionInformation" :
				     "not available here (wine): a moved "
				     "socket's operations are event-signalled");
	*self = pl;
	return 0;
}

static void ic_fini(void *self)
{
	struct plugin *pl = self;
	ic_acceptor_fini(pl);
	ic_registry_unref();
	free(pl);
	WSACleanup();
}

static const dx_io_vtable ic_vtable = {
	.size = sizeof(dx_io_vtable),
	/* Multishot by re-posting; no SEND_ZC or SQPOLL. */
	.caps = DX_IO_CAP_MULTISHOT_ACCEPT | DX_IO_CAP_MULTISHOT_RECV |
		DX_IO_CAP_NATIVE,
	.probe = ic_probe,
	.create = ic_create,
	.destroy = ic_destroy,
	.accept = ic_accept,
	.recv = ic_recv,
	.send = ic_send,
	.poll = ic_poll,
	.timeout = ic_timeout,
	.timeout_cancel = ic_timeout_cancel,
	.detach = ic_detach,
	.submit = ic_submit,
	.wait = ic_wait,
	.buf_release = ic_buf_release,
	.wake = ic_wake,
};

static const dx_facet ic_facets[] = {
	{DX_FACET_IO, "iocp", &ic_vtable},
};

DX_PLUGIN(.name = "io_iocp", .version = "1.0.0",
	  .description = "completion I/O over Windows I/O completion ports",
	  DX_FACETS(ic_facets), .init = ic_init, .fini = ic_fini)
