/* test_hbtp.c - HBTP v1 in the SDK (sdk/src/hbtp*.c): the header's exact
 * bytes, frame splitting, metadata, LZ4 and reassembly, case by case.
 * Buffers under test are malloc'd to their exact size so ASan sees any
 * read or write past them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <dx/hbtp.h>

#include "check_main.h"

/* An exactly-sized heap copy of n bytes. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

/* --- header --- */

START_TEST(header_exact_bytes)
{
	dx_hbtp_header h = {0x30, 0x0C, 0x1234, 0x01020304}, back;
	uint8_t out[8];
	dx_hbtp_header_encode(&h, out);
	const uint8_t want[8] = {0x30, 0x0C, 0x34, 0x12,
				 0x04, 0x03, 0x02, 0x01};
	ck_assert_mem_eq(out, want, 8);
	dx_hbtp_header_decode(out, &back);
	ck_assert_uint_eq(back.opcode, 0x30);
	ck_assert_uint_eq(back.flags, 0x0C);
	ck_assert_uint_eq(back.seq, 0x1234);
	ck_assert_uint_eq(back.length, 0x01020304);
}
END_TEST

START_TEST(header_extremes)
{
	dx_hbtp_header h = {0xFF, 0xFF, 0xFFFF, 0xFFFFFFFF}, back;
	uint8_t out[8];
	dx_hbtp_header_encode(&h, out);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(out[i], 0xFF);
	dx_hbtp_header_decode(out, &back);
	ck_assert_uint_eq(back.seq, 0xFFFF);
	ck_assert_uint_eq(back.length, 0xFFFFFFFFu);
}
END_TEST

START_TEST(header_check_and_names)
{
	const char *why = NULL;
	dx_hbtp_header h = {DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 1, 0};
	ck_assert_int_eq(dx_hbtp_header_check(&h, &why), 0);
	h.flags = 0x20 | DX_HBTP_FINAL;
	ck_assert_int_eq(dx_hbtp_header_check(&h, &why), DX_EPROTO);
	ck_assert_str_eq(why, "reserved flag bits set");
	h.flags = DX_HBTP_FINAL;
	h.opcode = 0x03;
	ck_assert_int_eq(dx_hbtp_header_check(&h, &why), -ENOTSUP);
	h.opcode = DX_HBTP_EXTENDED;
	ck_assert_int_eq(dx_hbtp_header_check(&h, &why), 0);
	ck_assert_str_eq(dx_hbtp_opcode_name(0x30), "RpcCall");
	ck_assert_str_eq(dx_hbtp_opcode_name(0x21), "HtipPatchText");
	ck_assert_str_eq(dx_hbtp_opcode_name(0xFF), "Extended");
	ck_assert_ptr_null(dx_hbtp_opcode_name(0x12));
}
END_TEST

/* --- frame split and write --- */

START_TEST(split_partial)
{
	uint8_t frame[8 + 5];
	ck_assert_int_eq(dx_hbtp_frame_write(frame, sizeof frame, 0x30, 0x0C, 7,
					     "hello", 5),
			 13);
	for (size_t len = 0; len < sizeof frame; len++) {
		uint8_t *b = dup_exact(frame, len);
		dx_hbtp_header h = {0};
		const uint8_t *body = NULL;
		ck_assert_int_eq(dx_hbtp_frame_split(b, len, 1024, &h, &body),
				 0);
		if (len >= 8) /* *h is set as soon as the header is there */
			ck_assert_uint_eq(h.length, 5);
		ck_assert_ptr_null(body);
		free(b);
	}
	uint8_t *b = dup_exact(frame, sizeof frame);
	dx_hbtp_header h;
	const uint8_t *body = NULL;
	ck_assert_int_eq(dx_hbtp_frame_split(b, sizeof frame, 1024, &h, &body),
			 13);
	ck_assert_ptr_eq(body, b + 8);
	ck_assert_mem_eq(body, "hello", 5);
	ck_assert_uint_eq(h.seq, 7);
	free(b);
}
END_TEST

