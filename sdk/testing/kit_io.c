/* kit_io.c - the test kit's IO backend: connections in memory.
 *
 * The worker the kit runs is the host's own (worker.c's turn, conn.c,
 * pipeline.c, async.c); only its backend is this one. It speaks the
 * dx_io_vtable contract (dx/io.h) for the operations a worker without
 * listeners uses:
 *   recv   multishot: bytes the kit fed for the fd (kit_io_feed) come back
 *          as DX_IO_F_BUFFER completions, at most KIT_CHUNK bytes each;
 *   send   the bytes go to the kit's sink at once (as a copying backend,
 *          so never DX_IO_F_MORE), completing with len;
 *   poll   real fds (host->watch), multishot, level-triggered via poll(2);
 *   wake   an eventfd, so posts and answers completed on other threads
 *          end a wait;
 *   detach cancels recv and poll with -ECANCELED.
 * accept never completes (there are no listeners); timeouts are refused
 * (the host keeps its own timers).
 *
 * Worker thread only (the kit's caller), but wake, which any thread may
 * call. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <dx/buf.h>

#include "kit_int.h"

#define KIT_CHUNK 16384u
#define KIT_POLL_MAX 64

typedef struct kit_fd {
	int fd;
	bool recv;
	uint64_t recv_ud;
	dx_buf in; /* fed, not yet handed to the worker */
	bool poll;
	uint32_t events;
	uint64_t poll_ud;
} kit_fd;

struct dx_io {
	int wake_fd;
	kit_fd *fds;
	size_t nfds;
	dx_io_cqe *q; /* completions ready for the next wait */
	size_t qlen, qcap;
	uint8_t **lent; /* receive buffers by id, until buf_release */
	size_t nlent;
	kit_sink_fn sink;
	void *sink_ud;
	int max_wait_ms; /* the kit's own bound on a wait; -1: none */
	unsigned last;   /* completions the last wait returned */
};

static kit_fd *kit_fd_get(dx_io *io, int fd, bool make)
{
	for (size_t i = 0; i < io->nfds; i++)
		if (io->fds[i].fd == fd)
			return &io->fds[i];
	if (!make)
		return NULL;
	kit_fd *t = realloc(io->fds, (io->nfds + 1) * sizeof *t);
	if (!t)
		return NULL;
	io->fds = t;
	t[io->nfds] = (kit_fd){.fd = fd};
	return &t[io->nfds++];
}

static int kit_push(dx_io *io, dx_io_cqe e)
{
	if (io->qlen == io->qcap) {
		size_t cap = io->qcap ? io->qcap * 2 : 64;
		dx_io_cqe *t = realloc(io->q, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		io->q = t;
		io->qcap = cap;
	}
	io->q[io->qlen++] = e;
	return 0;
}

static int kit_probe(void *self, char *why, size_t why_len)
{
	return 0;
}

static int kit_create(void *self, const dx_io_params *params, dx_io **out)
{
	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->wake_fd < 0) {
		int rc = -errno;
		free(io);
		return rc;
	}
	io->max_wait_ms = -1;
	*out = io;
	return 0;
}

static void kit_destroy(dx_io *io)
{
	for (size_t i = 0; i < io->nfds; i++)
		dx_buf_free(&io->fds[i].in);
	for (size_t i = 0; i < io->nlent; i++)
		free(io->lent[i]);
	free(io->lent);
	free(io->fds);
	free(io->q);
	close(io->wake_fd);
	free(io);
}

static int kit_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	return 0; /* the kit has no listeners: never completes */
}

static int kit_recv(dx_io *io, int fd, uint64_t udata)
{
	kit_fd *f = kit_fd_get(io, fd, true);
	if (!f)
		return -ENOMEM;
	f->recv = true;
	f->recv_ud = udata;
	return 0;
}

static int kit_send(dx_io *io, int fd, const void *buf, size_t len,
		    uint64_t udata, uint32_t flags)
{
	if (io->sink)
		io->sink(io->sink_ud, fd, buf, len);
	return kit_push(io, (dx_io_cqe){.udata = udata,
					.result = (int32_t)len,
					.op = DX_IO_SEND});
}

static int kit_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	kit_fd *f = kit_fd_get(io, fd, true);
	if (!f)
		return -ENOMEM;
	f->poll = true;
	f->events = events;
	f->poll_ud = udata;
	return 0;
}

static int kit_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	return -ENOTSUP;
}

static int kit_timeout_cancel(dx_io *io, uint64_t udata)
{
	return -ENOTSUP;
}

static int kit_detach(dx_io *io, int fd)
{
	kit_fd *f = kit_fd_get(io, fd, false);
	if (!f)
		return 0;
	int rc = 0;
	if (f->recv)
		rc = kit_push(io, (dx_io_cqe){.udata = f->recv_ud,
					      .result = -ECANCELED,
					      .op = DX_IO_RECV});
	if (f->poll && rc == 0)
		rc = kit_push(io, (dx_io_cqe){.udata = f->poll_ud,
					      .result = -ECANCELED,
					      .op = DX_IO_POLL});
	f->recv = f->poll = false;
	f->in.len = 0;
	return rc;
}

static int kit_submit(dx_io *io)
{
	return 0;
}

