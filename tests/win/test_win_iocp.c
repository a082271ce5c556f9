/* test_win_iocp.c - io_iocp.dll under wine, driven directly: the DLL is
 * opened by the real loader (dx_module_open: LoadLibraryExW by full path
 * and every ABI check), initialised with a small host table of its own
 * (log, fail, config_keys: what io_iocp calls), and its vtable is driven
 * over real loopback sockets and threads. The conformance suite
 * (tests/io/test_io_backend.c) covers dx/io.h whole; this file holds the
 * cases that are Windows' own: several instances accepting on one shared
 * listening socket (the acceptor), a socket moved between instances
 * (ports), and poll on a socket no port holds.
 *
 * The DLL is found through argv[1] (meson passes its path). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <dx/io.h>
#include <dx/plugin.h>

#include "diag.h"
#include "loader.h"
#include "wintest.h"

static const dx_io_vtable *vt;
static void *vself;

/* ---- the host table io_iocp uses ---- */

static void h_log(const dx_host_api *h, int level, const char *fmt, ...)
{
	(void)h;
	if (level > DX_LOG_INFO)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[io_iocp] ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int h_fail(const dx_host_api *h, int code, const char *fmt, ...)
{
	(void)h;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[io_iocp] init failed: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

/* The config is always empty here: any allowed list accepts it. */
static int h_config_keys(const dx_host_api *h, const dx_config *cfg,
			 const char *const *allowed)
{
	(void)h;
	(void)cfg;
	(void)allowed;
	return 0;
}

static dx_host_api host = {
	.size = sizeof(dx_host_api),
	.abi_major = DX_ABI_MAJOR,
	.abi_minor = DX_ABI_MINOR,
	.log = h_log,
	.fail = h_fail,
	.config_keys = h_config_keys,
};

/* ---- sockets ---- */

static uint64_t now_ms(void)
{
	return GetTickCount64();
}

static SOCKET listener(uint16_t *port)
{
	SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	WT_ASSERT(l != INVALID_SOCKET);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	WT_INT_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	WT_INT_EQ(listen(l, 256), 0);
	int len = sizeof a;
	WT_INT_EQ(getsockname(l, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return l;
}

static SOCKET connect_to(uint16_t port)
{
	SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	WT_ASSERT(s != INVALID_SOCKET);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	WT_CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0,
		 "connect: %d", WSAGetLastError());
	return s;
}

/* A connected pair: *a for the backend, *b for a peer thread. bufsz > 0
 * shrinks both sides' buffers. */
static void tcp_pair(SOCKET *a, SOCKET *b, int bufsz)
{
	uint16_t port;
	SOCKET l = listener(&port);
	*b = connect_to(port);
	*a = accept(l, NULL, NULL);
	WT_ASSERT(*a != INVALID_SOCKET);
	closesocket(l);
	if (bufsz > 0) {
		SOCKET both[2] = {*a, *b};
		for (int i = 0; i < 2; i++) {
			setsockopt(both[i], SOL_SOCKET, SO_SNDBUF,
				   (char *)&bufsz, sizeof bufsz);
			setsockopt(both[i], SOL_SOCKET, SO_RCVBUF,
				   (char *)&bufsz, sizeof bufsz);
		}
	}
}

static uint8_t pat(uint32_t salt, uint64_t i)
{
	uint32_t w = (uint32_t)(i >> 2) * 2654435761u + salt;
	return (uint8_t)(w >> (8 * (i & 3)));
}

static bool pat_check(uint32_t salt, uint64_t at, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(salt, at + i))
			return false;
	return true;
}

static void pat_fill(uint32_t salt, uint64_t at, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(salt, at + i);
}

/* ---- peer threads (no checks inside: they record, the case checks) ---- */

struct peer {
	SOCKET s;
	uint32_t salt;
	uint64_t total; /* writer: bytes to write */
	DWORD start_ms; /* reader: sleep first */
	bool shut;      /* writer: shutdown(SD_SEND) when done */
	uint64_t done;
	bool ok;
	HANDLE th;
};

static DWORD WINAPI writer_main(LPVOID arg)
{
	struct peer *p = arg;
	uint8_t *buf = malloc(7000);
	p->ok = buf != NULL;
	while (buf && p->done < p->total) {
		size_t n = 7000;
		if (n > p->total - p->done)
			n = (size_t)(p->total - p->done);
		pat_fill(p->salt, p->done, buf, n);
		size_t off = 0;
		while (off < n) {
			int w = send(p->s, (char *)buf + off, (int)(n - off), 0);
			if (w <= 0) {
				p->ok = false;
				free(buf);
				return 0;
			}
			off += (size_t)w;
		}
		p->done += n;
	}
	free(buf);
	if (p->shut)
		shutdown(p->s, SD_SEND);
	return 0;
}

static DWORD WINAPI reader_main(LPVOID arg)
{
	struct peer *p = arg;
	uint8_t *buf = malloc(65536);
	Sleep(p->start_ms);
	p->ok = buf != NULL;
	while (buf) {
		int r = recv(p->s, (char *)buf, 65536, 0);
		if (r <= 0)
			break;
		if (!pat_check(p->salt, p->done, buf, (size_t)r))
			p->ok = false;
		p->done += (uint64_t)r;
	}
	free(buf);
	return 0;
}

static void peer_start(struct peer *p, LPTHREAD_START_ROUTINE fn)
{
	p->th = CreateThread(NULL, 0, fn, p, 0, NULL);
	WT_ASSERT(p->th != NULL);
}

static void peer_join(struct peer *p)
{
	WT_INT_EQ(WaitForSingleObject(p->th, 30000), WAIT_OBJECT_0);
	CloseHandle(p->th);
}

/* ---- the backend ---- */

static dx_io *io_new(uint32_t buf_count, uint32_t buf_size)
{
	dx_io_params p = {.size = sizeof p,
			  .queue_depth = 256,
			  .buf_count = buf_count,
			  .buf_size = buf_size};
	dx_io *io = NULL;
	int rc = vt->create(vself, &p, &io);
	WT_CHECK(rc == 0 && io, "create: %d", rc);
	return io;
}

static int io_wait(dx_io *io, dx_io_cqe *c, unsigned max, int ms)
{
	WT_ASSERT(vt->submit(io) >= 0);
	int n = vt->wait(io, c, max, ms);
	WT_CHECK(n >= 0 && (unsigned)n <= max, "wait: %d", n);
	return n;
}

#define ARM(call)                                                          \
	do {                                                               \
		int rc_ = (call);                                          \
		WT_CHECK(rc_ == 0, "%s: %d", #call, rc_);                  \
	} while (0)

/* Loop until cond, failing after ms. */
#define UNTIL(cond, ms, what)                                              \
	for (uint64_t end_ = now_ms() + (ms); !(cond);                     \
	     until_ok(end_, what, __LINE__))

static void until_ok(uint64_t end, const char *what, int line)
{
	if (now_ms() >= end)
		wt_fail(__FILE__, line, "timed out waiting for %s", what);
}

static int fd_of(SOCKET s)
{
	return (int)s;
}

/* ---- cases ---- */

static void test_probe(void)
{
	WT_ASSERT(vt->size >= DX_IO_VTABLE_V1_0_SIZE);
	WT_ASSERT(vt->caps & DX_IO_CAP_MULTISHOT_ACCEPT);
	WT_ASSERT(vt->caps & DX_IO_CAP_MULTISHOT_RECV);
	WT_ASSERT(vt->caps & DX_IO_CAP_NATIVE);
	char why[256] = "";
	WT_CHECK(vt->probe(vself, why, sizeof why) == 0, "probe: %s", why);
	dx_io_params p = {.size = sizeof p};
	dx_io *io = NULL;
	WT_INT_EQ(vt->create(vself, &p, &io), 0);
	vt->destroy(io);
}

/* Accepted sockets are non-blocking and carry the peer's address. */
static void check_accepted(SOCKET s)
{
	char c;
	int r = recv(s, &c, 1, 0);
	WT_CHECK(r < 0 && WSAGetLastError() == WSAEWOULDBLOCK,
		 "recv on an idle accepted socket: %d (%d): not non-blocking",
		 r, WSAGetLastError());
	struct sockaddr_in a;
	int len = sizeof a;
	WT_INT_EQ(getpeername(s, (struct sockaddr *)&a, &len), 0);
	WT_INT_EQ(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	DWORD flags = 1;
	WT_ASSERT(GetHandleInformation((HANDLE)s, &flags));
	WT_INT_EQ(flags & HANDLE_FLAG_INHERIT, 0);
}

static void test_accept(void)
{
	enum { N = 40 };
	dx_io *io = io_new(0, 0);
	uint16_t port;
	SOCKET l = listener(&port);
	ARM(vt->accept(io, fd_of(l), 7));
	SOCKET cli[N], srv[N];
	int nsrv = 0;
	for (int i = 0; i < N; i++)
		cli[i] = connect_to(port);
	dx_io_cqe c[64];
	UNTIL(nsrv == N, 5000, "the accepts")
	{
		int n = io_wait(io, c, 64, 100);
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].op, DX_IO_ACCEPT);
			WT_INT_EQ(c[i].udata, 7);
			WT_CHECK(c[i].result >= 0, "accept: %d", c[i].result);
			WT_ASSERT(c[i].flags & DX_IO_F_MORE);
			WT_ASSERT(nsrv < N);
			srv[nsrv++] = (SOCKET)(intptr_t)c[i].result;
		}
	}
	for (int i = 0; i < N; i++)
		check_accepted(srv[i]);
	WT_INT_EQ(vt->detach(io, fd_of(l)), 0);
	bool ended = false;
	UNTIL(ended, 2000, "the cancelled accept")
	{
		int n = io_wait(io, c, 64, 100);
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].op, DX_IO_ACCEPT);
			WT_INT_EQ(c[i].result, -ECANCELED);
			WT_ASSERT(!(c[i].flags & DX_IO_F_MORE));
			ended = true;
		}
	}
	/* A plain accept works: no AcceptEx is left on the socket. */
	SOCKET x = connect_to(port);
	SOCKET y = accept(l, NULL, NULL);
	WT_CHECK(y != INVALID_SOCKET, "accept: %d", WSAGetLastError());
	closesocket(x);
	closesocket(y);
	for (int i = 0; i < N; i++) {
		closesocket(cli[i]);
		closesocket(srv[i]);
	}
	closesocket(l);
	vt->destroy(io);
}

