/* test_metrics.c - host/src/metrics_text.c (the Prometheus text writer),
 * metrics.c (plugins' metrics, their cells) and the scrape of plugin
 * metrics (metrics_host.c) with real plugins: tests/plugins/metricsplug
 * (ABI 1.2: counter, gauge, histogram) and metricsplug_v11 (a descriptor as
 * ABI 1.1 built it, which must still load), through a real registry. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "check_main.h"
#include "metrics.h"
#include "metrics_text.h"
#include "registry.h"
#include "registry_int.h"
#include "testutil.h"

/* The text written so far (NUL-terminated; the buffer stays the test's). */
static const char *mt_text(dx_mtext *t)
{
	ck_assert(!t->failed);
	return t->p ? t->p : "";
}

static void assert_has(const char *text, const char *want)
{
	ck_assert_msg(strstr(text, want), "missing:\n%s\nin:\n%s", want, text);
}

START_TEST(test_escaping)
{
	dx_mtext t;
	dx_mtext_init(&t);
	/* HELP escapes backslash and newline, not the quote. */
	dx_mtext_family(&t, "x_total", "counter", "a \\ b \"c\"\nd");
	static const char *const names[] = {"route", "plugin"};
	const char *values[] = {"we\"ird\\na\nme", ""};
	dx_mlabels l = {names, values, 2};
	dx_mtext_sample_u64(&t, "x_total", &l, 7);
	ck_assert_str_eq(
		mt_text(&t),
		"# HELP x_total a \\\\ b \"c\"\\nd\n"
		"# TYPE x_total counter\n"
		"x_total{route=\"we\\\"ird\\\\na\\nme\",plugin=\"\"} 7\n");
	/* Without labels, no braces; an empty help says the name. */
	char *s = dx_mtext_done(&t, NULL);
	free(s);
	dx_mtext_family(&t, "g", "gauge", "");
	dx_mtext_sample(&t, "g", NULL, 0.00025);
	dx_mtext_sample(&t, "g", NULL, INFINITY);
	dx_mtext_sample(&t, "g", NULL, -2.5);
	dx_mtext_sample(&t, "g", NULL, 1e21);
	ck_assert_str_eq(mt_text(&t), "# HELP g g\n# TYPE g gauge\n"
				      "g 0.00025\ng +Inf\ng -2.5\ng 1e+21\n");
	size_t len = 0;
	s = dx_mtext_done(&t, &len);
	ck_assert_uint_eq(len, strlen(s));
	free(s);
	/* Names: anything outside [a-zA-Z0-9_:] becomes '_'. */
	char out[64];
	dx_mtext_name(out, sizeof out, "dx_plugin_a.b-c");
	ck_assert_str_eq(out, "dx_plugin_a_b_c");
	dx_mtext_name(out, sizeof out, "9lives");
	ck_assert_str_eq(out, "_9lives");
}
END_TEST

/* Histogram buckets are cumulative, never go down, and +Inf == _count. */
START_TEST(test_histogram)
{
	dx_mtext t;
	dx_mtext_init(&t);
	static const char *const names[] = {"route"};
	const char *values[] = {"echo"};
	dx_mlabels l = {names, values, 1};
	const double bounds[] = {0.001, 0.01, 0.1};
	const uint64_t counts[] = {3, 0, 5, 2}; /* the last: above 0.1 */
	dx_mtext_family(&t, "lat_seconds", "histogram", "latency");
	dx_mtext_histogram(&t, "lat_seconds", &l, bounds, 3, counts, 1.5);
	ck_assert_str_eq(
		mt_text(&t),
		"# HELP lat_seconds latency\n# TYPE lat_seconds histogram\n"
		"lat_seconds_bucket{route=\"echo\",le=\"0.001\"} 3\n"
		"lat_seconds_bucket{route=\"echo\",le=\"0.01\"} 3\n"
		"lat_seconds_bucket{route=\"echo\",le=\"0.1\"} 8\n"
		"lat_seconds_bucket{route=\"echo\",le=\"+Inf\"} 10\n"
		"lat_seconds_sum{route=\"echo\"} 1.5\n"
		"lat_seconds_count{route=\"echo\"} 10\n");
	free(dx_mtext_done(&t, NULL));
	/* No labels: le alone. */
	dx_mtext_histogram(&t, "h", NULL, bounds, 1, counts, 0);
	assert_has(mt_text(&t), "h_bucket{le=\"0.001\"} 3\n");
	assert_has(mt_text(&t),
		   "h_bucket{le=\"+Inf\"} 3\nh_sum 0\nh_count 3\n");
	free(dx_mtext_done(&t, NULL));
}
END_TEST

