/* conn.h - a worker's connections: slots, buffers, sending, closing,
 * and the output cap that stops reading a client that does not read.
 *
 * A connection lives in one of its worker's slots; slot and generation
 * (in every completion's udata) tell a live connection from a closed one
 * whose slot was reused. The struct is kept when it closes and reused by
 * the next; its buffers are kept while they are small (DX_CONN_BUF_KEEP)
 * and given back when they grew past that, at close or once idle.
 *
 * Backpressure: while more than limits.max_output bytes of answers wait to
 * be sent, received bytes are not run through the pipeline; once another
 * max_output bytes wait unread too, the backend's recv is cancelled (the
 * kernel's buffers then push back on the client). Both end when the unsent
 * output is down to half the cap. Worker thread only. */
#ifndef DX_HOST_CONN_H
#define DX_HOST_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <dx/hbtp.h>

#include <dx/buf.h>

typedef struct dx_worker dx_worker;

typedef struct dx_conn {
	int fd;
	uint32_t slot;
	uint32_t gen;
	dx_buf in;        /* received bytes not yet framed */
	dx_buf out;       /* answers being built */
	dx_buf sending;   /* answers the backend is sending */
	dx_hbtp_reasm reasm;
	uint8_t *reasm_buf; /* made when a split message first arrives */
	unsigned inflight;  /* deferred requests not yet completed */
	uint64_t active_ns; /* last byte in or out */
	uint64_t partial_ns; /* when an incomplete frame began, 0: none */
	bool recv_armed;
	bool send_armed;
	bool closing; /* close once out is flushed and nothing is in flight */
	bool eof;     /* the peer will send nothing more */
	bool in_list; /* on the worker's flush list */
	bool drain_close; /* send Close once nothing is in flight */
	unsigned zc_wait; /* send_zc notifications due: the kernel still
			   * reads sending */
	bool zc_ok;       /* io.zero_copy allows send_zc to this peer */
	bool paused;      /* unsent output over max_output: input waits */
	bool held;        /* paused and recv cancelled: not re-armed */
	bool send_cut;    /* the send in flight was cancelled by a hold */
	size_t send_off;  /* bytes of sending already out; the rest (a
			   * swap or a hold cut it off, or the next chunk)
			   * goes before anything in out */
	size_t send_len;  /* bytes the send in flight carries (from off) */
	uint64_t send_ns; /* last progress of the output (write timeout) */
	unsigned streams; /* dx_streams opened on this connection */
	struct dx_conn *flush_next;
	char peer[64];
} dx_conn;

/* A slot for fd (accepted; the connection owns it now), or NULL. */
dx_conn *dx_conn_open(dx_worker *w, int fd);
/* Close now: cancel the backend's operations, tell its streams, free the
 * slot. Unsent answers are dropped. */
void dx_conn_close(dx_worker *w, dx_conn *c);
/* The live connection in slot with generation gen, or NULL. */
dx_conn *dx_conn_get(dx_worker *w, uint32_t slot, uint32_t gen);
/* c has answers to send (or is closing): flush it at the end of the turn. */
void dx_conn_want_flush(dx_worker *w, dx_conn *c);
void dx_conn_flush_all(dx_worker *w);
/* A send completion for c. */
void dx_conn_on_send(dx_worker *w, dx_conn *c, int result, uint32_t flags);
/* Answers not yet out (in out, or in sending past what went). */
static inline size_t dx_conn_unsent(const dx_conn *c)
{
	return c->out.len + (c->sending.len - c->send_off);
}

/* Output waits on the peer: a send in the backend, a send_zc buffer the
 * kernel still reads, or the rest of a send that was cut off. */
static inline bool dx_conn_output_waits(const dx_conn *c)
{
	return c->send_armed || c->zc_wait || c->send_off < c->sending.len;
}

/* Arm a (multishot) recv unless one is armed or c reads no more. */
void dx_conn_arm_recv(dx_worker *w, dx_conn *c);
/* After a swap: send again what the old backend did not get out. */
void dx_conn_resume_send(dx_worker *w, dx_conn *c);
/* Bytes arrived in c->in: run them through the pipeline unless c's output
 * is over the cap (then pause, and hold its recv past twice the cap). */
void dx_conn_input(dx_worker *w, dx_conn *c);
/* The sweep's part, once per tick: close c if its output made no progress
 * for limits.write_timeout_ms (or, Close queued or not, for
 * idle_timeout_ms), give back the large buffers of an idle c, and add the
 * bytes its buffers hold to *bytes. true when c is not open (closed now,
 * or a free slot's kept struct). */
bool dx_conn_sweep(dx_worker *w, dx_conn *c, uint64_t now, size_t *bytes);
/* The worker ends: close and free every connection. */
void dx_conn_free_all(dx_worker *w);

#endif