static void test_recv(void)
{
	enum { TOTAL = 1 << 20 };
	dx_io *io = io_new(8, 4096);
	SOCKET a, b;
	tcp_pair(&a, &b, 0);
	struct peer w = {.s = b, .salt = 11, .total = TOTAL, .shut = true};
	peer_start(&w, writer_main);
	ARM(vt->recv(io, fd_of(a), 9));
	uint64_t got = 0;
	bool eof = false;
	dx_io_cqe c[64];
	UNTIL(eof, 10000, "EOF")
	{
		int n = io_wait(io, c, 64, 100);
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].op, DX_IO_RECV);
			WT_INT_EQ(c[i].udata, 9);
			if (c[i].result == -ENOBUFS) {
				WT_ASSERT(!(c[i].flags & DX_IO_F_MORE));
				ARM(vt->recv(io, fd_of(a), 9));
				continue;
			}
			WT_CHECK(c[i].result >= 0, "recv: %d", c[i].result);
			if (c[i].result == 0) {
				WT_ASSERT(!(c[i].flags & DX_IO_F_MORE));
				eof = true;
				continue;
			}
			WT_ASSERT(c[i].flags & DX_IO_F_MORE);
			WT_ASSERT(c[i].flags & DX_IO_F_BUFFER);
			WT_ASSERT(c[i].result <= 4096);
			WT_CHECK(pat_check(11, got, c[i].data,
					   (size_t)c[i].result),
				 "bytes differ at %llu",
				 (unsigned long long)got);
			got += (uint64_t)c[i].result;
			vt->buf_release(io, c[i].buf_id);
		}
	}
	peer_join(&w);
	WT_ASSERT(w.ok);
	WT_INT_EQ(got, TOTAL);
	closesocket(a);
	closesocket(b);
	vt->destroy(io);
}

