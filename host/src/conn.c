/* conn.c - a worker's connections: slots, buffers, sending, closing.
 *
 * Output is double-buffered: answers are appended to `out` while the
 * backend sends `sending`; when that send completes the two swap. A send
 * carries at most DX_SEND_CHUNK bytes, so a large answer shows progress
 * (the write timeout's clock) chunk by chunk.
 * Buffers grow to what the connection needs and are reused, so a steady
 * stream of requests allocates nothing; one that grew past
 * DX_CONN_BUF_KEEP is given back once the connection has been idle for
 * DX_CONN_TRIM_NS, or when it closes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "conn.h"
#include "pipeline.h"
#include "sock.h"
#include "timer.h"
#include "worker.h"

/* A buffer up to this size is kept for the next request (or the next
 * connection in this slot); a larger one only while it is in use. */
#define DX_CONN_BUF_KEEP (64 * 1024)
/* How long a connection moves no byte before its large buffers go. */
#define DX_CONN_TRIM_NS (1000u * 1000000u)
/* The most one send carries: the write timeout sees progress at least
 * once per chunk (a peer reading 35 KB/s moves one in 30 s, the default
 * write_timeout_ms), and larger ones would save no syscall worth it. */
#define DX_SEND_CHUNK (1024 * 1024)

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
	c->zc_ok = c->paused = c->held = c->send_cut = false;
	c->zc_wait = 0;
	c->send_off = c->send_len = 0;
	c->send_ns = c->active_ns;
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

/* Give back a buffer that grew past DX_CONN_BUF_KEEP and holds nothing;
 * it grows again from 4 KiB when next needed. */
static void dx_conn_buf_trim(dx_buf *b)
{
	if (!b->len && b->cap > DX_CONN_BUF_KEEP)
		dx_buf_free(b);
}

/* The buffers c does not use now go back to their small size. */
static void dx_conn_trim(dx_conn *c)
{
	dx_conn_buf_trim(&c->in);
	dx_conn_buf_trim(&c->out);
	if (!c->send_armed && !c->zc_wait)
		dx_conn_buf_trim(&c->sending);
	/* Made at max_message for a split message; the pipeline makes it
	 * again (and restarts the reassembler) when the next one comes. */
	if (c->reasm_buf && !c->reasm.active && !c->reasm.discard) {
		free(c->reasm_buf);
		c->reasm_buf = NULL;
	}
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
		c->zc_wait = 0;
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
	dx_sock_close(c->fd);
	c->fd = -1;
	c->gen = (c->gen + 1) & 0xFFFFFFu;
	dx_hbtp_reasm_reset(&c->reasm);
	/* Nothing the backend holds is ours any more (the send was
	 * cancelled, its completion is ignored): what grew goes now, not
	 * when the slot is next used. */
	c->in.len = c->out.len = c->sending.len = 0;
	c->send_off = c->send_len = 0;
	c->send_armed = false;
	dx_conn_trim(c);
	w->free_slots[w->free_count++] = c->slot;
	w->live--;
	dx_cell_sub(&w->stats.connections, 1);
	atomic_fetch_sub_explicit(&w->view->connections, 1,
				  memory_order_relaxed);
}

