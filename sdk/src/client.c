/* client.c - the blocking HBTP client of dx/client.h: connecting (through
 * dx/addr.h), limits, closing, and the helpers client_send.c and
 * client_recv.c share.
 *
 * The socket is non-blocking and every wait is a poll (sock.h) with what
 * is left of the caller's timeout, so no call blocks longer than it was
 * told. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/addr.h>
#include <dx/client.h>

#include "client_int.h"
#include "sock.h"

/* --- small helpers --- */

int dx_client_fail(dx_client *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return code;
}

/* The stream cannot go on (peer gone, oversize frame): every later call
 * fails with code. The caller has written c->err. */
int dx_client_kill(dx_client *c, int code)
{
	c->dead = code;
	return code;
}

/* For messages: "RpcCall", or "frame" for an opcode v1 does not define. */
const char *dx_op_name(uint8_t opcode)
{
	const char *name = dx_hbtp_opcode_name(opcode);
	return name ? name : "frame";
}

/* Poll one fd for events until deadline: 1 ready, -ETIMEDOUT, -errno. */
int dx_wait_fd(int fd, short events, int64_t deadline, short *revents)
{
	for (;;) {
		int n = dx_sock_poll(fd, events, dx_deadline_left(deadline),
				     revents);
		if (n > 0)
			return 1;
		if (n == 0)
			return -ETIMEDOUT;
		if (n != -EINTR)
			return n;
	}
}

/* --- connecting --- */

/* addr parsed and connected (dx/addr.h), the socket into c->fd. */
static int dx_client_open(dx_client *c, const char *addr, int timeout_ms)
{
	dx_addr a;
	int rc = dx_addr_parse(addr, &a);
	if (rc < 0) {
		dx_addr_message(rc, addr, c->err, sizeof c->err);
		return -EINVAL;
	}
	rc = dx_addr_connect(&a, timeout_ms, c->err, sizeof c->err);
	if (rc < 0)
		return rc;
	c->fd = rc;
	return 0;
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
	int rc = dx_client_open(c, addr, timeout_ms);
	if (rc < 0) {
		if (errlen)
			snprintf(err, errlen, "%s", c->err);
		dx_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void dx_client_release_held(dx_client *c)
{
	free(c->held);
	c->held = NULL;
}

void dx_client_close(dx_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		dx_sock_close(c->fd);
	dx_client_release_held(c);
	while (c->q_head) {
		struct dx_kept *k = c->q_head;
		c->q_head = k->next;
		free(k);
	}
	dx_buf_free(&c->w);
	dx_buf_free(&c->r);
	dx_buf_free(&c->s);
	dx_buf_free(&c->z);
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
