/* client_send.c - dx_client sends: frames and messages into the write
 * buffer, compressed and split to max_frame as asked. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/client.h>

#include "client_int.h"

/* --- sending --- */

/* A frame header into w (reserved by the caller). */
static void dx_client_put_header(dx_client *c, uint8_t opcode, uint8_t flags,
				 uint16_t seq, size_t len)
{
	dx_hbtp_header h = {opcode, flags, seq, (uint32_t)len};
	dx_hbtp_header_encode(&h, c->w.p + c->w.len);
	c->w.len += DX_HBTP_HEADER_SIZE;
}

int dx_client_send_frame(dx_client *c, uint8_t opcode, uint8_t flags,
			 uint16_t seq, const uint8_t *meta, size_t meta_len,
			 const void *body, size_t n)
{
	if (!meta)
		meta_len = 0;
	if (meta_len > UINT32_MAX || n > UINT32_MAX - meta_len)
		return dx_client_fail(c, -E2BIG, "a frame above 4 GiB");
	if (dx_buf_reserve(&c->w, DX_HBTP_HEADER_SIZE + meta_len + n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	if (meta)
		flags |= DX_HBTP_HAS_META;
	dx_client_put_header(c, opcode, flags, seq, meta_len + n);
	dx_buf_put(&c->w, meta, meta_len);
	dx_buf_put(&c->w, body, n);
	return 0;
}

int dx_client_send_raw(dx_client *c, const void *data, size_t n)
{
	if (dx_buf_reserve(&c->w, n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_buf_put(&c->w, data, n);
	return 0;
}

/* What one message is made of: [meta] [pre (route id)] [data]. */
struct dx_parts {
	const uint8_t *meta;
	size_t meta_len;
	const uint8_t *pre;
	size_t pre_len;
	const void *data;
	size_t n;
};

/* s = [meta] [LZ4 frame of pre + data]. */
static int dx_client_build_compressed(dx_client *c, const struct dx_parts *m)
{
	dx_buf_reset(&c->z);
	if (dx_buf_reserve(&c->z, m->pre_len + m->n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_buf_put(&c->z, m->pre, m->pre_len);
	dx_buf_put(&c->z, m->data, m->n);
	size_t bound = dx_hbtp_compress_bound(c->z.len);
	dx_buf_reset(&c->s);
	if (dx_buf_reserve(&c->s, m->meta_len + bound))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_buf_put(&c->s, m->meta, m->meta_len);
	long k = dx_hbtp_compress(c->z.p, c->z.len, c->s.p + c->s.len, bound);
	if (k < 0)
		return dx_client_fail(c, (int)k, "LZ4 compression failed");
	c->s.len += (size_t)k;
	return 0;
}

static int dx_client_build_plain(dx_client *c, const struct dx_parts *m)
{
	dx_buf_reset(&c->s);
	if (dx_buf_reserve(&c->s, m->meta_len + m->pre_len + m->n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_buf_put(&c->s, m->meta, m->meta_len);
	dx_buf_put(&c->s, m->pre, m->pre_len);
	dx_buf_put(&c->s, m->data, m->n);
	return 0;
}

/* s into frames of at most max_frame bytes. The first carries flags; the
 * continuations only FINAL, on the last (the first frame's flags apply to
 * the whole message). */
static int dx_client_emit_split(dx_client *c, uint8_t opcode, uint8_t flags,
				uint16_t seq)
{
	size_t frames = c->s.len / c->max_frame + 1;
	if (dx_buf_reserve(&c->w, c->s.len + frames * DX_HBTP_HEADER_SIZE))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	size_t off = 0;
	do {
		size_t k = c->s.len - off;
		if (k > c->max_frame)
			k = c->max_frame;
		bool last = off + k == c->s.len;
		uint8_t fl = off == 0 ? flags & ~DX_HBTP_FINAL : 0;
		dx_client_put_header(c, opcode, last ? fl | DX_HBTP_FINAL : fl,
				     seq, k);
		dx_buf_put(&c->w, c->s.p + off, k);
		off += k;
	} while (off < c->s.len);
	return 0;
}

bool dx_client_is_control(uint8_t opcode)
{
	return opcode == DX_HBTP_PING || opcode == DX_HBTP_PONG ||
	       opcode == DX_HBTP_CLOSE;
}

static int dx_client_send_parts(dx_client *c, uint8_t opcode, uint8_t flags,
				uint16_t seq, const struct dx_parts *m)
{
	size_t total = m->meta_len + m->pre_len + m->n;
	if (m->meta)
		flags |= DX_HBTP_HAS_META;
	flags |= DX_HBTP_FINAL;
	if (total > c->max_message) /* the peer would refuse it (413) */
		return dx_client_fail(
			c, -E2BIG,
			"a %s message of %zu bytes, above max_message %zu",
			dx_op_name(opcode), total, c->max_message);
	/* The common case, one plain frame: straight into w, no scratch. */
	if (!(flags & DX_HBTP_COMPRESSED) && total <= c->max_frame) {
		if (dx_buf_reserve(&c->w, DX_HBTP_HEADER_SIZE + total))
			return dx_client_fail(c, -ENOMEM, "out of memory");
		dx_client_put_header(c, opcode, flags, seq, total);
		dx_buf_put(&c->w, m->meta, m->meta_len);
		dx_buf_put(&c->w, m->pre, m->pre_len);
		dx_buf_put(&c->w, m->data, m->n);
		return 0;
	}
	int rc = flags & DX_HBTP_COMPRESSED ? dx_client_build_compressed(c, m) :
					      dx_client_build_plain(c, m);
	if (rc < 0)
		return rc;
	if (c->s.len > c->max_message)
		return dx_client_fail(
			c, -E2BIG,
			"a %s message of %zu bytes, above max_message %zu",
			dx_op_name(opcode), c->s.len, c->max_message);
	if (dx_client_is_control(opcode) && c->s.len > c->max_frame)
		return dx_client_fail(
			c, -E2BIG,
			"a %s of %zu bytes: control frames are never split (max_frame %u)",
			dx_op_name(opcode), c->s.len, c->max_frame);
	return dx_client_emit_split(c, opcode, flags, seq);
}

int dx_client_send(dx_client *c, uint8_t opcode, uint8_t flags, uint16_t seq,
		   const uint8_t *meta, size_t meta_len, const void *payload,
		   size_t n)
{
	struct dx_parts m = {meta, meta ? meta_len : 0, NULL, 0, payload, n};
	return dx_client_send_parts(c, opcode, flags, seq, &m);
}

int dx_client_call(dx_client *c, uint16_t route_id, const void *args, size_t n,
		   uint8_t flags_extra, uint16_t *seq)
{
	uint8_t route[2];
	dx_hbtp_put_le16(route, route_id);
	struct dx_parts m = {c->meta, c->meta_len, route, 2, args, n};
	uint16_t s = c->next_seq;
	int rc = dx_client_send_parts(c, DX_HBTP_RPC_CALL,
				      DX_HBTP_EXPECTS_RESPONSE | flags_extra, s,
				      &m);
	if (rc < 0)
		return rc;
	c->next_seq++;
	if (seq)
		*seq = s;
	return 0;
}

int dx_client_ping(dx_client *c, const void *data, size_t n, uint16_t *seq)
{
	uint16_t s = c->next_seq;
	int rc = dx_client_send(c, DX_HBTP_PING, 0, s, NULL, 0, data, n);
	if (rc < 0)
		return rc;
	c->next_seq++;
	if (seq)
		*seq = s;
	return 0;
}

