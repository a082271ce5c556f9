/* db_teleport_codec.c - the db.get / db.subscribe request body, written by
 * clients (dx call, tests, third parties) and read by the db_teleport
 * plugin, and the client's side of the answer: one codec for both sides.
 * The format and every contract are in dx/db_teleport.h. No state, no
 * allocation but the answer's aligned copy: any thread. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dx/db_teleport.h>
#include <dx/hbtp.h> /* dx_hbtp_le16() and friends */

size_t dx_db_params_size(const char *const *params, unsigned nparams)
{
	size_t n = 1;
	for (unsigned i = 0; i < nparams; i++)
		n += 2 + (params[i] ? strlen(params[i]) : 0);
	return n;
}

size_t dx_db_body_size(const char *name, const char *const *params,
		       unsigned nparams)
{
	return 1 + strlen(name) + dx_db_params_size(params, nparams);
}

long dx_db_params_encode(uint8_t *out, size_t cap, const char *const *params,
			 unsigned nparams)
{
	size_t n = 0;
	if (nparams > DX_DB_NPARAMS_MAX)
		return -EINVAL;
	if (cap < 1)
		return -E2BIG;
	out[n++] = (uint8_t)nparams;
	for (unsigned i = 0; i < nparams; i++) {
		size_t l = params[i] ? strlen(params[i]) : 0;
		if (l > DX_DB_PARAM_MAX)
			return -EINVAL;
		if (cap - n < 2 + l)
			return -E2BIG;
		dx_hbtp_put_le16(out + n, params[i] ?
						  (uint16_t)l :
						  (uint16_t)DX_DB_PARAM_NULL);
		n += 2;
		if (l)
			memcpy(out + n, params[i], l);
		n += l;
	}
	return (long)n;
}

long dx_db_body_encode(uint8_t *out, size_t cap, const char *name,
		       const char *const *params, unsigned nparams)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl > DX_DB_NAME_MAX || nparams > DX_DB_NPARAMS_MAX)
		return -EINVAL;
	if (cap < 2 + nl)
		return -E2BIG;
	out[0] = (uint8_t)nl;
	memcpy(out + 1, name, nl);
	long n = dx_db_params_encode(out + 1 + nl, cap - 1 - nl, params,
				     nparams);
	return n < 0 ? n : (long)(1 + nl) + n;
}

int dx_db_body_split(const uint8_t *body, size_t len, dx_db_body *out)
{
	if (len < 2 || (size_t)body[0] + 2 > len)
		return DX_EPROTO;
	out->name = (const char *)body + 1;
	out->name_len = body[0];
	out->params = body + 1 + body[0];
	out->params_len = len - 1 - body[0];
	return 0;
}

int dx_db_params_check(const uint8_t *p, size_t len)
{
	if (len < 1)
		return DX_EPROTO;
	const uint8_t *s = p + 1, *end = p + len;
	unsigned np = p[0];
	for (unsigned i = 0; i < np; i++) {
		if (end - s < 2)
			return DX_EPROTO;
		size_t l = dx_hbtp_le16(s);
		s += 2;
		if (l == DX_DB_PARAM_NULL)
			continue;
		if ((size_t)(end - s) < l || memchr(s, 0, l))
			return DX_EPROTO;
		s += l;
	}
	return s == end ? (int)np : DX_EPROTO;
}

int dx_db_params_decode(const uint8_t *p, size_t len, const char **vals,
			unsigned max, char *strbuf, size_t strcap)
{
	int np = dx_db_params_check(p, len);
	if (np < 0)
		return np;
	if ((unsigned)np > max)
		return -E2BIG;
	const uint8_t *s = p + 1;
	size_t used = 0;
	for (int i = 0; i < np; i++) {
		size_t l = dx_hbtp_le16(s);
		s += 2;
		if (l == DX_DB_PARAM_NULL) {
			vals[i] = NULL;
			continue;
		}
		if (strcap - used < l + 1)
			return -E2BIG;
		memcpy(strbuf + used, s, l);
		strbuf[used + l] = '\0';
		vals[i] = strbuf + used;
		used += l + 1;
		s += l;
	}
	return np;
}

int dx_db_answer_open(const void *payload, size_t len, void **buf,
		      dx_rowset *rs)
{
	/* malloc's alignment is at least DX_TP_BUF_ALIGN. */
	*buf = malloc(len ? len : 1);
	if (!*buf) {
		memset(rs, 0, sizeof *rs);
		return -ENOMEM;
	}
	if (len)
		memcpy(*buf, payload, len);
	return dx_rowset_open(*buf, len, rs);
}
