/* ready.c - the readiness core (ready.h): the completion ring, the fd
 * table and ready list, receive buffers, queueing operations, timeouts,
 * and an instance's set-up and release. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ready.h"

uint64_t rd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the completion ring ---- */

int rd_ring_room(struct rd *rd, size_t n)
{
	if (rd->ring_len + n <= rd->ring_cap)
		return 0;
	size_t cap = rd->ring_cap ? rd->ring_cap : 256;
	while (cap < rd->ring_len + n)
		cap *= 2;
	dx_io_cqe *r = malloc(cap * sizeof *r);
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < rd->ring_len; i++)
		r[i] = rd->ring[(rd->ring_head + i) % rd->ring_cap];
	free(rd->ring);
	rd->ring = r;
	rd->ring_cap = cap;
	rd->ring_head = 0;
	return 0;
}

void rd_post(struct rd *rd, uint8_t op, int32_t result, uint64_t udata,
	     uint32_t flags)
{
	size_t at = (rd->ring_head + rd->ring_len) % rd->ring_cap;
	rd->ring[at] = (dx_io_cqe){
		.udata = udata, .result = result, .op = op, .flags = flags};
	rd->ring_len++;
}

unsigned rd_reap(struct rd *rd, dx_io_cqe *cqes, unsigned max)
{
	unsigned k = 0;
	for (; k < max && rd->ring_len; k++) {
		cqes[k] = rd->ring[rd->ring_head];
		rd->ring_head = (rd->ring_head + 1) % rd->ring_cap;
		rd->ring_len--;
	}
	return k;
}

/* ---- the fd table and the ready list ---- */

struct rd_fd *rd_fd_get(struct rd *rd, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd < rd->nfds)
		return &rd->fds[fd];
	size_t n = rd->nfds ? rd->nfds * 2 : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct rd_fd *f = realloc(rd->fds, n * sizeof *f);
	if (!f)
		return NULL;
	rd->fds = f;
	int *r = realloc(rd->ready, n * sizeof *r); /* never overflows */
	if (!r)
		return NULL; /* fds grew but nfds did not: harmless */
	rd->ready = r;
	memset(f + rd->nfds, 0, (n - rd->nfds) * sizeof *f);
	rd->nfds = n;
	return &rd->fds[fd];
}

void rd_ready_push(struct rd *rd, int fd)
{
	struct rd_fd *st = &rd->fds[fd];
	if (!st->queued) {
		st->queued = true;
		rd->ready[rd->nready++] = fd;
	}
}

bool rd_has_work(const struct rd_fd *st)
{
	return (st->poll_armed && (st->poll_check || st->poll_revents)) ||
	       (st->rd_ready &&
		((st->acc_armed && !st->acc_backoff) || st->recv_armed)) ||
	       (st->wr_ready && st->sq_head);
}

/* The host may close an idle fd and reuse its number: the next arm
 * registers (and prepares) it again. */
void rd_idle_check(struct rd_fd *st)
{
	if (!st->acc_armed && !st->recv_armed && !st->poll_armed &&
	    !st->sq_head)
		st->reg = st->prepared = false;
}

size_t rd_fd_ops(const struct rd_fd *st)
{
	size_t n = (size_t)st->acc_armed + st->recv_armed + st->poll_armed;
	for (const struct rd_send *s = st->sq_head; s; s = s->next)
		n++;
	return n;
}

/* ---- receive buffers ---- */

void rd_buf_release(struct rd *rd, uint16_t buf_id)
{
	if (buf_id >= rd->buf_count || !rd->lent[buf_id]) {
		rd->host->log(rd->host, DX_LOG_ERROR,
			      "worker %d: buf_release(%u): not a lent buffer",
			      rd->worker, (unsigned)buf_id);
		return;
	}
	rd->lent[buf_id] = 0;
	rd->free_ids[rd->nfree++] = buf_id;
}

/* ---- queueing operations ---- */

/* Look fd up and have the backend register it. */
int rd_fd_arm(struct rd *rd, int fd, struct rd_fd **out)
{
	if (fd < 0)
		return -EBADF;
	struct rd_fd *st = rd_fd_get(rd, fd);
	if (!st)
		return -ENOMEM;
	if (!st->reg) {
		int rc = rd->ops->arm(rd, fd, st);
		if (rc < 0)
			return rc;
	}
	*out = st;
	return 0;
}

/* fd's state if the table has it (nothing is armed on an fd it lacks). */
static const struct rd_fd *known(const struct rd *rd, int fd)
{
	return fd >= 0 && (size_t)fd < rd->nfds ? &rd->fds[fd] : NULL;
}

