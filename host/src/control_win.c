/* control_win.c - the control channel's transport on Windows: JSON lines
 * (control.c) over the named pipe control.socket names
 * (control_pipe_win.h: the name rule and the DACL), and the console
 * control events in place of SIGINT and SIGTERM.
 *
 * Runs on the main thread, as control_posix.c: one wait over the console
 * handler's event, the pipe's waiting instance and its clients' reads.
 * The console events map to what dx_control_run returns on POSIX:
 * CTRL_C_EVENT is SIGINT; CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT and
 * CTRL_SHUTDOWN_EVENT are SIGTERM (stop and drain). CTRL_LOGOFF_EVENT,
 * which only services receive, when any user logs off, is ignored: the
 * default handler would end a host run as a service at once. A host
 * started with CREATE_NEW_PROCESS_GROUP ignores Ctrl+C, as Windows means
 * such a process to (its starter stops it by Ctrl+Break or dx ctl drain).
 * There is no SIGHUP: `dx ctl apply` re-reads the manifest.
 *
 * The handler runs on a thread the system starts for it. It finds the
 * open dx_control through this file's one global (under a lock, so
 * dx_control_close can take it away), records the event and wakes the
 * loop. For CTRL_CLOSE_EVENT and CTRL_SHUTDOWN_EVENT the system ends the
 * process as soon as the handler returns, so the handler does not return:
 * the process ends when main does, after the drain, or at the system's own
 * deadline for those events (5 s for a console closing). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "control.h"
#include "control_int.h"
#include "control_pipe_win.h"
#include "registry.h"
#include "reload.h" /* dx_server_reap */

struct dx_control {
	dx_pipe_srv *pipe; /* NULL: no control.socket */
	HANDLE wake;       /* set by the console handler */
	volatile LONG signo;
	volatile LONG event; /* the console event, for the log */
	dx_ctl_line in[DX_CTL_CLIENTS];
};

static SRWLOCK dx_ctl_lock = SRWLOCK_INIT;
static dx_control *dx_ctl_open_one; /* the handler's, under dx_ctl_lock */

static BOOL WINAPI dx_ctl_console(DWORD ev)
{
	if (ev == CTRL_LOGOFF_EVENT)
		return TRUE; /* another user's session: not ours to end */
	int signo = ev == CTRL_C_EVENT ? SIGINT :
		    ev == CTRL_BREAK_EVENT || ev == CTRL_CLOSE_EVENT ||
				    ev == CTRL_SHUTDOWN_EVENT ?
					 SIGTERM :
					 0;
	if (!signo)
		return FALSE; /* the next handler's (or the default) */
	AcquireSRWLockShared(&dx_ctl_lock);
	dx_control *c = dx_ctl_open_one;
	if (c) {
		InterlockedExchange(&c->event, (LONG)ev);
		InterlockedExchange(&c->signo, signo);
		SetEvent(c->wake);
	}
	ReleaseSRWLockShared(&dx_ctl_lock);
	if (c && (ev == CTRL_CLOSE_EVENT || ev == CTRL_SHUTDOWN_EVENT))
		Sleep(INFINITE); /* see the top of the file */
	return c != NULL;
}

