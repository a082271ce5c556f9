/* worker.c - one event loop per worker thread.
 *
 * Each turn: wait for completions (bounded by the next timer and a 100 ms
 * tick), handle them, answer requests other threads completed, run due
 * timers, close idle or trickling connections and those whose output does
 * not move (conn.c's write timeout), then flush every connection
 * that has answers to send (one send per connection per turn: batching). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "async.h"
#include "bind.h"
#include "conn.h"
#include "sock.h"
#include "timer.h"
#include "worker.h"

/* The longest a turn waits, and how often timeouts are swept. */
#define DX_TICK_MS 100

_Thread_local dx_worker *dx_worker_current;

void dx_worker_wake(dx_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	w->vt->wake(w->io);
	pthread_mutex_unlock(&w->mbox_lock);
}

void dx_worker_post_swap(dx_worker *w, const dx_io_vtable *vt, dx_io *io)
{
	pthread_mutex_lock(&w->mbox_lock);
	w->swap_vt = vt;
	w->swap_io = io;
	atomic_fetch_add(&w->pending, 1);
	w->vt->wake(w->io);
	pthread_mutex_unlock(&w->mbox_lock);
}

/* ---- accepting ---- */

static void dx_refuse(dx_worker *w, int fd)
{
	/* A best-effort Close on a socket we will not serve: one small
	 * non-blocking write, then gone. */
	static const char why[] = "too many connections";
	uint8_t f[DX_HBTP_HEADER_SIZE + 2 + sizeof why - 1];
	dx_hbtp_header h = {DX_HBTP_CLOSE, DX_HBTP_FINAL, 0,
			    (uint32_t)(sizeof f - DX_HBTP_HEADER_SIZE)};
	dx_hbtp_header_encode(&h, f);
	f[8] = (uint8_t)DX_HBTP_CLOSE_OVERLOADED;
	f[9] = (uint8_t)(DX_HBTP_CLOSE_OVERLOADED >> 8);
	memcpy(f + 10, why, sizeof why - 1);
	long n = dx_sock_send_nowait(fd, f, sizeof f);
	(void)n;
	dx_sock_close(fd);
	dx_cell_add(&w->stats.refused, 1);
}

/* Whether a peer is on this machine: zero copy gains nothing there. */
static bool dx_peer_local(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		const uint8_t *b = a->sin6_addr.s6_addr;
		return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && b[12] == 127);
	}
	return true; /* unix */
}

/* "1.2.3.4:5678", "[::1]:5678" or "unix": who the rate limiter and the
 * logs see. Also turns off Nagle on TCP (answers go out as they are made)
 * and decides whether large answers may use zero copy. */
