/* iocp_accept.c - accept: one acceptor per plugin, shared by its
 * instances.
 *
 * Why. On Windows the host's workers share one listening socket (there
 * is no SO_REUSEPORT balancing): every instance arms accept on the same
 * SOCKET. AcceptEx completions go to the listening socket's port, and a
 * socket has one port for life, so no instance's own port can take them
 * for all. The acceptor is the one place they go: its own port and
 * thread, IC_ACCEPT_POSTS AcceptEx pre-posted per listening socket while
 * any instance has accept armed on it, and each accepted socket handed
 * to the next of those instances in turn (round-robin) with
 * PostQueuedCompletionStatus on the instance's port (IC_KEY_HANDOFF). One
 * thread hop per connection, none per byte; a busy worker does not hold
 * back accepts for the others; the accepted socket is on no port, so the
 * instance that gets it binds it to its own.
 *
 * When AcceptEx cannot be posted for want of sockets or memory, the
 * completions of those still out post again; a listener left with none
 * out is tried again by the acceptor every ACCEPT_RETRY_MS until some
 * post (its wait is otherwise unbounded), as io_ready backs off.
 *
 * Accepted sockets: SO_UPDATE_ACCEPT_CONTEXT (so getpeername and
 * shutdown work), non-blocking (FIONBIO) and not inheritable
 * (WSA_FLAG_NO_HANDLE_INHERIT), as dx/io.h promises.
 *
 * When the last instance disarms a listening socket (detach, destroy),
 * its AcceptEx are cancelled and the socket is as it was (a plain
 * accept() works on it). A connection accepted with no instance armed
 * (one that completed before its cancel, or a handoff that reached an
 * instance which disarmed since and found no other) is reset at once
 * (drop_accepted): kept, it would hang its client, neither served nor
 * refused, for as long as the listener is gone (a listener removed by
 * `dx ctl apply`, a drain); Linux resets a closed listener's backlog the
 * same way. A handoff that reaches an instance which no longer has
 * accept armed goes back to the acceptor for another.
 *
 * Lifetime: made by the first accept() of any instance, reference-counted
 * by the instances that armed one, stopped (thread joined, port closed)
 * with the last of them. A listening socket stays on the port of the
 * acceptor that first took it: a later acceptor binds it through
 * ic_bind, foreign if need be (iocp_sock.c).
 *
 * Threads: struct acceptor's state under its lock (any instance's thread
 * and the acceptor's); struct plugin's acc and acc_refs under pl->lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iocp.h"

#define ADDR_LEN (sizeof(SOCKADDR_STORAGE) + 16)
/* How long a listener with no AcceptEx posted (out of sockets or memory)
 * waits before the acceptor tries again: io_ready's RD_ACCEPT_BACKOFF_MS
 * is 50, this is the same order. */
#define ACCEPT_RETRY_MS 100

struct ic_listener;

struct acc_op {
	struct ic_ov o; /* first: the OVERLAPPED is the op */
	struct ic_listener *l;
	uint64_t gen; /* l's when posted */
	SOCKET as;
	char addr[2 * ADDR_LEN];
};

struct ic_listener {
	struct ic_listener *next;
	SOCKET s;
	int family, protocol; /* for AcceptEx's sockets */
	/* Which listening socket s names: a new generation when learning
	 * finds another address (the number reused by another socket);
	 * AcceptEx and handoffs of an older one are not this one's. */
	uint64_t gen;
	SOCKADDR_STORAGE addr; /* s's local address when learnt */
	int addr_len;
	bool foreign;
	LPFN_ACCEPTEX acceptex;
	struct acc_op ops[IC_ACCEPT_POSTS];
	unsigned posted;
	dx_io **subs; /* instances with accept armed on s */
	size_t nsubs, subs_cap, rr;
	int err; /* AcceptEx could not be posted: ends the accepts */
};

struct acceptor {
	SRWLOCK lock;
	const dx_host_api *host;
	HANDLE port, thread;
	uint64_t serial;
	struct ic_listener *list;
	uint64_t gens; /* the last ic_listener.gen given */
	bool stopping;
};

