/* bytes.h - dx_bytes: a growable byte buffer, reset and reused.
 * Not thread-safe: one owner at a time. */
#ifndef DX_HOST_BYTES_H
#define DX_HOST_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer that is reset, never freed, between uses. */
typedef struct dx_bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
} dx_bytes;

int dx_bytes_reserve(dx_bytes *b, size_t extra);
int dx_bytes_append(dx_bytes *b, const void *p, size_t n);
void dx_bytes_free(dx_bytes *b);

#endif
