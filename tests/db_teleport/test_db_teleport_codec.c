/* test_db_teleport_codec.c - the db.get / db.subscribe codec
 * (sdk/src/db_teleport_codec.c, dx/db_teleport.h), without Postgres.
 *
 * Unit cases pin the exact bytes, every bound and every malformed input;
 * the property test draws random names and parameter lists (NULLs, empty
 * and long strings, up to 255 parameters) and checks that decoding gives
 * back what was encoded, and that every strict prefix of a body and the
 * body with a byte appended are refused. Inputs are exactly-sized malloc
 * copies, so ASan sees an overread. The seed comes from DX_TEST_SEED when
 * set, else from the clock; every failure message carries it ("seed N
 * case K"), so DX_TEST_SEED=N replays the run. dx_db_answer_open is
 * checked on a rowset placed at an odd address and on broken answers. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <dx/db_teleport.h>

#include "check_main.h"
#include "exact_copy.h"
#include "prop_rng.h"

#define CASES 300

START_TEST(encode_exact_bytes)
{
	const char *params[] = {"42", NULL, ""};
	static const uint8_t want[] = {4, 'i', 't', 'e',  'm',  3, 2,
				       0, '4', '2', 0xFF, 0xFF, 0, 0};
	uint8_t out[64];
	ck_assert_uint_eq(dx_db_body_size("item", params, 3), sizeof want);
	ck_assert_uint_eq(dx_db_params_size(params, 3), sizeof want - 5);
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "item", params, 3),
			 (long)sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
	ck_assert_int_eq(dx_db_params_encode(out, sizeof out, params, 3),
			 (long)sizeof want - 5);
	ck_assert_mem_eq(out, want + 5, sizeof want - 5);
	/* No parameters: the name, then a zero count. */
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "q", NULL, 0), 3);
	ck_assert_mem_eq(out, "\x01q\x00", 3);
}
END_TEST

START_TEST(encode_bounds)
{
	static uint8_t out[70000];
	static char name[300], big[0x10000 + 1];
	const char *params[256] = {0};
	memset(name, 'n', 256);
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "", NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, name, NULL, 0),
			 -EINVAL); /* 256 bytes */
	name[255] = '\0';
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, name, NULL, 0),
			 257);
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "q", params, 256),
			 -EINVAL);
	ck_assert_int_eq(dx_db_params_encode(out, sizeof out, params, 256),
			 -EINVAL);
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "q", params, 255),
			 3 + 2 * 255);
	/* The longest parameter fits; one byte more does not. */
	memset(big, 'x', DX_DB_PARAM_MAX);
	params[0] = big;
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "q", params, 1),
			 3 + 2 + DX_DB_PARAM_MAX);
	big[DX_DB_PARAM_MAX] = 'x';
	ck_assert_int_eq(dx_db_body_encode(out, sizeof out, "q", params, 1),
			 -EINVAL);
	ck_assert_int_eq(dx_db_params_encode(out, sizeof out, params, 1),
			 -EINVAL);
}
END_TEST

/* Every capacity short of the size is -E2BIG, never a write past it. */
START_TEST(encode_every_short_cap)
{
	const char *params[] = {"alpha", NULL, "", "b"};
	size_t need = dx_db_body_size("query", params, 4);
	for (size_t cap = 0; cap < need; cap++) {
		uint8_t *out = malloc(cap ? cap : 1);
		ck_assert_ptr_nonnull(out);
		ck_assert_int_eq(dx_db_body_encode(out, cap, "query", params,
						   4),
				 -E2BIG);
		if (cap < dx_db_params_size(params, 4))
			ck_assert_int_eq(dx_db_params_encode(out, cap, params,
							     4),
					 -E2BIG);
		free(out);
	}
}
END_TEST

START_TEST(split_malformed)
{
	dx_db_body b = {.name_len = 99};
	static const struct {
		const char *p;
		size_t n;
	} bad[] = {{"", 0},
		   {"\x00", 1},
		   {"\x01q", 2},
		   {"\x05nope", 3},
		   {"\x05nope", 5}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t *p = exact_copy(bad[i].p, bad[i].n);
		ck_assert_int_eq(dx_db_body_split(p, bad[i].n, &b), DX_EPROTO);
		ck_assert_uint_eq(b.name_len, 99); /* untouched */
		free(p);
	}
	/* Only the name's framing is split's business. */
	uint8_t *p = exact_copy("\x04nope\x07junk", 10);
	ck_assert_int_eq(dx_db_body_split(p, 10, &b), 0);
	ck_assert_uint_eq(b.name_len, 4);
	ck_assert_mem_eq(b.name, "nope", 4);
	ck_assert_ptr_eq(b.params, p + 5);
	ck_assert_uint_eq(b.params_len, 5);
	ck_assert_int_eq(dx_db_params_check(b.params, b.params_len), DX_EPROTO);
	free(p);
	/* A zero-length name splits: no query has it (a 404, not a 400). */
	p = exact_copy("\x00\x00", 2);
	ck_assert_int_eq(dx_db_body_split(p, 2, &b), 0);
	ck_assert_uint_eq(b.name_len, 0);
	ck_assert_int_eq(dx_db_params_check(b.params, b.params_len), 0);
	free(p);
}
END_TEST

