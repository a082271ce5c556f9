/* io_sys_win.c - io_sys.h on Windows (mingw-w64, run under wine): Winsock
 * sockets made with WSA_FLAG_NO_HANDLE_INHERIT (close-on-exec's
 * equivalent), FIONBIO, a loopback TCP pair standing for a pipe (Windows'
 * anonymous pipes are no sockets: IO backends poll sockets), and no
 * signals: the wake from a signal handler is skipped, saying why. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <check.h>

#include "io_case.h"
#include "io_sys.h"

const char sys_dl_suffix[] = ".dll";

uint64_t now_us(void)
{
	LARGE_INTEGER f, t;
	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&t);
	uint64_t hz = (uint64_t)f.QuadPart, c = (uint64_t)t.QuadPart;
	return c / hz * 1000000u + c % hz * 1000000u / hz;
}

/* Sleep's unit is the millisecond: shorter waits round up to one. */
void sys_usleep(unsigned us)
{
	Sleep((us + 999) / 1000);
}

static int wsa_errno(int e)
{
	switch (e) {
	case WSAEWOULDBLOCK: return EAGAIN;
	case WSAEINTR: return EINTR;
	case WSAECONNRESET: return ECONNRESET;
	case WSAECONNABORTED: return ECONNABORTED;
	case WSAENOTCONN:
	case WSAESHUTDOWN: return EPIPE;
	case WSAENOTSOCK: return EBADF;
	default: return EIO;
	}
}

static SOCKET sock(int fd)
{
	return (SOCKET)(intptr_t)fd;
}

void set_nb(int fd, bool on)
{
	u_long nb = on ? 1 : 0;
	ck_assert_int_eq(ioctlsocket(sock(fd), FIONBIO, &nb), 0);
}

void set_bufs(int fd, int bytes)
{
	setsockopt(sock(fd), SOL_SOCKET, SO_SNDBUF, (const char *)&bytes,
		   sizeof bytes);
	setsockopt(sock(fd), SOL_SOCKET, SO_RCVBUF, (const char *)&bytes,
		   sizeof bytes);
}

static int new_socket(void)
{
	SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
			      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
	ck_assert_msg(s != INVALID_SOCKET, "WSASocket: %d", WSAGetLastError());
	return (int)s;
}

int listener(uint16_t *port)
{
	int fd = new_socket();
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(sock(fd), (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(sock(fd), 1024), 0);
	int len = sizeof a;
	ck_assert_int_eq(getsockname(sock(fd), (struct sockaddr *)&a, &len),
			 0);
	*port = ntohs(a.sin_port);
	set_nb(fd, true);
	return fd;
}

int connect_to(uint16_t port)
{
	int fd = new_socket();
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_msg(connect(sock(fd), (struct sockaddr *)&a, sizeof a) == 0,
		      "connect: Winsock error %d", WSAGetLastError());
	return fd;
}

/* Every fd of these tests is a socket: open while Winsock knows it. */
bool fd_open(int fd)
{
	int type, len = sizeof type;
	return getsockopt(sock(fd), SOL_SOCKET, SO_TYPE, (char *)&type,
			  &len) == 0;
}

void assert_socket(int fd)
{
	int type, len = sizeof type;
	ck_assert_int_eq(getsockopt(sock(fd), SOL_SOCKET, SO_TYPE,
				    (char *)&type, &len),
			 0);
	ck_assert_int_eq(type, SOCK_STREAM);
}

int sys_accept(int l)
{
	SOCKET s = accept(sock(l), NULL, NULL);
	if (s == INVALID_SOCKET)
		return -1;
	SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
	return (int)s;
}

/* A loopback TCP pair: what an IO backend can poll on Windows. */
void make_pipe(int p[2])
{
	int a, b;
	tcp_pair(&a, &b, 0);
	set_nb(b, true);
	p[0] = a;
	p[1] = b;
}

long sys_write(int fd, const void *buf, size_t n)
{
	int k = send(sock(fd), buf, n > INT_MAX ? INT_MAX : (int)n, 0);
	if (k == SOCKET_ERROR) {
		errno = wsa_errno(WSAGetLastError());
		return -1;
	}
	return k;
}

long sys_read(int fd, void *buf, size_t n)
{
	int k = recv(sock(fd), buf, n > INT_MAX ? INT_MAX : (int)n, 0);
	if (k == SOCKET_ERROR) {
		errno = wsa_errno(WSAGetLastError());
		return -1;
	}
	return k;
}

void sys_shut_wr(int fd)
{
	shutdown(sock(fd), SD_SEND);
}

void sys_close(int fd)
{
	closesocket(sock(fd));
}

bool wake_by_signal(const dx_io_vtable *backend, dx_io *io)
{
	(void)backend;
	(void)io;
	printf("SKIP (part of test_wake): a wake from a signal handler: "
	       "Windows has no SIGUSR1 (a console control handler runs on a "
	       "thread of its own, which the cross-thread wake covers)\n");
	return false;
}

void sys_setup(void)
{
	WSADATA wsa;
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		fprintf(stderr, "WSAStartup failed\n");
		exit(1);
	}
}

bool sys_file_exists(const char *path)
{
	return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}
