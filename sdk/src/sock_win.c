/* sock_win.c - sock.h over Winsock 2. WSAStartup runs once, on the first
 * call that needs it; sockets are made non-inheritable (Windows' close on
 * exec: a child process started later holds none of them) and
 * non-blocking through ioctlsocket when asked; WSAPoll waits; and every
 * WSAGetLastError is turned into the errno value the POSIX files would
 * give, so the client's logic is the same on both. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "sock.h"

static INIT_ONCE dx_wsa_once = INIT_ONCE_STATIC_INIT;
static int dx_wsa_rc;

static BOOL CALLBACK dx_wsa_start(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
	WSADATA data;
	int e = WSAStartup(MAKEWORD(2, 2), &data);
	dx_wsa_rc = e ? -EIO : 0;
	return TRUE;
}

int dx_sock_init(void)
{
	InitOnceExecuteOnce(&dx_wsa_once, dx_wsa_start, NULL, NULL);
	return dx_wsa_rc;
}

/* The errno value for a Winsock error. */
static int dx_wsa_errno(int e)
{
	switch (e) {
	case WSAEWOULDBLOCK: return EAGAIN;
	case WSAEINPROGRESS: return EINPROGRESS;
	case WSAEINTR: return EINTR;
	case WSAECONNRESET: return ECONNRESET;
	case WSAECONNREFUSED: return ECONNREFUSED;
	case WSAECONNABORTED: return ECONNABORTED;
	case WSAETIMEDOUT: return ETIMEDOUT;
	case WSAENETUNREACH: return ENETUNREACH;
	case WSAEHOSTUNREACH: return EHOSTUNREACH;
	case WSAENOTCONN:
	case WSAESHUTDOWN: return EPIPE;
	case WSAEAFNOSUPPORT:
	case WSAEPFNOSUPPORT: return EAFNOSUPPORT;
	case WSAEADDRINUSE: return EADDRINUSE;
	case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
	case WSAEMFILE: return EMFILE;
	case WSAENOBUFS: return ENOBUFS;
	case WSAEINVAL:
	case WSAEFAULT: return EINVAL;
	case WSAENOTSOCK: return EBADF;
	case WSAEMSGSIZE: return EMSGSIZE;
	/* bind: a port another socket holds with SO_EXCLUSIVEADDRUSE. */
	case WSAEACCES: return EACCES;
	default: return EIO;
	}
}

const char *dx_sock_strerror(int err)
{
	switch (err) {
	case EINPROGRESS: return "Operation now in progress";
	case ECONNRESET: return "Connection reset by peer";
	case ECONNREFUSED: return "Connection refused";
	case ECONNABORTED: return "Software caused connection abort";
	case ETIMEDOUT: return "Connection timed out";
	case ENETUNREACH: return "Network is unreachable";
	case EHOSTUNREACH: return "No route to host";
	case EAFNOSUPPORT: return "Address family not supported by protocol";
	case EADDRINUSE: return "Address already in use";
	case EADDRNOTAVAIL: return "Cannot assign requested address";
	case ENOBUFS: return "No buffer space available";
	case EMSGSIZE: return "Message too long";
	default: return strerror(err); /* the C runtime knows the older codes */
	}
}

static int dx_sock_fail(void)
{
	return -dx_wsa_errno(WSAGetLastError());
}

/* Not inherited, and (non-)blocking as flags say; on failure closed. */
static int dx_sock_mark(SOCKET s, int flags)
{
	if (s == INVALID_SOCKET)
		return dx_sock_fail();
	u_long nb = flags & DX_SOCK_NONBLOCK ? 1 : 0;
	if (ioctlsocket(s, FIONBIO, &nb) != 0) {
		int rc = dx_sock_fail();
		closesocket(s);
		return rc;
	}
	/* Best effort: a layered provider may refuse; the socket works. */
	SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
	return (int)s;
}

int dx_sock_open(int family, int type, int flags)
{
	int rc = dx_sock_init();
	if (rc < 0)
		return rc;
	/* NO_HANDLE_INHERIT: no window in which a child could inherit it. */
	return dx_sock_mark(WSASocketW(family, type, 0, NULL, 0,
				       WSA_FLAG_OVERLAPPED |
					       WSA_FLAG_NO_HANDLE_INHERIT),
			    flags);
}

int dx_sock_accept(int fd, int flags)
{
	return dx_sock_mark(accept((SOCKET)fd, NULL, NULL), flags);
}

void dx_sock_close(int fd)
{
	closesocket((SOCKET)fd);
}

int dx_sock_poll(int fd, short events, int timeout_ms, short *revents)
{
	WSAPOLLFD p = {.fd = (SOCKET)fd, .events = events};
	int n = WSAPoll(&p, 1, timeout_ms);
	if (n < 0)
		return dx_sock_fail();
	*revents = p.revents;
	return n;
}

long dx_sock_send(int fd, const void *buf, size_t n)
{
	/* send() takes an int: a longer buffer goes out over several calls. */
	int len = n > INT_MAX ? INT_MAX : (int)n;
	int k = send((SOCKET)fd, buf, len, 0);
	return k == SOCKET_ERROR ? dx_sock_fail() : k;
}

long dx_sock_recv(int fd, void *buf, size_t n)
{
	int len = n > INT_MAX ? INT_MAX : (int)n;
	int k = recv((SOCKET)fd, buf, len, 0);
	return k == SOCKET_ERROR ? dx_sock_fail() : k;
}

int dx_sock_connect(int fd, const void *sa, uint32_t len)
{
	if (connect((SOCKET)fd, sa, (int)len) == 0)
		return 0;
	int rc = dx_sock_fail();
	/* A non-blocking connect under way says WSAEWOULDBLOCK. */
	return rc == -EAGAIN ? -EINPROGRESS : rc;
}

int dx_sock_error(int fd)
{
	int soerr = 0;
	int len = sizeof soerr;
	if (getsockopt((SOCKET)fd, SOL_SOCKET, SO_ERROR, (char *)&soerr,
		       &len) != 0)
		return dx_sock_fail();
	return soerr ? -dx_wsa_errno(soerr) : 0;
}

void dx_sock_nodelay(int fd)
{
	BOOL one = TRUE;
	setsockopt((SOCKET)fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&one,
		   sizeof one);
}

int dx_sock_bind(int fd, const void *sa, uint32_t len)
{
	return bind((SOCKET)fd, sa, (int)len) == 0 ? 0 : dx_sock_fail();
}

int dx_sock_listen(int fd, int backlog)
{
	return listen((SOCKET)fd, backlog) == 0 ? 0 : dx_sock_fail();
}

int dx_sock_set_on(int fd, int level, int name)
{
	/* Winsock's boolean options are DWORDs (BOOL): an int 1 is one. */
	BOOL one = TRUE;
	return setsockopt((SOCKET)fd, level, name, (const char *)&one,
			  sizeof one) == 0
		       ? 0
		       : dx_sock_fail();
}

long dx_sock_send_nowait(int fd, const void *buf, size_t n)
{
	/* No MSG_DONTWAIT in Winsock: the socket becomes non-blocking, which
	 * is all right for one about to be closed. */
	u_long nb = 1;
	ioctlsocket((SOCKET)fd, FIONBIO, &nb);
	return dx_sock_send(fd, buf, n);
}
