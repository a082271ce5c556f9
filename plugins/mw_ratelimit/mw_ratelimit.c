/* mw_ratelimit - a token bucket per client, in per-worker state.
 *
 * Config (plugins[].config):
 *   rate      tokens per second, 0.001..1e9 (required)
 *   burst     bucket size in tokens, 1..1000000 (default: rate, rounded up)
 *   key       "peer_ip" (default: the peer's address without its port, so
 *             one client is one IP), "peer" (address and port: one client
 *             is one connection) or "jwt_sub" (the "jwt.sub" extension
 *             mw_auth sets when it ran first; peer_ip when absent)
 *   max_keys  buckets per worker, 1..1048576 (default 65536): the memory
 *             bound; idle buckets are evicted to make room (bucket.c)
 *   routes    route names it applies to (default: every route)
 *
 * A request over the limit is answered RpcError 429 "rate limited: retry
 * in N ms" with metadata x-ratelimit-remaining: 0 and x-ratelimit-reset:
 * N (ms until one token is back); an allowed one carries
 * x-ratelimit-remaining: the whole tokens left.
 *
 * State is per worker, never shared: worker i only ever touches table i
 * (one more table serves threads that are not workers, such as a test
 * calling the vtable), so the hot path takes no lock and no atomic except
 * the host's counters. The price of not sharing: a client whose
 * connections land on several workers (SO_REUSEPORT spreads them by
 * address and port) gets a bucket on each, so with key "peer_ip" its
 * limit is up to workers x rate. Key "peer" or a single worker makes it
 * exact.
 *
 * Counters: mw_ratelimit.allowed, .limited, .evicted (buckets evicted to
 * make room) and .evicted_active (of which were not idle: max_keys is too
 * small for the number of clients active at once).
 *
 * Reload (dx ctl reload mw_ratelimit): the buckets carry over to the new
 * build (rl_export, rl_import).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/middleware.h>
#include <dx/plugin.h>
#include <dx/routes.h>

#include "bucket.h"
#include "rl_mem.h"

#define RL_META_REMAINING "x-ratelimit-remaining"
#define RL_META_RESET "x-ratelimit-reset"
#define RL_SUB_EXT "jwt.sub"

/* A key: one namespace byte ('i' IP, 'p' peer, 's' JWT subject, so a
 * subject that looks like an address never shares its bucket), then the
 * bytes. Longer subjects keep a prefix and a hash of the rest. */
#define RL_KEY_CAP 320

enum rl_key_kind { RL_KEY_PEER_IP, RL_KEY_PEER, RL_KEY_JWT_SUB };

/* The last peer key a worker made, kept because a connection's pipelined
 * requests come one after the other: the same peer string gives the
 * same key and hash without parsing and hashing it again. Peers of this
 * length or longer are not kept (one byte holds the NUL). */
#define RL_PEER_KEEP 64

/* One worker's state, on its own cache lines. */
struct rl_worker {
	_Alignas(64) dx_rl_table table;
	/* The last peer (its bytes, not its pointer: a connection's peer
	 * string is reused by the next connection), the key kind it was
	 * turned into (a reload may hand these tables to a build with
	 * another "key"), and the key and hash it gave. */
	uint32_t peer_len; /* 0: none kept */
	uint32_t key_len;
	enum rl_key_kind kind;
	uint64_t hash;
	/* Where its bucket was, while table.moves is still slot_moves
	 * (bucket.h): the next request of the same peer goes straight to
	 * it, without probing the table and comparing keys. */
	size_t slot;
	uint64_t slot_moves;
	char peer[RL_PEER_KEEP];
	uint8_t key[RL_PEER_KEEP + 1];
};

/* What a reload hands the new build (see rl_export). */
#define RL_STATE_MAGIC 0x524c5331u /* "RLS1" */
struct rl_state {
	uint32_t magic;
	uint32_t table_size; /* sizeof(struct rl_worker) in the exporter */
	unsigned workers;
	size_t max_keys;
	uint64_t interval_ns;
	uint32_t burst;
	struct rl *from;
};

struct rl {
	const dx_host_api *host;
	dx_rl_params params;
	enum rl_key_kind key;
	const char **routes; /* NULL: every route */
	size_t route_count;
	size_t max_keys; /* per worker */
	unsigned workers;
	struct rl_worker *w; /* workers + 1 */
	/* Instances sharing w (2 while a reload hands it over; main thread
	 * only): the last one finalised frees it. */
	unsigned *w_refs;
	struct rl_state state; /* what rl_export handed out */
	dx_meta_key meta_remaining, meta_reset; /* checked at init */
	dx_counter *allowed, *limited, *evicted, *evicted_active;
};

