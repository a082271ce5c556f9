/* test_config.c - host/src/config.c, what the host API's config getters
 * wrap: defaults, type and range errors that name the JSON path, nested
 * paths, unknown keys and error formatting. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <cJSON.h>

#include "check_main.h"
#include "config.h"
#include "testutil.h"

static cJSON *json;
static dx_config *cfg;
static dx_diag d;

/* Parse text as plugins[0]'s config. */
static void load(const char *text)
{
	json = cJSON_Parse(text);
	ck_assert_msg(json != NULL, "bad test JSON: %s", text);
	cfg = dx_config_new(json, "plugins[0].config");
	ck_assert_ptr_nonnull(cfg);
	d = (dx_diag)DX_DIAG_INIT;
}

static void teardown(void)
{
	dx_config_free(cfg);
	cJSON_Delete(json);
	dx_diag_clear(&d);
	cfg = NULL;
	json = NULL;
}

/* The one error recorded so far must be exactly want. */
static void expect_error(const char *want)
{
	ck_assert_msg(d.count == 1, "%zu errors, expected \"%s\":\n%s", d.count,
		      want, tu_diag_all(&d));
	ck_assert_str_eq(d.msgs[0], want);
	dx_diag_clear(&d);
}

START_TEST(test_defaults_on_missing_keys)
{
	load("{\"other\": 1}");
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;
	double x = 0;
	ck_assert_int_eq(dx_config_get_str(cfg, "s", "dflt", &s, &d), 0);
	ck_assert_str_eq(s, "dflt");
	ck_assert_int_eq(dx_config_get_str(cfg, "s", NULL, &s, &d), 0);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(dx_config_get_int(cfg, "i", 7, 1, 10, &i, &d), 0);
	ck_assert_int_eq(i, 7);
	ck_assert_int_eq(dx_config_get_bool(cfg, "b", true, &b, &d), 0);
	ck_assert(b);
	ck_assert_int_eq(dx_config_get_double(cfg, "x", 2.5, &x, &d), 0);
	ck_assert_double_eq(x, 2.5);
	ck_assert(!dx_config_has(cfg, "s"));
	ck_assert(dx_config_has(cfg, "other"));
	ck_assert(dx_config_has(cfg, NULL));
	ck_assert_ptr_null(dx_config_child(cfg, "missing", &d));
	/* Keys are case-sensitive. */
	ck_assert(!dx_config_has(cfg, "Other"));
	ck_assert_uint_eq(d.count, 0);
	teardown();
}
END_TEST

START_TEST(test_values_read)
{
	load("{\"s\": \"text\", \"i\": -3, \"b\": false, \"x\": 0.25, "
	     "\"n\": null, \"big\": 9007199254740992}");
	const char *s = NULL;
	int64_t i = 0;
	bool b = true;
	double x = 0;
	ck_assert_int_eq(dx_config_get_str(cfg, "s", "dflt", &s, &d), 0);
	ck_assert_str_eq(s, "text");
	ck_assert_int_eq(dx_config_get_int(cfg, "i", 7, -3, -3, &i, &d), 0);
	ck_assert_int_eq(i, -3);
	ck_assert_int_eq(dx_config_get_bool(cfg, "b", true, &b, &d), 0);
	ck_assert(!b);
	ck_assert_int_eq(dx_config_get_double(cfg, "x", 1, &x, &d), 0);
	ck_assert_double_eq(x, 0.25);
	ck_assert_int_eq(dx_config_get_double(cfg, "i", 1, &x, &d), 0);
	ck_assert_double_eq(x, -3.0);
	ck_assert_int_eq(dx_config_get_int(cfg, "big", 0, 0, INT64_MAX, &i, &d),
			 0);
	ck_assert_int_eq(i, INT64_C(9007199254740992));
	ck_assert(dx_config_has(cfg, "n")); /* null is present */
	ck_assert_ptr_eq(dx_config_json(cfg), json);
	ck_assert_str_eq(dx_config_node_path(cfg), "plugins[0].config");
	ck_assert_uint_eq(d.count, 0);
	teardown();
}
END_TEST