void dx_conn_arm_recv(dx_worker *w, dx_conn *c)
{
	if (c->recv_armed || c->eof || c->held || c->fd < 0 || w->swapping)
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

/* Send the next chunk of sending (from send_off). */
static void dx_conn_send_sending(dx_worker *w, dx_conn *c)
{
	size_t len = c->sending.len - c->send_off;
	if (len > DX_SEND_CHUNK)
		len = DX_SEND_CHUNK;
	uint32_t flags = 0;
	if (c->zc_ok && len >= DX_ZC_MIN && (w->vt->caps & DX_IO_CAP_SEND_ZC)) {
		flags = DX_IO_SEND_ZC;
		dx_cell_add(&w->stats.zero_copy_sends, 1);
	}
	int rc = w->vt->send(w->io, c->fd, c->sending.p + c->send_off, len,
			     DX_UD(DX_UD_SEND, c->slot, c->gen), flags);
	if (rc < 0) {
		dx_conn_close(w, c);
		return;
	}
	c->send_len = len;
	c->send_armed = true;
}

/* Start sending: the rest of sending first, else what out holds. */
static void dx_conn_flush(dx_worker *w, dx_conn *c)
{
	if (c->fd < 0 || c->send_armed || w->swapping)
		return;
	if (c->send_off < c->sending.len) {
		dx_conn_send_sending(w, c);
		return;
	}
	if (c->zc_wait) /* the kernel still reads sending: no swap yet */
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
	c->send_off = 0;
	/* Everything before went out: this output starts its clock now. */
	c->send_ns = w->turn_ns;
	dx_conn_send_sending(w, c);
}

void dx_conn_resume_send(dx_worker *w, dx_conn *c)
{
	if (c->fd >= 0)
		dx_conn_want_flush(w, c);
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

/* ---- backpressure ---- */

/* Stop the backend reading c: cancel its recv (detach cancels the send in
 * flight too; dx_conn_on_send sends the rest again). During a swap the
 * swap's own detach does it, and held keeps recv from being re-armed. */
static void dx_conn_hold(dx_worker *w, dx_conn *c)
{
	c->held = true;
	if (!c->recv_armed || w->swapping)
		return;
	c->send_cut = c->send_armed;
	if (w->vt->detach(w->io, c->fd) < 0)
		c->held = false; /* tried again with the next bytes */
}

void dx_conn_input(dx_worker *w, dx_conn *c)
{
	if (c->closing) {
		/* Nothing the peer sends now will be answered. */
		c->in.len = 0;
		return;
	}
	size_t cap = (size_t)w->gen->limits.max_output;
	if (!c->paused) {
		dx_pipeline_input(w, c);
		if (dx_conn_unsent(c) <= cap || c->closing)
			return;
		c->paused = true;
		dx_cell_add(&w->stats.output_paused, 1);
	}
	if (c->in.len > cap && !c->held)
		dx_conn_hold(w, c);
}

/* Output went out: below half the cap, read again (and first answer what
 * waited in c->in, which may pause c again). */
static void dx_conn_maybe_resume(dx_worker *w, dx_conn *c)
{
	if (dx_conn_unsent(c) > (size_t)w->gen->limits.max_output / 2)
		return;
	c->paused = c->held = false;
	if (c->in.len)
		dx_conn_input(w, c);
	dx_conn_arm_recv(w, c);
}

void dx_conn_on_send(dx_worker *w, dx_conn *c, int result, uint32_t flags)
{
	uint64_t now = w->turn_ns;
	if (flags & DX_IO_F_NOTIF) {
		/* The kernel is done with (part of) the zero-copy buffer. */
		if (c->zc_wait)
			c->zc_wait--;
		c->send_ns = now;
		dx_conn_want_flush(w, c);
		return;
	}
	c->send_armed = false;
	bool cut = c->send_cut;
	c->send_cut = false;
	if (flags & DX_IO_F_MORE)
		c->zc_wait++;
	if ((w->swapping || cut) &&
	    (result == -ECANCELED ||
	     (result >= 0 && (size_t)result < c->send_len))) {
		/* Cut off by a backend swap or a hold: the rest goes again,
		 * in order, before anything newer (after the swap, or now). */
		size_t sent = result > 0 ? (size_t)result : 0;
		c->send_off += sent;
		if (sent) {
			dx_cell_add(&w->stats.bytes_out, sent);
			c->send_ns = c->active_ns = now;
		}
		if (!w->swapping)
			dx_conn_want_flush(w, c);
		return;
	}
	if (result < 0 || (size_t)result != c->send_len) {
		/* The peer is gone (EPIPE, ECONNRESET) or we detached. */
		dx_conn_close(w, c);
		return;
	}
	dx_cell_add(&w->stats.bytes_out, (uint64_t)result);
	c->active_ns = c->send_ns = now;
	c->send_off += (size_t)result;
	if (c->send_off == c->sending.len)
		c->sending.len = c->send_off = 0;
	dx_conn_flush(w, c);
	if (c->paused && c->fd >= 0)
		dx_conn_maybe_resume(w, c);
}

/* ---- the sweep's part ---- */

static size_t dx_conn_bytes(const dx_conn *c)
{
	return c->in.cap + c->out.cap + c->sending.cap +
	       (c->reasm_buf ? c->reasm.cap : 0);
}

bool dx_conn_sweep(dx_worker *w, dx_conn *c, uint64_t now, size_t *bytes)
{
	if (c->fd < 0) {
		*bytes += dx_conn_bytes(c); /* kept for the slot's next one */
		return true;
	}
	const struct dx_limits *lim = &w->gen->limits;
	uint64_t wto = lim->write_timeout_ms * 1000000u;
	uint64_t idle = lim->idle_timeout_ms * 1000000u;
	if (dx_conn_output_waits(c)) {
		/* No Close can get past output that does not move: the
		 * connection just ends, closing or not. */
		uint64_t still = now - c->send_ns;
		if ((wto && still > wto) || (idle && still > idle)) {
			dx_cell_add(&w->stats.write_timeouts, 1);
			dx_conn_close(w, c);
			return true;
		}
	} else if (now - c->active_ns > DX_CONN_TRIM_NS) {
		dx_conn_trim(c);
	}
	*bytes += dx_conn_bytes(c);
	return false;
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
