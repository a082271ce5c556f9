/* request.c - request metadata and extensions, response metadata. */
#include <errno.h>
#include <string.h>

#include <dx/middleware.h>
#include <dx/routes.h>

const uint8_t *dx_request_meta(const dx_request *req, const char *key,
			       uint16_t *len)
{
	return req->meta ? dx_hbtp_meta_get(req->meta, key, len) : NULL;
}

int dx_request_ext_set(dx_request *req, const char *key, const void *value,
		       size_t len)
{
	if (!req->ext)
		return -ENOSPC;
	for (unsigned i = 0; i < req->ext_count; i++) {
		/* Keys are usually the same static strings: pointers first. */
		if (req->ext[i].key == key || strcmp(req->ext[i].key, key) == 0) {
			req->ext[i].value = value;
			req->ext[i].len = len;
			return 0;
		}
	}
	if (req->ext_count == DX_REQUEST_EXT_MAX)
		return -ENOSPC;
	req->ext[req->ext_count++] = (dx_ext){key, value, len};
	return 0;
}

const void *dx_request_ext_get(const dx_request *req, const char *key,
			       size_t *len)
{
	for (unsigned i = 0; req->ext && i < req->ext_count; i++) {
		if (req->ext[i].key == key || strcmp(req->ext[i].key, key) == 0) {
			if (len)
				*len = req->ext[i].len;
			return req->ext[i].value;
		}
	}
	return NULL;
}

/* One entry whose front (u8 key length, key: n bytes) is checked. */
static int dx_response_meta_put(dx_response *res, const uint8_t *front,
				size_t n, const void *value, size_t len)
{
	if (len > 0xFFFF)
		return -EINVAL;
	size_t need = n + 2 + len;
	if (!res->meta || res->meta_cap - res->meta_len < need ||
	    res->meta_count >= DX_HBTP_META_MAX)
		return -E2BIG;
	uint8_t *p = res->meta + res->meta_len;
	memcpy(p, front, n);
	p[n] = (uint8_t)len;
	p[n + 1] = (uint8_t)(len >> 8);
	if (len)
		memcpy(p + n + 2, value, len);
	res->meta_len += need;
	res->meta_count++;
	return 0;
}

int dx_response_meta(dx_response *res, const char *key, const void *value,
		     size_t len)
{
	dx_meta_key k;
	int rc = dx_meta_key_init(&k, key);
	return rc < 0 ? rc : dx_response_meta_put(res, k.bytes, k.len, value, len);
}

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
static uint8_t *dx_u64_put(uint8_t *end, uint64_t value)
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
static size_t dx_u64_digits(uint64_t value)
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

int dx_response_meta_u64(dx_response *res, const char *key, uint64_t value)
{
	uint8_t buf[20];
	uint8_t *d = dx_u64_put(buf + sizeof buf, value);
	return dx_response_meta(res, key, d, (size_t)(buf + sizeof buf - d));
}

int dx_meta_key_init(dx_meta_key *k, const char *key)
{
	size_t n = strlen(key);
	k->len = 0;
	if (!dx_hbtp_key_valid(key, n))
		return -EINVAL;
	k->bytes[0] = (uint8_t)n;
	memcpy(k->bytes + 1, key, n);
	k->len = (uint32_t)(1 + n);
	return 0;
}

int dx_response_meta_key(dx_response *res, const dx_meta_key *k,
			 const void *value, size_t len)
{
	if (!k->len)
		return -EINVAL;
	return dx_response_meta_put(res, k->bytes, k->len, value, len);
}

/* The digits go straight into the entry (no buffer, no second copy):
 * counted first, then written from the end. */
int dx_response_meta_key_u64(dx_response *res, const dx_meta_key *k,
			     uint64_t value)
{
	size_t digits = dx_u64_digits(value);
	size_t n = k->len, need = n + 2 + digits;
	if (!n)
		return -EINVAL;
	if (!res->meta || res->meta_cap - res->meta_len < need ||
	    res->meta_count >= DX_HBTP_META_MAX)
		return -E2BIG;
	uint8_t *p = res->meta + res->meta_len;
	memcpy(p, k->bytes, n);
	p[n] = (uint8_t)digits;
	p[n + 1] = 0;
	dx_u64_put(p + need, value);
	res->meta_len += need;
	res->meta_count++;
	return 0;
}
