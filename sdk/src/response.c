/* response.c - writing into a host-owned dx_response buffer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <dx/routes.h>

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
