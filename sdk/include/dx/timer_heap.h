/* dx/timer_heap.h - a binary min-heap of timers by due time.
 *
 * For an event loop's timers (a host worker's, an IO backend's): add a
 * timer, ask for the next deadline to bound the loop's sleep, pop the ones
 * that are due. Timers with equal due times come out in the order they
 * were added. With DX_TIMER_HEAP_BY_UDATA the heap also keeps an index
 * from udata to slot, so cancelling by udata is O(log n); without it,
 * cancel is a linear scan and nothing else is paid for it.
 *
 * Due times are the caller's clock (say CLOCK_MONOTONIC nanoseconds); the
 * heap never reads a clock. It allocates only to grow (doubling), so a
 * loop that keeps about the same number of timers allocates nothing.
 *
 * Ownership: the dx_timer_heap struct is the caller's (usually embedded);
 * dx_timer_heap_free() releases what it allocated. fn and arg are the
 * caller's: the heap stores and returns them, never calls them. Read
 * count; leave the other members alone.
 *
 * Threads: none of its own; one thread at a time.
 */
#ifndef DX_TIMER_HEAP_H
#define DX_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dx_timer {
	uint64_t due_ns;
	uint64_t udata;        /* the caller's tag; what cancel looks for */
	void (*fn)(void *arg); /* the caller's; may be NULL */
	void *arg;
	uint64_t seq; /* the heap's: order of adding */
	bool indexed; /* the heap's: udata index points here */
} dx_timer;

typedef struct dx_timer_heap {
	dx_timer *items; /* items[0] is due first */
	size_t count, cap;
	uint64_t seq;
	unsigned flags;
	uint64_t *keys; /* BY_UDATA: udata -> slot + 1 (0: empty) */
	uint32_t *slots;
	size_t icap;      /* a power of two, > 2 * count */
	size_t unindexed; /* timers sharing a udata with an indexed one */
} dx_timer_heap;

#define DX_TIMER_HEAP_BY_UDATA 1u

void dx_timer_heap_init(dx_timer_heap *h, unsigned flags);
void dx_timer_heap_free(dx_timer_heap *h);

/* Add a timer: 0 or -ENOMEM (the heap is unchanged then). Several timers
 * may share a udata; cancel takes one of them. */
int dx_timer_heap_add(dx_timer_heap *h, uint64_t due_ns, uint64_t udata,
		      void (*fn)(void *arg), void *arg);

/* The earliest due time, or UINT64_MAX when the heap is empty. */
static inline uint64_t dx_timer_heap_next(const dx_timer_heap *h)
{
	return h->count ? h->items[0].due_ns : UINT64_MAX;
}

/* Take the earliest timer if it is due at now_ns (due_ns <= now_ns) into
 * *out: true, or false when none is due. Pass UINT64_MAX to drain. */
bool dx_timer_heap_pop_due(dx_timer_heap *h, uint64_t now_ns, dx_timer *out);

/* Whether a timer with udata is in the heap. */
bool dx_timer_heap_has(const dx_timer_heap *h, uint64_t udata);

/* Remove a timer with udata: 0, or -ENOENT when there is none (it fired
 * or was never added). */
int dx_timer_heap_cancel(dx_timer_heap *h, uint64_t udata);

#ifdef __cplusplus
}
#endif
#endif
