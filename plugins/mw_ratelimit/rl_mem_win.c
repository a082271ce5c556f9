/* rl_mem_win.c - rl_mem.h over the Windows C runtime's _aligned_malloc
 * (it has no aligned_alloc, and free() cannot take its blocks). */
#include <malloc.h>

#include "rl_mem.h"

void *dx_rl_aligned_alloc(size_t align, size_t bytes)
{
	return _aligned_malloc(bytes, align);
}

void dx_rl_aligned_free(void *p)
{
	_aligned_free(p);
}
