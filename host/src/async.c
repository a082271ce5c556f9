/* async.c - what plugins do outside a request's own turn: answer it later,
 * run work on a worker, watch a foreign fd there, push frames to a client.
 *
 * All four are owned by one worker and touched only on its thread; other
 * threads reach them through the worker's mailbox and post queue
 * (mbox_lock + wake). Answers leave through the answer writer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "async.h"
#include "conn.h"
#include "worker.h"

/* ---- deferred requests ---- */

dx_pending *dx_worker_defer(const dx_request *req)
{
	dx_worker *w = dx_worker_current;
	dx_conn *c = req->host_priv;
	if (!w || !c)
		return NULL;
	dx_pending *p = w->pending_free;
	if (p)
		w->pending_free = p->next;
	else if (!(p = calloc(1, sizeof *p)))
		return NULL;
	p->w = w;
	p->slot = c->slot;
	p->gen = c->gen;
	p->seq = req->seq;
	p->route = req->route;
	p->route_name = req->route_name;
	p->start_ns = req->start_ns;
	p->chain = NULL;
	p->ran = 0;
	p->g = NULL;
	p->expects_response = req->flags & DX_HBTP_EXPECTS_RESPONSE;
	p->next = NULL;
	c->inflight++;
	w->last_deferred = p;
	return p;
}

void dx_pending_set_chain(dx_worker *w, const dx_chain *chain, unsigned ran)
{
	dx_pending *p = w->last_deferred;
	if (p) {
		p->chain = chain;
		p->ran = ran;
		p->g = w->gen;
		atomic_fetch_add_explicit(&p->g->refs, 1,
					  memory_order_relaxed);
	}
	w->last_deferred = NULL;
}

/* On p's worker: answer it, if its connection is still there. */
static void dx_pending_answer(dx_worker *w, dx_pending *p, uint16_t status,
			      const void *body, size_t len)
{
	dx_conn *c = dx_conn_get(w, p->slot, p->gen);
	if (c) {
		c->inflight--;
		dx_answer_deferred(w, c, p, status, body, len);
		if (c->inflight == 0 && c->drain_close)
			dx_answer_close(w, c, DX_HBTP_CLOSE_NORMAL,
					"server shutting down");
		dx_conn_want_flush(w, c);
	} else {
		dx_cell_add(&w->wm->answers_dropped, 1); /* the client left */
	}
	/* Completed inside its own handler: nothing is owed later. */
	if (w->last_deferred == p)
		w->last_deferred = NULL;
	if (p->g)
		atomic_fetch_sub_explicit(&p->g->refs, 1,
					  memory_order_release);
	p->g = NULL;
	p->body.len = 0;
	p->next = w->pending_free;
	w->pending_free = p;
}

int dx_worker_complete(dx_pending *p, uint16_t status, const void *body,
		       size_t len)
{
	if (status && (status < 400 || status > 599))
		return -EINVAL;
	dx_worker *w = p->w;
	if (dx_worker_current == w) {
		dx_pending_answer(w, p, status, body, len);
		return 0;
	}
	/* Another thread: copy the answer and post it to the worker. */
	p->body.len = 0;
	int rc = dx_buf_append(&p->body, body, len);
	if (rc < 0)
		return rc;
	p->status = status;
	pthread_mutex_lock(&w->mbox_lock);
	p->next = w->mbox;
	w->mbox = p;
	atomic_fetch_add(&w->pending, 1);
	w->vt->wake(w->io);
	pthread_mutex_unlock(&w->mbox_lock);
	return 0;
}

void dx_mbox_drain(dx_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	dx_pending *p = w->mbox;
	w->mbox = NULL;
	pthread_mutex_unlock(&w->mbox_lock);
	while (p) {
		dx_pending *next = p->next;
		dx_pending_answer(w, p, p->status, p->body.p, p->body.len);
		p = next;
	}
}

/* ---- posts ---- */

static void dx_post_push(dx_worker *w, dx_post *p)
{
	pthread_mutex_lock(&w->mbox_lock);
	if (w->posts_tail)
		w->posts_tail->next = p;
	else
		w->posts = p;
	w->posts_tail = p;
	atomic_fetch_add(&w->pending, 1);
	w->vt->wake(w->io);
	pthread_mutex_unlock(&w->mbox_lock);
}

int dx_worker_post(dx_worker *w, void (*fn)(void *arg), void *arg,
		   struct dx_plugin_entry *holder)
{
	dx_post *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->holder = holder;
	dx_post_push(w, p);
	return 0;
}

static void dx_stream_deliver(dx_worker *w, dx_post *p);

/* Run what was posted, in order. Posts made while running wait for the
 * next turn, so a post that reposts itself cannot starve the loop. */
