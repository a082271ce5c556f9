/* test_teleport.c - unit tests for the teleport format (sdk/src/teleport.c,
 * teleport_rowset.c, teleport_print.c): exact header bytes, hostile
 * headers and references, writer misuse, accessors out of range, and the
 * printers' exact output. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <dx/hbtp.h>
#include <dx/teleport.h>

#include "check_main.h"

/* An exactly-sized malloc'd copy: ASan flags any read past n. */
static uint8_t *copy_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(p);
	if (n)
		memcpy(p, src, n);
	return p;
}

static void add_user(dx_tp_writer *w, uint64_t id, const char *name,
		     const char *email)
{
	dx_tp_user u;
	memset(&u, 0, sizeof u);
	u.id = id;
	ck_assert_int_eq(dx_tp_add_string(w, name, strlen(name), &u.name), 0);
	ck_assert_int_eq(dx_tp_add_string(w, email, strlen(email), &u.email),
			 0);
	ck_assert_int_eq(dx_tp_append(w, &u), 0);
}

/* Two users: Ann and an empty-named one. */
static uint8_t *users_buf(size_t *len)
{
	dx_tp_writer w;
	uint8_t *buf = NULL;
	ck_assert_int_eq(dx_tp_writer_init(&w, &dx_tp_user_type), 0);
	add_user(&w, 42, "Ann", "ann@example.org");
	add_user(&w, 7, "", "x@y");
	ck_assert_int_eq(dx_tp_writer_finish(&w, &buf, len), 0);
	dx_tp_writer_free(&w);
	return buf;
}

START_TEST(users_round_trip_and_layout)
{
	size_t len;
	uint8_t *buf = users_buf(&len);
	/* header 48 + 2 x 24 records + "\0Ann\0ann@example.org\0x@y\0" */
	ck_assert_uint_eq(len, 48 + 48 + 1 + 4 + 16 + 4);
	ck_assert_int_eq(memcmp(buf, "DXTP", 4), 0);
	ck_assert_uint_eq(dx_hbtp_le16(buf + 4), 1);
	ck_assert_uint_eq(dx_hbtp_le16(buf + 6), 48);
	ck_assert_uint_eq(buf[8], 1); /* little-endian host */
	ck_assert_uint_eq(dx_hbtp_le32(buf + 12),
			  DX_TP_TAG('U', 'S', 'R', '1'));
	ck_assert_uint_eq(dx_hbtp_le32(buf + 16), 24);
	ck_assert_uint_eq(dx_hbtp_le32(buf + 20), 8);
	ck_assert_uint_eq(dx_hbtp_le32(buf + 24), 2);
	ck_assert_uint_eq(dx_hbtp_le32(buf + 28), 48);
	ck_assert_uint_eq(dx_hbtp_le32(buf + 32), 96);
	ck_assert_uint_eq(dx_hbtp_le32(buf + 36), 25);

	dx_tp_reader r;
	ck_assert_int_eq(dx_tp_open(buf, len, &dx_tp_user_type, &r), 0);
	ck_assert_uint_eq(dx_tp_count(&r), 2);
	const dx_tp_user *u = DX_TP_RECORD(&r, 0, dx_tp_user);
	ck_assert_ptr_eq(u, buf + 48); /* in place, no copy */
	ck_assert_uint_eq(u->id, 42);
	size_t n;
	ck_assert_str_eq(dx_tp_string(&r, u->name, &n), "Ann");
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(dx_tp_string(&r, u->email, &n), "ann@example.org");
	u = DX_TP_RECORD(&r, 1, dx_tp_user);
	ck_assert_uint_eq(u->id, 7);
	ck_assert_str_eq(dx_tp_string(&r, u->name, &n), "");
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(dx_tp_record(&r, 2));
	dx_tp_str bad = {25, 0}, bad2 = {24, 1};
	ck_assert_ptr_null(dx_tp_string(&r, bad, &n));
	ck_assert_ptr_null(dx_tp_string(&r, bad2, &n));
	free(buf);
}
END_TEST

/* Opens a patched copy of a valid buffer; returns dx_tp_open's code. */
static int open_patched(const dx_tp_type *t, size_t off, uint32_t v,
			size_t width)
{
	size_t len;
	uint8_t *src = users_buf(&len);
	if (width == 4)
		dx_hbtp_put_le32(src + off, v);
	else if (width == 1)
		src[off] = (uint8_t)v;
	else
		memcpy(src + off, &v, 4); /* native, as inside a record */
	uint8_t *b = copy_exact(src, len);
	dx_tp_reader r;
	int rc = dx_tp_open(b, len, t, &r);
	if (rc)
		ck_assert_uint_eq(dx_tp_count(&r), 0);
	free(src);
	free(b);
	return rc;
}

