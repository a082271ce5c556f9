/* test_win_pipe.c - the control channel's named pipe under wine, without
 * a host: control_pipe_win.c's server on a thread of its own answering
 * each line, and dx ctl's transport (tools/dx_ctl_conn_win.c) as the
 * client. Checked: the name rule; a line in and an answer out, split and
 * pipelined; a client that leaves frees its slot; the DACL read back from
 * a client's handle (protected, the user as owner, the user and SYSTEM
 * with every right, no one else); a second server on the name refused
 * with the message a second dx-host prints; the client past the last slot
 * told so; the client's errors (no pipe: ENOENT; no answer: ETIMEDOUT;
 * a pipe another user owns: EPERM).
 * tests/win/control.sh does the same through dx-host.exe and dx.exe. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <aclapi.h>

#include "control_int.h"
#include "control_pipe_win.h"
#include "dx_ctl_conn.h"
#include "wintest.h"

/* ---- the name rule ---- */

static void test_name_rule(void)
{
	char out[1100];
	WT_INT_EQ(dx_pipe_name("\\\\.\\pipe\\my-host", out, sizeof out), 0);
	WT_CHECK(strcmp(out, "\\\\.\\pipe\\my-host") == 0, "got %s", out);
	WT_INT_EQ(dx_pipe_name("//./pipe/my-host", out, sizeof out), 0);
	WT_CHECK(strcmp(out, "\\\\.\\pipe\\my-host") == 0, "got %s", out);
	WT_INT_EQ(dx_pipe_name("C:\\srv\\dx.sock", out, sizeof out), 0);
	WT_CHECK(strcmp(out, "\\\\.\\pipe\\dx-C:/srv/dx.sock") == 0, "got %s",
		 out);
	/* The same file by forward slashes and by a dot: the same pipe. */
	WT_INT_EQ(dx_pipe_name("C:/srv/./dx.sock", out, sizeof out), 0);
	WT_CHECK(strcmp(out, "\\\\.\\pipe\\dx-C:/srv/dx.sock") == 0, "got %s",
		 out);
	/* Relative: from the current directory. */
	char cwd[MAX_PATH], want[1100];
	WT_ASSERT(GetCurrentDirectoryA(sizeof cwd, cwd) > 0);
	for (char *c = cwd; *c; c++)
		if (*c == '\\')
			*c = '/';
	snprintf(want, sizeof want, "\\\\.\\pipe\\dx-%s%sdx.sock", cwd,
		 cwd[strlen(cwd) - 1] == '/' ? "" : "/");
	WT_INT_EQ(dx_pipe_name("dx.sock", out, sizeof out), 0);
	WT_CHECK(strcmp(out, want) == 0, "got %s, want %s", out, want);
	/* Too long for a pipe name (256), empty, a bare prefix. */
	char lng[400] = "C:\\";
	memset(lng + 3, 'a', 300);
	lng[303] = '\0';
	WT_INT_EQ(dx_pipe_name(lng, out, sizeof out), -ENAMETOOLONG);
	WT_INT_EQ(dx_pipe_name("", out, sizeof out), -EINVAL);
	WT_INT_EQ(dx_pipe_name("\\\\.\\pipe\\", out, sizeof out), -EINVAL);
}

/* ---- a server on its own thread ---- */

struct srv {
	dx_pipe_srv *s;
	HANDLE stop, thread;
	char name[300];
	char buf[DX_PIPE_CLIENTS][DX_CTL_LINE];
	size_t len[DX_PIPE_CLIENTS];
	volatile LONG gone; /* clients seen leaving */
	bool mute;          /* read, never answer */
};

/* Answer every line {"echo": LINE, "client": K}. */
static void srv_lines(struct srv *x, int k)
{
	char *nl;
	while ((nl = memchr(x->buf[k], '\n', x->len[k]))) {
		*nl = '\0';
		char answer[DX_CTL_LINE + 64];
		snprintf(answer, sizeof answer,
			 "{\"echo\": \"%s\", \"client\": %d}", x->buf[k], k);
		if (!x->mute)
			dx_pipe_srv_write(x->s, k, answer);
		size_t used = (size_t)(nl + 1 - x->buf[k]);
		memmove(x->buf[k], nl + 1, x->len[k] - used);
		x->len[k] -= used;
	}
}

