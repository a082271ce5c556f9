/* client_recv.c - dx_client receives: reading, frames, reassembly,
 * inflation, and the bounded queue of messages for other seqs. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/client.h>

#include "client_int.h"
#include "sock.h"

/* --- reading bytes --- */

/* One non-blocking read into r: 1 got bytes, 0 nothing yet, < 0 error.
 * Moves what is left of r to the front first, so pointers into r from
 * before are stale afterwards. */
static int dx_client_read_once(dx_client *c)
{
	if (c->r_off) {
		memmove(c->r.p, c->r.p + c->r_off, c->r.len - c->r_off);
		c->r.len -= c->r_off;
		c->r_off = 0;
	}
	if (dx_buf_reserve(&c->r, DX_CLIENT_READ_CHUNK))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	long k = dx_sock_recv(c->fd, c->r.p + c->r.len, c->r.cap - c->r.len);
	if (k > 0) {
		c->r.len += (size_t)k;
		return 1;
	}
	if (k == 0) {
		dx_client_fail(c, -ECONNRESET,
			       "the server closed the connection");
		return dx_client_kill(c, -ECONNRESET);
	}
	if (k == -EAGAIN || k == -EINTR)
		return 0;
	dx_client_fail(c, (int)k, "recv: %s", dx_sock_strerror((int)-k));
	return dx_client_kill(c, (int)k);
}

/* Read until at least one byte came, or deadline. */
static int dx_client_fill(dx_client *c, int64_t deadline)
{
	for (;;) {
		int rc = dx_client_read_once(c);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		short rev;
		rc = dx_wait_fd(c->fd, POLLIN, deadline, &rev);
		if (rc < 0)
			return dx_client_fail(
				c, rc, "%s",
				rc == -ETIMEDOUT ?
					"timed out waiting for the server" :
					dx_sock_strerror(-rc));
	}
}

/* Bytes received but not yet split into frames, kept while flushing: past
 * this, flush stops reading and only writes. */
static size_t dx_client_read_ahead(const dx_client *c)
{
	return (size_t)c->max_frame + DX_HBTP_HEADER_SIZE +
	       4 * DX_CLIENT_READ_CHUNK;
}

static int dx_client_flush_until(dx_client *c, int64_t deadline)
{
	while (c->w_off < c->w.len) {
		long k = dx_sock_send(c->fd, c->w.p + c->w_off,
				      c->w.len - c->w_off);
		if (k > 0) {
			c->w_off += (size_t)k;
			continue;
		}
		if (k < 0 && k != -EAGAIN && k != -EINTR) {
			dx_client_fail(c, (int)k, "send: %s",
				       dx_sock_strerror((int)-k));
			return dx_client_kill(c, (int)k);
		}
		/* Read while the peer is not reading: it may be waiting for
		 * us to take its answers before it takes more requests. */
		bool room = c->r.len - c->r_off < dx_client_read_ahead(c);
		short rev = 0;
		int rc = dx_wait_fd(c->fd, POLLOUT | (room ? POLLIN : 0),
				    deadline, &rev);
		if (rc < 0)
			return dx_client_fail(
				c, rc, "%s",
				rc == -ETIMEDOUT ?
					"timed out writing to the server" :
					dx_sock_strerror(-rc));
		if ((rev & POLLIN) && room && (rc = dx_client_read_once(c)) < 0)
			return rc;
	}
	c->w.len = c->w_off = 0;
	return 0;
}

int dx_client_flush(dx_client *c, int timeout_ms)
{
	if (c->dead)
		return c->dead;
	return dx_client_flush_until(c, dx_deadline(timeout_ms));
}

/* --- frames and messages --- */

static int dx_client_next_frame(dx_client *c, dx_hbtp_header *h,
				const uint8_t **body, int64_t deadline)
{
	for (;;) {
		/* Nothing read yet: r.p is NULL, and NULL + 0 is undefined. */
		const uint8_t *at = c->r.p ? c->r.p + c->r_off : c->r.p;
		long n = dx_hbtp_frame_split(at, c->r.len - c->r_off,
					     c->max_frame, h, body);
		if (n > 0) {
			c->r_off += (size_t)n;
			return 0;
		}
		if (n < 0) {
			dx_client_fail(
				c, -E2BIG,
				"the server sent a frame of %u bytes, above max_frame %u",
				h->length, c->max_frame);
			return dx_client_kill(c, -E2BIG);
		}
		int rc = dx_client_fill(c, deadline);
		if (rc < 0)
			return rc;
	}
}

