/* iocp_sock.c - which completion port a socket belongs to, overlapped
 * records, the per-instance socket table, and Windows errors as errno.
 *
 * A socket belongs to one completion port for life (CreateIoCompletionPort
 * refuses a second with ERROR_INVALID_PARAMETER). The host runs one
 * instance (one port) per worker and may move a connection between
 * instances: detach on one, arm on another (tests/io's detach-and-move,
 * `dx ctl swap io`). ic_bind settles where a socket's completions go:
 *
 *   1. CreateIoCompletionPort succeeds: it is ours (native);
 *   2. it fails, and the registry below says this port took it before (an
 *      entry that went idle and came back): native;
 *   3. ntdll's NtSetInformationFile(FileReplaceCompletionInformation, 61;
 *      Windows 8.1 and later) moves it to this port: native;
 *   4. otherwise foreign: each operation is issued with the OVERLAPPED's
 *      hEvent low bit set, which keeps the packet off the other port, and
 *      a thread-pool wait on that event posts the OVERLAPPED to ours. One
 *      more thread hop per operation, only for moved sockets.
 *
 * Wine 8 answers FileReplaceCompletionInformation with
 * STATUS_NOT_IMPLEMENTED (checked: 0xc0000002 for a new port, for NULL
 * and with I/O pending), so under wine a moved socket runs foreign; wine
 * does honour the low bit and RegisterWaitForSingleObject. Step 3 is
 * Windows' documented behaviour, not checked here (no Windows machine).
 *
 * The registry is the DLL's: socket value -> the serial of the port that
 * associated it, set on every association this DLL makes. A value reused
 * by a new socket (closed, then a new one got the number) is fresh, so
 * step 1 succeeds and overwrites it; a stale entry can only mislead if a
 * socket associated outside this DLL reuses the number, which dx's host
 * never does (its sockets come from this backend's acceptor, or, for poll,
 * are never associated: iocp_poll.c). Any thread, under reg_lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winternl.h>

#include "iocp.h"

/* ---- errors ---- */

int ic_errno(DWORD err)
{
	switch (err) {
	case 0: return 0;
	case WSA_OPERATION_ABORTED: /* ERROR_OPERATION_ABORTED */
		return ECANCELED;
	case WSAEWOULDBLOCK: return EAGAIN;
	case WSAEINPROGRESS: return EINPROGRESS;
	case WSAEINTR: return EINTR;
	case WSAECONNRESET:
	case WSAENETRESET:
	case ERROR_NETNAME_DELETED: /* a reset seen by an overlapped call */
		return ECONNRESET;
	case WSAECONNREFUSED:
	case ERROR_CONNECTION_REFUSED: return ECONNREFUSED;
	case WSAECONNABORTED:
	case ERROR_CONNECTION_ABORTED:
	case ERROR_REQUEST_ABORTED: return ECONNABORTED;
	case WSAETIMEDOUT:
	case ERROR_SEM_TIMEOUT: return ETIMEDOUT;
	case WSAENETUNREACH:
	case ERROR_NETWORK_UNREACHABLE: return ENETUNREACH;
	case WSAEHOSTUNREACH:
	case ERROR_HOST_UNREACHABLE: return EHOSTUNREACH;
	case WSAENOTCONN:
	case WSAESHUTDOWN:
	case WSAEDISCON:
	case ERROR_BROKEN_PIPE: return EPIPE;
	case WSAEAFNOSUPPORT:
	case WSAEPFNOSUPPORT: return EAFNOSUPPORT;
	case WSAEADDRINUSE: return EADDRINUSE;
	case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
	case WSAEMFILE:
	case ERROR_TOO_MANY_OPEN_FILES: return EMFILE;
	case WSAENOBUFS: return ENOBUFS;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
	case ERROR_NO_SYSTEM_RESOURCES: return ENOMEM;
	case WSAEINVAL:
	case WSAEFAULT:
	case ERROR_INVALID_PARAMETER: return EINVAL;
	case WSAENOTSOCK:
	case WSAEBADF:
	case ERROR_INVALID_HANDLE: return EBADF;
	case WSAEOPNOTSUPP:
	case ERROR_NOT_SUPPORTED: return EOPNOTSUPP;
	case WSAEMSGSIZE: return EMSGSIZE;
	case WSANOTINITIALISED: return ENODEV;
	default: return EIO;
	}
}

/* ---- overlapped records ---- */

