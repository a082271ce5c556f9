/* worker.h - one worker: its loop, connections and request pipeline.
 * Internal to server.c, worker.c, conn.c and pipeline.c. */
#ifndef DX_HOST_WORKER_H
#define DX_HOST_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <dx/hbtp.h>
#include <dx/io.h>
#include <dx/routes.h>

#include "chain.h"
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

/* A growable byte buffer that is reset, never freed, between uses. */
typedef struct dx_bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
} dx_bytes;

int dx_bytes_reserve(dx_bytes *b, size_t extra);
int dx_bytes_append(dx_bytes *b, const void *p, size_t n);
void dx_bytes_free(dx_bytes *b);

typedef struct dx_conn {
	int fd;
	uint32_t slot;
	uint32_t gen;
	dx_bytes in;        /* received bytes not yet framed */
	dx_bytes out;       /* answers being built */
	dx_bytes sending;   /* answers the backend is sending */
	dx_hbtp_reasm reasm;
	uint8_t *reasm_buf; /* made when a split message first arrives */
	unsigned inflight;  /* deferred requests not yet completed */
	uint64_t active_ns; /* last byte in or out */
	uint64_t partial_ns; /* when an incomplete frame began, 0: none */
	bool recv_armed;
	bool send_armed;
	bool closing; /* close once out is flushed and nothing is in flight */
	bool eof;     /* the peer will send nothing more */
	bool in_list; /* on the worker's flush list */
	bool drain_close; /* send Close once nothing is in flight */
	bool resend;      /* sending holds bytes a swap cut off */
	bool zc_wait;     /* the kernel still reads sending (send_zc) */
	bool zc_ok;       /* io.zero_copy allows send_zc to this peer */
	unsigned streams; /* dx_streams opened on this connection */
	struct dx_conn *flush_next;
	char peer[64];
} dx_conn;

/* A deferred request: where its answer goes, and the middleware whose
 * after hooks are still owed. */
struct dx_pending {
	struct dx_worker *w;
	uint32_t slot;
	uint32_t gen;
	uint16_t seq;
	uint16_t route;
	bool expects_response;
	const char *route_name;
	uint64_t start_ns;
	const dx_chain *chain;
	unsigned ran;
	struct dx_pending *next; /* free list, or the mailbox */
	uint16_t status;
	dx_bytes body; /* the answer, copied by complete() */
};

/* Work posted to a worker from elsewhere: a function to run, or a frame
 * for one of its streams. */
typedef struct dx_post {
	struct dx_post *next;
	void (*fn)(void *arg);
	void *arg;
	struct dx_stream *stream; /* a stream frame (or its end) */
	uint8_t opcode;           /* 0 with stream: stream_end */
	dx_bytes body;
} dx_post;

struct dx_watch {
	struct dx_worker *w;
	uint32_t slot;
	uint32_t gen;
	int fd;
	uint32_t events;
	void (*fn)(void *arg, uint32_t revents);
	void *arg;
	bool active;  /* the plugin wants it */
	bool polling; /* a poll is armed on the backend */
};

struct dx_stream {
	/* The owning worker, or NULL once it has stopped (then sends fail
	 * with -EPIPE and stream_end frees). Read and cleared under lock,
	 * so no thread posts to a worker that is going away. */
	struct dx_worker *w;
	pthread_mutex_t lock;
	struct dx_stream *next; /* the worker's list */
	uint32_t slot;
	uint32_t gen;
	uint16_t seq;
	void (*on_close)(void *arg);
	void *arg;
	bool conn_open;         /* the client is still there */
	bool ended;             /* stream_end has reached the worker */
	/* One reference for the plugin (until stream_end), one for the
	 * worker (until it unlinks the stream) and one per posted frame; the
	 * last one out frees it. */
	_Atomic unsigned refs;
};

typedef struct dx_timer {
	uint64_t due_ns;
	void (*fn)(void *arg);
	void *arg;
} dx_timer;

/* The server as workers see it. */
typedef struct dx_server_view {
	const dx_manifest *m;
	dx_registry *reg;
	const char *routes_json; /* route 0's answer */
	size_t routes_json_len;
	_Atomic uint64_t connections; /* open, all workers */
	_Atomic unsigned swapped;     /* workers done with the last swap */
	dx_chain chain;               /* the manifest's middleware */
	dx_chain *route_chains;       /* route_middleware, or NULL */
	size_t route_chain_count;
	const dx_chain **by_route;    /* 65,536 slots, or NULL: none */
} dx_server_view;

