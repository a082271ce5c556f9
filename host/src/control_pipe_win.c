/* control_pipe_win.c - the control channel's named pipe (see
 * control_pipe_win.h): the name rule, the owner-only DACL, and an
 * overlapped server of one instance per client.
 *
 * Every instance is overlapped with a manual-reset event of its own, so
 * one WaitForMultipleObjects covers the caller's wake event, the instance
 * waiting in ConnectNamedPipe and each client's pending ReadFile (at most
 * 2 + DX_PIPE_CLIENTS handles, well under MAXIMUM_WAIT_OBJECTS). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "control_int.h"
#include "control_pipe_win.h"
#include "loader_win.h" /* dx_wide */

_Static_assert(DX_PIPE_CLIENTS == DX_CTL_CLIENTS,
	       "one pipe instance per control client");

static const char dx_pipe_prefix[] = "\\\\.\\pipe\\";

/* ---- the name ---- */

/* The number of UTF-16 units of a UTF-8 string, its NUL excluded. */
static int dx_pipe_units(const char *s)
{
	int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
	return n > 0 ? n - 1 : 0;
}

int dx_pipe_name(const char *path, char *out, size_t cap)
{
	size_t plen = sizeof dx_pipe_prefix - 1;
	int kind = dx_path_pipe(path);
	if (kind != DX_PATH_PIPE_NO) {
		if (kind == DX_PATH_PIPE_LONG)
			return -ENAMETOOLONG;
		if (kind != DX_PATH_PIPE_OK)
			return -EINVAL;
		if (strlen(path) >= cap)
			return -ENAMETOOLONG;
		memcpy(out, dx_pipe_prefix, plen);
		strcpy(out + plen, path + plen);
	} else {
		wchar_t *w = *path ? dx_wide(path) : NULL;
		DWORD n = w ? GetFullPathNameW(w, 0, NULL, NULL) : 0;
		wchar_t *full = n ? malloc(n * sizeof *full) : NULL;
		bool ok = full && GetFullPathNameW(w, n, full, NULL) < n;
		int head = snprintf(out, cap, "%sdx-", dx_pipe_prefix);
		int got = ok && (size_t)head < cap ?
				  WideCharToMultiByte(CP_UTF8, 0, full, -1,
						      out + head,
						      (int)(cap - (size_t)head),
						      NULL, NULL) :
				  0;
		free(full);
		free(w);
		if (!ok)
			return -EINVAL;
		if (!got)
			return -ENAMETOOLONG;
		for (char *c = out + head; *c; c++)
			if (*c == '\\')
				*c = '/';
	}
	return dx_pipe_units(out) > DX_PIPE_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* ---- the server ---- */

struct dx_pipe_client {
	HANDLE h; /* INVALID_HANDLE_VALUE: a free slot */
	OVERLAPPED ov;
	bool reading;
};

struct dx_pipe_srv {
	wchar_t *wname;
	char name[4 * DX_PIPE_NAME_MAX + 1];
	const char *full;
	/* The security descriptor every instance is created with, and
	 * what it points into. */
	SECURITY_ATTRIBUTES sa;
	SECURITY_DESCRIPTOR sd;
	union {
		TOKEN_USER tu;
		char bytes[256];
	} user;
	char system[SECURITY_MAX_SID_SIZE];
	char acl[256];
	/* The instance waiting for the next client. */
	HANDLE listen;
	OVERLAPPED lov;
	bool connected; /* ConnectNamedPipe said ERROR_PIPE_CONNECTED */
	OVERLAPPED wov; /* writes, one at a time */
	struct dx_pipe_client c[DX_PIPE_CLIENTS];
};

/* The DACL of control_pipe_win.h: the user and SYSTEM, FILE_ALL_ACCESS
 * each, nothing inherited, the owner the user. A Windows error or 0. */
static DWORD dx_pipe_security(dx_pipe_srv *s)
{
	HANDLE tok;
	DWORD len = sizeof s->user;
	DWORD slen = sizeof s->system;
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return GetLastError();
	BOOL ok = GetTokenInformation(tok, TokenUser, &s->user, len, &len);
	DWORD e = ok ? 0 : GetLastError();
	CloseHandle(tok);
	if (e)
		return e;
	PSID user = s->user.tu.User.Sid;
	PSID sys = (PSID)s->system;
	PACL acl = (PACL)s->acl;
	if (!CreateWellKnownSid(WinLocalSystemSid, NULL, sys, &slen) ||
	    !InitializeAcl(acl, sizeof s->acl, ACL_REVISION) ||
	    !AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, user) ||
	    !AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, sys) ||
	    !InitializeSecurityDescriptor(&s->sd,
					  SECURITY_DESCRIPTOR_REVISION) ||
	    !SetSecurityDescriptorOwner(&s->sd, user, FALSE) ||
	    !SetSecurityDescriptorDacl(&s->sd, TRUE, acl, FALSE) ||
	    !SetSecurityDescriptorControl(&s->sd, SE_DACL_PROTECTED,
					  SE_DACL_PROTECTED))
		return GetLastError();
	s->sa = (SECURITY_ATTRIBUTES){sizeof s->sa, &s->sd, FALSE};
	return 0;
}

