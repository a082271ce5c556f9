/* dx/buf.h - a growable byte buffer.
 *
 * Ownership: the buffer owns p (malloc'd); dx_buf_free() releases it. The
 * struct itself is the caller's (usually embedded in another). A buffer
 * that is reused keeps its memory: dx_buf_reset() empties it without
 * freeing, so a steady stream of messages allocates nothing once the
 * buffer has grown to what they need. Growth doubles from 4 KiB.
 *
 * Threads: none of its own; a buffer is used by one thread at a time.
 *
 * Errors: 0, -ENOMEM, or -E2BIG when the size asked for overflows or is
 * above the cap given to dx_buf_reserve_max(). On error the buffer is
 * unchanged.
 *
 *     dx_buf b = DX_BUF_INIT;
 *     if (dx_buf_append(&b, "hello", 5) < 0) ...
 *     dx_buf_reset(&b);            // len 0, memory kept
 *     dx_buf_free(&b);
 */
#ifndef DX_BUF_H
#define DX_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dx_buf {
	uint8_t *p; /* len bytes used of cap; NULL while cap is 0 */
	size_t len;
	size_t cap;
} dx_buf;

#define DX_BUF_INIT                                                            \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/* Room for at least extra more bytes after len. */
int dx_buf_reserve(dx_buf *b, size_t extra);
/* The same, but the capacity never goes above max (-E2BIG if len + extra
 * would need more): for buffers bounded by a protocol limit. */
int dx_buf_reserve_max(dx_buf *b, size_t extra, size_t max);
/* Append n bytes (data may be NULL when n is 0). */
int dx_buf_append(dx_buf *b, const void *data, size_t n);
/* Free the memory and leave an empty buffer (a freed one is fine). */
void dx_buf_free(dx_buf *b);

/* Empty the buffer, keeping its memory for the next use. */
static inline void dx_buf_reset(dx_buf *b)
{
	b->len = 0;
}

/* Append n bytes into room already reserved (no check, no failure). */
static inline void dx_buf_put(dx_buf *b, const void *data, size_t n)
{
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

#ifdef __cplusplus
}
#endif
#endif
