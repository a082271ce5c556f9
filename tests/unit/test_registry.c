/* test_registry.c - host/src/registry.c and hostapi.c with real plugins:
 * lookups, the route table, duplicates refused naming both sides, init in
 * manifest order and fini in reverse (seen through the log sink), a failing
 * init unwinding the others, config errors with their JSON path, and a call
 * into routes_hello through the route table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <cJSON.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "check_main.h"
#include "registry.h"
#include "registry_int.h"
#include "testplug.h"
#include "testutil.h"

/* Every line the registry logs, in order. */
#define CAP_LINES 64
struct logcap {
	int n;
	int level[CAP_LINES];
	char who[CAP_LINES][64];
	char msg[CAP_LINES][256];
};

static void cap_sink(void *ud, int level, const char *who, const char *msg)
{
	struct logcap *c = ud;
	ck_assert_int_lt(c->n, CAP_LINES);
	c->level[c->n] = level;
	snprintf(c->who[c->n], sizeof c->who[0], "%s", who);
	snprintf(c->msg[c->n], sizeof c->msg[0], "%s", msg);
	c->n++;
}

/* The plugins' own lines ("init rec_a", ...), joined by ", ", each checked
 * to come from the plugin it names. */
static const char *cap_plugin_lines(const struct logcap *c)
{
	static char buf[2048];
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < c->n; i++) {
		if (strcmp(c->who[i], "dx") == 0)
			continue;
		const char *sp = strchr(c->msg[i], ' ');
		if (sp && (strncmp(c->msg[i], "init ", 5) == 0 ||
			   strncmp(c->msg[i], "fini ", 5) == 0))
			ck_assert_str_eq(sp + 1, c->who[i]);
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
					len ? ", " : "", c->msg[i]);
	}
	return buf;
}

static dx_registry *reg_new(struct logcap *cap)
{
	memset(cap, 0, sizeof *cap);
	dx_registry_opts o = {.log = cap_sink,
			      .log_ud = cap,
			      .log_level = DX_LOG_DEBUG,
			      .workers = 3};
	dx_registry *r = dx_registry_new(&o);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* Load a plugin (a test plugin, or a real one when sub is set) and add it;
 * the load must succeed, the add's result is returned. */
static int reg_add(dx_registry *r, const char *name, const cJSON *config,
		   const char *config_path, dx_diag *d)
{
	char *path = strncmp(name, "routes_", 7) == 0 ?
			     tu_plugin_path("DX_PLUGINS", name, name) :
			     tu_tp(name);
	dx_load_opts o = {.allow_writable = true}; /* see test_loader.c */
	dx_module m;
	int rc = dx_module_open(path, &o, &m, d);
	ck_assert_msg(rc == 0, "%s: %s", path, tu_diag_all(d));
	free(path);
	return dx_registry_add(r, &m, config, config_path, d);
}

static void reg_add_ok(dx_registry *r, const char *name, const cJSON *config,
		       const char *config_path)
{
	dx_diag d = DX_DIAG_INIT;
	int rc = reg_add(r, name, config, config_path, &d);
	ck_assert_msg(rc == 0, "%s: rc %d: %s", name, rc, tu_diag_all(&d));
	dx_diag_clear(&d);
}

START_TEST(test_lookup)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	cJSON *cfg = cJSON_Parse("{\"answer\": 7}");
	reg_add_ok(r, "good", cfg, "plugins[0].config");
	reg_add_ok(r, "rec_a", NULL, NULL);
	ck_assert_uint_eq(dx_registry_count(r), 2);
	ck_assert_int_eq(dx_registry_find(r, "good"), 0);
	ck_assert_int_eq(dx_registry_find(r, "rec_a"), 1);
	ck_assert_int_eq(dx_registry_find(r, "rec_b"), -1);
	ck_assert_str_eq(dx_registry_module(r, 1)->desc->name, "rec_a");
	ck_assert_ptr_null(dx_registry_module(r, 2));
	const dx_plugin *good = dx_registry_module(r, 0)->desc;

	dx_facet_ref ref;
	ck_assert_int_eq(
		dx_registry_lookup(r, DX_FACET_SERVICE, "good_svc", &ref), 0);
	ck_assert_ptr_eq(ref.vtable, good->facets[1].vtable);
	ck_assert_str_eq(ref.plugin, "good");
	ck_assert_ptr_null(ref.self); /* not initialised yet */

	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	ck_assert_int_eq(
		dx_registry_lookup(r, DX_FACET_SERVICE, "good_svc", &ref), 0);
	ck_assert_ptr_nonnull(ref.self);
	const tp_service_vtable *svc = ref.vtable;
	ck_assert_int_eq(svc->answer(ref.self), 7); /* from its config */

	ck_assert_int_eq(
		dx_registry_lookup(r, DX_FACET_ROUTES, "good_routes", &ref), 0);
	ck_assert_ptr_eq(ref.vtable, good->facets[0].vtable);
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_SERVICE, "rec_a", &ref),
			 0);
	ck_assert_str_eq(ref.plugin, "rec_a");
	/* Right name, wrong kind; unknown name. */
	memset(&ref, 0x5a, sizeof ref);
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_ROUTES, "good_svc",
					    &ref),
			 -ENOENT);
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_IO, "good_routes",
					    &ref),
			 -ENOENT);
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_SERVICE, "nope", &ref),
			 -ENOENT);
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_SERVICE, "", &ref),
			 -ENOENT);
	dx_registry_free(r);
	cJSON_Delete(cfg);
}
END_TEST