/* A new instance of the pipe, or INVALID_HANDLE_VALUE with the error in
 * GetLastError(). */
static HANDLE dx_pipe_instance(dx_pipe_srv *s, bool first)
{
	DWORD open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
		     (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
	DWORD mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
		     PIPE_REJECT_REMOTE_CLIENTS;
	/* Buffers: answers can be long (metrics), requests one line. */
	return CreateNamedPipeW(s->wname, open, mode, PIPE_UNLIMITED_INSTANCES,
				65536, DX_CTL_LINE, 0, &s->sa);
}

/* Whether a process serves the name now: a client's open of it succeeds,
 * finds every instance busy, or is refused by its DACL. On Windows
 * FILE_FLAG_FIRST_PIPE_INSTANCE says so without a race; wine 8 ignores
 * the flag (it creates the instance beside the first: test_win_pipe
 * found it), hence this look first, as control_posix.c's at a socket. */
static bool dx_pipe_live(const wchar_t *wname)
{
	HANDLE h = CreateFileW(wname, GENERIC_READ, 0, NULL, OPEN_EXISTING,
			       SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
			       NULL);
	if (h != INVALID_HANDLE_VALUE) {
		CloseHandle(h);
		return true;
	}
	DWORD e = GetLastError();
	return e == ERROR_PIPE_BUSY || e == ERROR_ACCESS_DENIED;
}

/* Have the listening instance wait for a client (creating it if the
 * last attempt failed). false when there is no instance to wait on. */
static bool dx_pipe_listen(dx_pipe_srv *s)
{
	if (s->listen == INVALID_HANDLE_VALUE) {
		s->listen = dx_pipe_instance(s, false);
		if (s->listen == INVALID_HANDLE_VALUE)
			return false;
	}
	ResetEvent(s->lov.hEvent);
	s->connected = false;
	if (ConnectNamedPipe(s->listen, &s->lov))
		s->connected = true;
	else if (GetLastError() == ERROR_PIPE_CONNECTED)
		s->connected = true; /* came between create and connect */
	else if (GetLastError() == ERROR_NO_DATA) {
		/* A client came and went already: start over. */
		DisconnectNamedPipe(s->listen);
		return dx_pipe_listen(s);
	} else if (GetLastError() != ERROR_IO_PENDING) {
		DWORD e = GetLastError();
		CloseHandle(s->listen); /* the next wait makes another */
		s->listen = INVALID_HANDLE_VALUE;
		SetLastError(e);
		return false;
	}
	if (s->connected)
		SetEvent(s->lov.hEvent);
	return true;
}

static void dx_pipe_free(dx_pipe_srv *s)
{
	for (int i = 0; i < DX_PIPE_CLIENTS; i++)
		if (s->c[i].ov.hEvent)
			CloseHandle(s->c[i].ov.hEvent);
	if (s->lov.hEvent)
		CloseHandle(s->lov.hEvent);
	if (s->wov.hEvent)
		CloseHandle(s->wov.hEvent);
	free(s->wname);
	free(s);
}

int dx_pipe_srv_open(const char *name, const char *what, const char *full,
		     dx_diag *d, dx_pipe_srv **out)
{
	dx_pipe_srv *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->full = full;
	s->listen = INVALID_HANDLE_VALUE;
	bool events = (s->lov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) &&
		      (s->wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL));
	for (int i = 0; i < DX_PIPE_CLIENTS; i++) {
		s->c[i].h = INVALID_HANDLE_VALUE;
		events = events && (s->c[i].ov.hEvent = CreateEventW(
					    NULL, TRUE, FALSE, NULL));
	}
	DWORD e = !events ? GetLastError() : 0;
	if (!e && !(s->wname = dx_wide(name)))
		e = ERROR_INVALID_NAME;
	if (!e)
		e = dx_pipe_security(s);
	/* Only these two steps can say another process has the name (an
	 * access refusal from the token or an event is our own trouble). */
	bool taken = false;
	if (!e && dx_pipe_live(s->wname))
		taken = true; /* what the flag would have said */
	if (!e && !taken) {
		s->listen = dx_pipe_instance(s, true);
		e = s->listen == INVALID_HANDLE_VALUE ? GetLastError() : 0;
		taken = e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY;
	}
	if (taken) {
		/* The first instance exists: another host (or anyone) has
		 * the name. */
		dx_diag_add(d, "%s: pipe %s: " DX_CTL_BUSY, what, name);
		dx_pipe_free(s);
		return -EADDRINUSE;
	}
	if (!e && !dx_pipe_listen(s))
		e = GetLastError();
	if (e) {
		dx_diag_add(d, "%s: pipe %s: Windows error %lu", what, name,
			    (unsigned long)e);
		if (s->listen != INVALID_HANDLE_VALUE)
			CloseHandle(s->listen);
		dx_pipe_free(s);
		return -EIO;
	}
	*out = s;
	return 0;
}

