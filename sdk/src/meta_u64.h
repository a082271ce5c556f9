/* meta_u64.h - a response metadata entry whose value is a number in
 * decimal, written in place without printf: libdx's dx_response_meta_*u64
 * and the host's own x-response-time write one on every request. Header-
 * only (static inline) so the host inlines it instead of calling into
 * libdx for a few instructions. For libdx and the host (it touches
 * dx_response's DX_HOST_ONLY members). */
#ifndef DX_SDK_META_U64_H
#define DX_SDK_META_U64_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <dx/routes.h>

static const char dx_digit_pairs[201] = "00010203040506070809"
					"10111213141516171819"
					"20212223242526272829"
					"30313233343536373839"
					"40414243444546474849"
					"50515253545556575859"
					"60616263646566676869"
					"70717273747576777879"
					"80818283848586878889"
					"90919293949596979899";

/* value in decimal, written backwards ending just before end; returns
 * where it starts. Two digits at a time, in 32 bits once the value fits
 * (a cheaper division): no printf on the per-request path. */
static inline uint8_t *dx_u64_put(uint8_t *end, uint64_t value)
{
	while (value > UINT32_MAX) {
		unsigned d = (unsigned)(value % 100) * 2;
		value /= 100;
		*--end = (uint8_t)dx_digit_pairs[d + 1];
		*--end = (uint8_t)dx_digit_pairs[d];
	}
	uint32_t v = (uint32_t)value;
	while (v >= 100) {
		unsigned d = (v % 100) * 2;
		v /= 100;
		*--end = (uint8_t)dx_digit_pairs[d + 1];
		*--end = (uint8_t)dx_digit_pairs[d];
	}
	if (v >= 10) {
		*--end = (uint8_t)dx_digit_pairs[v * 2 + 1];
		*--end = (uint8_t)dx_digit_pairs[v * 2];
	} else {
		*--end = (uint8_t)('0' + v);
	}
	return end;
}

/* How many decimal digits value has: a guess from its bit length (x
 * log10(2) as 1233 / 4096), then one comparison. */
static inline size_t dx_u64_digits(uint64_t value)
{
	static const uint64_t pow10[20] = {
		1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u,
		100000000u, 1000000000u, 10000000000u, 100000000000u,
		1000000000000u, 10000000000000u, 100000000000000u,
		1000000000000000u, 10000000000000000u, 100000000000000000u,
		1000000000000000000u, 10000000000000000000u,
	};
	value |= 1; /* 0 has one digit, as 1 does */
#if defined(__GNUC__)
	unsigned bits = 63u - (unsigned)__builtin_clzll(value);
#else
	unsigned bits = 0;
	for (uint64_t v = value; v >>= 1;)
		bits++;
#endif
	unsigned guess = ((bits + 1) * 1233u) >> 12; /* 0..19 */
	return guess + (value >= pow10[guess]);
}

/* need bytes taken at the end of res's metadata for one entry, or NULL
 * when there is no room left or DX_HBTP_META_MAX entries already. */
static inline uint8_t *dx_meta_take(dx_response *res, size_t need)
{
	if (!res->meta || res->meta_cap - res->meta_len < need ||
	    res->meta_count >= DX_HBTP_META_MAX)
		return NULL;
	uint8_t *p = res->meta + res->meta_len;
	res->meta_len += need;
	res->meta_count++;
	return p;
}

/* The n bytes of front (DX_META_FRONT_READ bytes readable: a
 * dx_meta_key's) to p, an entry just taken from res: a key of at most 32
 * bytes with 32 bytes of room left goes as one fixed-size copy the
 * compiler inlines (what it writes past the entry is room not yet used,
 * which the entry's value and later entries overwrite), not a call. */
#define DX_META_FRONT_READ 32
static inline void dx_meta_front(const dx_response *res, uint8_t *p,
				 const uint8_t *front, size_t n)
{
	size_t left = res->meta_cap - (size_t)(p - res->meta);
#if defined(__GNUC__)
	if (__builtin_constant_p(n)) { /* inlined already: nothing to win */
		memcpy(p, front, n);
		return;
	}
#endif
	if (n <= DX_META_FRONT_READ && left >= DX_META_FRONT_READ)
		memcpy(p, front, DX_META_FRONT_READ);
	else
		memcpy(p, front, n);
}

/* An entry of front (n bytes: u8 key length, key, already checked; at
 * least DX_META_FRONT_READ bytes readable, as a dx_meta_key's are) and
 * value in decimal: 0, or -E2BIG (see dx_meta_take). */
static inline int dx_meta_put_u64(dx_response *res, const uint8_t *front,
				  size_t n, uint64_t value)
{
	size_t digits = dx_u64_digits(value);
	size_t need = n + 2 + digits;
	uint8_t *p = dx_meta_take(res, need);
	if (!p)
		return -E2BIG;
	dx_meta_front(res, p, front, n);
	p[n] = (uint8_t)digits;
	p[n + 1] = 0;
	dx_u64_put(p + need, value);
	return 0;
}

#endif
