/* dx/hbtp.h - HBTP v1, the wire format (contract: docs/protocol.md).
 *
 * Every frame is an 8-byte little-endian header, decoded byte by byte,
 * followed by `length` bytes:
 *
 *     0  u8  opcode      2  u16 seq     4  u32 length
 *     1  u8  flags
 *
 * Messages and frames. A message is one frame with FINAL set, or a run of
 * frames of one opcode and seq of which only the last has FINAL (the
 * WebSocket rule: a frame without FINAL says "more follows"). Ping, Pong and
 * Close are never split; FINAL is ignored on them. The first frame's flags
 * (COMPRESSED, ENCRYPTED, EXPECTS_RESPONSE, HAS_META) apply to the whole
 * message; the metadata block and the LZ4 frame are read from the
 * reassembled body. A message is reassembled up to max_message bytes.
 *
 * Body of a message: [metadata block if HAS_META] [payload]. The payload is
 * an LZ4 frame when COMPRESSED (inflated, bounded by max_message). For
 * RpcCall it starts with u16 route_id; for RpcError with u16 status; for
 * Close with u16 code.
 *
 * Metadata block: u16 block_len (bytes of entries that follow), then
 * entries u8 key_len, key (lowercase ASCII, 1..255 bytes), u16 value_len,
 * value. Lowercase ASCII means the characters a-z 0-9 - _ . only.
 *
 * Every integer on the wire (header, block_len, value_len, route_id,
 * status, close code) is little-endian: use dx_hbtp_le16() and friends.
 *
 * All functions are pure over caller buffers: no allocation unless named
 * (the reassembler and the compressor take caller-owned buffers too), and
 * thread-safe. Every read is bounds-checked.
 */
#ifndef DX_HBTP_H
#define DX_HBTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DX_HBTP_HEADER_SIZE 8u

enum dx_hbtp_opcode {
	DX_HBTP_PING = 0x00,
	DX_HBTP_PONG = 0x01,
	DX_HBTP_CLOSE = 0x02,
	DX_HBTP_STATE_SYNC = 0x10,
	DX_HBTP_STATE_DELTA = 0x11,
	DX_HBTP_HTIP_CLONE = 0x20,
	DX_HBTP_HTIP_PATCH_TEXT = 0x21,
	DX_HBTP_RPC_CALL = 0x30,
	DX_HBTP_RPC_RESPONSE = 0x31,
	DX_HBTP_RPC_ERROR = 0x32,
	DX_HBTP_CLIENT_EVENT = 0x40,
	DX_HBTP_EXTENDED = 0xFF,
};

enum dx_hbtp_flag {
	DX_HBTP_COMPRESSED = 0x01,
	DX_HBTP_ENCRYPTED = 0x02,
	DX_HBTP_EXPECTS_RESPONSE = 0x04,
	DX_HBTP_FINAL = 0x08,
	DX_HBTP_HAS_META = 0x10,
	DX_HBTP_RESERVED_FLAGS = 0xE0, /* must be zero */
};

/* Close codes (u16 at the start of a Close body). */
enum dx_hbtp_close_code {
	DX_HBTP_CLOSE_NORMAL = 1000,     /* shutdown, drain */
	DX_HBTP_CLOSE_PROTOCOL = 1002,   /* a stream that cannot resync */
	DX_HBTP_CLOSE_TOO_LARGE = 1009,  /* frame longer than max_frame */
	DX_HBTP_CLOSE_IDLE = 1001,       /* idle or header timeout */
	DX_HBTP_CLOSE_OVERLOADED = 1013, /* max_connections */
};

typedef struct dx_hbtp_header {
	uint8_t opcode;
	uint8_t flags;
	uint16_t seq;
	uint32_t length;
} dx_hbtp_header;

/* Little-endian integers at p, byte by byte (no alignment needed). */
static inline uint16_t dx_hbtp_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t dx_hbtp_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline void dx_hbtp_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void dx_hbtp_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Write h into out[0..7], little-endian, byte by byte. */
void dx_hbtp_header_encode(const dx_hbtp_header *h, uint8_t out[8]);
/* Read in[0..7]. Never fails: validation is dx_hbtp_header_check's. */
void dx_hbtp_header_decode(const uint8_t in[8], dx_hbtp_header *h);

/* Name of an opcode ("RpcCall"), or NULL if HBTP v1 has none. */
const char *dx_hbtp_opcode_name(uint8_t opcode);

/* What the wire format alone says about a header: 0; DX_EPROTO when a
 * reserved flag bit is set (answer RpcError 400); -ENOTSUP for an opcode
 * HBTP v1 does not define (501). *why is static text. Extended, Htip* and
 * ENCRYPTED are valid v1 and pass: whether this host serves them is the
 * dispatcher's question (501 too). Length is dx_hbtp_frame_split's. */
int dx_hbtp_header_check(const dx_hbtp_header *h, const char **why);

/* Split one frame off the front of buf. Returns the frame's total size
 * (header + body) with *h and *body set (body points into buf), 0 when buf
 * holds less than a whole frame (need *h->length to know how much; *h is
 * set as soon as 8 bytes are there), or -E2BIG when the header's length
 * exceeds max_frame (the stream cannot go on). */
long dx_hbtp_frame_split(const uint8_t *buf, size_t len, uint32_t max_frame,
			 dx_hbtp_header *h, const uint8_t **body);