/* Cells: each worker adds to its own, other threads to the shared one;
 * the sum is every add. */
struct adder {
	struct dx_counter *c, *h;
	unsigned cell;
};

static void *add_many(void *arg)
{
	struct adder *a = arg;
	for (int i = 0; i < 100000; i++) {
		dx_pmetric_add(a->c, a->cell, 1);
		dx_pmetric_observe(a->h, a->cell, 3);
	}
	return NULL;
}

START_TEST(test_cells)
{
	dx_metrics *m = dx_metrics_new(2);
	ck_assert_ptr_nonnull(m);
	const char *why;
	const double b[] = {1, 5};
	struct dx_counter *c = dx_metrics_plugin(m, "p", "n", "h",
						 DX_PM_COUNTER, NULL, 0, &why);
	struct dx_counter *h = dx_metrics_plugin(m, "p", "h", "hh",
						 DX_PM_HISTOGRAM, b, 2, &why);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h);
	/* The same name again: the same metric; another kind: refused. */
	ck_assert_ptr_eq(dx_metrics_plugin(m, "p", "n", NULL, DX_PM_COUNTER,
					   NULL, 0, &why),
			 c);
	ck_assert_ptr_null(dx_metrics_plugin(m, "p", "n", NULL, DX_PM_GAUGE,
					     NULL, 0, &why));
	ck_assert_ptr_nonnull(strstr(why, "another kind"));
	const double bad[] = {5, 1};
	ck_assert_ptr_null(dx_metrics_plugin(m, "p", "x", NULL, DX_PM_HISTOGRAM,
					     bad, 2, &why));
	ck_assert_ptr_nonnull(strstr(why, "ascending"));
	/* Two "workers" (cells 1, 2), two other threads (cell 0), and a cell
	 * past the workers, which goes to the shared one. */
	struct adder a[5] = {
		{c, h, 1}, {c, h, 2}, {c, h, 0}, {c, h, 0}, {c, h, 9}};
	pthread_t th[5];
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, add_many, &a[i]),
				 0);
	for (int i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_eq(dx_pmetric_sum(c), 500000);
	dx_mtext t;
	dx_mtext_init(&t);
	dx_metrics_write_plugins(m, &t);
	const char *s = mt_text(&t);
	assert_has(s, "# HELP dx_plugin_p_n_total h\n"
		      "# TYPE dx_plugin_p_n_total counter\n"
		      "dx_plugin_p_n_total{plugin=\"p\"} 500000\n");
	assert_has(s, "dx_plugin_p_h_bucket{plugin=\"p\",le=\"1\"} 0\n"
		      "dx_plugin_p_h_bucket{plugin=\"p\",le=\"5\"} 500000\n"
		      "dx_plugin_p_h_bucket{plugin=\"p\",le=\"+Inf\"} 500000\n"
		      "dx_plugin_p_h_sum{plugin=\"p\"} 1500000\n"
		      "dx_plugin_p_h_count{plugin=\"p\"} 500000\n");
	free(dx_mtext_done(&t, NULL));
	dx_metrics_free(m);
}
END_TEST

static void reg_add(dx_registry *r, const char *name)
{
	dx_diag d = DX_DIAG_INIT;
	char *path = tu_tp(name);
	dx_load_opts o = {.allow_writable = true};
	dx_module mod;
	int rc = dx_module_open(path, &o, &mod, &d);
	ck_assert_msg(rc == 0, "%s: %s", path, tu_diag_all(&d));
	rc = dx_registry_add(r, &mod, NULL, NULL, &d);
	ck_assert_msg(rc == 0, "%s: %s", path, tu_diag_all(&d));
	free(path);
	dx_diag_clear(&d);
}

static void call_route(dx_registry *r, uint16_t id, const char *body)
{
	const dx_route_ref *ref = dx_registry_route(r, id);
	ck_assert_ptr_nonnull(ref);
	uint8_t buf[64];
	dx_response res;
	dx_response_init(&res, buf, sizeof buf, NULL, 0);
	dx_request req = {.size = sizeof req,
			  .route = id,
			  .body = (const uint8_t *)body,
			  .body_len = strlen(body)};
	ck_assert_int_eq(ref->route->call(ref->self, &req, &res), 0);
	ck_assert_uint_eq(res.len, 2);
}

