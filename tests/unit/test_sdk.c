/* test_sdk.c - libdx: error names, response writing, name rules, and the
 * ABI constants the contract fixes. */
/* The response tests play the host: they hand libdx a reserve hook and
 * own the buffer it grows, so they name the host's members. */
#define DX_BUILDING_HOST 1
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "check_main.h"

static const struct {
	int code;
	const char *name;
} dx_codes[] = {
	{DX_OK, "DX_OK"},           {DX_EMAGIC, "DX_EMAGIC"},
	{DX_EABI, "DX_EABI"},       {DX_ESIZE, "DX_ESIZE"},
	{DX_ENOSYM, "DX_ENOSYM"},   {DX_ENOTSO, "DX_ENOTSO"},
	{DX_ENAME, "DX_ENAME"},     {DX_EDUP, "DX_EDUP"},
	{DX_EUNSAFE, "DX_EUNSAFE"}, {DX_ECONFIG, "DX_ECONFIG"},
	{DX_EINIT, "DX_EINIT"},     {DX_EFACET, "DX_EFACET"},
	{DX_ESTATE, "DX_ESTATE"},   {DX_EPROTO, "DX_EPROTO"},
};
#define N_CODES (int)(sizeof dx_codes / sizeof dx_codes[0])

START_TEST(test_dx_codes_named)
{
	int code = dx_codes[_i].code;
	ck_assert_str_eq(dx_err_name(code), dx_codes[_i].name);
	const char *s = dx_strerror(code);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_gt((int)strlen(s), 0);
	ck_assert_str_ne(s, "unknown error");
	/* Every code has its own text. */
	for (int j = 0; j < N_CODES; j++)
		if (j != _i)
			ck_assert_str_ne(s, dx_strerror(dx_codes[j].code));
	/* DX_E* codes sit below any errno. */
	if (code != DX_OK)
		ck_assert_int_lt(code, -4096);
}
END_TEST

START_TEST(test_errno_codes)
{
	static const struct {
		int e;
		const char *name;
	} errs[] = {
		{ENOMEM, "ENOMEM"}, {EINVAL, "EINVAL"},
		{ENOENT, "ENOENT"}, {EEXIST, "EEXIST"},
		{EACCES, "EACCES"}, {E2BIG, "E2BIG"},
		{ERANGE, "ERANGE"}, {ETIMEDOUT, "ETIMEDOUT"},
	};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		ck_assert_str_eq(dx_err_name(-errs[i].e), errs[i].name);
		ck_assert_str_eq(dx_strerror(-errs[i].e), strerror(errs[i].e));
	}
	/* An errno the table does not name still has its text. */
	ck_assert_str_eq(dx_err_name(-EDOM), "UNKNOWN");
	ck_assert_str_eq(dx_strerror(-EDOM), strerror(EDOM));
	/* Neither an errno nor a DX_E* code. */
	ck_assert_str_eq(dx_strerror(-10999), "unknown error");
	ck_assert_str_eq(dx_strerror(5), "unknown error");
	ck_assert_str_eq(dx_err_name(5), "UNKNOWN");
	ck_assert_str_eq(dx_err_name(-10999), "UNKNOWN");
}
END_TEST

/* A response buffer that grows on the heap and counts reserve calls. */
struct grow {
	dx_response res;
	int calls;
	size_t limit; /* reserve fails beyond this capacity */
};

static int grow_reserve(dx_response *res, size_t extra)
{
	struct grow *g = res->owner;
	g->calls++;
	size_t need = res->len + extra;
	if (need > g->limit)
		return -ENOMEM;
	size_t cap = res->cap ? res->cap : 4;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(res->data, cap);
	if (!p)
		return -ENOMEM;
	res->data = p;
	res->cap = cap;
	return 0;
}

static void grow_init(struct grow *g, size_t limit)
{
	memset(g, 0, sizeof *g);
	g->res.size = sizeof g->res;
	g->res.reserve = grow_reserve;
	g->res.owner = g;
	g->limit = limit;
}