static void dx_peer_name(dx_worker *w, dx_conn *c, int fd, char *out, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "";
	snprintf(out, n, "unix");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNIX;
	dx_zero_copy zc = w->view->m->io.zero_copy;
	c->zc_ok = zc == DX_ZC_ALWAYS ||
		   (zc == DX_ZC_AUTO && !dx_peer_local(&ss));
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return;
	dx_sock_nodelay(fd);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(out, n, "%s:%u", host, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(out, n, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

static void dx_on_accept(dx_worker *w, const dx_io_cqe *e)
{
	uint32_t i = DX_UD_SLOT(e->udata);
	if (e->result >= 0) {
		int fd = e->result;
		uint64_t max = w->gen->limits.max_connections;
		uint64_t open = atomic_fetch_add_explicit(
			&w->view->connections, 1, memory_order_relaxed);
		/* A connection the old backend accepted just before a swap
		 * detached it is served like any other (armed after). */
		dx_conn *c = open < max && (w->accepting || w->swapping)
				     ? dx_conn_open(w, fd)
				     : NULL;
		if (!c) {
			atomic_fetch_sub_explicit(&w->view->connections, 1,
						  memory_order_relaxed);
			dx_refuse(w, fd);
		} else {
			dx_peer_name(w, c, fd, c->peer, sizeof c->peer);
			dx_cell_add(&w->stats.accepted, 1);
			dx_cell_add(&w->stats.connections, 1);
			dx_conn_arm_recv(w, c);
		}
	} else if (e->result != -ECANCELED) {
		dx_registry_log(w->view->reg, DX_LOG_WARN,
				"worker %u: accept: %s", w->id,
				dx_strerror(e->result));
	}
	if (e->flags & DX_IO_F_MORE)
		return;
	w->accepts_armed--;
	/* A slot apply closed (listen.c) is -1: not armed again. */
	if (w->accepting && !w->swapping && i < w->listen_count &&
	    w->listen_fds[i] >= 0 &&
	    w->vt->accept(w->io, w->listen_fds[i], e->udata) == 0)
		w->accepts_armed++;
}

static void dx_arm_accepts(dx_worker *w)
{
	for (size_t i = 0; i < w->listen_count; i++)
		if (w->listen_fds[i] >= 0 &&
		    w->vt->accept(w->io, w->listen_fds[i],
				  DX_UD(DX_UD_LISTEN, i, 0)) == 0)
			w->accepts_armed++;
}

/* ---- receiving ---- */

static void dx_on_recv(dx_worker *w, const dx_io_cqe *e)
{
	dx_conn *c = dx_conn_get(w, DX_UD_SLOT(e->udata), DX_UD_GEN(e->udata));
	if (e->flags & DX_IO_F_BUFFER) {
		int rc = c ? dx_buf_append(&c->in, e->data, (size_t)e->result)
			   : 0;
		w->vt->buf_release(w->io, e->buf_id);
		if (rc < 0 && c) {
			dx_conn_close(w, c);
			return;
		}
	}
	if (!c)
		return;
	bool more = e->flags & DX_IO_F_MORE;
	if (!more)
		c->recv_armed = false;
	if (e->result > 0) {
		dx_cell_add(&w->stats.bytes_in, (uint64_t)e->result);
		c->active_ns = dx_now_ns();
		dx_conn_input(w, c);
	} else if (e->result == 0 || (e->result != -ENOBUFS &&
				       e->result != -ECANCELED)) {
		/* EOF or a socket error: answer what is in flight, then go. */
		c->eof = true;
		c->closing = true;
		dx_conn_want_flush(w, c);
		return;
	}
	if (!more && !c->eof)
		dx_conn_arm_recv(w, c);
}

static void dx_on_cqe(dx_worker *w, const dx_io_cqe *e)
{
	switch (e->op) {
	case DX_IO_ACCEPT:
		dx_on_accept(w, e);
		break;
	case DX_IO_RECV:
		dx_on_recv(w, e);
		break;
	case DX_IO_SEND: {
		dx_conn *c = dx_conn_get(w, DX_UD_SLOT(e->udata),
					 DX_UD_GEN(e->udata));
		if (c)
			dx_conn_on_send(w, c, e->result, e->flags);
		break;
	}
	case DX_IO_POLL:
		if (DX_UD_KIND(e->udata) == DX_UD_WATCH)
			dx_watch_on_cqe(w, e);
		break;
	default:
		break; /* DX_IO_WAKE: the mailbox is read every turn */
	}
}

/* ---- timeouts and drain ---- */

static void dx_sweep(dx_worker *w, uint64_t now)
{
	const struct dx_limits *lim = &w->gen->limits;
	uint64_t idle = lim->idle_timeout_ms * 1000000u;
	uint64_t header = lim->header_timeout_ms * 1000000u;
	size_t bytes = 0;
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		dx_conn *c = w->conns[i];
		/* Output that does not move is the connection's own sweep
		 * (write timeout); a Close could not get past it. */
		if (!c || dx_conn_sweep(w, c, now, &bytes) || c->closing)
			continue;
		/* A paused connection's input waits unread: not a slow
		 * frame. */
		if (c->partial_ns && !c->paused && now - c->partial_ns > header)
			dx_answer_close(w, c, DX_HBTP_CLOSE_IDLE,
					"incomplete frame past "
					"limits.header_timeout_ms");
		else if (idle && !c->inflight && !dx_conn_output_waits(c) &&
			 now - c->active_ns > idle)
			dx_answer_close(w, c, DX_HBTP_CLOSE_IDLE,
					"idle past limits.idle_timeout_ms");
	}
	for (size_t i = 0; i < w->zc_orphan_count; i++)
		bytes += w->zc_orphans[i].cap;
	atomic_store_explicit(&w->stats.buffer_bytes, bytes,
			      memory_order_relaxed);
}

static void dx_begin_drain(dx_worker *w)
{
	w->accepting = false;
	for (size_t i = 0; i < w->listen_count; i++) {
		if (w->listen_fds[i] < 0)
			continue;
		w->vt->detach(w->io, w->listen_fds[i]);
		dx_bind_close(w->listen_fds[i]);
		w->listen_fds[i] = -1;
	}
	w->listen_count = 0;
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		dx_conn *c = w->conns[i];
		if (!c || c->fd < 0 || c->closing)
			continue;
		if (c->inflight)
			c->drain_close = true;
		else
			dx_answer_close(w, c, DX_HBTP_CLOSE_NORMAL,
					"server shutting down");
	}
	w->drain_deadline_ns =
		dx_now_ns() + w->gen->limits.grace_ms * 1000000u;
}

/* ---- backend swap ---- */

static bool dx_anything_armed(const dx_worker *w)
{
	if (w->accepts_armed || dx_watches_polling(w))
		return true;
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		const dx_conn *c = w->conns[i];
		if (c && c->fd >= 0 &&
		    (c->recv_armed || c->send_armed || c->zc_wait))
			return true;
	}
	return false;
}