typedef struct dx_worker {
	dx_server_view *view;
	unsigned id;
	pthread_t thread;
	const dx_io_vtable *vt;
	dx_io *io;
	int *listen_fds;
	size_t listen_count;
	bool accepting;

	dx_conn **conns; /* by slot */
	uint32_t conn_cap;
	uint32_t *free_slots;
	uint32_t free_count;
	uint32_t live;
	dx_conn *flush_head;

	uint8_t *scratch; /* max_message bytes: inflated bodies */
	uint8_t res_meta[2048]; /* the answer's metadata, per request */
	struct dx_pending *last_deferred; /* by the handler running now */
	dx_io_cqe cqes[256];

	dx_timer *timers; /* min-heap by due_ns */
	size_t timer_count;
	size_t timer_cap;

	struct dx_pending *pending_free;
	pthread_mutex_t mbox_lock;
	struct dx_pending *mbox; /* completed elsewhere, answered here */
	dx_post *posts;          /* posted elsewhere, run here (mbox_lock) */
	/* Raised under mbox_lock, before the wake, by whoever leaves work
	 * in mbox, posts or swap_vt: an idle turn takes no lock at all. */
	_Atomic unsigned pending;
	dx_post *posts_tail;

	struct dx_watch **watches; /* by slot; NULL: free */
	uint32_t watch_cap;
	uint32_t watch_gen; /* each watch a new generation: a stale
			     * completion for a reused slot finds a stranger */
	struct dx_stream *streams;

	_Atomic bool drain;
	uint64_t drain_deadline_ns;
	uint64_t next_sweep_ns; /* timeouts are checked once per tick */

	/* A backend swap posted by the main thread (under mbox_lock), done at
	 * the next loop boundary. vt and io change only under mbox_lock, so
	 * wake() from other threads never sees a destroyed instance. */
	const dx_io_vtable *swap_vt;
	dx_io *swap_io;
	bool swapping;
	unsigned accepts_armed;
	/* Send buffers of connections closed while a zero-copy send was in
	 * the kernel: freed when the worker ends, never reused before. */
	dx_bytes *zc_orphans;
	size_t zc_orphan_count;

	struct {
		_Atomic uint64_t connections, accepted, refused, requests,
			errors, closed_by_server, bytes_in, bytes_out,
			zero_copy_sends;
	} stats;
} dx_worker;

/* worker.c */
void *dx_worker_main(void *arg);
uint64_t dx_now_ns(void);
extern _Thread_local dx_worker *dx_worker_current;
dx_pending *dx_worker_defer(const dx_request *req);
int dx_worker_complete(dx_pending *p, uint16_t status, const void *body,
		       size_t len);
int dx_worker_timer(uint64_t delay_ns, void (*fn)(void *arg), void *arg);
/* The chain for route id (its own, or the manifest's middleware). */
static inline const dx_chain *dx_worker_chain(const dx_worker *w, uint16_t id)
{
	const dx_chain *c = w->view->by_route ? w->view->by_route[id] : NULL;
	return c ? c : &w->view->chain;
}
/* After a handler returned PENDING: its deferred answer owes the after
 * hooks of the first ran links of chain. */
void dx_pending_set_chain(dx_worker *w, const dx_chain *chain, unsigned ran);
/* Wake w's loop from any thread. */
void dx_worker_wake(dx_worker *w);
/* Post a swap to (vt, io); the worker destroys its old instance. */
void dx_worker_post_swap(dx_worker *w, const dx_io_vtable *vt, dx_io *io);

/* async.c: posts, watches, streams */
int dx_worker_post(dx_worker *w, void (*fn)(void *arg), void *arg);
void dx_posts_run(dx_worker *w);
dx_watch *dx_worker_watch(int fd, uint32_t events,
			  void (*fn)(void *arg, uint32_t revents), void *arg);
void dx_worker_unwatch(dx_watch *watch);
void dx_watch_on_cqe(dx_worker *w, const dx_io_cqe *e);
/* A swap: take watches off the old backend, put them on the new. */
void dx_watches_detach(dx_worker *w);
bool dx_watches_polling(const dx_worker *w);
void dx_watches_rearm(dx_worker *w);
dx_stream *dx_worker_stream(const dx_request *req, void (*on_close)(void *),
			    void *arg);
int dx_stream_send(dx_stream *s, uint8_t opcode, const void *body,
		   size_t len);
void dx_stream_end(dx_stream *s);
/* The connection in slot closed: tell its streams. */
void dx_streams_conn_closed(dx_worker *w, const dx_conn *c);
/* The worker ends: free what is left. */
void dx_async_free(dx_worker *w);

/* conn.c */
dx_conn *dx_conn_open(dx_worker *w, int fd);
void dx_conn_close(dx_worker *w, dx_conn *c);
dx_conn *dx_conn_get(dx_worker *w, uint32_t slot, uint32_t gen);
void dx_conn_want_flush(dx_worker *w, dx_conn *c);
void dx_conn_flush_all(dx_worker *w);
void dx_conn_on_send(dx_worker *w, dx_conn *c, int result, uint32_t flags);
void dx_conn_arm_recv(dx_worker *w, dx_conn *c);
/* After a swap: send again what the old backend did not get out. */
void dx_conn_resume_send(dx_worker *w, dx_conn *c);
/* Queue a Close frame and close once it is out. */
void dx_conn_send_close(dx_worker *w, dx_conn *c, uint16_t code,
			const char *reason);
void dx_conn_free_all(dx_worker *w);

/* pipeline.c */
/* Consume c->in: frame, reassemble, dispatch. */
void dx_pipeline_input(dx_worker *w, dx_conn *c);
/* Append an answer frame to c->out. */
int dx_pipeline_answer(dx_worker *w, dx_conn *c, uint8_t opcode,
		       uint16_t seq, uint16_t status, const void *body,
		       size_t len);
/* A deferred answer: after hooks, then the frame. */
void dx_pipeline_finish(dx_worker *w, dx_conn *c, const struct dx_pending *p,
			uint16_t status, const void *body, size_t len);
int dx_pipeline_error(dx_worker *w, dx_conn *c, uint16_t seq,
		      uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