START_TEST(split_max_frame)
{
	uint8_t hdr[8];
	dx_hbtp_header h = {0x30, 0x08, 1, 1025};
	dx_hbtp_header_encode(&h, hdr);
	const uint8_t *body;
	ck_assert_int_eq(dx_hbtp_frame_split(hdr, 8, 1024, &h, &body), -E2BIG);
	h.length = 0xFFFFFFFF; /* must not wrap when added to the header */
	dx_hbtp_header_encode(&h, hdr);
	ck_assert_int_eq(dx_hbtp_frame_split(hdr, 8, 0xFFFFFFFF, &h, &body), 0);
	h.length = 1024; /* exactly max_frame is fine */
	dx_hbtp_header_encode(&h, hdr);
	ck_assert_int_eq(dx_hbtp_frame_split(hdr, 8, 1024, &h, &body), 0);
}
END_TEST

START_TEST(split_back_to_back)
{
	uint8_t buf[64];
	long a = dx_hbtp_frame_write(buf, sizeof buf, DX_HBTP_PING, 0, 1, "ab",
				     2);
	long b = dx_hbtp_frame_write(buf + a, sizeof buf - (size_t)a,
				     DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 2, NULL,
				     0);
	long c = dx_hbtp_frame_write(buf + a + b, sizeof buf - (size_t)(a + b),
				     DX_HBTP_PONG, 0, 3, "xyz", 3);
	size_t total = (size_t)(a + b + c), off = 0;
	uint8_t *in = dup_exact(buf, total);
	const uint16_t seqs[] = {1, 2, 3};
	const uint32_t lens[] = {2, 0, 3};
	for (int i = 0; i < 3; i++) {
		dx_hbtp_header h;
		const uint8_t *body;
		long n = dx_hbtp_frame_split(in + off, total - off, 64, &h,
					     &body);
		ck_assert_int_eq(n, 8 + (long)lens[i]);
		ck_assert_uint_eq(h.seq, seqs[i]);
		off += (size_t)n;
	}
	ck_assert_uint_eq(off, total);
	free(in);
}
END_TEST

START_TEST(frame_write_too_small)
{
	uint8_t buf[12];
	ck_assert_int_eq(dx_hbtp_frame_write(buf, 12, 0, 0, 0, "12345", 5),
			 -E2BIG);
	ck_assert_int_eq(dx_hbtp_frame_write(buf, 7, 0, 0, 0, NULL, 0), -E2BIG);
	ck_assert_int_eq(dx_hbtp_frame_write(buf, 12, 0, 0, 0, "1234", 4), 12);
}
END_TEST

/* --- metadata --- */

START_TEST(meta_round_trip)
{
	uint8_t out[256];
	dx_hbtp_meta_writer w;
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, out, sizeof out), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "authorization", "Bearer x", 8),
			 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "x-request-id", "42", 2), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "empty", NULL, 0), 0);
	ck_assert_int_eq(dx_hbtp_meta_end(&w), 0);
	ck_assert_uint_eq(w.len, 2 + (1 + 13 + 2 + 8) + (1 + 12 + 2 + 2) +
					 (1 + 5 + 2));
	/* The exact bytes of the start: block_len LE, then key_len, key. */
	ck_assert_uint_eq(out[0] | out[1] << 8, w.len - 2);
	ck_assert_uint_eq(out[2], 13);
	ck_assert_mem_eq(out + 3, "authorization", 13);
	ck_assert_uint_eq(out[16], 8);
	ck_assert_uint_eq(out[17], 0);

	/* A payload after the block is not part of it. */
	uint8_t *body = malloc(w.len + 3);
	memcpy(body, out, w.len);
	memcpy(body + w.len, "pay", 3);
	dx_hbtp_meta m;
	const char *why = NULL;
	ck_assert_int_eq(dx_hbtp_meta_parse(body, w.len + 3, &m, &why),
			 (long)w.len);
	ck_assert_uint_eq(m.count, 3);
	uint16_t len = 0;
	const uint8_t *v = dx_hbtp_meta_get(&m, "x-request-id", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(v, "42", 2);
	ck_assert_ptr_nonnull(dx_hbtp_meta_get(&m, "empty", &len));
	ck_assert_uint_eq(len, 0);
	len = 77;
	ck_assert_ptr_null(dx_hbtp_meta_get(&m, "x-request", &len));
	ck_assert_uint_eq(len, 77);
	free(body);
}
END_TEST