START_TEST(params_malformed)
{
	static const struct {
		const char *p;
		size_t n;
	} bad[] = {
		{"", 0},                  /* no count */
		{"\x01", 1},              /* a parameter missing */
		{"\x01\x02", 2},          /* half a length */
		{"\x01\x02\x00x", 4},     /* shorter than its length */
		{"\x01\x02\x00x\x00", 5}, /* a NUL inside */
		{"\x00x", 2},             /* a byte after the last */
		{"\x01\xff\xff\x00", 4},  /* NULL has no bytes */
		{"\x02\x00\x00", 3},      /* the second one missing */
	};
	const char *vals[4];
	char sb[16];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t *p = exact_copy(bad[i].p, bad[i].n);
		ck_assert_msg(dx_db_params_check(p, bad[i].n) == DX_EPROTO,
			      "case %zu", i);
		ck_assert_msg(dx_db_params_decode(p, bad[i].n, vals, 4, sb,
						  sizeof sb) == DX_EPROTO,
			      "case %zu", i);
		free(p);
	}
	uint8_t *p = exact_copy("\x03\xff\xff\x00\x00\x02\x00hi", 9);
	ck_assert_int_eq(dx_db_params_check(p, 9), 3);
	ck_assert_int_eq(dx_db_params_decode(p, 9, vals, 4, sb, sizeof sb), 3);
	ck_assert_ptr_null(vals[0]);
	ck_assert_str_eq(vals[1], "");
	ck_assert_str_eq(vals[2], "hi");
	/* Room: max below nparams, or a string buffer too small. */
	ck_assert_int_eq(dx_db_params_decode(p, 9, vals, 2, sb, sizeof sb),
			 -E2BIG);
	ck_assert_int_eq(dx_db_params_decode(p, 9, vals, 4, sb, 3), -E2BIG);
	ck_assert_int_eq(dx_db_params_decode(p, 9, vals, 4, sb, 4), 3);
	free(p);
}
END_TEST

/* An answer sits wherever the client's receive buffer put it. */
START_TEST(answer_open_any_alignment)
{
	dx_rowset_writer w;
	uint8_t *rows;
	size_t len;
	ck_assert_int_eq(dx_rowset_begin(&w, 2), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "id", 23), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "name", 25), 0);
	ck_assert_int_eq(dx_rowset_row(&w), 0);
	ck_assert_int_eq(dx_rowset_put(&w, "7", 1), 0);
	ck_assert_int_eq(dx_rowset_put(&w, NULL, 0), 0);
	ck_assert_int_eq(dx_rowset_finish(&w, &rows, &len), 0);
	dx_rowset_writer_free(&w);
	uint8_t *odd = malloc(len + 1);
	ck_assert_ptr_nonnull(odd);
	memcpy(odd + 1, rows, len);
	void *buf;
	dx_rowset rs;
	ck_assert_int_eq(dx_db_answer_open(odd + 1, len, &buf, &rs), 0);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(dx_rowset_ncols(&rs), 2);
	ck_assert_uint_eq(dx_rowset_nrows(&rs), 1);
	int isnull;
	ck_assert_str_eq(dx_rowset_value(&rs, 0, 0, NULL, &isnull), "7");
	ck_assert_int_eq(isnull, 0);
	dx_rowset_value(&rs, 0, 1, NULL, &isnull);
	ck_assert_int_eq(isnull, 1);
	free(buf);
	/* Truncated, empty, or not a rowset at all: refused, buf freed by
	 * the caller all the same. */
	ck_assert_int_eq(dx_db_answer_open(odd + 1, len - 1, &buf, &rs),
			 DX_EPROTO);
	free(buf);
	ck_assert_int_eq(dx_db_answer_open(odd, 0, &buf, &rs), DX_EPROTO);
	free(buf);
	ck_assert_int_eq(dx_db_answer_open("{\"hits\":1}", 10, &buf, &rs),
			 DX_EPROTO);
	ck_assert_uint_eq(dx_rowset_ncols(&rs), 0);
	free(buf);
	free(odd);
	free(rows);
}
END_TEST