START_TEST(test_route_table)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	reg_add_ok(r, "good", NULL, NULL);
	const dx_route_ref *ping = dx_registry_route(r, 100);
	const dx_route_ref *echo = dx_registry_route(r, 101);
	ck_assert_ptr_nonnull(ping);
	ck_assert_ptr_nonnull(echo);
	ck_assert_uint_eq(ping->route->id, 100);
	ck_assert_str_eq(ping->route->name, "good.ping");
	ck_assert_str_eq(echo->route->name, "good.echo");
	ck_assert_str_eq(ping->plugin, "good");
	ck_assert_ptr_null(ping->self);
	ck_assert_ptr_null(dx_registry_route(r, 0));
	ck_assert_ptr_null(dx_registry_route(r, 99));
	ck_assert_ptr_null(dx_registry_route(r, 102));
	ck_assert_ptr_null(dx_registry_route(r, 65535));

	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	dx_facet_ref ref;
	ck_assert_int_eq(
		dx_registry_lookup(r, DX_FACET_ROUTES, "good_routes", &ref), 0);
	ck_assert_ptr_nonnull(ping->self);
	ck_assert_ptr_eq(ping->self, ref.self);
	ck_assert_ptr_eq(echo->self, ref.self);

	uint8_t buf[64];
	dx_response res;
	dx_response_init(&res, buf, sizeof buf, NULL, 0);
	dx_request req = {.size = sizeof req,
			  .route = 101,
			  .body = (const uint8_t *)"abc",
			  .body_len = 3,
			  .worker = -1};
	ck_assert_int_eq(echo->route->call(echo->self, &req, &res), 0);
	ck_assert_uint_eq(res.len, 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	res.len = 0;
	ck_assert_int_eq(ping->route->call(ping->self, &req, &res), 0);
	ck_assert_uint_eq(res.len, strlen("pong from good"));
	ck_assert_int_eq(memcmp(buf, "pong from good", res.len), 0);

	/* After fini the routes no longer point at a freed instance. */
	dx_registry_fini_all(r);
	ck_assert_ptr_null(ping->self);
	dx_registry_free(r);
}
END_TEST

/* Add a then b; b must be refused with DX_EDUP and a message saying each
 * of says; nothing of b may stay registered. */
static void expect_clash(const char *a, const char *b, const char *b_name,
			 const char *b_facet, uint16_t b_route,
			 const char *const *says)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	reg_add_ok(r, a, NULL, NULL);
	dx_diag d = DX_DIAG_INIT;
	int rc = reg_add(r, b, NULL, NULL, &d);
	ck_assert_msg(rc == DX_EDUP, "rc %d: %s", rc, tu_diag_all(&d));
	ck_assert_uint_eq(d.count, 1);
	char *pa = tu_tp(a), *pb = tu_tp(b);
	tu_assert_diag_has(&d, pa);
	tu_assert_diag_has(&d, pb);
	free(pa);
	free(pb);
	for (int i = 0; says[i]; i++)
		tu_assert_diag_has(&d, says[i]);
	dx_diag_clear(&d);

	ck_assert_uint_eq(dx_registry_count(r), 1);
	ck_assert_str_eq(dx_registry_module(r, 0)->desc->name,
			 strcmp(a, "dup_name_a") == 0 ? "dup_name" : a);
	ck_assert_int_eq(dx_registry_find(r, b_name),
			 strcmp(b_name, "dup_name") == 0 ? 0 : -1);
	dx_facet_ref ref;
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_ROUTES, b_facet, &ref),
			 -ENOENT);
	ck_assert_ptr_null(dx_registry_route(r, b_route));
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	dx_registry_free(r);
}

