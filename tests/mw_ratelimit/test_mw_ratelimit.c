/* test_mw_ratelimit.c - plugins/mw_ratelimit through the real .so: loaded
 * with the host's loader and registry, its MIDDLEWARE facet looked up and
 * its vtable called with hand-made requests and responses (as the host's
 * chain does: before, and after when before let the request through).
 *
 * Time is real (host->now_ns, monotonic): the refill case waits a few
 * token times of 100 ms, the others use rates so low (0.5/s, 0.01/s) that
 * no token comes back while they run, however slow the build. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <cJSON.h>

#include <dx/middleware.h>
#include <dx/plugin.h>
#include <dx/routes.h>

#include "check_main.h"
#include "loader.h"
#include "registry.h"
#include "registry_int.h"
#include "testutil.h"

/* ---- a loaded mw_ratelimit ---- */

struct fx {
	dx_registry *reg;
	cJSON *cfg;
	const dx_middleware_vtable *vt;
	void *self;
	const dx_host_api *host;
};

/* Load mw_ratelimit with config json as plugins[3].config and init it:
 * the init's result, with its messages in *d. */
static int fx_try(struct fx *fx, const char *json, unsigned workers, dx_diag *d)
{
	memset(fx, 0, sizeof *fx);
	dx_registry_opts o = {.log_level = DX_LOG_WARN, .workers = workers};
	fx->reg = dx_registry_new(&o);
	ck_assert_ptr_nonnull(fx->reg);
	fx->cfg = cJSON_Parse(json);
	ck_assert_msg(fx->cfg, "bad test JSON: %s", json);
	char *path =
		tu_plugin_path("DX_PLUGINS", "mw_ratelimit", "mw_ratelimit");
	dx_load_opts lo = {.allow_writable = true}; /* see test_loader.c */
	dx_module m;
	int rc = dx_module_open(path, &lo, &m, d);
	ck_assert_msg(rc == 0, "%s: %s", path, tu_diag_all(d));
	free(path);
	rc = dx_registry_add(fx->reg, &m, fx->cfg, "plugins[3].config", d);
	ck_assert_msg(rc == 0, "add: %s", tu_diag_all(d));
	return dx_registry_init_all(fx->reg, d);
}

static void fx_open(struct fx *fx, const char *json, unsigned workers)
{
	dx_diag d = DX_DIAG_INIT;
	int rc = fx_try(fx, json, workers, &d);
	ck_assert_msg(rc == 0, "init with %s: rc %d: %s", json, rc,
		      tu_diag_all(&d));
	dx_diag_clear(&d);
	dx_facet_ref ref;
	ck_assert_int_eq(dx_registry_lookup(fx->reg, DX_FACET_MIDDLEWARE,
					    "mw_ratelimit", &ref),
			 0);
	ck_assert_str_eq(ref.plugin, "mw_ratelimit");
	fx->vt = ref.vtable;
	fx->self = ref.self;
	ck_assert_uint_ge(fx->vt->size, DX_MIDDLEWARE_VTABLE_V1_0_SIZE);
	ck_assert_ptr_nonnull(fx->vt->before);
	ck_assert_ptr_nonnull(fx->vt->after);
	fx->host = &fx->reg->plugins[0]->api;
}

static void fx_close(struct fx *fx)
{
	dx_registry_free(fx->reg);
	cJSON_Delete(fx->cfg);
}

static uint64_t fx_counter(struct fx *fx, const char *name)
{
	dx_counter *c = fx->host->counter(fx->host, name, NULL);
	ck_assert_ptr_nonnull(c);
	return fx->host->counter_get(c);
}

/* ---- one request through the hooks ---- */

struct req_opts {
	const char *peer;
	const char *sub;   /* jwt.sub extension, as mw_auth would set it */
	const char *route; /* route_name; NULL: "echo" */
	int worker;        /* 0 below means -1: not a worker */
	bool set_worker;
};

struct outcome {
	int before; /* DX_MW_CONTINUE or DX_MW_STOP */
	uint16_t status;
	char msg[128];
	long remaining;      /* x-ratelimit-remaining, -1 absent */
	long reset;          /* x-ratelimit-reset, -1 absent */
	unsigned meta_count; /* entries in the response metadata */
};

