/* control.h - the control socket and the main thread's wait. */
#ifndef DX_HOST_CONTROL_H
#define DX_HOST_CONTROL_H

#include <time.h>

#include "diag.h"
#include "registry.h"
#include "server.h"

typedef struct dx_control dx_control;

typedef struct dx_control_ctx {
	dx_registry *reg;
	dx_server *server; /* NULL when the host has no listeners */
	time_t started;
} dx_control_ctx;

/* Take SIGTERM, SIGINT and SIGHUP through sig.h (they must already be
 * blocked in every thread) and, when path is not NULL, listen on it with
 * mode 0600. */
int dx_control_open(const char *path, dx_diag *d, dx_control **out);
/* Answer control commands until SIGTERM or SIGINT (returns the signal
 * number) or a drain command (returns 0). */
int dx_control_run(dx_control *c, const dx_control_ctx *x);
/* Close the socket and remove its file. */
void dx_control_close(dx_control *c);

#endif
