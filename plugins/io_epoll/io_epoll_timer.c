/* io_epoll_timer.c - io_epoll's timers: a min-heap with a udata index. */
#include "io_epoll_int.h"

/* ---- timers: a min-heap with a udata index ---- */

static size_t th_slot(const dx_io *io, uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15u;
	return (size_t)(h >> 32) & (io->tcap - 1);
}

static uint32_t *th_find(dx_io *io, uint64_t key)
{
	for (size_t i = th_slot(io, key);; i = (i + 1) & (io->tcap - 1)) {
		if (!io->tvals[i])
			return NULL;
		if (io->tkeys[i] == key)
			return &io->tvals[i];
	}
}

static void th_put(dx_io *io, uint64_t key, uint32_t val)
{
	size_t i = th_slot(io, key);
	while (io->tvals[i] && io->tkeys[i] != key)
		i = (i + 1) & (io->tcap - 1);
	io->tkeys[i] = key;
	io->tvals[i] = val;
}

/* Delete with backward shift (linear probing keeps no tombstones). */
static void th_del(dx_io *io, uint64_t key)
{
	size_t mask = io->tcap - 1, i = th_slot(io, key);
	while (io->tkeys[i] != key || !io->tvals[i])
		i = (i + 1) & mask;
	for (size_t j = (i + 1) & mask; io->tvals[j]; j = (j + 1) & mask) {
		size_t home = th_slot(io, io->tkeys[j]);
		/* Move j into the hole i unless home lies cyclically in
		 * (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			io->tkeys[i] = io->tkeys[j];
			io->tvals[i] = io->tvals[j];
			i = j;
		}
	}
	io->tvals[i] = 0;
}

static int th_grow(dx_io *io)
{
	size_t cap = io->tcap ? io->tcap * 2 : 64;
	uint64_t *k = calloc(cap, sizeof *k);
	uint32_t *v = calloc(cap, sizeof *v);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	uint64_t *ok = io->tkeys;
	uint32_t *ov = io->tvals;
	size_t ocap = io->tcap;
	io->tkeys = k;
	io->tvals = v;
	io->tcap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (ov[i])
			th_put(io, ok[i], ov[i]);
	free(ok);
	free(ov);
	return 0;
}

static bool timer_less(const struct timer *a, const struct timer *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(dx_io *io, size_t i, struct timer t)
{
	io->heap[i] = t;
	if (t.hashed)
		*th_find(io, t.udata) = (uint32_t)i + 1;
}

static void heap_up(dx_io *io, size_t i)
{
	struct timer t = io->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!timer_less(&t, &io->heap[p]))
			break;
		heap_set(io, i, io->heap[p]);
		i = p;
	}
	heap_set(io, i, t);
}

static void heap_down(dx_io *io, size_t i)
{
	struct timer t = io->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= io->nheap)
			break;
		if (c + 1 < io->nheap &&
		    timer_less(&io->heap[c + 1], &io->heap[c]))
			c++;
		if (!timer_less(&io->heap[c], &t))
			break;
		heap_set(io, i, io->heap[c]);
		i = c;
	}
	heap_set(io, i, t);
}

/* Remove the timer at heap index i. */
static void heap_remove(dx_io *io, size_t i)
{
	struct timer gone = io->heap[i];
	if (gone.hashed)
		th_del(io, gone.udata);
	else
		io->nunhashed--;
	struct timer last = io->heap[--io->nheap];
	if (i != io->nheap) {
		heap_set(io, i, last);
		heap_up(io, i);
		heap_down(io, i);
	}
	/* A duplicate udata (rare): index another timer that has it. */
	if (gone.hashed && io->nunhashed) {
		for (size_t j = 0; j < io->nheap; j++) {
			if (!io->heap[j].hashed &&
			    io->heap[j].udata == gone.udata) {
				io->heap[j].hashed = true;
				io->nunhashed--;
				th_put(io, gone.udata, (uint32_t)j + 1);
				break;
			}
		}
	}
}

int ep_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	if (io->nheap == io->heap_cap) {
		size_t cap = io->heap_cap ? io->heap_cap * 2 : 64;
		struct timer *h = realloc(io->heap, cap * sizeof *h);
		if (!h)
			return -ENOMEM;
		io->heap = h;
		io->heap_cap = cap;
	}
	if ((io->nheap + 1) * 2 >= io->tcap && th_grow(io) < 0)
		return -ENOMEM;
	uint64_t now = now_ns();
	uint64_t dl = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	size_t i = io->nheap++;
	bool dup = th_find(io, udata) != NULL;
	io->heap[i] = (struct timer){dl, io->timer_seq++, udata, !dup};
	if (dup)
		io->nunhashed++;
	else
		th_put(io, udata, (uint32_t)i + 1);
	heap_up(io, i);
	io->submitted++;
	return 0;
}

int ep_timeout_cancel(dx_io *io, uint64_t udata)
{
	uint32_t *v = io->tcap ? th_find(io, udata) : NULL;
	if (!v)
		return -ENOENT;
	if (ring_room(io, 1) < 0)
		return -ENOMEM;
	heap_remove(io, *v - 1);
	post(io, DX_IO_TIMEOUT, -ECANCELED, udata, 0);
	return 0;
}

/* Complete every timer whose deadline has passed, earliest first. */
void timers_fire(dx_io *io, uint64_t now)
{
	while (io->nheap && io->heap[0].deadline <= now) {
		if (ring_room(io, 1) < 0)
			return;
		uint64_t udata = io->heap[0].udata;
		heap_remove(io, 0);
		post(io, DX_IO_TIMEOUT, 0, udata, 0);
	}
}