START_TEST(meta_writer_refuses)
{
	uint8_t out[16];
	dx_hbtp_meta_writer w;
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, out, 1), -E2BIG);
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, out, sizeof out), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "Upper", "", 0), -EINVAL);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "", "", 0), -EINVAL);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "a b", "", 0), -EINVAL);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "k", "0123456789ab", 12), -E2BIG);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "k", "0123456789", 10), 0);
	ck_assert_uint_eq(w.len, 16);
	ck_assert_int_eq(dx_hbtp_meta_end(&w), 0);

	uint8_t big[1024];
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, big, sizeof big), 0);
	for (int i = 0; i < DX_HBTP_META_MAX; i++)
		ck_assert_int_eq(dx_hbtp_meta_add(&w, "k", "v", 1), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "k", "v", 1), -E2BIG);
}
END_TEST

/* Parse n bytes (exactly-sized copy) and expect DX_EPROTO and why. */
static void meta_expect_bad(const uint8_t *bytes, size_t n, const char *want)
{
	uint8_t *b = dup_exact(bytes, n);
	dx_hbtp_meta m;
	const char *why = NULL;
	ck_assert_int_eq(dx_hbtp_meta_parse(b, n, &m, &why), DX_EPROTO);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, want), "why \"%s\", want \"%s\"", why, want);
	free(b);
}

START_TEST(meta_malformed)
{
	/* block longer than the body */
	const uint8_t longer[] = {10, 0, 1, 'a', 0, 0};
	meta_expect_bad(longer, sizeof longer, "longer than the body");
	/* no room for block_len at all */
	meta_expect_bad((const uint8_t *)"\x01", 1, "shorter");
	/* a key of length 0 */
	const uint8_t key0[] = {3, 0, 0, 0, 0};
	meta_expect_bad(key0, sizeof key0, "length 0");
	/* a value running past the end of the block (body is longer) */
	const uint8_t vpast[] = {5, 0, 1, 'a', 5, 0, 'x', 'y', 'z', 'z', 'z'};
	meta_expect_bad(vpast, sizeof vpast, "value runs past");
	/* a key running past the block */
	const uint8_t kpast[] = {3, 0, 9, 'a', 'b'};
	meta_expect_bad(kpast, sizeof kpast, "runs past the block");
	/* not lowercase ASCII */
	const uint8_t upper[] = {5, 0, 2, 'A', 'b', 0, 0};
	meta_expect_bad(upper, sizeof upper, "lowercase");
	const uint8_t high[] = {4, 0, 1, 0xC3, 0, 0};
	meta_expect_bad(high, sizeof high, "lowercase");
	/* 33 entries */
	uint8_t many[2 + 33 * 4];
	many[0] = 33 * 4;
	many[1] = 0;
	for (int i = 0; i < 33; i++)
		memcpy(many + 2 + i * 4, "\x01k\x00\x00", 4);
	meta_expect_bad(many, sizeof many, "more than 32");
}
END_TEST

START_TEST(meta_empty_block)
{
	const uint8_t empty[] = {0, 0};
	uint8_t *b = dup_exact(empty, 2);
	dx_hbtp_meta m;
	const char *why = NULL;
	ck_assert_int_eq(dx_hbtp_meta_parse(b, 2, &m, &why), 2);
	ck_assert_uint_eq(m.count, 0);
	free(b);
}
END_TEST

/* --- LZ4 --- */

START_TEST(lz4_round_trip)
{
	size_t n = 100000;
	uint8_t *src = malloc(n);
	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)(i % 251 < 128 ? 'a' : i * 7);
	size_t bound = dx_hbtp_compress_bound(n);
	uint8_t *z = malloc(bound);
	long k = dx_hbtp_compress(src, n, z, bound);
	ck_assert_int_gt(k, 0);
	ck_assert_int_lt(k, (long)n);
	uint8_t *zz = dup_exact(z, (size_t)k);
	uint8_t *out = malloc(n);
	ck_assert_int_eq(dx_hbtp_decompress(zz, (size_t)k, out, n), (long)n);
	ck_assert_mem_eq(out, src, n);
	/* One byte short of room: E2BIG. */
	ck_assert_int_eq(dx_hbtp_decompress(zz, (size_t)k, out, n - 1), -E2BIG);
	/* cap below the bound: E2BIG, not a partial frame. */
	ck_assert_int_eq(dx_hbtp_compress(src, n, z, 10), -E2BIG);
	free(src);
	free(z);
	free(zz);
	free(out);
}
END_TEST

START_TEST(lz4_empty)
{
	uint8_t z[64], out[1];
	long k = dx_hbtp_compress("", 0, z, sizeof z);
	ck_assert_int_gt(k, 0);
	ck_assert_int_eq(dx_hbtp_decompress(z, (size_t)k, out, 0), 0);
	ck_assert_int_eq(dx_hbtp_decompress(z, 0, out, 1), DX_EPROTO);
}
END_TEST

