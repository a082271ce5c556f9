/* response.c - writing into a host-owned dx_response buffer, and reading
 * back what was written. Built with DX_BUILDING_HOST: it names the host's
 * members. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <dx/routes.h>

/* dx_response and dx_request as ABI 1.0 laid them out, before their
 * host's members were hidden: the layout a plugin built against 1.0 sees
 * must stay exactly this (docs/abi.md). */
struct dx_response_v1_0 {
	uint32_t size;
	uint16_t status;
	uint8_t *data;
	size_t len;
	size_t cap;
	int (*reserve)(struct dx_response *res, size_t extra);
	void *owner;
	uint8_t *meta;
	size_t meta_len;
	size_t meta_cap;
	unsigned meta_count;
};
struct dx_request_v1_0 {
	uint32_t size;
	uint8_t opcode;
	uint8_t flags;
	uint16_t seq;
	uint16_t route;
	const uint8_t *body;
	size_t body_len;
	int worker;
	uint64_t start_ns;
	void *host_priv;
	const dx_hbtp_meta *meta;
	const char *peer;
	const char *route_name;
	dx_ext *ext;
	unsigned ext_count;
};
#define DX_SAME_AT(T, V, m) \
	_Static_assert(offsetof(T, m) == offsetof(V, m), #T "." #m " moved")
_Static_assert(sizeof(dx_response) == sizeof(struct dx_response_v1_0),
	       "dx_response changed size");
DX_SAME_AT(dx_response, struct dx_response_v1_0, status);
DX_SAME_AT(dx_response, struct dx_response_v1_0, data);
DX_SAME_AT(dx_response, struct dx_response_v1_0, len);
DX_SAME_AT(dx_response, struct dx_response_v1_0, cap);
DX_SAME_AT(dx_response, struct dx_response_v1_0, reserve);
DX_SAME_AT(dx_response, struct dx_response_v1_0, owner);
DX_SAME_AT(dx_response, struct dx_response_v1_0, meta);
DX_SAME_AT(dx_response, struct dx_response_v1_0, meta_len);
DX_SAME_AT(dx_response, struct dx_response_v1_0, meta_cap);
DX_SAME_AT(dx_response, struct dx_response_v1_0, meta_count);
_Static_assert(sizeof(dx_request) == sizeof(struct dx_request_v1_0),
	       "dx_request changed size");
DX_SAME_AT(dx_request, struct dx_request_v1_0, start_ns);
DX_SAME_AT(dx_request, struct dx_request_v1_0, host_priv);
DX_SAME_AT(dx_request, struct dx_request_v1_0, meta);
DX_SAME_AT(dx_request, struct dx_request_v1_0, ext_count);

static int dx_response_room(dx_response *res, size_t n)
{
	if (res->cap - res->len >= n)
		return 0;
	if (!res->reserve)
		return -E2BIG;
	return res->reserve(res, n);
}

int dx_response_write(dx_response *res, const void *data, size_t n)
{
	int rc = dx_response_room(res, n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(res->data + res->len, data, n);
	res->len += n;
	return 0;
}

static int dx_response_vprintf(dx_response *res, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	/* +1 for vsnprintf's NUL, which is not counted in len. */
	int rc = dx_response_room(res, (size_t)n + 1);
	if (rc < 0)
		return rc;
	vsnprintf((char *)res->data + res->len, (size_t)n + 1, fmt, ap);
	res->len += (size_t)n;
	return 0;
}

int dx_response_printf(dx_response *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = dx_response_vprintf(res, fmt, ap);
	va_end(ap);
	return rc;
}

int dx_response_error(dx_response *res, uint16_t status, const char *fmt, ...)
{
	if (status < 400 || status > 599)
		return -EINVAL;
	res->len = 0;
	res->status = status;
	va_list ap;
	va_start(ap, fmt);
	int rc = dx_response_vprintf(res, fmt, ap);
	va_end(ap);
	return rc;
}

void dx_response_init(dx_response *res, void *body, size_t body_cap,
		      void *meta, size_t meta_cap)
{
	*res = (dx_response){
		.size = sizeof *res, .data = body, .cap = body ? body_cap : 0,
		.meta = meta, .meta_cap = meta ? meta_cap : 0,
	};
}

const uint8_t *dx_response_body(const dx_response *res)
{
	return res->data;
}

const uint8_t *dx_response_meta_entries(const dx_response *res)
{
	return res->meta;
}

const uint8_t *dx_response_meta_find(const dx_response *res, const char *key,
				     uint16_t *len)
{
	size_t klen = strlen(key), at = 0;
	while (res->meta && at + 3 <= res->meta_len) {
		size_t kl = res->meta[at];
		if (at + 1 + kl + 2 > res->meta_len)
			break;
		const uint8_t *v = res->meta + at + 1 + kl;
		size_t vl = (size_t)v[0] | (size_t)v[1] << 8;
		if (at + 1 + kl + 2 + vl > res->meta_len)
			break;
		if (kl == klen && memcmp(res->meta + at + 1, key, kl) == 0) {
			if (len)
				*len = (uint16_t)vl;
			return v + 2;
		}
		at += 1 + kl + 2 + vl;
	}
	return NULL;
}
