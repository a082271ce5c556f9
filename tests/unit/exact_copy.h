/* exact_copy.h - an exactly-sized heap copy of a test input, so that
 * AddressSanitizer reports a read one byte past its end. One home for what
 * tests/teleport and tests/hbtp each write as copy_exact / dup_exact. */
#ifndef DX_EXACT_COPY_H
#define DX_EXACT_COPY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

/* n bytes of p in a block of exactly n bytes (1 when n is 0); free() it. */
static inline uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

#endif
