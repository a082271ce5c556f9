/* dx_bench_loop.c - `dx bench`'s per-thread event loop: the readiness
 * layer (bwait: epoll or poll) over the thread's connections, pipelines
 * topped up, answers parsed (HBTP or RESP) and timed. Sockets through
 * sock.h, so the loop is the same on every system. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/client.h>
#include <dx/hbtp.h>

#include "dx_bench.h"
#include "pin.h"
#include "sock.h"

static void conn_kill(bthread *t, bconn *c, bwait *w, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void conn_kill(bthread *t, bconn *c, bwait *w, const char *fmt, ...)
{
	if (c->dead)
		return;
	if (!t->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->why, sizeof t->why, fmt, ap);
		va_end(ap);
	}
	bench_wait_forget(w, c);
	dx_sock_close(c->fd);
	c->fd = -1;
	c->dead = true;
	t->alive--;
	t->closed++;
	t->lost += c->outstanding;
	t->outstanding -= c->outstanding;
	c->outstanding = 0;
}

/* How many more requests this thread may send now (count mode). */
static inline uint64_t allowance(const bthread *t, bool measuring)
{
	if (!t->quota || !measuring)
		return UINT64_MAX;
	uint64_t done = t->ok + t->errors + t->outstanding;
	return done >= t->quota ? 0 : t->quota - done;
}

/* Top the connection's pipeline up and send what is queued. */
static void conn_fill(bthread *t, bconn *c, bwait *w, uint64_t now,
		      bool measuring)
{
	const bshared *sh = t->sh;
	unsigned want = sh->o->pipeline - c->outstanding;
	uint64_t allow = allowance(t, measuring);
	if (want > allow)
		want = (unsigned)allow;
	if (want) {
		if (c->woff) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
		}
		uint8_t *at = c->wbuf + c->wlen;
		for (unsigned i = 0; i < want; i++, at += sh->req_len) {
			memcpy(at, sh->req, sh->req_len);
			if (sh->o->mode == B_RESP) {
				c->ts[c->tail++ & (sh->ring - 1)] = now;
				continue;
			}
			unsigned slot = c->free[--c->nfree];
			c->used[slot] = 1;
			c->ts[slot] = now;
			dx_hbtp_put_le16(at + 2, c->seq[slot]);
		}
		c->wlen += (size_t)want * sh->req_len;
		c->outstanding += want;
		t->outstanding += want;
	}
	if (c->woff == c->wlen)
		return;
	long n = dx_sock_send(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
	t->nsend++;
	if (n < 0 && n != -EAGAIN && n != -EINTR) {
		conn_kill(t, c, w, "send: %s", dx_sock_strerror((int)-n));
		return;
	}
	if (n > 0)
		c->woff += (size_t)n;
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	bool out = c->wlen != 0;
	if (out != c->want_out) {
		bench_wait_out(w, c, out);
		c->want_out = out;
	}
}

/* One answer to the request sent at `sent`. */
static inline void answered(bthread *t, bconn *c, uint64_t sent, uint64_t now,
			    bool ok, bool measuring)
{
	c->outstanding--;
	t->outstanding--;
	if (!measuring || (t->quota && t->ok + t->errors >= t->quota))
		return;
	if (ok) {
		t->ok++;
		h_record(&t->hist, now - sent);
	} else
		t->errors++;
	t->t_last = now;
}

static void hbtp_answer(bthread *t, bconn *c, const dx_hbtp_header *h,
			uint64_t now, bool measuring, bool ok)
{
	unsigned slot = h->seq & (t->sh->ring - 1);
	if (slot >= t->sh->o->pipeline || !c->used[slot] ||
	    c->seq[slot] != h->seq) {
		t->unexpected++;
		return;
	}
	c->used[slot] = 0;
	c->seq[slot] = (uint16_t)(c->seq[slot] + t->sh->ring);
	c->free[c->nfree++] = (uint16_t)slot;
	answered(t, c, c->ts[slot], now, ok, measuring);
}

/* Parse what is in rbuf; 0, or -1 when the connection must end (its
 * reason recorded). */