/* Keep both buffers: the recv ends with -ENOBUFS; nothing is lost. */
static void test_recv_enobufs(void)
{
	enum { TOTAL = 64 * 1024 };
	dx_io *io = io_new(2, 4096);
	SOCKET a, b;
	tcp_pair(&a, &b, 0);
	struct peer w = {.s = b, .salt = 12, .total = TOTAL};
	writer_main(&w);
	WT_ASSERT(w.ok);
	ARM(vt->recv(io, fd_of(a), 1));
	uint16_t held[2];
	int nheld = 0;
	uint64_t got = 0;
	bool ended = false;
	dx_io_cqe c[16];
	UNTIL(ended, 3000, "-ENOBUFS")
	{
		int n = io_wait(io, c, 16, 100);
		for (int i = 0; i < n; i++) {
			if (c[i].result == -ENOBUFS) {
				ended = true;
				continue;
			}
			WT_CHECK(c[i].result > 0, "recv: %d", c[i].result);
			WT_ASSERT(nheld < 2);
			WT_ASSERT(pat_check(12, got, c[i].data,
					    (size_t)c[i].result));
			got += (uint64_t)c[i].result;
			held[nheld++] = c[i].buf_id;
		}
	}
	WT_INT_EQ(nheld, 2);
	WT_INT_EQ(io_wait(io, c, 16, 20), 0);
	vt->buf_release(io, held[0]);
	vt->buf_release(io, held[1]);
	ARM(vt->recv(io, fd_of(a), 2));
	bool shut = false, eof = false;
	UNTIL(eof, 3000, "the rest")
	{
		if (got == TOTAL && !shut) {
			shutdown(b, SD_SEND);
			shut = true;
		}
		int n = io_wait(io, c, 16, 100);
		for (int i = 0; i < n; i++) {
			if (c[i].result == -ENOBUFS) {
				ARM(vt->recv(io, fd_of(a), 2));
				continue;
			}
			if (c[i].result == 0) {
				eof = true;
				continue;
			}
			WT_CHECK(c[i].result > 0, "recv: %d", c[i].result);
			WT_ASSERT(pat_check(12, got, c[i].data,
					    (size_t)c[i].result));
			got += (uint64_t)c[i].result;
			vt->buf_release(io, c[i].buf_id);
		}
	}
	WT_INT_EQ(got, TOTAL);
	closesocket(a);
	closesocket(b);
	vt->destroy(io);
}