START_TEST(hostile_headers)
{
	const dx_tp_type *t = &dx_tp_user_type;
	ck_assert_int_eq(open_patched(t, 0, 'X', 1), DX_EPROTO); /* magic */
	ck_assert_int_eq(open_patched(t, 4, 2, 1), -ENOTSUP);    /* version */
	ck_assert_int_eq(open_patched(t, 6, 40, 1), DX_EPROTO);  /* hdr size */
	ck_assert_int_eq(open_patched(t, 8, 2, 1), -ENOTSUP);    /* BE */
	ck_assert_int_eq(open_patched(t, 8, 3, 1), DX_EPROTO);   /* order? */
	ck_assert_int_eq(open_patched(t, 10, 1, 1), DX_EPROTO);  /* reserved */
	ck_assert_int_eq(open_patched(t, 12, 1, 4), DX_EPROTO);  /* tag */
	ck_assert_int_eq(open_patched(t, 16, 16, 4), DX_EPROTO); /* size */
	ck_assert_int_eq(open_patched(t, 20, 4, 4), DX_EPROTO);  /* align */
	/* Counts: 24 x 0xAAAAAAAB wraps a u32 to 8; 24 x 0xFFFFFFFF. */
	ck_assert_int_eq(open_patched(t, 24, 0xAAAAAAABu, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 24, 0xFFFFFFFFu, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 24, 3, 4), DX_EPROTO);
	/* Offsets: past the end, inside the header, misaligned, wrapping. */
	ck_assert_int_eq(open_patched(t, 28, 0xFFFFFFF8u, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 28, 40, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 28, 52, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 32, 1000, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 32, 0xFFFFFFFFu, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 32, 90, 4), DX_EPROTO); /* overlap */
	ck_assert_int_eq(open_patched(t, 36, 26, 4), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 36, 0xFFFFFFFFu, 4), DX_EPROTO);
	/* String references (native u32 in the records at 48 and 72). */
	ck_assert_int_eq(open_patched(t, 56, 25, 0), DX_EPROTO); /* offset */
	ck_assert_int_eq(open_patched(t, 60, 25, 0), DX_EPROTO); /* length */
	ck_assert_int_eq(open_patched(t, 60, 2, 0), DX_EPROTO);  /* no NUL */
	ck_assert_int_eq(open_patched(t, 56, 0xFFFFFFF0u, 0), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 88, 0xFFFFFFFFu, 0), DX_EPROTO);
	ck_assert_int_eq(open_patched(t, 96 + 4, 'x', 1), DX_EPROTO); /* NUL */
	/* A user buffer is not a rowset. */
	ck_assert_int_eq(open_patched(&dx_rowset_cell_type, 0, 'D', 1),
			 DX_EPROTO);
	/* Unpatched it is fine (the helper itself is sound). */
	ck_assert_int_eq(open_patched(t, 0, 'D', 1), 0);
}
END_TEST

/* A rowset without columns whose header claims 4,294,967,295 rows: its
 * rows cost no bytes, so only the buffer's length can bound them. */
START_TEST(rowset_zero_columns_bounded)
{
	dx_rowset_writer w;
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(dx_rowset_begin(&w, 0), 0);
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, &len), 0);
	dx_rowset_writer_free(&w);
	dx_rowset rs;
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), 0);
	ck_assert_uint_eq(rs.nrows, 0);
	dx_hbtp_put_le32(buf + 44, 3); /* a few rows of nothing: fine */
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), 0);
	ck_assert_uint_eq(rs.nrows, 3);
	dx_hbtp_put_le32(buf + 44, 0xFFFFFFFFu);
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), DX_EPROTO);
	ck_assert_uint_eq(rs.nrows, 0);
	dx_hbtp_put_le32(buf + 44, (uint32_t)len + 1);
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), DX_EPROTO);
	free(buf);
	/* The writer refuses to make what the reader would refuse. */
	ck_assert_int_eq(dx_rowset_begin(&w, 0), 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(dx_rowset_row(&w), 0);
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, &len), -E2BIG);
	ck_assert_ptr_null(buf);
	dx_rowset_writer_free(&w);
}
END_TEST