static int parse_hbtp(bthread *t, bconn *c, bwait *w, uint64_t now,
		      bool measuring)
{
	const bool ping = t->sh->o->mode == B_PING;
	size_t off = 0;
	int rc = 0;
	while (c->rlen - off >= DX_HBTP_HEADER_SIZE) {
		dx_hbtp_header h;
		dx_hbtp_header_decode(c->rbuf + off, &h);
		if (h.length > DX_CLIENT_MAX_MESSAGE) {
			conn_kill(t, c, w,
				  "a frame of %u bytes (opcode 0x%02x): the "
				  "stream is not HBTP?",
				  h.length, h.opcode);
			return -1;
		}
		size_t total = DX_HBTP_HEADER_SIZE + (size_t)h.length;
		if (c->rlen - off < total) {
			if (total > c->rcap) { /* a big answer: make room */
				memmove(c->rbuf, c->rbuf + off, c->rlen - off);
				c->rlen -= off;
				off = 0;
				uint8_t *nb = realloc(c->rbuf, total);
				if (!nb) {
					conn_kill(t, c, w, "out of memory");
					return -1;
				}
				c->rbuf = nb;
				c->rcap = total;
			}
			break;
		}
		const uint8_t *body = c->rbuf + off + DX_HBTP_HEADER_SIZE;
		off += total;
		switch (h.opcode) {
		case DX_HBTP_PONG:
			if (ping)
				hbtp_answer(t, c, &h, now, measuring, true);
			else
				t->unexpected++;
			break;
		case DX_HBTP_RPC_RESPONSE:
			if (!(h.flags & DX_HBTP_FINAL))
				break; /* more of it follows */
			if (!ping)
				hbtp_answer(t, c, &h, now, measuring, true);
			else
				t->unexpected++;
			break;
		case DX_HBTP_RPC_ERROR:
			if (!(h.flags & DX_HBTP_FINAL))
				break;
			if (!t->rpcerr[0] && h.length >= 2 &&
			    !(h.flags &
			      (DX_HBTP_COMPRESSED | DX_HBTP_HAS_META)))
				snprintf(t->rpcerr, sizeof t->rpcerr,
					 "RpcError %u: %.*s",
					 dx_hbtp_le16(body),
					 (int)(h.length - 2 > 120 ?
						       120 :
						       h.length - 2),
					 (const char *)body + 2);
			else if (!t->rpcerr[0])
				snprintf(t->rpcerr, sizeof t->rpcerr,
					 "RpcError");
			hbtp_answer(t, c, &h, now, measuring, false);
			break;
		case DX_HBTP_CLOSE: {
			unsigned code = h.length >= 2 ? dx_hbtp_le16(body) : 0;
			int tl = h.length > 2 ? (int)(h.length - 2) : 0;
			conn_kill(t, c, w, "the server sent Close %u: %.*s",
				  code, tl > 120 ? 120 : tl,
				  (const char *)body + 2);
			return -1;
		}
		default: /* pushes and the like: not ours */ break;
		}
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return rc;
}

/* RESP: "+PONG\r\n", or "$N\r\n<N bytes>\r\n" for PING with an argument;
 * "-ERR ...\r\n" counts as an error. */
static int parse_resp(bthread *t, bconn *c, bwait *w, uint64_t now,
		      bool measuring)
{
	size_t off = 0;
	const unsigned mask = t->sh->ring - 1;
	while (off < c->rlen) {
		const uint8_t *p = c->rbuf + off;
		size_t avail = c->rlen - off;
		const uint8_t *nl = memchr(p, '\n', avail);
		if (!nl)
			break;
		size_t line = (size_t)(nl - p) + 1, total = line;
		bool ok = true;
		if (p[0] == '$') {
			long n = strtol((const char *)p + 1, NULL, 10);
			if (n > 0)
				total += (size_t)n + 2;
		} else if (p[0] == '-') {
			ok = false;
		} else if (p[0] != '+') {
			conn_kill(t, c, w,
				  "an answer that is not RESP (\"%.*s\")",
				  (int)(line > 40 ? 40 : line), p);
			return -1;
		}
		if (avail < total) {
			if (total > c->rcap) {
				conn_kill(t, c, w, "a RESP answer too big");
				return -1;
			}
			break;
		}
		if (!ok && !t->rpcerr[0])
			snprintf(t->rpcerr, sizeof t->rpcerr, "%.*s",
				 (int)(line > 100 ? 100 : line - 2), p);
		off += total;
		if (c->head == c->tail) {
			t->unexpected++;
			continue;
		}
		answered(t, c, c->ts[c->head++ & mask], now, ok, measuring);
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return 0;
}

static void conn_read(bthread *t, bconn *c, bwait *w, bool measuring,
		      uint64_t *nowp)
{
	for (;;) {
		long n = dx_sock_recv(c->fd, c->rbuf + c->rlen,
				      c->rcap - c->rlen);
		t->nrecv++;
		if (n == 0) {
			conn_kill(t, c, w, "the server closed the connection");
			return;
		}
		if (n < 0) {
			if (n == -EAGAIN || n == -EINTR)
				return;
			conn_kill(t, c, w, "recv: %s",
				  dx_sock_strerror((int)-n));
			return;
		}
		uint64_t now = *nowp = now_ns();
		size_t room = c->rcap - c->rlen;
		c->rlen += (size_t)n;
		int rc = t->sh->o->mode == B_RESP ?
				 parse_resp(t, c, w, now, measuring) :
				 parse_hbtp(t, c, w, now, measuring);
		if (rc < 0 || (size_t)n < room)
			return; /* drained (level-triggered brings the rest) */
	}
}

void *bench_thread(void *arg)
{
	bthread *t = arg;
	bshared *sh = t->sh;
	/* Best effort: where the system cannot pin (pin.h's -ENOTSUP, a CPU
	 * past Windows' first 64), the thread runs unpinned. */
	if (t->cpu >= 0)
		(void)dx_pin_thread(pthread_self(), (unsigned)t->cpu);
	bwait *w = bench_wait_open(t);
	if (!w)
		return NULL; /* t->why says why */
	uint64_t now = now_ns();
	bool measuring = now >= sh->t_measure;
	for (unsigned i = 0; i < t->nconns; i++)
		conn_fill(t, &t->conns[i], w, now, measuring);
	uint64_t answers = 0, last_progress = now;
	const uint64_t stall = (uint64_t)sh->o->timeout_ms * 1000000ull;
	while (t->alive &&
	       !atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		/* Sleep at most until the next phase boundary. */
		uint64_t next = !measuring ? sh->t_measure :
				sh->t_end  ? sh->t_end :
					     now + 100000000ull;
		int tmo = next > now ? (int)((next - now + 999999) / 1000000) :
				       0;
		if (tmo > 100)
			tmo = 100;
		int n = bench_wait(w, tmo);
		t->nwait++;
		if (n < 0 && n != -EINTR)
			break;
		now = now_ns();
		if (!measuring && now >= sh->t_measure)
			measuring = true;
		if (sh->t_end && now >= sh->t_end)
			break;
		uint64_t before = t->ok + t->errors;
		bconn *c;
		bool in;
		while ((c = bench_wait_next(w, &in))) {
			if (c->dead)
				continue;
			if (in) {
				unsigned o0 = c->outstanding;
				conn_read(t, c, w, measuring, &now);
				if (c->dead)
					continue;
				answers += o0 - c->outstanding;
			}
			conn_fill(t, c, w, now, measuring);
		}
		if (t->ok + t->errors != before || n > 0)
			last_progress = now;
		atomic_store_explicit(&t->progress, answers,
				      memory_order_relaxed);
		if (t->quota && t->ok + t->errors >= t->quota)
			break;
		if (t->outstanding && now - last_progress > stall) {
			snprintf(t->why, sizeof t->why,
				 "no answer for %d ms with %llu requests "
				 "outstanding",
				 sh->o->timeout_ms,
				 (unsigned long long)t->outstanding);
			t->lost += t->outstanding;
			break;
		}
	}
	bench_wait_close(w);
	return NULL;
}