static DWORD WINAPI srv_main(void *arg)
{
	struct srv *x = arg;
	for (;;) {
		int k = -1;
		size_t n = 0;
		int w = dx_pipe_srv_wait(x->s, x->stop, -1, &k, &n);
		if (w < 0 || w == DX_PIPE_WAKE)
			return 0;
		if (w == DX_PIPE_READ && !n) {
			InterlockedIncrement(&x->gone);
			continue;
		}
		if (w == DX_PIPE_NEW)
			x->len[k] = 0;
		else if (w == DX_PIPE_READ) {
			x->len[k] += n;
			srv_lines(x, k);
		} else
			continue;
		dx_pipe_srv_read(x->s, k, x->buf[k] + x->len[k],
				 sizeof x->buf[k] - 1 - x->len[k]);
	}
}

static int names;

static struct srv *srv_start(void)
{
	struct srv *x = calloc(1, sizeof *x);
	WT_ASSERT(x != NULL);
	snprintf(x->name, sizeof x->name, "\\\\.\\pipe\\dx-test-%lu-%d",
		 GetCurrentProcessId(), ++names);
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_pipe_srv_open(x->name, "control.socket test", DX_CTL_FULL,
				  &d, &x->s);
	WT_CHECK(rc == 0, "dx_pipe_srv_open: %d %s", rc, dx_diag_last(&d));
	dx_diag_clear(&d);
	x->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
	x->thread = CreateThread(NULL, 0, srv_main, x, 0, NULL);
	WT_ASSERT(x->stop && x->thread);
	return x;
}

static void srv_stop(struct srv *x)
{
	SetEvent(x->stop);
	WT_INT_EQ(WaitForSingleObject(x->thread, 10000), WAIT_OBJECT_0);
	CloseHandle(x->thread);
	CloseHandle(x->stop);
	dx_pipe_srv_close(x->s);
	free(x);
}

static dx_ctl_conn *connect_to(const char *name)
{
	dx_ctl_conn *c = NULL;
	int e = dx_ctl_conn_open(name, 5000, &c);
	WT_CHECK(e == 0, "dx_ctl_conn_open %s: %s", name, strerror(e));
	return c;
}

/* Read one line (the newline dropped) into out. */
static void read_line(dx_ctl_conn *c, char *out, size_t cap)
{
	size_t len = 0;
	for (;;) {
		WT_ASSERT(len + 1 < cap);
		long r = dx_ctl_conn_recv(c, out + len, 1, 10000);
		WT_CHECK(r == 1, "recv: %ld after \"%.*s\"", r, (int)len, out);
		if (out[len] == '\n')
			break;
		len++;
	}
	out[len] = '\0';
}

/* ---- the cases ---- */

static void test_line_in_answer_out(void)
{
	struct srv *x = srv_start();
	dx_ctl_conn *c = connect_to(x->name);
	char line[DX_CTL_LINE];
	WT_INT_EQ(dx_ctl_conn_send(c, "status\n", 7), 0);
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "{\"echo\": \"status\", \"client\": ");
	/* A line in two writes, then two lines in one. */
	WT_INT_EQ(dx_ctl_conn_send(c, "pl", 2), 0);
	Sleep(50);
	WT_INT_EQ(dx_ctl_conn_send(c, "ugins\nstats\nmetrics\n", 20), 0);
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"echo\": \"plugins\"");
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"echo\": \"stats\"");
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"echo\": \"metrics\"");
	/* A second client beside the first. */
	dx_ctl_conn *c2 = connect_to(x->name);
	WT_INT_EQ(dx_ctl_conn_send(c2, "second\n", 7), 0);
	read_line(c2, line, sizeof line);
	WT_STR_HAS(line, "\"echo\": \"second\"");
	dx_ctl_conn_close(c2);
	dx_ctl_conn_close(c);
	/* Both leaving is seen: their slots are free again. */
	for (int i = 0; i < 500 && x->gone < 2; i++)
		Sleep(10);
	WT_INT_EQ(x->gone, 2);
	srv_stop(x);
}

