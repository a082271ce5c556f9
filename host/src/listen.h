/* listen.h - change a running server's listeners (listen.c). Main thread. */
#ifndef DX_HOST_LISTEN_H
#define DX_HOST_LISTEN_H

#include "diag.h"
#include "manifest.h"
#include "server.h"

typedef struct dx_listen_change dx_listen_change;

/* Bind what manifest is adds to s's listeners (for every worker, ports
 * checked as at startup), and note what it drops. *out NULL: nothing to
 * change. On failure nothing is bound and d says why. */
int dx_listen_prepare(dx_server *s, const dx_manifest *is,
		      dx_listen_change **out, dx_diag *d);
/* Close what prepare bound; free ch (NULL is fine). */
void dx_listen_abort(dx_server *s, dx_listen_change *ch);
/* Hand each worker its new listeners (a post: on its thread it closes
 * what left and accepts on what came); free ch (NULL is fine). */
void dx_listen_commit(dx_server *s, dx_listen_change *ch);

#endif