/* Wait for an overlapped operation's end after it was cancelled or
 * completed, so its buffer and OVERLAPPED are free again. */
static void dx_pipe_settle(HANDLE h, OVERLAPPED *ov)
{
	DWORD got;
	CancelIoEx(h, ov);
	GetOverlappedResult(h, ov, &got, TRUE);
}

void dx_pipe_srv_drop(dx_pipe_srv *s, int client)
{
	struct dx_pipe_client *k = &s->c[client];
	if (k->h == INVALID_HANDLE_VALUE)
		return;
	if (k->reading)
		dx_pipe_settle(k->h, &k->ov);
	k->reading = false;
	/* Closed, not disconnected: DisconnectNamedPipe would throw away
	 * an answer the client has not read yet (a Unix socket's close
	 * keeps it); the client reads it, then sees the pipe broken. */
	CloseHandle(k->h);
	k->h = INVALID_HANDLE_VALUE;
}

/* Send text and a newline on h: 0, or -EPIPE. */
static int dx_pipe_put(dx_pipe_srv *s, HANDLE h, const char *text)
{
	const char *part[2] = {text, "\n"};
	for (int i = 0; i < 2; i++) {
		DWORD n = (DWORD)strlen(part[i]), got = 0;
		if (!WriteFile(h, part[i], n, NULL, &s->wov) &&
		    GetLastError() != ERROR_IO_PENDING)
			return -EPIPE;
		/* Answers are small; a client that does not take one within
		 * a second is let go (the Unix socket's SO_SNDTIMEO). */
		if (WaitForSingleObject(s->wov.hEvent, 1000) != WAIT_OBJECT_0)
			CancelIoEx(h, &s->wov);
		if (!GetOverlappedResult(h, &s->wov, &got, TRUE) || got != n)
			return -EPIPE;
	}
	return 0;
}

int dx_pipe_srv_write(dx_pipe_srv *s, int client, const char *text)
{
	HANDLE h = s->c[client].h;
	if (h != INVALID_HANDLE_VALUE && dx_pipe_put(s, h, text) == 0)
		return 0;
	dx_pipe_srv_drop(s, client);
	return -EPIPE;
}