static long meta_num(const dx_hbtp_meta *m, const char *key)
{
	uint16_t n;
	const uint8_t *v = dx_hbtp_meta_get(m, key, &n);
	if (!v)
		return -1;
	char s[32];
	ck_assert_uint_lt(n, sizeof s);
	memcpy(s, v, n);
	s[n] = '\0';
	char *end;
	long x = strtol(s, &end, 10);
	ck_assert_msg(n && *end == '\0', "%s: \"%s\" is not a number", key, s);
	return x;
}

/* The response metadata as a client would see it: parsed from the block
 * (u16 length in front of what dx_response_meta wrote). */
static void parse_meta(const dx_response *res, struct outcome *o)
{
	uint8_t block[512];
	ck_assert_uint_le(res->meta_len + 2, sizeof block);
	dx_hbtp_put_le16(block, (uint16_t)res->meta_len);
	memcpy(block + 2, dx_response_meta_entries(res), res->meta_len);
	dx_hbtp_meta m;
	const char *why = NULL;
	long used = dx_hbtp_meta_parse(block, res->meta_len + 2, &m, &why);
	ck_assert_msg(used == (long)res->meta_len + 2, "metadata: %s",
		      why ? why : "?");
	o->remaining = meta_num(&m, "x-ratelimit-remaining");
	o->reset = meta_num(&m, "x-ratelimit-reset");
	o->meta_count = m.count;
}

/* before, then (as the host's chain does) after: for a request that went
 * on to its handler, and for the one before stopped too. The handler is
 * an echo that writes "ok". */
static struct outcome call(struct fx *fx, struct req_opts ro)
{
	dx_ext ext[DX_REQUEST_EXT_MAX];
	dx_request req = {.size = sizeof req,
			  .opcode = DX_HBTP_RPC_CALL,
			  .route = 2,
			  .worker = ro.set_worker ? ro.worker : -1,
			  .peer = ro.peer,
			  .route_name = ro.route ? ro.route : "echo",
			  .ext = ext};
	if (ro.sub)
		ck_assert_int_eq(dx_request_ext_set(&req, "jwt.sub", ro.sub,
						    strlen(ro.sub)),
				 0);
	uint8_t body[256], meta[256];
	dx_response res;
	dx_response_init(&res, body, sizeof body, meta, sizeof meta);
	struct outcome o = {0};
	o.before = fx->vt->before(fx->self, &req, &res);
	ck_assert_msg(o.before == DX_MW_CONTINUE || o.before == DX_MW_STOP,
		      "before returned %d", o.before);
	if (o.before == DX_MW_CONTINUE)
		ck_assert_int_eq(dx_response_write(&res, "ok", 2), 0);
	fx->vt->after(fx->self, &req, &res);
	o.status = res.status;
	snprintf(o.msg, sizeof o.msg, "%.*s", (int)res.len, (const char *)body);
	parse_meta(&res, &o);
	return o;
}

static struct outcome call_peer(struct fx *fx, const char *peer)
{
	return call(fx, (struct req_opts){.peer = peer});
}

static void expect_allowed(const struct outcome *o, long remaining,
			   const char *what)
{
	ck_assert_msg(o->before == DX_MW_CONTINUE && o->status == 0,
		      "%s: expected to pass, got %u \"%s\"", what, o->status,
		      o->msg);
	ck_assert_msg(o->remaining == remaining,
		      "%s: x-ratelimit-remaining %ld, expected %ld", what,
		      o->remaining, remaining);
	ck_assert_msg(o->reset == -1, "%s: x-ratelimit-reset on a pass", what);
	ck_assert_uint_eq(o->meta_count, 1); /* no duplicate from after */
}