/* Detach every fd from the old backend and reap until it holds nothing:
 * data that arrived meanwhile is handled as usual, sends cut short keep
 * their tail (dx_conn_on_send). Bounded, so a stuck backend cannot hang
 * the worker: what is still armed after 2 s is abandoned with it. */
static void dx_swap_quiesce(dx_worker *w)
{
	for (size_t i = 0; i < w->listen_count; i++)
		if (w->listen_fds[i] >= 0)
			w->vt->detach(w->io, w->listen_fds[i]);
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		dx_conn *c = w->conns[i];
		if (c && c->fd >= 0)
			w->vt->detach(w->io, c->fd);
	}
	dx_watches_detach(w);
	w->vt->submit(w->io);
	uint64_t deadline = dx_now_ns() + 2000000000u;
	while (dx_anything_armed(w) && dx_now_ns() < deadline) {
		int n = w->vt->wait(w->io, w->cqes,
				    sizeof w->cqes / sizeof w->cqes[0], 10);
		for (int i = 0; i < n; i++)
			dx_on_cqe(w, &w->cqes[i]);
	}
	w->accepts_armed = 0;
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		dx_conn *c = w->conns[i];
		if (!c)
			continue;
		/* A send still armed is abandoned: the rest from send_off
		 * goes again. The old instance is destroyed next (a
		 * backend's destroy waits for its zero-copy notifications). */
		c->send_armed = c->recv_armed = c->send_cut = false;
		c->zc_wait = 0;
	}
}

static void dx_swap_backend(dx_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	const dx_io_vtable *vt = w->swap_vt;
	dx_io *io = w->swap_io;
	w->swap_vt = NULL;
	w->swap_io = NULL;
	pthread_mutex_unlock(&w->mbox_lock);
	if (!vt)
		return;
	bool accepting = w->accepting;
	w->swapping = true;
	dx_swap_quiesce(w);
	pthread_mutex_lock(&w->mbox_lock);
	const dx_io_vtable *old_vt = w->vt;
	dx_io *old_io = w->io;
	w->vt = vt;
	w->io = io;
	pthread_mutex_unlock(&w->mbox_lock);
	old_vt->destroy(old_io);
	w->swapping = false;
	if (accepting)
		dx_arm_accepts(w);
	dx_watches_rearm(w);
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		dx_conn *c = w->conns[i];
		if (!c || c->fd < 0)
			continue;
		dx_conn_arm_recv(w, c);
		dx_conn_resume_send(w, c);
	}
	atomic_fetch_add(&w->view->swapped, 1);
}

