/* answer.c - answer frames appended to a connection's output buffer.
 *
 * Used by the pipeline (answers made while a request runs), by deferred
 * completions and streams (answers made later) and by the connection
 * (Close frames). Worker thread only.
 *
 * No frame the host sends is larger than limits.max_frame, metadata
 * included: an answer that does not fit in one frame is split into
 * frames of the same opcode and seq, FINAL on the last (docs/protocol.md
 * section 5), up to limits.max_message; a handler cannot write more than
 * a message holds (its write fails with -E2BIG). Ping, Pong and Close are
 * never split: a Pong is never larger than the Ping it answers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "async.h"
#include "conn.h"
#include "timer.h"
#include "worker.h"

/* The frame at c->out.p + start (its header, then payload to the end of
 * c->out) cut into frames of at most max_frame payload bytes, in place:
 * the first keeps the header's flags but FINAL, the last has only FINAL.
 * The chunks move back to front, each to where its header leaves room. */
static int dx_answer_split(dx_conn *c, size_t start, uint32_t max_frame,
			   dx_hbtp_header h)
{
	size_t len = h.length, n = (len + max_frame - 1) / max_frame;
	int rc = dx_buf_reserve(&c->out, (n - 1) * DX_HBTP_HEADER_SIZE);
	if (rc < 0)
		return rc;
	uint8_t *base = c->out.p + start;
	for (size_t i = n; i-- > 0;) {
		size_t off = i * (size_t)max_frame;
		size_t k = len - off < max_frame ? len - off : max_frame;
		uint8_t *to = base + i * (DX_HBTP_HEADER_SIZE + max_frame);
		memmove(to + DX_HBTP_HEADER_SIZE,
			base + DX_HBTP_HEADER_SIZE + off, k);
		uint8_t fl = i == 0 ? (uint8_t)(h.flags & ~DX_HBTP_FINAL) : 0;
		dx_hbtp_header fh = {h.opcode,
				     (uint8_t)(i == n - 1 ? fl | DX_HBTP_FINAL
							  : fl),
				     h.seq, (uint32_t)k};
		dx_hbtp_header_encode(&fh, to);
	}
	c->out.len = start + n * DX_HBTP_HEADER_SIZE + len;
	return 0;
}

/* The frame just appended at start with header h: split when it passes
 * max_frame. On failure (out of memory) the frame is taken back. */
static int dx_answer_fit(dx_worker *w, dx_conn *c, size_t start,
			 const dx_hbtp_header *hp)
{
	uint32_t max_frame = (uint32_t)w->gen->limits.max_frame;
	dx_hbtp_header h = *hp;
	if (h.length <= max_frame || h.opcode == DX_HBTP_PING ||
	    h.opcode == DX_HBTP_PONG || h.opcode == DX_HBTP_CLOSE)
		return 0;
	int rc = dx_answer_split(c, start, max_frame, h);
	if (rc < 0)
		c->out.len = start;
	return rc;
}

int dx_answer_frame(dx_worker *w, dx_conn *c, uint8_t opcode, uint16_t seq,
		    uint16_t status, const void *body, size_t len)
{
	size_t extra = status ? 2 : 0;
	int rc = dx_buf_reserve(&c->out, DX_HBTP_HEADER_SIZE + extra + len);
	if (rc < 0)
		return rc;
	size_t start = c->out.len;
	dx_hbtp_header h = {opcode, DX_HBTP_FINAL, seq,
			    (uint32_t)(extra + len)};
	uint8_t *p = c->out.p + c->out.len;
	dx_hbtp_header_encode(&h, p);
	if (status)
		dx_hbtp_put_le16(p + DX_HBTP_HEADER_SIZE, status);
	if (len)
		memcpy(p + DX_HBTP_HEADER_SIZE + extra, body, len);
	c->out.len += DX_HBTP_HEADER_SIZE + extra + len;
	rc = dx_answer_fit(w, c, start, &h);
	dx_conn_want_flush(w, c);
	return rc;
}

