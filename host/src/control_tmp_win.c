/* control_tmp_win.c - TEMPORARY, branch winhost only: control.h on
 * Windows until control_win.c (branch winctl: the named pipe and the
 * console control handler) is merged, so that dx-host.exe links and its
 * start, --check and serving can be tested meanwhile. No control channel:
 * a control.socket is refused; Ctrl+C, Ctrl+Break or the console closing
 * make dx_control_run return SIGINT or SIGTERM. host/meson.build builds
 * it only while src/control_win.c is absent; delete it with that line. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include <windows.h>

#include <dx/error.h>

#include "control.h"

struct dx_control {
	int unused;
};

static HANDLE dx_tmp_stop;
static volatile LONG dx_tmp_sig;

static BOOL WINAPI dx_tmp_handler(DWORD ev)
{
	InterlockedExchange(&dx_tmp_sig, ev == CTRL_C_EVENT ? SIGINT : SIGTERM);
	SetEvent(dx_tmp_stop);
	return TRUE;
}

int dx_control_open(const char *path, dx_diag *d, dx_control **out)
{
	*out = NULL;
	if (path) {
		dx_diag_add(d, "control.socket %s: no control channel in this "
			       "build yet (temporary)",
			    path);
		return DX_ECONFIG;
	}
	dx_control *c = calloc(1, sizeof *c);
	dx_tmp_stop = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!c || !dx_tmp_stop || !SetConsoleCtrlHandler(dx_tmp_handler, TRUE)) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

int dx_control_run(dx_control *c, const dx_control_ctx *x)
{
	(void)c;
	(void)x;
	WaitForSingleObject(dx_tmp_stop, INFINITE);
	return (int)dx_tmp_sig;
}

void dx_control_close(dx_control *c)
{
	if (!c)
		return;
	SetConsoleCtrlHandler(dx_tmp_handler, FALSE);
	free(c);
}
