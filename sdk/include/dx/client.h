/* dx/client.h - a small blocking HBTP v1 client (docs/protocol.md).
 *
 * What `dx call`, `dx bench`, the tests and third parties use to talk to a
 * dx host:
 *
 *     dx_client *c;
 *     char err[256];
 *     if (dx_client_connect("127.0.0.1:7070", 1000, &c, err, sizeof err))
 *             die(err);
 *     uint16_t seq;
 *     dx_client_call(c, 1, "hello", 5, 0, &seq);   // route 1, buffered
 *     dx_client_msg m;
 *     if (dx_client_wait(c, seq, &m, 1000) == 0)   // flushes, then waits
 *             fwrite(m.payload, 1, m.len, stdout);
 *     dx_client_close(c);
 *
 * Sends are buffered until dx_client_flush() or the next recv/wait, so many
 * calls go out in one write (pipelining). Responses may come back in any
 * order: dx_client_wait() keeps the messages for other seqs that arrive
 * meanwhile (in a bounded queue) and dx_client_recv() hands them out later.
 * Received messages are reassembled (FINAL), their metadata parsed and
 * their payload inflated (COMPRESSED), bounded by max_message.
 *
 * Errors are negative codes (dx/error.h): -ETIMEDOUT, -ECONNRESET (the peer
 * closed), -E2BIG (a frame or message above the limits: the connection is
 * then unusable), DX_EPROTO (a malformed message; the stream goes on unless
 * dx_client_error() says otherwise), -ENOBUFS (the queue is full), errno
 * values from the socket. dx_client_error() describes the last one.
 *
 * Threads: a client is not thread-safe; use one per thread. No global
 * state. POSIX sockets, or Winsock on Windows (started by the first
 * connect; dx_client_fd is then a SOCKET cast to int; no unix: addresses
 * under wine, which lacks AF_UNIX). timeout_ms < 0 waits forever.
 */
#ifndef DX_CLIENT_H
#define DX_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <dx/hbtp.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dx_client dx_client;

/* One received message. Every pointer in it (payload, meta entries) stays
 * valid until the next dx_client_recv/wait/routes/flush/close on its
 * client (sends only buffer, so a payload can be sent back as is). */
typedef struct dx_client_msg {
	uint8_t opcode;
	uint8_t flags; /* the first frame's flags, FINAL set */
	uint16_t seq;
	uint16_t status;   /* RpcError: the status; Close: the code; else 0 */
	dx_hbtp_meta meta; /* count = 0 without HAS_META */
	const uint8_t *payload; /* after metadata, inflated; RpcError and
				  * Close: the message text after the u16 */
	size_t len;
} dx_client_msg;

#define DX_CLIENT_MAX_FRAME (1u << 20)    /* 1 MiB */
#define DX_CLIENT_MAX_MESSAGE (16u << 20) /* 16 MiB */
#define DX_CLIENT_MAX_QUEUED 4096u        /* messages kept for later */

/* Connect to addr: "HOST:PORT", "[IPV6]:PORT" or "unix:PATH" (HOST may be
 * a name; TCP gets TCP_NODELAY). On failure returns a negative code and
 * writes a message naming addr into err (errlen bytes, may be 0). */
int dx_client_connect(const char *addr, int timeout_ms, dx_client **out,
		      char *err, size_t errlen);
/* Close the socket and free everything (NULL is fine). Unflushed sends are
 * dropped. */
void dx_client_close(dx_client *c);
/* The socket (non-blocking), for poll() or socket options. Still owned by
 * the client. */
int dx_client_fd(const dx_client *c);
/* The last error's text; "" when there was none. */
const char *dx_client_error(const dx_client *c);

/* Limits; 0 keeps the current value. max_frame bounds frames both ways
 * (a message sent through dx_client_send is split into frames of at most
 * max_frame bytes); max_message bounds a reassembled or inflated message;
 * max_queued bounds the messages dx_client_wait keeps for later. 0 or
 * -EINVAL (max_frame above max_message). */
int dx_client_set_limits(dx_client *c, uint32_t max_frame, size_t max_message,
			 unsigned max_queued);
/* A metadata block (dx_hbtp_meta_writer's output, copied) sent with every
 * later dx_client_call (e.g. authorization). NULL or 0 clears it. */
int dx_client_set_meta(dx_client *c, const uint8_t *block, size_t len);
/* The next seq dx_client_call and dx_client_ping would use (and take). */
uint16_t dx_client_next_seq(dx_client *c);

/* One frame exactly as given: header, then meta (meta_len bytes, HAS_META
 * is added to flags when meta is not NULL), then body. No FINAL added, no
 * splitting, no compression, no limits: for tests of the peer. */
int dx_client_send_frame(dx_client *c, uint8_t opcode, uint8_t flags,
			 uint16_t seq, const uint8_t *meta, size_t meta_len,
			 const void *body, size_t n);
/* Raw bytes onto the stream (e.g. a malformed header). */
int dx_client_send_raw(dx_client *c, const void *data, size_t n);
/* One message: [meta] [payload, LZ4-compressed when flags has COMPRESSED],
 * split into frames of at most max_frame bytes with FINAL on the last
 * (FINAL in flags is ignored). Ping, Pong and Close are never split:
 * -E2BIG. */
int dx_client_send(dx_client *c, uint8_t opcode, uint8_t flags, uint16_t seq,
		   const uint8_t *meta, size_t meta_len, const void *payload,
		   size_t n);
/* RpcCall route_id with args, EXPECTS_RESPONSE | flags_extra (e.g.
 * COMPRESSED), the dx_client_set_meta block, the next seq (into *seq). */
int dx_client_call(dx_client *c, uint16_t route_id, const void *args, size_t n,
		   uint8_t flags_extra, uint16_t *seq);
/* Ping with data (answered by Pong with the same seq and bytes). */
int dx_client_ping(dx_client *c, const void *data, size_t n, uint16_t *seq);
/* Write everything buffered; reads what arrives meanwhile so a peer that
 * answers while we write cannot deadlock us. */
int dx_client_flush(dx_client *c, int timeout_ms);

/* Flush, then the next message: a kept one first, else from the socket. */
int dx_client_recv(dx_client *c, dx_client_msg *msg, int timeout_ms);
/* Flush, then the next message with this seq (or a Close, which ends the
 * connection: msg->opcode says which). Others are kept for later. */
int dx_client_wait(dx_client *c, uint16_t seq, dx_client_msg *msg,
		   int timeout_ms);
/* Call route 0 (discovery) and return its JSON route table, malloc'd and
 * NUL-terminated (*json; free() it), *len without the NUL. An RpcError
 * answer is DX_EPROTO with its status and text in dx_client_error(). */
int dx_client_routes(dx_client *c, char **json, size_t *len, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
