/* test_win_hbtp.c - libdx's HBTP codec through dx.dll under wine: a frame
 * written and split back, a header check, metadata built and parsed, a
 * fragmented message reassembled, and the COMPRESSED path (LZ4 frames,
 * subprojects/lz4.wrap's lz4) both ways, with the bomb cap. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <dx/hbtp.h>

#include "wintest.h"

static void frame_round_trip(void)
{
	uint8_t out[64];
	long n = dx_hbtp_frame_write(out, sizeof out, DX_HBTP_RPC_CALL,
				     DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE,
				     7, "hello", 5);
	WT_INT_EQ(n, 13);
	WT_INT_EQ(out[0], DX_HBTP_RPC_CALL);
	WT_INT_EQ(dx_hbtp_le16(out + 2), 7);
	WT_INT_EQ(dx_hbtp_le32(out + 4), 5);

	dx_hbtp_header h;
	const uint8_t *body = NULL;
	WT_INT_EQ(dx_hbtp_frame_split(out, 12, 1024, &h, &body), 0);
	WT_INT_EQ(dx_hbtp_frame_split(out, (size_t)n, 1024, &h, &body), 13);
	WT_INT_EQ(h.opcode, DX_HBTP_RPC_CALL);
	WT_INT_EQ(h.seq, 7);
	WT_INT_EQ(h.length, 5);
	WT_ASSERT(body == out + 8 && memcmp(body, "hello", 5) == 0);
	WT_INT_EQ(dx_hbtp_frame_split(out, (size_t)n, 4, &h, &body), -E2BIG);
	WT_INT_EQ(dx_hbtp_frame_write(out, 12, DX_HBTP_PING, 0, 0, "hello", 5),
		  -E2BIG);
	WT_STR_HAS(dx_hbtp_opcode_name(DX_HBTP_RPC_CALL), "RpcCall");
}

static void header_check(void)
{
	uint8_t raw[8];
	dx_hbtp_header h = {.opcode = DX_HBTP_RPC_CALL,
			    .flags = DX_HBTP_FINAL,
			    .seq = 0xBEEF,
			    .length = 0x01020304};
	dx_hbtp_header_encode(&h, raw);
	dx_hbtp_header back;
	dx_hbtp_header_decode(raw, &back);
	WT_INT_EQ(back.seq, 0xBEEF);
	WT_INT_EQ(back.length, 0x01020304);
	const char *why = NULL;
	WT_INT_EQ(dx_hbtp_header_check(&back, &why), 0);
	back.flags |= 0x80; /* a reserved flag */
	WT_ASSERT(dx_hbtp_header_check(&back, &why) < 0);
	WT_ASSERT(why != NULL);
}

static void meta_round_trip(void)
{
	uint8_t block[128];
	dx_hbtp_meta_writer w;
	WT_INT_EQ(dx_hbtp_meta_begin(&w, block, sizeof block), 0);
	WT_INT_EQ(dx_hbtp_meta_add(&w, "trace-id", "abc", 3), 0);
	WT_INT_EQ(dx_hbtp_meta_add(&w, "Bad", "x", 1), -EINVAL);
	WT_INT_EQ(dx_hbtp_meta_end(&w), 0);
	dx_hbtp_meta m;
	const char *why = NULL;
	long used = dx_hbtp_meta_parse(block, w.len, &m, &why);
	WT_INT_EQ(used, (long)w.len);
	WT_INT_EQ(m.count, 1);
	uint16_t len = 0;
	const uint8_t *v = dx_hbtp_meta_get(&m, "trace-id", &len);
	WT_ASSERT(v && len == 3 && memcmp(v, "abc", 3) == 0);
	WT_ASSERT(dx_hbtp_meta_get(&m, "other", &len) == NULL);
	/* A block claiming more than the body holds. */
	WT_INT_EQ(dx_hbtp_meta_parse(block, 3, &m, &why), DX_EPROTO);
}

static void reassembly(void)
{
	uint8_t buf[16];
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, buf, sizeof buf);
	dx_hbtp_header h = {.opcode = DX_HBTP_RPC_CALL, .seq = 3, .length = 4};
	dx_hbtp_header out;
	const uint8_t *msg = NULL;
	size_t len = 0;
	WT_INT_EQ(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"abcd", &out,
				     &msg, &len),
		  DX_HBTP_REASM_MORE);
	h.flags = DX_HBTP_FINAL;
	h.length = 3;
	WT_INT_EQ(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"efg", &out, &msg,
				     &len),
		  DX_HBTP_REASM_COMPLETE);
	WT_INT_EQ(len, 7);
	WT_ASSERT(memcmp(msg, "abcdefg", 7) == 0);
	WT_INT_EQ(out.length, 7);
	/* Past the buffer: 413's -E2BIG. */
	h.flags = 0;
	h.length = 12;
	WT_INT_EQ(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"0123456789ab",
				     &out, &msg, &len),
		  DX_HBTP_REASM_MORE);
	h.flags = DX_HBTP_FINAL;
	WT_INT_EQ(dx_hbtp_reasm_push(&r, &h, (const uint8_t *)"0123456789ab",
				     &out, &msg, &len),
		  -E2BIG);
}

static void compressed(void)
{
	enum { N = 64 * 1024 };
	char *src = malloc(N);
	WT_ASSERT(src != NULL);
	for (size_t i = 0; i < N; i++)
		src[i] = "dx on windows "[i % 14];
	size_t bound = dx_hbtp_compress_bound(N);
	WT_ASSERT(bound >= N);
	uint8_t *z = malloc(bound);
	char *back = malloc(N);
	WT_ASSERT(z && back);
	WT_INT_EQ(dx_hbtp_compress(src, N, z, bound / 2), -E2BIG);
	long zn = dx_hbtp_compress(src, N, z, bound);
	WT_ASSERT(zn > 0 && zn < N / 10); /* repetitive input shrinks */
	WT_INT_EQ(dx_hbtp_decompress(z, (size_t)zn, back, N), N);
	WT_ASSERT(memcmp(src, back, N) == 0);
	/* The cap holds: a frame inflating past it stops with -E2BIG. */
	WT_INT_EQ(dx_hbtp_decompress(z, (size_t)zn, back, N / 2), -E2BIG);
	/* Garbage and a truncated frame are protocol errors. */
	WT_INT_EQ(dx_hbtp_decompress("not lz4", 7, back, N), DX_EPROTO);
	WT_INT_EQ(dx_hbtp_decompress(z, (size_t)zn - 4, back, N), DX_EPROTO);
	free(src);
	free(z);
	free(back);
}

int main(void)
{
	static const wt_test tests[] = {
		{"frame_round_trip", frame_round_trip},
		{"header_check", header_check},
		{"meta_round_trip", meta_round_trip},
		{"reassembly", reassembly},
		{"compressed", compressed},
	};
	return wt_run("test_win_hbtp", tests, sizeof tests / sizeof tests[0]);
}
