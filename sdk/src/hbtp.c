/* hbtp.c - HBTP v1 frames: the 8-byte header, splitting a stream into
 * frames, writing frames, and reassembling messages split across frames.
 * Metadata is hbtp_meta.c's, LZ4 is hbtp_lz4.c's. */
#include <errno.h>
#include <string.h>

#include <dx/hbtp.h>

void dx_hbtp_header_encode(const dx_hbtp_header *h, uint8_t out[8])
{
	out[0] = h->opcode;
	out[1] = h->flags;
	dx_hbtp_put_le16(out + 2, h->seq);
	dx_hbtp_put_le32(out + 4, h->length);
}

void dx_hbtp_header_decode(const uint8_t in[8], dx_hbtp_header *h)
{
	h->opcode = in[0];
	h->flags = in[1];
	h->seq = dx_hbtp_le16(in + 2);
	h->length = dx_hbtp_le32(in + 4);
}

const char *dx_hbtp_opcode_name(uint8_t opcode)
{
	switch (opcode) {
	case DX_HBTP_PING: return "Ping";
	case DX_HBTP_PONG: return "Pong";
	case DX_HBTP_CLOSE: return "Close";
	case DX_HBTP_STATE_SYNC: return "StateSync";
	case DX_HBTP_STATE_DELTA: return "StateDelta";
	case DX_HBTP_HTIP_CLONE: return "HtipClone";
	case DX_HBTP_HTIP_PATCH_TEXT: return "HtipPatchText";
	case DX_HBTP_RPC_CALL: return "RpcCall";
	case DX_HBTP_RPC_RESPONSE: return "RpcResponse";
	case DX_HBTP_RPC_ERROR: return "RpcError";
	case DX_HBTP_CLIENT_EVENT: return "ClientEvent";
	case DX_HBTP_EXTENDED: return "Extended";
	default: return NULL;
	}
}

int dx_hbtp_header_check(const dx_hbtp_header *h, const char **why)
{
	if (h->flags & DX_HBTP_RESERVED_FLAGS) {
		*why = "reserved flag bits set";
		return DX_EPROTO;
	}
	if (!dx_hbtp_opcode_name(h->opcode)) {
		*why = "unknown opcode";
		return -ENOTSUP;
	}
	return 0;
}

long dx_hbtp_frame_split(const uint8_t *buf, size_t len, uint32_t max_frame,
			 dx_hbtp_header *h, const uint8_t **body)
{
	if (len < DX_HBTP_HEADER_SIZE)
		return 0;
	dx_hbtp_header_decode(buf, h);
	if (h->length > max_frame)
		return -E2BIG;
	/* Compare without adding, so a huge length cannot wrap. */
	if (len - DX_HBTP_HEADER_SIZE < h->length)
		return 0;
	*body = buf + DX_HBTP_HEADER_SIZE;
	return (long)(DX_HBTP_HEADER_SIZE + (size_t)h->length);
}

long dx_hbtp_frame_write(uint8_t *out, size_t cap, uint8_t opcode,
			 uint8_t flags, uint16_t seq, const void *body,
			 size_t n)
{
	if (n > UINT32_MAX || cap < DX_HBTP_HEADER_SIZE ||
	    cap - DX_HBTP_HEADER_SIZE < n)
		return -E2BIG;
	dx_hbtp_header h = {opcode, flags, seq, (uint32_t)n};
	dx_hbtp_header_encode(&h, out);
	if (n)
		memcpy(out + DX_HBTP_HEADER_SIZE, body, n);
	return (long)(DX_HBTP_HEADER_SIZE + n);
}

/* --- reassembly --- */

static bool dx_hbtp_is_control(uint8_t opcode)
{
	return opcode == DX_HBTP_PING || opcode == DX_HBTP_PONG ||
	       opcode == DX_HBTP_CLOSE;
}

void dx_hbtp_reasm_init(dx_hbtp_reasm *r, uint8_t *buf, size_t cap)
{
	memset(r, 0, sizeof *r);
	r->buf = buf;
	r->cap = cap;
}

void dx_hbtp_reasm_reset(dx_hbtp_reasm *r)
{
	r->len = 0;
	r->active = false;
	r->discard = false;
}

static bool dx_hbtp_same_msg(const dx_hbtp_header *a, const dx_hbtp_header *b)
{
	return a->opcode == b->opcode && a->seq == b->seq;
}

/* After -E2BIG the rest of that message is dropped silently: its later
 * fragments would otherwise look like new messages (one error per message,
 * not per fragment). Returns true when h was swallowed. */
static bool dx_hbtp_reasm_discarding(dx_hbtp_reasm *r, const dx_hbtp_header *h)
{
	if (!r->discard)
		return false;
	if (!dx_hbtp_same_msg(h, &r->first)) {
		r->discard = false; /* a new message: process it */
		return false;
	}
	if (h->flags & DX_HBTP_FINAL)
		r->discard = false;
	return true;
}

static int dx_hbtp_reasm_fail(dx_hbtp_reasm *r, int code, bool discard_rest)
{
	r->len = 0;
	r->active = false;
	r->discard = discard_rest;
	return code;
}

/* Append a fragment of the message in progress (or start one). */
static int dx_hbtp_reasm_append(dx_hbtp_reasm *r, const dx_hbtp_header *h,
				const uint8_t *body)
{
	if (!r->active) {
		r->first = *h;
		r->len = 0;
		r->active = true;
	}
	if (h->length > r->cap - r->len)
		return dx_hbtp_reasm_fail(r, -E2BIG,
					  !(h->flags & DX_HBTP_FINAL));
	if (h->length)
		memcpy(r->buf + r->len, body, h->length);
	r->len += h->length;
	return DX_HBTP_REASM_MORE;
}

/* A whole message in one frame: handed back as is, no copy. */
static int dx_hbtp_reasm_pass(const dx_hbtp_header *h, const uint8_t *body,
			      dx_hbtp_header *out_h, const uint8_t **msg,
			      size_t *msg_len)
{
	*out_h = *h;
	*msg = body;
	*msg_len = h->length;
	return DX_HBTP_REASM_COMPLETE;
}

int dx_hbtp_reasm_push(dx_hbtp_reasm *r, const dx_hbtp_header *h,
		       const uint8_t *body, dx_hbtp_header *out_h,
		       const uint8_t **msg, size_t *msg_len)
{
	bool final = h->flags & DX_HBTP_FINAL;
	/* Control frames are never split and may come between fragments. */
	if (dx_hbtp_is_control(h->opcode))
		return dx_hbtp_reasm_pass(h, body, out_h, msg, msg_len);
	if (dx_hbtp_reasm_discarding(r, h))
		return DX_HBTP_REASM_MORE;
	if (!r->active && final)
		return dx_hbtp_reasm_pass(h, body, out_h, msg, msg_len);
	if (r->active && !dx_hbtp_same_msg(h, &r->first))
		return dx_hbtp_reasm_fail(r, DX_EPROTO, false);
	int rc = dx_hbtp_reasm_append(r, h, body);
	if (rc < 0 || !final)
		return rc;
	*out_h = r->first;
	out_h->flags |= DX_HBTP_FINAL;
	out_h->length = (uint32_t)r->len;
	*msg = r->buf;
	*msg_len = r->len;
	r->active = false; /* buf stays valid until the next push */
	return DX_HBTP_REASM_COMPLETE;
}