void dx_posts_run(dx_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	dx_post *p = w->posts;
	w->posts = w->posts_tail = NULL;
	pthread_mutex_unlock(&w->mbox_lock);
	while (p) {
		dx_post *next = p->next;
		if (p->stream)
			dx_stream_deliver(w, p);
		else
			p->fn(p->arg);
		dx_entry_release(p->holder);
		dx_buf_free(&p->body);
		free(p);
		p = next;
	}
}

/* ---- watches ---- */

static int dx_watch_arm(dx_worker *w, struct dx_watch *x)
{
	int rc = w->vt->poll(w->io, x->fd, x->events,
			     DX_UD(DX_UD_WATCH, x->slot, x->gen));
	x->polling = rc == 0;
	return rc;
}

static int dx_watch_slot(dx_worker *w, uint32_t *slot)
{
	for (uint32_t i = 0; i < w->watch_cap; i++)
		if (!w->watches[i]) {
			*slot = i;
			return 0;
		}
	uint32_t cap = w->watch_cap ? w->watch_cap * 2 : 8;
	struct dx_watch **t = realloc(w->watches, cap * sizeof *t);
	if (!t)
		return -ENOMEM;
	memset(t + w->watch_cap, 0, (cap - w->watch_cap) * sizeof *t);
	*slot = w->watch_cap;
	w->watches = t;
	w->watch_cap = cap;
	return 0;
}

dx_watch *dx_worker_watch(int fd, uint32_t events,
			  void (*fn)(void *arg, uint32_t revents), void *arg)
{
	dx_worker *w = dx_worker_current;
	uint32_t slot;
	if (!w || fd < 0) {
		errno = w ? EBADF : EPERM;
		return NULL;
	}
	struct dx_watch *x = calloc(1, sizeof *x);
	if (!x || dx_watch_slot(w, &slot) < 0) {
		free(x);
		errno = ENOMEM;
		return NULL;
	}
	w->watch_gen = (w->watch_gen + 1) & 0xFFFFFFu;
	*x = (struct dx_watch){w,   slot, w->watch_gen, fd,  events,
			       fn,  arg,  true,         false, NULL};
	w->watches[slot] = x;
	int rc = dx_watch_arm(w, x);
	if (rc < 0) {
		w->watches[slot] = NULL;
		free(x);
		errno = -rc;
		return NULL;
	}
	return x;
}

void dx_worker_unwatch(dx_watch *x)
{
	dx_worker *w = x->w;
	/* Completions still in flight carry the old generation: once the
	 * slot is gone they find nothing and are dropped. */
	if (x->polling) {
		w->vt->detach(w->io, x->fd);
		w->vt->submit(w->io);
	}
	w->watches[x->slot] = NULL;
	free(x);
}

void dx_watch_on_cqe(dx_worker *w, const dx_io_cqe *e)
{
	uint32_t slot = DX_UD_SLOT(e->udata);
	struct dx_watch *x = slot < w->watch_cap ? w->watches[slot] : NULL;
	if (!x || x->gen != DX_UD_GEN(e->udata))
		return;
	if (!(e->flags & DX_IO_F_MORE))
		x->polling = false;
	if (e->result > 0)
		x->fn(x->arg, (uint32_t)e->result);
	/* fn may have unwatched it: look again before re-arming. */
	if (slot < w->watch_cap && w->watches[slot] == x && !x->polling &&
	    !w->swapping && e->result != -ECANCELED)
		dx_watch_arm(w, x);
}

void dx_watches_detach(dx_worker *w)
{
	for (uint32_t i = 0; i < w->watch_cap; i++)
		if (w->watches[i] && w->watches[i]->polling)
			w->vt->detach(w->io, w->watches[i]->fd);
}

bool dx_watches_polling(const dx_worker *w)
{
	for (uint32_t i = 0; i < w->watch_cap; i++)
		if (w->watches[i] && w->watches[i]->polling)
			return true;
	return false;
}

void dx_watches_rearm(dx_worker *w)
{
	for (uint32_t i = 0; i < w->watch_cap; i++) {
		struct dx_watch *x = w->watches[i];
		if (!x)
			continue;
		w->watch_gen = (w->watch_gen + 1) & 0xFFFFFFu;
		x->gen = w->watch_gen; /* the old backend's are stale */
		dx_watch_arm(w, x);
	}
}

/* ---- streams ---- */