START_TEST(test_response_grows)
{
	struct grow g;
	grow_init(&g, 1 << 20);
	ck_assert_int_eq(dx_response_write(&g.res, "abc", 3), 0);
	ck_assert_int_eq(g.calls, 1);
	char big[1000];
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(dx_response_write(&g.res, big, sizeof big), 0);
	ck_assert_int_eq(dx_response_printf(&g.res, "[%d-%s]", 42, "z"), 0);
	ck_assert_uint_eq(g.res.len, 3 + 1000 + 6);
	ck_assert_uint_ge(g.res.cap, g.res.len);
	ck_assert_int_eq(memcmp(g.res.data, "abc", 3), 0);
	ck_assert_int_eq(memcmp(g.res.data + 3, big, sizeof big), 0);
	ck_assert_int_eq(memcmp(g.res.data + 1003, "[42-z]", 6), 0);
	ck_assert_uint_eq(g.res.status, 0);
	/* Empty writes need no room and no data. */
	size_t len = g.res.len;
	ck_assert_int_eq(dx_response_write(&g.res, NULL, 0), 0);
	ck_assert_uint_eq(g.res.len, len);
	free(g.res.data);
}
END_TEST

START_TEST(test_response_error_replaces_body)
{
	struct grow g;
	grow_init(&g, 1 << 20);
	ck_assert_int_eq(dx_response_printf(&g.res, "partial answer"), 0);
	ck_assert_int_eq(dx_response_error(&g.res, 404, "no route %s", "x.y"),
			 0);
	ck_assert_uint_eq(g.res.status, 404);
	ck_assert_uint_eq(g.res.len, strlen("no route x.y"));
	ck_assert_int_eq(memcmp(g.res.data, "no route x.y", g.res.len), 0);
	/* Only 400..599 are error statuses; the body is left alone. */
	ck_assert_int_eq(dx_response_error(&g.res, 200, "ok"), -EINVAL);
	ck_assert_int_eq(dx_response_error(&g.res, 399, "x"), -EINVAL);
	ck_assert_int_eq(dx_response_error(&g.res, 600, "x"), -EINVAL);
	ck_assert_uint_eq(g.res.status, 404);
	ck_assert_uint_eq(g.res.len, strlen("no route x.y"));
	ck_assert_int_eq(dx_response_error(&g.res, 400, "a"), 0);
	ck_assert_int_eq(dx_response_error(&g.res, 599, "b"), 0);
	ck_assert_uint_eq(g.res.status, 599);
	ck_assert_uint_eq(g.res.len, 1);
	ck_assert_int_eq(g.res.data[0], 'b');
	free(g.res.data);
}
END_TEST

START_TEST(test_response_reserve_fails)
{
	struct grow g;
	grow_init(&g, 16);
	ck_assert_int_eq(dx_response_write(&g.res, "0123456789", 10), 0);
	ck_assert_int_eq(dx_response_write(&g.res, "0123456789", 10), -ENOMEM);
	ck_assert_uint_eq(g.res.len, 10);
	ck_assert_int_eq(dx_response_printf(&g.res, "%s", "0123456789"),
			 -ENOMEM);
	ck_assert_uint_eq(g.res.len, 10);
	free(g.res.data);
}
END_TEST

START_TEST(test_response_fixed_buffer)
{
	uint8_t buf[8];
	memset(buf, '#', sizeof buf);
	dx_response res;
	dx_response_init(&res, buf, sizeof buf, NULL, 0);
	ck_assert_int_eq(dx_response_write(&res, "12345678", 8), 0);
	ck_assert_uint_eq(res.len, 8);
	ck_assert_int_eq(dx_response_write(&res, "9", 1), -E2BIG);
	ck_assert_uint_eq(res.len, 8);

	memset(buf, '#', sizeof buf);
	res.len = 0;
	ck_assert_int_eq(dx_response_printf(&res, "%s", "abc"), 0);
	ck_assert_uint_eq(res.len, 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	ck_assert_int_eq(dx_response_printf(&res, "%s", "too long"), -E2BIG);
	ck_assert_uint_eq(res.len, 3);
	ck_assert_int_eq(buf[3], '\0'); /* untouched past the NUL */
	ck_assert_int_eq(buf[4], '#');
	ck_assert_int_eq(dx_response_error(&res, 500, "%s", "overflowing"),
			 -E2BIG);
}
END_TEST

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_name_rules)
{
	ck_assert(dx_name_valid("a"));
	ck_assert(dx_name_valid("routes_hello"));
	ck_assert(dx_name_valid("a_b9_"));
	ck_assert(!dx_name_valid(NULL));
	ck_assert(!dx_name_valid(""));
	ck_assert(!dx_name_valid("1abc"));
	ck_assert(!dx_name_valid("_abc"));
	ck_assert(!dx_name_valid("Abc"));
	ck_assert(!dx_name_valid("aBc"));
	ck_assert(!dx_name_valid("a-b"));
	ck_assert(!dx_name_valid("a b"));
	ck_assert(!dx_name_valid("a.b"));
	ck_assert(!dx_name_valid("caf\xc3\xa9"));

	char *n63 = repeat('a', 63), *n64 = repeat('a', 64);
	ck_assert(dx_name_valid(n63));
	ck_assert(!dx_name_valid(n64));
	ck_assert(dx_route_name_valid(n63));
	ck_assert(!dx_route_name_valid(n64));
	n63[62] = '.';
	ck_assert(dx_route_name_valid(n63));
	ck_assert(!dx_name_valid(n63));
	free(n63);
	free(n64);

	ck_assert(dx_route_name_valid("db.get"));
	ck_assert(dx_route_name_valid("a.b_c.d9"));
	ck_assert(!dx_route_name_valid(NULL));
	ck_assert(!dx_route_name_valid(""));
	ck_assert(!dx_route_name_valid(".db"));
	ck_assert(!dx_route_name_valid("9db"));
	ck_assert(!dx_route_name_valid("db.Get"));
	ck_assert(!dx_route_name_valid("db/get"));
}
END_TEST

