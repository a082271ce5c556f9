/* conn.h - a worker's connections: slots, buffers, sending, closing.
 *
 * A connection lives in one of its worker's slots; slot and generation
 * (in every completion's udata) tell a live connection from a closed one
 * whose slot was reused. The struct and its buffers are kept when it
 * closes and reused by the next. Worker thread only. */
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
	bool resend;      /* sending holds bytes a swap cut off */
	bool zc_wait;     /* the kernel still reads sending (send_zc) */
	bool zc_ok;       /* io.zero_copy allows send_zc to this peer */
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
/* Arm a (multishot) recv unless one is armed or c reads no more. */
void dx_conn_arm_recv(dx_worker *w, dx_conn *c);
/* After a swap: send again what the old backend did not get out. */
void dx_conn_resume_send(dx_worker *w, dx_conn *c);
/* The worker ends: close and free every connection. */
void dx_conn_free_all(dx_worker *w);

#endif