START_TEST(test_dup_plugin_name)
{
	static const char *const says[] = {"\"dup_name\"", "already taken",
					   NULL};
	expect_clash("dup_name_a", "dup_name_b", "dup_name", "dupb_routes", 210,
		     says);
}
END_TEST

START_TEST(test_dup_facet)
{
	static const char *const says[] = {"\"facet_clash_a\"",
					   "\"facet_clash_b\"",
					   "SERVICE \"shared_svc\"", NULL};
	expect_clash("facet_clash_a", "facet_clash_b", "facet_clash_b",
		     "fcb_routes", 410, says);
}
END_TEST

START_TEST(test_route_id_clash)
{
	static const char *const says[] = {"\"route_clash_a\"",
					   "\"route_clash_b\"", "route 300",
					   "same id", NULL};
	expect_clash("route_clash_a", "route_clash_b", "route_clash_b",
		     "rcb_routes", 302, says);
}
END_TEST

/* Which plugins a live reload can replace, and unload remove: any; but
 * while another live plugin uses it (it looked one of its facets up and
 * may call it) unload refuses, naming the user and the facet; an unknown
 * name is said to be unknown. */
static int rl_nop(void *self, const dx_request *req, dx_response *res)
{
	return 0;
}

START_TEST(test_reloadable)
{
	static const dx_route rr[] = {{20, "rl.route", rl_nop}};
	static const dx_routes_vtable vr = DX_ROUTES(rr);
	static const dx_facet fr[] = {{DX_FACET_ROUTES, "rl", &vr}};
	static const dx_plugin pr = {DX_PLUGIN_MAGIC, DX_ABI_MAJOR,
				     DX_ABI_MINOR,    sizeof(dx_plugin),
				     .name = "mem_routes", .version = "1",
				     DX_FACETS(fr)};
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	reg_add_ok(r, "good", NULL, NULL); /* ROUTES and SERVICE */
	dx_diag d = DX_DIAG_INIT;
	dx_module m = {.path = strdup("mem://routes"), .desc = &pr};
	ck_assert_int_eq(dx_registry_add(r, &m, NULL, NULL, &d), 0);
	ck_assert_int_eq(dx_registry_reloadable(r, "mem_routes", &d), 1);
	ck_assert_uint_eq(d.count, 0);
	/* Nobody uses good's SERVICE facet yet: it may go. */
	ck_assert_int_eq(dx_registry_reloadable(r, "good", &d), 0);
	ck_assert_int_eq(dx_registry_unloadable(r, "good", &d), 0);
	ck_assert_uint_eq(d.count, 0);
	/* mem_routes looks it up (twice: one use) and now holds good. */
	const dx_host_api *h = &r->plugins[1]->api;
	dx_facet_ref ref;
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(h->lookup(h, DX_FACET_SERVICE, "good_svc",
					   &ref), 0);
	ck_assert_uint_eq(r->plugins[1]->use_count, 1);
	ck_assert_int_eq(atomic_load(&r->plugins[0]->holds), 1);
	/* A reload takes its users along (txn.c), so it is not refused. */
	ck_assert_int_eq(dx_registry_reloadable(r, "good", &d), 0);
	ck_assert_uint_eq(d.count, 0);
	ck_assert_int_eq(dx_registry_reloadable(r, "nope", &d), -ENOENT);
	tu_assert_diag_has(&d, "reload nope: no plugin of that name");
	dx_diag_clear(&d);
	ck_assert_int_eq(dx_registry_unloadable(r, "mem_routes", &d), 1);
	ck_assert_int_eq(dx_registry_unloadable(r, "good", &d), DX_ESTATE);
	tu_assert_diag_has(&d, "unload good: plugin \"mem_routes\" uses its "
			       "SERVICE facet \"good_svc\"; unload those "
			       "first");
	dx_diag_clear(&d);
	ck_assert_int_eq(dx_registry_unloadable(r, "nope", &d), -ENOENT);
	tu_assert_diag_has(&d, "unload nope: no plugin of that name");
	dx_diag_clear(&d);
	/* Once the user is gone, its hold is too. */
	dx_entry_unuse(r->plugins[1]);
	ck_assert_int_eq(atomic_load(&r->plugins[0]->holds), 0);
	ck_assert_int_eq(dx_registry_unloadable(r, "good", &d), 0);
	dx_registry_free(r);
}
END_TEST

