/* test_buf.c - libdx's growable byte buffer (dx/buf.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include <dx/buf.h>

#include "check_main.h"

START_TEST(test_buf_append_grows)
{
	dx_buf b = DX_BUF_INIT;
	ck_assert_int_eq(dx_buf_append(&b, "abc", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_uint_ge(b.cap, 4096);
	static uint8_t big[10000];
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(dx_buf_append(&b, big, sizeof big), 0);
	ck_assert_uint_eq(b.len, 3 + sizeof big);
	ck_assert_uint_eq(b.cap, 16384); /* doubled from 4096 */
	ck_assert_int_eq(memcmp(b.p, "abc", 3), 0);
	ck_assert_int_eq(memcmp(b.p + 3, big, sizeof big), 0);
	/* Empty appends need no room and no data. */
	ck_assert_int_eq(dx_buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 3 + sizeof big);
	dx_buf_free(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	dx_buf_free(&b); /* twice is fine */
}
END_TEST

START_TEST(test_buf_reset_keeps_memory)
{
	dx_buf b = DX_BUF_INIT;
	ck_assert_int_eq(dx_buf_append(&b, "hello", 5), 0);
	uint8_t *p = b.p;
	size_t cap = b.cap;
	dx_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_eq(b.p, p);
	ck_assert_uint_eq(b.cap, cap);
	/* Reuse within the capacity allocates nothing. */
	ck_assert_int_eq(dx_buf_reserve(&b, cap), 0);
	ck_assert_ptr_eq(b.p, p);
	dx_buf_put(&b, "xy", 2);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_int_eq(memcmp(b.p, "xy", 2), 0);
	dx_buf_free(&b);
}
END_TEST

START_TEST(test_buf_reserve_limits)
{
	dx_buf b = DX_BUF_INIT;
	/* Overflowing sizes are E2BIG, and the buffer is unchanged. */
	ck_assert_int_eq(dx_buf_append(&b, "ab", 2), 0);
	ck_assert_int_eq(dx_buf_reserve(&b, SIZE_MAX), -E2BIG);
	ck_assert_int_eq(dx_buf_reserve(&b, SIZE_MAX - 1), -E2BIG);
	ck_assert_uint_eq(b.len, 2);
	/* A capped buffer grows up to the cap and no further. */
	ck_assert_int_eq(dx_buf_reserve_max(&b, 5000 - 2, 5000), 0);
	ck_assert_uint_eq(b.cap, 5000);
	ck_assert_int_eq(dx_buf_reserve_max(&b, 4999, 5000), -E2BIG);
	ck_assert_uint_eq(b.cap, 5000);
	ck_assert_uint_eq(b.len, 2);
	/* Within the room already there: no check against the cap needed. */
	ck_assert_int_eq(dx_buf_reserve_max(&b, 10, 100), 0);
	dx_buf_free(&b);
	/* A cap below the first allocation is the capacity. */
	ck_assert_int_eq(dx_buf_reserve_max(&b, 10, 64), 0);
	ck_assert_uint_eq(b.cap, 64);
	ck_assert_int_eq(dx_buf_reserve_max(&b, 65, 64), -E2BIG);
	dx_buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_append_grows);
	tcase_add_test(tc, test_buf_reset_keeps_memory);
	tcase_add_test(tc, test_buf_reserve_limits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(buf_suite());
}