/* A big send to a slow reader, then many small ones, all in order. */
static void test_send(void)
{
	enum { BIG = 4 << 20, N = 500 };
	dx_io *io = io_new(0, 0);
	SOCKET a, b;
	tcp_pair(&a, &b, 64 * 1024);
	size_t len[N], total = BIG;
	for (int i = 0; i < N; i++) {
		len[i] = 1 + (size_t)(i * 7919) % 3000;
		total += len[i];
	}
	uint8_t *buf = malloc(total);
	WT_ASSERT(buf != NULL);
	pat_fill(21, 0, buf, total);
	struct peer r = {.s = b, .salt = 21, .start_ms = 50};
	peer_start(&r, reader_main);
	ARM(vt->send(io, fd_of(a), buf, BIG, 42, 0));
	size_t off = BIG;
	for (int i = 0; i < N; i++) {
		ARM(vt->send(io, fd_of(a), buf + off, len[i], 100 + i,
			     i % 3 ? 0 : DX_IO_SEND_MORE));
		off += len[i];
	}
	bool big = false;
	int next = 0;
	dx_io_cqe c[64];
	UNTIL(big && next == N, 20000, "the sends")
	{
		int n = io_wait(io, c, 64, 100);
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].op, DX_IO_SEND);
			if (c[i].udata == 42) {
				WT_INT_EQ(c[i].result, BIG);
				WT_INT_EQ(next, 0); /* in order */
				big = true;
				continue;
			}
			WT_INT_EQ(c[i].udata, 100 + next);
			WT_INT_EQ(c[i].result, len[next]);
			next++;
		}
	}
	shutdown(a, SD_SEND);
	peer_join(&r);
	WT_ASSERT(r.ok);
	WT_INT_EQ(r.done, total);
	free(buf);
	closesocket(a);
	closesocket(b);
	vt->destroy(io);
}

