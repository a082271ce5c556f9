/* test_kit - the plugin test kit (dx/testing.h, libdx-testing) on the
 * shipped plugins, built in this tree: routes_hello, routes_echo (deferred
 * answers on worker timers), mw_timing and mw_ratelimit (middleware around
 * a route, counters, peers), mw_auth (request metadata), kitbg.c (answers
 * from a background thread and a post), and the loader's refusals as the
 * kit reports them. Each test links only libdx-testing
 * and loads the real .so files, as a plugin author's test would. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include <dx/error.h>
#include <dx/testing.h>

#include "../unit/check_main.h"

static char *plugin(const char *name)
{
	static char path[8][4096];
	static unsigned next;
	const char *dir = getenv("DX_PLUGINS");
	char *p = path[next++ % 8];
	snprintf(p, 4096, "%s/%s/%s.so", dir ? dir : "plugins", name, name);
	return p;
}

static char *test_plugin(const char *name)
{
	static char path[4096];
	const char *dir = getenv("DX_TEST_PLUGINS");
	snprintf(path, sizeof path, "%s/%s.so", dir ? dir : "tests/plugins",
		 name);
	return path;
}

static dx_test_host *host_with(const char *name, const char *config)
{
	dx_test_host *h = dx_test_host_new();
	ck_assert_ptr_nonnull(h);
	char err[1024];
	int rc = dx_test_load(h, plugin(name), config, err, sizeof err);
	ck_assert_msg(rc == 0, "load %s: %s (%s)", name, err, dx_err_name(rc));
	return h;
}

/* ---- routes_hello ---- */

START_TEST(hello_answers)
{
	dx_test_host *h = host_with("routes_hello", "{\"greeting\": \"hi\"}");
	ck_assert_int_eq(dx_test_route_id(h, "hello"), 1);
	ck_assert_int_eq(dx_test_route_id(h, "nope"), -ENOENT);
	const dx_test_reply *r;
	ck_assert_int_eq(dx_test_call_route(h, "hello", "bob", 3, &r), 0);
	ck_assert(r->answered);
	ck_assert_uint_eq(r->status, 0);
	ck_assert_str_eq(r->body, "hi, bob!");
	ck_assert_uint_eq(r->len, 8);
	ck_assert_uint_eq(r->route, 1);
	/* By id, no body. */
	dx_test_request req = {.route = 1};
	ck_assert_int_eq(dx_test_call(h, &req, &r), 0);
	ck_assert_str_eq(r->body, "hi, world!");
	/* Its own refusal. */
	char big[300];
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(dx_test_call_route(h, "hello", big, sizeof big, &r),
			 0);
	ck_assert(r->answered);
	ck_assert_uint_eq(r->status, 413);
	ck_assert_str_eq(r->body, "name longer than 256 bytes");
	/* A route nobody serves: the host's own answer. */
	req.route = 999;
	ck_assert_int_eq(dx_test_call(h, &req, &r), 0);
	ck_assert(r->answered);
	ck_assert_uint_eq(r->status, 404);
	ck_assert_int_eq(dx_test_call_route(h, "nope", "", 0, &r), -ENOENT);
	/* Its init's debug line, with its name and level. */
	ck_assert(dx_test_log_has(h, DX_LOG_DEBUG, "greeting is \"hi\""));
	const dx_test_log *lines;
	size_t n = dx_test_logs(h, &lines);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		seen |= strcmp(lines[i].who, "routes_hello") == 0 &&
			lines[i].level == DX_LOG_DEBUG;
	ck_assert(seen);
	dx_test_log_clear(h);
	ck_assert_uint_eq(dx_test_logs(h, &lines), 0);
	ck_assert(!dx_test_log_has(h, -1, "greeting"));
	ck_assert_int_eq(dx_test_run(h, 1000), 0);
	dx_test_host_free(h);
}
END_TEST

START_TEST(hello_default_config)
{
	dx_test_host *h = host_with("routes_hello", NULL);
	const dx_test_reply *r;
	ck_assert_int_eq(dx_test_call_route(h, "hello", "", 0, &r), 0);
	ck_assert_str_eq(r->body, "hello, world!");
	dx_test_host_free(h);
}
END_TEST

/* ---- refusals: the loader's and the plugin's own, word for word ---- */