/* ---- keys ---- */

/* peer without its port: "1.2.3.4:5678" -> "1.2.3.4", "[::1]:5678" ->
 * "::1", "[::ffff:1.2.3.4]:5678" -> "1.2.3.4"; anything else ("unix": every Unix-socket client shares one
 * bucket) as it is. */
static size_t rl_peer_ip(const char *peer, const char **start)
{
	size_t n = strlen(peer);
	*start = peer;
	if (peer[0] == '[') {
		const char *end = strchr(peer, ']');
		if (!end)
			return n;
		*start = peer + 1;
		/* An IPv4 client of a dual-stack listener is that IPv4
		 * client: "[::ffff:1.2.3.4]:5" -> "1.2.3.4". */
		if (strncmp(*start, "::ffff:", 7) == 0 &&
		    memchr(*start + 7, '.', (size_t)(end - *start) - 7))
			*start += 7;
		return (size_t)(end - *start);
	}
	const char *colon = strchr(peer, ':');
	if (colon && !strchr(colon + 1, ':'))
		return (size_t)(colon - peer);
	return n;
}

static size_t rl_key_put(uint8_t *out, char ns, const void *p, size_t n)
{
	out[0] = (uint8_t)ns;
	if (n <= RL_KEY_CAP - 1) {
		memcpy(out + 1, p, n);
		return 1 + n;
	}
	/* A long subject: a prefix and a 64-bit FNV-1a of the whole. */
	const uint8_t *s = p;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * UINT64_C(0x100000001b3);
	out[0] = (uint8_t)(ns - 'a' + 'A');
	memcpy(out + 1, p, RL_KEY_CAP - 9);
	memcpy(out + RL_KEY_CAP - 8, &h, 8);
	return RL_KEY_CAP;
}

/* The client key of req into out (RL_KEY_CAP bytes); 0 when there is none
 * to be had (an answer completed later, with its extensions gone, under
 * key jwt_sub: guessing the peer's bucket would report the wrong one). */
static size_t rl_key(const struct rl *rl, const dx_request *req, uint8_t *out,
		     bool need_sub)
{
	if (rl->key == RL_KEY_JWT_SUB) {
		size_t n = 0;
		const char *sub = dx_request_ext_get(req, RL_SUB_EXT, &n);
		if (sub && n && sub[n - 1] == '\0')
			n--; /* a C string handed over with its NUL */
		if (sub && n)
			return rl_key_put(out, 's', sub, n);
		if (need_sub)
			return 0;
	}
	const char *peer = req->peer && *req->peer ? req->peer : "unknown";
	if (rl->key == RL_KEY_PEER)
		return rl_key_put(out, 'p', peer, strlen(peer));
	const char *ip;
	size_t n = rl_peer_ip(peer, &ip);
	return rl_key_put(out, 'i', ip, n);
}

/* ---- the hooks ---- */

static bool rl_applies(const struct rl *rl, const dx_request *req)
{
	if (!rl->routes)
		return true;
	if (!req->route_name)
		return false;
	for (size_t i = 0; i < rl->route_count; i++)
		if (strcmp(rl->routes[i], req->route_name) == 0)
			return true;
	return false;
}

static struct rl_worker *rl_worker(struct rl *rl, const dx_request *req)
{
	/* req->worker is the calling worker's id (host->worker_id()),
	 * passed rather than looked up. */
	return &rl->w[dx_rl_index(rl->workers, req->worker)];
}

static void rl_meta_u64(dx_response *res, const dx_meta_key *key, uint64_t v)
{
	/* -E2BIG (no room left) only loses the header, never the answer. */
	(void)dx_response_meta_key_u64(res, key, v);
}

/* Take a token for req: its key, and the hash of it (kept per worker for
 * the next request of the same peer). */