int dx_control_open(const char *path, dx_diag *d, dx_control **out)
{
	dx_control *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->wake = CreateEventW(NULL, FALSE, FALSE, NULL);
	if (!c->wake) {
		dx_diag_add(d, "console control handler: Windows error %lu",
			    (unsigned long)GetLastError());
		free(c);
		return -ENOMEM;
	}
	AcquireSRWLockExclusive(&dx_ctl_lock);
	bool taken = dx_ctl_open_one != NULL;
	if (!taken)
		dx_ctl_open_one = c;
	ReleaseSRWLockExclusive(&dx_ctl_lock);
	if (taken) { /* one per process: the handler has one to wake */
		dx_diag_add(d, "console control handler: %s", strerror(EBUSY));
		CloseHandle(c->wake);
		free(c);
		return -EBUSY;
	}
	if (!SetConsoleCtrlHandler(dx_ctl_console, TRUE)) {
		dx_diag_add(d, "console control handler: Windows error %lu",
			    (unsigned long)GetLastError());
		dx_control_close(c);
		return -EIO;
	}
	if (path) {
		char name[4 * DX_PIPE_NAME_MAX + 1], what[4200];
		snprintf(what, sizeof what, "control.socket %s", path);
		int rc = dx_pipe_name(path, name, sizeof name);
		int kind = dx_path_pipe(path); /* the manifest checked it */
		if (rc < 0 && kind != DX_PATH_PIPE_NO &&
		    kind != DX_PATH_PIPE_OK)
			dx_diag_add(d, "%s: pipe name %s", what,
				    dx_path_pipe_why(kind));
		else if (rc < 0)
			dx_diag_add(
				d, "%s: %s", what,
				rc == -ENAMETOOLONG ?
					"too long for a pipe name (256 "
					"characters with \\\\.\\pipe\\dx-); "
					"use a shorter path" :
					"not a path Windows can make "
					"absolute");
		else
			rc = dx_pipe_srv_open(name, what, DX_CTL_FULL, d,
					      &c->pipe);
		if (rc < 0) {
			dx_control_close(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

void dx_control_close(dx_control *c)
{
	if (!c)
		return;
	SetConsoleCtrlHandler(dx_ctl_console, FALSE);
	AcquireSRWLockExclusive(&dx_ctl_lock);
	if (dx_ctl_open_one == c)
		dx_ctl_open_one = NULL;
	ReleaseSRWLockExclusive(&dx_ctl_lock);
	dx_pipe_srv_close(c->pipe);
	CloseHandle(c->wake);
	free(c);
}

/* ---- the loop ---- */

struct dx_ctl_to {
	dx_control *c;
	int client;
};

/* dx_ctl_send_fn over a client's pipe instance. */
static void dx_ctl_send(void *ud, const char *text)
{
	struct dx_ctl_to *to = ud;
	dx_pipe_srv_write(to->c->pipe, to->client, text);
}

static void dx_ctl_arm(dx_control *c, int k)
{
	dx_ctl_line *l = &c->in[k];
	dx_pipe_srv_read(c->pipe, k, l->buf + l->len,
			 sizeof l->buf - 1 - l->len);
}

static const char *dx_ctl_event_name(LONG ev)
{
	switch (ev) {
	case CTRL_C_EVENT: return "CTRL_C_EVENT";
	case CTRL_BREAK_EVENT: return "CTRL_BREAK_EVENT";
	case CTRL_CLOSE_EVENT: return "CTRL_CLOSE_EVENT";
	default: return "CTRL_SHUTDOWN_EVENT";
	}
}

int dx_control_run(dx_control *c, const dx_control_ctx *x)
{
	if (c->pipe)
		dx_registry_log(x->reg, DX_LOG_INFO, "control pipe %s",
				dx_pipe_srv_name(c->pipe));
	for (;;) {
		int signo = (int)InterlockedExchange(&c->signo, 0);
		if (signo) {
			dx_registry_log(x->reg, DX_LOG_INFO,
					"%s: stopping as for %s",
					dx_ctl_event_name(c->event),
					signo == SIGINT ? "SIGINT" : "SIGTERM");
			return signo;
		}
		/* While an old plugin instance waits to be finalised, look
		 * again every 20 ms; otherwise sleep until something comes. */
		bool waiting = x->server && dx_server_reap(x->server) > 0;
		int timeout = waiting ? 20 : -1;
		if (!c->pipe) {
			WaitForSingleObject(c->wake, waiting ? 20 : INFINITE);
			continue;
		}
		int k = -1;
		size_t n = 0;
		int what = dx_pipe_srv_wait(c->pipe, c->wake, timeout, &k, &n);
		if (what < 0)
			return what;
		bool drain = false;
		if (what == DX_PIPE_NEW) {
			c->in[k].len = 0;
			dx_ctl_arm(c, k);
		} else if (what == DX_PIPE_READ && n) {
			struct dx_ctl_to to = {c, k};
			if (dx_ctl_take(&c->in[k], n, x, &drain, dx_ctl_send,
					&to))
				dx_ctl_arm(c, k); /* -EPIPE: it went */
			else
				dx_pipe_srv_drop(c->pipe, k);
		}
		if (drain)
			return 0;
	}
}