/* Metadata. Entries point into the frame body. */
#define DX_HBTP_META_MAX 32
typedef struct dx_hbtp_meta_entry {
	const char *key; /* not NUL-terminated */
	uint8_t key_len;
	const uint8_t *value;
	uint16_t value_len;
} dx_hbtp_meta_entry;

typedef struct dx_hbtp_meta {
	dx_hbtp_meta_entry e[DX_HBTP_META_MAX];
	unsigned count;
} dx_hbtp_meta;

/* Parse the metadata block at the start of body. On success returns the
 * bytes the block took (2 + block_len) and fills *m; on malformed input
 * DX_EPROTO with a short reason in *why (static text): block longer than
 * the body, key of length 0, key not lowercase ASCII, entry running past
 * the block, more than DX_HBTP_META_MAX entries. */
long dx_hbtp_meta_parse(const uint8_t *body, size_t len, dx_hbtp_meta *m,
			const char **why);
/* The value of key, or NULL (and *len untouched). */
const uint8_t *dx_hbtp_meta_get(const dx_hbtp_meta *m, const char *key,
				uint16_t *len);

/* Whether key[0..len) is a valid metadata key (1..255 bytes of a-z 0-9
 * - _ .). */
bool dx_hbtp_key_valid(const char *key, size_t len);

/* Build a metadata block into out (cap bytes). Start with
 * dx_hbtp_meta_begin, add entries, finish with dx_hbtp_meta_end (writes
 * block_len). Each returns 0 or -E2BIG (out too small, block past 65535
 * bytes or DX_HBTP_META_MAX entries) / -EINVAL (bad key, value longer than
 * 65535). w->len is the block's size so far. */
typedef struct dx_hbtp_meta_writer {
	uint8_t *out;
	size_t cap;
	size_t len;
	unsigned count; /* entries so far */
} dx_hbtp_meta_writer;
int dx_hbtp_meta_begin(dx_hbtp_meta_writer *w, uint8_t *out, size_t cap);
int dx_hbtp_meta_add(dx_hbtp_meta_writer *w, const char *key,
		     const void *value, size_t value_len);
int dx_hbtp_meta_end(dx_hbtp_meta_writer *w);

/* LZ4 frame format (the COMPRESSED flag). */
/* Worst-case compressed size of n bytes. */
size_t dx_hbtp_compress_bound(size_t n);
/* Compress src into dst; the compressed size, -E2BIG when cap is below
 * dx_hbtp_compress_bound(n), or -EIO. */
long dx_hbtp_compress(const void *src, size_t n, void *dst, size_t cap);
/* Inflate src into dst, never writing more than cap bytes. The inflated
 * size; -E2BIG when it would exceed cap (a compression bomb stops there);
 * DX_EPROTO when src is not exactly one valid LZ4 frame (garbage, a
 * truncated frame, bytes after the frame); -ENOMEM. Allocates (and frees)
 * one LZ4F decompression context per call: the compressed path only. */
long dx_hbtp_decompress(const void *src, size_t n, void *dst, size_t cap);

/* Reassembly of split messages. One in-progress message per stream (per
 * connection); the buffer is the caller's and is reused. */
typedef struct dx_hbtp_reasm {
	uint8_t *buf;
	size_t cap; /* = max_message, at most UINT32_MAX */
	size_t len;
	dx_hbtp_header first; /* header of the first frame */
	bool active;
	bool discard; /* dropping the rest of a message that hit -E2BIG */
} dx_hbtp_reasm;

/* Results of dx_hbtp_reasm_push. */
enum {
	DX_HBTP_REASM_MORE = 0,     /* fragment stored, wait for more */
	DX_HBTP_REASM_COMPLETE = 1, /* *msg and *msg_len hold the message */
};

void dx_hbtp_reasm_init(dx_hbtp_reasm *r, uint8_t *buf, size_t cap);
/* Feed one frame. A frame with FINAL and no message in progress is
 * returned as is (no copy; it is not checked against cap: keep max_frame
 * <= max_message). Ping, Pong and Close are always returned as is, even
 * between the fragments of a message, which stays in progress. Errors:
 * -E2BIG past cap (413; the later fragments of that message, up to its
 * FINAL, are then swallowed with DX_HBTP_REASM_MORE so they do not pose
 * as new messages), DX_EPROTO for a frame of another opcode or seq while a
 * message is in progress (400; the partial message and that frame are
 * dropped). *out_h is the message's header (the first frame's, with FINAL
 * set and length = the whole message's length); *msg stays valid until
 * the next push. Fragments after the first: only FINAL of their flags is
 * looked at. */
int dx_hbtp_reasm_push(dx_hbtp_reasm *r, const dx_hbtp_header *h,
		       const uint8_t *body, dx_hbtp_header *out_h,
		       const uint8_t **msg, size_t *msg_len);
void dx_hbtp_reasm_reset(dx_hbtp_reasm *r);

/* A whole frame into out: header + body (cap must hold 8 + n). Returns the
 * frame size or -E2BIG. */
long dx_hbtp_frame_write(uint8_t *out, size_t cap, uint8_t opcode,
			 uint8_t flags, uint16_t seq, const void *body,
			 size_t n);

#ifdef __cplusplus
}
#endif
#endif