static void rl_take(struct rl *rl, struct rl_worker *w, const dx_request *req,
		    uint64_t now, dx_rl_result *r)
{
	const char *peer = rl->key != RL_KEY_JWT_SUB ? req->peer : NULL;
	/* w->peer is NUL-terminated: one strcmp, no strlen first. */
	if (peer && w->peer_len && w->kind == rl->key &&
	    strcmp(peer, w->peer) == 0) {
		if (w->slot_moves == w->table.moves) {
			dx_rl_take_slot(&w->table, &rl->params, w->slot, now,
					r);
			return;
		}
		w->slot = dx_rl_take_hashed(&w->table, &rl->params, w->key,
					    w->key_len, w->hash, now, r);
		w->slot_moves = w->table.moves;
		return;
	}
	uint8_t key[RL_KEY_CAP];
	size_t n = rl_key(rl, req, key, false);
	uint64_t h = dx_rl_key_hash(&w->table, key, n);
	size_t slot = dx_rl_take_hashed(&w->table, &rl->params, key, n, h,
					now, r);
	size_t pn = peer ? strlen(peer) : 0;
	if (pn && pn < RL_PEER_KEEP && n <= RL_PEER_KEEP + 1) {
		memcpy(w->peer, peer, pn + 1);
		memcpy(w->key, key, n);
		w->peer_len = (uint32_t)pn;
		w->key_len = (uint32_t)n;
		w->kind = rl->key;
		w->hash = h;
		w->slot = slot;
		w->slot_moves = w->table.moves;
	}
}

/* An allowed request's x-ratelimit-remaining goes into res here, not in
 * after: the before knows the figure, and after then has nothing to look
 * up for an answer made in line. */
static int rl_before(void *self, dx_request *req, dx_response *res)
{
	struct rl *rl = self;
	if (!rl_applies(rl, req))
		return DX_MW_CONTINUE;
	struct rl_worker *w = rl_worker(rl, req);
	const dx_host_api *host = rl->host;
	dx_rl_result r;
	/* The host read the monotonic clock when it decoded the request:
	 * that is the moment the request arrived, and it costs nothing. A
	 * request made by hand without it (a tool, a test) reads the clock. */
	uint64_t now = req->start_ns ? req->start_ns
				     : host->now_ns(host, DX_CLOCK_MONOTONIC);
	rl_take(rl, w, req, now, &r);
	if (r.evicted) {
		host->counter_add(rl->evicted, 1);
		if (!r.evicted_idle)
			host->counter_add(rl->evicted_active, 1);
	}
	if (r.allowed) {
		host->counter_add(rl->allowed, 1);
		rl_meta_u64(res, &rl->meta_remaining, r.remaining);
		return DX_MW_CONTINUE;
	}
	host->counter_add(rl->limited, 1);
	uint64_t ms = (r.retry_ns + 999999u) / 1000000u;
	int rc = dx_response_error(res, 429, "rate limited: retry in %llu ms",
				   (unsigned long long)ms);
	if (rc < 0)
		return rc;
	rl_meta_u64(res, &rl->meta_remaining, 0);
	rl_meta_u64(res, &rl->meta_reset, ms);
	return DX_MW_STOP;
}

/* Only for an answer completed later (DX_PENDING): the host hands after
 * a new response, and the request without extensions (req->ext NULL);
 * report what the bucket holds now. An answer made in line got its
 * figure from before. */
static void rl_after_deferred(struct rl *rl, const dx_request *req,
			      dx_response *res);

/* The check alone, so the common return (an answer made in line) costs a
 * compare: with the work in the same function, the compiler saved six
 * registers and made a 344-byte frame before the check (callgrind: 18
 * instructions per request for nothing). */
static void rl_after(void *self, const dx_request *req, dx_response *res)
{
	if (!req->ext)
		rl_after_deferred(self, req, res);
}

/* Not inlined into rl_after: see there. */
__attribute__((noinline)) static void
rl_after_deferred(struct rl *rl, const dx_request *req, dx_response *res)
{
	if (!rl_applies(rl, req))
		return;
	uint8_t key[RL_KEY_CAP];
	size_t n = rl_key(rl, req, key, true);
	if (!n)
		return;
	struct rl_worker *w = rl_worker(rl, req);
	const dx_host_api *host = rl->host;
	rl_meta_u64(res, &rl->meta_remaining,
		    dx_rl_peek(&w->table, &rl->params, key, n,
			       host->now_ns(host, DX_CLOCK_MONOTONIC)));
}

/* ---- configuration and lifetime ---- */

static int rl_config_routes(struct rl *rl, const dx_host_api *host,
			    const dx_config *cfg)
{
	if (!host->config_has(host, cfg, "routes"))
		return 0;
	const dx_config *list = host->config_child(host, cfg, "routes");
	if (!list)
		return DX_ECONFIG; /* not a list: recorded with its path */
	size_t n = host->config_len(host, list);
	if (n == 0)
		return host->config_error(host, cfg, "routes",
					  "empty list; leave \"routes\" out to "
					  "limit every route");
	rl->routes = calloc(n, sizeof *rl->routes);
	if (!rl->routes)
		return host->fail(host, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const dx_config *e = host->config_at(host, list, i);
		const char *path = host->config_path(host, e);
		size_t pl = strlen(path);
		if (!pl || path[pl - 1] != ']')
			return host->config_error(host, cfg, "routes",
						  "expected a list of route "
						  "names, got an object");
		const char *name = NULL;
		int rc = host->config_str(host, e, NULL, NULL, &name);
		if (rc < 0)
			return rc;
		if (!name || !dx_route_name_valid(name))
			return host->config_error(host, e, NULL,
						  "\"%s\" is not a route name "
						  "([a-z][a-z0-9_.]*)",
						  name ? name : "");
		rl->routes[i] = name;
	}
	rl->route_count = n;
	return 0;
}