/* Fed bytes for every armed recv, as lent buffers. */
static void kit_deliver(dx_io *io)
{
	for (size_t i = 0; i < io->nfds; i++) {
		kit_fd *f = &io->fds[i];
		size_t off = 0;
		while (f->recv && off < f->in.len) {
			size_t n = f->in.len - off;
			n = n > KIT_CHUNK ? KIT_CHUNK : n;
			uint8_t **t =
				realloc(io->lent, (io->nlent + 1) * sizeof *t);
			uint8_t *b = malloc(n);
			if (!t || !b) {
				free(b);
				if (t)
					io->lent = t;
				break; /* tried again at the next wait */
			}
			io->lent = t;
			memcpy(b, f->in.p + off, n);
			t[io->nlent] = b;
			dx_io_cqe e = {.udata = f->recv_ud,
				       .result = (int32_t)n,
				       .op = DX_IO_RECV,
				       .buf_id = (uint16_t)io->nlent,
				       .flags = DX_IO_F_MORE | DX_IO_F_BUFFER,
				       .data = b};
			if (kit_push(io, e) < 0) {
				free(b);
				break;
			}
			io->nlent++;
			off += n;
		}
		memmove(f->in.p, f->in.p + off, f->in.len - off);
		f->in.len -= off;
	}
}

static uint32_t kit_revents(short re)
{
	return ((re & POLLIN) ? DX_IO_POLLIN : 0) |
	       ((re & POLLOUT) ? DX_IO_POLLOUT : 0) |
	       ((re & POLLERR) ? DX_IO_POLLERR : 0) |
	       ((re & POLLHUP) ? DX_IO_POLLHUP : 0);
}

/* poll(2) the wake fd and the watched fds; ready ones become completions. */
static void kit_poll_fds(dx_io *io, int timeout_ms)
{
	struct pollfd p[KIT_POLL_MAX + 1];
	kit_fd *who[KIT_POLL_MAX + 1];
	nfds_t n = 0;
	p[n++] = (struct pollfd){.fd = io->wake_fd, .events = POLLIN};
	for (size_t i = 0; i < io->nfds && n <= KIT_POLL_MAX; i++) {
		kit_fd *f = &io->fds[i];
		if (!f->poll)
			continue;
		who[n] = f;
		p[n++] = (struct pollfd){
			.fd = f->fd,
			.events =
				(short)(((f->events & DX_IO_POLLIN) ? POLLIN :
								      0) |
					((f->events & DX_IO_POLLOUT) ? POLLOUT :
								       0))};
	}
	if (poll(p, n, timeout_ms) <= 0)
		return;
	if (p[0].revents) {
		uint64_t v;
		ssize_t r = read(io->wake_fd, &v, sizeof v);
		(void)r;
		kit_push(io, (dx_io_cqe){.op = DX_IO_WAKE});
	}
	for (nfds_t i = 1; i < n; i++)
		if (p[i].revents)
			kit_push(io, (dx_io_cqe){.udata = who[i]->poll_ud,
						 .result = (int32_t)kit_revents(
							 p[i].revents),
						 .op = DX_IO_POLL,
						 .flags = DX_IO_F_MORE});
}

static int kit_wait(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms)
{
	/* The lent buffers of the last wait are all back by now. */
	for (size_t i = 0; i < io->nlent; i++)
		free(io->lent[i]);
	io->nlent = 0;
	kit_deliver(io);
	if (io->max_wait_ms >= 0 &&
	    (timeout_ms < 0 || timeout_ms > io->max_wait_ms))
		timeout_ms = io->max_wait_ms;
	kit_poll_fds(io, io->qlen ? 0 : timeout_ms);
	unsigned n = io->qlen < max ? (unsigned)io->qlen : max;
	memcpy(cqes, io->q, n * sizeof *cqes);
	memmove(io->q, io->q + n, (io->qlen - n) * sizeof *io->q);
	io->qlen -= n;
	io->last = n;
	return (int)n;
}

static void kit_buf_release(dx_io *io, uint16_t buf_id)
{
	if (buf_id < io->nlent) {
		free(io->lent[buf_id]);
		io->lent[buf_id] = NULL;
	}
}

static int kit_wake(dx_io *io)
{
	uint64_t one = 1;
	return write(io->wake_fd, &one, sizeof one) < 0 ? -errno : 0;
}

const dx_io_vtable kit_io_vtable = {
	.size = sizeof(dx_io_vtable),
	.caps = DX_IO_CAP_MULTISHOT_RECV,
	.probe = kit_probe,
	.create = kit_create,
	.destroy = kit_destroy,
	.accept = kit_accept,
	.recv = kit_recv,
	.send = kit_send,
	.poll = kit_poll,
	.timeout = kit_timeout,
	.timeout_cancel = kit_timeout_cancel,
	.detach = kit_detach,
	.submit = kit_submit,
	.wait = kit_wait,
	.buf_release = kit_buf_release,
	.wake = kit_wake,
};

void kit_io_set_sink(dx_io *io, kit_sink_fn fn, void *ud)
{
	io->sink = fn;
	io->sink_ud = ud;
}

int kit_io_feed(dx_io *io, int fd, const void *data, size_t len)
{
	kit_fd *f = kit_fd_get(io, fd, true);
	return f ? dx_buf_append(&f->in, data, len) : -ENOMEM;
}

void kit_io_max_wait(dx_io *io, int ms)
{
	io->max_wait_ms = ms;
}

unsigned kit_io_last(const dx_io *io)
{
	return io->last;
}

bool kit_io_has_input(const dx_io *io)
{
	for (size_t i = 0; i < io->nfds; i++)
		if (io->fds[i].recv && io->fds[i].in.len)
			return true;
	return io->qlen > 0;
}