int ic_ov_prepare(struct ic_ov *o, uint8_t kind, bool foreign, HANDLE port)
{
	memset(&o->ov, 0, sizeof o->ov);
	o->kind = kind;
	o->foreign = foreign;
	o->port = port;
	if (foreign) {
		if (!o->ev && !(o->ev = CreateEventW(NULL, FALSE, FALSE, NULL)))
			return -ic_errno(GetLastError());
		/* The low bit: signal ev, queue nothing to the socket's
		 * port. */
		o->ov.hEvent = (HANDLE)((uintptr_t)o->ev | 1u);
	}
	return 0;
}

/* The pool thread: the operation finished; hand it to its instance. */
static VOID CALLBACK ic_ov_fired(PVOID arg, BOOLEAN timed_out)
{
	struct ic_ov *o = arg;
	(void)timed_out;
	/* The port outlives every busy record (destroy drains). A failure
	 * here would lose the packet; PostQueuedCompletionStatus fails only
	 * out of memory. */
	PostQueuedCompletionStatus(o->port, 0, IC_KEY_FOREIGN, &o->ov);
}

int ic_ov_issued(struct ic_ov *o, HANDLE h)
{
	o->busy = true;
	if (!o->foreign)
		return 0;
	if (!RegisterWaitForSingleObject(&o->wait, o->ev, ic_ov_fired, o,
					 INFINITE,
					 WT_EXECUTEONLYONCE |
						 WT_EXECUTEINWAITTHREAD)) {
		/* The operation is under way and nothing would report it:
		 * cancel it, wait for it here and post it ourselves (rare:
		 * the pool is out of resources). It completes cancelled,
		 * or with what it did before the cancel. */
		int rc = -ic_errno(GetLastError());
		o->wait = NULL;
		CancelIoEx(h, &o->ov);
		WaitForSingleObject(o->ev, INFINITE);
		PostQueuedCompletionStatus(o->port, 0, IC_KEY_FOREIGN, &o->ov);
		return rc;
	}
	return 0;
}

void ic_ov_unprepare(struct ic_ov *o)
{
	o->busy = false;
}

void ic_ov_done(struct ic_ov *o)
{
	o->busy = false;
	if (o->wait) {
		/* Fired once (WT_EXECUTEONLYONCE): no callback runs after
		 * this one posted, so no wait is needed. */
		UnregisterWait(o->wait);
		o->wait = NULL;
	}
}

void ic_ov_free(struct ic_ov *o)
{
	if (o->ev)
		CloseHandle(o->ev);
	o->ev = NULL;
}

/* ---- which port a socket belongs to ---- */

static SRWLOCK reg_lock = SRWLOCK_INIT;
static uintptr_t *reg_keys; /* socket + 1; 0: empty */
static uint64_t *reg_vals;
static size_t reg_cap, reg_len;
static unsigned reg_users; /* plugins inited and not yet fini'd */
static atomic_uint_fast64_t serials;

uint64_t ic_serial_new(void)
{
	return atomic_fetch_add(&serials, 1) + 1;
}

void ic_registry_ref(void)
{
	AcquireSRWLockExclusive(&reg_lock);
	reg_users++;
	ReleaseSRWLockExclusive(&reg_lock);
}

void ic_registry_unref(void)
{
	AcquireSRWLockExclusive(&reg_lock);
	if (--reg_users == 0) {
		free(reg_keys);
		free(reg_vals);
		reg_keys = NULL;
		reg_vals = NULL;
		reg_cap = reg_len = 0;
	}
	ReleaseSRWLockExclusive(&reg_lock);
}

static size_t hash_sock(uintptr_t s, size_t cap)
{
	/* Handle values are multiples of 4. */
	return (size_t)(((uint64_t)s >> 2) * 0x9e3779b97f4a7c15u) & (cap - 1);
}

static uint64_t reg_get(SOCKET s)
{
	uint64_t v = 0;
	AcquireSRWLockShared(&reg_lock);
	if (reg_cap) {
		uintptr_t k = (uintptr_t)s + 1;
		for (size_t i = hash_sock(k, reg_cap); reg_keys[i];
		     i = (i + 1) & (reg_cap - 1))
			if (reg_keys[i] == k) {
				v = reg_vals[i];
				break;
			}
	}
	ReleaseSRWLockShared(&reg_lock);
	return v;
}

/* Entries are never removed: a socket number is reused by a socket that
 * binds afresh (step 1), so the table is as big as the most sockets the
 * process had at once. */
