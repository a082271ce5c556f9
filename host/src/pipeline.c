/* pipeline.c - the input side: HBTP frames in, requests through the
 * middleware chain to their route; answers leave through answer.c.
 *
 * Bad input is answered, never fatal: content that is wrong gets RpcError
 * with the frame's seq and the connection goes on; only a frame longer than
 * max_frame (the stream cannot be resynchronised) gets Close. A handler
 * writes its answer straight into the connection's output buffer, after
 * room left for the frame header, so the request path copies nothing and
 * allocates nothing once the buffers have grown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "async.h"
#include "conn.h"
#include "log.h"
#include "pipeline.h"
#include "timer.h"
#include "worker.h"

/* Count a failed handler by route, and say so in the log, at most
 * DX_FAIL_LOGS_PER_S lines a second per worker (a route failing on every
 * request must not flood the log, nor cost a write per request). */
static void dx_route_failed(dx_worker *w, const dx_route_ref *ref, int rc)
{
	uint32_t key = (uint32_t)ref->id + 1;
	struct dx_route_fails *f = NULL;
	for (unsigned i = 0; i < DX_ROUTE_FAILS; i++) {
		struct dx_route_fails *x =
			&w->fails[(ref->id + i) % DX_ROUTE_FAILS];
		uint32_t k = atomic_load_explicit(&x->route,
						  memory_order_relaxed);
		if (k == key || k == 0) {
			if (k == 0)
				atomic_store_explicit(&x->route, key,
						      memory_order_release);
			f = x;
			break;
		}
	}
	atomic_fetch_add_explicit(f ? &f->n : &w->fails_other, 1,
				  memory_order_relaxed);
	uint64_t sec = dx_now_ns() / 1000000000u;
	if (sec != w->fail_log_sec) {
		dx_log_request saved; /* about other requests: not this id */
		dx_log_request_suspend(&saved);
		if (w->fail_quiet)
			dx_registry_log(w->view->reg, DX_LOG_WARN,
					"worker %u: %lu more route failures "
					"not logged in the last second",
					w->id, w->fail_quiet);
		dx_log_request_resume(&saved);
		w->fail_log_sec = sec;
		w->fail_logged = 0;
		w->fail_quiet = 0;
	}
	if (w->fail_logged++ >= DX_FAIL_LOGS_PER_S) {
		w->fail_quiet++;
		return;
	}
	if (rc == DX_PENDING)
		dx_registry_log(w->view->reg, DX_LOG_ERROR,
				"route %s (plugin %s) returned PENDING "
				"without defer(): a plugin bug; answered 500",
				ref->route->name, ref->plugin);
	else if (rc > 0)
		dx_registry_log(w->view->reg, DX_LOG_ERROR,
				"route %s (plugin %s) returned %d, which is "
				"neither 0, DX_PENDING nor a negative code: a "
				"plugin bug; answered 500",
				ref->route->name, ref->plugin, rc);
	else
		dx_registry_log(w->view->reg, DX_LOG_ERROR,
				"route %s (plugin %s) failed: %s; answered 500",
				ref->route->name, ref->plugin, dx_strerror(rc));
}

/* The handler, or a 404 when no route has this id. */
static int dx_run_handler(dx_worker *w, dx_conn *c, const dx_route_ref *ref,
			  dx_request *req, dx_response *res)
{
	if (!ref)
		return dx_response_error(res, 404,
					 "no route %u; route 0 lists the routes",
					 req->route);
	unsigned before = c->inflight;
	int rc = ref->route->call(ref->self, req, res);
	if (rc == DX_PENDING && c->inflight > before)
		return DX_PENDING;
	/* A positive value other than DX_PENDING is a plugin bug, not a
	 * success: a byte count or a bool returned by habit. */
	if (rc > 0 || (rc < 0 && !res->status)) {
		/* The client learns that the route failed, not how: the
		 * reason (an errno, a plugin bug) is the host's log's. */
		res->len = 0;
		if (rc == -E2BIG)
			dx_response_error(res, 500,
					  "route %s: its answer exceeds "
					  "limits.max_message (%llu bytes)",
					  ref->route->name,
					  (unsigned long long)
						  w->view->m->limits.max_message);
		else
			dx_response_error(res, 500,
					  "route %s failed (internal error)",
					  ref->route->name);
		dx_route_failed(w, ref, rc);
	}
	return 0;
}

