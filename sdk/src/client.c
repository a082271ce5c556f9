/* client.c - the blocking HBTP client of dx/client.h: connect, buffered
 * sends, receive with reassembly and inflation, and matching responses to
 * seqs with a bounded queue for the ones that complete out of order.
 *
 * The socket is non-blocking and every wait is a poll() with what is left
 * of the caller's timeout, so no call blocks longer than it was told. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dx/client.h>

#define DX_CLIENT_READ_CHUNK 65536u

/* A growable byte buffer. */
struct dx_cbuf {
	uint8_t *p;
	size_t len, cap;
};

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
	struct dx_cbuf w; /* bytes to send; w_off already sent */
	size_t w_off;
	struct dx_cbuf r; /* bytes received; r_off already split off */
	size_t r_off;
	struct dx_cbuf s;   /* scratch: a message body being built */
	struct dx_cbuf z;   /* scratch: compression input */
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

/* --- small helpers --- */

static int dx_cbuf_reserve(struct dx_cbuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Append n bytes (data may be NULL when n is 0); the caller reserved. */
static void dx_cbuf_put(struct dx_cbuf *b, const void *data, size_t n)
{
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static int dx_client_fail(dx_client *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int dx_client_fail(dx_client *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return code;
}

/* The stream cannot go on (peer gone, oversize frame): every later call
 * fails with code. The caller has written c->err. */
static int dx_client_kill(dx_client *c, int code)
{
	c->dead = code;
	return code;
}

/* For messages: "RpcCall", or "frame" for an opcode v1 does not define. */
static const char *dx_op_name(uint8_t opcode)
{
	const char *name = dx_hbtp_opcode_name(opcode);
	return name ? name : "frame";
}

static int64_t dx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* timeout_ms < 0 is forever (deadline -1). */
static int64_t dx_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : dx_now_ms() + timeout_ms;
}

static int dx_remaining(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - dx_now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* poll() one fd for events until deadline: 1 ready, -ETIMEDOUT, -errno. */
static int dx_wait_fd(int fd, short events, int64_t deadline, short *revents)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, dx_remaining(deadline));
		if (n > 0) {
			*revents = p.revents;
			return 1;
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* --- connecting --- */

static int dx_connect_fd(dx_client *c, int fd, const struct sockaddr *sa,
			 socklen_t salen, int64_t deadline, const char *addr)
{
	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return dx_client_fail(c, -errno, "connect to %s: %s", addr,
				      strerror(errno));
	short rev = 0;
	int rc = dx_wait_fd(fd, POLLOUT, deadline, &rev);
	if (rc < 0)
		return dx_client_fail(c, rc, "connect to %s: %s", addr,
				      rc == -ETIMEDOUT ? "timed out" :
							 strerror(-rc));
	int soerr = 0;
	socklen_t len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr)
		return dx_client_fail(c, -soerr, "connect to %s: %s", addr,
				      strerror(soerr));
	return 0;
}

static int dx_connect_unix(dx_client *c, const char *addr, int64_t deadline)
{
	const char *path = addr + 5;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!*path || strlen(path) >= sizeof sun.sun_path)
		return dx_client_fail(
			c, -EINVAL,
			"%s: a Unix socket path must be 1 to %zu bytes", addr,
			sizeof sun.sun_path - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return dx_client_fail(c, -errno, "socket: %s", strerror(errno));
	/* A Unix listener with a full backlog says EAGAIN at once, and poll
	 * cannot wait for room: retry every millisecond until the deadline. */
	for (;;) {
		if (connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return 0;
		if (errno != EAGAIN || dx_remaining(deadline) == 0)
			break;
		poll(NULL, 0, 1);
	}
	return dx_client_fail(c, -errno, "connect to %s: %s", addr,
			      strerror(errno));
}

/* "HOST:PORT" or "[IPV6]:PORT" into host and port (NUL-terminated). */
static int dx_split_hostport(dx_client *c, const char *addr, char *host,
			     size_t hostlen, const char **port)
{
	const char *h = addr, *colon;
	size_t n;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			goto bad;
		h = addr + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			goto bad;
		n = (size_t)(colon - addr);
	}
	if (n == 0 || n >= hostlen || !colon[1])
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
bad:
	return dx_client_fail(
		c, -EINVAL, "%s: expected HOST:PORT, [IPV6]:PORT or unix:PATH",
		addr);
}

/* Try each address getaddrinfo gives until one connects. */
static int dx_connect_tcp(dx_client *c, const char *addr, int64_t deadline)
{
	char host[256];
	const char *port = NULL;
	int rc = dx_split_hostport(c, addr, host, sizeof host, &port);
	if (rc < 0)
		return rc;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV},
			*res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai)
		return dx_client_fail(c, -EHOSTUNREACH, "%s: %s", addr,
				      gai_strerror(gai));
	rc = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = socket(ai->ai_family,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			rc = dx_client_fail(c, -errno, "socket: %s",
					    strerror(errno));
			continue;
		}
		rc = dx_connect_fd(c, c->fd, ai->ai_addr, ai->ai_addrlen,
				   deadline, addr);
	}
	freeaddrinfo(res);
	if (rc == 0) {
		int one = 1; /* requests are small: no Nagle delay */
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return rc;
}