/* What an instance's port receives: a socket, or why accept ended. */
struct handoff {
	OVERLAPPED ov; /* first */
	SOCKET s;
	SOCKET listen;
	uint64_t gen; /* the listener's when posted */
	int err;
};

/* ---- the acceptor's side (under acc->lock) ---- */

static struct ic_listener *find_listener(struct acceptor *acc, SOCKET s)
{
	for (struct ic_listener *l = acc->list; l; l = l->next)
		if (l->s == s)
			return l;
	return NULL;
}

/* Hand s (or err) to io: false if the packet could not be posted. */
static bool hand_to(dx_io *io, struct ic_listener *l, SOCKET s, int err)
{
	struct handoff *h = calloc(1, sizeof *h);
	if (!h)
		return false;
	h->s = s;
	h->listen = l->s;
	h->gen = l->gen;
	h->err = err;
	if (!PostQueuedCompletionStatus(io->port, 0, IC_KEY_HANDOFF, &h->ov)) {
		free(h);
		return false;
	}
	return true;
}

/* An accepted connection nobody will serve: reset (linger 0), so its
 * client hears at once, as from a closed listener's backlog on Linux. */
static void drop_accepted(SOCKET s)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg);
	closesocket(s);
}

/* An accepted socket: to the next instance, or dropped when none has
 * accept armed. */
static void deliver(struct ic_listener *l, SOCKET s)
{
	for (size_t tries = 0; tries < l->nsubs; tries++) {
		dx_io *io = l->subs[l->rr++ % l->nsubs];
		if (hand_to(io, l, s, 0))
			return;
	}
	drop_accepted(s);
}

/* Post AcceptEx on every idle op while anyone wants connections. */
static void post_accepts(struct acceptor *acc, struct ic_listener *l)
{
	for (unsigned i = 0; i < IC_ACCEPT_POSTS; i++) {
		struct acc_op *op = &l->ops[i];
		if (op->o.busy || !l->nsubs || acc->stopping || l->err ||
		    l->posted >= IC_ACCEPT_POSTS)
			continue;
		op->l = l;
		op->gen = l->gen;
		op->as = WSASocketW(l->family, SOCK_STREAM, l->protocol, NULL,
				    0,
				    WSA_FLAG_OVERLAPPED |
					    WSA_FLAG_NO_HANDLE_INHERIT);
		int rc = op->as == INVALID_SOCKET ?
				 -ic_errno((DWORD)WSAGetLastError()) :
				 ic_ov_prepare(&op->o, IC_OP_ACCEPTEX,
					       l->foreign, acc->port);
		DWORD n = 0;
		if (rc == 0 &&
		    !l->acceptex(l->s, op->as, op->addr, 0, ADDR_LEN, ADDR_LEN,
				 &n, &op->o.ov) &&
		    WSAGetLastError() != ERROR_IO_PENDING) {
			rc = -ic_errno((DWORD)WSAGetLastError());
			ic_ov_unprepare(&op->o);
		}
		if (rc < 0) {
			if (op->as != INVALID_SOCKET)
				closesocket(op->as);
			op->as = INVALID_SOCKET;
			if (rc == -EMFILE || rc == -ENOBUFS || rc == -ENOMEM)
				break; /* out of resources: the next packet
					* tries again, or, with none posted,
					* the acceptor after ACCEPT_RETRY_MS */
			/* Not a listening socket (any more): every armed
			 * accept ends with the error. */
			l->err = rc;
			for (size_t j = 0; j < l->nsubs; j++)
				hand_to(l->subs[j], l, INVALID_SOCKET, rc);
			break;
		}
		l->posted++;
		if (ic_ov_issued(&op->o, (HANDLE)l->s) < 0)
			break; /* the pool is short of threads: no more */
	}
}

/* Cancel l's AcceptEx: nobody wants connections any more. */
static void cancel_accepts(struct ic_listener *l)
{
	for (unsigned i = 0; i < IC_ACCEPT_POSTS; i++)
		if (l->ops[i].o.busy)
			CancelIoEx((HANDLE)l->s, &l->ops[i].o.ov);
}