/* A 429 with both headers; returns the reset in ms. */
static long expect_limited(const struct outcome *o, const char *what)
{
	ck_assert_msg(o->before == DX_MW_STOP && o->status == 429,
		      "%s: expected 429, got before %d status %u \"%s\"", what,
		      o->before, o->status, o->msg);
	ck_assert_msg(o->remaining == 0, "%s: x-ratelimit-remaining %ld", what,
		      o->remaining);
	ck_assert_msg(o->reset >= 1, "%s: x-ratelimit-reset %ld", what,
		      o->reset);
	ck_assert_uint_eq(o->meta_count, 2);
	char want[64];
	snprintf(want, sizeof want, "rate limited: retry in %ld ms", o->reset);
	ck_assert_str_eq(o->msg, want);
	return o->reset;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- cases ---- */

START_TEST(burst_then_429_then_refill)
{
	struct fx fx;
	/* 10/s: a token every 100 ms; five calls take microseconds, so
	 * even a descheduled test sees no token come back in between. */
	fx_open(&fx, "{\"rate\": 10, \"burst\": 3}", 2);
	struct outcome o = call_peer(&fx, "10.0.0.1:4000");
	expect_allowed(&o, 2, "1st");
	o = call_peer(&fx, "10.0.0.1:4000");
	expect_allowed(&o, 1, "2nd");
	o = call_peer(&fx, "10.0.0.1:4000");
	expect_allowed(&o, 0, "3rd");
	o = call_peer(&fx, "10.0.0.1:4000");
	long reset = expect_limited(&o, "4th");
	ck_assert_int_le(reset, 100);
	o = call_peer(&fx, "10.0.0.1:4000");
	expect_limited(&o, "5th");
	ck_assert_uint_eq(fx_counter(&fx, "allowed"), 3);
	ck_assert_uint_eq(fx_counter(&fx, "limited"), 2);

	/* After the reset it says, one token is back. */
	sleep_ms(reset + 1);
	o = call_peer(&fx, "10.0.0.1:4000");
	ck_assert_msg(o.before == DX_MW_CONTINUE && o.remaining == 0,
		      "after %ld ms: status %u remaining %ld", reset + 1,
		      o.status, o.remaining);
	/* After 3 token times (and slack) the bucket is full again. */
	sleep_ms(320);
	o = call_peer(&fx, "10.0.0.1:4000");
	expect_allowed(&o, 2, "after a full refill");
	fx_close(&fx);
}
END_TEST

START_TEST(clients_do_not_share)
{
	struct fx fx;
	fx_open(&fx, "{\"rate\": 0.5, \"burst\": 2}", 1);
	struct outcome o;
	for (int i = 0; i < 2; i++) {
		o = call_peer(&fx, "10.0.0.1:4000");
		expect_allowed(&o, 1 - i, "client 1");
	}
	o = call_peer(&fx, "10.0.0.1:4000");
	long reset = expect_limited(&o, "client 1, 3rd");
	ck_assert_int_gt(reset, 1000); /* 2 s a token */
	/* Another address: its own bucket. */
	o = call_peer(&fx, "10.0.0.2:4000");
	expect_allowed(&o, 1, "client 2");
	/* Same address, another port: the same client under peer_ip. */
	o = call_peer(&fx, "10.0.0.1:4001");
	expect_limited(&o, "client 1 from another port");
	/* IPv6: port stripped inside the brackets. */
	o = call_peer(&fx, "[2001:db8::1]:5000");
	expect_allowed(&o, 1, "v6 1st");
	o = call_peer(&fx, "[2001:db8::1]:5001");
	expect_allowed(&o, 0, "v6 2nd, other port");
	o = call_peer(&fx, "[2001:db8::1]:5002");
	expect_limited(&o, "v6 3rd");
	/* An IPv4 client of a dual-stack listener is the IPv4 client. */
	o = call_peer(&fx, "[::ffff:10.0.0.2]:4000");
	expect_allowed(&o, 0, "10.0.0.2 as a v4-mapped v6 address");
	/* Unix-socket clients share "unix"; no peer at all works too. */
	o = call_peer(&fx, "unix");
	expect_allowed(&o, 1, "unix");
	o = call_peer(&fx, NULL);
	expect_allowed(&o, 1, "no peer");
	/* The same peer on another worker: that worker's own bucket. */
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:4000",
					.worker = 0,
					.set_worker = true});
	expect_allowed(&o, 1, "client 1 on worker 0");
	fx_close(&fx);
}
END_TEST

START_TEST(key_peer_is_per_connection)
{
	struct fx fx;
	fx_open(&fx, "{\"rate\": 0.5, \"burst\": 1, \"key\": \"peer\"}", 1);
	struct outcome o = call_peer(&fx, "10.0.0.1:4000");
	expect_allowed(&o, 0, "port 4000");
	o = call_peer(&fx, "10.0.0.1:4000");
	expect_limited(&o, "port 4000 again");
	o = call_peer(&fx, "10.0.0.1:4001");
	expect_allowed(&o, 0, "port 4001");
	fx_close(&fx);
}
END_TEST