START_TEST(misaligned_short_and_long_buffers)
{
	size_t len;
	uint8_t *src = users_buf(&len);
	uint8_t *b = malloc(len + 8);
	dx_tp_reader r;
	for (size_t k = 1; k < 8; k++) {
		memcpy(b + k, src, len);
		ck_assert_int_eq(dx_tp_open(b + k, len, &dx_tp_user_type, &r),
				 -EINVAL);
	}
	memcpy(b, src, len);
	b[len] = 0;
	ck_assert_int_eq(dx_tp_open(b, len + 1, &dx_tp_user_type, &r),
			 DX_EPROTO); /* trailing byte */
	ck_assert_int_eq(dx_tp_open(b, len - 1, &dx_tp_user_type, &r),
			 DX_EPROTO);
	ck_assert_int_eq(dx_tp_open(b, 0, &dx_tp_user_type, &r), DX_EPROTO);
	ck_assert_int_eq(dx_tp_open(NULL, len, &dx_tp_user_type, &r), -EINVAL);
	ck_assert_int_eq(dx_tp_open(b, len, NULL, &r), -EINVAL);
	dx_tp_type bad = dx_tp_user_type;
	bad.align = 3;
	ck_assert_int_eq(dx_tp_open(b, len, &bad, &r), -EINVAL);
	bad = dx_tp_user_type;
	bad.size = 12; /* email's dx_tp_str would end past the record */
	ck_assert_int_eq(dx_tp_open(b, len, &bad, &r), -EINVAL);
	dx_tp_writer w;
	ck_assert_int_eq(dx_tp_writer_init(&w, &bad), -EINVAL);
	dx_tp_writer_free(&w);
	ck_assert_int_eq(dx_rowset_open(b + 4, len, &(dx_rowset){0}), -EINVAL);
	free(b);
	free(src);
}
END_TEST

START_TEST(writer_sticky_errors)
{
	dx_tp_writer w;
	dx_tp_str s;
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(dx_tp_writer_init(&w, &dx_tp_user_type), 0);
	ck_assert_int_eq(dx_tp_add_string(&w, NULL, 3, &s), -EINVAL);
	ck_assert_int_eq(dx_tp_add_string(&w, "a", 1, &s),
			 -EINVAL); /* sticky */
	ck_assert_int_eq(dx_tp_writer_finish(&w, &buf, &len), -EINVAL);
	ck_assert_ptr_null(buf);
	dx_tp_writer_free(&w);
	dx_tp_writer_free(&w); /* idempotent */

	ck_assert_int_eq(dx_tp_writer_init(&w, &dx_tp_user_type), 0);
	ck_assert_int_eq(dx_tp_writer_finish(&w, &buf, &len), 0);
	ck_assert_int_eq(dx_tp_writer_finish(&w, &buf, &len), DX_ESTATE);
	dx_tp_writer_free(&w);
	dx_tp_reader r;
	ck_assert_int_eq(dx_tp_open(buf, len, &dx_tp_user_type, &r), 0);
	ck_assert_uint_eq(dx_tp_count(&r), 0);
	free(buf);
}
END_TEST

START_TEST(rowset_writer_order)
{
	dx_rowset_writer w;
	uint8_t *buf = NULL;
	size_t len;
	/* A value before any row, a row before the columns. */
	ck_assert_int_eq(dx_rowset_begin(&w, 1), 0);
	ck_assert_int_eq(dx_rowset_row(&w), DX_ESTATE);
	ck_assert_int_eq(dx_rowset_column(&w, "a", 25), DX_ESTATE);
	dx_rowset_writer_free(&w);

	ck_assert_int_eq(dx_rowset_begin(&w, 1), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "a", 25), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "b", 25), DX_ESTATE);
	dx_rowset_writer_free(&w);

	ck_assert_int_eq(dx_rowset_begin(&w, 2), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "a", 25), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "b", 25), 0);
	ck_assert_int_eq(dx_rowset_put(&w, "x", 1), DX_ESTATE);
	dx_rowset_writer_free(&w);

	ck_assert_int_eq(dx_rowset_begin(&w, 2), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "a", 25), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "b", 25), 0);
	ck_assert_int_eq(dx_rowset_row(&w), 0);
	ck_assert_int_eq(dx_rowset_put(&w, "x", 1), 0);
	ck_assert_int_eq(dx_rowset_row(&w), DX_ESTATE); /* row incomplete */
	dx_rowset_writer_free(&w);

	ck_assert_int_eq(dx_rowset_begin(&w, 1), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "a", 25), 0);
	ck_assert_int_eq(dx_rowset_row(&w), 0);
	ck_assert_int_eq(dx_rowset_put(&w, NULL, 99), 0);
	ck_assert_int_eq(dx_rowset_put(&w, "y", 1), DX_ESTATE); /* too many */
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, &len), DX_ESTATE);
	dx_rowset_writer_free(&w);

	ck_assert_int_eq(dx_rowset_begin(&w, 2), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "a", 25), 0);
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, &len), DX_ESTATE);
	dx_rowset_writer_free(&w);
	ck_assert_ptr_null(buf);
}
END_TEST