int dx_pipe_srv_read(dx_pipe_srv *s, int client, void *buf, size_t cap)
{
	struct dx_pipe_client *k = &s->c[client];
	if (k->h == INVALID_HANDLE_VALUE)
		return -EPIPE;
	/* Done or pending, the event tells: a read that completes at once
	 * sets it too. */
	if (!ReadFile(k->h, buf, (DWORD)cap, NULL, &k->ov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		dx_pipe_srv_drop(s, client);
		return -EPIPE;
	}
	k->reading = true;
	return 0;
}

/* The listening instance has a client: give it a slot and listen anew
 * on a fresh instance; when every slot is taken, tell it and let it go. */
static int dx_pipe_accept(dx_pipe_srv *s, int *client)
{
	DWORD got;
	if (!s->connected &&
	    !GetOverlappedResult(s->listen, &s->lov, &got, FALSE)) {
		DisconnectNamedPipe(s->listen); /* it left already */
		dx_pipe_listen(s);
		return DX_PIPE_NONE;
	}
	for (int i = 0; i < DX_PIPE_CLIENTS; i++) {
		if (s->c[i].h != INVALID_HANDLE_VALUE)
			continue;
		s->c[i].h = s->listen;
		s->c[i].reading = false;
		s->listen = INVALID_HANDLE_VALUE;
		dx_pipe_listen(s); /* failing, the next wait tries again */
		*client = i;
		return DX_PIPE_NEW;
	}
	dx_pipe_put(s, s->listen, s->full);
	CloseHandle(s->listen); /* see dx_pipe_srv_drop */
	s->listen = INVALID_HANDLE_VALUE;
	dx_pipe_listen(s);
	return DX_PIPE_NONE;
}

int dx_pipe_srv_wait(dx_pipe_srv *s, HANDLE wake, int timeout_ms, int *client,
		     size_t *n)
{
	HANDLE h[2 + DX_PIPE_CLIENTS];
	int map[2 + DX_PIPE_CLIENTS], count = 0;
	if (wake) {
		h[count] = wake;
		map[count++] = -2;
	}
	if (s->listen != INVALID_HANDLE_VALUE || dx_pipe_listen(s)) {
		h[count] = s->lov.hEvent;
		map[count++] = -1;
	} else if (timeout_ms < 0 || timeout_ms > 1000) {
		timeout_ms = 1000; /* no instance: try again soon */
	}
	for (int i = 0; i < DX_PIPE_CLIENTS; i++) {
		if (s->c[i].h == INVALID_HANDLE_VALUE || !s->c[i].reading)
			continue;
		h[count] = s->c[i].ov.hEvent;
		map[count++] = i;
	}
	DWORD r = count ? WaitForMultipleObjects((DWORD)count, h, FALSE,
						 timeout_ms < 0 ?
							 INFINITE :
							 (DWORD)timeout_ms) :
			  (Sleep((DWORD)timeout_ms), WAIT_TIMEOUT);
	if (r == WAIT_TIMEOUT)
		return DX_PIPE_NONE;
	if (r >= WAIT_OBJECT_0 + (DWORD)count)
		return -EIO;
	int m = map[r - WAIT_OBJECT_0];
	if (m == -2)
		return DX_PIPE_WAKE;
	if (m == -1)
		return dx_pipe_accept(s, client);
	struct dx_pipe_client *k = &s->c[m];
	DWORD got = 0;
	k->reading = false;
	*client = m;
	*n = 0;
	if (GetOverlappedResult(k->h, &k->ov, &got, FALSE) && got)
		*n = got;
	else
		dx_pipe_srv_drop(s, m); /* ERROR_BROKEN_PIPE: it closed */
	return DX_PIPE_READ;
}

const char *dx_pipe_srv_name(const dx_pipe_srv *s)
{
	return s->name;
}

void dx_pipe_srv_close(dx_pipe_srv *s)
{
	if (!s)
		return;
	for (int i = 0; i < DX_PIPE_CLIENTS; i++)
		dx_pipe_srv_drop(s, i);
	if (s->listen != INVALID_HANDLE_VALUE) {
		if (!s->connected)
			dx_pipe_settle(s->listen, &s->lov);
		CloseHandle(s->listen);
	}
	dx_pipe_free(s);
}
