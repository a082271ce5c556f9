/* answer.h - the answer writer: frames appended to a connection's output
 * buffer, which the connection then sends.
 *
 * The one place frames are written: the pipeline answers requests with
 * it while they run, deferred completions and streams answer through it
 * later, and the worker sends Close with it. It calls nothing on the input
 * side. Worker thread only (the connection's worker). */
#ifndef DX_HOST_ANSWER_H
#define DX_HOST_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/routes.h>

#include "conn.h"

/* Append a whole frame (with FINAL): opcode, seq, then a u16 status when
 * status is not 0, then body. 0, or -ENOMEM / -E2BIG. */
int dx_answer_frame(dx_worker *w, dx_conn *c, uint8_t opcode, uint16_t seq,
		    uint16_t status, const void *body, size_t len);
/* An RpcError with a printf-style message (cut at 255 bytes). */
int dx_answer_error(dx_worker *w, dx_conn *c, uint16_t seq, uint16_t status,
		    const char *fmt, ...) DX_PRINTF(5, 6);

/* Start an answer in c->out, after room for its header: res is the
 * handler's view of it (its metadata room is the worker's). false when out
 * of memory: the connection is being closed then. */
bool dx_answer_begin(dx_worker *w, dx_conn *c, dx_response *res);
/* Frame what res holds as RpcResponse or RpcError for seq; start is
 * c->out.len as it was before dx_answer_begin. */
void dx_answer_end(dx_worker *w, dx_conn *c, size_t start, uint16_t seq,
		   dx_response *res);

/* A deferred request's answer (status 0: body is the result; else the
 * error message): the after hooks it still owes, then the frame. */
void dx_answer_deferred(dx_worker *w, dx_conn *c, const struct dx_pending *p,
			uint16_t status, const void *body, size_t len);

/* Queue a Close frame; the connection reads nothing more and closes once
 * it is out and nothing is in flight. */
void dx_answer_close(dx_worker *w, dx_conn *c, uint16_t code,
		     const char *reason);

#endif