/* id int4, name text, note text; NULL, quotes, backslash, newline, UTF-8
 * (2, 3 and 4 bytes), a control byte and an invalid byte. */
static uint8_t *sample_rowset(size_t *len)
{
	static const char *const v[3][3] = {
		{"1", "Ann", NULL},
		{"2", "say \"hi\"\\", "line1\nline2"},
		{"3", "Zo\xc3\xab \xe2\x82\xac\xf0\x9f\x98\x80", "\x01\xff"},
	};
	dx_rowset_writer w;
	uint8_t *buf;
	ck_assert_int_eq(dx_rowset_begin(&w, 3), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "id", 23), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "name", 25), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "note", 25), 0);
	for (int r = 0; r < 3; r++) {
		ck_assert_int_eq(dx_rowset_row(&w), 0);
		for (int c = 0; c < 3; c++)
			ck_assert_int_eq(
				dx_rowset_put(&w, v[r][c],
					      v[r][c] ? strlen(v[r][c]) : 0),
				0);
	}
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, len), 0);
	dx_rowset_writer_free(&w);
	return buf;
}

START_TEST(rowset_read_and_bounds)
{
	size_t len, n;
	int isnull;
	uint8_t *buf = sample_rowset(&len);
	dx_rowset rs;
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), 0);
	ck_assert_uint_eq(dx_rowset_ncols(&rs), 3);
	ck_assert_uint_eq(dx_rowset_nrows(&rs), 3);
	ck_assert_str_eq(dx_rowset_colname(&rs, 1, &n), "name");
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(dx_rowset_coltype(&rs, 0), 23);
	ck_assert_uint_eq(dx_rowset_coltype(&rs, 3), 0);
	ck_assert_ptr_null(dx_rowset_colname(&rs, 3, &n));
	ck_assert_str_eq(dx_rowset_value(&rs, 0, 2, &n, &isnull), "");
	ck_assert_int_eq(isnull, 1);
	const char *s = dx_rowset_value(&rs, 1, 1, &n, &isnull);
	ck_assert_int_eq(isnull, 0);
	ck_assert_uint_eq(n, 9);
	ck_assert_str_eq(s, "say \"hi\"\\");
	ck_assert(s > (const char *)buf && s + n < (const char *)buf + len);
	ck_assert_ptr_null(dx_rowset_value(&rs, 3, 0, &n, &isnull));
	ck_assert_ptr_null(dx_rowset_value(&rs, 0, 3, &n, &isnull));

	/* A NULL cell with an offset, a column's reserved word, and
	 * nrows x ncols = 2^32 wrapping a u32 to 0. */
	uint32_t str_off = dx_hbtp_le32(buf + 32);
	uint8_t *b = copy_exact(buf, len);
	size_t null_cell = 48 + 3 * 16 + 2 * 8; /* row 0, col 2 */
	dx_hbtp_put_le32(b + null_cell, 1);
	ck_assert_int_eq(dx_rowset_open(b, len, &rs), DX_EPROTO);
	ck_assert_uint_eq(dx_rowset_ncols(&rs), 0);
	memcpy(b, buf, len);
	dx_hbtp_put_le32(b + 48 + 12, 1);
	ck_assert_int_eq(dx_rowset_open(b, len, &rs), DX_EPROTO);
	memcpy(b, buf, len);
	dx_hbtp_put_le32(b + 40, 0x10000);
	dx_hbtp_put_le32(b + 44, 0x10000);
	dx_hbtp_put_le32(b + 24, 0x20000);
	ck_assert_int_eq(dx_rowset_open(b, len, &rs), DX_EPROTO);
	memcpy(b, buf, len);
	dx_hbtp_put_le32(b + 44, 4); /* one row too many */
	ck_assert_int_eq(dx_rowset_open(b, len, &rs), DX_EPROTO);
	memcpy(b, buf, len);
	dx_hbtp_put_le32(b + 48 + 3 * 16 + 4, len); /* value past the table */
	ck_assert_int_eq(dx_rowset_open(b, len, &rs), DX_EPROTO);
	memcpy(b, buf, len);
	dx_hbtp_put_le32(b + 48 + 3 * 16, len - str_off); /* at its end */
	ck_assert_int_eq(dx_rowset_open(b, len, &rs), DX_EPROTO);
	free(b);
	free(buf);
}
END_TEST