START_TEST(key_jwt_sub)
{
	struct fx fx;
	fx_open(&fx, "{\"rate\": 0.5, \"burst\": 1, \"key\": \"jwt_sub\"}", 1);
	struct outcome o;
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:1", .sub = "alice"});
	expect_allowed(&o, 0, "alice");
	/* alice from anywhere is alice. */
	o = call(&fx, (struct req_opts){.peer = "10.0.0.9:2", .sub = "alice"});
	expect_limited(&o, "alice from another address");
	/* bob from alice's address is bob. */
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:1", .sub = "bob"});
	expect_allowed(&o, 0, "bob");
	/* No subject (mw_auth did not run, or the route is public): the
	 * peer's address, which is not alice's or bob's bucket... */
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:1"});
	expect_allowed(&o, 0, "anonymous 10.0.0.1");
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:7"});
	expect_limited(&o, "anonymous 10.0.0.1 again");
	/* ...and a subject that looks like an address is still a subject. */
	o = call(&fx,
		 (struct req_opts){.peer = "10.0.0.1:1", .sub = "10.0.0.1"});
	expect_allowed(&o, 0, "subject \"10.0.0.1\"");
	/* Long subjects: past the stored prefix they still differ. */
	char a[700], b[700];
	memset(a, 'x', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	memcpy(b, a, sizeof b);
	b[sizeof b - 2] = 'y';
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:1", .sub = a});
	expect_allowed(&o, 0, "long subject a");
	o = call(&fx, (struct req_opts){.peer = "10.0.0.1:1", .sub = b});
	expect_allowed(&o, 0, "long subject b (differs in its last byte)");
	o = call(&fx, (struct req_opts){.peer = "10.0.0.2:1", .sub = a});
	expect_limited(&o, "long subject a again");
	fx_close(&fx);
}
END_TEST

START_TEST(routes_filter)
{
	struct fx fx;
	fx_open(&fx, "{\"rate\": 0.5, \"burst\": 1, \"routes\": [\"echo\"]}",
		1);
	struct outcome o = call_peer(&fx, "10.0.0.1:1");
	expect_allowed(&o, 0, "echo");
	o = call_peer(&fx, "10.0.0.1:1");
	expect_limited(&o, "echo again");
	for (int i = 0; i < 5; i++) {
		o = call(&fx, (struct req_opts){.peer = "10.0.0.1:1",
						.route = "delay"});
		ck_assert_int_eq(o.before, DX_MW_CONTINUE);
		ck_assert_uint_eq(o.status, 0);
		ck_assert_uint_eq(o.meta_count, 0); /* not limited: no header */
	}
	fx_close(&fx);
}
END_TEST

/* An answer completed later: after runs without the extensions and
 * reports what the bucket holds then. */
START_TEST(after_without_extensions)
{
	struct fx fx;
	fx_open(&fx, "{\"rate\": 0.5, \"burst\": 3}", 1);
	struct outcome o = call_peer(&fx, "10.0.0.1:1"); /* 2 left */
	expect_allowed(&o, 2, "1st");
	dx_request req = {.size = sizeof req,
			  .worker = -1,
			  .peer = "10.0.0.1:1",
			  .route_name = "echo"};
	uint8_t meta[64];
	dx_response res;
	dx_response_init(&res, NULL, 0, meta, sizeof meta);
	fx.vt->after(fx.self, &req, &res);
	parse_meta(&res, &o);
	ck_assert_int_eq(o.remaining, 2);
	/* No room for metadata: the answer goes out without it. */
	res = (dx_response){.size = sizeof res};
	fx.vt->after(fx.self, &req, &res);
	ck_assert_uint_eq(res.meta_len, 0);
	fx_close(&fx);
}
END_TEST

static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	return mallinfo2().uordblks;
#else
	return 0;
#endif
}