static void reg_set(SOCKET s, uint64_t serial)
{
	AcquireSRWLockExclusive(&reg_lock);
	if (2 * (reg_len + 1) > reg_cap) {
		size_t cap = reg_cap ? reg_cap * 2 : 256;
		uintptr_t *k = calloc(cap, sizeof *k);
		uint64_t *v = calloc(cap, sizeof *v);
		if (!k || !v) {
			free(k);
			free(v);
			ReleaseSRWLockExclusive(&reg_lock);
			return; /* then step 2 misses: the socket runs foreign */
		}
		for (size_t i = 0; i < reg_cap; i++) {
			if (!reg_keys[i])
				continue;
			size_t j = hash_sock(reg_keys[i], cap);
			while (k[j])
				j = (j + 1) & (cap - 1);
			k[j] = reg_keys[i];
			v[j] = reg_vals[i];
		}
		free(reg_keys);
		free(reg_vals);
		reg_keys = k;
		reg_vals = v;
		reg_cap = cap;
	}
	uintptr_t key = (uintptr_t)s + 1;
	size_t i = hash_sock(key, reg_cap);
	while (reg_keys[i] && reg_keys[i] != key)
		i = (i + 1) & (reg_cap - 1);
	if (!reg_keys[i])
		reg_len++;
	reg_keys[i] = key;
	reg_vals[i] = serial;
	ReleaseSRWLockExclusive(&reg_lock);
}

typedef struct {
	HANDLE port;
	PVOID key;
} ic_fci; /* FILE_COMPLETION_INFORMATION */

typedef NTSTATUS(NTAPI *ic_setinfo_fn)(HANDLE, PIO_STATUS_BLOCK, PVOID,
				       ULONG, int);
#define IC_FILE_REPLACE_COMPLETION 61

static INIT_ONCE replace_once = INIT_ONCE_STATIC_INIT;
static ic_setinfo_fn setinfo;
static bool replace_works;

/* Ask once: replace the port of a socket made for the purpose. Wine says
 * STATUS_NOT_IMPLEMENTED; Windows before 8.1 STATUS_INVALID_INFO_CLASS. */
static BOOL CALLBACK replace_probe(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
	(void)once;
	(void)arg;
	(void)ctx;
	HMODULE nt = GetModuleHandleW(L"ntdll.dll");
	setinfo = nt ? (ic_setinfo_fn)(void (*)(void))GetProcAddress(
			       nt, "NtSetInformationFile") :
		       NULL;
	SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
			      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
	HANDLE a = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	HANDLE b = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (setinfo && s != INVALID_SOCKET && a && b &&
	    CreateIoCompletionPort((HANDLE)s, a, IC_KEY_IO, 0)) {
		IO_STATUS_BLOCK iosb;
		ic_fci fci = {b, (PVOID)(uintptr_t)IC_KEY_IO};
		replace_works = setinfo((HANDLE)s, &iosb, &fci, sizeof fci,
					IC_FILE_REPLACE_COMPLETION) == 0;
	}
	if (s != INVALID_SOCKET)
		closesocket(s);
	if (a)
		CloseHandle(a);
	if (b)
		CloseHandle(b);
	return TRUE;
}

bool ic_can_replace(void)
{
	InitOnceExecuteOnce(&replace_once, replace_probe, NULL, NULL);
	return replace_works;
}

int ic_bind(HANDLE port, uint64_t serial, SOCKET s, bool *foreign)
{
	*foreign = false;
	if (CreateIoCompletionPort((HANDLE)s, port, IC_KEY_IO, 0)) {
		reg_set(s, serial);
		return 0;
	}
	DWORD e = GetLastError();
	if (e != ERROR_INVALID_PARAMETER)
		return -ic_errno(e);
	if (reg_get(s) == serial)
		return 0;
	if (ic_can_replace()) {
		IO_STATUS_BLOCK iosb;
		ic_fci fci = {port, (PVOID)(uintptr_t)IC_KEY_IO};
		if (setinfo((HANDLE)s, &iosb, &fci, sizeof fci,
			    IC_FILE_REPLACE_COMPLETION) == 0) {
			reg_set(s, serial);
			return 0;
		}
	}
	*foreign = true;
	return 0;
}

/* ---- the instance's socket table ---- */

static size_t tab_find(const dx_io *io, SOCKET s)
{
	size_t i = hash_sock((uintptr_t)s, io->tab_cap);
	while (io->tab[i] && io->tab[i]->s != s)
		i = (i + 1) & (io->tab_cap - 1);
	return i;
}