START_TEST(lz4_not_lz4)
{
	const char *junk = "this is not an LZ4 frame at all";
	uint8_t *in = dup_exact(junk, strlen(junk));
	uint8_t out[256];
	ck_assert_int_eq(dx_hbtp_decompress(in, strlen(junk), out, sizeof out),
			 DX_EPROTO);
	free(in);
}
END_TEST

START_TEST(lz4_truncated_and_trailing)
{
	const char *text = "hello hello hello hello hello hello hello";
	size_t n = strlen(text);
	uint8_t z[256], out[256];
	long k = dx_hbtp_compress(text, n, z, sizeof z);
	ck_assert_int_gt(k, 4);
	for (long cut = 0; cut < k; cut++) {
		uint8_t *in = dup_exact(z, (size_t)cut);
		ck_assert_msg(dx_hbtp_decompress(in, (size_t)cut, out,
						 sizeof out) == DX_EPROTO,
			      "cut at %ld of %ld", cut, k);
		free(in);
	}
	z[k] = 0; /* one byte of junk after the frame */
	uint8_t *in = dup_exact(z, (size_t)k + 1);
	ck_assert_int_eq(dx_hbtp_decompress(in, (size_t)k + 1, out, sizeof out),
			 DX_EPROTO);
	free(in);
}
END_TEST

START_TEST(lz4_bomb)
{
	size_t n = 64u << 20, cap = 1u << 20;
	uint8_t *zeros = calloc(1, n);
	size_t bound = dx_hbtp_compress_bound(n);
	uint8_t *z = malloc(bound);
	long k = dx_hbtp_compress(zeros, n, z, bound);
	ck_assert_int_gt(k, 0);
	ck_assert_int_lt(k, (long)(n / 100)); /* a real bomb */
	free(zeros);
	uint8_t *in = dup_exact(z, (size_t)k);
	free(z);
	uint8_t *out = malloc(cap); /* ASan: no write past cap */
	ck_assert_int_eq(dx_hbtp_decompress(in, (size_t)k, out, cap), -E2BIG);
	free(out);
	free(in);
}
END_TEST

/* --- reassembly --- */

static dx_hbtp_header hdr(uint8_t op, uint8_t flags, uint16_t seq, size_t n)
{
	dx_hbtp_header h = {op, flags, seq, (uint32_t)n};
	return h;
}

START_TEST(reasm_three_fragments)
{
	uint8_t buf[16];
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, buf, sizeof buf);
	dx_hbtp_header h, out;
	const uint8_t *msg = NULL;
	size_t len = 0;
	uint8_t fl = DX_HBTP_EXPECTS_RESPONSE | DX_HBTP_HAS_META;
	h = hdr(DX_HBTP_RPC_CALL, fl, 9, 3);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"abc",
					    &out, &msg, &len),
			 DX_HBTP_REASM_MORE);
	h = hdr(DX_HBTP_RPC_CALL, 0, 9, 4);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"defg",
					    &out, &msg, &len),
			 DX_HBTP_REASM_MORE);
	h = hdr(DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 9, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"hi", &out,
					    &msg, &len),
			 DX_HBTP_REASM_COMPLETE);
	ck_assert_uint_eq(len, 9);
	ck_assert_mem_eq(msg, "abcdefghi", 9);
	ck_assert_uint_eq(out.length, 9);
	ck_assert_uint_eq(out.seq, 9);
	ck_assert_uint_eq(out.flags, fl | DX_HBTP_FINAL); /* first's flags */
	/* The next single frame passes through, no copy. */
	h = hdr(DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 10, 1);
	const uint8_t *one = (const uint8_t *)"z";
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, one, &out, &msg, &len),
			 DX_HBTP_REASM_COMPLETE);
	ck_assert_ptr_eq(msg, one);
}
END_TEST

