/* test_hbtp_prop.c - property tests for HBTP v1 in the SDK.
 *
 * (a) random bytes through every decoder never crash, never read past the
 *     input (each input is an exactly-sized malloc copy, so ASan sees an
 *     overread) and always return a frame, need-more or an error whose
 *     sizes are within the input;
 * (b) encode -> decode of random headers, metadata and bodies, streamed
 *     through dx_hbtp_frame_split with random split points;
 * (c) compress -> decompress of random data, compressible and not.
 *
 * The seed comes from DX_TEST_SEED when set, else from the clock; every
 * failure message carries it ("seed N case K"), so DX_TEST_SEED=N replays
 * the run exactly. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <dx/hbtp.h>

#include "check_main.h"

#define CASES 2000

#include "prop_rng.h"

/* Random bytes, with a bias towards small lengths and plausible headers
 * (so the decoders get past their first checks). */
static uint8_t *rnd_input(rng *r, size_t *n)
{
	size_t len = rnd_below(r, 4) == 0 ? rnd_below(r, 4096) :
					    rnd_below(r, 64);
	uint8_t *p = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd(r);
	if (len >= 8 && rnd_below(r, 2)) /* a length that may fit */
		dx_hbtp_put_le32(p + 4, (uint32_t)rnd_below(r, len));
	if (len >= 2 && rnd_below(r, 2)) /* a block_len that may fit */
		dx_hbtp_put_le16(p, (uint16_t)rnd_below(r, len));
	*n = len;
	return p;
}

static void fuzz_split(rng *r, int k, const uint8_t *in, size_t n)
{
	dx_hbtp_header h;
	const uint8_t *body = NULL;
	uint32_t max = (uint32_t)rnd_below(r, 8192);
	long got = dx_hbtp_frame_split(in, n, max, &h, &body);
	FAILIF(got != 0 && got != -E2BIG && got < 8, r, k, "split %ld", got);
	if (got > 0) {
		FAILIF((size_t)got > n, r, k, "frame %ld > input %zu", got, n);
		FAILIF(body != in + 8 || h.length != (size_t)got - 8, r, k,
		       "body or length off");
		FAILIF(h.length > max, r, k, "length above max_frame");
	}
}

static void fuzz_meta(rng *r, int k, const uint8_t *in, size_t n)
{
	dx_hbtp_meta m;
	const char *why = NULL;
	long got = dx_hbtp_meta_parse(in, n, &m, &why);
	if (got < 0) {
		FAILIF(got != DX_EPROTO || !why, r, k, "meta error %ld", got);
		return;
	}
	FAILIF(got < 2 || (size_t)got > n, r, k, "meta size %ld of %zu", got,
	       n);
	for (unsigned i = 0; i < m.count; i++) {
		const dx_hbtp_meta_entry *e = &m.e[i];
		FAILIF((const uint8_t *)e->key < in ||
			       (const uint8_t *)e->key + e->key_len >
				       in + got ||
			       e->value + e->value_len > in + got,
		       r, k, "entry %u outside the block", i);
	}
}

static void fuzz_lz4(rng *r, int k, const uint8_t *in, size_t n)
{
	size_t cap = rnd_below(r, 8192);
	uint8_t *out = malloc(cap ? cap : 1);
	long got = dx_hbtp_decompress(in, n, out, cap);
	FAILIF(got != DX_EPROTO && got != -E2BIG &&
		       (got < 0 || (size_t)got > cap),
	       r, k, "decompress %ld (cap %zu)", got, cap);
	free(out);
}

/* A random frame stream through the reassembler: every result is one of
 * the documented ones and a message never exceeds cap. */