int dx_answer_error(dx_worker *w, dx_conn *c, uint16_t seq, uint16_t status,
		    const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	dx_cell_add(&w->stats.errors, 1);
	return dx_answer_frame(w, c, DX_HBTP_RPC_ERROR, seq, status, msg,
			       (size_t)n);
}

/* The most body an answer may have: what is left of max_message once a
 * full metadata block and an RpcError's status are in front of it. */
static size_t dx_answer_body_max(const dx_worker *w)
{
	size_t max = (size_t)w->view->m->limits.max_message;
	size_t front = 2 + sizeof w->res_meta + 2;
	return max > front ? max - front : 0;
}

/* res->cap: the room in c->out, but never past the body limit, so a
 * write past it comes here (dx_response_room) and is refused. */
static void dx_res_room(dx_response *res, const dx_conn *c, size_t max)
{
	size_t room = c->out.cap - c->out.len;
	res->data = c->out.p + c->out.len;
	res->cap = room < max ? room : max;
}

/* dx_response.reserve: grow c->out under the handler's feet, keeping the
 * header room in front of the body; -E2BIG past the body limit. */
static int dx_res_reserve(dx_response *res, size_t extra)
{
	dx_conn *c = res->owner;
	size_t max = dx_answer_body_max(dx_worker_current);
	if (res->len + extra > max)
		return -E2BIG;
	int rc = dx_buf_reserve(&c->out, res->len + extra);
	if (rc < 0)
		return rc;
	dx_res_room(res, c, max);
	return 0;
}

/* [u16 block_len, metadata][u16 status][body] at p, from the body's n
 * bytes at p and the metadata block; room: the bytes c->out has from p.
 * The common small answer (body and metadata of at most DX_ANSWER_SMALL
 * bytes each) goes through fixed-size copies the compiler inlines, in an order
 * that lets each overrun be overwritten by what comes next: the body to
 * the stack, the metadata over it, the body back after the metadata:
 * 32 bytes when both fit (one entry such as x-response-time), else 64
 * (x-response-time and x-ratelimit-remaining together take about 55
 * bytes, which went through two library calls when 32 was the only
 * size). */
#define DX_ANSWER_SMALL 64

/* The fixed-size copies for answers of at most k bytes of body and of
 * metadata each (k a constant: the copies inline). */
static inline bool dx_answer_front_k(uint8_t *p, size_t n,
				     const dx_response *res, size_t meta,
				     size_t by, size_t room, size_t k)
{
	if (n > k || res->meta_len > k || res->meta_cap < k || room < by + k ||
	    room < 2 + k)
		return false;
	uint8_t tmp[DX_ANSWER_SMALL];
	memcpy(tmp, p, k);
	if (meta)
		memcpy(p + 2, res->meta, k);
	memcpy(p + by, tmp, k);
	return true;
}

static void dx_answer_front(uint8_t *p, size_t n, const dx_response *res,
			    size_t meta, size_t status, size_t room)
{
	size_t by = meta + status;
	if (!dx_answer_front_k(p, n, res, meta, by, room, DX_ANSWER_SMALL / 2) &&
	    !dx_answer_front_k(p, n, res, meta, by, room, DX_ANSWER_SMALL)) {
		memmove(p + by, p, n);
		if (meta)
			memcpy(p + 2, res->meta, res->meta_len);
	}
	if (meta)
		dx_hbtp_put_le16(p, (uint16_t)res->meta_len);
}

/* The answer's body sits at start + 8 (header room); frame it in place:
 * [header][u16 block_len, metadata][u16 status][body]. The metadata block
 * and an RpcError's status go in front of the body, which moves once. */
