/* rl_mem_posix.c - rl_mem.h over C11's aligned_alloc. */
#include <stdlib.h>

#include "rl_mem.h"

void *dx_rl_aligned_alloc(size_t align, size_t bytes)
{
	return aligned_alloc(align, bytes);
}

void dx_rl_aligned_free(void *p)
{
	free(p);
}