/* Free l once nothing refers to it. */
static void listener_check(struct acceptor *acc, struct ic_listener *l)
{
	if (l->posted || (!acc->stopping && l->nsubs))
		return;
	struct ic_listener **p = &acc->list;
	while (*p != l)
		p = &(*p)->next;
	*p = l->next;
	for (unsigned i = 0; i < IC_ACCEPT_POSTS; i++)
		ic_ov_free(&l->ops[i].o);
	free(l->subs);
	free(l);
}

static void accept_done(struct acceptor *acc, struct acc_op *op)
{
	struct ic_listener *l = op->l;
	ic_ov_done(&op->o);
	l->posted--;
	DWORD n = 0, flags = 0;
	SOCKET as = op->as;
	op->as = INVALID_SOCKET;
	if (op->gen != l->gen) {
		/* Posted on the socket l->s named before it was learnt
		 * again (closed, the number reused): not the new one's. */
		if (as != INVALID_SOCKET)
			drop_accepted(as);
	} else if (WSAGetOverlappedResult(l->s, &op->o.ov, &n, FALSE,
					  &flags) &&
	    setsockopt(as, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
		       (const char *)&l->s, sizeof l->s) == 0) {
		u_long nb = 1;
		ioctlsocket(as, FIONBIO, &nb);
		deliver(l, as);
	} else {
		/* Cancelled, or the client gave up before we took it (a
		 * reset): nothing for the host. */
		closesocket(as);
	}
	post_accepts(acc, l);
	listener_check(acc, l);
}

/* A listener wanted but with no AcceptEx out (a shortage stopped
 * post_accepts): no packet will come back to post more. */
static bool starved(const struct acceptor *acc, const struct ic_listener *l)
{
	return l->nsubs && !l->posted && !l->err && !acc->stopping;
}

static DWORD WINAPI acceptor_main(LPVOID arg)
{
	struct acceptor *acc = arg;
	OVERLAPPED_ENTRY ents[64];
	DWORD ms = INFINITE;
	for (;;) {
		ULONG n = 0;
		if (!GetQueuedCompletionStatusEx(acc->port, ents, 64, &n, ms,
						 FALSE))
			n = 0; /* the timeout: try the starved again */
		AcquireSRWLockExclusive(&acc->lock);
		for (ULONG i = 0; i < n; i++) {
			if (ents[i].lpCompletionKey == IC_KEY_STOP) {
				acc->stopping = true;
				for (struct ic_listener *l = acc->list; l;
				     l = l->next)
					cancel_accepts(l);
			} else if (ents[i].lpOverlapped) {
				accept_done(acc,
					    (struct acc_op *)ents[i].lpOverlapped);
			}
		}
		/* Listeners that were waiting only for their AcceptEx. */
		ms = INFINITE;
		for (struct ic_listener *l = acc->list, *next; l; l = next) {
			next = l->next;
			if (starved(acc, l))
				post_accepts(acc, l);
			if (starved(acc, l))
				ms = ACCEPT_RETRY_MS;
			listener_check(acc, l);
		}
		bool done = acc->stopping && !acc->list;
		ReleaseSRWLockExclusive(&acc->lock);
		if (done)
			return 0;
	}
}

static struct acceptor *acceptor_new(const dx_host_api *host)
{
	struct acceptor *acc = calloc(1, sizeof *acc);
	if (!acc)
		return NULL;
	InitializeSRWLock(&acc->lock);
	acc->host = host;
	acc->serial = ic_serial_new();
	acc->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (acc->port)
		acc->thread = CreateThread(NULL, 0, acceptor_main, acc, 0,
					   NULL);
	if (!acc->thread) {
		if (acc->port)
			CloseHandle(acc->port);
		free(acc);
		return NULL;
	}
	return acc;
}

static void acceptor_stop(struct acceptor *acc)
{
	PostQueuedCompletionStatus(acc->port, 0, IC_KEY_STOP, NULL);
	WaitForSingleObject(acc->thread, INFINITE);
	CloseHandle(acc->thread);
	CloseHandle(acc->port);
	free(acc);
}

/* What AcceptEx needs to know of l->s, asked afresh whenever the number
 * may name a new socket: its family and protocol (AF_UNIX wants 0, not
 * IPPROTO_TCP) and its provider's AcceptEx; then bound to acc's port. */