struct waker {
	dx_io *io;
	DWORD delay_ms;
};

static DWORD WINAPI waker_main(LPVOID arg)
{
	struct waker *w = arg;
	Sleep(w->delay_ms);
	vt->wake(w->io);
	return 0;
}

static void expect_wake(dx_io *io, int ms)
{
	dx_io_cqe c[4];
	int n = io_wait(io, c, 4, ms);
	WT_INT_EQ(n, 1);
	WT_INT_EQ(c[0].op, DX_IO_WAKE);
	WT_INT_EQ(c[0].udata, 0);
}

static void test_wake(void)
{
	dx_io *io = io_new(0, 0);
	struct waker w = {io, 30};
	uint64_t t0 = now_ms();
	HANDLE th = CreateThread(NULL, 0, waker_main, &w, 0, NULL);
	WT_ASSERT(th != NULL);
	expect_wake(io, -1);
	uint64_t dt = now_ms() - t0;
	WT_CHECK(dt >= 20 && dt < 5000, "woken after %llu ms",
		 (unsigned long long)dt);
	WaitForSingleObject(th, INFINITE);
	CloseHandle(th);
	/* Two before the wait: one completion, then nothing. */
	WT_INT_EQ(vt->wake(io), 0);
	WT_INT_EQ(vt->wake(io), 0);
	expect_wake(io, -1);
	dx_io_cqe c[4];
	WT_INT_EQ(io_wait(io, c, 4, 10), 0);
	vt->destroy(io);
}

static void test_timeouts(void)
{
	enum { N = 50 };
	dx_io *io = io_new(0, 0);
	uint64_t t0 = now_ms();
	uint64_t ms[N];
	for (int i = 0; i < N; i++) {
		ms[i] = 5 + (uint64_t)(i * 37) % 120;
		ARM(vt->timeout(io, ms[i] * 1000000u, (uint64_t)(1000 + i)));
	}
	ARM(vt->timeout(io, 0, 1));
	/* Cancel the odd ones due after 60 ms: they cannot have fired. */
	bool cancel[N];
	int ncancel = 0;
	for (int i = 0; i < N; i++) {
		cancel[i] = i % 2 && ms[i] > 60;
		if (cancel[i]) {
			ARM(vt->timeout_cancel(io, (uint64_t)(1000 + i)));
			ncancel++;
		}
	}
	WT_INT_EQ(vt->timeout_cancel(io, 999), -ENOENT);
	int done = 0, cancelled = 0;
	bool zero = false, seen[N] = {0};
	dx_io_cqe c[16];
	UNTIL(done == N && zero, 5000, "every timer")
	{
		int n = io_wait(io, c, 16, 200);
		uint64_t t = now_ms() - t0;
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].op, DX_IO_TIMEOUT);
			if (c[i].udata == 1) {
				WT_INT_EQ(c[i].result, 0);
				zero = true;
				continue;
			}
			int k = (int)c[i].udata - 1000;
			WT_ASSERT(k >= 0 && k < N && !seen[k]);
			seen[k] = true;
			done++;
			if (cancel[k]) {
				WT_INT_EQ(c[i].result, -ECANCELED);
				cancelled++;
				continue;
			}
			WT_INT_EQ(c[i].result, 0);
			WT_CHECK(t + 1 >= ms[k], "timer %d (%llu ms) at %llu ms",
				 k, (unsigned long long)ms[k],
				 (unsigned long long)t);
		}
	}
	WT_INT_EQ(cancelled, ncancel);
	WT_INT_EQ(io_wait(io, c, 16, 10), 0);
	vt->destroy(io);
}