/* Middleware befores, the handler, afters, then the answer. */
static void dx_call(dx_worker *w, dx_conn *c, const dx_hbtp_header *h,
		    const dx_hbtp_meta *meta, uint16_t id, const uint8_t *args,
		    size_t n)
{
	const dx_route_ref *ref = dx_gen_route(w->gen, id);
	const dx_chain *chain = dx_worker_chain(w, id);
	size_t start = c->out.len;
	dx_response res;
	if (!dx_answer_begin(w, c, &res))
		return;
	dx_ext ext[DX_REQUEST_EXT_MAX];
	dx_request req = {
		.size = sizeof req, .opcode = h->opcode, .flags = h->flags,
		.seq = h->seq, .route = id, .body = args, .body_len = n,
		.worker = (int)w->id, .start_ns = dx_now_ns(), .host_priv = c,
		.meta = meta, .peer = c->peer,
		.route_name = ref ? ref->route->name : NULL, .ext = ext,
	};
	dx_wm_route *slot = dx_wm_slot(w->wm, id, ref != NULL);
	dx_wm_request(slot);
	bool stopped;
	unsigned ran = dx_chain_before(chain, &req, &res, &stopped);
	if (!stopped && dx_run_handler(w, c, ref, &req, &res) == DX_PENDING) {
		/* The answer comes through complete(), which runs the afters. */
		dx_pending_set_chain(w, chain, ran);
		c->out.len = start;
		return;
	}
	/* One clock reading for x-response-time and the metrics. */
	uint64_t now = dx_now_ns();
	dx_chain_after(chain, ran, &req, &res, now);
	dx_wm_answer_in(slot, res.status, now - req.start_ns);
	if (!(h->flags & DX_HBTP_EXPECTS_RESPONSE)) {
		c->out.len = start; /* ClientEvent, or no answer asked */
		return;
	}
	dx_answer_end(w, c, start, h->seq, &res);
}

static void dx_pipeline_call(dx_worker *w, dx_conn *c,
			     const dx_hbtp_header *h, const dx_hbtp_meta *meta,
			     const uint8_t *body, size_t len)
{
	dx_cell_add(&w->stats.requests, 1);
	if (len < 2) {
		dx_answer_error(w, c, h->seq, 400,
				"%s body of %zu bytes is shorter than its "
				"u16 route id",
				dx_hbtp_opcode_name(h->opcode), len);
		return;
	}
	uint16_t id = (uint16_t)(body[0] | body[1] << 8);
	if (id == 0) {
		/* Discovery is the host's own and outside the chain: a client
		 * must be able to learn the routes before it can log in. */
		if (h->flags & DX_HBTP_EXPECTS_RESPONSE)
			dx_answer_frame(w, c, DX_HBTP_RPC_RESPONSE, h->seq, 0,
					w->gen->routes_json,
					w->gen->routes_json_len);
		return;
	}
	/* Lines logged while it runs carry its x-request-id (log.h). */
	bool tagged = dx_log_request_begin(meta);
	dx_call(w, c, h, meta, id, body + 2, len - 2);
	if (tagged)
		dx_log_request_end();
}

/* A whole message: metadata, compression, then the opcode table. */
static void dx_pipeline_message(dx_worker *w, dx_conn *c,
				const dx_hbtp_header *h, const uint8_t *msg,
				size_t len)
{
	const dx_manifest *m = w->view->m;
	if (h->flags & DX_HBTP_ENCRYPTED) {
		dx_answer_error(w, c, h->seq, 501,
				"ENCRYPTED messages need a plugin that "
				"decrypts them; none is loaded");
		return;
	}
	dx_hbtp_meta meta;
	meta.count = 0;
	if (h->flags & DX_HBTP_HAS_META) {
		const char *why = "malformed";
		long used = dx_hbtp_meta_parse(msg, len, &meta, &why);
		if (used < 0) {
			dx_answer_error(w, c, h->seq, 400,
					"bad metadata block: %s", why);
			return;
		}
		msg += used;
		len -= (size_t)used;
	}
	if (h->flags & DX_HBTP_COMPRESSED) {
		long n = dx_hbtp_decompress(msg, len, w->scratch,
					    (size_t)m->limits.max_message);
		if (n < 0) {
			dx_answer_error(w, c, h->seq, n == -E2BIG ? 413 : 400,
					n == -E2BIG
						? "body inflates past "
						  "max_message (%llu bytes)"
						: "body is not a valid LZ4 "
						  "frame (max_message %llu)",
					(unsigned long long)m->limits.max_message);
			return;
		}
		msg = w->scratch;
		len = (size_t)n;
	}
	switch (h->opcode) {
	case DX_HBTP_RPC_CALL:
	case DX_HBTP_CLIENT_EVENT:
		dx_pipeline_call(w, c, h, &meta, msg, len);
		return;
	default: {
		const char *name = dx_hbtp_opcode_name(h->opcode);
		dx_answer_error(w, c, h->seq, 501,
				"opcode 0x%02x (%s) is not supported by this "
				"host",
				h->opcode, name ? name : "unknown");
	}
	}
}

/* Split frames join here; a frame with FINAL and nothing in progress goes
 * straight through without a copy. */