START_TEST(reasm_oversize)
{
	uint8_t buf[8];
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, buf, sizeof buf);
	dx_hbtp_header h, out;
	const uint8_t *msg;
	size_t len;
	h = hdr(DX_HBTP_RPC_CALL, 0, 1, 5);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"12345",
					    &out, &msg, &len),
			 DX_HBTP_REASM_MORE);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"12345",
					    &out, &msg, &len),
			 -E2BIG);
	/* The rest of that message is swallowed up to its FINAL... */
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"12345",
					    &out, &msg, &len),
			 DX_HBTP_REASM_MORE);
	h.flags = DX_HBTP_FINAL;
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"12345",
					    &out, &msg, &len),
			 DX_HBTP_REASM_MORE);
	/* ...and the stream goes on. */
	h = hdr(DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 1, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"ok", &out,
					    &msg, &len),
			 DX_HBTP_REASM_COMPLETE);
	ck_assert_mem_eq(msg, "ok", 2);
	/* A first fragment above cap on its own. */
	h = hdr(DX_HBTP_RPC_CALL, 0, 2, 9);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h,
					    (const uint8_t *)"123456789", &out,
					    &msg, &len),
			 -E2BIG);
	/* Another message ends the discarding at once. */
	h = hdr(DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 3, 1);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"x", &out,
					    &msg, &len),
			 DX_HBTP_REASM_COMPLETE);
	ck_assert_uint_eq(out.seq, 3);
}
END_TEST

START_TEST(reasm_interleaved)
{
	uint8_t buf[64];
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, buf, sizeof buf);
	dx_hbtp_header h, out;
	const uint8_t *msg;
	size_t len;
	h = hdr(DX_HBTP_RPC_CALL, 0, 1, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"ab", &out,
					    &msg, &len),
			 DX_HBTP_REASM_MORE);
	h = hdr(DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 2, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"cd", &out,
					    &msg, &len),
			 DX_EPROTO);
	ck_assert(!r.active);
	/* Another opcode with the same seq is interleaving too. */
	h = hdr(DX_HBTP_RPC_CALL, 0, 1, 2);
	dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"ab", &out, &msg, &len);
	h = hdr(DX_HBTP_CLIENT_EVENT, 0, 1, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"cd", &out,
					    &msg, &len),
			 DX_EPROTO);
}
END_TEST

START_TEST(reasm_control_passes)
{
	uint8_t buf[64];
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, buf, sizeof buf);
	dx_hbtp_header h, out;
	const uint8_t *msg;
	size_t len;
	h = hdr(DX_HBTP_RPC_CALL, 0, 5, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"ab", &out,
					    &msg, &len),
			 DX_HBTP_REASM_MORE);
	/* A Ping without FINAL between the fragments: whole, at once. */
	h = hdr(DX_HBTP_PING, 0, 77, 4);
	const uint8_t *ping = (const uint8_t *)"ping";
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, ping, &out, &msg, &len),
			 DX_HBTP_REASM_COMPLETE);
	ck_assert_ptr_eq(msg, ping);
	ck_assert_uint_eq(out.seq, 77);
	ck_assert(r.active);
	h = hdr(DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 5, 2);
	ck_assert_int_eq(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"cd", &out,
					    &msg, &len),
			 DX_HBTP_REASM_COMPLETE);
	ck_assert_mem_eq(msg, "abcd", 4);
	dx_hbtp_reasm_reset(&r);
	ck_assert(!r.active);
}
END_TEST

static Suite *hbtp_suite(void)
{
	Suite *s = suite_create("hbtp");
	TCase *t = tcase_create("header");
	tcase_add_test(t, header_exact_bytes);
	tcase_add_test(t, header_extremes);
	tcase_add_test(t, header_check_and_names);
	tcase_add_test(t, split_partial);
	tcase_add_test(t, split_max_frame);
	tcase_add_test(t, split_back_to_back);
	tcase_add_test(t, frame_write_too_small);
	suite_add_tcase(s, t);
	t = tcase_create("meta");
	tcase_add_test(t, meta_round_trip);
	tcase_add_test(t, meta_writer_refuses);
	tcase_add_test(t, meta_malformed);
	tcase_add_test(t, meta_empty_block);
	suite_add_tcase(s, t);
	t = tcase_create("lz4");
	tcase_set_timeout(t, 30); /* the bomb under ASan */
	tcase_add_test(t, lz4_round_trip);
	tcase_add_test(t, lz4_empty);
	tcase_add_test(t, lz4_not_lz4);
	tcase_add_test(t, lz4_truncated_and_trailing);
	tcase_add_test(t, lz4_bomb);
	suite_add_tcase(s, t);
	t = tcase_create("reasm");
	tcase_add_test(t, reasm_three_fragments);
	tcase_add_test(t, reasm_oversize);
	tcase_add_test(t, reasm_interleaved);
	tcase_add_test(t, reasm_control_passes);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return dx_check_run(hbtp_suite());
}
