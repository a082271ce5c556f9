/* dx_bench_sys_win.c - `dx bench`'s few system calls outside the sockets
 * (dx_bench.h, "the system") on Windows: Winsock started for the sock.h
 * calls compiled into dx.exe (dx.dll keeps its own hidden), the console
 * test, and WSAPoll for dx_bench_wait_poll.c (pinning is the host's
 * pin.h, pin_win.c, in dx_bench_loop.c).
 * Run under wine only (scripts/test-windows.sh); WSAPoll's behaviour with
 * many sockets is what wine 8 does, not checked on Windows itself. */
#include <errno.h>

#include "sock.h" /* <winsock2.h> before <windows.h> */
#include <windows.h>

#include "dx_bench.h"

void bench_sys_init(void)
{
	/* Winsock counts its users per process: dx.dll's WSAStartup would
	 * do, but this copy of sock_win.c does not rely on it. A failure
	 * shows at the first connect, through dx.dll. */
	(void)dx_sock_init();
}

bool bench_sys_live(void)
{
	/* A console that takes escape sequences (Windows 10 and later, once
	 * asked); a file, a pipe or an older console gets no progress line,
	 * as a redirected stdout does on POSIX. */
	HANDLE h = GetStdHandle(STD_OUTPUT_HANDLE);
	DWORD mode;
	if (h == INVALID_HANDLE_VALUE || !GetConsoleMode(h, &mode))
		return false;
	return (mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING) ||
	       SetConsoleMode(h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING);
}

int bench_sys_poll(struct pollfd *p, unsigned n, int timeout_ms)
{
	int k = WSAPoll(p, (ULONG)n, timeout_ms);
	if (k != SOCKET_ERROR)
		return k;
	/* The loop tells only -EINTR (wait again) from the rest, and WSAPoll
	 * is never interrupted. */
	switch (WSAGetLastError()) {
	case WSAENOBUFS: return -ENOBUFS;
	case WSAEINVAL:
	case WSAEFAULT: return -EINVAL;
	default: return -EIO;
	}
}
