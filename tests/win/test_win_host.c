/* test_win_host.c - the host core's Windows files under wine, through
 * dxhost (host/meson.build):
 *   path_rules   path_win.c's roots and separators, and the directory part
 *                the manifest takes from a path (manifest.c).
 *   path_real    dx_path_real gives a final path with '/' between its
 *                parts, ENOENT for nothing; dx_path_open reads a file.
 *   shared_holds bind_win.c: a listening socket shared by three workers
 *                is one SOCKET value, open (accepting) until the third
 *                dx_bind_close, closed at it; the port check says another
 *                process has the port while it is bound and nothing after.
 *   unix_file    a unix listener's path: free when nothing is there, a
 *                file that is no socket refused (wine has no AF_UNIX, so
 *                a live or stale socket file cannot be made here).
 *   pin          pin_win.c pins the calling thread (SetThreadAffinityMask
 *                gives the mask back), refuses a CPU past 63. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock.h" /* winsock2.h before windows.h */

#include "bind.h"
#include "cpus.h"
#include "manifest_int.h"
#include "path.h"
#include "pin.h"
#include "wintest.h"

static void path_rules(void)
{
	WT_INT_EQ(dx_path_root("C:/x"), 3);
	WT_INT_EQ(dx_path_root("c:\\x"), 3);
	WT_INT_EQ(dx_path_root("/x"), 1);
	WT_INT_EQ(dx_path_root("\\x"), 1);
	WT_INT_EQ(dx_path_root("\\\\srv\\share\\x"), strlen("\\\\srv\\share\\"));
	WT_INT_EQ(dx_path_root("x/y"), 0);
	WT_INT_EQ(dx_path_root("C:x"), 0); /* relative to C:'s directory */
	WT_ASSERT(dx_path_is_sep('/') && dx_path_is_sep('\\'));
	WT_ASSERT(!dx_path_is_sep(':'));
	/* The directory part: the root's separator stays, another goes. */
	WT_INT_EQ(dx_path_dir_len("C:/x.json"), 3);
	WT_INT_EQ(dx_path_dir_len("C:\\a\\m.json"), 4);
	WT_INT_EQ(dx_path_dir_len("a\\b"), 1);
	WT_INT_EQ(dx_path_dir_len("m.json"), 0);
	WT_INT_EQ(dx_path_dir_len("/m.json"), 1);
	WT_INT_EQ(dx_path_dir_len("Z:/a/b/"), 6);
}

/* A fresh directory under the temp directory, with '\' separators. */
static void temp_dir(char *out, size_t len)
{
	char base[MAX_PATH];
	DWORD n = GetTempPathA(sizeof base, base);
	WT_ASSERT(n > 0 && n < sizeof base);
	snprintf(out, len, "%sdx-win-host-%lu", base,
		 (unsigned long)GetCurrentProcessId());
	WT_ASSERT(CreateDirectoryA(out, NULL) ||
		  GetLastError() == ERROR_ALREADY_EXISTS);
}

static void path_real(void)
{
	char dir[MAX_PATH], file[MAX_PATH + 16];
	temp_dir(dir, sizeof dir);
	snprintf(file, sizeof file, "%s\\m.json", dir);
	FILE *f = fopen(file, "wb");
	WT_ASSERT(f);
	fputs("{\"dx\": 1}", f);
	fclose(f);

	char *r = dx_path_real(file);
	WT_CHECK(r, "dx_path_real(%s): errno %d", file, errno);
	WT_CHECK(!strchr(r, '\\'), "%s has a backslash", r);
	WT_INT_EQ(dx_path_root(r), 3); /* a drive letter, then "/" */
	size_t n = strlen(r);
	WT_CHECK(n > 7 && strcmp(r + n - 7, "/m.json") == 0, "%s", r);
	free(r);

	errno = 0;
	WT_ASSERT(!dx_path_real("C:/no/such/dx/dir"));
	WT_INT_EQ(errno, ENOENT);

	int fd = dx_path_open(file);
	WT_CHECK(fd >= 0, "dx_path_open: errno %d", errno);
	char buf[32] = "";
	WT_INT_EQ(read(fd, buf, sizeof buf - 1), 9);
	WT_STR_HAS(buf, "\"dx\": 1");
	close(fd);
	errno = 0;
	WT_INT_EQ(dx_path_open("C:/no/such/dx/m.json"), -1);
	WT_INT_EQ(errno, ENOENT);
	DeleteFileA(file);
	RemoveDirectoryA(dir);
}