static void dx_stream_release(struct dx_stream *s)
{
	if (atomic_fetch_sub(&s->refs, 1) == 1) {
		dx_entry_release(s->holder);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
}

dx_stream *dx_worker_stream(const dx_request *req, void (*on_close)(void *),
			    void *arg)
{
	dx_worker *w = dx_worker_current;
	dx_conn *c = req->host_priv;
	if (!w || !c)
		return NULL;
	struct dx_stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->w = w;
	s->slot = c->slot;
	s->gen = c->gen;
	s->seq = req->seq;
	s->on_close = on_close;
	s->arg = arg;
	s->conn_open = true;
	atomic_init(&s->refs, 2); /* the plugin's and the worker's */
	s->next = w->streams;
	w->streams = s;
	c->streams++;
	return s;
}

/* Worker thread: the plugin is done with s; drop it from the list. */
static void dx_stream_ended(dx_worker *w, struct dx_stream *s)
{
	s->ended = true;
	for (struct dx_stream **pp = &w->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			dx_stream_release(s); /* the worker's */
			break;
		}
	dx_stream_release(s); /* the plugin's */
}

static int dx_stream_write(dx_worker *w, struct dx_stream *s, uint8_t opcode,
			   const void *body, size_t len)
{
	dx_conn *c = s->conn_open ? dx_conn_get(w, s->slot, s->gen) : NULL;
	if (!c)
		return -EPIPE;
	return dx_answer_frame(w, c, opcode, s->seq, 0, body, len);
}

static void dx_stream_deliver(dx_worker *w, dx_post *p)
{
	struct dx_stream *s = p->stream;
	if (!p->opcode) {
		dx_stream_ended(w, s); /* the post carried the plugin's ref */
		return;
	}
	dx_stream_write(w, s, p->opcode, p->body.p, p->body.len);
	dx_stream_release(s); /* the post's */
}

/* Queue p for s's worker; false once the worker has let go of s. */
static bool dx_stream_post(struct dx_stream *s, dx_post *p)
{
	pthread_mutex_lock(&s->lock);
	dx_worker *w = s->w;
	if (w)
		dx_post_push(w, p);
	pthread_mutex_unlock(&s->lock);
	return w != NULL;
}

int dx_stream_send(dx_stream *s, uint8_t opcode, const void *body,
		   size_t len)
{
	if (!opcode)
		return -EINVAL;
	if (s->w && dx_worker_current == s->w)
		return dx_stream_write(s->w, s, opcode, body, len);
	dx_post *p = calloc(1, sizeof *p);
	if (!p || dx_buf_append(&p->body, body, len) < 0) {
		free(p);
		return -ENOMEM;
	}
	p->stream = s;
	p->opcode = opcode;
	atomic_fetch_add(&s->refs, 1);
	if (dx_stream_post(s, p))
		return 0;
	dx_stream_release(s);
	dx_buf_free(&p->body);
	free(p);
	return -EPIPE; /* the host has stopped serving */
}

void dx_stream_end(dx_stream *s)
{
	if (s->w && dx_worker_current == s->w) {
		dx_stream_ended(s->w, s);
		return;
	}
	/* Posted behind the frames already queued, so they go out first; the
	 * post carries the plugin's reference. */
	dx_post *p = calloc(1, sizeof *p);
	if (p) {
		p->stream = s;
		if (dx_stream_post(s, p))
			return;
		free(p);
	}
	dx_stream_release(s); /* the worker has let go: just ours */
}

int dx_stream_adopt(dx_stream *s, void (*on_close)(void *), void *arg,
		    struct dx_plugin_entry *holder)
{
	pthread_mutex_lock(&s->lock);
	bool open = s->conn_open;
	struct dx_plugin_entry *old = s->holder;
	s->on_close = on_close;
	s->arg = arg;
	s->holder = holder;
	pthread_mutex_unlock(&s->lock);
	if (old != holder) {
		dx_entry_hold(holder);
		dx_entry_release(old);
	}
	return open ? 0 : -EPIPE;
}

void dx_streams_conn_closed(dx_worker *w, const dx_conn *c)
{
	for (struct dx_stream *s = w->streams; s; s = s->next) {
		if (!s->conn_open || s->slot != c->slot || s->gen != c->gen)
			continue;
		/* Under the lock, so stream_adopt never swaps the callback
		 * while it runs (nothing on_close may call takes this lock
		 * on the stream's own worker). */
		pthread_mutex_lock(&s->lock);
		s->conn_open = false;
		if (s->on_close)
			s->on_close(s->arg);
		pthread_mutex_unlock(&s->lock);
	}
}

void dx_async_free(dx_worker *w)
{
	/* Cut every stream loose first: from here on no thread can post to
	 * this worker for them (their sends fail with -EPIPE). */
	for (struct dx_stream *s = w->streams; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		s->w = NULL;
		pthread_mutex_unlock(&s->lock);
	}
	dx_posts_run(w); /* late posts still run: they may own memory */
	for (uint32_t i = 0; i < w->watch_cap; i++)
		free(w->watches[i]);
	free(w->watches);
	w->watches = NULL;
	w->watch_cap = 0;
	/* Drop the worker's references; a stream the plugin has not ended
	 * yet lives on until it does. */
	while (w->streams) {
		struct dx_stream *s = w->streams;
		w->streams = s->next;
		dx_stream_release(s);
	}
}