int rd_accept(struct rd *rd, int listen_fd, uint64_t udata)
{
	const struct rd_fd *k = known(rd, listen_fd);
	if (k && k->acc_armed)
		return -EALREADY;
	int fl = listen_fd < 0 ? -1 : fcntl(listen_fd, F_GETFL);
	if (fl < 0)
		return listen_fd < 0 ? -EBADF : -errno;
	/* accept4 has no per-call non-blocking flag: the listener's own. */
	if (!(fl & O_NONBLOCK) &&
	    fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	struct rd_fd *st;
	int rc = rd_fd_arm(rd, listen_fd, &st);
	if (rc < 0)
		return rc;
	st->acc_armed = true;
	st->acc_backoff = false;
	st->acc_udata = udata;
	st->rd_ready = true; /* try at once: the queue may hold some */
	rd_ready_push(rd, listen_fd);
	return 0;
}

int rd_recv(struct rd *rd, int fd, uint64_t udata)
{
	const struct rd_fd *k = known(rd, fd);
	if (k && k->recv_armed)
		return -EALREADY;
	struct rd_fd *st;
	int rc = rd_fd_arm(rd, fd, &st);
	if (rc < 0)
		return rc;
	int type = 0;
	socklen_t tlen = sizeof type;
	st->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
		     type == SOCK_STREAM;
	st->recv_armed = true;
	st->recv_udata = udata;
	st->rd_ready = true; /* try at once */
	rd_ready_push(rd, fd);
	return 0;
}

int rd_poll(struct rd *rd, int fd, uint32_t events, uint64_t udata)
{
	const struct rd_fd *k = known(rd, fd);
	if (k && k->poll_armed)
		return -EALREADY;
	struct rd_fd *st;
	int rc = rd_fd_arm(rd, fd, &st);
	if (rc < 0)
		return rc;
	st->poll_armed = true;
	st->poll_check = true;
	st->poll_events = events;
	st->poll_revents = 0;
	st->poll_udata = udata;
	rd_ready_push(rd, fd);
	return 0;
}

/* ---- timeouts: libdx's timer heap, indexed by udata ---- */

int rd_timeout(struct rd *rd, uint64_t ns, uint64_t udata)
{
	uint64_t now = rd_now_ns(); /* counts from here, not from submit */
	uint64_t dl = ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns;
	return dx_timer_heap_add(&rd->timers, dl, udata, NULL, NULL);
}

int rd_timeout_cancel(struct rd *rd, uint64_t udata)
{
	if (!dx_timer_heap_has(&rd->timers, udata))
		return -ENOENT;
	if (rd_ring_room(rd, 1) < 0)
		return -ENOMEM;
	dx_timer_heap_cancel(&rd->timers, udata);
	rd_post(rd, DX_IO_TIMEOUT, -ECANCELED, udata, 0);
	return 0;
}

void rd_timers_fire(struct rd *rd, uint64_t now)
{
	dx_timer t;
	while (rd->timers.count && dx_timer_heap_next(&rd->timers) <= now) {
		if (rd_ring_room(rd, 1) < 0)
			return;
		dx_timer_heap_pop_due(&rd->timers, now, &t);
		rd_post(rd, DX_IO_TIMEOUT, 0, t.udata, 0);
	}
}

/* ---- instances ---- */

/* A member of params, or 0 when the caller's struct is too old for it. */
#define PARAM(p, m)                                                            \
	((p) && (p)->size >= offsetof(dx_io_params, m) + sizeof((p)->m) ?      \
		 (p)->m :                                                      \
		 0)

int rd_init(struct rd *rd, const dx_host_api *host, const char *plugin,
	    const dx_io_params *params, const struct rd_ops *ops)
{
	uint32_t count = PARAM(params, buf_count);
	uint32_t size = PARAM(params, buf_size);
	uint32_t depth = PARAM(params, queue_depth);
	count = count ? count : RD_DEFAULT_BUF_COUNT;
	size = size ? size : RD_DEFAULT_BUF_SIZE;
	*rd = (struct rd){
		.host = host, .worker = PARAM(params, worker), .ops = ops};
	dx_timer_heap_init(&rd->timers, DX_TIMER_HEAP_BY_UDATA);
	if (count > RD_MAX_BUF_COUNT || size > INT32_MAX)
		return host->fail(host, -EINVAL,
				  "%s: buf_count %u (at most %u) or buf_size "
				  "%u (at most %d) too large",
				  plugin, count, RD_MAX_BUF_COUNT, size,
				  INT32_MAX);
	rd->buf_count = count;
	rd->buf_size = size;
	rd->bufs = malloc((size_t)count * size);
	rd->free_ids = malloc(count * sizeof *rd->free_ids);
	rd->lent = calloc(count, 1);
	if (!rd->bufs || !rd->free_ids || !rd->lent ||
	    rd_ring_room(rd, depth > 128 ? 2 * (size_t)depth : 256) < 0)
		return -ENOMEM;
	/* Lend low ids first (a stack: push in reverse). */
	for (uint32_t i = 0; i < count; i++)
		rd->free_ids[i] = (uint16_t)(count - 1 - i);
	rd->nfree = count;
	return 0;
}

void rd_free(struct rd *rd)
{
	/* Connections accepted but never handed out would leak. */
	for (size_t i = 0; i < rd->ring_len; i++) {
		const dx_io_cqe *c =
			&rd->ring[(rd->ring_head + i) % rd->ring_cap];
		if (c->op == DX_IO_ACCEPT && c->result >= 0)
			close(c->result);
	}
	for (size_t fd = 0; fd < rd->nfds; fd++) {
		struct rd_fd *st = &rd->fds[fd];
		while (st->sq_head) {
			struct rd_send *s = st->sq_head;
			st->sq_head = s->next;
			free(s);
		}
	}
	while (rd->spare) {
		struct rd_send *s = rd->spare;
		rd->spare = s->next;
		free(s);
	}
	free(rd->fds);
	free(rd->ready);
	free(rd->ring);
	free(rd->bufs);
	free(rd->free_ids);
	free(rd->lent);
	dx_timer_heap_free(&rd->timers);
}
