/* worker.h - one worker: its state and its event loop.
 *
 * A worker owns its backend instance, listening sockets, connections,
 * timers, watches and streams; all of them are touched only on its own
 * thread, except what is marked otherwise (the mailbox, posts and a
 * pending swap, under mbox_lock). The request path runs one way: this
 * loop (worker.c) -> the connection (conn.h) -> the pipeline's input side
 * (pipeline.h) -> middleware and route (chain.h, registry.h) -> the
 * answer writer (answer.h). Deferred answers and streams (async.h) come
 * back through the answer writer, never through the pipeline. */
#ifndef DX_HOST_WORKER_H
#define DX_HOST_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <dx/io.h>
#include <dx/timer_heap.h>

#include "cell.h"
#include "chain.h"
#include "gen.h"
#include "metrics_worker.h"
#include "registry.h"
#include "server.h"

/* udata layout: kind in bits 0-7, generation in 8-31, slot in 32-63. A
 * completion for a slot whose generation moved on belongs to a closed
 * connection and is ignored. */
enum dx_ud_kind {
	DX_UD_LISTEN = 1, /* slot = listener index */
	DX_UD_RECV = 2,
	DX_UD_SEND = 3,
	DX_UD_WATCH = 4, /* slot = index in the worker's watches */
};
#define DX_UD(kind, slot, gen)                                             \
	((uint64_t)(kind) | ((uint64_t)((gen) & 0xFFFFFFu) << 8) |         \
	 ((uint64_t)(slot) << 32))
#define DX_UD_KIND(u) ((unsigned)((u) & 0xFFu))
#define DX_UD_GEN(u) ((uint32_t)(((u) >> 8) & 0xFFFFFFu))
#define DX_UD_SLOT(u) ((uint32_t)((u) >> 32))

/* The server as workers see it. */
typedef struct dx_server_view {
	const dx_manifest *m;
	dx_registry *reg;
	_Atomic uint64_t connections; /* open, all workers */
	_Atomic unsigned swapped;     /* workers done with the last swap */
	/* The newest generation (gen.h): routes, chains, route 0's answer.
	 * Stored by the main thread (release), adopted by each worker at
	 * its loop boundary (acquire). */
	_Atomic(dx_gen *) gen;
} dx_server_view;

/* Routes whose failures a worker counts one by one (worker.fails). */
#define DX_ROUTE_FAILS 64
/* Failure lines a worker logs per second; the rest are counted. */
#define DX_FAIL_LOGS_PER_S 5

