/* hbtp_meta.c - the HBTP metadata block: u16 block_len, then entries
 * u8 key_len, key, u16 value_len, value (integers little-endian). Parsing
 * hands out pointers into the caller's body and checks every length
 * against what is really there before reading. */
#include <errno.h>
#include <string.h>

#include <dx/hbtp.h>

/* Keys are lowercase ASCII: letters, digits and - _ . (header-like names).
 * A table: this runs for every key of every request. */
#define DX_K(c) [c] = 1
static const uint8_t dx_hbtp_key_chars[256] = {
	DX_K('a'), DX_K('b'), DX_K('c'), DX_K('d'), DX_K('e'), DX_K('f'),
	DX_K('g'), DX_K('h'), DX_K('i'), DX_K('j'), DX_K('k'), DX_K('l'),
	DX_K('m'), DX_K('n'), DX_K('o'), DX_K('p'), DX_K('q'), DX_K('r'),
	DX_K('s'), DX_K('t'), DX_K('u'), DX_K('v'), DX_K('w'), DX_K('x'),
	DX_K('y'), DX_K('z'), DX_K('0'), DX_K('1'), DX_K('2'), DX_K('3'),
	DX_K('4'), DX_K('5'), DX_K('6'), DX_K('7'), DX_K('8'), DX_K('9'),
	DX_K('-'), DX_K('_'), DX_K('.'),
};
#undef DX_K

bool dx_hbtp_key_valid(const char *key, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	unsigned ok = 1;
	for (size_t i = 0; i < len; i++)
		ok &= dx_hbtp_key_chars[(uint8_t)key[i]];
	return ok;
}

static bool dx_hbtp_key_ok(const uint8_t *key, size_t len)
{
	return dx_hbtp_key_valid((const char *)key, len);
}

/* One entry at p (end - p bytes left in the block). Returns its size or
 * DX_EPROTO with *why. */
static long dx_hbtp_meta_entry_parse(const uint8_t *p, const uint8_t *end,
				     dx_hbtp_meta_entry *e, const char **why)
{
	size_t left = (size_t)(end - p);
	uint8_t klen = p[0]; /* the caller checked left >= 1 */
	if (klen == 0) {
		*why = "metadata key of length 0";
		return DX_EPROTO;
	}
	if (left < 1u + klen + 2u) {
		*why = "metadata entry runs past the block";
		return DX_EPROTO;
	}
	if (!dx_hbtp_key_ok(p + 1, klen)) {
		*why = "metadata key is not lowercase ASCII";
		return DX_EPROTO;
	}
	uint16_t vlen = dx_hbtp_le16(p + 1 + klen);
	if (left - (1u + klen + 2u) < vlen) {
		*why = "metadata value runs past the block";
		return DX_EPROTO;
	}
	e->key = (const char *)(p + 1);
	e->key_len = klen;
	e->value = p + 1 + klen + 2;
	e->value_len = vlen;
	return 1 + klen + 2 + (long)vlen;
}

long dx_hbtp_meta_parse(const uint8_t *body, size_t len, dx_hbtp_meta *m,
			const char **why)
{
	m->count = 0;
	if (len < 2) {
		*why = "metadata block shorter than its length field";
		return DX_EPROTO;
	}
	size_t block_len = dx_hbtp_le16(body);
	if (block_len > len - 2) {
		*why = "metadata block longer than the body";
		return DX_EPROTO;
	}
	const uint8_t *p = body + 2, *end = p + block_len;
	while (p < end) {
		if (m->count == DX_HBTP_META_MAX) {
			*why = "more than 32 metadata entries";
			return DX_EPROTO;
		}
		long n = dx_hbtp_meta_entry_parse(p, end, &m->e[m->count], why);
		if (n < 0)
			return n;
		m->count++;
		p += n;
	}
	return (long)(2 + block_len);
}

const uint8_t *dx_hbtp_meta_get(const dx_hbtp_meta *m, const char *key,
				uint16_t *len)
{
	size_t klen = strlen(key);
	for (unsigned i = 0; i < m->count; i++) {
		const dx_hbtp_meta_entry *e = &m->e[i];
		if (e->key_len == klen && memcmp(e->key, key, klen) == 0) {
			*len = e->value_len;
			return e->value;
		}
	}
	return NULL;
}

int dx_hbtp_meta_begin(dx_hbtp_meta_writer *w, uint8_t *out, size_t cap)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->cap = cap;
	if (cap < 2)
		return -E2BIG;
	w->len = 2;
	return 0;
}

int dx_hbtp_meta_add(dx_hbtp_meta_writer *w, const char *key, const void *value,
		     size_t value_len)
{
	size_t klen = strlen(key);
	if (!dx_hbtp_key_ok((const uint8_t *)key, klen) || value_len > 0xFFFF)
		return -EINVAL;
	size_t need = 1 + klen + 2 + value_len;
	/* block_len is a u16: the entries may not exceed 65535 bytes, and a
	 * reader accepts at most DX_HBTP_META_MAX entries. */
	if (w->len < 2 || w->cap - w->len < need ||
	    w->len - 2 + need > 0xFFFF || w->count == DX_HBTP_META_MAX)
		return -E2BIG;
	uint8_t *p = w->out + w->len;
	p[0] = (uint8_t)klen;
	memcpy(p + 1, key, klen);
	dx_hbtp_put_le16(p + 1 + klen, (uint16_t)value_len);
	if (value_len)
		memcpy(p + 1 + klen + 2, value, value_len);
	w->len += need;
	w->count++;
	return 0;
}

int dx_hbtp_meta_end(dx_hbtp_meta_writer *w)
{
	if (w->len < 2)
		return -E2BIG;
	dx_hbtp_put_le16(w->out, (uint16_t)(w->len - 2));
	return 0;
}