/* Two in-memory plugins whose routes differ in id but share a name. */
static int nop_call(void *self, const dx_request *req, dx_response *res)
{
	return 0;
}

START_TEST(test_route_name_clash)
{
	static const dx_route ra[] = {{10, "same.name", nop_call}};
	static const dx_route rb[] = {{11, "same.name", nop_call}};
	static const dx_routes_vtable va = DX_ROUTES(ra), vb = DX_ROUTES(rb);
	static const dx_facet fa[] = {{DX_FACET_ROUTES, "ra", &va}};
	static const dx_facet fb[] = {{DX_FACET_ROUTES, "rb", &vb}};
	static const dx_plugin pa = {DX_PLUGIN_MAGIC, DX_ABI_MAJOR,
				     DX_ABI_MINOR,    sizeof(dx_plugin),
				     .name = "mem_a", .version = "1",
				     DX_FACETS(fa)};
	static const dx_plugin pb = {DX_PLUGIN_MAGIC, DX_ABI_MAJOR,
				     DX_ABI_MINOR,    sizeof(dx_plugin),
				     .name = "mem_b", .version = "1",
				     DX_FACETS(fb)};
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	dx_diag d = DX_DIAG_INIT;
	ck_assert_int_eq(dx_descriptor_check(&pa, "mem://a", &d), 0);
	ck_assert_int_eq(dx_descriptor_check(&pb, "mem://b", &d), 0);
	dx_module ma = {.path = strdup("mem://a"), .desc = &pa};
	dx_module mb = {.path = strdup("mem://b"), .desc = &pb};
	ck_assert_int_eq(dx_registry_add(r, &ma, NULL, NULL, &d), 0);
	ck_assert_int_eq(dx_registry_add(r, &mb, NULL, NULL, &d), DX_EDUP);
	tu_assert_diag_has(&d, "same name");
	tu_assert_diag_has(&d, "\"mem_a\"");
	tu_assert_diag_has(&d, "\"mem_b\"");
	tu_assert_diag_has(&d, "mem://a");
	ck_assert_ptr_null(dx_registry_route(r, 11));
	dx_diag_clear(&d);
	dx_registry_free(r);
}
END_TEST

/* The manifest moves a route: the clash goes away, the route is served
 * under the new id, and names the plugin lacks are refused. */
