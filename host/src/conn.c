/* conn.c - a worker's connections: slots, buffers, sending, closing.
 *
 * Output is double-buffered: answers are appended to `out` while the
 * backend sends `sending`; when that send completes the two swap. Both
 * buffers grow to what the connection needs and are then reused, so a
 * steady stream of requests allocates nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async.h"
#include "conn.h"
#include "timer.h"
#include "worker.h"

static int dx_conn_grow(dx_worker *w)
{
	uint32_t cap = w->conn_cap ? w->conn_cap * 2 : 64;
	dx_conn **conns = realloc(w->conns, cap * sizeof *conns);
	if (!conns)
		return -ENOMEM;
	w->conns = conns;
	uint32_t *slots = realloc(w->free_slots, cap * sizeof *slots);
	if (!slots)
		return -ENOMEM;
	w->free_slots = slots;
	/* Push the new slots so the lowest is handed out first. */
	for (uint32_t i = cap; i-- > w->conn_cap;) {
		conns[i] = NULL;
		slots[w->free_count++] = i;
	}
	w->conn_cap = cap;
	return 0;
}

dx_conn *dx_conn_open(dx_worker *w, int fd)
{
	if (!w->free_count && dx_conn_grow(w) < 0)
		return NULL;
	uint32_t slot = w->free_slots[--w->free_count];
	dx_conn *c = w->conns[slot];
	if (!c) {
		/* Connection structs (and their buffers) are kept when a
		 * connection closes and reused by the next one. */
		c = calloc(1, sizeof *c);
		if (!c) {
			w->free_slots[w->free_count++] = slot;
			return NULL;
		}
		c->slot = slot;
		w->conns[slot] = c;
	}
	c->fd = fd;
	c->gen = (c->gen + 1) & 0xFFFFFFu;
	c->in.len = c->out.len = c->sending.len = 0;
	c->inflight = 0;
	c->active_ns = dx_now_ns();
	c->partial_ns = 0;
	c->recv_armed = c->send_armed = false;
	c->closing = c->eof = c->in_list = c->drain_close = false;
	c->resend = c->zc_wait = c->zc_ok = false;
	c->streams = 0;
	c->peer[0] = '\0';
	w->live++;
	return c;
}

dx_conn *dx_conn_get(dx_worker *w, uint32_t slot, uint32_t gen)
{
	if (slot >= w->conn_cap)
		return NULL;
	dx_conn *c = w->conns[slot];
	return c && c->fd >= 0 && c->gen == gen ? c : NULL;
}

void dx_conn_close(dx_worker *w, dx_conn *c)
{
	if (c->fd < 0)
		return;
	/* Cancel what the backend still holds for this fd; its completions
	 * carry the old generation and are ignored after this. */
	if (c->zc_wait) {
		/* The kernel may still read c->sending after the close: give
		 * this slot a fresh buffer and keep the old one aside. */
		dx_buf *o = realloc(w->zc_orphans, (w->zc_orphan_count + 1) *
							    sizeof *o);
		if (o) {
			w->zc_orphans = o;
			o[w->zc_orphan_count++] = c->sending;
			c->sending = (dx_buf){0};
		}
		c->zc_wait = false;
	}
	if (c->streams) {
		dx_streams_conn_closed(w, c);
		c->streams = 0;
	}
	w->vt->detach(w->io, c->fd);
	/* The cancel must reach the kernel while the fd number still names
	 * this socket: a completion backend looks it up at submit time, and
	 * a multishot recv left armed would keep the socket open after
	 * close(). */
	w->vt->submit(w->io);
	close(c->fd);
	c->fd = -1;
	c->gen = (c->gen + 1) & 0xFFFFFFu;
	dx_hbtp_reasm_reset(&c->reasm);
	w->free_slots[w->free_count++] = c->slot;
	w->live--;
	atomic_fetch_sub_explicit(&w->stats.connections, 1,
				  memory_order_relaxed);
	atomic_fetch_sub_explicit(&w->view->connections, 1,
				  memory_order_relaxed);
}

void dx_conn_arm_recv(dx_worker *w, dx_conn *c)
{
	if (c->recv_armed || c->eof || c->fd < 0 || w->swapping)
		return;
	if (w->vt->recv(w->io, c->fd, DX_UD(DX_UD_RECV, c->slot, c->gen)) ==
	    0)
		c->recv_armed = true;
}