static int listener_learn(struct acceptor *acc, struct ic_listener *l)
{
	WSAPROTOCOL_INFOW pi;
	int len = sizeof pi;
	if (getsockopt(l->s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&pi, &len))
		return -ic_errno((DWORD)WSAGetLastError());
	l->family = pi.iAddressFamily;
	l->protocol = pi.iProtocol;
	SOCKADDR_STORAGE addr;
	int addr_len = sizeof addr;
	if (getsockname(l->s, (struct sockaddr *)&addr, &addr_len))
		return -ic_errno((DWORD)WSAGetLastError());
	if (!l->gen || addr_len != l->addr_len ||
	    memcmp(&addr, &l->addr, (size_t)addr_len) != 0) {
		/* Not the socket it was (or the first time): what is in
		 * flight for the old one stays the old one's. The same
		 * address again (the same socket re-armed) keeps them. */
		l->gen = ++acc->gens;
		l->addr = addr;
		l->addr_len = addr_len;
	}
	GUID guid = WSAID_ACCEPTEX;
	DWORD n = 0;
	if (WSAIoctl(l->s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid,
		     sizeof guid, &l->acceptex, sizeof l->acceptex, &n, NULL,
		     NULL) != 0)
		return -ic_errno((DWORD)WSAGetLastError());
	return ic_bind(acc->port, acc->serial, l->s, &l->foreign);
}

/* A new listener for s, bound to the acceptor's port. */
static int listener_new(struct acceptor *acc, SOCKET s,
			struct ic_listener **out)
{
	struct ic_listener *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->s = s;
	int rc = listener_learn(acc, l);
	if (rc < 0) {
		free(l);
		return rc;
	}
	for (unsigned i = 0; i < IC_ACCEPT_POSTS; i++)
		l->ops[i].as = INVALID_SOCKET;
	l->next = acc->list;
	acc->list = l;
	*out = l;
	return 0;
}

/* ---- the instances' side ---- */

/* io's reference on the plugin's acceptor, taken once. */
static struct acceptor *acceptor_ref(dx_io *io)
{
	struct plugin *pl = io->pl;
	AcquireSRWLockExclusive(&pl->lock);
	/* An old acceptor still stopping may have AcceptEx out on the
	 * listening sockets a new one would take: wait it out. */
	while (pl->acc_stopping)
		SleepConditionVariableSRW(&pl->acc_stopped, &pl->lock,
					  INFINITE, 0);
	if (!pl->acc)
		pl->acc = acceptor_new(pl->host);
	if (pl->acc && !io->acceptor_ref) {
		io->acceptor_ref = true;
		pl->acc_refs++;
	}
	struct acceptor *acc = pl->acc;
	ReleaseSRWLockExclusive(&pl->lock);
	return acc;
}

int ic_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	SOCKET s = (SOCKET)(intptr_t)listen_fd;
	struct ic_sock *k;
	uint64_t gen = 0;
	int rc = ic_sock_get(io, s, &k);
	if (rc < 0)
		return rc;
	if (k->acc_armed)
		return -EALREADY;
	struct acceptor *acc = acceptor_ref(io);
	if (!acc || ic_ring_room(io, 1) < 0) {
		ic_sock_check(io, k);
		return -ENOMEM;
	}
	AcquireSRWLockExclusive(&acc->lock);
	struct ic_listener *l = find_listener(acc, s);
	if (!l && (rc = listener_new(acc, s, &l)) < 0)
		goto out;
	if (l->nsubs == l->subs_cap) {
		size_t cap = l->subs_cap ? l->subs_cap * 2 : 4;
		dx_io **subs = realloc(l->subs, cap * sizeof *subs);
		if (!subs) {
			rc = -ENOMEM;
			listener_check(acc, l);
			goto out;
		}
		l->subs = subs;
		l->subs_cap = cap;
	}
	if (!l->nsubs && (rc = listener_learn(acc, l)) < 0) {
		/* Idle since its last subscriber left: the number may name
		 * a new socket (closed and made again, of another family),
		 * so learn it afresh, even with the old socket's cancelled
		 * AcceptEx still on their way back (they end in
		 * accept_done, which drops what they took). */
		listener_check(acc, l);
		goto out;
	}
	l->subs[l->nsubs++] = io;
	l->err = 0; /* try again: it may listen now */
	gen = l->gen;
	post_accepts(acc, l);
	if (starved(acc, l)) /* the acceptor's wait is INFINITE: shorten it */
		PostQueuedCompletionStatus(acc->port, 0, IC_KEY_WAKE, NULL);