static void fuzz_reasm(rng *r, int k, const uint8_t *in, size_t n)
{
	size_t cap = rnd_below(r, 512);
	uint8_t *buf = malloc(cap ? cap : 1);
	dx_hbtp_reasm ra;
	dx_hbtp_reasm_init(&ra, buf, cap);
	size_t off = 0;
	dx_hbtp_header h, out;
	const uint8_t *body, *msg;
	size_t len;
	long f;
	while ((f = dx_hbtp_frame_split(in + off, n - off, 4096, &h, &body)) >
	       0) {
		h.opcode = (uint8_t)(0x30 + (h.opcode & 1)); /* clash often */
		h.seq &= 1;
		int rc = dx_hbtp_reasm_push(&ra, &h, body, &out, &msg, &len);
		FAILIF(rc != 0 && rc != 1 && rc != -E2BIG && rc != DX_EPROTO, r,
		       k, "reasm %d", rc);
		if (rc == DX_HBTP_REASM_COMPLETE)
			FAILIF(len != out.length || (msg != body && len > cap),
			       r, k, "message of %zu (cap %zu)", len, cap);
		off += (size_t)f;
	}
	free(buf);
}

START_TEST(random_bytes_never_crash)
{
	rng r = rng_seeded();
	for (int k = 0; k < CASES; k++) {
		size_t n;
		uint8_t *in = rnd_input(&r, &n);
		fuzz_split(&r, k, in, n);
		fuzz_meta(&r, k, in, n);
		fuzz_lz4(&r, k, in, n);
		fuzz_reasm(&r, k, in, n);
		free(in);
	}
}
END_TEST

/* Random LZ4 frames damaged at random: the decoder gets past the magic. */
START_TEST(damaged_lz4_never_crash)
{
	rng r = rng_seeded();
	for (int k = 0; k < CASES; k++) {
		size_t n = rnd_below(&r, 2048);
		uint8_t *src = malloc(n ? n : 1);
		for (size_t i = 0; i < n; i++)
			src[i] = (uint8_t)(rnd_below(&r, 3) ? 'a' : rnd(&r));
		size_t bound = dx_hbtp_compress_bound(n);
		uint8_t *z = malloc(bound);
		long zn = dx_hbtp_compress(src, n, z, bound);
		FAILIF(zn <= 0, &r, k, "compress %ld", zn);
		size_t flips = 1 + rnd_below(&r, 4);
		for (size_t i = 0; i < flips; i++)
			z[rnd_below(&r, (size_t)zn)] ^=
				(uint8_t)(1 + rnd_below(&r, 255));
		size_t cut = rnd_below(&r, 2) ? (size_t)zn :
						rnd_below(&r, (size_t)zn);
		uint8_t *in = malloc(cut ? cut : 1);
		memcpy(in, z, cut);
		fuzz_lz4(&r, k, in, cut);
		free(in);
		free(z);
		free(src);
	}
}
END_TEST

/* --- (b) round trips --- */

static const char key_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";

struct gen_meta {
	char keys[8][40];
	uint8_t vals[8][64];
	size_t vlen[8];
	unsigned count;
};

static void gen_meta(rng *r, struct gen_meta *g)
{
	g->count = (unsigned)rnd_below(r, 9);
	for (unsigned i = 0; i < g->count; i++) {
		size_t kl = 1 + rnd_below(r, 39);
		for (size_t j = 0; j < kl; j++)
			g->keys[i][j] =
				key_chars[rnd_below(r, sizeof key_chars - 1)];
		g->keys[i][kl] = '\0';
		g->vlen[i] = rnd_below(r, 65);
		for (size_t j = 0; j < g->vlen[i]; j++)
			g->vals[i][j] = (uint8_t)rnd(r);
	}
}

