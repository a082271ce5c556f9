/* teleport.c - the teleport container: writer and validating reader of a
 * header, fixed-layout records and a string table (dx/teleport.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dx/hbtp.h> /* dx_hbtp_le16() and friends */
#include <dx/teleport.h>

static const uint32_t user_strs[] = {offsetof(dx_tp_user, name),
				     offsetof(dx_tp_user, email)};
const dx_tp_type dx_tp_user_type = {DX_TP_TAG('U', 'S', 'R', '1'),
				    sizeof(dx_tp_user),
				    DX_TP_ALIGNOF(dx_tp_user),
				    0,
				    2,
				    user_strs};

enum { BO_LE = 1, BO_BE = 2 };

static unsigned host_byte_order(void)
{
	const uint16_t one = 1;
	uint8_t b;
	memcpy(&b, &one, 1);
	return b ? BO_LE : BO_BE;
}

static unsigned type_byte_order(const dx_tp_type *t)
{
	return (t->flags & DX_TP_PORTABLE) ? BO_LE : host_byte_order();
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* A type both sides can trust: sane size and alignment, string fields
 * inside the record and aligned for dx_tp_str. */
static int type_ok(const dx_tp_type *t)
{
	if (!t || !t->size || !t->align || (t->align & (t->align - 1)) ||
	    t->align > DX_TP_MAX_ALIGN || t->size % t->align ||
	    t->flags & ~(uint32_t)DX_TP_PORTABLE ||
	    (t->nstr && !t->str_offsets))
		return 0;
	for (uint32_t i = 0; i < t->nstr; i++) {
		uint32_t o = t->str_offsets[i];
		if (o % DX_TP_ALIGNOF(dx_tp_str) ||
		    (uint64_t)o + sizeof(dx_tp_str) > t->size)
			return 0;
	}
	return 1;
}

/* --- Writer ------------------------------------------------------------- */

/* Makes room for n more bytes in *p (len, cap); doubles. */
static int grow(uint8_t **p, size_t *cap, size_t len, size_t n)
{
	if (len + n <= *cap)
		return 0;
	if (n > UINT32_MAX || len + n > UINT32_MAX)
		return -E2BIG; /* offsets are u32: the whole buffer stays < 4 GiB */
	size_t c = *cap ? *cap : 256;
	while (c < len + n)
		c *= 2;
	uint8_t *q = realloc(*p, c);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int fail(dx_tp_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

int dx_tp_writer_init(dx_tp_writer *w, const dx_tp_type *type)
{
	if (!w)
		return -EINVAL;
	memset(w, 0, sizeof *w);
	if (!type_ok(type))
		return fail(w, -EINVAL);
	w->type = type;
	w->rec_off = (uint32_t)align_up(DX_TP_HEADER_SIZE, type->align);
	int rc = grow(&w->buf, &w->cap, 0, w->rec_off);
	if (!rc)
		rc = grow(&w->str, &w->str_cap, 0, 1);
	if (rc)
		return fail(w, rc);
	memset(w->buf, 0, w->rec_off);
	w->len = w->rec_off;
	w->str[0] = '\0'; /* offset 0: the empty string */
	w->str_len = 1;
	return 0;
}

int dx_tp_add_string(dx_tp_writer *w, const void *s, size_t len, dx_tp_str *out)
{
	if (!w || !out)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (!w->type)
		return fail(w, DX_ESTATE);
	if (!s && len)
		return fail(w, -EINVAL);
	if (!len) {
		out->offset = 0;
		out->length = 0;
		return 0;
	}
	if (len >= UINT32_MAX)
		return fail(w, -E2BIG);
	int rc = grow(&w->str, &w->str_cap, w->str_len, len + 1);
	if (rc)
		return fail(w, rc);
	memcpy(w->str + w->str_len, s, len);
	w->str[w->str_len + len] = '\0';
	out->offset = (uint32_t)w->str_len;
	out->length = (uint32_t)len;
	w->str_len += len + 1;
	return 0;
}

int dx_tp_append(dx_tp_writer *w, const void *rec)
{
	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (!w->type)
		return fail(w, DX_ESTATE);
	if (!rec)
		return fail(w, -EINVAL);
	if (w->count == UINT32_MAX)
		return fail(w, -E2BIG);
	int rc = grow(&w->buf, &w->cap, w->len, w->type->size);
	if (rc)
		return fail(w, rc);
	memcpy(w->buf + w->len, rec, w->type->size);
	w->len += w->type->size;
	w->count++;
	return 0;
}

void dx_tp_writer_set_aux(dx_tp_writer *w, uint32_t aux0, uint32_t aux1)
{
	if (!w)
		return;
	w->aux[0] = aux0;
	w->aux[1] = aux1;
}

static void put_header(dx_tp_writer *w)
{
	uint8_t *h = w->buf;
	memcpy(h, "DXTP", 4);
	dx_hbtp_put_le16(h + 4, DX_TP_VERSION);
	dx_hbtp_put_le16(h + 6, DX_TP_HEADER_SIZE);
	h[8] = (uint8_t)type_byte_order(w->type);
	h[9] = h[10] = h[11] = 0;
	dx_hbtp_put_le32(h + 12, w->type->tag);
	dx_hbtp_put_le32(h + 16, w->type->size);
	dx_hbtp_put_le32(h + 20, w->type->align);
	dx_hbtp_put_le32(h + 24, w->count);
	dx_hbtp_put_le32(h + 28, w->rec_off);
	dx_hbtp_put_le32(h + 32, (uint32_t)w->len);
	dx_hbtp_put_le32(h + 36, (uint32_t)w->str_len);
	dx_hbtp_put_le32(h + 40, w->aux[0]);
	dx_hbtp_put_le32(h + 44, w->aux[1]);
}

int dx_tp_writer_finish(dx_tp_writer *w, uint8_t **buf, size_t *len)
{
	if (!w || !buf || !len)
		return -EINVAL;
	if (!w->err && !w->type)
		fail(w, DX_ESTATE);
	if (w->err)
		return w->err;
	/* The records already sit after the header; the string table goes
	 * last, and the block is trimmed to its exact size. */
	int rc = grow(&w->buf, &w->cap, w->len, w->str_len);
	if (rc)
		return fail(w, rc);
	put_header(w);
	memcpy(w->buf + w->len, w->str, w->str_len);
	size_t total = w->len + w->str_len;
	uint8_t *out = realloc(w->buf, total);
	*buf = out ? out : w->buf;
	*len = total;
	w->buf = NULL;
	fail(w, DX_ESTATE); /* spent */
	dx_tp_writer_free(w);
	return 0;
}

void dx_tp_writer_free(dx_tp_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w->str);
	w->buf = w->str = NULL;
	w->len = w->cap = w->str_len = w->str_cap = 0;
	w->type = NULL;
	if (!w->err)
		w->err = DX_ESTATE;
}

/* --- Reader ------------------------------------------------------------- */

/* s lies inside the string table with its NUL after it. */
static int str_ok(const dx_tp_reader *r, uint32_t off, uint32_t len)
{
	return (uint64_t)off + len < r->strings_len &&
	       r->strings[(size_t)off + len] == '\0';
}

/* The header's claims, each against the buffer and the caller's type. */
static int check_header(const uint8_t *b, size_t len, const dx_tp_type *t,
			dx_tp_reader *r)
{
	if (len < DX_TP_HEADER_SIZE || len > UINT32_MAX)
		return DX_EPROTO;
	if (memcmp(b, "DXTP", 4))
		return DX_EPROTO;
	if (dx_hbtp_le16(b + 4) != DX_TP_VERSION)
		return -ENOTSUP;
	if (dx_hbtp_le16(b + 6) != DX_TP_HEADER_SIZE || b[9] || b[10] || b[11])
		return DX_EPROTO;
	if (b[8] != BO_LE && b[8] != BO_BE)
		return DX_EPROTO;
	if (b[8] != type_byte_order(t))
		return -ENOTSUP;
	if (dx_hbtp_le32(b + 12) != t->tag || dx_hbtp_le32(b + 16) != t->size ||
	    dx_hbtp_le32(b + 20) != t->align)
		return DX_EPROTO;
	uint32_t count = dx_hbtp_le32(b + 24), rec_off = dx_hbtp_le32(b + 28);
	uint32_t str_off = dx_hbtp_le32(b + 32), str_len = dx_hbtp_le32(b + 36);
	uint64_t rec_end = rec_off + (uint64_t)t->size * count;
	if (rec_off < DX_TP_HEADER_SIZE || rec_off % t->align ||
	    rec_end > str_off || (uint64_t)str_off + str_len != len)
		return DX_EPROTO;
	if ((uintptr_t)(b + rec_off) % t->align)
		return -EINVAL;
	r->buf = b;
	r->len = len;
	r->records = b + rec_off;
	r->count = count;
	r->size = t->size;
	r->strings = (const char *)b + str_off;
	r->strings_len = str_len;
	r->aux[0] = dx_hbtp_le32(b + 40);
	r->aux[1] = dx_hbtp_le32(b + 44);
	return 0;
}

int dx_tp_open(const void *buf, size_t len, const dx_tp_type *type,
	       dx_tp_reader *r)
{
	if (!r)
		return -EINVAL;
	memset(r, 0, sizeof *r);
	if (!buf || !type_ok(type))
		return -EINVAL;
	if ((uintptr_t)buf % DX_TP_BUF_ALIGN)
		return -EINVAL;
	int rc = check_header(buf, len, type, r);
	for (uint32_t i = 0; !rc && i < r->count; i++) {
		const uint8_t *rec = r->records + (size_t)i * r->size;
		for (uint32_t k = 0; k < type->nstr; k++) {
			dx_tp_str s;
			memcpy(&s, rec + type->str_offsets[k], sizeof s);
			if (!str_ok(r, s.offset, s.length)) {
				rc = DX_EPROTO;
				break;
			}
		}
	}
	if (rc)
		memset(r, 0, sizeof *r);
	return rc;
}

const void *dx_tp_record(const dx_tp_reader *r, size_t i)
{
	if (!r || i >= r->count)
		return NULL;
	return r->records + i * r->size;
}

const char *dx_tp_string(const dx_tp_reader *r, dx_tp_str s, size_t *len)
{
	if (len)
		*len = 0;
	if (!r || !r->strings || !str_ok(r, s.offset, s.length))
		return NULL;
	if (len)
		*len = s.length;
	return r->strings + s.offset;
}
