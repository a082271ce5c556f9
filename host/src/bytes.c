/* bytes.c - dx_bytes: a growable byte buffer, reset and reused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

int dx_bytes_reserve(dx_bytes *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t need = b->len + extra;
	if (need < b->len)
		return -E2BIG;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int dx_bytes_append(dx_bytes *b, const void *p, size_t n)
{
	int rc = dx_bytes_reserve(b, n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void dx_bytes_free(dx_bytes *b)
{
	free(b->p);
	*b = (dx_bytes){0};
}