/* Whether fd is a socket that takes a connection to port now. */
static bool accepts(int fd, uint16_t port)
{
	int c = dx_sock_open(AF_INET, SOCK_STREAM, 0);
	if (c < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	bool ok = dx_sock_connect(c, &a, sizeof a) == 0;
	int s = ok ? dx_sock_accept(fd, 0) : -1;
	if (s >= 0)
		dx_sock_close(s);
	dx_sock_close(c);
	return ok && s >= 0;
}

static void shared_holds(void)
{
	dx_listen l = {.kind = DX_LISTEN_TCP4,
		       .text = "127.0.0.1:0",
		       .host = "127.0.0.1"};
	dx_diag d = DX_DIAG_INIT;
	uint16_t port = 0;
	int fd = dx_bind(&l, &port, &d);
	WT_CHECK(fd >= 0, "dx_bind: %s", dx_diag_last(&d));
	WT_ASSERT(port != 0);
	/* Three workers: worker 0's socket and two more holds on it. */
	WT_INT_EQ(dx_bind_share(fd, &l, &d), fd);
	WT_INT_EQ(dx_bind_share(fd, &l, &d), fd);
	WT_ASSERT(accepts(fd, port));
	WT_INT_EQ(dx_port_free(&l, port, &d), -EADDRINUSE);
	WT_STR_HAS(dx_diag_last(&d), "address already in use by another process");
	dx_bind_close(fd);
	dx_bind_close(fd);
	WT_CHECK(accepts(fd, port), "closed before the last hold went");
	dx_bind_close(fd);
	/* Closed: the value names no socket, and the port is free. */
	struct sockaddr_storage ss;
	int len = sizeof ss;
	WT_INT_EQ(getsockname((SOCKET)fd, (struct sockaddr *)&ss, &len),
		  SOCKET_ERROR);
	WT_INT_EQ(WSAGetLastError(), WSAENOTSOCK);
	WT_INT_EQ(dx_port_free(&l, port, &d), 0);
	/* One never shared is closed at once. */
	uint16_t p2 = 0;
	int fd2 = dx_bind(&l, &p2, &d);
	WT_ASSERT(fd2 >= 0);
	dx_bind_close(fd2);
	WT_INT_EQ(dx_port_free(&l, p2, &d), 0);
	dx_diag_clear(&d);
}

static void unix_file(void)
{
	char dir[MAX_PATH], file[MAX_PATH + 16];
	temp_dir(dir, sizeof dir);
	snprintf(file, sizeof file, "%s\\x.sock", dir);
	WT_INT_EQ(dx_bind_unix_file(file), 0);
	FILE *f = fopen(file, "wb");
	WT_ASSERT(f);
	fclose(f);
	WT_INT_EQ(dx_bind_unix_file(file), -EEXIST);
	dx_listen l = {.kind = DX_LISTEN_UNIX, .text = "unix:x.sock",
		       .path = file};
	dx_diag d = DX_DIAG_INIT;
	WT_INT_EQ(dx_bind_unix_claim(&l, &d), -EEXIST);
	WT_STR_HAS(dx_diag_last(&d), "exists and is not a socket");
	dx_diag_clear(&d);
	WT_CHECK(GetFileAttributesA(file) != INVALID_FILE_ATTRIBUTES,
		 "the file was removed");
	DeleteFileA(file);
	RemoveDirectoryA(dir);
}

static void pin(void)
{
	WT_ASSERT(dx_cpus() >= 1);
	WT_INT_EQ(dx_pin_thread(pthread_self(), 0), 0);
	/* The previous mask comes back: the one just set. */
	WT_INT_EQ(SetThreadAffinityMask(GetCurrentThread(), 1), 1);
	WT_INT_EQ(dx_pin_thread(pthread_self(), 64), -EINVAL);
}

int main(void)
{
	static const wt_test tests[] = {
		{"path_rules", path_rules},
		{"path_real", path_real},
		{"shared_holds", shared_holds},
		{"unix_file", unix_file},
		{"pin", pin},
	};
	return wt_run("test_win_host", tests, sizeof tests / sizeof tests[0]);
}