/* The SID of the user this process runs as, malloc'd. */
static PSID user_sid(void)
{
	HANDLE tok;
	char buf[256];
	DWORD len = sizeof buf;
	WT_ASSERT(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok));
	WT_ASSERT(GetTokenInformation(tok, TokenUser, buf, len, &len));
	CloseHandle(tok);
	PSID sid = ((TOKEN_USER *)buf)->User.Sid;
	PSID copy = malloc(GetLengthSid(sid));
	WT_ASSERT(copy && CopySid(GetLengthSid(sid), copy, sid));
	return copy;
}

/* The pipe's DACL, read back from a client's handle: protected, the user
 * as owner, FILE_ALL_ACCESS for the user and SYSTEM, no other entry. */
static void check_dacl(const char *name)
{
	wchar_t wname[300];
	MultiByteToWideChar(CP_UTF8, 0, name, -1, wname, 300);
	HANDLE h = CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL,
			       OPEN_EXISTING, 0, NULL);
	WT_CHECK(h != INVALID_HANDLE_VALUE, "open %s: error %lu", name,
		 GetLastError());
	PSID owner = NULL;
	PACL dacl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	DWORD e = GetSecurityInfo(h, SE_KERNEL_OBJECT,
				  OWNER_SECURITY_INFORMATION |
					  DACL_SECURITY_INFORMATION,
				  &owner, NULL, &dacl, NULL, &sd);
	CloseHandle(h);
	WT_CHECK(e == ERROR_SUCCESS, "GetSecurityInfo: error %lu", e);
	PSID me = user_sid();
	char sys_buf[SECURITY_MAX_SID_SIZE];
	DWORD slen = sizeof sys_buf;
	PSID sys = (PSID)sys_buf;
	WT_ASSERT(CreateWellKnownSid(WinLocalSystemSid, NULL, sys, &slen));
	WT_CHECK(owner && EqualSid(owner, me), "the owner is not the user");
	SECURITY_DESCRIPTOR_CONTROL ctl;
	DWORD rev;
	WT_ASSERT(GetSecurityDescriptorControl(sd, &ctl, &rev));
	WT_CHECK(ctl & SE_DACL_PROTECTED, "the DACL is not protected (0x%x)",
		 ctl);
	WT_CHECK(dacl != NULL, "no DACL: anyone may connect");
	WT_INT_EQ(dacl->AceCount, 2);
	bool user_seen = false, sys_seen = false;
	for (DWORD i = 0; i < dacl->AceCount; i++) {
		ACE_HEADER *a;
		WT_ASSERT(GetAce(dacl, i, (void **)&a));
		WT_INT_EQ(a->AceType, ACCESS_ALLOWED_ACE_TYPE);
		ACCESS_ALLOWED_ACE *al = (ACCESS_ALLOWED_ACE *)a;
		PSID who = (PSID)&al->SidStart;
		WT_CHECK(al->Mask == FILE_ALL_ACCESS, "ACE %lu grants 0x%lx", i,
			 al->Mask);
		user_seen |= EqualSid(who, me);
		sys_seen |= EqualSid(who, sys);
	}
	WT_CHECK(user_seen && sys_seen, "user %d, SYSTEM %d", user_seen,
		 sys_seen);
	LocalFree(sd);
	free(me);
}

static void test_dacl_owner_only(void)
{
	struct srv *x = srv_start();
	check_dacl(x->name);
	srv_stop(x);
}

static void test_second_server_refused(void)
{
	struct srv *x = srv_start();
	dx_pipe_srv *again = NULL;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_pipe_srv_open(x->name, "control.socket C:\\srv\\dx.sock",
				  DX_CTL_FULL, &d, &again);
	WT_INT_EQ(rc, -EADDRINUSE);
	WT_STR_HAS(dx_diag_last(&d), "control.socket C:\\srv\\dx.sock: pipe ");
	WT_STR_HAS(dx_diag_last(&d), x->name);
	WT_STR_HAS(dx_diag_last(&d), "another process serves it (a dx-host "
				     "with the same control.socket?)");
	dx_diag_clear(&d);
	/* The first still serves. */
	dx_ctl_conn *c = connect_to(x->name);
	char line[256];
	WT_INT_EQ(dx_ctl_conn_send(c, "still\n", 6), 0);
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"echo\": \"still\"");
	dx_ctl_conn_close(c);
	char name[sizeof x->name];
	strcpy(name, x->name);
	srv_stop(x);
	/* Closed, the name is free for the next host. */
	rc = dx_pipe_srv_open(name, "control.socket again", DX_CTL_FULL, &d,
			      &again);
	WT_CHECK(rc == 0, "reopen: %d %s", rc, dx_diag_last(&d));
	dx_pipe_srv_close(again);
}

