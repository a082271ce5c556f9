/* cell.h - counting in a cell of memory that other threads read: by the
 * cell's only writer (a worker's own counters), a relaxed load and store,
 * which is exact and costs no locked instruction on the request path;
 * by any thread, an atomic add. Readers use relaxed loads. */
#ifndef DX_HOST_CELL_H
#define DX_HOST_CELL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* n more in *p, by its only writer. */
static inline void dx_cell_add(_Atomic uint64_t *p, uint64_t n)
{
	atomic_store_explicit(p,
			      atomic_load_explicit(p, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* n less in *p, by its only writer. */
static inline void dx_cell_sub(_Atomic uint64_t *p, uint64_t n)
{
	atomic_store_explicit(p,
			      atomic_load_explicit(p, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

/* n more in *p: by its only writer, or, when shared, by any thread. */
static inline void dx_cell_add_by(_Atomic uint64_t *p, uint64_t n,
				  bool shared)
{
	if (shared)
		atomic_fetch_add_explicit(p, n, memory_order_relaxed);
	else
		dx_cell_add(p, n);
}

#endif