/* Poll a socket no port holds: POLLIN once per readiness when the host
 * reads to EAGAIN, POLLOUT, detach; the socket is still on no port. */
static void test_poll(void)
{
	dx_io *io = io_new(0, 0);
	SOCKET a, b;
	tcp_pair(&a, &b, 0);
	u_long nb = 1;
	WT_INT_EQ(ioctlsocket(a, FIONBIO, &nb), 0);
	ARM(vt->poll(io, fd_of(a), DX_IO_POLLIN, 5));
	dx_io_cqe c[8];
	WT_INT_EQ(io_wait(io, c, 8, 20), 0);
	char x = 'x', y;
	for (int round = 0; round < 3; round++) {
		WT_INT_EQ(send(b, &x, 1, 0), 1);
		int got = 0;
		UNTIL(got, 2000, "POLLIN")
		{
			int n = io_wait(io, c, 8, 100);
			for (int i = 0; i < n; i++) {
				WT_INT_EQ(c[i].op, DX_IO_POLL);
				WT_INT_EQ(c[i].udata, 5);
				WT_ASSERT(c[i].result & DX_IO_POLLIN);
				WT_ASSERT(c[i].flags & DX_IO_F_MORE);
				got++;
			}
		}
		WT_INT_EQ(recv(a, &y, 1, 0), 1);
		WT_INT_EQ(io_wait(io, c, 8, 20), 0);
	}
	ARM(vt->poll(io, fd_of(b), DX_IO_POLLOUT, 6));
	int got = 0;
	UNTIL(got, 2000, "POLLOUT")
	{
		int n = io_wait(io, c, 8, 100);
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].udata, 6);
			WT_ASSERT(c[i].result & DX_IO_POLLOUT);
			got++;
		}
	}
	/* The peer's shutdown reads as POLLIN (end of stream). */
	shutdown(b, SD_SEND);
	got = 0;
	UNTIL(got, 2000, "POLLIN at end of stream")
	{
		int n = io_wait(io, c, 8, 100);
		for (int i = 0; i < n; i++)
			if (c[i].udata == 5) {
				WT_ASSERT(c[i].result & DX_IO_POLLIN);
				got++;
			}
	}
	WT_INT_EQ(vt->detach(io, fd_of(a)), 0);
	WT_INT_EQ(vt->detach(io, fd_of(b)), 0);
	bool end5 = false, end6 = false;
	UNTIL(end5 && end6, 2000, "the cancelled polls")
	{
		int n = io_wait(io, c, 8, 100);
		for (int i = 0; i < n; i++) {
			WT_INT_EQ(c[i].op, DX_IO_POLL);
			if (c[i].flags & DX_IO_F_MORE)
				continue;
			WT_INT_EQ(c[i].result, -ECANCELED);
			if (c[i].udata == 5)
				end5 = true;
			else
				end6 = true;
		}
	}
	/* Polling never tied the socket to a port. */
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	WT_ASSERT(CreateIoCompletionPort((HANDLE)a, port, 1, 0) == port);
	CloseHandle(port);
	closesocket(a);
	closesocket(b);
	vt->destroy(io);
}

/* One stream through io: bytes received in order, end of stream, and
 * the send's completion. */
struct stream {
	uint64_t got;
	bool eof;
	bool recv_ended; /* -ECANCELED or -ENOBUFS after a detach */
	bool sent_done;
	int32_t sent;
};

