/* fuzz_hbtp - the HBTP stream as the host and the client read it: frame
 * split, header check, reassembly, the metadata block and LZ4 with a cap
 * (libdx's hbtp.c, hbtp_meta.c, hbtp_lz4.c).
 *
 * Input: one byte choosing the limits, then the stream. Besides "no crash,
 * no out-of-bounds access" (ASan), it checks what the header promises: a
 * split frame lies inside the input, a reassembled message is within
 * max_message, a parsed metadata block lies inside its body, holds only
 * valid keys and survives a round trip through the writer, and inflating
 * never goes past its cap. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dx/hbtp.h>

#include "fuzz_check.h"

static const uint32_t frame_sizes[] = {64, 256, 4096, 65536};

/* Parse, rebuild with the writer, parse again: the same entries. */
static void check_meta(const uint8_t *body, size_t len)
{
	dx_hbtp_meta m;
	const char *why = NULL;
	long used = dx_hbtp_meta_parse(body, len, &m, &why);
	if (used < 0) {
		FUZZ_CHECK(why != NULL, "refused without a reason");
		return;
	}
	FUZZ_CHECK((size_t)used <= len && used >= 2, "used %ld of %zu", used,
		   len);
	FUZZ_CHECK(m.count <= DX_HBTP_META_MAX, "%u entries", m.count);
	uint8_t *out = malloc((size_t)used);
	FUZZ_CHECK(out != NULL, "malloc");
	dx_hbtp_meta_writer w;
	FUZZ_CHECK(dx_hbtp_meta_begin(&w, out, (size_t)used) == 0, "begin");
	for (unsigned i = 0; i < m.count; i++) {
		const dx_hbtp_meta_entry *e = &m.e[i];
		FUZZ_CHECK((const uint8_t *)e->key > body &&
				   e->value + e->value_len <= body + used,
			   "entry %u outside the block", i);
		FUZZ_CHECK(dx_hbtp_key_valid(e->key, e->key_len),
			   "entry %u has an invalid key", i);
		char key[256];
		memcpy(key, e->key, e->key_len);
		key[e->key_len] = '\0';
		uint16_t vlen = 0;
		FUZZ_CHECK(dx_hbtp_meta_get(&m, key, &vlen) != NULL,
			   "key %s not found", key);
		FUZZ_CHECK(dx_hbtp_meta_add(&w, key, e->value, e->value_len) ==
				   0,
			   "writer refused entry %u", i);
	}
	FUZZ_CHECK(dx_hbtp_meta_end(&w) == 0, "end");
	FUZZ_CHECK(w.len == (size_t)used && memcmp(out, body, w.len) == 0,
		   "round trip differs (%zu vs %ld bytes)", w.len, used);
	free(out);
}

/* Inflate into a buffer of exactly cap bytes (ASan sees one byte past). */
static void check_lz4(const uint8_t *src, size_t n, size_t cap)
{
	uint8_t *dst = malloc(cap ? cap : 1);
	FUZZ_CHECK(dst != NULL, "malloc");
	long got = dx_hbtp_decompress(src, n, dst, cap);
	FUZZ_CHECK(got <= (long)cap, "inflated %ld past cap %zu", got, cap);
	FUZZ_CHECK(got >= 0 || got == -E2BIG || got == DX_EPROTO ||
			   got == -ENOMEM,
		   "unexpected code %ld", got);
	if (got > 0) {
		/* What came out goes back in and out again unchanged. */
		size_t bound = dx_hbtp_compress_bound((size_t)got);
		uint8_t *z = malloc(bound), *back = malloc((size_t)got);
		FUZZ_CHECK(z && back, "malloc");
		long zn = dx_hbtp_compress(dst, (size_t)got, z, bound);
		FUZZ_CHECK(zn > 0, "compress: %ld", zn);
		long bn = dx_hbtp_decompress(z, (size_t)zn, back, (size_t)got);
		FUZZ_CHECK(bn == got && memcmp(back, dst, (size_t)got) == 0,
			   "round trip: %ld of %ld", bn, got);
		free(z);
		free(back);
	}
	free(dst);
}

static void check_message(const dx_hbtp_header *h, const uint8_t *msg,
			  size_t len, size_t max_message)
{
	if (h->flags & DX_HBTP_HAS_META) {
		check_meta(msg, len);
		dx_hbtp_meta m;
		const char *why;
		long used = dx_hbtp_meta_parse(msg, len, &m, &why);
		if (used < 0)
			return;
		msg += used;
		len -= (size_t)used;
	}
	if (h->flags & DX_HBTP_COMPRESSED)
		check_lz4(msg, len, max_message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t max_frame = frame_sizes[data[0] & 3];
	size_t max_message = (size_t)max_frame << ((data[0] >> 2) & 3);
	data++;
	size--;
	uint8_t *rbuf = malloc(max_message);
	FUZZ_CHECK(rbuf != NULL, "malloc");
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, rbuf, max_message);
	size_t off = 0;
	while (off < size) {
		dx_hbtp_header h;
		const uint8_t *body = NULL;
		long n = dx_hbtp_frame_split(data + off, size - off, max_frame,
					     &h, &body);
		if (n <= 0) {
			FUZZ_CHECK(n == 0 || (n == -E2BIG && h.length > max_frame),
				   "split: %ld", n);
			break;
		}
		FUZZ_CHECK((size_t)n <= size - off && h.length <= max_frame &&
				   body == data + off + DX_HBTP_HEADER_SIZE &&
				   (size_t)n == DX_HBTP_HEADER_SIZE + h.length,
			   "frame of %ld bytes at %zu", n, off);
		off += (size_t)n;
		const char *why = NULL;
		int hc = dx_hbtp_header_check(&h, &why);
		FUZZ_CHECK(hc == 0 || (why && (hc == DX_EPROTO || hc == -ENOTSUP)),
			   "header check %d", hc);
		if (hc < 0)
			continue; /* as the host answers it: not reassembled */
		dx_hbtp_header mh;
		const uint8_t *msg;
		size_t len;
		int rc = dx_hbtp_reasm_push(&r, &h, body, &mh, &msg, &len);
		if (rc != DX_HBTP_REASM_COMPLETE)
			continue;
		/* Ping, Pong and Close are never split: FINAL is ignored. */
		FUZZ_CHECK((mh.flags & DX_HBTP_FINAL) || mh.opcode <= DX_HBTP_CLOSE,
			   "no FINAL");
		FUZZ_CHECK(len == mh.length, "length %zu vs %u", len, mh.length);
		FUZZ_CHECK(len <= max_message, "message %zu past %zu", len,
			   max_message);
		check_message(&mh, msg, len, max_message);
	}
	free(rbuf);
	return 0;
}