/* The reassembly buffer exists before the first fragment needs it. */
static int dx_client_reasm_ready(dx_client *c, const dx_hbtp_header *h)
{
	if (c->reasm_buf || (h->flags & DX_HBTP_FINAL) ||
	    dx_client_is_control(h->opcode))
		return 0;
	c->reasm_buf = malloc(c->max_message);
	if (!c->reasm_buf)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_hbtp_reasm_init(&c->reasm, c->reasm_buf, c->max_message);
	return 0;
}

/* The next whole message from the socket, raw (meta and LZ4 untouched).
 * *body points into r or the reassembly buffer. */
static int dx_client_next_raw(dx_client *c, dx_hbtp_header *h,
			      const uint8_t **body, size_t *len,
			      int64_t deadline)
{
	for (;;) {
		dx_hbtp_header fh;
		const uint8_t *fb = NULL;
		int rc = dx_client_next_frame(c, &fh, &fb, deadline);
		if (rc == 0)
			rc = dx_client_reasm_ready(c, &fh);
		if (rc < 0)
			return rc;
		rc = dx_hbtp_reasm_push(&c->reasm, &fh, fb, h, body, len);
		if (rc == DX_HBTP_REASM_COMPLETE)
			return 0;
		if (rc == -E2BIG)
			return dx_client_fail(
				c, rc,
				"the server sent a split message above max_message %zu (seq %u)",
				c->max_message, fh.seq);
		if (rc < 0)
			return dx_client_fail(
				c, rc,
				"the server interleaved frames of seq %u with a split message of seq %u",
				fh.seq, c->reasm.first.seq);
	}
}

/* The status (RpcError) or code (Close) in front of the text. */
static int dx_client_take_status(dx_client *c, dx_client_msg *m)
{
	if (m->opcode != DX_HBTP_RPC_ERROR && m->opcode != DX_HBTP_CLOSE)
		return 0;
	if (m->len < 2)
		return dx_client_fail(
			c, DX_EPROTO,
			"the server sent a %s of %zu bytes, shorter than its status",
			dx_op_name(m->opcode), m->len);
	m->status = dx_hbtp_le16(m->payload);
	m->payload += 2;
	m->len -= 2;
	return 0;
}

static int dx_client_inflate(dx_client *c, dx_client_msg *m)
{
	if (!c->inflated && !(c->inflated = malloc(c->max_message)))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	long k = dx_hbtp_decompress(m->payload, m->len, c->inflated,
				    c->max_message);
	if (k == -E2BIG)
		return dx_client_fail(
			c, -E2BIG,
			"a compressed %s (seq %u) inflates past max_message %zu",
			dx_op_name(m->opcode), m->seq, c->max_message);
	if (k < 0)
		return dx_client_fail(
			c, (int)k,
			"a %s (seq %u) flagged COMPRESSED is not a valid LZ4 frame",
			dx_op_name(m->opcode), m->seq);
	m->payload = c->inflated;
	m->len = (size_t)k;
	return 0;
}

/* A raw message into *m: metadata parsed, payload inflated, status split
 * off. */
static int dx_client_decode(dx_client *c, const dx_hbtp_header *h,
			    const uint8_t *body, size_t len, dx_client_msg *m)
{
	m->opcode = h->opcode;
	m->flags = h->flags;
	m->seq = h->seq;
	m->status = 0;
	m->meta.count = 0;
	m->payload = body;
	m->len = len;
	if (h->flags & DX_HBTP_HAS_META) {
		const char *why = "";
		long k = dx_hbtp_meta_parse(body, len, &m->meta, &why);
		if (k < 0)
			return dx_client_fail(
				c, (int)k,
				"the server sent a %s (seq %u) with bad metadata: %s",
				dx_op_name(h->opcode), h->seq, why);
		m->payload += k;
		m->len -= (size_t)k;
	}
	if (h->flags & DX_HBTP_COMPRESSED) {
		int rc = dx_client_inflate(c, m);
		if (rc < 0)
			return rc;
	}
	return dx_client_take_status(c, m);
}

/* --- the queue of kept messages --- */

