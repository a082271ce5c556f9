/* answer.h - answer frames appended to a connection's output buffer.
 * Worker thread only. */
#ifndef DX_HOST_ANSWER_H
#define DX_HOST_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/routes.h>

#include "conn.h"

/* Append an answer frame to c->out. */
int dx_pipeline_answer(dx_worker *w, dx_conn *c, uint8_t opcode,
		       uint16_t seq, uint16_t status, const void *body,
		       size_t len);
int dx_pipeline_error(dx_worker *w, dx_conn *c, uint16_t seq,
		      uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void dx_frame_answer(dx_worker *w, dx_conn *c, size_t start, uint16_t seq,
		     dx_response *res);
bool dx_answer_begin(dx_worker *w, dx_conn *c, dx_response *res);
/* A deferred answer: after hooks, then the frame. */
void dx_pipeline_finish(dx_worker *w, dx_conn *c, const struct dx_pending *p,
			uint16_t status, const void *body, size_t len);
/* Queue a Close frame and close once it is out. */
void dx_conn_send_close(dx_worker *w, dx_conn *c, uint16_t code,
			const char *reason);

#endif