/* One random frame (header, maybe meta, body) appended to out. */
static size_t gen_frame(rng *r, int k, uint8_t *out, size_t cap,
			dx_hbtp_header *h, struct gen_meta *g, size_t *body_len)
{
	uint8_t body[1024];
	size_t blen = 0;
	h->opcode = (uint8_t)rnd(r);
	h->flags = (uint8_t)rnd(r) & ~DX_HBTP_HAS_META;
	h->seq = (uint16_t)rnd(r);
	g->count = 0;
	if (rnd_below(r, 2)) {
		gen_meta(r, g);
		dx_hbtp_meta_writer w;
		FAILIF(dx_hbtp_meta_begin(&w, body, sizeof body), r, k,
		       "begin");
		for (unsigned i = 0; i < g->count; i++)
			FAILIF(dx_hbtp_meta_add(&w, g->keys[i], g->vals[i],
						g->vlen[i]),
			       r, k, "add %s", g->keys[i]);
		FAILIF(dx_hbtp_meta_end(&w), r, k, "end");
		blen = w.len;
		h->flags |= DX_HBTP_HAS_META;
	}
	*body_len = rnd_below(r, sizeof body - blen);
	for (size_t i = 0; i < *body_len; i++)
		body[blen + i] = (uint8_t)rnd(r);
	blen += *body_len;
	h->length = (uint32_t)blen;
	long n = dx_hbtp_frame_write(out, cap, h->opcode, h->flags, h->seq,
				     body, blen);
	FAILIF(n != (long)(8 + blen), r, k, "frame_write %ld", n);
	return (size_t)n;
}

static void check_frame(rng *r, int k, const dx_hbtp_header *want,
			const struct gen_meta *g, const dx_hbtp_header *h,
			const uint8_t *body)
{
	FAILIF(h->opcode != want->opcode || h->flags != want->flags ||
		       h->seq != want->seq || h->length != want->length,
	       r, k, "header differs");
	if (!(h->flags & DX_HBTP_HAS_META))
		return;
	dx_hbtp_meta m;
	const char *why = "";
	long mb = dx_hbtp_meta_parse(body, h->length, &m, &why);
	FAILIF(mb < 0, r, k, "meta parse: %s", why);
	FAILIF(m.count != g->count, r, k, "meta count %u != %u", m.count,
	       g->count);
	for (unsigned i = 0; i < g->count; i++) {
		const dx_hbtp_meta_entry *e = &m.e[i];
		FAILIF(e->key_len != strlen(g->keys[i]) ||
			       memcmp(e->key, g->keys[i], e->key_len) ||
			       e->value_len != g->vlen[i] ||
			       (g->vlen[i] &&
				memcmp(e->value, g->vals[i], g->vlen[i])),
		       r, k, "meta entry %u differs", i);
	}
}

#define FRAMES 4

START_TEST(frames_round_trip_streamed)
{
	rng r = rng_seeded();
	static uint8_t stream[FRAMES * 1040];
	for (int k = 0; k < CASES; k++) {
		dx_hbtp_header want[FRAMES];
		struct gen_meta g[FRAMES];
		size_t total = 0, blen;
		for (int i = 0; i < FRAMES; i++)
			total += gen_frame(&r, k, stream + total,
					   sizeof stream - total, &want[i],
					   &g[i], &blen);
		/* Feed the stream in random pieces, as a socket would. */
		uint8_t *acc = malloc(total);
		size_t have = 0, off = 0;
		int seen = 0;
		while (have < total) {
			size_t piece = 1 + rnd_below(&r, total - have);
			memcpy(acc + have, stream + have, piece);
			have += piece;
			dx_hbtp_header h;
			const uint8_t *body;
			long f;
			while ((f = dx_hbtp_frame_split(acc + off, have - off,
							1024, &h, &body)) > 0) {
				FAILIF(seen >= FRAMES, &r, k, "extra frame");
				check_frame(&r, k, &want[seen], &g[seen], &h,
					    body);
				seen++;
				off += (size_t)f;
			}
			FAILIF(f < 0, &r, k, "split %ld", f);
		}
		FAILIF(seen != FRAMES || off != total, &r, k, "%d frames",
		       seen);
		free(acc);
	}
}
END_TEST