static int dx_client_keep(dx_client *c, const dx_hbtp_header *h,
			  const uint8_t *body, size_t len)
{
	if (c->q_len >= c->max_queued)
		return dx_client_fail(
			c, -ENOBUFS,
			"more than %u messages for other seqs are waiting: recv them",
			c->max_queued);
	struct dx_kept *k = malloc(sizeof *k + len);
	if (!k)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	k->next = NULL;
	k->h = *h;
	k->len = len;
	if (len)
		memcpy(k->data, body, len);
	if (c->q_tail)
		c->q_tail->next = k;
	else
		c->q_head = k;
	c->q_tail = k;
	c->q_len++;
	return 0;
}

/* Unlink the first kept message with seq (any seq when !match), or NULL. */
static struct dx_kept *dx_client_unkeep(dx_client *c, bool match, uint16_t seq)
{
	struct dx_kept *prev = NULL, *k = c->q_head;
	while (k && match && k->h.seq != seq) {
		prev = k;
		k = k->next;
	}
	if (!k)
		return NULL;
	if (prev)
		prev->next = k->next;
	else
		c->q_head = k->next;
	if (c->q_tail == k)
		c->q_tail = prev;
	c->q_len--;
	return k;
}

/* What every receive does first: the last message's memory goes, pending
 * sends go out. */
static int dx_client_begin_recv(dx_client *c, int64_t deadline)
{
	dx_client_release_held(c);
	if (c->dead)
		return c->dead;
	c->err[0] = '\0';
	return dx_client_flush_until(c, deadline);
}

static int dx_client_hand_out(dx_client *c, struct dx_kept *k,
			      dx_client_msg *msg)
{
	c->held = k;
	return dx_client_decode(c, &k->h, k->data, k->len, msg);
}

int dx_client_recv(dx_client *c, dx_client_msg *msg, int timeout_ms)
{
	int64_t deadline = dx_deadline(timeout_ms);
	int rc = dx_client_begin_recv(c, deadline);
	if (rc < 0)
		return rc;
	struct dx_kept *k = dx_client_unkeep(c, false, 0);
	if (k)
		return dx_client_hand_out(c, k, msg);
	dx_hbtp_header h;
	const uint8_t *body;
	size_t len;
	rc = dx_client_next_raw(c, &h, &body, &len, deadline);
	if (rc < 0)
		return rc;
	return dx_client_decode(c, &h, body, len, msg);
}

int dx_client_wait(dx_client *c, uint16_t seq, dx_client_msg *msg,
		   int timeout_ms)
{
	int64_t deadline = dx_deadline(timeout_ms);
	int rc = dx_client_begin_recv(c, deadline);
	if (rc < 0)
		return rc;
	struct dx_kept *k = dx_client_unkeep(c, true, seq);
	if (k)
		return dx_client_hand_out(c, k, msg);
	for (;;) {
		dx_hbtp_header h;
		const uint8_t *body;
		size_t len;
		rc = dx_client_next_raw(c, &h, &body, &len, deadline);
		if (rc < 0)
			return rc;
		if (h.seq == seq || h.opcode == DX_HBTP_CLOSE)
			return dx_client_decode(c, &h, body, len, msg);
		rc = dx_client_keep(c, &h, body, len);
		if (rc < 0)
			return rc;
	}
}

int dx_client_routes(dx_client *c, char **json, size_t *len, int timeout_ms)
{
	*json = NULL;
	*len = 0;
	uint16_t seq;
	dx_client_msg m;
	int rc = dx_client_call(c, 0, NULL, 0, 0, &seq);
	if (rc == 0)
		rc = dx_client_wait(c, seq, &m, timeout_ms);
	if (rc < 0)
		return rc;
	if (m.opcode == DX_HBTP_RPC_ERROR)
		return dx_client_fail(
			c, DX_EPROTO,
			"route 0 (the route table): error %u: %.*s", m.status,
			(int)(m.len > 200 ? 200 : m.len),
			(const char *)m.payload);
	if (m.opcode != DX_HBTP_RPC_RESPONSE)
		return dx_client_fail(
			c, DX_EPROTO,
			"route 0 (the route table): the server answered %s",
			dx_op_name(m.opcode));
	*json = malloc(m.len + 1);
	if (!*json)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	if (m.len)
		memcpy(*json, m.payload, m.len);
	(*json)[m.len] = '\0';
	*len = m.len;
	return 0;
}