START_TEST(max_keys_bounds_memory)
{
	struct fx fx;
	/* 100 s a token: no bucket turns idle while this runs. */
	fx_open(&fx, "{\"rate\": 0.01, \"burst\": 2, \"max_keys\": 1024}", 1);
	char peer[64];
	size_t heap0 = 0;
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(peer, sizeof peer, "10.%u.%u.%u:999", i >> 16,
			 (i >> 8) & 255, i & 255);
		struct outcome o = call_peer(&fx, peer);
		ck_assert_msg(o.before == DX_MW_CONTINUE && o.remaining == 1,
			      "key %u (%s): status %u remaining %ld", i, peer,
			      o.status, o.remaining);
		if (i == 2048)
			heap0 = heap_in_use();
	}
	/* Every key past the first 1024 made room: the table holds
	 * 100000 - evicted = 1024 buckets, and the request path did not
	 * allocate (the heap did not grow with the keys; a few bytes are
	 * Check's own). */
	ck_assert_uint_eq(fx_counter(&fx, "allowed"), 100000);
	ck_assert_uint_eq(fx_counter(&fx, "evicted"), 100000 - 1024);
	size_t heap1 = heap_in_use();
	ck_assert_msg(heap1 < heap0 + 4096,
		      "the heap grew by %zu bytes over 98,000 new keys",
		      heap1 - heap0);
	/* All active: each eviction took a bucket that was not
	 * idle, and the counter says max_keys is too small. */
	ck_assert_uint_eq(fx_counter(&fx, "evicted_active"), 100000 - 1024);
	fx_close(&fx);

	/* Idle buckets go first: at 1000/s, 20 ms after their one request
	 * every bucket of a full table is full again, so the next 100 keys
	 * evict only idle ones. */
	fx_open(&fx, "{\"rate\": 1000, \"burst\": 1, \"max_keys\": 1000}", 1);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(peer, sizeof peer, "10.1.%u.%u:1", i >> 8, i & 255);
		struct outcome o = call_peer(&fx, peer);
		ck_assert_int_eq(o.before, DX_MW_CONTINUE);
	}
	sleep_ms(20); /* every bucket refilled: idle */
	for (unsigned i = 0; i < 100; i++) {
		snprintf(peer, sizeof peer, "10.2.%u.%u:1", i >> 8, i & 255);
		struct outcome o = call_peer(&fx, peer);
		ck_assert_int_eq(o.before, DX_MW_CONTINUE);
	}
	ck_assert_uint_eq(fx_counter(&fx, "evicted"), 100);
	ck_assert_uint_eq(fx_counter(&fx, "evicted_active"), 0);
	fx_close(&fx);
}
END_TEST

/* A worker keeps the slot of its last peer's bucket and goes straight
 * to it while the table has deleted nothing since (bucket.h: moves). A
 * peer too long to be kept (64 bytes or more) changes the table without
 * changing what is kept: an eviction it causes must send the kept peer
 * back to a lookup, never to the slot that now holds another bucket. */
/* Steps of one peer each: the remaining token count it must be told
 * (-1: a 429). */
struct step {
	const char *peer;
	long remaining;
	const char *what;
};

static void run_steps(struct fx *fx, const struct step *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct outcome o = call_peer(fx, st[i].peer);
		if (st[i].remaining < 0)
			expect_limited(&o, st[i].what);
		else
			expect_allowed(&o, st[i].remaining, st[i].what);
	}
}

START_TEST(kept_slot_follows_evictions)
{
	static char lng[71]; /* 70 bytes: too long to be kept */
	memset(lng, 'x', 70);
	const char *a = "10.0.0.1:1";
	const struct step room[] = {
		{a, 2, "A 1st"},
		{a, 1, "A 2nd (its kept slot)"},
		{lng, 2, "long peer, not kept"},
		{a, 0, "A 3rd: an insert moves no bucket"},
		{a, -1, "A 4th"},
	};
	/* max_keys 1: the long peer evicts A, A comes back full (evicted
	 * buckets start full) and the long peer's bucket, now in A's old
	 * slot, is not charged for it. */
	const struct step evict[] = {
		{a, 2, "A 1st"},
		{a, 1, "A 2nd"},
		{lng, 2, "long peer, evicting A"},
		{a, 2, "A after its eviction"},
		{lng, 2, "long peer after A took the table back"},
		{lng, 1, "long peer 2nd"},
	};
	struct fx fx;
	/* 100 s a token: nothing refills while this runs. */
	fx_open(&fx, "{\"rate\": 0.01, \"burst\": 3, \"max_keys\": 2}", 1);
	run_steps(&fx, room, sizeof room / sizeof room[0]);
	fx_close(&fx);
	fx_open(&fx, "{\"rate\": 0.01, \"burst\": 3, \"max_keys\": 1}", 1);
	run_steps(&fx, evict, sizeof evict / sizeof evict[0]);
	ck_assert_uint_eq(fx_counter(&fx, "evicted"), 3);
	fx_close(&fx);
}
END_TEST