START_TEST(load_refusals)
{
	dx_test_host *h = dx_test_host_new();
	char err[1024];
	int rc = dx_test_load(h, plugin("routes_hello"), "{\"greetin\": 1}",
			      err, sizeof err);
	ck_assert_int_eq(rc, DX_ECONFIG);
	ck_assert_msg(strstr(err, "plugins[0].config") &&
			      strstr(err, "greetin"),
		      "err: %s", err);
	rc = dx_test_load(h, plugin("routes_hello"), "{\"greeting\": 7}", err,
			  sizeof err);
	ck_assert_int_eq(rc, DX_ECONFIG);
	ck_assert_msg(strstr(err, "plugins[0].config.greeting"), "err: %s",
		      err);
	rc = dx_test_load(h, plugin("routes_hello"), "[1, 2", err, sizeof err);
	ck_assert_int_eq(rc, DX_ECONFIG);
	ck_assert_msg(strstr(err, "expected a JSON object"), "err: %s", err);
	/* The ABI check, naming the file and both versions. */
	rc = dx_test_load(h, test_plugin("abi_major"), NULL, err, sizeof err);
	ck_assert_int_eq(rc, DX_EABI);
	ck_assert_msg(strstr(err, "abi_major.so") && strstr(err, "2."),
		      "err: %s", err);
	rc = dx_test_load(h, test_plugin("no_symbol"), NULL, err, sizeof err);
	ck_assert_int_eq(rc, DX_ENOSYM);
	rc = dx_test_load(h, "/nonexistent/x.so", NULL, err, sizeof err);
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(err, "/nonexistent/x.so"), "err: %s", err);
	/* Twice the same plugin: the registry's clash. */
	ck_assert_int_eq(dx_test_load(h, plugin("routes_hello"), NULL, err,
				      sizeof err),
			 0);
	rc = dx_test_load(h, plugin("routes_hello"), NULL, err, sizeof err);
	ck_assert_int_eq(rc, DX_EDUP);
	ck_assert_msg(strstr(err, "routes_hello"), "err: %s", err);
	/* What loaded still serves. */
	const dx_test_reply *r;
	ck_assert_int_eq(dx_test_call_route(h, "hello", "x", 1, &r), 0);
	ck_assert_str_eq(r->body, "hello, x!");
	dx_test_host_free(h);
}
END_TEST

/* ---- routes_echo: deferred answers on worker timers ---- */

START_TEST(echo_and_delay)
{
	dx_test_host *h = host_with("routes_echo", "{}");
	const dx_test_reply *r, *slow, *fast;
	ck_assert_int_eq(dx_test_call_route(h, "echo", "abc", 3, &r), 0);
	ck_assert(r->answered);
	ck_assert_str_eq(r->body, "abc");
	/* Bigger than one frame (limits.max_frame, 1 MiB): split both ways. */
	size_t n = 3u << 20;
	char *big = malloc(n);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	ck_assert_int_eq(dx_test_call_route(h, "echo", big, n, &r), 0);
	ck_assert(r->answered);
	ck_assert_uint_eq(r->len, n);
	ck_assert(memcmp(r->body, big, n) == 0);
	free(big);

	ck_assert_int_eq(dx_test_call_route(h, "delay", "200 slow", 8, &slow),
			 0);
	ck_assert_int_eq(dx_test_call_route(h, "delay", "20 fast", 7, &fast),
			 0);
	ck_assert(!slow->answered);
	ck_assert(!fast->answered);
	ck_assert_uint_eq(dx_test_timers_pending(h), 2);
	ck_assert_int_eq(dx_test_run(h, 10000), 0);
	ck_assert(slow->answered && fast->answered);
	ck_assert_str_eq(slow->body, "slow");
	ck_assert_str_eq(fast->body, "fast");
	ck_assert_uint_eq(dx_test_timers_pending(h), 0);
	ck_assert_uint_ne(slow->seq, fast->seq);

	/* A minute's delay, fired now; and one that times the run out. */
	ck_assert_int_eq(dx_test_call_route(h, "delay", "60000 x", 7, &r), 0);
	ck_assert_int_eq(dx_test_run(h, 50), -ETIMEDOUT);
	ck_assert(!r->answered);
	ck_assert_uint_eq(dx_test_fire_timers(h), 1);
	ck_assert(r->answered);
	ck_assert_str_eq(r->body, "x");
	ck_assert_int_eq(dx_test_run(h, 1000), 0);

	/* Its refusal, answered at once. */
	ck_assert_int_eq(dx_test_call_route(h, "delay", "soon", 4, &r), 0);
	ck_assert(r->answered);
	ck_assert_uint_eq(r->status, 400);
	/* A timer still pending when the host goes runs then (the answer
	 * is dropped; nothing leaks under ASan). */
	ck_assert_int_eq(dx_test_call_route(h, "delay", "30000 y", 7, &r), 0);
	dx_test_host_free(h);
}
END_TEST

