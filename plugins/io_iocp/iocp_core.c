/* iocp_core.c - an instance's completion ring, lent buffers, timers,
 * wake, and the wait loop: GetQueuedCompletionStatusEx in batches of
 * IC_DEQUEUE, each packet turned into completions by the file whose
 * operation it is, timers fired from libdx's heap (dx/timer_heap.h, by
 * udata, so timeout_cancel is O(log n)) with the earliest deadline as the
 * dequeue's timeout.
 *
 * Time: QueryPerformanceCounter in nanoseconds. The dequeue's timeout is
 * in milliseconds, rounded up, so a timer fires up to a millisecond late
 * (plus the system's timer resolution, 15.6 ms by default on Windows;
 * wine sleeps as Linux does), never early.
 *
 * Threads: the instance's, except ic_wake (any thread). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "iocp.h"

static LARGE_INTEGER freq; /* fixed at boot; set once (ic_clock_init) */
static INIT_ONCE freq_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK freq_init(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
	(void)once;
	(void)arg;
	(void)ctx;
	QueryPerformanceFrequency(&freq);
	return TRUE;
}

void ic_clock_init(void)
{
	InitOnceExecuteOnce(&freq_once, freq_init, NULL, NULL);
}

uint64_t ic_now_ns(void)
{
	LARGE_INTEGER t;
	QueryPerformanceCounter(&t);
	uint64_t f = (uint64_t)freq.QuadPart, c = (uint64_t)t.QuadPart;
	return c / f * 1000000000u + c % f * 1000000000u / f;
}

/* ---- the completion ring ---- */

int ic_ring_room(dx_io *io, size_t n)
{
	if (io->ring_len + n <= io->ring_cap)
		return 0;
	size_t cap = io->ring_cap ? io->ring_cap : 256;
	while (cap < io->ring_len + n)
		cap *= 2;
	dx_io_cqe *r = malloc(cap * sizeof *r);
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < io->ring_len; i++)
		r[i] = io->ring[(io->ring_head + i) % io->ring_cap];
	free(io->ring);
	io->ring = r;
	io->ring_cap = cap;
	io->ring_head = 0;
	return 0;
}

static dx_io_cqe *ring_slot(dx_io *io)
{
	if (ic_ring_room(io, 1) < 0) {
		io->host->log(io->host, DX_LOG_ERROR,
			      "worker %d: out of memory: a completion is lost",
			      io->worker);
		return NULL;
	}
	size_t at = (io->ring_head + io->ring_len) % io->ring_cap;
	io->ring_len++;
	return &io->ring[at];
}

void ic_post(dx_io *io, uint8_t op, int32_t result, uint64_t udata,
	     uint32_t flags)
{
	dx_io_cqe *c = ring_slot(io);
	if (c)
		*c = (dx_io_cqe){
			.udata = udata, .result = result, .op = op,
			.flags = flags};
}

void ic_post_data(dx_io *io, int32_t result, uint64_t udata, uint32_t flags,
		  uint16_t buf_id)
{
	dx_io_cqe *c = ring_slot(io);
	if (!c) {
		ic_buf_release(io, buf_id);
		return;
	}
	io->lent[buf_id] = 1;
	*c = (dx_io_cqe){.udata = udata,
			 .result = result,
			 .op = DX_IO_RECV,
			 .flags = flags | DX_IO_F_BUFFER,
			 .buf_id = buf_id,
			 .data = io->bufs + (size_t)buf_id * io->buf_size};
}

static unsigned ring_reap(dx_io *io, dx_io_cqe *cqes, unsigned max)
{
	unsigned k = 0;
	for (; k < max && io->ring_len; k++) {
		cqes[k] = io->ring[io->ring_head];
		io->ring_head = (io->ring_head + 1) % io->ring_cap;
		io->ring_len--;
	}
	return k;
}

/* ---- buffers ---- */

void ic_buf_release(dx_io *io, uint16_t buf_id)
{
	if (buf_id >= io->buf_count || !io->lent[buf_id])
		return; /* not lent: a host bug, ignored */
	io->lent[buf_id] = 0;
	io->free_ids[io->nfree++] = buf_id;
}

int ic_core_init(dx_io *io, const dx_io_params *params)
{
	uint32_t count = params->buf_count ? params->buf_count :
					     IC_DEFAULT_BUF_COUNT;
	uint32_t size = params->buf_size ? params->buf_size :
					   IC_DEFAULT_BUF_SIZE;
	if (count > IC_MAX_BUF_COUNT)
		return io->host->fail(io->host, -EINVAL,
				      "buf_count %u: at most %u", count,
				      IC_MAX_BUF_COUNT);
	if (size > INT32_MAX)
		return io->host->fail(io->host, -EINVAL,
				      "buf_size %u: too big", size);
	io->buf_count = count;
	io->buf_size = size;
	io->bufs = malloc((size_t)count * size);
	io->free_ids = malloc(count * sizeof *io->free_ids);
	io->lent = calloc(count, 1);
	if (!io->bufs || !io->free_ids || !io->lent)
		return -ENOMEM;
	/* Handed out lowest id first. */
	for (uint32_t i = 0; i < count; i++)
		io->free_ids[i] = (uint16_t)(count - 1 - i);
	io->nfree = count;
	dx_timer_heap_init(&io->timers, DX_TIMER_HEAP_BY_UDATA);
	size_t depth = params->queue_depth ? params->queue_depth : 256;
	return ic_ring_room(io, depth);
}

