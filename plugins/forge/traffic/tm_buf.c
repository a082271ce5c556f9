/* tm_buf.c - whole files in memory, and what the traffic manager does when
 * memory runs out (tm_int.h). Reading and the durable writes the journal
 * builds on are forge's utility layer's (fx_util.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_int.h"

void *tm_must(void *p)
{
	if (!p) {
		fputs("dx forge: out of memory\n", stderr);
		abort();
	}
	return p;
}

void tm_buf_free(tm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

bool tm_buf_eq(const tm_buf *a, const tm_buf *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

bool tm_is_binary(const tm_buf *b)
{
	size_t n = b->len < 8000 ? b->len : 8000;
	return memchr(b->data, '\0', n) != NULL;
}

int tm_read(const char *path, tm_buf *out)
{
	out->data = NULL;
	out->len = 0;
	int rc = dx_fx_read_regular(path, &out->data, &out->len);
	if (rc == -ENOMEM)
		tm_must(NULL);
	return rc;
}