START_TEST(test_route_override)
{
	static const dx_route ra[] = {{10, "ov.a", nop_call}};
	static const dx_route rb[] = {{10, "ov.b", nop_call},
				      {12, "ov.c", nop_call}};
	static const dx_routes_vtable va = DX_ROUTES(ra), vb = DX_ROUTES(rb);
	static const dx_facet fa[] = {{DX_FACET_ROUTES, "ova", &va}};
	static const dx_facet fb[] = {{DX_FACET_ROUTES, "ovb", &vb}};
	static const dx_plugin pa = {DX_PLUGIN_MAGIC, DX_ABI_MAJOR,
				     DX_ABI_MINOR,    sizeof(dx_plugin),
				     .name = "ov_a", .version = "1",
				     DX_FACETS(fa)};
	static const dx_plugin pb = {DX_PLUGIN_MAGIC, DX_ABI_MAJOR,
				     DX_ABI_MINOR,    sizeof(dx_plugin),
				     .name = "ov_b", .version = "1",
				     DX_FACETS(fb)};
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	dx_diag d = DX_DIAG_INIT;
	cJSON *bad = cJSON_Parse("{\"ov.zz\": 40}");
	cJSON *same = cJSON_Parse("{\"ov.b\": 12}");
	cJSON *good = cJSON_Parse("{\"ov.b\": 40}");
	dx_module ma = {.path = strdup("mem://a"), .desc = &pa};
	ck_assert_int_eq(dx_registry_add(r, &ma, NULL, NULL, &d), 0);
	dx_module mb = {.path = strdup("mem://b"), .desc = &pb};
	ck_assert_int_eq(dx_registry_add_routes(r, &mb, NULL, NULL, bad,
						"plugins[1].routes", &d),
			 DX_ENAME);
	tu_assert_diag_has(&d, "plugins[1].routes.ov.zz: plugin \"ov_b\" has "
			       "no route named \"ov.zz\"");
	mb = (dx_module){.path = strdup("mem://b"), .desc = &pb};
	ck_assert_int_eq(dx_registry_add_routes(r, &mb, NULL, NULL, same,
						"plugins[1].routes", &d),
			 DX_EDUP);
	tu_assert_diag_has(&d, "both as id 12");
	mb = (dx_module){.path = strdup("mem://b"), .desc = &pb};
	ck_assert_int_eq(dx_registry_add_routes(r, &mb, NULL, NULL, good,
						"plugins[1].routes", &d),
			 0);
	const dx_route_ref *a = dx_registry_route(r, 10);
	const dx_route_ref *b = dx_registry_route(r, 40);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a->route->name, "ov.a");
	ck_assert_str_eq(b->route->name, "ov.b");
	ck_assert_uint_eq(b->id, 40);
	ck_assert_str_eq(dx_registry_route(r, 12)->route->name, "ov.c");
	cJSON_Delete(bad);
	cJSON_Delete(same);
	dx_diag_clear(&d);
	dx_registry_free(r);
	cJSON_Delete(good);
}
END_TEST

START_TEST(test_init_order_and_reverse_fini)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	reg_add_ok(r, "rec_c", NULL, NULL);
	reg_add_ok(r, "rec_a", NULL, NULL);
	reg_add_ok(r, "rec_d", NULL, NULL);
	reg_add_ok(r, "rec_b", NULL, NULL);
	dx_diag d = DX_DIAG_INIT;
	ck_assert_int_eq(dx_registry_init_all(r, &d), 0);
	ck_assert_uint_eq(d.count, 0);
	/* Manifest order, not alphabetical or any other. */
	ck_assert_str_eq(cap_plugin_lines(&cap),
			 "init rec_c, init rec_a, init rec_d, init rec_b");
	/* Already initialised: nothing happens again. */
	ck_assert_int_eq(dx_registry_init_all(r, &d), 0);
	ck_assert_int_eq(cap.n, 4);
	dx_registry_fini_all(r);
	ck_assert_str_eq(cap_plugin_lines(&cap),
			 "init rec_c, init rec_a, init rec_d, init rec_b, "
			 "fini rec_b, fini rec_d, fini rec_a, fini rec_c");
	for (int i = 0; i < cap.n; i++)
		ck_assert_int_eq(cap.level[i], DX_LOG_INFO);
	/* Finalised once only. */
	dx_registry_fini_all(r);
	dx_registry_free(r);
	ck_assert_int_eq(cap.n, 8);
}
END_TEST

START_TEST(test_free_finalises)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	reg_add_ok(r, "rec_a", NULL, NULL);
	reg_add_ok(r, "rec_b", NULL, NULL);
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	dx_registry_free(r);
	ck_assert_str_eq(cap_plugin_lines(&cap),
			 "init rec_a, init rec_b, fini rec_b, fini rec_a");
}
END_TEST