struct ic_sock *ic_sock_find(dx_io *io, SOCKET s)
{
	if (!io->tab_cap)
		return NULL;
	return io->tab[tab_find(io, s)];
}

static int tab_grow(dx_io *io)
{
	size_t cap = io->tab_cap ? io->tab_cap * 2 : 64;
	struct ic_sock **t = calloc(cap, sizeof *t);
	if (!t)
		return -ENOMEM;
	struct ic_sock **old = io->tab;
	size_t ocap = io->tab_cap;
	io->tab = t;
	io->tab_cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			t[tab_find(io, old[i]->s)] = old[i];
	free(old);
	return 0;
}

int ic_sock_bind(dx_io *io, struct ic_sock **kp)
{
	struct ic_sock *k = *kp;
	if (k->bound) {
		/* A live recv says the socket is the one k knew. Without
		 * one, the host may have closed it (a send still in flight)
		 * and the number may name a new socket, which no port holds
		 * yet: then k drains and a new entry takes the number. */
		if (k->recv_armed ||
		    !CreateIoCompletionPort((HANDLE)k->s, io->port, IC_KEY_IO,
					    0))
			return 0;
		reg_set(k->s, io->serial);
		SOCKET s = k->s;
		ic_sock_unlink(io, k);
		ic_sock_check(io, k); /* may free k */
		*kp = NULL; /* until the new entry is there */
		int rc = ic_sock_get(io, s, kp);
		if (rc < 0)
			return rc;
		(*kp)->bound = true;
		return 0;
	}
	int rc = ic_bind(io->port, io->serial, k->s, &k->foreign);
	if (rc == 0)
		k->bound = true;
	return rc;
}

bool ic_sock_armed(const struct ic_sock *k)
{
	return k->recv_armed || k->poll_armed || k->acc_armed || k->sq_head;
}

bool ic_sock_busy(const struct ic_sock *k)
{
	return k->recv_op.busy || k->send_op.busy || k->poll_op.busy;
}

int ic_sock_get(dx_io *io, SOCKET s, struct ic_sock **out)
{
	if (s == INVALID_SOCKET)
		return -EBADF;
	struct ic_sock *k = ic_sock_find(io, s);
	if (k) {
		*out = k;
		return 0;
	}
	if (2 * (io->tab_len + 1) > io->tab_cap && tab_grow(io) < 0)
		return -ENOMEM;
	k = calloc(1, sizeof *k);
	if (!k)
		return -ENOMEM;
	k->s = s;
	k->io = io;
	k->in_table = true;
	io->tab[tab_find(io, s)] = k;
	io->tab_len++;
	*out = k;
	return 0;
}

/* Backward-shift deletion keeps linear probing's chains whole. */
void ic_sock_unlink(dx_io *io, struct ic_sock *k)
{
	if (!k->in_table)
		return;
	k->in_table = false;
	size_t i = tab_find(io, k->s);
	size_t mask = io->tab_cap - 1;
	io->tab[i] = NULL;
	io->tab_len--;
	for (size_t j = (i + 1) & mask; io->tab[j]; j = (j + 1) & mask) {
		size_t h = hash_sock((uintptr_t)io->tab[j]->s, io->tab_cap);
		/* Move j back to the hole when its home is not in (i, j]. */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			io->tab[i] = io->tab[j];
			io->tab[j] = NULL;
			i = j;
		}
	}
}

static void sock_free(struct ic_sock *k)
{
	ic_ov_free(&k->recv_op);
	ic_ov_free(&k->send_op);
	ic_ov_free(&k->poll_op);
	free(k);
}

void ic_sock_check(dx_io *io, struct ic_sock *k)
{
	if (ic_sock_armed(k) || ic_sock_busy(k) || k->poll_rearm)
		return;
	ic_sock_unlink(io, k);
	sock_free(k);
}

/* destroy, after ic_drain: nothing is busy. */
void ic_sock_free_all(dx_io *io)
{
	for (size_t i = 0; i < io->tab_cap; i++) {
		struct ic_sock *k = io->tab[i];
		if (!k)
			continue;
		while (k->sq_head) {
			struct ic_send *q = k->sq_head;
			k->sq_head = q->next;
			free(q);
		}
		sock_free(k);
	}
	free(io->tab);
	io->tab = NULL;
	io->tab_cap = io->tab_len = 0;
}
