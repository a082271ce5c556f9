/* dx_ctl_conn_win.c - dx_ctl_conn.h over the host's named pipe (the name
 * from control.socket's value by control_pipe_win.h's rule), overlapped
 * so that every wait has the caller's deadline. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <aclapi.h>

#include "control_pipe_win.h"
#include "dx_ctl_conn.h"
#include "loader_win.h" /* dx_wide */

struct dx_ctl_conn {
	HANDLE h;
	OVERLAPPED ov;
};

/* A Windows error as dx_ctl_ask's errno. */
static int dx_ctl_conn_errno(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND: return ENOENT; /* no host serves the pipe */
	case ERROR_ACCESS_DENIED:
		return EACCES; /* another user's host: the DACL says no */
	case ERROR_PIPE_BUSY:
	case ERROR_SEM_TIMEOUT: return ETIMEDOUT;
	case ERROR_BROKEN_PIPE:
	case ERROR_NO_DATA:
	case ERROR_PIPE_NOT_CONNECTED: return EPIPE;
	case ERROR_INVALID_NAME:
	case ERROR_BAD_PATHNAME: return EINVAL;
	default: return EIO;
	}
}

/* 0 when the pipe's owner is this user or SYSTEM, as dx-host makes it
 * (control_pipe_win.c); EPERM when another user's process made the name
 * (while no host served it) and would be sent our requests and trusted
 * with the answers: SECURITY_IDENTIFICATION keeps it from acting as us,
 * not from lying. EIO when Windows cannot say. */
static int dx_ctl_conn_owned(HANDLE h)
{
	PSID owner = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	if (GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
			    &owner, NULL, NULL, NULL, &sd) != ERROR_SUCCESS)
		return EIO;
	union {
		TOKEN_USER tu;
		BYTE room[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
	} me;
	HANDLE tok;
	DWORD len = sizeof me;
	int rc = EIO;
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) {
		if (GetTokenInformation(tok, TokenUser, &me, len, &len))
			rc = EqualSid(owner, me.tu.User.Sid) ||
					     IsWellKnownSid(owner,
							    WinLocalSystemSid)
				     ? 0
				     : EPERM;
		CloseHandle(tok);
	}
	LocalFree(sd);
	return rc;
}

int dx_ctl_conn_open(const char *path, int timeout_ms, dx_ctl_conn **out)
{
	char name[4 * DX_PIPE_NAME_MAX + 1];
	int rc = dx_pipe_name(path, name, sizeof name);
	if (rc < 0)
		return -rc;
	wchar_t *w = dx_wide(name);
	dx_ctl_conn *c = w ? calloc(1, sizeof *c) : NULL;
	HANDLE ev = c ? CreateEventW(NULL, TRUE, FALSE, NULL) : NULL;
	if (!ev) {
		free(c);
		free(w);
		return ENOMEM;
	}
	c->ov.hEvent = ev;
	ULONGLONG deadline = GetTickCount64() + (ULONGLONG)timeout_ms;
	DWORD e = 0;
	for (;;) {
		/* SECURITY_IDENTIFICATION: whoever serves the name may learn
		 * who we are, never act as us. */
		c->h = CreateFileW(
			w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
				SECURITY_IDENTIFICATION,
			NULL);
		if (c->h != INVALID_HANDLE_VALUE) {
			e = 0; /* an earlier try's busy is over */
			break;
		}
		e = GetLastError();
		ULONGLONG now = GetTickCount64();
		/* Every instance busy: wait for one, within the deadline. */
		if (e == ERROR_PIPE_BUSY && now < deadline) {
			if (WaitNamedPipeW(w, (DWORD)(deadline - now)))
				continue;
			e = GetLastError(); /* a timeout, or the host went */
		} else if (e == ERROR_PIPE_BUSY) {
			e = ERROR_SEM_TIMEOUT;
		}
		break;
	}
	int err = e ? dx_ctl_conn_errno(e) : dx_ctl_conn_owned(c->h);
	if (err) {
		if (c->h != INVALID_HANDLE_VALUE)
			CloseHandle(c->h);
		CloseHandle(ev);
		free(c);
		free(w);
		return err;
	}
	free(w);
	*out = c;
	return 0;
}

/* Wait for the overlapped operation just started on c: the bytes moved,
 * or a negated errno (-ETIMEDOUT, the operation cancelled). */
static long dx_ctl_conn_finish(dx_ctl_conn *c, BOOL started, int timeout_ms)
{
	DWORD got = 0;
	if (!started && GetLastError() != ERROR_IO_PENDING)
		return -dx_ctl_conn_errno(GetLastError());
	bool late = WaitForSingleObject(c->ov.hEvent, (DWORD)timeout_ms) !=
		    WAIT_OBJECT_0;
	if (late)
		CancelIoEx(c->h, &c->ov);
	if (!GetOverlappedResult(c->h, &c->ov, &got, TRUE))
		return late ? -ETIMEDOUT : -dx_ctl_conn_errno(GetLastError());
	return (long)got;
}

int dx_ctl_conn_send(dx_ctl_conn *c, const char *buf, size_t n)
{
	while (n) {
		/* The host reads as it waits: a second is plenty for a
		 * request line (dx_ctl_ask's timeout covers the answer). */
		long w = dx_ctl_conn_finish(
			c, WriteFile(c->h, buf, (DWORD)n, NULL, &c->ov), 1000);
		if (w <= 0)
			return w < 0 ? (int)-w : EIO;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

long dx_ctl_conn_recv(dx_ctl_conn *c, char *buf, size_t cap, int timeout_ms)
{
	long r = dx_ctl_conn_finish(
		c, ReadFile(c->h, buf, (DWORD)cap, NULL, &c->ov), timeout_ms);
	return r == -EPIPE ? 0 : r; /* the host closed its end */
}

void dx_ctl_conn_close(dx_ctl_conn *c)
{
	CloseHandle(c->h);
	CloseHandle(c->ov.hEvent);
	free(c);
}

void dx_ctl_conn_where(const char *path, char *out, size_t cap)
{
	char name[4 * DX_PIPE_NAME_MAX + 1];
	int kind = dx_path_pipe(path);
	if (kind != DX_PATH_PIPE_NO && kind != DX_PATH_PIPE_OK)
		snprintf(out, cap, "pipe name %s %s", path,
			 dx_path_pipe_why(kind));
	else if (dx_pipe_name(path, name, sizeof name) < 0 ||
		 strcmp(name, path) == 0)
		snprintf(out, cap, "%s", path);
	else
		snprintf(out, cap, "%s (pipe %s)", path, name);
}
