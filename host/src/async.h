/* async.h - what plugins do outside a request's own turn: answer it
 * later (defer/complete), run work on a worker (post), watch a foreign fd
 * on a worker's loop, push frames to a client (streams).
 *
 * Each is owned by one worker and touched only on its thread; other
 * threads reach it through the worker's mailbox and post queue
 * (mbox_lock, then the backend's wake). Answers go out through the answer
 * writer (answer.h). */
#ifndef DX_HOST_ASYNC_H
#define DX_HOST_ASYNC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <dx/io.h>
#include <dx/routes.h>

#include <dx/buf.h>
#include "chain.h"
#include "conn.h"

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
	/* The generation chain belongs to: held (refs) until answered, so
	 * the plugin code it runs stays loaded. NULL: none held. */
	struct dx_gen *g;
	struct dx_pending *next; /* free list, or the mailbox */
	uint16_t status;
	dx_buf body; /* the answer, copied by complete() */
};

/* Work posted to a worker from elsewhere: a function to run, or a frame
 * for one of its streams. */
typedef struct dx_post {
	struct dx_post *next;
	void (*fn)(void *arg);
	void *arg;
	struct dx_plugin_entry *holder; /* released after fn ran */
	struct dx_stream *stream; /* a stream frame (or its end) */
	uint8_t opcode;           /* 0 with stream: stream_end */
	dx_buf body;
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
	struct dx_plugin_entry *holder; /* held until unwatch (hostapi.c) */
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
	struct dx_plugin_entry *holder; /* held until freed (hostapi.c) */
};

/* host->defer: the request being handled on this worker will be answered
 * later. NULL off a worker thread or out of memory. */
dx_pending *dx_worker_defer(const dx_request *req);
/* host->complete, from any thread: on p's worker it is answered now,
 * elsewhere the answer is copied and posted to p's worker. */
int dx_worker_complete(dx_pending *p, uint16_t status, const void *body,
		       size_t len);
/* After a handler returned PENDING: its deferred answer owes the after
 * hooks of the first ran links of chain. */
void dx_pending_set_chain(dx_worker *w, const dx_chain *chain, unsigned ran);
/* Answer what other threads completed (the worker's mailbox). */
void dx_mbox_drain(dx_worker *w);

/* host->post from any thread: run fn(arg) on w's thread, in order. */
/* holder (may be NULL) is released once fn has run. */
int dx_worker_post(dx_worker *w, void (*fn)(void *arg), void *arg,
		   struct dx_plugin_entry *holder);
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
/* Give s to another plugin instance (host->stream_adopt): on_close and
 * the hold move to holder under the stream's lock, which the worker
 * also takes around on_close, so the old callback is not running and
 * will not run once this returns. -EPIPE: the connection has closed. */
int dx_stream_adopt(dx_stream *s, void (*on_close)(void *), void *arg,
		    struct dx_plugin_entry *holder);
/* The connection in slot closed: tell its streams. */
void dx_streams_conn_closed(dx_worker *w, const dx_conn *c);
/* The worker ends: free what is left. */
void dx_async_free(dx_worker *w);

#endif
