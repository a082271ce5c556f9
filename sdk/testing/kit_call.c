/* kit_call.c - requests in, answers out, the worker turned in between.
 *
 * A call is an RpcCall message (split into frames past limits.max_frame)
 * fed to the connection of its peer; the worker's own turn (worker.c's
 * dx_turn) receives it, runs the pipeline, the middleware and the route,
 * and sends the answer, which lands in kit_sink and is decoded as a
 * client would. Caller's thread only: dx_worker_current is the kit's
 * worker exactly while a kit function turns it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async.h"
#include "conn.h"
#include "kit_int.h"
#include "timer.h"

#define KIT_PEER "127.0.0.1:40000"

/* host->post once the worker is set up: it has one worker, 0. */
static int kit_post(void *target, int worker, void (*fn)(void *), void *arg,
		    dx_plugin_entry *holder)
{
	dx_test_host *h = target;
	if (worker > 0)
		return -EINVAL;
	return dx_worker_post(&h->w, fn, arg, holder);
}

static void kit_sink(void *ud, int fd, const void *data, size_t len);

int kit_start(dx_test_host *h)
{
	if (h->started)
		return 0;
	dx_worker *w = &h->w;
	h->view.m = h->m;
	h->view.reg = h->reg;
	dx_io_params p = {.size = sizeof p, .worker = 0};
	int rc = dx_worker_setup(w, &h->view, 0, &kit_io_vtable, 0);
	if (rc == 0)
		rc = w->vt->create(NULL, &p, &w->io);
	if (rc < 0) {
		dx_worker_release(w);
		memset(w, 0, sizeof *w);
		return rc;
	}
	kit_io_set_sink(w->io, kit_sink, h);
	w->accepting = true;
	w->turn_ns = dx_now_ns();
	h->started = true;
	/* Posts made during init are delivered now, as when dx-host's
	 * workers start; background tasks start after init too. */
	dx_registry_set_poster(h->reg, kit_post, h);
	dx_registry_start_background(h->reg);
	return 0;
}

void kit_stop(dx_test_host *h)
{
	if (!h->started)
		return;
	dx_worker *w = &h->w;
	dx_registry_set_poster(h->reg, NULL, NULL);
	/* What dx_worker_main does past the grace period. */
	dx_worker_current = w;
	dx_timers_run(w, true);
	dx_mbox_drain(w);
	dx_conn_free_all(w);
	dx_async_free(w);
	dx_worker_current = NULL;
	dx_worker_release(w);
	memset(w, 0, sizeof *w);
	h->started = false;
}

/* ---- answers ---- */

static kit_reply *kit_find_reply(dx_test_host *h, size_t conn, uint16_t seq)
{
	for (size_t i = h->nreplies; i-- > 0;) {
		kit_reply *r = h->replies[i];
		if (r->conn == conn && r->pub.seq == seq && !r->pub.answered)
			return r;
	}
	return NULL;
}