void dx_answer_end(dx_worker *w, dx_conn *c, size_t start, uint16_t seq,
		   dx_response *res)
{
	size_t meta = res->meta_len ? 2 + res->meta_len : 0;
	size_t status = res->status ? 2 : 0;
	size_t len = res->len;
	/* c->out.len is still start + 8: the body is not counted yet. The
	 * room check inline; dx_buf_reserve only when it must grow. */
	size_t need = len + meta + status;
	if ((meta || status) && c->out.cap - c->out.len < need &&
	    dx_buf_reserve(&c->out, need) < 0) {
		c->out.len = start;
		return;
	}
	uint8_t *body = c->out.p + start + DX_HBTP_HEADER_SIZE;
	if (meta || status)
		dx_answer_front(body, len, res, meta, status,
				c->out.cap - c->out.len);
	if (status) {
		dx_hbtp_put_le16(body + meta, res->status);
		dx_cell_add(&w->stats.errors, 1);
	}
	len += meta + status;
	dx_hbtp_header h = {status ? DX_HBTP_RPC_ERROR : DX_HBTP_RPC_RESPONSE,
			    (uint8_t)(DX_HBTP_FINAL |
				      (meta ? DX_HBTP_HAS_META : 0)),
			    seq, (uint32_t)len};
	dx_hbtp_header_encode(&h, c->out.p + start);
	c->out.len = start + DX_HBTP_HEADER_SIZE + len;
	if (dx_answer_fit(w, c, start, &h) < 0) {
		/* The answer is gone: the client would wait for it forever. */
		dx_answer_close(w, c, DX_HBTP_CLOSE_OVERLOADED,
				"out of memory");
		return;
	}
	dx_conn_want_flush(w, c);
}

/* An answer being built in c->out after 8 bytes of header room; the
 * metadata room is the worker's. false when out of memory. */
bool dx_answer_begin(dx_worker *w, dx_conn *c, dx_response *res)
{
	if (dx_buf_reserve(&c->out, DX_HBTP_HEADER_SIZE + 256) < 0) {
		dx_answer_close(w, c, DX_HBTP_CLOSE_OVERLOADED,
				"out of memory");
		return false;
	}
	c->out.len += DX_HBTP_HEADER_SIZE;
	*res = (dx_response){
		.size = sizeof *res, .reserve = dx_res_reserve, .owner = c,
		.meta = w->res_meta, .meta_cap = sizeof w->res_meta,
	};
	dx_res_room(res, c, dx_answer_body_max(w));
	return true;
}

void dx_answer_deferred(dx_worker *w, dx_conn *c, const dx_pending *p,
			uint16_t status, const void *body, size_t len)
{
	size_t start = c->out.len;
	dx_response res;
	if (!dx_answer_begin(w, c, &res))
		return;
	if (status)
		dx_response_error(&res, status, "%.*s",
				  (int)(len > 200 ? 200 : len),
				  (const char *)body);
	else if (dx_response_write(&res, body, len) < 0)
		dx_response_error(&res, 500,
				  "route %s: its answer of %zu bytes exceeds "
				  "limits.max_message",
				  p->route_name ? p->route_name : "?", len);
	dx_request req = {
		.size = sizeof req, .opcode = DX_HBTP_RPC_CALL, .seq = p->seq,
		.route = p->route, .worker = (int)w->id,
		.start_ns = p->start_ns, .host_priv = c, .peer = c->peer,
		.route_name = p->route_name,
	};
	/* One clock reading for x-response-time and the metrics. */
	uint64_t now = dx_now_ns();
	if (p->chain)
		dx_chain_after(p->chain, p->ran, &req, &res, now);
	dx_wm_answer(w->wm, p->route, 1, res.status, now - p->start_ns);
	if (!p->expects_response) {
		c->out.len = start;
		return;
	}
	dx_answer_end(w, c, start, p->seq, &res);
}

void dx_answer_close(dx_worker *w, dx_conn *c, uint16_t code,
		     const char *reason)
{
	uint8_t body[2 + 128];
	size_t n = strlen(reason);
	if (n > sizeof body - 2)
		n = sizeof body - 2;
	body[0] = (uint8_t)code;
	body[1] = (uint8_t)(code >> 8);
	memcpy(body + 2, reason, n);
	dx_answer_frame(w, c, DX_HBTP_CLOSE, 0, 0, body, n + 2);
	c->closing = true;
	/* Stop reading: nothing the peer sends now will be answered. */
	c->eof = true;
	dx_cell_add(&w->stats.closed_by_server, 1);
	dx_conn_want_flush(w, c);
}