int dx_client_connect(const char *addr, int timeout_ms, dx_client **out,
		      char *err, size_t errlen)
{
	*out = NULL;
	dx_client *c = calloc(1, sizeof *c);
	if (!c) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fd = -1;
	c->max_frame = DX_CLIENT_MAX_FRAME;
	c->max_message = DX_CLIENT_MAX_MESSAGE;
	c->max_queued = DX_CLIENT_MAX_QUEUED;
	c->next_seq = 1;
	dx_hbtp_reasm_init(&c->reasm, NULL, 0);
	int64_t deadline = dx_deadline(timeout_ms);
	int rc = strncmp(addr, "unix:", 5) == 0 ?
			 dx_connect_unix(c, addr, deadline) :
			 dx_connect_tcp(c, addr, deadline);
	if (rc < 0) {
		if (errlen)
			snprintf(err, errlen, "%s", c->err);
		dx_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void dx_client_release_held(dx_client *c)
{
	free(c->held);
	c->held = NULL;
}

void dx_client_close(dx_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	dx_client_release_held(c);
	while (c->q_head) {
		struct dx_kept *k = c->q_head;
		c->q_head = k->next;
		free(k);
	}
	free(c->w.p);
	free(c->r.p);
	free(c->s.p);
	free(c->z.p);
	free(c->inflated);
	free(c->reasm_buf);
	free(c->meta);
	free(c);
}

int dx_client_fd(const dx_client *c)
{
	return c->fd;
}

const char *dx_client_error(const dx_client *c)
{
	return c->err;
}

int dx_client_set_limits(dx_client *c, uint32_t max_frame, size_t max_message,
			 unsigned max_queued)
{
	uint32_t f = max_frame ? max_frame : c->max_frame;
	size_t m = max_message ? max_message : c->max_message;
	if (f > m || m > UINT32_MAX)
		return dx_client_fail(
			c, -EINVAL,
			"max_frame %u above max_message %zu (or that above 4 GiB)",
			f, m);
	if (m != c->max_message) {
		/* The buffers are max_message long: reallocate on next use. */
		free(c->inflated);
		free(c->reasm_buf);
		c->inflated = c->reasm_buf = NULL;
		dx_hbtp_reasm_init(&c->reasm, NULL, 0);
	}
	c->max_frame = f;
	c->max_message = m;
	if (max_queued)
		c->max_queued = max_queued;
	return 0;
}

int dx_client_set_meta(dx_client *c, const uint8_t *block, size_t len)
{
	free(c->meta);
	c->meta = NULL;
	c->meta_len = 0;
	if (!block || !len)
		return 0;
	c->meta = malloc(len);
	if (!c->meta)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	memcpy(c->meta, block, len);
	c->meta_len = len;
	return 0;
}

uint16_t dx_client_next_seq(dx_client *c)
{
	return c->next_seq++;
}

/* --- sending --- */

/* A frame header into w (reserved by the caller). */
static void dx_client_put_header(dx_client *c, uint8_t opcode, uint8_t flags,
				 uint16_t seq, size_t len)
{
	dx_hbtp_header h = {opcode, flags, seq, (uint32_t)len};
	dx_hbtp_header_encode(&h, c->w.p + c->w.len);
	c->w.len += DX_HBTP_HEADER_SIZE;
}

int dx_client_send_frame(dx_client *c, uint8_t opcode, uint8_t flags,
			 uint16_t seq, const uint8_t *meta, size_t meta_len,
			 const void *body, size_t n)
{
	if (!meta)
		meta_len = 0;
	if (meta_len > UINT32_MAX || n > UINT32_MAX - meta_len)
		return dx_client_fail(c, -E2BIG, "a frame above 4 GiB");
	if (dx_cbuf_reserve(&c->w, DX_HBTP_HEADER_SIZE + meta_len + n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	if (meta)
		flags |= DX_HBTP_HAS_META;
	dx_client_put_header(c, opcode, flags, seq, meta_len + n);
	dx_cbuf_put(&c->w, meta, meta_len);
	dx_cbuf_put(&c->w, body, n);
	return 0;
}

int dx_client_send_raw(dx_client *c, const void *data, size_t n)
{
	if (dx_cbuf_reserve(&c->w, n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_cbuf_put(&c->w, data, n);
	return 0;
}

/* What one message is made of: [meta] [pre (route id)] [data]. */
struct dx_parts {
	const uint8_t *meta;
	size_t meta_len;
	const uint8_t *pre;
	size_t pre_len;
	const void *data;
	size_t n;
};

/* s = [meta] [LZ4 frame of pre + data]. */
static int dx_client_build_compressed(dx_client *c, const struct dx_parts *m)
{
	c->z.len = 0;
	if (dx_cbuf_reserve(&c->z, m->pre_len + m->n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_cbuf_put(&c->z, m->pre, m->pre_len);
	dx_cbuf_put(&c->z, m->data, m->n);
	size_t bound = dx_hbtp_compress_bound(c->z.len);
	c->s.len = 0;
	if (dx_cbuf_reserve(&c->s, m->meta_len + bound))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_cbuf_put(&c->s, m->meta, m->meta_len);
	long k = dx_hbtp_compress(c->z.p, c->z.len, c->s.p + c->s.len, bound);
	if (k < 0)
		return dx_client_fail(c, (int)k, "LZ4 compression failed");
	c->s.len += (size_t)k;
	return 0;
}

static int dx_client_build_plain(dx_client *c, const struct dx_parts *m)
{
	c->s.len = 0;
	if (dx_cbuf_reserve(&c->s, m->meta_len + m->pre_len + m->n))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_cbuf_put(&c->s, m->meta, m->meta_len);
	dx_cbuf_put(&c->s, m->pre, m->pre_len);
	dx_cbuf_put(&c->s, m->data, m->n);
	return 0;
}

/* s into frames of at most max_frame bytes. The first carries flags; the
 * continuations only FINAL, on the last (the first frame's flags apply to
 * the whole message). */
static int dx_client_emit_split(dx_client *c, uint8_t opcode, uint8_t flags,
				uint16_t seq)
{
	size_t frames = c->s.len / c->max_frame + 1;
	if (dx_cbuf_reserve(&c->w, c->s.len + frames * DX_HBTP_HEADER_SIZE))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	size_t off = 0;
	do {
		size_t k = c->s.len - off;
		if (k > c->max_frame)
			k = c->max_frame;
		bool last = off + k == c->s.len;
		uint8_t fl = off == 0 ? flags & ~DX_HBTP_FINAL : 0;
		dx_client_put_header(c, opcode, last ? fl | DX_HBTP_FINAL : fl,
				     seq, k);
		dx_cbuf_put(&c->w, c->s.p + off, k);
		off += k;
	} while (off < c->s.len);
	return 0;
}

static bool dx_client_is_control(uint8_t opcode)
{
	return opcode == DX_HBTP_PING || opcode == DX_HBTP_PONG ||
	       opcode == DX_HBTP_CLOSE;
}

static int dx_client_send_parts(dx_client *c, uint8_t opcode, uint8_t flags,
				uint16_t seq, const struct dx_parts *m)
{
	size_t total = m->meta_len + m->pre_len + m->n;
	if (m->meta)
		flags |= DX_HBTP_HAS_META;
	flags |= DX_HBTP_FINAL;
	if (total > c->max_message) /* the peer would refuse it (413) */
		return dx_client_fail(
			c, -E2BIG,
			"a %s message of %zu bytes, above max_message %zu",
			dx_op_name(opcode), total, c->max_message);
	/* The common case, one plain frame: straight into w, no scratch. */
	if (!(flags & DX_HBTP_COMPRESSED) && total <= c->max_frame) {
		if (dx_cbuf_reserve(&c->w, DX_HBTP_HEADER_SIZE + total))
			return dx_client_fail(c, -ENOMEM, "out of memory");
		dx_client_put_header(c, opcode, flags, seq, total);
		dx_cbuf_put(&c->w, m->meta, m->meta_len);
		dx_cbuf_put(&c->w, m->pre, m->pre_len);
		dx_cbuf_put(&c->w, m->data, m->n);
		return 0;
	}
	int rc = flags & DX_HBTP_COMPRESSED ? dx_client_build_compressed(c, m) :
					      dx_client_build_plain(c, m);
	if (rc < 0)
		return rc;
	if (c->s.len > c->max_message)
		return dx_client_fail(
			c, -E2BIG,
			"a %s message of %zu bytes, above max_message %zu",
			dx_op_name(opcode), c->s.len, c->max_message);
	if (dx_client_is_control(opcode) && c->s.len > c->max_frame)
		return dx_client_fail(
			c, -E2BIG,
			"a %s of %zu bytes: control frames are never split (max_frame %u)",
			dx_op_name(opcode), c->s.len, c->max_frame);
	return dx_client_emit_split(c, opcode, flags, seq);
}

int dx_client_send(dx_client *c, uint8_t opcode, uint8_t flags, uint16_t seq,
		   const uint8_t *meta, size_t meta_len, const void *payload,
		   size_t n)
{
	struct dx_parts m = {meta, meta ? meta_len : 0, NULL, 0, payload, n};
	return dx_client_send_parts(c, opcode, flags, seq, &m);
}

int dx_client_call(dx_client *c, uint16_t route_id, const void *args, size_t n,
		   uint8_t flags_extra, uint16_t *seq)
{
	uint8_t route[2];
	dx_hbtp_put_le16(route, route_id);
	struct dx_parts m = {c->meta, c->meta_len, route, 2, args, n};
	uint16_t s = c->next_seq;
	int rc = dx_client_send_parts(c, DX_HBTP_RPC_CALL,
				      DX_HBTP_EXPECTS_RESPONSE | flags_extra, s,
				      &m);
	if (rc < 0)
		return rc;
	c->next_seq++;
	if (seq)
		*seq = s;
	return 0;
}

int dx_client_ping(dx_client *c, const void *data, size_t n, uint16_t *seq)
{
	uint16_t s = c->next_seq;
	int rc = dx_client_send(c, DX_HBTP_PING, 0, s, NULL, 0, data, n);
	if (rc < 0)
		return rc;
	c->next_seq++;
	if (seq)
		*seq = s;
	return 0;
}

/* --- reading bytes --- */

/* One non-blocking read into r: 1 got bytes, 0 nothing yet, < 0 error.
 * Moves what is left of r to the front first, so pointers into r from
 * before are stale afterwards. */
static int dx_client_read_once(dx_client *c)
{
	if (c->r_off) {
		memmove(c->r.p, c->r.p + c->r_off, c->r.len - c->r_off);
		c->r.len -= c->r_off;
		c->r_off = 0;
	}
	if (dx_cbuf_reserve(&c->r, DX_CLIENT_READ_CHUNK))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	ssize_t k = recv(c->fd, c->r.p + c->r.len, c->r.cap - c->r.len, 0);
	if (k > 0) {
		c->r.len += (size_t)k;
		return 1;
	}
	if (k == 0) {
		dx_client_fail(c, -ECONNRESET,
			       "the server closed the connection");
		return dx_client_kill(c, -ECONNRESET);
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	dx_client_fail(c, -errno, "recv: %s", strerror(errno));
	return dx_client_kill(c, -errno);
}

/* Read until at least one byte came, or deadline. */
static int dx_client_fill(dx_client *c, int64_t deadline)
{
	for (;;) {
		int rc = dx_client_read_once(c);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		short rev;
		rc = dx_wait_fd(c->fd, POLLIN, deadline, &rev);
		if (rc < 0)
			return dx_client_fail(
				c, rc, "%s",
				rc == -ETIMEDOUT ?
					"timed out waiting for the server" :
					strerror(-rc));
	}
}

/* Bytes received but not yet split into frames, kept while flushing: past
 * this, flush stops reading and only writes. */
static size_t dx_client_read_ahead(const dx_client *c)
{
	return (size_t)c->max_frame + DX_HBTP_HEADER_SIZE +
	       4 * DX_CLIENT_READ_CHUNK;
}

static int dx_client_flush_until(dx_client *c, int64_t deadline)
{
	while (c->w_off < c->w.len) {
		ssize_t k = send(c->fd, c->w.p + c->w_off, c->w.len - c->w_off,
				 MSG_NOSIGNAL);
		if (k > 0) {
			c->w_off += (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			dx_client_fail(c, -errno, "send: %s", strerror(errno));
			return dx_client_kill(c, -errno);
		}
		/* Read while the peer is not reading: it may be waiting for
		 * us to take its answers before it takes more requests. */
		bool room = c->r.len - c->r_off < dx_client_read_ahead(c);
		short rev = 0;
		int rc = dx_wait_fd(c->fd, POLLOUT | (room ? POLLIN : 0),
				    deadline, &rev);
		if (rc < 0)
			return dx_client_fail(
				c, rc, "%s",
				rc == -ETIMEDOUT ?
					"timed out writing to the server" :
					strerror(-rc));
		if ((rev & POLLIN) && room && (rc = dx_client_read_once(c)) < 0)
			return rc;
	}
	c->w.len = c->w_off = 0;
	return 0;
}

int dx_client_flush(dx_client *c, int timeout_ms)
{
	if (c->dead)
		return c->dead;
	return dx_client_flush_until(c, dx_deadline(timeout_ms));
}

/* --- frames and messages --- */

static int dx_client_next_frame(dx_client *c, dx_hbtp_header *h,
				const uint8_t **body, int64_t deadline)
{
	for (;;) {
		long n = dx_hbtp_frame_split(c->r.p + c->r_off,
					     c->r.len - c->r_off, c->max_frame,
					     h, body);
		if (n > 0) {
			c->r_off += (size_t)n;
			return 0;
		}
		if (n < 0) {
			dx_client_fail(
				c, -E2BIG,
				"the server sent a frame of %u bytes, above max_frame %u",
				h->length, c->max_frame);
			return dx_client_kill(c, -E2BIG);
		}
		int rc = dx_client_fill(c, deadline);
		if (rc < 0)
			return rc;
	}
}

/* The reassembly buffer exists before the first fragment needs it. */
static int dx_client_reasm_ready(dx_client *c, const dx_hbtp_header *h)
{
	if (c->reasm_buf || (h->flags & DX_HBTP_FINAL) ||
	    dx_client_is_control(h->opcode))
		return 0;
	c->reasm_buf = malloc(c->max_message);
	if (!c->reasm_buf)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	dx_hbtp_reasm_init(&c->reasm, c->reasm_buf, c->max_message);
	return 0;
}

/* The next whole message from the socket, raw (meta and LZ4 untouched).
 * *body points into r or the reassembly buffer. */
static int dx_client_next_raw(dx_client *c, dx_hbtp_header *h,
			      const uint8_t **body, size_t *len,
			      int64_t deadline)
{
	for (;;) {
		dx_hbtp_header fh;
		const uint8_t *fb = NULL;
		int rc = dx_client_next_frame(c, &fh, &fb, deadline);
		if (rc == 0)
			rc = dx_client_reasm_ready(c, &fh);
		if (rc < 0)
			return rc;
		rc = dx_hbtp_reasm_push(&c->reasm, &fh, fb, h, body, len);
		if (rc == DX_HBTP_REASM_COMPLETE)
			return 0;
		if (rc == -E2BIG)
			return dx_client_fail(
				c, rc,
				"the server sent a split message above max_message %zu (seq %u)",
				c->max_message, fh.seq);
		if (rc < 0)
			return dx_client_fail(
				c, rc,
				"the server interleaved frames of seq %u with a split message of seq %u",
				fh.seq, c->reasm.first.seq);
	}
}

/* The status (RpcError) or code (Close) in front of the text. */
static int dx_client_take_status(dx_client *c, dx_client_msg *m)
{
	if (m->opcode != DX_HBTP_RPC_ERROR && m->opcode != DX_HBTP_CLOSE)
		return 0;
	if (m->len < 2)
		return dx_client_fail(
			c, DX_EPROTO,
			"the server sent a %s of %zu bytes, shorter than its status",
			dx_op_name(m->opcode), m->len);
	m->status = dx_hbtp_le16(m->payload);
	m->payload += 2;
	m->len -= 2;
	return 0;
}

static int dx_client_inflate(dx_client *c, dx_client_msg *m)
{
	if (!c->inflated && !(c->inflated = malloc(c->max_message)))
		return dx_client_fail(c, -ENOMEM, "out of memory");
	long k = dx_hbtp_decompress(m->payload, m->len, c->inflated,
				    c->max_message);
	if (k == -E2BIG)
		return dx_client_fail(
			c, -E2BIG,
			"a compressed %s (seq %u) inflates past max_message %zu",
			dx_op_name(m->opcode), m->seq, c->max_message);
	if (k < 0)
		return dx_client_fail(
			c, (int)k,
			"a %s (seq %u) flagged COMPRESSED is not a valid LZ4 frame",
			dx_op_name(m->opcode), m->seq);
	m->payload = c->inflated;
	m->len = (size_t)k;
	return 0;
}

/* A raw message into *m: metadata parsed, payload inflated, status split
 * off. */
static int dx_client_decode(dx_client *c, const dx_hbtp_header *h,
			    const uint8_t *body, size_t len, dx_client_msg *m)
{
	m->opcode = h->opcode;
	m->flags = h->flags;
	m->seq = h->seq;
	m->status = 0;
	m->meta.count = 0;
	m->payload = body;
	m->len = len;
	if (h->flags & DX_HBTP_HAS_META) {
		const char *why = "";
		long k = dx_hbtp_meta_parse(body, len, &m->meta, &why);
		if (k < 0)
			return dx_client_fail(
				c, (int)k,
				"the server sent a %s (seq %u) with bad metadata: %s",
				dx_op_name(h->opcode), h->seq, why);
		m->payload += k;
		m->len -= (size_t)k;
	}
	if (h->flags & DX_HBTP_COMPRESSED) {
		int rc = dx_client_inflate(c, m);
		if (rc < 0)
			return rc;
	}
	return dx_client_take_status(c, m);
}

/* --- the queue of kept messages --- */

static int dx_client_keep(dx_client *c, const dx_hbtp_header *h,
			  const uint8_t *body, size_t len)
{
	if (c->q_len >= c->max_queued)
		return dx_client_fail(
			c, -ENOBUFS,
			"more than %u messages for other seqs are waiting: recv them",
			c->max_queued);
	struct dx_kept *k = malloc(sizeof *k + len);
	if (!k)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	k->next = NULL;
	k->h = *h;
	k->len = len;
	if (len)
		memcpy(k->data, body, len);
	if (c->q_tail)
		c->q_tail->next = k;
	else
		c->q_head = k;
	c->q_tail = k;
	c->q_len++;
	return 0;
}

/* Unlink the first kept message with seq (any seq when !match), or NULL. */
static struct dx_kept *dx_client_unkeep(dx_client *c, bool match, uint16_t seq)
{
	struct dx_kept *prev = NULL, *k = c->q_head;
	while (k && match && k->h.seq != seq) {
		prev = k;
		k = k->next;
	}
	if (!k)
		return NULL;
	if (prev)
		prev->next = k->next;
	else
		c->q_head = k->next;
	if (c->q_tail == k)
		c->q_tail = prev;
	c->q_len--;
	return k;
}

/* What every receive does first: the last message's memory goes, pending
 * sends go out. */
static int dx_client_begin_recv(dx_client *c, int64_t deadline)
{
	dx_client_release_held(c);
	if (c->dead)
		return c->dead;
	c->err[0] = '\0';
	return dx_client_flush_until(c, deadline);
}

static int dx_client_hand_out(dx_client *c, struct dx_kept *k,
			      dx_client_msg *msg)
{
	c->held = k;
	return dx_client_decode(c, &k->h, k->data, k->len, msg);
}

int dx_client_recv(dx_client *c, dx_client_msg *msg, int timeout_ms)
{
	int64_t deadline = dx_deadline(timeout_ms);
	int rc = dx_client_begin_recv(c, deadline);
	if (rc < 0)
		return rc;
	struct dx_kept *k = dx_client_unkeep(c, false, 0);
	if (k)
		return dx_client_hand_out(c, k, msg);
	dx_hbtp_header h;
	const uint8_t *body;
	size_t len;
	rc = dx_client_next_raw(c, &h, &body, &len, deadline);
	if (rc < 0)
		return rc;
	return dx_client_decode(c, &h, body, len, msg);
}

int dx_client_wait(dx_client *c, uint16_t seq, dx_client_msg *msg,
		   int timeout_ms)
{
	int64_t deadline = dx_deadline(timeout_ms);
	int rc = dx_client_begin_recv(c, deadline);
	if (rc < 0)
		return rc;
	struct dx_kept *k = dx_client_unkeep(c, true, seq);
	if (k)
		return dx_client_hand_out(c, k, msg);
	for (;;) {
		dx_hbtp_header h;
		const uint8_t *body;
		size_t len;
		rc = dx_client_next_raw(c, &h, &body, &len, deadline);
		if (rc < 0)
			return rc;
		if (h.seq == seq || h.opcode == DX_HBTP_CLOSE)
			return dx_client_decode(c, &h, body, len, msg);
		rc = dx_client_keep(c, &h, body, len);
		if (rc < 0)
			return rc;
	}
}

int dx_client_routes(dx_client *c, char **json, size_t *len, int timeout_ms)
{
	*json = NULL;
	*len = 0;
	uint16_t seq;
	dx_client_msg m;
	int rc = dx_client_call(c, 0, NULL, 0, 0, &seq);
	if (rc == 0)
		rc = dx_client_wait(c, seq, &m, timeout_ms);
	if (rc < 0)
		return rc;
	if (m.opcode == DX_HBTP_RPC_ERROR)
		return dx_client_fail(
			c, DX_EPROTO,
			"route 0 (the route table): error %u: %.*s", m.status,
			(int)(m.len > 200 ? 200 : m.len),
			(const char *)m.payload);
	if (m.opcode != DX_HBTP_RPC_RESPONSE)
		return dx_client_fail(
			c, DX_EPROTO,
			"route 0 (the route table): the server answered %s",
			dx_op_name(m.opcode));
	*json = malloc(m.len + 1);
	if (!*json)
		return dx_client_fail(c, -ENOMEM, "out of memory");
	if (m.len)
		memcpy(*json, m.payload, m.len);
	(*json)[m.len] = '\0';
	*len = m.len;
	return 0;
}