/* Four recording plugins; the third's config makes its init fail. */
static void expect_unwind(const char *bad_config, int code,
			  const char *const *says)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	cJSON *bad = cJSON_Parse(bad_config);
	ck_assert_ptr_nonnull(bad);
	reg_add_ok(r, "rec_a", NULL, "plugins[0].config");
	reg_add_ok(r, "rec_b", NULL, "plugins[1].config");
	reg_add_ok(r, "rec_c", bad, "plugins[2].config");
	reg_add_ok(r, "rec_d", NULL, "plugins[3].config");
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_registry_init_all(r, &d);
	ck_assert_msg(rc == code, "rc %d (%s): %s", rc, dx_err_name(rc),
		      tu_diag_all(&d));
	/* rec_c's init ran and failed: no fini for it; rec_d never ran. */
	ck_assert_str_eq(cap_plugin_lines(&cap),
			 "init rec_a, init rec_b, init rec_c, fini rec_b, "
			 "fini rec_a");
	ck_assert_uint_eq(d.count, 1);
	char *path = tu_tp("rec_c");
	tu_assert_diag_has(&d, path);
	free(path);
	tu_assert_diag_has(&d, "\"rec_c\"");
	for (int i = 0; says[i]; i++)
		tu_assert_diag_has(&d, says[i]);
	dx_diag_clear(&d);
	/* Nothing is left initialised: freeing finalises nobody. */
	int lines = cap.n;
	dx_facet_ref ref;
	ck_assert_int_eq(dx_registry_lookup(r, DX_FACET_SERVICE, "rec_a", &ref),
			 0);
	ck_assert_ptr_null(ref.self);
	dx_registry_free(r);
	ck_assert_int_eq(cap.n, lines);
	cJSON_Delete(bad);
}

START_TEST(test_failing_init_unwinds)
{
	static const char *const says[] = {"asked to fail by config",
					   "init failed", NULL};
	expect_unwind("{\"fail\": true}", -EINVAL, says);
}
END_TEST

/* A code init returns without a reason is named for what it is: a bare
 * -1 is not reported as "Operation not permitted", a positive value or a
 * code that is neither errno nor DX_E* says so, each with the fix. */
START_TEST(test_bare_init_codes)
{
	static const char *const minus_one[] = {
		"init returned -1 without a reason (-1 is -EPERM; return a "
		"negative errno or DX_E* code, and say why with host->fail())",
		NULL};
	expect_unwind("{\"return\": -1}", -1, minus_one);
	static const char *const positive[] = {
		"init returned 3, a positive value (return a negative errno",
		NULL};
	expect_unwind("{\"return\": 3}", DX_EINIT, positive);
	static const char *const unknown[] = {
		"init returned -5000, which is neither a negative errno nor a "
		"DX_E* code",
		NULL};
	expect_unwind("{\"return\": -5000}", -5000, unknown);
	static const char *const named[] = {"Connection refused", NULL};
	expect_unwind("{\"return\": -111}", -111, named);
}
END_TEST

START_TEST(test_config_error_unwinds)
{
	static const char *const says[] = {
		"plugins[2].config.count: expected an integer in 1..100, got a "
		"string",
		NULL};
	expect_unwind("{\"count\": \"three\"}", DX_ECONFIG, says);
}
END_TEST

static int hello_call(const dx_route_ref *ref, const char *body,
		      dx_response *res)
{
	dx_request req = {.size = sizeof req,
			  .route = ref->route->id,
			  .body = (const uint8_t *)body,
			  .body_len = body ? strlen(body) : 0,
			  .worker = -1};
	res->len = 0;
	res->status = 0;
	return ref->route->call(ref->self, &req, res);
}

START_TEST(test_routes_hello)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	cJSON *cfg = cJSON_Parse("{\"greeting\": \"hi\"}");
	reg_add_ok(r, "routes_hello", NULL, "plugins[0].config");
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	const dx_route_ref *ref = dx_registry_route(r, 1);
	ck_assert_ptr_nonnull(ref);
	ck_assert_str_eq(ref->route->name, "hello");
	ck_assert_str_eq(ref->plugin, "routes_hello");

	uint8_t buf[512];
	dx_response res;
	dx_response_init(&res, buf, sizeof buf, NULL, 0);
	ck_assert_int_eq(hello_call(ref, NULL, &res), 0);
	ck_assert_uint_eq(res.status, 0);
	ck_assert_uint_eq(res.len, strlen("hello, world!"));
	ck_assert_int_eq(memcmp(buf, "hello, world!", res.len), 0);
	ck_assert_int_eq(hello_call(ref, "dx", &res), 0);
	ck_assert_uint_eq(res.len, strlen("hello, dx!"));
	ck_assert_int_eq(memcmp(buf, "hello, dx!", res.len), 0);
	char long_name[300];
	memset(long_name, 'n', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	ck_assert_int_eq(hello_call(ref, long_name, &res), 0);
	ck_assert_uint_eq(res.status, 413);
	/* Its debug line came through the sink, named after the plugin. */
	ck_assert_int_ge(cap.n, 1);
	ck_assert_str_eq(cap.who[0], "routes_hello");
	ck_assert_int_eq(cap.level[0], DX_LOG_DEBUG);
	ck_assert_str_eq(cap.msg[0], "greeting is \"hello\"");
	dx_registry_free(r);

	/* The greeting from config. */
	r = reg_new(&cap);
	reg_add_ok(r, "routes_hello", cfg, "plugins[0].config");
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	ref = dx_registry_route(r, 1);
	ck_assert_int_eq(hello_call(ref, NULL, &res), 0);
	ck_assert_uint_eq(res.len, strlen("hi, world!"));
	ck_assert_int_eq(memcmp(buf, "hi, world!", res.len), 0);
	dx_registry_free(r);
	cJSON_Delete(cfg);
}
END_TEST