/* What f printed, as a malloc'd string. */
static char *render(int (*print)(const dx_rowset *, FILE *),
		    const dx_rowset *rs)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(print(rs, f), 0);
	fclose(f);
	return out;
}

START_TEST(printers_exact)
{
	size_t len;
	uint8_t *buf = sample_rowset(&len);
	dx_rowset rs;
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), 0);
	char *t = render(dx_rowset_print_table, &rs);
	ck_assert_str_eq(t, " id | name      | note\n"
			    "----+-----------+--------------\n"
			    " 1  | Ann       | \n"
			    " 2  | say \"hi\"\\ | line1\\nline2\n"
			    " 3  | Zo\xc3\xab \xe2\x82\xac\xf0\x9f\x98\x80    "
			    "| \\x01\\xFF\n"
			    "(3 rows)\n");
	free(t);
	char *j = render(dx_rowset_print_json, &rs);
	ck_assert_str_eq(j, "{\n"
			    "  \"columns\": [\n"
			    "    {\"name\": \"id\", \"type\": 23},\n"
			    "    {\"name\": \"name\", \"type\": 25},\n"
			    "    {\"name\": \"note\", \"type\": 25}\n"
			    "  ],\n"
			    "  \"rows\": [\n"
			    "    [\"1\", \"Ann\", null],\n"
			    "    [\"2\", \"say \\\"hi\\\"\\\\\", "
			    "\"line1\\nline2\"],\n"
			    "    [\"3\", \"Zo\\u00eb \\u20ac\\ud83d\\ude00\", "
			    "\"\\u0001\\ufffd\"]\n"
			    "  ]\n"
			    "}\n");
	free(j);
	free(buf);
}
END_TEST

/* Zero columns, zero rows; one column, one row of an empty string. */
START_TEST(printers_empty)
{
	dx_rowset_writer w;
	uint8_t *buf;
	size_t len;
	dx_rowset rs;
	ck_assert_int_eq(dx_rowset_begin(&w, 0), 0);
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, &len), 0);
	dx_rowset_writer_free(&w);
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), 0);
	char *t = render(dx_rowset_print_table, &rs);
	ck_assert_str_eq(t, "(0 rows)\n");
	free(t);
	t = render(dx_rowset_print_json, &rs);
	ck_assert_str_eq(t, "{\n  \"columns\": [],\n  \"rows\": []\n}\n");
	free(t);
	free(buf);

	ck_assert_int_eq(dx_rowset_begin(&w, 1), 0);
	ck_assert_int_eq(dx_rowset_column(&w, "count", 20), 0);
	ck_assert_int_eq(dx_rowset_row(&w), 0);
	ck_assert_int_eq(dx_rowset_put(&w, "", 0), 0);
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, &len), 0);
	dx_rowset_writer_free(&w);
	ck_assert_int_eq(dx_rowset_open(buf, len, &rs), 0);
	t = render(dx_rowset_print_table, &rs);
	ck_assert_str_eq(t, " count\n-------\n \n(1 row)\n");
	free(t);
	t = render(dx_rowset_print_json, &rs);
	ck_assert_str_eq(t, "{\n  \"columns\": [\n"
			    "    {\"name\": \"count\", \"type\": 20}\n  ],\n"
			    "  \"rows\": [\n    [\"\"]\n  ]\n}\n");
	free(t);
	free(buf);
}
END_TEST

static Suite *teleport_suite(void)
{
	Suite *s = suite_create("teleport");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, users_round_trip_and_layout);
	tcase_add_test(tc, hostile_headers);
	tcase_add_test(tc, misaligned_short_and_long_buffers);
	tcase_add_test(tc, rowset_zero_columns_bounded);
	tcase_add_test(tc, writer_sticky_errors);
	tcase_add_test(tc, rowset_writer_order);
	tcase_add_test(tc, rowset_read_and_bounds);
	tcase_add_test(tc, printers_exact);
	tcase_add_test(tc, printers_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(teleport_suite());
}
