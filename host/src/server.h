/* server.h - workers, listeners and connections: the host serves HBTP.
 *
 * Threads: the main thread builds the server (binds every listener, picks
 * the backend, creates one backend instance per worker) and then only
 * waits for signals and control commands. Each worker thread owns its
 * backend instance, its listening sockets (SO_REUSEPORT) and its
 * connections; nothing on the request path is shared. Other threads reach
 * a worker only through its mailbox (a mutex-protected queue) and the
 * backend's wake(). */
#ifndef DX_HOST_SERVER_H
#define DX_HOST_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <dx/io.h>

#include "diag.h"
#include "manifest.h"
#include "registry.h"

typedef struct dx_server dx_server;

/* Counters a worker publishes (relaxed atomics written by the worker
 * only; read by the control socket). */
typedef struct dx_server_stats {
	uint64_t connections;       /* open now */
	uint64_t accepted;          /* since start */
	uint64_t refused;           /* over max_connections */
	uint64_t requests;          /* messages dispatched */
	uint64_t errors;            /* RpcError answers */
	uint64_t closed_by_server;  /* Close sent on purpose */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t zero_copy_sends;   /* answers sent with send_zc */
	uint64_t output_paused;     /* input paused: output over max_output */
	uint64_t write_timeouts;    /* closed: output made no progress */
	uint64_t buffer_bytes;      /* connection buffers, as of the sweep */
} dx_server_stats;

/* Pick the backend (io.backend; "auto" probes every loaded IO facet in
 * dx_io_facet_cmp order and logs which it took and why it skipped any),
 * bind every listener on every worker, create the backend instances.
 * Nothing runs yet. 0 or negative with the reasons in d. */
int dx_server_new(const dx_manifest *m, dx_registry *r, dx_diag *d,
		  dx_server **out);
/* The same, serving listen entries with the sockets systemd passed
 * (activate.h; NULL: none), which it takes, also on failure. */
struct dx_inherited;
int dx_server_new_passed(const dx_manifest *m, dx_registry *r,
			 struct dx_inherited *passed, dx_diag *d,
			 dx_server **out);
/* What --check does: choose the backend (probing it), bind nothing. */
int dx_server_check(const dx_manifest *m, dx_registry *r, dx_diag *d,
		    char *backend, size_t len);
/* Start the worker threads. */
int dx_server_start(dx_server *s, dx_diag *d);
/* Stop accepting, send Close to every client, let in-flight requests
 * finish within limits.grace_ms, then join the workers. Any thread but a
 * worker's. Idempotent. */
void dx_server_drain(dx_server *s);
/* Move every worker, with its live connections, to the IO backend named
 * backend (an IO facet name): each worker detaches its fds from the old
 * instance at a loop boundary, reaps what was in flight and arms them on
 * a new one. No connection is closed and no request lost. Main thread. */
int dx_server_swap(dx_server *s, const char *backend, dx_diag *d);
/* Join and free (drains first if still running). */
void dx_server_free(dx_server *s);

/* The chosen backend's IO facet name. */
const char *dx_server_backend(const dx_server *s);
unsigned dx_server_workers(const dx_server *s);
/* The bound address of listener i as text ("127.0.0.1:41234"), or NULL. */
const char *dx_server_listen_addr(const dx_server *s, size_t i);
size_t dx_server_listen_count(const dx_server *s);
/* Sum of every worker's counters. */
void dx_server_stats_sum(const dx_server *s, dx_server_stats *out);
/* fn(route name, count) for every route whose handler failed since the
 * start (a route no longer served is named "route ID"). Main thread. */
void dx_server_route_failures(const dx_server *s,
			      void (*fn)(void *ud, const char *route,
					 uint64_t n),
			      void *ud);

#endif