/* A random C string: empty, short or long, no NUL. */
static char *rnd_cstr(rng *r, size_t min, size_t max)
{
	size_t n = min + rnd_below(r, max - min + 1);
	if (rnd_below(r, 4) == 0)
		n = min + rnd_below(r, 4 < max - min + 1 ? 4 : max - min + 1);
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(1 + rnd_below(r, 255));
	s[n] = '\0';
	return s;
}

static void prop_case(rng *r, int k)
{
	char *name = rnd_cstr(r, 1, DX_DB_NAME_MAX);
	unsigned np = (unsigned)(rnd_below(r, 8) == 0 ? rnd_below(r, 256) :
							rnd_below(r, 6));
	char **params = calloc(np + 1, sizeof *params);
	ck_assert_ptr_nonnull(params);
	for (unsigned i = 0; i < np; i++)
		if (rnd_below(r, 5))
			params[i] =
				rnd_cstr(r, 0, rnd_below(r, 10) ? 40 : 3000);
	const char *const *cp = (const char *const *)params;
	size_t need = dx_db_body_size(name, cp, np);
	uint8_t *body = malloc(need + 1);
	ck_assert_ptr_nonnull(body);
	long n = dx_db_body_encode(body, need, name, cp, np);
	FAILIF(n != (long)need, r, k, "encode gave %ld, size %zu", n, need);
	/* decode(encode(x)) == x, reading an exactly-sized copy. */
	uint8_t *in = exact_copy(body, need);
	dx_db_body b;
	FAILIF(dx_db_body_split(in, need, &b) != 0, r, k, "split failed");
	FAILIF(b.name_len != strlen(name) || memcmp(b.name, name, b.name_len),
	       r, k, "the name differs");
	FAILIF(b.params_len != dx_db_params_size(cp, np), r, k,
	       "parameter part of %zu bytes", b.params_len);
	FAILIF(dx_db_params_check(b.params, b.params_len) != (int)np, r, k,
	       "check did not count %u", np);
	const char **vals = calloc(np + 1, sizeof *vals);
	char *sb = malloc(b.params_len);
	ck_assert(vals && sb);
	int got = dx_db_params_decode(b.params, b.params_len, vals, np, sb,
				      b.params_len);
	FAILIF(got != (int)np, r, k, "decode gave %d of %u", got, np);
	for (unsigned i = 0; i < np; i++)
		FAILIF(params[i] ? !vals[i] || strcmp(vals[i], params[i]) :
				   vals[i] != NULL,
		       r, k, "parameter %u differs", i);
	/* The parameter part alone encodes to the same bytes. */
	uint8_t *pp = malloc(b.params_len);
	ck_assert_ptr_nonnull(pp);
	FAILIF(dx_db_params_encode(pp, b.params_len, cp, np) !=
			       (long)b.params_len ||
		       memcmp(pp, b.params, b.params_len),
	       r, k, "the parameter part differs");
	free(in);
	/* Every strict prefix is refused (of a long body, 256 drawn at
	 * random and the longest), and so is one byte more. */
	bool every = need <= 1024;
	for (size_t j = 0; j < (every ? need : 257); j++) {
		size_t cut = every    ? j :
			     j == 256 ? need - 1 :
					rnd_below(r, need);
		in = exact_copy(body, cut);
		int rc = dx_db_body_split(in, cut, &b);
		if (rc == 0)
			rc = dx_db_params_check(b.params, b.params_len);
		FAILIF(rc != DX_EPROTO, r, k, "prefix of %zu bytes gave %d",
		       cut, rc);
		free(in);
	}
	body[need] = (uint8_t)rnd(r);
	in = exact_copy(body, need + 1);
	FAILIF(dx_db_body_split(in, need + 1, &b) != 0 ||
		       dx_db_params_check(b.params, b.params_len) != DX_EPROTO,
	       r, k, "a trailing byte was taken");
	free(in);
	free(pp);
	free(sb);
	free(vals);
	free(body);
	for (unsigned i = 0; i < np; i++)
		free(params[i]);
	free(params);
	free(name);
}

START_TEST(prop_round_trip)
{
	rng r = rng_seeded();
	for (int k = 0; k < CASES; k++)
		prop_case(&r, k);
}
END_TEST

static Suite *body_suite(void)
{
	Suite *s = suite_create("db_teleport_codec");
	TCase *tc = tcase_create("codec");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, encode_exact_bytes);
	tcase_add_test(tc, encode_bounds);
	tcase_add_test(tc, encode_every_short_cap);
	tcase_add_test(tc, split_malformed);
	tcase_add_test(tc, params_malformed);
	tcase_add_test(tc, answer_open_any_alignment);
	tcase_add_test(tc, prop_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(body_suite());
}