static void test_too_many_clients(void)
{
	struct srv *x = srv_start();
	dx_ctl_conn *c[DX_PIPE_CLIENTS];
	char line[256];
	/* Each answered, so each has its slot before the next comes. */
	for (int i = 0; i < DX_PIPE_CLIENTS; i++) {
		c[i] = connect_to(x->name);
		WT_INT_EQ(dx_ctl_conn_send(c[i], "hi\n", 3), 0);
		read_line(c[i], line, sizeof line);
	}
	dx_ctl_conn *more = connect_to(x->name);
	read_line(more, line, sizeof line);
	WT_CHECK(strcmp(line, DX_CTL_FULL) == 0, "got %s", line);
	WT_INT_EQ(dx_ctl_conn_recv(more, line, sizeof line, 5000), 0);
	dx_ctl_conn_close(more);
	/* One leaves: the next gets its slot. */
	dx_ctl_conn_close(c[0]);
	for (int i = 0; i < 500 && x->gone < 1; i++)
		Sleep(10);
	c[0] = connect_to(x->name);
	WT_INT_EQ(dx_ctl_conn_send(c[0], "back\n", 5), 0);
	read_line(c[0], line, sizeof line);
	WT_STR_HAS(line, "\"echo\": \"back\"");
	for (int i = 0; i < DX_PIPE_CLIENTS; i++)
		dx_ctl_conn_close(c[i]);
	srv_stop(x);
}

static void test_client_errors(void)
{
	dx_ctl_conn *c = NULL;
	WT_INT_EQ(dx_ctl_conn_open("\\\\.\\pipe\\dx-test-nobody-here", 1000,
				   &c),
		  ENOENT);
	char where[600];
	dx_ctl_conn_where("C:\\srv\\dx.sock", where, sizeof where);
	WT_CHECK(strcmp(where, "C:\\srv\\dx.sock (pipe \\\\.\\pipe\\dx-C:/srv/"
			       "dx.sock)") == 0,
		 "got %s", where);
	/* A server that never answers: the client's deadline holds. */
	struct srv *x = srv_start();
	x->mute = true;
	c = connect_to(x->name);
	WT_INT_EQ(dx_ctl_conn_send(c, "status\n", 7), 0);
	char buf[64];
	ULONGLONG t0 = GetTickCount64();
	WT_INT_EQ(dx_ctl_conn_recv(c, buf, sizeof buf, 300), -ETIMEDOUT);
	WT_CHECK(GetTickCount64() - t0 < 20000, "the timeout took %llu ms",
		 GetTickCount64() - t0);
	dx_ctl_conn_close(c);
	srv_stop(x);
}

/* A pipe whose owner is neither this user nor SYSTEM (a name another
 * user made while no host served it): dx ctl refuses it with EPERM
 * before sending anything. The owner here is Everyone (S-1-1-0), which
 * stands for another user; the pipe's DACL lets us in. */
