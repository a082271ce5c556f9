/* metrics_worker.h - what one worker counts for the scrape: its loop
 * turns, the deferred answers it dropped, and per route the requests,
 * the answers by status and a latency histogram.
 *
 * The hot path: every counter here is written by its worker alone, with a
 * relaxed load and store (no locked instruction, no lock, no allocation:
 * the table is allocated with the worker), and read by the scrape with
 * relaxed loads; the scrape sums the workers. A route finds its slot by
 * its id in a small open-addressed table (the first probe, unless routes
 * collide); routes past the table's room count in `other`, requests for
 * ids no route serves in `unknown`, so a client cannot make the table,
 * or the scrape, grow. */
#ifndef DX_HOST_METRICS_WORKER_H
#define DX_HOST_METRICS_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "cell.h"

/* Slots for routes (a power of two), answer statuses kept apart per
 * route, latency bounds. */
#define DX_WM_ROUTES 256
#define DX_WM_STATUSES 8
#define DX_WM_BOUNDS 16

/* The latency histogram's upper bounds, in nanoseconds and in seconds. */
extern const uint64_t dx_wm_bounds_ns[DX_WM_BOUNDS];
extern const double dx_wm_bounds_s[DX_WM_BOUNDS];

typedef struct dx_wm_route {
	_Atomic uint32_t key; /* route id + 1; 0: free */
	_Atomic uint64_t requests;
	/* Answers: status (200 for RpcResponse) and count; statuses past
	 * the room count in status_other. */
	_Atomic uint32_t status[DX_WM_STATUSES];
	_Atomic uint64_t answers[DX_WM_STATUSES];
	_Atomic uint64_t status_other;
	_Atomic uint64_t buckets[DX_WM_BOUNDS + 1];
	_Atomic uint64_t sum_ns;
} dx_wm_route;

typedef struct dx_wmetrics {
	_Atomic uint64_t turns;
	_Atomic uint64_t answers_dropped; /* deferred, client gone */
	dx_wm_route unknown;              /* ids no route serves */
	dx_wm_route other;                /* routes past the table */
	dx_wm_route routes[DX_WM_ROUTES];
} dx_wmetrics;

/* The slot of route id (known: a route serves it). */
static inline dx_wm_route *dx_wm_slot(dx_wmetrics *m, uint16_t id, int known)
{
	if (!known)
		return &m->unknown;
	uint32_t key = (uint32_t)id + 1;
	for (unsigned i = 0; i < DX_WM_ROUTES; i++) {
		dx_wm_route *r = &m->routes[(id + i) & (DX_WM_ROUTES - 1)];
		uint32_t k =
			atomic_load_explicit(&r->key, memory_order_relaxed);
		if (k == key)
			return r;
		if (k == 0) {
			/* Release: a scrape that sees the key sees a slot
			 * whose counters start at zero. */
			atomic_store_explicit(&r->key, key,
					      memory_order_release);
			return r;
		}
	}
	return &m->other;
}

/* A request reached the pipeline: r is its route's slot (dx_wm_slot),
 * looked up once for the request and its answer. */
static inline void dx_wm_request(dx_wm_route *r)
{
	dx_cell_add(&r->requests, 1);
}

/* Its answer in slot r: status (0: RpcResponse, counted as 200), ns since
 * it started. */
static inline void dx_wm_answer_in(dx_wm_route *r, uint16_t status, uint64_t ns)
{
	uint32_t s = status ? status : 200;
	unsigned i = 0;
	for (; i < DX_WM_STATUSES; i++) {
		uint32_t k = atomic_load_explicit(&r->status[i],
						  memory_order_relaxed);
		if (k == s)
			break;
		if (k == 0) {
			atomic_store_explicit(&r->status[i], s,
					      memory_order_release);
			break;
		}
	}
	dx_cell_add(i < DX_WM_STATUSES ? &r->answers[i] : &r->status_other, 1);
	unsigned b = 0;
	while (b < DX_WM_BOUNDS && ns > dx_wm_bounds_ns[b])
		b++;
	dx_cell_add(&r->buckets[b], 1);
	dx_cell_add(&r->sum_ns, ns);
}

/* The answer of a request for route id (a deferred one, whose slot was
 * not kept). */
static inline void dx_wm_answer(dx_wmetrics *m, uint16_t id, int known,
				uint16_t status, uint64_t ns)
{
	dx_wm_answer_in(dx_wm_slot(m, id, known), status, ns);
}

#endif