typedef struct dx_worker {
	dx_server_view *view;
	unsigned id;
	pthread_t thread;
	const dx_io_vtable *vt;
	dx_io *io;
	int *listen_fds;
	size_t listen_count;
	bool accepting;

	struct dx_conn **conns; /* by slot */
	uint32_t conn_cap;
	uint32_t *free_slots;
	uint32_t free_count;
	uint32_t live;
	struct dx_conn *flush_head;

	/* The generation this worker serves with, adopted at its loop
	 * boundary; qs is its id as the worker last saw it (a quiescent
	 * point: from then on it never starts a request on an older one),
	 * UINT64_MAX once the worker has stopped. */
	dx_gen *gen;
	_Atomic uint64_t qs;

	uint8_t *scratch; /* max_message bytes: inflated bodies */
	uint8_t res_meta[2048]; /* the answer's metadata, per request */
	struct dx_pending *last_deferred; /* by the handler running now */
	dx_io_cqe cqes[256];

	dx_timer_heap timers; /* by due_ns; this thread's only */

	struct dx_pending *pending_free;
	pthread_mutex_t mbox_lock;
	struct dx_pending *mbox; /* completed elsewhere, answered here */
	struct dx_post *posts;   /* posted elsewhere, run here (mbox_lock) */
	/* Raised under mbox_lock, before the wake, by whoever leaves work
	 * in mbox, posts or swap_vt: an idle turn takes no lock at all. */
	_Atomic unsigned pending;
	struct dx_post *posts_tail;

	struct dx_watch **watches; /* by slot; NULL: free */
	uint32_t watch_cap;
	uint32_t watch_gen; /* each watch a new generation: a stale
			     * completion for a reused slot finds a stranger */
	struct dx_stream *streams;

	_Atomic bool drain;
	uint64_t drain_deadline_ns;
	uint64_t next_sweep_ns; /* timeouts are checked once per tick */
	/* When this turn's wait returned: the clock of output progress
	 * (one read per turn, not one per send). */
	uint64_t turn_ns;

	/* A backend swap posted by the main thread (under mbox_lock), done at
	 * the next loop boundary. vt and io change only under mbox_lock, so
	 * wake() from other threads never sees a destroyed instance. */
	const dx_io_vtable *swap_vt;
	dx_io *swap_io;
	bool swapping;
	unsigned accepts_armed;
	/* Send buffers of connections closed while a zero-copy send was in
	 * the kernel: freed when the worker ends, never reused before. */
	struct dx_buf *zc_orphans;
	size_t zc_orphan_count;

	/* Written by this worker alone (cell.h's dx_cell_add/sub: a relaxed
	 * load and store, no locked instruction on the request path), read
	 * by the control thread and the scrape with relaxed loads. */
	struct {
		_Atomic uint64_t connections, accepted, refused, requests,
			errors, closed_by_server, bytes_in, bytes_out,
			zero_copy_sends, output_paused, write_timeouts;
		/* Bytes the connections' buffers hold (open ones and the
		 * small ones kept in free slots), as of the last sweep. */
		_Atomic uint64_t buffer_bytes;
	} stats;
	/* Handlers that failed (a negative return, or PENDING without
	 * defer), by route id: written by this worker alone, read by the
	 * control thread for stats; routes past the table's room count in
	 * fails_other. */
	struct dx_route_fails {
		_Atomic uint32_t route; /* id + 1; 0: free */
		_Atomic uint64_t n;
	} fails[DX_ROUTE_FAILS];
	_Atomic uint64_t fails_other;
	/* Per route and loop counters for the scrape (metrics_worker.h):
	 * written by this worker alone. */
	struct dx_wmetrics *wm;
	/* The failure log's rate limit (this worker's): the second, the
	 * lines logged in it, and how many were not. */
	uint64_t fail_log_sec;
	unsigned fail_logged;
	unsigned long fail_quiet;
} dx_worker;

/* Set up w (zeroed) as worker id of view with backend vt: its timers,
 * mailbox lock, nlisten listening slots (the caller binds them and sets
 * listen_count), scratch buffer for a whole message and metrics table; the
 * backend instance is the caller's to create. 0 or -ENOMEM (then
 * dx_worker_release cleans up). dx-host's workers and the test kit's. */
int dx_worker_setup(dx_worker *w, dx_server_view *view, unsigned id,
		    const dx_io_vtable *vt, size_t nlisten);
/* Free what dx_worker_setup made and what the worker still holds: its
 * listening fds, backend instance, pooled pending answers, timers. Its
 * connections and async state must be gone already. */
void dx_worker_release(dx_worker *w);
/* The thread body: serve until w->drain and the grace period are over. */
void *dx_worker_main(void *arg);
/* One turn of w's loop on the calling thread (dx_worker_current must be
 * w): wait, handle completions, mailbox and posts, due timers, the sweep,
 * flush. false once a drain is over. dx_worker_main's loop body; the test
 * kit (sdk/testing) turns a worker with it too. */
bool dx_turn(dx_worker *w, bool *draining);
/* The worker running on the calling thread, or NULL on any other thread
 * (the main thread, background threads). Set and cleared by
 * dx_worker_main alone; the host API reads it for worker_id, defer,
 * timer, watch and stream. */
extern _Thread_local dx_worker *dx_worker_current;
/* The chain for route id (its own, or the manifest's middleware). */
static inline const dx_chain *dx_worker_chain(const dx_worker *w, uint16_t id)
{
	return dx_gen_chain(w->gen, id);
}
/* Wake w's loop from any thread. */
void dx_worker_wake(dx_worker *w);
/* Post a swap to (vt, io); the worker destroys its old instance. */
void dx_worker_post_swap(dx_worker *w, const dx_io_vtable *vt, dx_io *io);

#endif
