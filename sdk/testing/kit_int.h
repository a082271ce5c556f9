/* kit_int.h - the test kit's insides: the host it runs, shared by
 * kit_host.c (plugins, middleware, logs, counters), kit_call.c (requests,
 * answers, running the worker) and kit_io.c (the in-memory backend).
 * Owned by the dx_test_host; the caller's thread only, but the log list
 * (log_lock: plugins log from any thread). */
#ifndef DX_KIT_INT_H
#define DX_KIT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/buf.h>
#include <dx/io.h>
#include <dx/testing.h>

#include "gen.h"
#include "manifest.h"
#include "registry.h"
#include "worker.h"

/* ---- the backend (kit_io.c) ---- */

typedef void (*kit_sink_fn)(void *ud, int fd, const void *data, size_t len);
extern const dx_io_vtable kit_io_vtable;
/* Where sent bytes go. */
void kit_io_set_sink(dx_io *io, kit_sink_fn fn, void *ud);
/* Bytes a client sent on fd: the next wait hands them to its recv. */
int kit_io_feed(dx_io *io, int fd, const void *data, size_t len);
/* Bound every wait to ms (-1: the worker's own bound only). */
void kit_io_max_wait(dx_io *io, int ms);
/* Completions the last wait returned. */
unsigned kit_io_last(const dx_io *io);
/* Completions or fed bytes waiting for the next wait. */
bool kit_io_has_input(const dx_io *io);

/* ---- the host ---- */

/* A client connection (one per peer name). */
typedef struct kit_conn {
	char *peer;
	int fd; /* the worker's dx_conn owns it; -1 once closed */
	uint32_t slot, gen;
	dx_buf out; /* sent by the worker, not yet a whole frame */
} kit_conn;

typedef struct kit_reply {
	dx_test_reply pub; /* first: the caller's pointer is this */
	size_t conn;       /* index in conns */
	uint8_t first_flags;
	dx_buf raw; /* the answer's frames' bodies, joined */
	char *keys; /* meta keys, NUL-terminated, one after the other */
	uint8_t *values;
} kit_reply;

struct dx_test_host {
	dx_manifest *m;
	dx_registry *reg;
	dx_server_view view;
	dx_worker w;
	bool started; /* worker set up, background threads running */
	size_t nloaded;
	bool stale; /* loaded or used since the generation was built */
	uint64_t gen_id;
	dx_gen **old; /* generations replaced (freed with the host) */
	size_t nold;

	kit_conn *conns;
	size_t nconns;
	kit_reply **replies;
	size_t nreplies;
	uint16_t next_seq;
	dx_test_push *pushes;
	size_t npushes;

	pthread_mutex_t log_lock;
	dx_test_log *logs;
	size_t nlogs, caplogs;
	bool verbose;
};

/* The generation for the plugins and middleware as they are now. */
int kit_refresh(dx_test_host *h, char *err, size_t errlen);
/* The worker, set up once (kit_call.c). */
int kit_start(dx_test_host *h);
/* Undo kit_start: what is owed runs, then the worker's state goes. */
void kit_stop(dx_test_host *h);
/* Messages of d into err, one a line. */
void kit_err(const dx_diag *d, char *err, size_t errlen);

#endif