START_TEST(test_routes_hello_bad_config)
{
	static const struct {
		const char *json;
		const char *says;
	} cases[] = {
		{"{\"greeting\": 5}",
		 "plugins[4].config.greeting: expected a string, got a number"},
		{"{\"greting\": \"hi\"}",
		 "plugins[4].config.greting: unknown key; expected one of: "
		 "greeting"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct logcap cap;
		dx_registry *r = reg_new(&cap);
		cJSON *cfg = cJSON_Parse(cases[i].json);
		reg_add_ok(r, "routes_hello", cfg, "plugins[4].config");
		dx_diag d = DX_DIAG_INIT;
		ck_assert_int_eq(dx_registry_init_all(r, &d), DX_ECONFIG);
		tu_assert_diag_has(&d, cases[i].says);
		tu_assert_diag_has(&d, "\"routes_hello\"");
		dx_diag_clear(&d);
		dx_registry_free(r);
		cJSON_Delete(cfg);
	}
}
END_TEST

/* The log level drops what is above it. */
START_TEST(test_log_level)
{
	struct logcap cap;
	memset(&cap, 0, sizeof cap);
	dx_registry_opts o = {
		.log = cap_sink, .log_ud = &cap, .log_level = DX_LOG_INFO};
	dx_registry *r = dx_registry_new(&o);
	reg_add_ok(r, "routes_hello", NULL, NULL);
	reg_add_ok(r, "rec_a", NULL, NULL);
	ck_assert_int_eq(dx_registry_init_all(r, NULL), 0);
	dx_registry_log(r, DX_LOG_WARN, "careful %d", 1);
	dx_registry_log(r, DX_LOG_DEBUG, "hidden");
	dx_registry_free(r);
	ck_assert_int_eq(cap.n, 3);
	ck_assert_str_eq(cap.msg[0], "init rec_a");
	ck_assert_str_eq(cap.who[1], "dx");
	ck_assert_str_eq(cap.msg[1], "careful 1");
	ck_assert_int_eq(cap.level[1], DX_LOG_WARN);
	ck_assert_str_eq(cap.msg[2], "fini rec_a");
}
END_TEST

/* The host API table a plugin is handed, called as a plugin would. */
START_TEST(test_host_api)
{
	struct logcap cap;
	dx_registry *r = reg_new(&cap);
	cJSON *cfg = cJSON_Parse("{\"port\": 70000, \"list\": [1, \"x\"]}");
	reg_add_ok(r, "good", cfg, "plugins[1].config");
	reg_add_ok(r, "rec_a", NULL, NULL);
	dx_plugin_entry *e = r->plugins[0];
	const dx_host_api *h = &e->api;
	const dx_config *c = e->config;
	ck_assert_uint_ge(h->size, DX_HOST_API_V1_0_SIZE);
	ck_assert_uint_eq(h->abi_major, DX_ABI_MAJOR);
	ck_assert_uint_eq(h->abi_minor, DX_ABI_MINOR);
	ck_assert(DX_HAS(h, counter_get));
	ck_assert_ptr_ne(h, &r->plugins[1]->api); /* one table per plugin */

	h->log(h, DX_LOG_WARN, "x=%d", 5);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_str_eq(cap.who[0], "good");
	ck_assert_str_eq(cap.msg[0], "x=5");

	int64_t port;
	ck_assert_int_eq(h->config_int(h, c, "port", 80, 1, 65535, &port),
			 DX_ECONFIG);
	/* (h->fail): check.h defines a fail() macro. */
	ck_assert_int_eq((h->fail)(h, -EIO, "disk %s", "gone"), -EIO);
	ck_assert_int_eq(h->config_error(h, c, "alg", "unknown \"%s\"", "X"),
			 DX_ECONFIG);
	const dx_config *list = h->config_child(h, c, "list");
	ck_assert_ptr_nonnull(list);
	ck_assert_uint_eq(h->config_len(h, list), 2);
	ck_assert_str_eq(h->config_path(h, h->config_at(h, list, 1)),
			 "plugins[1].config.list[1]");
	ck_assert(h->config_has(h, c, "list"));
	static const char *const keys[] = {"port", NULL};
	ck_assert_int_eq(h->config_keys(h, c, keys), DX_ECONFIG);
	/* Recorded against this plugin, in order. */
	ck_assert_uint_eq(e->errors.count, 4);
	ck_assert_str_eq(e->errors.msgs[0], "plugins[1].config.port: expected "
					    "an integer in 1..65535, got "
					    "70000");
	ck_assert_str_eq(e->errors.msgs[1], "disk gone");
	ck_assert_str_eq(e->errors.msgs[2], "plugins[1].config.alg: unknown "
					    "\"X\"");
	ck_assert_str_eq(e->errors.msgs[3], "plugins[1].config.list: unknown "
					    "key; expected one of: port");
	ck_assert_uint_eq(r->plugins[1]->errors.count, 0);

	dx_facet_ref ref;
	ck_assert_int_eq(h->lookup(h, DX_FACET_SERVICE, "rec_a", &ref), 0);
	ck_assert_str_eq(ref.plugin, "rec_a");
	ck_assert_int_eq(h->lookup(h, DX_FACET_SERVICE, "rec_z", &ref),
			 -ENOENT);

	ck_assert_uint_eq(h->worker_count(h), 3);
	ck_assert_int_eq(h->worker_id(h), -1);
	uint64_t t0 = h->now_ns(h, DX_CLOCK_MONOTONIC);
	uint64_t t1 = h->now_ns(h, DX_CLOCK_MONOTONIC);
	ck_assert_uint_ge(t1, t0);
	/* Realtime is after 2020-01-01. */
	ck_assert_uint_gt(h->now_ns(h, DX_CLOCK_REALTIME),
			  UINT64_C(1577836800) * 1000000000u);

	dx_counter *n1 = h->counter(h, "hits", "requests seen");
	ck_assert_ptr_nonnull(n1);
	ck_assert_ptr_eq(h->counter(h, "hits", NULL), n1);
	const dx_host_api *h2 = &r->plugins[1]->api;
	dx_counter *n2 = h2->counter(h2, "hits", NULL);
	ck_assert_ptr_ne(n1, n2); /* "good.hits" and "rec_a.hits" */
	ck_assert_str_eq(n1->name, "good.hits");
	ck_assert_uint_eq(h->counter_get(n1), 0);
	h->counter_add(n1, 5);
	h->counter_add(n1, 2);
	ck_assert_uint_eq(h->counter_get(n1), 7);
	ck_assert_uint_eq(h->counter_get(n2), 0);

	dx_registry_free(r);
	cJSON_Delete(cfg);
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("lookup");
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_route_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("duplicates");
	tcase_add_test(tc, test_dup_plugin_name);
	tcase_add_test(tc, test_dup_facet);
	tcase_add_test(tc, test_route_id_clash);
	tcase_add_test(tc, test_route_override);
	tcase_add_test(tc, test_route_name_clash);
	suite_add_tcase(s, tc);
	tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_init_order_and_reverse_fini);
	tcase_add_test(tc, test_free_finalises);
	tcase_add_test(tc, test_failing_init_unwinds);
	tcase_add_test(tc, test_config_error_unwinds);
	tcase_add_test(tc, test_bare_init_codes);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostapi");
	tcase_add_test(tc, test_routes_hello);
	tcase_add_test(tc, test_routes_hello_bad_config);
	tcase_add_test(tc, test_log_level);
	tcase_add_test(tc, test_host_api);
	tcase_add_test(tc, test_reloadable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(registry_suite());
}
