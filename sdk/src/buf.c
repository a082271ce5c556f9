/* buf.c - the growable byte buffer of dx/buf.h. */
#include <errno.h>
#include <stdlib.h>

#include <dx/buf.h>

#define DX_BUF_FIRST 4096u

int dx_buf_reserve_max(dx_buf *b, size_t extra, size_t max)
{
	if (b->cap - b->len >= extra)
		return 0;
	if (extra > max || b->len > max - extra)
		return -E2BIG;
	size_t need = b->len + extra;
	size_t cap = b->cap ? b->cap : DX_BUF_FIRST;
	while (cap < need)
		cap = cap > max / 2 ? max : cap * 2;
	if (cap > max)
		cap = max;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int dx_buf_reserve(dx_buf *b, size_t extra)
{
	return dx_buf_reserve_max(b, extra, SIZE_MAX);
}

int dx_buf_append(dx_buf *b, const void *data, size_t n)
{
	int rc = dx_buf_reserve(b, n);
	if (rc < 0)
		return rc;
	dx_buf_put(b, data, n);
	return 0;
}

void dx_buf_free(dx_buf *b)
{
	free(b->p);
	*b = (dx_buf)DX_BUF_INIT;
}
