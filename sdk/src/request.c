/* request.c - request metadata and extensions, response metadata. */
#include <errno.h>
#include <string.h>

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

int dx_response_meta(dx_response *res, const char *key, const void *value,
		     size_t len)
{
	size_t klen = strlen(key);
	if (!dx_hbtp_key_valid(key, klen) || len > 0xFFFF)
		return -EINVAL;
	size_t need = 1 + klen + 2 + len;
	if (!res->meta || res->meta_cap - res->meta_len < need ||
	    res->meta_count >= DX_HBTP_META_MAX)
		return -E2BIG;
	uint8_t *p = res->meta + res->meta_len;
	p[0] = (uint8_t)klen;
	memcpy(p + 1, key, klen);
	p[1 + klen] = (uint8_t)len;
	p[2 + klen] = (uint8_t)(len >> 8);
	if (len)
		memcpy(p + 3 + klen, value, len);
	res->meta_len += need;
	res->meta_count++;
	return 0;
}

int dx_response_meta_u64(dx_response *res, const char *key, uint64_t value)
{
	/* Digits from the end: no printf on the per-request path. */
	char buf[20];
	size_t i = sizeof buf;
	do
		buf[--i] = (char)('0' + value % 10);
	while ((value /= 10) != 0);
	return dx_response_meta(res, key, buf + i, sizeof buf - i);
}