/* The loop boundary: take the newest generation before dispatching what
 * this turn collected, so everything the turn starts runs on it, and say
 * so (the quiescent point a reload waits for). */
static void dx_worker_adopt(dx_worker *w)
{
	dx_gen *g = atomic_load_explicit(&w->view->gen, memory_order_acquire);
	if (g == w->gen)
		return;
	w->gen = g;
	atomic_store_explicit(&w->qs, g->id, memory_order_release);
}

bool dx_turn(dx_worker *w, bool *draining)
{
	int n = w->vt->wait(w->io, w->cqes, sizeof w->cqes / sizeof w->cqes[0],
			    dx_timers_wait_ms(w, DX_TICK_MS));
	w->turn_ns = dx_now_ns();
	dx_cell_add(&w->wm->turns, 1);
	dx_worker_adopt(w);
	for (int i = 0; i < n; i++)
		dx_on_cqe(w, &w->cqes[i]);
	/* Anything posted since the last turn (completions, posts, a swap)?
	 * Posters raise pending under the lock before they wake us. */
	if (atomic_exchange(&w->pending, 0)) {
		dx_mbox_drain(w);
		dx_posts_run(w);
		dx_swap_backend(w);
	}
	dx_timers_run(w, false);
	uint64_t now = dx_now_ns();
	if (now >= w->next_sweep_ns) {
		dx_sweep(w, now);
		w->next_sweep_ns = now + DX_TICK_MS * 1000000u;
	}
	if (!*draining && atomic_load(&w->drain)) {
		*draining = true;
		dx_begin_drain(w);
	}
	dx_conn_flush_all(w);
	if (!*draining)
		return true;
	return w->live > 0 && now < w->drain_deadline_ns;
}

int dx_worker_setup(dx_worker *w, dx_server_view *view, unsigned id,
		    const dx_io_vtable *vt, size_t nlisten)
{
	w->view = view;
	w->id = id;
	w->vt = vt;
	dx_timer_heap_init(&w->timers, 0);
	pthread_mutex_init(&w->mbox_lock, NULL);
	w->listen_fds = calloc(nlisten ? nlisten : 1, sizeof *w->listen_fds);
	w->scratch = malloc((size_t)view->m->limits.max_message);
	w->wm = calloc(1, sizeof *w->wm);
	return w->listen_fds && w->scratch && w->wm ? 0 : -ENOMEM;
}

void dx_worker_release(dx_worker *w)
{
	for (size_t i = 0; i < w->listen_count; i++)
		if (w->listen_fds[i] >= 0)
			dx_bind_close(w->listen_fds[i]);
	if (w->io)
		w->vt->destroy(w->io);
	while (w->pending_free) {
		dx_pending *p = w->pending_free;
		w->pending_free = p->next;
		dx_buf_free(&p->body);
		free(p);
	}
	dx_timer_heap_free(&w->timers);
	free(w->listen_fds);
	free(w->scratch);
	free(w->wm);
	pthread_mutex_destroy(&w->mbox_lock);
}

void *dx_worker_main(void *arg)
{
	dx_worker *w = arg;
	dx_worker_current = w;
	dx_worker_adopt(w);
	w->turn_ns = dx_now_ns();
	w->accepting = true;
	dx_arm_accepts(w);
	bool draining = false;
	while (dx_turn(w, &draining))
		;
	/* Past the grace period: whoever is left is cut off. Timers still
	 * pending run now, so deferred work completes into closed slots. */
	dx_timers_run(w, true);
	dx_mbox_drain(w);
	dx_conn_free_all(w);
	dx_async_free(w);
	/* Stopped: never in the way of a generation's end again. */
	atomic_store_explicit(&w->qs, UINT64_MAX, memory_order_release);
	dx_worker_current = NULL;
	return NULL;
}