START_TEST(test_facet_kind_names)
{
	ck_assert_str_eq(dx_facet_kind_name(DX_FACET_IO), "IO");
	ck_assert_str_eq(dx_facet_kind_name(DX_FACET_ROUTES), "ROUTES");
	ck_assert_str_eq(dx_facet_kind_name(DX_FACET_MIDDLEWARE), "MIDDLEWARE");
	ck_assert_str_eq(dx_facet_kind_name(DX_FACET_SERVICE), "SERVICE");
	ck_assert_str_eq(dx_facet_kind_name(DX_FACET_FORGE_DRIVER),
			 "FORGE_DRIVER");
	ck_assert_str_eq(dx_facet_kind_name(DX_FACET_PROTOCOL), "PROTOCOL");
	ck_assert_ptr_null(dx_facet_kind_name(0));
	ck_assert_ptr_null(dx_facet_kind_name(7));
	ck_assert_ptr_null(dx_facet_kind_name(UINT32_MAX));
}
END_TEST

/* The fixed prefix of docs/abi.md section 3, byte for byte. */
START_TEST(test_abi_prefix)
{
	ck_assert_uint_eq(offsetof(dx_plugin, magic), 0);
	ck_assert_uint_eq(offsetof(dx_plugin, abi_major), 4);
	ck_assert_uint_eq(offsetof(dx_plugin, abi_minor), 6);
	ck_assert_uint_eq(offsetof(dx_plugin, size), 8);
	ck_assert_uint_ge(offsetof(dx_plugin, name), DX_PLUGIN_PREFIX_SIZE);
	ck_assert_uint_le(DX_PLUGIN_V1_0_SIZE, sizeof(dx_plugin));
	ck_assert_uint_le(DX_HOST_API_V1_0_SIZE, sizeof(dx_host_api));
	ck_assert_uint_le(DX_ROUTES_VTABLE_V1_0_SIZE, sizeof(dx_routes_vtable));
	ck_assert_uint_le(DX_ROUTE_V1_0_SIZE, sizeof(dx_route));
	ck_assert_uint_eq(offsetof(dx_routes_vtable, size), 0);
	uint32_t magic = DX_PLUGIN_MAGIC;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	ck_assert_int_eq(memcmp(&magic, "DXP1", 4), 0);
#else
	ck_assert_uint_eq(magic & 0xff, 'D');
#endif
}
END_TEST

/* DX_HAS: a member past the end of a smaller struct counts as absent. */
START_TEST(test_dx_has)
{
	dx_routes_vtable vt = {.size = sizeof vt, .count = 1};
	ck_assert(DX_HAS(&vt, count));
	vt.size = (uint32_t)offsetof(dx_routes_vtable, count);
	ck_assert(!DX_HAS(&vt, count));
	vt.size = sizeof vt;
	vt.count = 0;
	ck_assert(!DX_HAS(&vt, count)); /* present but unset */
}
END_TEST

/* Response metadata: entries as the HBTP block wants them, refused past
 * the room, past DX_HBTP_META_MAX entries, or with a bad key. */