static void pump(dx_io *io, SOCKET s, uint64_t udata, struct stream *st,
		 bool detached)
{
	dx_io_cqe c[64];
	int n = io_wait(io, c, 64, 50);
	for (int i = 0; i < n; i++) {
		if (c[i].op == DX_IO_SEND) {
			WT_ASSERT(!st->sent_done);
			st->sent_done = true;
			st->sent = c[i].result;
			continue;
		}
		WT_INT_EQ(c[i].op, DX_IO_RECV);
		if (c[i].result == -ENOBUFS && !detached) {
			ARM(vt->recv(io, fd_of(s), udata));
		} else if (c[i].result == 0) {
			st->eof = true;
			st->recv_ended = true;
		} else if (c[i].result < 0) {
			WT_CHECK(detached && (c[i].result == -ECANCELED ||
					      c[i].result == -ENOBUFS),
				 "recv: %d", c[i].result);
			st->recv_ended = true;
		} else {
			WT_CHECK(pat_check(41, st->got, c[i].data,
					   (size_t)c[i].result),
				 "bytes differ at %llu",
				 (unsigned long long)st->got);
			st->got += (uint64_t)c[i].result;
			vt->buf_release(io, c[i].buf_id);
		}
	}
}

/* detach on one instance, arm on another, and back: the socket changes
 * ports (natively where Windows can, event-signalled under wine), the
 * streams both ways go on, no byte lost or doubled. */
static void test_detach_and_move(void)
{
	enum { NIN = 2 << 20, NOUT = 8 << 20 };
	SOCKET a, b;
	tcp_pair(&a, &b, 64 * 1024);
	uint8_t *out = malloc(NOUT);
	WT_ASSERT(out != NULL);
	pat_fill(42, 0, out, NOUT);
	struct peer w = {.s = b, .salt = 41, .total = NIN, .shut = true};
	struct peer r = {.s = b, .salt = 42, .start_ms = 300};
	peer_start(&w, writer_main);
	peer_start(&r, reader_main);
	dx_io *io[2] = {io_new(16, 16384), io_new(16, 16384)};
	struct stream st = {0};
	uint64_t sent = 0;
	/* io0, io1, io0 again, then io1 to the end. */
	for (int hop = 0; hop < 4; hop++) {
		dx_io *cur = io[hop % 2];
		ARM(vt->recv(cur, fd_of(a), 1));
		st.sent_done = st.recv_ended = false;
		ARM(vt->send(cur, fd_of(a), out + sent, NOUT - sent, 2, 0));
		if (hop == 3) {
			UNTIL(st.eof && st.sent_done, 20000, "the rest")
				pump(cur, a, 1, &st, false);
			WT_INT_EQ(st.sent, NOUT - sent);
			break;
		}
		uint64_t want = st.got + 128 * 1024;
		UNTIL(st.got >= want || st.eof, 5000, "bytes on this hop")
			pump(cur, a, 1, &st, false);
		WT_INT_EQ(vt->detach(cur, fd_of(a)), 0);
		UNTIL(st.recv_ended && st.sent_done, 5000,
		      "the cancelled operations")
			pump(cur, a, 1, &st, true);
		WT_CHECK(st.sent >= 0 || st.sent == -ECANCELED, "send: %d",
			 st.sent);
		if (st.sent > 0)
			sent += (uint64_t)st.sent;
		dx_io_cqe c[4];
		WT_INT_EQ(io_wait(cur, c, 4, 10), 0);
	}
	WT_INT_EQ(st.got, NIN);
	shutdown(a, SD_SEND);
	peer_join(&w);
	peer_join(&r);
	WT_ASSERT(w.ok);
	WT_ASSERT(r.ok);
	WT_INT_EQ(r.done, NOUT);
	vt->destroy(io[0]);
	vt->destroy(io[1]);
	free(out);
	closesocket(a);
	closesocket(b);
}

/* Four instances arm accept on one listening socket, as the host's
 * workers do on Windows: each gets connections; one detaches and one is
 * destroyed while connections keep coming, and none is lost. */