void dx_conn_want_flush(dx_worker *w, dx_conn *c)
{
	if (c->in_list)
		return;
	c->in_list = true;
	c->flush_next = w->flush_head;
	w->flush_head = c;
}

/* Zero copy pays for its page pinning and extra completion only on large
 * answers; below this a copy is cheaper. */
#define DX_ZC_MIN (64 * 1024)

static void dx_conn_send_sending(dx_worker *w, dx_conn *c)
{
	uint32_t flags = 0;
	if (c->zc_ok && c->sending.len >= DX_ZC_MIN &&
	    (w->vt->caps & DX_IO_CAP_SEND_ZC)) {
		flags = DX_IO_SEND_ZC;
		atomic_fetch_add_explicit(&w->stats.zero_copy_sends, 1,
					  memory_order_relaxed);
	}
	int rc = w->vt->send(w->io, c->fd, c->sending.p, c->sending.len,
			     DX_UD(DX_UD_SEND, c->slot, c->gen), flags);
	if (rc < 0) {
		dx_conn_close(w, c);
		return;
	}
	c->send_armed = true;
}

/* Start sending what out holds, if nothing is being sent. */
static void dx_conn_flush(dx_worker *w, dx_conn *c)
{
	if (c->fd < 0 || c->send_armed || c->resend || c->zc_wait ||
	    w->swapping)
		return;
	if (c->out.len == 0) {
		if (c->closing && c->inflight == 0)
			dx_conn_close(w, c);
		return;
	}
	dx_buf t = c->sending;
	c->sending = c->out;
	c->out = t;
	c->out.len = 0;
	dx_conn_send_sending(w, c);
}

void dx_conn_resume_send(dx_worker *w, dx_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->resend) {
		c->resend = false;
		dx_conn_send_sending(w, c);
	} else {
		dx_conn_want_flush(w, c);
	}
}

void dx_conn_flush_all(dx_worker *w)
{
	while (w->flush_head) {
		dx_conn *c = w->flush_head;
		w->flush_head = c->flush_next;
		c->in_list = false;
		dx_conn_flush(w, c);
	}
}

void dx_conn_on_send(dx_worker *w, dx_conn *c, int result, uint32_t flags)
{
	if (flags & DX_IO_F_NOTIF) {
		/* The kernel is done with the zero-copy buffer. */
		c->zc_wait = false;
		dx_conn_want_flush(w, c);
		return;
	}
	c->send_armed = false;
	if (flags & DX_IO_F_MORE)
		c->zc_wait = true;
	if (w->swapping && (result == -ECANCELED ||
			    (result >= 0 && (size_t)result < c->sending.len))) {
		/* Cut off by a backend swap: keep the unsent tail for the
		 * new backend, in order, before anything newer. */
		size_t sent = result > 0 ? (size_t)result : 0;
		memmove(c->sending.p, c->sending.p + sent,
			c->sending.len - sent);
		c->sending.len -= sent;
		c->resend = true;
		return;
	}
	if (result < 0 || (size_t)result != c->sending.len) {
		/* The peer is gone (EPIPE, ECONNRESET) or we detached. */
		dx_conn_close(w, c);
		return;
	}
	atomic_fetch_add_explicit(&w->stats.bytes_out, (uint64_t)result,
				  memory_order_relaxed);
	c->active_ns = dx_now_ns();
	c->sending.len = 0;
	dx_conn_flush(w, c);
}

void dx_conn_free_all(dx_worker *w)
{
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		dx_conn *c = w->conns[i];
		if (!c)
			continue;
		if (c->fd >= 0)
			dx_conn_close(w, c);
		dx_buf_free(&c->in);
		dx_buf_free(&c->out);
		dx_buf_free(&c->sending);
		free(c->reasm_buf);
		free(c);
	}
	for (size_t i = 0; i < w->zc_orphan_count; i++)
		dx_buf_free(&w->zc_orphans[i]);
	free(w->zc_orphans);
	w->zc_orphans = NULL;
	w->zc_orphan_count = 0;
	free(w->conns);
	free(w->free_slots);
	w->conns = NULL;
	w->free_slots = NULL;
	w->conn_cap = w->free_count = 0;
}