static void dx_pipeline_data(dx_worker *w, dx_conn *c, const dx_hbtp_header *h,
			     const uint8_t *body)
{
	/* discard: the rest of a message already refused (413) must reach
	 * the reassembler, which drops it, not be served as a new message. */
	if ((h->flags & DX_HBTP_FINAL) && !c->reasm.active &&
	    !c->reasm.discard) {
		dx_pipeline_message(w, c, h, body, h->length);
		return;
	}
	size_t cap = (size_t)w->view->m->limits.max_message;
	if (!c->reasm_buf) {
		c->reasm_buf = malloc(cap);
		if (!c->reasm_buf) {
			dx_answer_error(w, c, h->seq, 503,
					"out of memory for a split message");
			return;
		}
		dx_hbtp_reasm_init(&c->reasm, c->reasm_buf, cap);
	}
	dx_hbtp_header mh;
	const uint8_t *msg;
	size_t len;
	int rc = dx_hbtp_reasm_push(&c->reasm, h, body, &mh, &msg, &len);
	if (rc == DX_HBTP_REASM_COMPLETE)
		dx_pipeline_message(w, c, &mh, msg, len);
	else if (rc == -E2BIG)
		dx_answer_error(w, c, h->seq, 413,
				"split message exceeds max_message (%zu "
				"bytes)",
				cap);
	else if (rc < 0)
		dx_answer_error(w, c, h->seq, 400,
				"frame of opcode 0x%02x seq %u interrupts a "
				"split message",
				h->opcode, h->seq);
}

/* Pong with the Ping's payload: HAS_META means on a Ping what it means on
 * every opcode, so a metadata block is parsed (a bad one is a 400, as on a
 * call) and the payload after it is what comes back. */
static void dx_pipeline_ping(dx_worker *w, dx_conn *c, const dx_hbtp_header *h,
			     const uint8_t *body)
{
	size_t len = h->length;
	if (h->flags & DX_HBTP_HAS_META) {
		dx_hbtp_meta meta;
		const char *why = "malformed";
		long used = dx_hbtp_meta_parse(body, len, &meta, &why);
		if (used < 0) {
			dx_answer_error(w, c, h->seq, 400,
					"Ping: bad metadata block: %s", why);
			return;
		}
		body += used;
		len -= (size_t)used;
	}
	dx_answer_frame(w, c, DX_HBTP_PONG, h->seq, 0, body, len);
}

static void dx_pipeline_frame(dx_worker *w, dx_conn *c, const dx_hbtp_header *h,
			      const uint8_t *body)
{
	/* The header first: an opcode HBTP does not define is refused now,
	 * never held as the start of a split message. */
	const char *why;
	int bad = dx_hbtp_header_check(h, &why);
	if (bad == DX_EPROTO) {
		dx_answer_error(w, c, h->seq, 400,
				"reserved flag bits 0x%02x are set",
				h->flags & DX_HBTP_RESERVED_FLAGS);
		return;
	}
	if (bad < 0) {
		dx_answer_error(w, c, h->seq, 501,
				"opcode 0x%02x (unknown) is not supported by "
				"this host",
				h->opcode);
		return;
	}
	switch (h->opcode) {
	case DX_HBTP_PING:
		dx_pipeline_ping(w, c, h, body);
		return;
	case DX_HBTP_PONG:
		return;
	case DX_HBTP_CLOSE:
		/* The client is leaving: answer what is in flight, then go. */
		c->eof = true;
		c->closing = true;
		dx_conn_want_flush(w, c);
		return;
	default:
		dx_pipeline_data(w, c, h, body);
	}
}

void dx_pipeline_input(dx_worker *w, dx_conn *c)
{
	uint32_t max_frame = (uint32_t)w->gen->limits.max_frame;
	size_t off = 0;
	while (off < c->in.len && !c->closing) {
		dx_hbtp_header h;
		const uint8_t *body;
		long n = dx_hbtp_frame_split(c->in.p + off, c->in.len - off,
					     max_frame, &h, &body);
		if (n == 0)
			break;
		if (n < 0) {
			char why[128];
			snprintf(why, sizeof why,
				 "frame of %u bytes exceeds max_frame %u",
				 h.length, max_frame);
			dx_answer_close(w, c, DX_HBTP_CLOSE_TOO_LARGE, why);
			c->in.len = 0;
			return;
		}
		dx_pipeline_frame(w, c, &h, body);
		off += (size_t)n;
	}
	if (off) {
		memmove(c->in.p, c->in.p + off, c->in.len - off);
		c->in.len -= off;
	}
	/* A frame still incomplete starts (or keeps) the header clock. */
	c->partial_ns = c->in.len ? (off || !c->partial_ns ? dx_now_ns()
							  : c->partial_ns)
				  : 0;
}
