/* timer_heap.c - the timer min-heap of dx/timer_heap.h, with its optional
 * udata index (open addressing, linear probing, backward-shift delete). */
#include <errno.h>
#include <stdlib.h>

#include <dx/timer_heap.h>

void dx_timer_heap_init(dx_timer_heap *h, unsigned flags)
{
	*h = (dx_timer_heap){.flags = flags};
}

void dx_timer_heap_free(dx_timer_heap *h)
{
	free(h->items);
	free(h->keys);
	free(h->slots);
	dx_timer_heap_init(h, h->flags);
}

/* ---- the udata index ---- */

static size_t dx_th_home(const dx_timer_heap *h, uint64_t key)
{
	uint64_t x = key * 0x9E3779B97F4A7C15u;
	return (size_t)(x >> 32) & (h->icap - 1);
}

static uint32_t *dx_th_find(const dx_timer_heap *h, uint64_t key)
{
	if (!h->icap)
		return NULL;
	for (size_t i = dx_th_home(h, key);; i = (i + 1) & (h->icap - 1)) {
		if (!h->slots[i])
			return NULL;
		if (h->keys[i] == key)
			return &h->slots[i];
	}
}

static void dx_th_put(dx_timer_heap *h, uint64_t key, uint32_t val)
{
	size_t i = dx_th_home(h, key);
	while (h->slots[i] && h->keys[i] != key)
		i = (i + 1) & (h->icap - 1);
	h->keys[i] = key;
	h->slots[i] = val;
}

/* Delete with backward shift (linear probing keeps no tombstones). */
static void dx_th_del(dx_timer_heap *h, uint64_t key)
{
	size_t mask = h->icap - 1, i = dx_th_home(h, key);
	while (h->keys[i] != key || !h->slots[i])
		i = (i + 1) & mask;
	for (size_t j = (i + 1) & mask; h->slots[j]; j = (j + 1) & mask) {
		size_t home = dx_th_home(h, h->keys[j]);
		/* Move j into the hole i unless home lies cyclically in
		 * (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			h->keys[i] = h->keys[j];
			h->slots[i] = h->slots[j];
			i = j;
		}
	}
	h->slots[i] = 0;
}

static int dx_th_grow(dx_timer_heap *h)
{
	size_t cap = h->icap ? h->icap * 2 : 64;
	uint64_t *k = calloc(cap, sizeof *k);
	uint32_t *v = calloc(cap, sizeof *v);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	uint64_t *ok = h->keys;
	uint32_t *ov = h->slots;
	size_t ocap = h->icap;
	h->keys = k;
	h->slots = v;
	h->icap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (ov[i])
			dx_th_put(h, ok[i], ov[i]);
	free(ok);
	free(ov);
	return 0;
}

/* ---- the heap ---- */

static bool dx_timer_less(const dx_timer *a, const dx_timer *b)
{
	return a->due_ns < b->due_ns ||
	       (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void dx_heap_set(dx_timer_heap *h, size_t i, dx_timer t)
{
	h->items[i] = t;
	if (t.indexed)
		*dx_th_find(h, t.udata) = (uint32_t)i + 1;
}

static void dx_heap_up(dx_timer_heap *h, size_t i)
{
	dx_timer t = h->items[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!dx_timer_less(&t, &h->items[p]))
			break;
		dx_heap_set(h, i, h->items[p]);
		i = p;
	}
	dx_heap_set(h, i, t);
}

static void dx_heap_down(dx_timer_heap *h, size_t i)
{
	dx_timer t = h->items[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->count)
			break;
		if (c + 1 < h->count &&
		    dx_timer_less(&h->items[c + 1], &h->items[c]))
			c++;
		if (!dx_timer_less(&h->items[c], &t))
			break;
		dx_heap_set(h, i, h->items[c]);
		i = c;
	}
	dx_heap_set(h, i, t);
}

/* A duplicate udata (rare): index another timer that has it. */
static void dx_heap_reindex(dx_timer_heap *h, uint64_t udata)
{
	for (size_t j = 0; j < h->count; j++) {
		if (!h->items[j].indexed && h->items[j].udata == udata) {
			h->items[j].indexed = true;
			h->unindexed--;
			dx_th_put(h, udata, (uint32_t)j + 1);
			return;
		}
	}
}

/* Remove the timer at slot i. */
static void dx_heap_remove(dx_timer_heap *h, size_t i)
{
	dx_timer gone = h->items[i];
	if (gone.indexed)
		dx_th_del(h, gone.udata);
	else if (h->flags & DX_TIMER_HEAP_BY_UDATA)
		h->unindexed--;
	dx_timer last = h->items[--h->count];
	if (i != h->count) {
		dx_heap_set(h, i, last);
		dx_heap_up(h, i);
		dx_heap_down(h, i);
	}
	if (gone.indexed && h->unindexed)
		dx_heap_reindex(h, gone.udata);
}

int dx_timer_heap_add(dx_timer_heap *h, uint64_t due_ns, uint64_t udata,
		      void (*fn)(void *arg), void *arg)
{
	if (h->count == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		dx_timer *t = realloc(h->items, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		h->items = t;
		h->cap = cap;
	}
	bool by_udata = h->flags & DX_TIMER_HEAP_BY_UDATA;
	if (by_udata && (h->count + 1) * 2 >= h->icap && dx_th_grow(h) < 0)
		return -ENOMEM;
	size_t i = h->count++;
	bool dup = by_udata && dx_th_find(h, udata) != NULL;
	h->items[i] =
		(dx_timer){due_ns, udata, fn, arg, h->seq++, by_udata && !dup};
	if (dup)
		h->unindexed++;
	else if (by_udata)
		dx_th_put(h, udata, (uint32_t)i + 1);
	dx_heap_up(h, i);
	return 0;
}

bool dx_timer_heap_pop_due(dx_timer_heap *h, uint64_t now_ns, dx_timer *out)
{
	if (!h->count || h->items[0].due_ns > now_ns)
		return false;
	*out = h->items[0];
	dx_heap_remove(h, 0);
	return true;
}

/* The slot of a timer with udata, or -1. */
static long dx_heap_slot(const dx_timer_heap *h, uint64_t udata)
{
	if (h->flags & DX_TIMER_HEAP_BY_UDATA) {
		const uint32_t *v = dx_th_find(h, udata);
		return v ? (long)*v - 1 : -1;
	}
	for (size_t i = 0; i < h->count; i++)
		if (h->items[i].udata == udata)
			return (long)i;
	return -1;
}

bool dx_timer_heap_has(const dx_timer_heap *h, uint64_t udata)
{
	return dx_heap_slot(h, udata) >= 0;
}

int dx_timer_heap_cancel(dx_timer_heap *h, uint64_t udata)
{
	long i = dx_heap_slot(h, udata);
	if (i < 0)
		return -ENOENT;
	dx_heap_remove(h, (size_t)i);
	return 0;
}
