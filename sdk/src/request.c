/* request.c - request metadata and extensions, response metadata. */
#include <errno.h>
#include <string.h>

#include <dx/middleware.h>
#include <dx/routes.h>

#include "meta_u64.h"

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

/* Entries already set: each of the n set as dx_request_ext_set would.
 * Apart from dx_request_ext_set_n so that its common case (none set)
 * saves no registers for this loop. */
__attribute__((noinline)) static int
dx_ext_set_each(dx_request *req, const dx_ext *ext, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int rc = dx_request_ext_set(req, ext[i].key, ext[i].value,
					    ext[i].len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dx_request_ext_set_n(dx_request *req, const dx_ext *ext, unsigned n)
{
	dx_ext *to = req->ext;
	if (!to)
		return -ENOSPC;
	if (req->ext_count)
		return dx_ext_set_each(req, ext, n);
	/* Nothing set yet, and the caller's keys differ: no compare at all
	 * (the common case: one middleware sets them all). */
	unsigned m = n > DX_REQUEST_EXT_MAX ? DX_REQUEST_EXT_MAX : n;
	for (unsigned i = 0; i < m; i++) /* n is small: no memcpy */
		to[i] = ext[i];
	req->ext_count = m;
	return m < n ? -ENOSPC : 0;
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
	uint8_t *p = dx_meta_take(res, n + 2 + len);
	if (!p)
		return -E2BIG;
	memcpy(p, front, n);
	p[n] = (uint8_t)len;
	p[n + 1] = (uint8_t)(len >> 8);
	if (len)
		memcpy(p + n + 2, value, len);
	return 0;
}

int dx_response_meta(dx_response *res, const char *key, const void *value,
		     size_t len)
{
	dx_meta_key k;
	int rc = dx_meta_key_init(&k, key);
	return rc < 0 ? rc : dx_response_meta_put(res, k.bytes, k.len, value, len);
}

int dx_response_meta_u64(dx_response *res, const char *key, uint64_t value)
{
	dx_meta_key k;
	int rc = dx_meta_key_init(&k, key);
	return rc < 0 ? rc : dx_response_meta_key_u64(res, &k, value);
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

int dx_response_meta_key_u64(dx_response *res, const dx_meta_key *k,
			     uint64_t value)
{
	if (!k->len)
		return -EINVAL;
	return dx_meta_put_u64(res, k->bytes, k->len, value);
}
