/* client_int.h - the dx_client struct and the helpers its files share:
 * client.c (connecting, limits, closing), client_send.c (framing and
 * buffering sends), client_recv.c (reading, reassembly, the queue of
 * kept messages). Internal to libdx: every name here is hidden. */
#ifndef DX_CLIENT_INT_H
#define DX_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/buf.h>
#include <dx/client.h>
#include <dx/plugin.h> /* DX_PRINTF */

#include "deadline.h"

#ifdef _WIN32
#define DX_CLIENT_HIDDEN /* PE has no ELF visibility (see sock.h) */
#else
#define DX_CLIENT_HIDDEN __attribute__((visibility("hidden")))
#endif

#define DX_CLIENT_READ_CHUNK 65536u

/* A message kept for a later recv/wait: its header and reassembled body,
 * still raw (decoded when handed out). */
struct dx_kept {
	struct dx_kept *next;
	dx_hbtp_header h;
	size_t len;
	uint8_t data[];
};

struct dx_client {
	int fd;
	int dead; /* the code that made the stream unusable, or 0 */
	uint32_t max_frame;
	size_t max_message;
	unsigned max_queued;
	uint16_t next_seq;
	dx_buf w; /* bytes to send; w_off already sent */
	size_t w_off;
	dx_buf r; /* bytes received; r_off already split off */
	size_t r_off;
	dx_buf s;           /* scratch: a message body being built */
	dx_buf z;           /* scratch: compression input */
	uint8_t *inflated;  /* max_message bytes, allocated on first use */
	uint8_t *reasm_buf; /* max_message bytes, allocated on first use */
	dx_hbtp_reasm reasm;
	struct dx_kept *q_head, *q_tail;
	unsigned q_len;
	struct dx_kept *held; /* the kept message handed out last */
	uint8_t *meta;        /* the dx_client_set_meta block */
	size_t meta_len;
	char err[256];
};

DX_CLIENT_HIDDEN int dx_client_fail(dx_client *c, int code, const char *fmt,
				    ...) DX_PRINTF(3, 4);
DX_CLIENT_HIDDEN int dx_client_kill(dx_client *c, int code);
DX_CLIENT_HIDDEN const char *dx_op_name(uint8_t opcode);
DX_CLIENT_HIDDEN int dx_wait_fd(int fd, short events, int64_t deadline,
				short *revents);
DX_CLIENT_HIDDEN void dx_client_release_held(dx_client *c);
DX_CLIENT_HIDDEN bool dx_client_is_control(uint8_t opcode);

#endif