static int rl_config(struct rl *rl, const dx_host_api *host,
		     const dx_config *cfg)
{
	static const char *const keys[] = {"rate",     "burst",  "key",
					   "max_keys", "routes", NULL};
	int rc = host->config_keys(host, cfg, keys);
	if (rc < 0)
		return rc;
	if (!host->config_has(host, cfg, "rate"))
		return host->config_error(host, cfg, "rate",
					  "missing; expected tokens per second "
					  "(a number in 0.001..1e9)");
	double rate = 0;
	rc = host->config_double(host, cfg, "rate", 0, &rate);
	if (rc < 0)
		return rc;
	if (!(rate >= 0.001 && rate <= 1e9))
		return host->config_error(host, cfg, "rate",
					  "expected tokens per second in "
					  "0.001..1e9, got %g",
					  rate);
	int64_t burst, max_keys;
	rc = host->config_int(host, cfg, "burst",
			      rate < 1 ? 1 :
					 (int64_t)ceil(rate > 1e6 ? 1e6 : rate),
			      1, 1000000, &burst);
	if (rc < 0)
		return rc;
	rc = host->config_int(host, cfg, "max_keys", 65536, 1, 1048576,
			      &max_keys);
	if (rc < 0)
		return rc;
	const char *key = NULL;
	rc = host->config_str(host, cfg, "key", "peer_ip", &key);
	if (rc < 0)
		return rc;
	if (strcmp(key, "peer_ip") == 0)
		rl->key = RL_KEY_PEER_IP;
	else if (strcmp(key, "peer") == 0)
		rl->key = RL_KEY_PEER;
	else if (strcmp(key, "jwt_sub") == 0)
		rl->key = RL_KEY_JWT_SUB;
	else
		return host->config_error(host, cfg, "key",
					  "unknown key \"%s\"; expected "
					  "peer_ip, peer or jwt_sub",
					  key);
	/* rate >= 0.001 and burst <= 1e6: burst * interval <= 1e18 ns. */
	double t = nearbyint(1e9 / rate);
	rl->params.interval_ns = t < 1 ? 1 : (uint64_t)t;
	rl->params.burst = (uint32_t)burst;
	rc = rl_config_routes(rl, host, cfg);
	if (rc < 0)
		return rc;
	rl->max_keys = (size_t)max_keys;
	return 0;
}

static void rl_free(struct rl *rl)
{
	if (rl->w_refs && --*rl->w_refs == 0) {
		for (unsigned i = 0; i <= rl->workers; i++)
			dx_rl_table_free(&rl->w[i].table);
		dx_rl_aligned_free(rl->w);
		free(rl->w_refs);
	} else if (!rl->w_refs) {
		dx_rl_aligned_free(rl->w); /* tables not made yet (init failed) */
	}
	free(rl->routes);
	free(rl);
}

static int rl_tables(struct rl *rl, const dx_host_api *host)
{
	size_t max_keys = rl->max_keys;
	unsigned workers = host->worker_count(host);
	size_t bytes = ((size_t)workers + 1) * sizeof *rl->w;
	rl->w = dx_rl_aligned_alloc(_Alignof(struct rl_worker), bytes);
	if (!rl->w)
		return host->fail(host, -ENOMEM, "out of memory");
	memset(rl->w, 0, bytes);
	rl->w_refs = malloc(sizeof *rl->w_refs);
	if (!rl->w_refs)
		return host->fail(host, -ENOMEM, "out of memory");
	*rl->w_refs = 1;
	rl->workers = workers;
	uint64_t seed = host->now_ns(host, DX_CLOCK_REALTIME) ^
			(uint64_t)(uintptr_t)rl;
	for (unsigned i = 0; i <= workers; i++) {
		seed = seed * UINT64_C(6364136223846793005) +
		       1442695040888963407u;
		if (dx_rl_table_init(&rl->w[i].table, max_keys, seed) < 0)
			return host->fail(host, -ENOMEM,
					  "out of memory for %zu buckets",
					  max_keys);
	}
	return 0;
}