void ic_core_free(dx_io *io)
{
	dx_timer_heap_free(&io->timers);
	free(io->ring);
	free(io->bufs);
	free(io->free_ids);
	free(io->lent);
	while (io->spare) {
		struct ic_send *q = io->spare;
		io->spare = q->next;
		free(q);
	}
}

/* ---- timers ---- */

int ic_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	uint64_t now = ic_now_ns();
	uint64_t due = ns > UINT64_MAX - now ? UINT64_MAX - 1 : now + ns;
	/* Room now, so firing never fails for want of a slot. */
	if (ic_ring_room(io, io->timers.count + 1) < 0)
		return -ENOMEM;
	int rc = dx_timer_heap_add(&io->timers, due, udata, NULL, NULL);
	if (rc == 0)
		io->queued++;
	return rc;
}

int ic_timeout_cancel(dx_io *io, uint64_t udata)
{
	if (dx_timer_heap_cancel(&io->timers, udata) < 0)
		return -ENOENT; /* fired, or never armed */
	ic_post(io, DX_IO_TIMEOUT, -ECANCELED, udata, 0);
	return 0;
}

static void timers_fire(dx_io *io, uint64_t now)
{
	dx_timer t;
	while (dx_timer_heap_pop_due(&io->timers, now, &t))
		ic_post(io, DX_IO_TIMEOUT, 0, t.udata, 0);
}

/* ---- wake ---- */

int ic_wake(dx_io *io)
{
	/* Several wakes before a wait give one DX_IO_WAKE: only the first
	 * posts, until the wait takes the packet. */
	if (atomic_exchange(&io->wake_due, 1))
		return 0;
	if (!PostQueuedCompletionStatus(io->port, 0, IC_KEY_WAKE, NULL)) {
		atomic_store(&io->wake_due, 0);
		return -ic_errno(GetLastError());
	}
	return 0;
}

/* ---- dispatching packets ---- */

static void dispatch(dx_io *io, const OVERLAPPED_ENTRY *e)
{
	if (e->lpCompletionKey == IC_KEY_WAKE) {
		atomic_store(&io->wake_due, 0);
		ic_post(io, DX_IO_WAKE, 0, 0, 0);
		return;
	}
	if (e->lpCompletionKey == IC_KEY_HANDOFF) {
		ic_accept_handoff(io, e->lpOverlapped);
		return;
	}
	if (!e->lpOverlapped)
		return;
	struct ic_ov *o = (struct ic_ov *)e->lpOverlapped; /* first member */
	ic_ov_done(o);
	io->busy--;
	struct ic_sock *k;
	switch (o->kind) {
	case IC_OP_RECV:
		k = (struct ic_sock *)((char *)o -
				       offsetof(struct ic_sock, recv_op));
		ic_recv_done(io, k);
		break;
	case IC_OP_SEND:
		k = (struct ic_sock *)((char *)o -
				       offsetof(struct ic_sock, send_op));
		ic_send_done(io, k);
		break;
	case IC_OP_POLL:
		k = (struct ic_sock *)((char *)o -
				       offsetof(struct ic_sock, poll_op));
		ic_poll_done(io, k);
		break;
	default:
		break;
	}
}

/* One dequeue of up to IC_DEQUEUE packets, waiting up to ms. */
static int dequeue(dx_io *io, DWORD ms)
{
	OVERLAPPED_ENTRY ents[IC_DEQUEUE];
	ULONG n = 0;
	if (!GetQueuedCompletionStatusEx(io->port, ents, IC_DEQUEUE, &n, ms,
					 FALSE)) {
		DWORD e = GetLastError();
		return e == WAIT_TIMEOUT ? 0 : -ic_errno(e);
	}
	for (ULONG i = 0; i < n; i++)
		dispatch(io, &ents[i]);
	return (int)n;
}

int ic_submit(dx_io *io)
{
	ic_poll_rearm_all(io);
	int n = (int)(io->queued > INT_MAX ? INT_MAX : io->queued);
	io->queued = 0;
	return n;
}

/* How long the dequeue may sleep: until end or the next timer, rounded
 * up to a millisecond. */
static DWORD sleep_ms(const dx_io *io, uint64_t now, uint64_t end)
{
	uint64_t until = end;
	if (dx_timer_heap_next(&io->timers) < until)
		until = dx_timer_heap_next(&io->timers);
	if (until == UINT64_MAX)
		return INFINITE;
	if (until <= now)
		return 0;
	uint64_t ms = (until - now + 999999) / 1000000;
	return ms >= INFINITE ? INFINITE - 1 : (DWORD)ms;
}

int ic_wait(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms)
{
	if (!cqes || !max)
		return -EINVAL;
	ic_submit(io);
	uint64_t now = ic_now_ns();
	uint64_t end = timeout_ms < 0 ? UINT64_MAX :
					now + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		timers_fire(io, now);
		if (io->ring_len)
			break;
		int rc = dequeue(io, sleep_ms(io, now, end));
		if (rc < 0)
			return rc;
		now = ic_now_ns();
		if (now >= end && !io->ring_len) {
			timers_fire(io, now);
			break;
		}
	}
	return (int)ring_reap(io, cqes, max);
}

void ic_drain(dx_io *io)
{
	/* Every busy record was cancelled; their packets come soon. The
	 * bound only keeps a broken driver from hanging destroy. */
	uint64_t end = ic_now_ns() + 10000000000u;
	while (io->busy && ic_now_ns() < end)
		if (dequeue(io, 100) < 0)
			break;
	if (io->busy)
		io->host->log(io->host, DX_LOG_ERROR,
			      "worker %d: %zu operations did not come back "
			      "after their cancel; their memory is leaked",
			      io->worker, io->busy);
}