static char *kit_text(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* The answer's body is whole: metadata, status, text. */
static void kit_finish(kit_reply *r, uint8_t opcode)
{
	const uint8_t *p = r->raw.p;
	size_t n = r->raw.len;
	if (r->first_flags & DX_HBTP_HAS_META) {
		dx_hbtp_meta m;
		const char *why;
		long used = dx_hbtp_meta_parse(p, n, &m, &why);
		size_t klen = 0, vlen = 0;
		for (unsigned i = 0; used > 0 && i < m.count; i++) {
			klen += m.e[i].key_len + 1u;
			vlen += m.e[i].value_len + 1u;
		}
		r->keys = malloc(klen + 1);
		r->values = malloc(vlen + 1);
		size_t ko = 0, vo = 0;
		for (unsigned i = 0;
		     used > 0 && r->keys && r->values && i < m.count; i++) {
			const dx_hbtp_meta_entry *e = &m.e[i];
			char *k = r->keys + ko;
			uint8_t *v = r->values + vo;
			memcpy(k, e->key, e->key_len);
			k[e->key_len] = '\0';
			memcpy(v, e->value, e->value_len);
			v[e->value_len] = '\0';
			ko += e->key_len + 1u;
			vo += e->value_len + 1u;
			r->pub.meta[r->pub.meta_count++] =
				(dx_test_meta){k, v, e->value_len};
		}
		if (used > 0) {
			p += used;
			n -= (size_t)used;
		}
	}
	if (opcode == DX_HBTP_RPC_ERROR && n >= 2) {
		r->pub.status = dx_hbtp_le16(p);
		p += 2;
		n -= 2;
	} else if (opcode == DX_HBTP_RPC_ERROR) {
		r->pub.status = 500;
	}
	r->pub.body = kit_text(p, n);
	r->pub.len = r->pub.body ? n : 0;
	r->pub.answered = true;
}

static void kit_push_frame(dx_test_host *h, const dx_hbtp_header *hd,
			   const uint8_t *body)
{
	dx_test_push *t = realloc(h->pushes, (h->npushes + 1) * sizeof *t);
	char *b = kit_text(body, hd->length);
	if (!t || !b) {
		free(b);
		if (t)
			h->pushes = t;
		return;
	}
	h->pushes = t;
	t[h->npushes++] = (dx_test_push){hd->opcode, hd->seq, b, hd->length};
}

/* One frame the worker sent on conn. */
static void kit_frame(dx_test_host *h, size_t conn, const dx_hbtp_header *hd,
		      const uint8_t *body)
{
	if (hd->opcode != DX_HBTP_RPC_RESPONSE &&
	    hd->opcode != DX_HBTP_RPC_ERROR) {
		if (hd->opcode == DX_HBTP_CLOSE)
			h->conns[conn].fd = -1; /* the host closes it */
		else
			kit_push_frame(h, hd, body);
		return;
	}
	kit_reply *r = kit_find_reply(h, conn, hd->seq);
	if (!r)
		return;
	if (r->raw.len == 0)
		r->first_flags = hd->flags;
	if (dx_buf_append(&r->raw, body, hd->length) < 0)
		return;
	if (hd->flags & DX_HBTP_FINAL)
		kit_finish(r, hd->opcode);
}

static void kit_sink(void *ud, int fd, const void *data, size_t len)
{
	dx_test_host *h = ud;
	size_t i = 0;
	while (i < h->nconns && h->conns[i].fd != fd)
		i++;
	if (i == h->nconns)
		return;
	dx_buf *b = &h->conns[i].out;
	if (dx_buf_append(b, data, len) < 0)
		return;
	size_t off = 0;
	for (;;) {
		dx_hbtp_header hd;
		const uint8_t *body;
		long n = dx_hbtp_frame_split(b->p + off, b->len - off,
					     UINT32_MAX, &hd, &body);
		if (n <= 0)
			break;
		kit_frame(h, i, &hd, body);
		off += (size_t)n;
	}
	memmove(b->p, b->p + off, b->len - off);
	b->len -= off;
}

/* ---- requests ---- */

/* The connection of peer, opened (as an accept would) when it has none
 * or the host closed it. */
static int kit_conn_for(dx_test_host *h, const char *peer, size_t *out)
{
	dx_worker *w = &h->w;
	size_t i = 0;
	while (i < h->nconns && strcmp(h->conns[i].peer, peer) != 0)
		i++;
	if (i < h->nconns && h->conns[i].fd >= 0 &&
	    dx_conn_get(w, h->conns[i].slot, h->conns[i].gen)) {
		*out = i;
		return 0;
	}
	if (i == h->nconns) {
		kit_conn *t = realloc(h->conns, (h->nconns + 1) * sizeof *t);
		if (!t)
			return -ENOMEM;
		h->conns = t;
		t[i] = (kit_conn){.peer = strdup(peer), .fd = -1};
		if (!t[i].peer)
			return -ENOMEM;
		h->nconns++;
	}
	/* The connection owns an fd, as an accepted one would; nothing is
	 * read from it or written to it. */
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dx_conn *c = dx_conn_open(w, fd);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	h->conns[i].fd = fd;
	h->conns[i].slot = c->slot;
	h->conns[i].gen = c->gen;
	h->conns[i].out.len = 0;
	dx_conn_arm_recv(w, c);
	*out = i;
	return 0;
}

/* The RpcCall message: [metadata block] u16 route, body. */
static int kit_message(const dx_test_request *req, uint16_t route, dx_buf *msg)
{
	uint8_t block[65536 + 2];
	dx_hbtp_meta_writer mw;
	size_t mlen = 0;
	if (req->meta_count) {
		int rc = dx_hbtp_meta_begin(&mw, block, sizeof block);
		for (size_t i = 0; rc == 0 && i < req->meta_count; i++)
			rc = dx_hbtp_meta_add(&mw, req->meta[i].key,
					      req->meta[i].value,
					      req->meta[i].len);
		if (rc == 0)
			rc = dx_hbtp_meta_end(&mw);
		if (rc < 0)
			return -EINVAL;
		mlen = mw.len;
	}
	uint8_t id[2];
	dx_hbtp_put_le16(id, route);
	if (dx_buf_append(msg, block, mlen) < 0 ||
	    dx_buf_append(msg, id, 2) < 0 ||
	    dx_buf_append(msg, req->body, req->len) < 0)
		return -ENOMEM;
	return 0;
}

/* Frames of at most max_frame bytes, FINAL on the last. */
static int kit_frames(const dx_buf *msg, uint8_t flags, uint16_t seq,
		      uint64_t max_frame, dx_buf *out)
{
	size_t off = 0;
	do {
		size_t n = msg->len - off;
		n = n > max_frame ? (size_t)max_frame : n;
		bool last = off + n == msg->len;
		uint8_t fl = off == 0 ? flags : 0;
		dx_hbtp_header hd = {DX_HBTP_RPC_CALL,
				     (uint8_t)(last ? fl | DX_HBTP_FINAL : fl),
				     seq, (uint32_t)n};
		uint8_t hb[DX_HBTP_HEADER_SIZE];
		dx_hbtp_header_encode(&hd, hb);
		if (dx_buf_append(out, hb, sizeof hb) < 0 ||
		    dx_buf_append(out, msg->p + off, n) < 0)
			return -ENOMEM;
		off += n;
	} while (off < msg->len);
	return 0;
}

static uint16_t kit_seq(dx_test_host *h, size_t conn)
{
	for (;;) {
		uint16_t s = h->next_seq++;
		if (!kit_find_reply(h, conn, s))
			return s;
	}
}

static kit_reply *kit_reply_new(dx_test_host *h, size_t conn, uint16_t seq,
				uint16_t route)
{
	kit_reply **t = realloc(h->replies, (h->nreplies + 1) * sizeof *t);
	if (!t)
		return NULL;
	h->replies = t;
	kit_reply *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->conn = conn;
	r->pub.seq = seq;
	r->pub.route = route;
	t[h->nreplies++] = r;
	return r;
}

/* Turn the worker once; its waits last at most max_wait_ms. */
static void kit_turn(dx_test_host *h, int max_wait_ms)
{
	bool draining = false;
	kit_io_max_wait(h->w.io, max_wait_ms);
	dx_worker_current = &h->w;
	dx_turn(&h->w, &draining);
	dx_worker_current = NULL;
}

static int kit_send(dx_test_host *h, const dx_test_request *req, uint16_t route,
		    kit_reply **out)
{
	size_t conn = 0;
	dx_buf msg = DX_BUF_INIT, frames = DX_BUF_INIT;
	int rc = kit_conn_for(h, req->peer ? req->peer : KIT_PEER, &conn);
	if (rc == 0)
		rc = kit_message(req, route, &msg);
	if (rc == 0 && msg.len > h->m->limits.max_message)
		rc = -E2BIG;
	uint16_t seq = rc == 0 ? kit_seq(h, conn) : 0;
	uint8_t flags = DX_HBTP_EXPECTS_RESPONSE |
			(req->meta_count ? DX_HBTP_HAS_META : 0);
	if (rc == 0)
		rc = kit_frames(&msg, flags, seq, h->m->limits.max_frame,
				&frames);
	kit_reply *r = rc == 0 ? kit_reply_new(h, conn, seq, route) : NULL;
	if (rc == 0 && !r)
		rc = -ENOMEM;
	if (rc == 0)
		rc = kit_io_feed(h->w.io, h->conns[conn].fd, frames.p,
				 frames.len);
	dx_buf_free(&msg);
	dx_buf_free(&frames);
	*out = r;
	return rc;
}

int dx_test_call(dx_test_host *h, const dx_test_request *req,
		 const dx_test_reply **out)
{
	if (!h || !req || (!req->route && !req->route_name))
		return -EINVAL;
	int rc = kit_refresh(h, NULL, 0);
	if (rc < 0)
		return rc;
	uint16_t route = req->route;
	if (!route) {
		int id = dx_test_route_id(h, req->route_name);
		if (id < 0)
			return id;
		route = (uint16_t)id;
	}
	if ((rc = kit_start(h)) < 0)
		return rc;
	kit_reply *r;
	if ((rc = kit_send(h, req, route, &r)) < 0)
		return rc;
	/* Until answered, or the worker has nothing to do at once (a
	 * deferred answer waits for dx_test_run). */
	for (int i = 0; i < 10000 && !r->pub.answered; i++) {
		kit_turn(h, 0);
		if (!kit_io_last(h->w.io) && !kit_io_has_input(h->w.io) &&
		    !atomic_load(&h->w.pending) &&
		    dx_timers_wait_ms(&h->w, 1) > 0)
			break;
	}
	*out = &r->pub;
	return 0;
}

int dx_test_call_route(dx_test_host *h, const char *route, const void *body,
		       size_t len, const dx_test_reply **out)
{
	dx_test_request req = {.route_name = route, .body = body, .len = len};
	return dx_test_call(h, &req, out);
}

static bool kit_done(const dx_test_host *h)
{
	for (size_t i = 0; i < h->nreplies; i++)
		if (!h->replies[i]->pub.answered)
			return false;
	return dx_timer_heap_next(&h->w.timers) == UINT64_MAX &&
	       !atomic_load(&((dx_test_host *)h)->w.pending) &&
	       !kit_io_has_input(h->w.io);
}

int dx_test_run(dx_test_host *h, int timeout_ms)
{
	int rc = kit_start(h);
	if (rc < 0)
		return rc;
	uint64_t end = dx_now_ns() +
		       (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
	for (;;) {
		uint64_t now = dx_now_ns();
		int left = now < end ? (int)((end - now + 999999) / 1000000) :
				       0;
		kit_turn(h, left);
		if (kit_done(h))
			return 0;
		if (dx_now_ns() >= end)
			return -ETIMEDOUT;
	}
}

size_t dx_test_fire_timers(dx_test_host *h)
{
	if (kit_start(h) < 0)
		return 0;
	size_t n = 0, due = dx_test_timers_pending(h);
	dx_timer t;
	dx_worker_current = &h->w;
	/* Those pending now: one that re-arms itself runs once. */
	while (n < due && dx_timer_heap_pop_due(&h->w.timers, UINT64_MAX, &t)) {
		if (t.fn)
			t.fn(t.arg);
		dx_entry_release((dx_plugin_entry *)(uintptr_t)t.udata);
		n++;
	}
	dx_worker_current = NULL;
	/* What they answered goes out. */
	for (int i = 0; i < 1000; i++) {
		kit_turn(h, 0);
		if (!kit_io_last(h->w.io) && !kit_io_has_input(h->w.io))
			break;
	}
	return n;
}

size_t dx_test_timers_pending(const dx_test_host *h)
{
	return h->started ? h->w.timers.count : 0;
}