/* A plugin's own counter, gauge and histogram reach the scrape with their
 * HELP text; so does the counter of a plugin built as ABI 1.1. */
START_TEST(test_plugin_metrics)
{
	dx_registry_opts o = {.log_level = DX_LOG_ERROR, .workers = 2};
	dx_registry *r = dx_registry_new(&o);
	ck_assert_ptr_nonnull(r);
	reg_add(r, "metricsplug");
	reg_add(r, "metricsplug_v11");
	ck_assert_uint_eq(dx_registry_module(r, 1)->desc->abi_minor, 1);
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	call_route(r, 900, "hello");
	call_route(r, 900, "a");
	call_route(r, 900, "twenty bytes of body");
	call_route(r, 901, "x");
	size_t len = 0;
	char *s = dx_metrics_render(r, NULL, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(len, strlen(s));
	assert_has(s,
		   "# HELP dx_plugin_metricsplug_calls_total calls to "
		   "metrics.observe \\\\ \"quoted\"\\nsecond line\n"
		   "# TYPE dx_plugin_metricsplug_calls_total counter\n"
		   "dx_plugin_metricsplug_calls_total{plugin=\"metricsplug\"}"
		   " 3\n");
	assert_has(s, "# HELP dx_plugin_metricsplug_last_size the last "
		      "body's length, in bytes\n"
		      "# TYPE dx_plugin_metricsplug_last_size gauge\n"
		      "dx_plugin_metricsplug_last_size{plugin=\"metricsplug\"} "
		      "20\n");
	assert_has(s, "# HELP dx_plugin_metricsplug_body_size bodies seen, "
		      "in bytes\n"
		      "# TYPE dx_plugin_metricsplug_body_size histogram\n"
		      "dx_plugin_metricsplug_body_size_bucket{plugin="
		      "\"metricsplug\",le=\"1\"} 1\n"
		      "dx_plugin_metricsplug_body_size_bucket{plugin="
		      "\"metricsplug\",le=\"4\"} 1\n"
		      "dx_plugin_metricsplug_body_size_bucket{plugin="
		      "\"metricsplug\",le=\"16\"} 2\n"
		      "dx_plugin_metricsplug_body_size_bucket{plugin="
		      "\"metricsplug\",le=\"64\"} 3\n"
		      "dx_plugin_metricsplug_body_size_bucket{plugin="
		      "\"metricsplug\",le=\"+Inf\"} 3\n"
		      "dx_plugin_metricsplug_body_size_sum{plugin="
		      "\"metricsplug\"} 26\n"
		      "dx_plugin_metricsplug_body_size_count{plugin="
		      "\"metricsplug\"} 3\n");
	assert_has(s, "# HELP dx_plugin_metricsplug_v11_calls_total calls to "
		      "metrics.observe \\\\ \"quoted\"\\nsecond line\n");
	assert_has(s, "dx_plugin_metricsplug_v11_calls_total{plugin="
		      "\"metricsplug_v11\"} 1\n");
	assert_has(s, "dx_plugins 2\n");
	free(s);
	dx_registry_free(r);
}
END_TEST

/* dx ctl stats reads counters through the registry: the help comes too. */
static void each(void *ud, const char *name, const char *help, uint64_t v)
{
	if (strcmp(name, "metricsplug.calls") == 0) {
		ck_assert_str_eq(help,
				 "calls to metrics.observe \\ \"quoted\"\n"
				 "second line");
		*(uint64_t *)ud = v + 1;
	}
}

START_TEST(test_help_kept)
{
	dx_registry_opts o = {.log_level = DX_LOG_ERROR, .workers = 1};
	dx_registry *r = dx_registry_new(&o);
	reg_add(r, "metricsplug");
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	call_route(r, 900, "x");
	uint64_t seen = 0;
	dx_registry_each_counter(r, each, &seen);
	ck_assert_uint_eq(seen, 2); /* found, value 1 */
	dx_registry_free(r);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("text");
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_histogram);
	suite_add_tcase(s, tc);
	tc = tcase_create("plugins");
	tcase_add_test(tc, test_cells);
	tcase_add_test(tc, test_plugin_metrics);
	tcase_add_test(tc, test_help_kept);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(metrics_suite());
}