static int rl_init(const dx_host_api *host, const dx_config *cfg, void **self)
{
	struct rl *rl = calloc(1, sizeof *rl);
	if (!rl)
		return host->fail(host, -ENOMEM, "out of memory");
	rl->host = host;
	dx_meta_key_init(&rl->meta_remaining, RL_META_REMAINING);
	dx_meta_key_init(&rl->meta_reset, RL_META_RESET);
	int rc = rl_config(rl, host, cfg);
	if (rc == 0)
		rc = rl_tables(rl, host);
	if (rc == 0) {
		rl->allowed =
			host->counter(host, "allowed", "requests let through");
		rl->limited =
			host->counter(host, "limited", "requests answered 429");
		rl->evicted = host->counter(host, "evicted",
					    "buckets evicted to make room");
		rl->evicted_active = host->counter(
			host, "evicted_active",
			"evicted buckets that were not idle (max_keys too "
			"small)");
		if (!rl->allowed || !rl->limited || !rl->evicted ||
		    !rl->evicted_active)
			rc = host->fail(host, -ENOMEM, "out of memory");
	}
	if (rc < 0) {
		rl_free(rl);
		return rc;
	}
	host->log(host, DX_LOG_INFO,
		  "%.6g tokens/s, burst %u, key %s, %zu buckets per worker "
		  "(%u workers, %zu KiB each)",
		  1e9 / (double)rl->params.interval_ns, rl->params.burst,
		  rl->key == RL_KEY_PEER_IP ? "peer_ip" :
		  rl->key == RL_KEY_PEER    ? "peer" :
					      "jwt_sub",
		  rl->max_keys, rl->workers,
		  dx_rl_table_bytes(&rl->w[0].table) / 1024);
	*self = rl;
	return 0;
}

static void rl_fini(void *self)
{
	rl_free(self);
}

/* A reload: the new build takes the worker tables over in place, so a
 * client at its limit stays limited. No copy and no lock is needed: table
 * i is only ever touched by worker i's thread, which runs one request at
 * a time, on the old build or the new one, never both; the old build
 * keeps using the tables until it is retired; the last of the two to be
 * finalised frees them (so a reload that fails later loses nothing).
 * Taken over only when the layout and the parameters match; otherwise the
 * new build starts with full buckets and says so. */
static int rl_export(void *self, const void **data, size_t *len)
{
	struct rl *rl = self;
	rl->state = (struct rl_state){
		RL_STATE_MAGIC, (uint32_t)sizeof(struct rl_worker),
		rl->workers,    rl->max_keys,
		rl->params.interval_ns, rl->params.burst,
		rl,
	};
	*data = &rl->state;
	*len = sizeof rl->state;
	return 0;
}

static int rl_import(void *self, const void *data, size_t len)
{
	struct rl *rl = self;
	const struct rl_state *st = data;
	const char *why =
		len != sizeof *st || st->magic != RL_STATE_MAGIC
			? "the old build's state is of another format"
		: st->table_size != sizeof(struct rl_worker)
			? "the bucket tables changed layout"
		: st->workers != rl->workers || st->max_keys != rl->max_keys
			? "workers or max_keys differ"
		: st->interval_ns != rl->params.interval_ns ||
				st->burst != rl->params.burst
			? "rate or burst differ"
			: NULL;
	if (why) {
		rl->host->log(rl->host, DX_LOG_WARN,
			      "reload: buckets start full (%s)", why);
		return 0;
	}
	for (unsigned i = 0; i <= rl->workers; i++)
		dx_rl_table_free(&rl->w[i].table);
	free(rl->w);
	free(rl->w_refs);
	rl->w = st->from->w;
	rl->w_refs = st->from->w_refs;
	++*rl->w_refs;
	rl->host->log(rl->host, DX_LOG_INFO,
		      "reload: took over the buckets of the old build");
	return 0;
}

static const dx_middleware_vtable rl_vtable = {
	.size = sizeof(dx_middleware_vtable),
	.before = rl_before,
	.after = rl_after,
};

static const dx_facet rl_facets[] = {
	{DX_FACET_MIDDLEWARE, "mw_ratelimit", &rl_vtable},
};

DX_PLUGIN(.name = "mw_ratelimit", .version = "1.0.0",
	  .description = "a token bucket per client, per worker: 429 over "
			 "the limit",
	  DX_FACETS(rl_facets), .init = rl_init, .fini = rl_fini,
	  .handoff_export = rl_export, .handoff_import = rl_import)