static void test_foreign_owner_refused(void)
{
	BYTE everyone[SECURITY_MAX_SID_SIZE];
	DWORD len = sizeof everyone;
	WT_ASSERT(CreateWellKnownSid(WinWorldSid, NULL, everyone, &len));
	SECURITY_DESCRIPTOR sd;
	WT_ASSERT(InitializeSecurityDescriptor(&sd,
					       SECURITY_DESCRIPTOR_REVISION));
	WT_ASSERT(SetSecurityDescriptorOwner(&sd, (PSID)everyone, FALSE));
	WT_ASSERT(SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE));
	SECURITY_ATTRIBUTES sa = {sizeof sa, &sd, FALSE};
	char name[64];
	snprintf(name, sizeof name, "\\\\.\\pipe\\dx-test-foreign-%lu",
		 (unsigned long)GetCurrentProcessId());
	HANDLE p = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX,
				    PIPE_TYPE_BYTE | PIPE_WAIT, 1, 4096, 4096,
				    0, &sa);
	WT_CHECK(p != INVALID_HANDLE_VALUE, "CreateNamedPipe with owner "
		 "Everyone: Windows error %lu", (unsigned long)GetLastError());
	/* What the client will find: the owner as set. */
	dx_ctl_conn *c = NULL;
	WT_INT_EQ(dx_ctl_conn_open(name, 2000, &c), EPERM);
	WT_ASSERT(c == NULL);
	CloseHandle(p);
}

/* `test_win_pipe dacl PIPE`: only the DACL check, on a pipe another
 * process serves (tests/win/control.sh, on dx-host.exe's). */
static const char *dacl_of;

static void test_dacl_of_host(void)
{
	check_dacl(dacl_of);
}

/* `test_win_pipe host PIPE`: control.c's framing through control_win.c,
 * on a dx-host.exe's pipe: two requests in one write and one split over
 * two, answered in order; a line that is not JSON; a line too long,
 * answered before the host lets the client go (closed, not
 * disconnected, so the answer is still there to read). */
static const char *host_pipe;

static void test_host_lines(void)
{
	dx_ctl_conn *c = connect_to(host_pipe);
	char line[DX_CTL_LINE];
	const char *two = "{\"cmd\": \"status\"}\n{\"cmd\": \"plugins\"}\n";
	WT_INT_EQ(dx_ctl_conn_send(c, two, strlen(two)), 0);
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"uptime_s\":");
	WT_STR_HAS(line, "\"ok\":true");
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"plugins\":[");
	const char *head = "{\"cmd\": \"st", *tail = "ats\"}\n";
	WT_INT_EQ(dx_ctl_conn_send(c, head, strlen(head)), 0);
	Sleep(50);
	WT_INT_EQ(dx_ctl_conn_send(c, tail, strlen(tail)), 0);
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "\"background\":{");
	WT_INT_EQ(dx_ctl_conn_send(c, "status\n", 7), 0);
	read_line(c, line, sizeof line);
	WT_STR_HAS(line, "{\"ok\":false,\"error\":\"expected a JSON object");
	char *lng = malloc(DX_CTL_LINE + 100);
	WT_ASSERT(lng != NULL);
	memset(lng, 'x', DX_CTL_LINE + 100);
	int e = dx_ctl_conn_send(c, lng, DX_CTL_LINE + 100);
	free(lng);
	WT_INT_EQ(e, 0);
	read_line(c, line, sizeof line);
	WT_CHECK(strcmp(line, "{\"ok\":false,\"error\":\"line too long\"}") ==
			 0,
		 "got %s", line);
	WT_INT_EQ(dx_ctl_conn_recv(c, line, sizeof line, 10000), 0);
	dx_ctl_conn_close(c);
}

int main(int argc, char **argv)
{
	static const wt_test tests[] = {
		{"name_rule", test_name_rule},
		{"line_in_answer_out", test_line_in_answer_out},
		{"dacl_owner_only", test_dacl_owner_only},
		{"second_server_refused", test_second_server_refused},
		{"too_many_clients", test_too_many_clients},
		{"client_errors", test_client_errors},
		{"foreign_owner_refused", test_foreign_owner_refused},
	};
	static const wt_test dacl[] = {{"dacl_of_host", test_dacl_of_host}};
	static const wt_test host[] = {{"host_lines", test_host_lines}};
	if (argc == 3 && strcmp(argv[1], "dacl") == 0) {
		dacl_of = argv[2];
		return wt_run("test_win_pipe dacl", dacl, 1);
	}
	if (argc == 3 && strcmp(argv[1], "host") == 0) {
		host_pipe = argv[2];
		return wt_run("test_win_pipe host", host, 1);
	}
	return wt_run("test_win_pipe", tests, sizeof tests / sizeof *tests);
}
