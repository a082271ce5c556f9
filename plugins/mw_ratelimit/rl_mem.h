/* rl_mem.h - the per-worker table array's allocation, aligned to its
 * cache-line members (struct rl_worker). C11's aligned_alloc is missing
 * from the Windows C runtime, whose aligned blocks must be freed by
 * _aligned_free: one file per system (meson picks), the pair always used
 * together. Any thread. */
#ifndef DX_RL_MEM_H
#define DX_RL_MEM_H

#include <stddef.h>

/* bytes (a multiple of align) aligned to align, or NULL. */
void *dx_rl_aligned_alloc(size_t align, size_t bytes);
void dx_rl_aligned_free(void *p);

#endif