START_TEST(test_type_errors)
{
	load("{\"port\": \"80\", \"name\": 5, \"on\": 1, \"x\": \"1.5\", "
	     "\"n\": null, \"list\": [1], \"obj\": {}}");
	const char *s;
	int64_t i;
	bool b;
	double x;
	ck_assert_int_eq(dx_config_get_int(cfg, "port", 1, 1, 65535, &i, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.port: expected an integer in 1..65535, "
		     "got a string");
	ck_assert_int_eq(dx_config_get_str(cfg, "name", "d", &s, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.name: expected a string, got a number");
	ck_assert_int_eq(dx_config_get_bool(cfg, "on", false, &b, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.on: expected true or false, got a "
		     "number");
	ck_assert_int_eq(dx_config_get_double(cfg, "x", 0, &x, &d), DX_ECONFIG);
	expect_error("plugins[0].config.x: expected a number, got a string");
	ck_assert_int_eq(dx_config_get_str(cfg, "n", "d", &s, &d), DX_ECONFIG);
	expect_error("plugins[0].config.n: expected a string, got null");
	ck_assert_int_eq(dx_config_get_int(cfg, "list", 0, 0, 9, &i, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.list: expected an integer in 0..9, got "
		     "an array");
	ck_assert_int_eq(dx_config_get_bool(cfg, "obj", 0, &b, &d), DX_ECONFIG);
	expect_error("plugins[0].config.obj: expected true or false, got an "
		     "object");
	ck_assert_ptr_null(dx_config_child(cfg, "port", &d));
	expect_error("plugins[0].config.port: expected an object or an array, "
		     "got a string");
	teardown();
}
END_TEST

START_TEST(test_int_ranges)
{
	load("{\"port\": 70000, \"zero\": 0, \"max\": 65535, \"frac\": 1.5, "
	     "\"neg\": -1, \"huge\": 1e300}");
	int64_t i = 0;
	ck_assert_int_eq(dx_config_get_int(cfg, "port", 1, 1, 65535, &i, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.port: expected an integer in 1..65535, "
		     "got 70000");
	ck_assert_int_eq(dx_config_get_int(cfg, "zero", 1, 1, 65535, &i, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.zero: expected an integer in 1..65535, "
		     "got 0");
	ck_assert_int_eq(dx_config_get_int(cfg, "frac", 1, 0, 10, &i, &d),
			 DX_ECONFIG);
	expect_error(
		"plugins[0].config.frac: expected an integer in 0..10, got "
		"1.5");
	ck_assert_int_eq(dx_config_get_int(cfg, "neg", 1, 0, 10, &i, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.neg: expected an integer in 0..10, got "
		     "-1");
	ck_assert_int_eq(dx_config_get_int(cfg, "huge", 0, INT64_MIN, INT64_MAX,
					   &i, &d),
			 DX_ECONFIG);
	ck_assert_uint_eq(d.count, 1);
	tu_assert_diag_has(&d, "plugins[0].config.huge:");
	dx_diag_clear(&d);
	/* The bounds themselves are in range. */
	ck_assert_int_eq(dx_config_get_int(cfg, "max", 1, 1, 65535, &i, &d), 0);
	ck_assert_int_eq(i, 65535);
	ck_assert_int_eq(dx_config_get_int(cfg, "neg", 1, -1, -1, &i, &d), 0);
	ck_assert_int_eq(i, -1);
	ck_assert_uint_eq(d.count, 0);
	teardown();
}
END_TEST

/* 2^63 is one past INT64_MAX but compares equal to (double)INT64_MAX: it
 * must be refused, not cast (the cast is undefined behaviour). */
START_TEST(test_int_just_past_int64_max)
{
	load("{\"n\": 9223372036854775808, \"m\": -9223372036854775808}");
	int64_t i = 0;
	int rc = dx_config_get_int(cfg, "n", 0, INT64_MIN, INT64_MAX, &i, &d);
	ck_assert_msg(rc == DX_ECONFIG,
		      "2^63 accepted as an int64 (rc %d, value %lld)", rc,
		      (long long)i);
	dx_diag_clear(&d);
	/* -2^63 is INT64_MIN exactly. */
	ck_assert_int_eq(dx_config_get_int(cfg, "m", 0, INT64_MIN, INT64_MAX,
					   &i, &d),
			 0);
	ck_assert_int_eq(i, INT64_MIN);
	teardown();
}
END_TEST

START_TEST(test_nested_paths)
{
	load("{\"queries\": [{\"sql\": \"select 1\"}, {\"sql\": 5}], "
	     "\"db\": {\"pool\": {\"size\": \"big\"}}, \"names\": [\"a\", 2]}");
	const dx_config *q = dx_config_child(cfg, "queries", &d);
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(dx_config_node_path(q), "plugins[0].config.queries");
	ck_assert_uint_eq(dx_config_len(q), 2);
	/* Nodes are cached: the same pointer every time. */
	ck_assert_ptr_eq(dx_config_child(cfg, "queries", &d), q);
	const dx_config *q0 = dx_config_at(q, 0), *q1 = dx_config_at(q, 1);
	ck_assert_ptr_nonnull(q0);
	ck_assert_ptr_nonnull(q1);
	ck_assert_ptr_eq(dx_config_at(q, 1), q1);
	ck_assert_ptr_null(dx_config_at(q, 2));
	ck_assert_ptr_null(dx_config_at(q, SIZE_MAX));
	ck_assert_str_eq(dx_config_node_path(q1),
			 "plugins[0].config.queries[1]");
	const char *s = NULL;
	ck_assert_int_eq(dx_config_get_str(q0, "sql", NULL, &s, &d), 0);
	ck_assert_str_eq(s, "select 1");
	ck_assert_int_eq(dx_config_get_str(q1, "sql", NULL, &s, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.queries[1].sql: expected a string, got "
		     "a number");

	const dx_config *pool =
		dx_config_child(dx_config_child(cfg, "db", &d), "pool", &d);
	ck_assert_ptr_nonnull(pool);
	int64_t n;
	ck_assert_int_eq(dx_config_get_int(pool, "size", 1, 1, 9, &n, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.db.pool.size: expected an integer in "
		     "1..9, got a string");

	/* key NULL reads the node itself: an array element. */
	const dx_config *names = dx_config_child(cfg, "names", &d);
	ck_assert_int_eq(dx_config_get_str(dx_config_at(names, 0), NULL, NULL,
					   &s, &d),
			 0);
	ck_assert_str_eq(s, "a");
	ck_assert_int_eq(dx_config_get_str(dx_config_at(names, 1), NULL, NULL,
					   &s, &d),
			 DX_ECONFIG);
	expect_error("plugins[0].config.names[1]: expected a string, got a "
		     "number");

	/* Members of an object by index are named by their key. */
	ck_assert_uint_eq(dx_config_len(cfg), 3);
	const dx_config *m1 = dx_config_at(cfg, 1);
	ck_assert_str_eq(dx_config_node_path(m1), "plugins[0].config.db");
	ck_assert_ptr_eq(dx_config_child(cfg, "db", &d), m1);
	/* A scalar has no length and no elements. */
	ck_assert_uint_eq(dx_config_len(dx_config_at(names, 0)), 0);
	ck_assert_ptr_null(dx_config_at(dx_config_at(names, 0), 0));
	ck_assert_uint_eq(d.count, 0);
	teardown();
}
END_TEST

START_TEST(test_unknown_keys)
{
	static const char *const allowed[] = {"greeting", "port", NULL};
	static const char *const none[] = {NULL};
	load("{\"greeting\": \"hi\", \"greting\": \"x\", \"prot\": 1}");
	ck_assert_int_eq(dx_config_check_keys(cfg, allowed, &d), DX_ECONFIG);
	/* Every unknown key is reported, not just the first. */
	ck_assert_uint_eq(d.count, 2);
	ck_assert_str_eq(d.msgs[0], "plugins[0].config.greting: unknown key; "
				    "expected one of: greeting, port");
	ck_assert_str_eq(d.msgs[1], "plugins[0].config.prot: unknown key; "
				    "expected one of: greeting, port");
	dx_diag_clear(&d);
	ck_assert_int_eq(dx_config_check_keys(cfg, none, &d), DX_ECONFIG);
	ck_assert_uint_eq(d.count, 3);
	tu_assert_diag_has(&d, "expected one of: (none)");
	dx_diag_clear(&d);
	teardown();

	load("{\"port\": 1}");
	ck_assert_int_eq(dx_config_check_keys(cfg, allowed, &d), 0);
	ck_assert_uint_eq(d.count, 0);
	teardown();

	load("{\"list\": [1, 2]}");
	ck_assert_int_eq(dx_config_check_keys(dx_config_child(cfg, "list", &d),
					      allowed, &d),
			 DX_ECONFIG);
	expect_error(
		"plugins[0].config.list: expected an object, got an array");
	teardown();
}
END_TEST

static int verror(const dx_config *c, const char *key, const char *fmt, ...)
	DX_PRINTF(3, 4);
static int verror(const dx_config *c, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = dx_config_verror(c, key, &d, fmt, ap);
	va_end(ap);
	return rc;
}

START_TEST(test_error_format)
{
	load("{\"alg\": \"XS256\"}");
	ck_assert_int_eq(verror(cfg, "alg", "unknown algorithm \"%s\"",
				"XS256"),
			 DX_ECONFIG);
	expect_error("plugins[0].config.alg: unknown algorithm \"XS256\"");
	ck_assert_int_eq(verror(cfg, NULL, "needs %d things", 2), DX_ECONFIG);
	expect_error("plugins[0].config: needs 2 things");
	teardown();

	/* A root with an empty path: no leading dot, and a name when there is
	 * no key. */
	json = cJSON_Parse("{}");
	cfg = dx_config_new(json, "");
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(verror(cfg, "x", "bad"), DX_ECONFIG);
	expect_error("x: bad");
	ck_assert_int_eq(verror(cfg, NULL, "bad"), DX_ECONFIG);
	expect_error("(config): bad");
	teardown();
}
END_TEST

/* A plugin without "config" gets an empty object. */
START_TEST(test_no_config)
{
	static const char *const allowed[] = {"a", NULL};
	dx_config *c = dx_config_new(NULL, "plugins[3].config");
	ck_assert_ptr_nonnull(c);
	dx_diag dd = DX_DIAG_INIT;
	ck_assert(cJSON_IsObject(dx_config_json(c)));
	ck_assert_uint_eq(dx_config_len(c), 0);
	ck_assert(!dx_config_has(c, "a"));
	ck_assert_int_eq(dx_config_check_keys(c, allowed, &dd), 0);
	int64_t i;
	ck_assert_int_eq(dx_config_get_int(c, "a", 5, 0, 9, &i, &dd), 0);
	ck_assert_int_eq(i, 5);
	ck_assert_uint_eq(dd.count, 0);
	dx_config_free(c);
	dx_config_free(NULL);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("getters");
	tcase_add_test(tc, test_defaults_on_missing_keys);
	tcase_add_test(tc, test_values_read);
	tcase_add_test(tc, test_type_errors);
	tcase_add_test(tc, test_int_ranges);
	tcase_add_test(tc, test_int_just_past_int64_max);
	suite_add_tcase(s, tc);
	tc = tcase_create("structure");
	tcase_add_test(tc, test_nested_paths);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_error_format);
	tcase_add_test(tc, test_no_config);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(config_suite());
}