START_TEST(test_response_meta)
{
	uint8_t room[4096];
	dx_response res;
	dx_response_init(&res, NULL, 0, room, sizeof room);
	ck_assert_int_eq(dx_response_meta(&res, "Bad", "v", 1), -EINVAL);
	ck_assert_int_eq(dx_response_meta(&res, "", "v", 1), -EINVAL);
	ck_assert_int_eq(dx_response_meta_u64(&res, "x-n", 0), 0);
	ck_assert_int_eq(dx_response_meta_u64(&res, "x-max", UINT64_MAX), 0);
	static const uint8_t want[] = {3, 'x', '-', 'n', 1, 0, '0',
				       5, 'x', '-', 'm', 'a', 'x', 20, 0,
				       '1', '8', '4', '4', '6', '7', '4', '4',
				       '0', '7', '3', '7', '0', '9', '5', '5',
				       '1', '6', '1', '5'};
	ck_assert_uint_eq(res.meta_len, sizeof want);
	ck_assert_mem_eq(room, want, sizeof want);
	/* The block the host sends must parse: and stop at the limit. */
	for (unsigned i = res.meta_count; i < DX_HBTP_META_MAX; i++)
		ck_assert_int_eq(dx_response_meta(&res, "k", "v", 1), 0);
	ck_assert_int_eq(dx_response_meta(&res, "k", "v", 1), -E2BIG);
	uint8_t block[4096 + 2];
	dx_hbtp_put_le16(block, (uint16_t)res.meta_len);
	memcpy(block + 2, room, res.meta_len);
	dx_hbtp_meta m;
	const char *why = NULL;
	ck_assert_int_eq(dx_hbtp_meta_parse(block, res.meta_len + 2, &m, &why),
			 (long)res.meta_len + 2);
	ck_assert_uint_eq(m.count, DX_HBTP_META_MAX);
	dx_response small;
	dx_response_init(&small, NULL, 0, room, 4);
	ck_assert_int_eq(dx_response_meta(&small, "key", "v", 1), -E2BIG);
	ck_assert_uint_eq(small.meta_len, 0);
}
END_TEST

/* What plugins and tests use instead of the host's members. */
START_TEST(test_response_helpers)
{
	uint8_t body[16], meta[64];
	dx_response res;
	dx_response_init(&res, body, sizeof body, meta, sizeof meta);
	ck_assert_uint_eq(res.size, sizeof res);
	ck_assert_int_eq(dx_response_write(&res, "hi", 2), 0);
	ck_assert_ptr_eq(dx_response_body(&res), body);
	ck_assert_int_eq(memcmp(dx_response_body(&res), "hi", 2), 0);
	ck_assert_ptr_null(dx_response_meta_find(&res, "x-a", NULL));
	ck_assert_int_eq(dx_response_meta(&res, "x-a", "1", 1), 0);
	ck_assert_int_eq(dx_response_meta(&res, "x-bb", "22", 2), 0);
	ck_assert_ptr_eq(dx_response_meta_entries(&res), meta);
	uint16_t len = 0;
	const uint8_t *v = dx_response_meta_find(&res, "x-bb", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(memcmp(v, "22", 2), 0);
	ck_assert_ptr_nonnull(dx_response_meta_find(&res, "x-a", NULL));
	ck_assert_ptr_null(dx_response_meta_find(&res, "x-b", NULL));
	/* Without buffers every write is refused, nothing is touched. */
	dx_response none;
	dx_response_init(&none, NULL, 5, NULL, 5);
	ck_assert_int_eq(dx_response_write(&none, "x", 1), -E2BIG);
	ck_assert_int_eq(dx_response_meta(&none, "k", "v", 1), -E2BIG);
	ck_assert_ptr_null(dx_response_meta_find(&none, "k", NULL));
}
END_TEST

static Suite *sdk_suite(void)
{
	Suite *s = suite_create("sdk");
	TCase *tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_dx_codes_named, 0, N_CODES);
	tcase_add_test(tc, test_errno_codes);
	suite_add_tcase(s, tc);
	tc = tcase_create("response");
	tcase_add_test(tc, test_response_grows);
	tcase_add_test(tc, test_response_error_replaces_body);
	tcase_add_test(tc, test_response_reserve_fails);
	tcase_add_test(tc, test_response_fixed_buffer);
	tcase_add_test(tc, test_response_meta);
	tcase_add_test(tc, test_response_helpers);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, test_name_rules);
	tcase_add_test(tc, test_facet_kind_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("abi");
	tcase_add_test(tc, test_abi_prefix);
	tcase_add_test(tc, test_dx_has);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(sdk_suite());
}