out:
	ReleaseSRWLockExclusive(&acc->lock);
	if (rc < 0) {
		ic_sock_check(io, k);
		return rc;
	}
	k->acc_armed = true;
	k->acc_udata = udata;
	k->acc_gen = gen;
	io->queued++;
	return 0;
}

/* Take io off k's listener. */
static void unsubscribe(dx_io *io, SOCKET s)
{
	struct acceptor *acc = io->pl->acc; /* io holds a reference */
	AcquireSRWLockExclusive(&acc->lock);
	struct ic_listener *l = find_listener(acc, s);
	if (l) {
		for (size_t i = 0; i < l->nsubs; i++)
			if (l->subs[i] == io) {
				l->subs[i] = l->subs[--l->nsubs];
				break;
			}
		if (!l->nsubs)
			cancel_accepts(l);
		listener_check(acc, l);
	}
	ReleaseSRWLockExclusive(&acc->lock);
}

void ic_accept_detach(dx_io *io, struct ic_sock *k)
{
	unsubscribe(io, k->s);
	k->acc_armed = false;
	ic_post(io, DX_IO_ACCEPT, -ECANCELED, k->acc_udata, 0);
}

void ic_accept_handoff(dx_io *io, OVERLAPPED *ov)
{
	struct handoff *h = (struct handoff *)ov;
	struct ic_sock *k = ic_sock_find(io, h->listen);
	/* The number alone may name a newer listening socket now (the old
	 * one closed, its number reused): its generation says. */
	if (k && k->acc_armed && k->acc_gen == h->gen) {
		if (h->err) {
			unsubscribe(io, k->s);
			k->acc_armed = false;
			ic_post(io, DX_IO_ACCEPT, h->err, k->acc_udata, 0);
			ic_sock_check(io, k);
		} else if (ic_ring_room(io, 1) < 0) {
			/* Lost, the socket would leak: its client hears. */
			io->host->log(io->host, DX_LOG_ERROR,
				      "worker %d: out of memory: an accepted "
				      "connection is reset",
				      io->worker);
			drop_accepted(h->s);
		} else {
			ic_post(io, DX_IO_ACCEPT, (int32_t)h->s, k->acc_udata,
				DX_IO_F_MORE);
		}
	} else if (h->s != INVALID_SOCKET) {
		/* Disarmed since: back for another instance. */
		struct acceptor *acc = io->pl->acc;
		AcquireSRWLockExclusive(&acc->lock);
		struct ic_listener *l = find_listener(acc, h->listen);
		if (l && l->gen == h->gen)
			deliver(l, h->s);
		else
			drop_accepted(h->s);
		ReleaseSRWLockExclusive(&acc->lock);
	}
	free(h);
}

void ic_accept_release(dx_io *io)
{
	if (!io->acceptor_ref)
		return;
	struct plugin *pl = io->pl;
	struct acceptor *stop = NULL;
	AcquireSRWLockExclusive(&pl->lock);
	io->acceptor_ref = false;
	if (--pl->acc_refs == 0) {
		stop = pl->acc;
		pl->acc = NULL;
		pl->acc_stopping = true;
	}
	ReleaseSRWLockExclusive(&pl->lock);
	if (!stop)
		return;
	acceptor_stop(stop); /* joins its thread: not under pl->lock */
	AcquireSRWLockExclusive(&pl->lock);
	pl->acc_stopping = false;
	WakeAllConditionVariable(&pl->acc_stopped);
	ReleaseSRWLockExclusive(&pl->lock);
}

void ic_acceptor_fini(struct plugin *pl)
{
	if (pl->acc)
		acceptor_stop(pl->acc); /* an instance was never destroyed */
	pl->acc = NULL;
}