/* ---- middleware ---- */

START_TEST(timing_around_echo)
{
	dx_test_host *h = host_with("routes_echo", NULL);
	char err[1024];
	ck_assert_int_eq(
		dx_test_load(h, plugin("mw_timing"), NULL, err, sizeof err), 0);
	/* Not a middleware: refused with the host's message. */
	int rc = dx_test_use(h, "routes_echo", err, sizeof err);
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(err, "routes_echo"), "err: %s", err);
	ck_assert_int_eq(dx_test_use(h, "mw_timing", err, sizeof err), 0);
	const dx_test_reply *r, *d;
	ck_assert_int_eq(dx_test_call_route(h, "echo", "hi", 2, &r), 0);
	ck_assert_str_eq(r->body, "hi");
	size_t len = 0;
	const char *t = dx_test_meta_get(r, "x-response-time", &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(strspn(t, "0123456789"), len);
	/* A deferred answer gets its after hook when it is completed: the
	 * figure covers the wait. */
	ck_assert_int_eq(dx_test_call_route(h, "delay", "30 z", 4, &d), 0);
	ck_assert(!d->answered);
	ck_assert_int_eq(dx_test_run(h, 10000), 0);
	ck_assert_str_eq(d->body, "z");
	t = dx_test_meta_get(d, "x-response-time", NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_ge(atol(t), 30000);
	/* Errors carry it too. */
	dx_test_request req = {.route = 4321};
	ck_assert_int_eq(dx_test_call(h, &req, &r), 0);
	ck_assert_uint_eq(r->status, 404);
	ck_assert_ptr_nonnull(dx_test_meta_get(r, "x-response-time", NULL));
	dx_test_host_free(h);
}
END_TEST

START_TEST(ratelimit_by_peer)
{
	dx_test_host *h = host_with("routes_hello", NULL);
	char err[1024];
	int rc = dx_test_load(h, plugin("mw_ratelimit"),
			      "{\"rate\": 0.001, \"burst\": 2}", err,
			      sizeof err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_int_eq(dx_test_use(h, "mw_ratelimit", err, sizeof err), 0);
	dx_test_request a = {.route_name = "hello",
			     .peer = "198.51.100.1:1000"};
	dx_test_request a2 = {.route_name = "hello",
			      .peer = "198.51.100.1:2000"};
	dx_test_request b = {.route_name = "hello",
			     .peer = "198.51.100.2:1000"};
	const dx_test_reply *r;
	ck_assert_int_eq(dx_test_call(h, &a, &r), 0);
	ck_assert_uint_eq(r->status, 0);
	ck_assert_str_eq(dx_test_meta_get(r, "x-ratelimit-remaining", NULL),
			 "1");
	/* Another connection from the same address shares the bucket. */
	ck_assert_int_eq(dx_test_call(h, &a2, &r), 0);
	ck_assert_uint_eq(r->status, 0);
	ck_assert_str_eq(dx_test_meta_get(r, "x-ratelimit-remaining", NULL),
			 "0");
	ck_assert_int_eq(dx_test_call(h, &a, &r), 0);
	ck_assert_uint_eq(r->status, 429);
	ck_assert_msg(strncmp(r->body, "rate limited", 12) == 0, "%s", r->body);
	ck_assert_ptr_nonnull(dx_test_meta_get(r, "x-ratelimit-reset", NULL));
	ck_assert_int_eq(dx_test_call(h, &b, &r), 0);
	ck_assert_uint_eq(r->status, 0);
	uint64_t allowed = 0, limited = 0;
	ck_assert_int_eq(dx_test_counter(h, "mw_ratelimit.allowed", &allowed),
			 0);
	ck_assert_int_eq(dx_test_counter(h, "mw_ratelimit.limited", &limited),
			 0);
	ck_assert_uint_eq(allowed, 3);
	ck_assert_uint_eq(limited, 1);
	ck_assert_int_eq(dx_test_counter(h, "mw_ratelimit.nope", NULL),
			 -ENOENT);
	dx_test_host_free(h);
}
END_TEST

#ifdef KIT_MW_AUTH
/* Request metadata reaches the middleware: mw_auth reads authorization. */
START_TEST(auth_reads_metadata)
{
	char dir[] = "/tmp/dx-kit-XXXXXX", file[64], cfg[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/secret", dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("0123456789abcdef0123456789abcdef0123456789\n", f);
	fclose(f);
	chmod(file, 0600);
	snprintf(cfg, sizeof cfg,
		 "{\"alg\": \"HS256\", \"secret_file\": \"%s\"}", file);
	dx_test_host *h = host_with("routes_hello", NULL);
	char err[1024];
	int rc = dx_test_load(h, plugin("mw_auth"), cfg, err, sizeof err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_int_eq(dx_test_use(h, "mw_auth", err, sizeof err), 0);
	const dx_test_reply *r;
	ck_assert_int_eq(dx_test_call_route(h, "hello", "", 0, &r), 0);
	ck_assert_uint_eq(r->status, 401);
	ck_assert_str_eq(r->body, "missing token");
	dx_test_meta m = {"authorization", "Basic abc", 9};
	dx_test_request req = {
		.route_name = "hello", .meta = &m, .meta_count = 1};
	ck_assert_int_eq(dx_test_call(h, &req, &r), 0);
	ck_assert_uint_eq(r->status, 401);
	ck_assert_str_eq(r->body, "malformed authorization header");
	dx_test_meta bad = {"Bad Key", "x", 1};
	req.meta = &bad;
	ck_assert_int_eq(dx_test_call(h, &req, &r), -EINVAL);
	uint64_t refused = 0;
	ck_assert_int_eq(dx_test_counter(h, "mw_auth.refused", &refused), 0);
	ck_assert_uint_eq(refused, 2);
	dx_test_host_free(h);
	unlink(file);
	rmdir(dir);
}
END_TEST
#endif

/* Answers completed on a background thread (the worker's mailbox) and
 * by a post; the worker id a plugin sees in init and in a handler. */
START_TEST(answers_from_elsewhere)
{
	dx_test_host *h = dx_test_host_new();
	char err[1024];
	int rc = dx_test_load(h, KITBG_SO, NULL, err, sizeof err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert(dx_test_log_has(h, DX_LOG_INFO, "init on worker -1"));
	const dx_test_reply *r, *bg[20], *post;
	ck_assert_int_eq(dx_test_call_route(h, "kitbg.where", "", 0, &r), 0);
	ck_assert_str_eq(r->body, "worker 0");
	char args[8];
	for (int i = 0; i < 20; i++) {
		int n = snprintf(args, sizeof args, "%d", i);
		ck_assert_int_eq(dx_test_call_route(h, "kitbg.bg", args,
						    (size_t)n, &bg[i]),
				 0);
	}
	ck_assert_int_eq(dx_test_call_route(h, "kitbg.post", "", 0, &post), 0);
	ck_assert_int_eq(dx_test_run(h, 10000), 0);
	for (int i = 0; i < 20; i++) {
		char want[32];
		snprintf(want, sizeof want, "from background %d", i);
		ck_assert(bg[i]->answered);
		ck_assert_uint_eq(bg[i]->status, 0);
		ck_assert_str_eq(bg[i]->body, want);
	}
	ck_assert(post->answered);
	ck_assert_str_eq(post->body, "posted");
	dx_test_host_free(h);
}
END_TEST

/* Two hosts in one process each load their own copy. */
START_TEST(two_hosts)
{
	dx_test_host *a = host_with("routes_hello", "{\"greeting\": \"a\"}");
	dx_test_host *b = host_with("routes_hello", "{\"greeting\": \"b\"}");
	const dx_test_reply *ra, *rb;
	ck_assert_int_eq(dx_test_call_route(a, "hello", "", 0, &ra), 0);
	ck_assert_int_eq(dx_test_call_route(b, "hello", "", 0, &rb), 0);
	ck_assert_str_eq(ra->body, "a, world!");
	ck_assert_str_eq(rb->body, "b, world!");
	dx_test_host_free(a);
	dx_test_host_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kit");
	TCase *tc = tcase_create("kit");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, hello_answers);
	tcase_add_test(tc, hello_default_config);
	tcase_add_test(tc, load_refusals);
	tcase_add_test(tc, echo_and_delay);
	tcase_add_test(tc, timing_around_echo);
	tcase_add_test(tc, ratelimit_by_peer);
#ifdef KIT_MW_AUTH
	tcase_add_test(tc, auth_reads_metadata);
#endif
	tcase_add_test(tc, answers_from_elsewhere);
	tcase_add_test(tc, two_hosts);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