/* A message cut into random fragments comes back whole. */
START_TEST(reasm_round_trip)
{
	rng r = rng_seeded();
	uint8_t msgbuf[4096], rbuf[4096];
	for (int k = 0; k < CASES; k++) {
		size_t n = rnd_below(&r, sizeof msgbuf);
		for (size_t i = 0; i < n; i++)
			msgbuf[i] = (uint8_t)rnd(&r);
		dx_hbtp_reasm ra;
		dx_hbtp_reasm_init(&ra, rbuf, sizeof rbuf);
		uint16_t seq = (uint16_t)rnd(&r);
		size_t off = 0;
		int rc;
		dx_hbtp_header out;
		const uint8_t *msg = NULL;
		size_t len = 0;
		do {
			size_t piece = rnd_below(&r, n - off + 1);
			bool final = off + piece == n;
			dx_hbtp_header h = {DX_HBTP_RPC_RESPONSE,
					    final ? DX_HBTP_FINAL : 0, seq,
					    (uint32_t)piece};
			rc = dx_hbtp_reasm_push(&ra, &h, msgbuf + off, &out,
						&msg, &len);
			off += piece;
			FAILIF(rc != (final ? 1 : 0), &r, k, "push %d", rc);
		} while (rc == DX_HBTP_REASM_MORE);
		FAILIF(len != n || out.length != n || out.seq != seq ||
			       (n && memcmp(msg, msgbuf, n)),
		       &r, k, "message of %zu differs", n);
	}
}
END_TEST

/* --- (c) compression --- */

START_TEST(lz4_round_trip_random)
{
	rng r = rng_seeded();
	for (int k = 0; k < CASES; k++) {
		size_t n = rnd_below(&r, 4) ? rnd_below(&r, 2048) :
					      rnd_below(&r, 300000);
		unsigned mode = (unsigned)rnd_below(&r, 3);
		uint8_t *src = malloc(n ? n : 1);
		for (size_t i = 0; i < n; i++)
			src[i] = mode == 0 ? (uint8_t)rnd(&r) :   /* noise */
				 mode == 1 ? (uint8_t)(i / 97) : /* runs */
					     (uint8_t)"abcab"[rnd_below(&r, 5)];
		size_t bound = dx_hbtp_compress_bound(n);
		uint8_t *z = malloc(bound);
		long zn = dx_hbtp_compress(src, n, z, bound);
		FAILIF(zn <= 0, &r, k, "compress %zu: %ld", n, zn);
		uint8_t *zz = malloc((size_t)zn);
		memcpy(zz, z, (size_t)zn);
		uint8_t *out = malloc(n ? n : 1);
		long got = dx_hbtp_decompress(zz, (size_t)zn, out, n);
		FAILIF(got != (long)n || (n && memcmp(out, src, n)), &r, k,
		       "round trip of %zu (mode %u): %ld", n, mode, got);
		if (n)
			FAILIF(dx_hbtp_decompress(zz, (size_t)zn, out, n - 1) !=
				       -E2BIG,
			       &r, k, "cap n-1 of %zu not E2BIG", n);
		free(out);
		free(zz);
		free(z);
		free(src);
	}
}
END_TEST

static Suite *prop_suite(void)
{
	Suite *s = suite_create("hbtp_prop");
	TCase *t = tcase_create("prop");
	tcase_set_timeout(t, 50);
	tcase_add_test(t, random_bytes_never_crash);
	tcase_add_test(t, damaged_lz4_never_crash);
	tcase_add_test(t, frames_round_trip_streamed);
	tcase_add_test(t, reasm_round_trip);
	tcase_add_test(t, lz4_round_trip_random);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	/* One seed for every test of the run, the one printed here. */
	rng r = rng_seeded();
	char buf[32];
	snprintf(buf, sizeof buf, "%llu", r.seed);
	setenv("DX_TEST_SEED", buf, 1);
	printf("test_hbtp_prop: seed %llu (DX_TEST_SEED=%llu replays it)\n",
	       r.seed, r.seed);
	return dx_check_run(prop_suite());
}