static void test_shared_listener(void)
{
	enum { K = 4, N = 400 };
	dx_io *io[K];
	for (int i = 0; i < K; i++)
		io[i] = io_new(0, 0);
	uint16_t port;
	SOCKET l = listener(&port);
	for (int i = 0; i < K; i++)
		ARM(vt->accept(io[i], fd_of(l), 100 + (uint64_t)i));
	static SOCKET cli[N];
	int per[K] = {0}, total = 0;
	bool live[K] = {true, true, true, true};
	for (int i = 0; i < N; i++) {
		cli[i] = connect_to(port);
		if (i == N / 4) {
			/* Instance 1 stops accepting: its end comes, and
			 * handoffs already on its port go to the others. */
			WT_INT_EQ(vt->detach(io[1], fd_of(l)), 0);
		}
		if (i == N / 2) {
			vt->destroy(io[2]);
			live[2] = false;
		}
		for (int k = 0; k < K; k++) {
			if (!live[k])
				continue;
			dx_io_cqe c[32];
			int n = io_wait(io[k], c, 32, 0);
			for (int j = 0; j < n; j++) {
				WT_INT_EQ(c[j].op, DX_IO_ACCEPT);
				WT_INT_EQ(c[j].udata, 100 + (uint64_t)k);
				if (c[j].result == -ECANCELED) {
					WT_INT_EQ(k, 1);
					continue;
				}
				WT_CHECK(c[j].result >= 0, "accept: %d",
					 c[j].result);
				closesocket((SOCKET)(intptr_t)c[j].result);
				per[k]++;
				total++;
			}
		}
	}
	UNTIL(total == N, 10000, "every connection")
	{
		for (int k = 0; k < K; k++) {
			if (!live[k])
				continue;
			dx_io_cqe c[32];
			int n = io_wait(io[k], c, 32, 10);
			for (int j = 0; j < n; j++) {
				WT_INT_EQ(c[j].op, DX_IO_ACCEPT);
				if (c[j].result == -ECANCELED)
					continue;
				WT_CHECK(c[j].result >= 0, "accept: %d",
					 c[j].result);
				closesocket((SOCKET)(intptr_t)c[j].result);
				per[k]++;
				total++;
			}
		}
	}
	for (int k = 0; k < K; k++)
		WT_CHECK(per[k] > 0 || k == 2, "instance %d accepted none", k);
	/* Round-robin: the two that stayed to the end took most. */
	WT_CHECK(per[0] >= N / 8 && per[3] >= N / 8, "%d %d %d %d", per[0],
		 per[1], per[2], per[3]);
	for (int k = 0; k < K; k++)
		if (live[k])
			vt->destroy(io[k]);
	for (int i = 0; i < N; i++)
		closesocket(cli[i]);
	closesocket(l);
}

/* ---- main ---- */

static const wt_test tests[] = {
	{"probe", test_probe},
	{"accept", test_accept},
	{"recv", test_recv},
	{"recv_enobufs", test_recv_enobufs},
	{"send", test_send},
	{"wake", test_wake},
	{"timeouts", test_timeouts},
	{"poll", test_poll},
	{"detach_and_move", test_detach_and_move},
	{"shared_listener", test_shared_listener},
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s IO_IOCP_DLL\n", argv[0]);
		return 2;
	}
	WSADATA wsa;
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		fprintf(stderr, "WSAStartup failed\n");
		return 1;
	}
	dx_diag d = DX_DIAG_INIT;
	dx_load_opts lo = {.allow_writable = true}; /* a build dir */
	dx_module m;
	if (dx_module_open(argv[1], &lo, &m, &d) < 0) {
		dx_diag_print(&d, stderr, "test_win_iocp");
		return 1;
	}
	const dx_plugin *p = m.desc;
	if (strcmp(p->name, "io_iocp") != 0 || p->facet_count != 1 ||
	    p->facets[0].kind != DX_FACET_IO ||
	    strcmp(p->facets[0].name, "iocp") != 0) {
		fprintf(stderr, "%s: not io_iocp with one IO facet \"iocp\"\n",
			argv[1]);
		return 1;
	}
	if (p->init(&host, NULL, &vself) < 0)
		return 1;
	vt = p->facets[0].vtable;
	int rc = wt_run("io_iocp", tests, sizeof tests / sizeof tests[0]);
	p->fini(vself);
	dx_module_close(&m);
	dx_diag_clear(&d);
	return rc;
}