START_TEST(config_errors)
{
	static const struct {
		const char *json;
		const char *says;
	} cases[] = {
		{"{}", "plugins[3].config.rate: missing; expected tokens per "
		       "second"},
		{"{\"rate\": 0}", "plugins[3].config.rate: expected tokens per "
				  "second in 0.001..1e9, got 0"},
		{"{\"rate\": -3}",
		 "plugins[3].config.rate: expected tokens per "
		 "second in 0.001..1e9, got -3"},
		{"{\"rate\": \"fast\"}", "plugins[3].config.rate: "},
		{"{\"rate\": 10, \"burst\": 0}",
		 "plugins[3].config.burst: expected an integer in 1..1000000, "
		 "got 0"},
		{"{\"rate\": 10, \"burst\": 2.5}", "plugins[3].config.burst: "},
		{"{\"rate\": 10, \"max_keys\": 0}",
		 "plugins[3].config.max_keys: expected an integer in "
		 "1..1048576, got 0"},
		{"{\"rate\": 10, \"key\": \"ip\"}",
		 "plugins[3].config.key: unknown key \"ip\"; expected peer_ip, "
		 "peer or jwt_sub"},
		{"{\"rate\": 10, \"key\": 5}", "plugins[3].config.key: "},
		{"{\"rate\": 10, \"routes\": []}",
		 "plugins[3].config.routes: empty list"},
		{"{\"rate\": 10, \"routes\": \"echo\"}",
		 "plugins[3].config.routes: "},
		{"{\"rate\": 10, \"routes\": {\"a\": \"echo\"}}",
		 "plugins[3].config.routes: expected a list of route names"},
		{"{\"rate\": 10, \"routes\": [\"echo\", 5]}",
		 "plugins[3].config.routes[1]: "},
		{"{\"rate\": 10, \"routes\": [\"echo\", \"Bad\"]}",
		 "plugins[3].config.routes[1]: \"Bad\" is not a route name"},
		{"{\"rate\": 10, \"burts\": 5}",
		 "plugins[3].config.burts: unknown key; expected one of: rate, "
		 "burst, key, max_keys, routes"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fx fx;
		dx_diag d = DX_DIAG_INIT;
		int rc = fx_try(&fx, cases[i].json, 1, &d);
		ck_assert_msg(rc == DX_ECONFIG, "%s: rc %d (%s)", cases[i].json,
			      rc, tu_diag_all(&d));
		ck_assert_msg(tu_diag_find(&d, cases[i].says),
			      "%s: expected \"%s\" in:\n%s", cases[i].json,
			      cases[i].says, tu_diag_all(&d));
		tu_assert_diag_has(&d, "\"mw_ratelimit\"");
		dx_diag_clear(&d);
		fx_close(&fx);
	}
}
END_TEST

START_TEST(config_defaults)
{
	/* burst defaults to one second's worth; a fractional rate to 1. */
	struct fx fx;
	fx_open(&fx, "{\"rate\": 2.5}", 1);
	struct outcome o = call_peer(&fx, "10.0.0.1:1");
	expect_allowed(&o, 2, "burst ceil(2.5)");
	fx_close(&fx);
	fx_open(&fx, "{\"rate\": 0.01}", 1);
	o = call_peer(&fx, "10.0.0.1:1");
	expect_allowed(&o, 0, "burst 1");
	o = call_peer(&fx, "10.0.0.1:1");
	long reset = expect_limited(&o, "rate 0.01");
	ck_assert_int_gt(reset, 99000);
	ck_assert_int_le(reset, 100000);
	fx_close(&fx);
}
END_TEST

static Suite *rl_suite(void)
{
	Suite *s = suite_create("mw_ratelimit");
	TCase *tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, burst_then_429_then_refill);
	tcase_add_test(tc, clients_do_not_share);
	tcase_add_test(tc, key_peer_is_per_connection);
	tcase_add_test(tc, key_jwt_sub);
	tcase_add_test(tc, routes_filter);
	tcase_add_test(tc, after_without_extensions);
	tcase_add_test(tc, max_keys_bounds_memory);
	tcase_add_test(tc, kept_slot_follows_evictions);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, config_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(rl_suite());
}
