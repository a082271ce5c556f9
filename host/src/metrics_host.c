/* metrics_host.c - the scrape: every metric the host has, as Prometheus
 * text (docs/metrics.md lists them).
 *
 * Runs on the control thread (dx ctl metrics) or on the HTTP endpoint's
 * thread, never on a worker. It reads the workers' counters with relaxed
 * loads and sums them, and what only the main thread knows (generation,
 * plugin count, route names) from the metrics store, where the main
 * thread puts it at each publish: nothing here touches a generation or
 * the registry's tables, which the main thread may be changing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgqueue.h"
#include "metrics.h"
#include "metrics_worker.h"
#include "server_int.h"
#include "version.h"

const uint64_t dx_wm_bounds_ns[DX_WM_BOUNDS] = {
	100000,     250000,     500000,     1000000,    2500000,   5000000,
	10000000,   25000000,   50000000,   100000000,  250000000, 500000000,
	1000000000, 2500000000, 5000000000, 10000000000};
const double dx_wm_bounds_s[DX_WM_BOUNDS] = {0.0001, 0.00025, 0.0005, 0.001,
					     0.0025, 0.005,   0.01,   0.025,
					     0.05,   0.1,     0.25,   0.5,
					     1,      2.5,     5,      10};

void dx_metrics_publish(dx_registry *r, const dx_gen *g)
{
	dx_metrics *m = dx_registry_metrics(r);
	for (uint32_t id = 1; id < 65536; id++) {
		const dx_route_ref *ref = dx_gen_route(g, (uint16_t)id);
		if (ref)
			dx_metrics_route_set(m, (uint16_t)id, ref->route->name,
					     ref->plugin);
	}
	atomic_store(&m->generation, g->id);
	atomic_store(&m->plugins, dx_registry_count(r));
}

/* ---- host-wide ---- */

static void dx_write_host(dx_mtext *t, dx_metrics *m, dx_registry *r,
			  const dx_server *s)
{
	static const char *const bn[] = {"version", "abi"};
	char abi[16];
	snprintf(abi, sizeof abi, "%d.%d", DX_ABI_MAJOR, DX_ABI_MINOR);
	const char *bv[] = {DX_VERSION, abi};
	dx_mlabels bl = {bn, bv, 2};
	dx_mtext_family(t, "dx_build_info", "gauge",
			"the host's version and plugin ABI, as labels");
	dx_mtext_sample(t, "dx_build_info", &bl, 1);
	dx_mtext_family(t, "dx_start_time_seconds", "gauge",
			"when the host started, seconds since the epoch");
	dx_mtext_sample(t, "dx_start_time_seconds", NULL, m->start_s);
	dx_mtext_family(t, "dx_generation", "gauge",
			"the generation (routes, chains, limits) workers "
			"serve with; one more per live change");
	dx_mtext_sample_u64(t, "dx_generation", NULL,
			    atomic_load(&m->generation));
	/* Without a server nothing publishes, and nothing changes the
	 * plugins either (every change needs one): the registry's count is
	 * safe to read then. */
	dx_mtext_family(t, "dx_plugins", "gauge", "plugins loaded");
	dx_mtext_sample_u64(t, "dx_plugins", NULL,
			    s ? atomic_load(&m->plugins) :
				dx_registry_count(r));

	static const char *const cn[] = {"command", "result"};
	dx_mtext_family(t, "dx_reloads_total", "counter",
			"live changes through the control socket or SIGHUP "
			"(reload, load, unload, apply), by outcome");
	for (int i = 0; i < 4; i++)
		for (int ok = 0; ok < 2; ok++) {
			const char *cv[] = {dx_metrics_commands[i],
					    ok ? "failed" : "ok"};
			dx_mlabels cl = {cn, cv, 2};
			dx_mtext_sample_u64(t, "dx_reloads_total", &cl,
					    atomic_load(&m->changes[i][ok]));
		}

	dx_server_stats st = {0};
	uint64_t dropped = 0;
	if (s) {
		dx_server_stats_sum(s, &st);
		for (unsigned i = 0; i < s->nworkers; i++)
			dropped += atomic_load_explicit(
				&s->workers[i].wm->answers_dropped,
				memory_order_relaxed);
	}
	dx_bg_stats bg;
	dx_registry_bg_stats(r, &bg);
	static const char *const dn[] = {"what"};
	const char *dv[][1] = {{"background_task"},
			       {"deferred_answer"},
			       {"connection_refused"}};
	uint64_t dval[] = {bg.dropped, dropped, st.refused};
	dx_mtext_family(t, "dx_drops_total", "counter",
			"work dropped: background tasks pushed out of a full "
			"queue, deferred answers whose client had gone, "
			"connections refused over limits.max_connections");
	for (int i = 0; i < 3; i++) {
		dx_mlabels dl = {dn, dv[i], 1};
		dx_mtext_sample_u64(t, "dx_drops_total", &dl, dval[i]);
	}
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} f[] = {
		{"dx_connections", "gauge", "client connections open now",
		 st.connections},
		{"dx_connections_accepted_total", "counter",
		 "client connections accepted", st.accepted},
		{"dx_requests_total", "counter",
		 "messages dispatched (RpcCall, ClientEvent)", st.requests},
		{"dx_errors_total", "counter", "RpcError answers sent",
		 st.errors},
		{"dx_closed_by_server_total", "counter",
		 "connections the host closed on purpose (Close sent)",
		 st.closed_by_server},
		{"dx_background_queue_length", "gauge",
		 "background tasks waiting", bg.length},
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		dx_mtext_family(t, f[i].name, f[i].type, f[i].help);
		dx_mtext_sample_u64(t, f[i].name, NULL, f[i].v);
	}
}

/* ---- per worker ---- */

static void dx_write_workers(dx_mtext *t, const dx_server *s)
{
	static const char *const wn[] = {"worker"};
	static const struct {
		const char *name, *type, *help;
	} f[] = {
		{"dx_worker_connections", "gauge",
		 "client connections open on the worker"},
		{"dx_worker_connections_accepted_total", "counter",
		 "client connections the worker accepted"},
		{"dx_worker_requests_total", "counter",
		 "messages the worker dispatched"},
		{"dx_worker_received_bytes_total", "counter",
		 "bytes received from clients"},
		{"dx_worker_sent_bytes_total", "counter",
		 "bytes sent to clients"},
		{"dx_worker_loop_turns_total", "counter",
		 "turns of the worker's event loop (each waits once)"},
	};
	for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
		dx_mtext_family(t, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < s->nworkers; i++) {
			const dx_worker *w = &s->workers[i];
			char id[16];
			snprintf(id, sizeof id, "%u", i);
			const char *wv[] = {id};
			dx_mlabels l = {wn, wv, 1};
			const _Atomic uint64_t *src[] = {
				&w->stats.connections, &w->stats.accepted,
				&w->stats.requests,    &w->stats.bytes_in,
				&w->stats.bytes_out,   &w->wm->turns};
			dx_mtext_sample_u64(
				t, f[k].name, &l,
				atomic_load_explicit(src[k],
						     memory_order_relaxed));
		}
	}
}

/* ---- per route ---- */

/* One route summed over the workers. */
typedef struct dx_route_sum {
	uint32_t key; /* id + 1; UINT32_MAX: unknown, UINT32_MAX-1: other */
	uint64_t requests;
	uint32_t status[32];
	uint64_t answers[32];
	size_t nstatus;
	uint64_t status_other;
	uint64_t buckets[DX_WM_BOUNDS + 1];
	uint64_t sum_ns;
} dx_route_sum;

#define DX_KEY_UNKNOWN UINT32_MAX
#define DX_KEY_OTHER (UINT32_MAX - 1)

static uint64_t dx_ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static void dx_route_add(dx_route_sum *a, const dx_wm_route *r)
{
	a->requests += dx_ld(&r->requests);
	a->status_other += dx_ld(&r->status_other);
	for (unsigned i = 0; i < DX_WM_STATUSES; i++) {
		uint32_t st = atomic_load_explicit(&r->status[i],
						   memory_order_acquire);
		if (!st)
			break;
		size_t j = 0;
		while (j < a->nstatus && a->status[j] != st)
			j++;
		if (j == a->nstatus && j < 32)
			a->status[a->nstatus++] = st;
		if (j < 32)
			a->answers[j] += dx_ld(&r->answers[i]);
		else
			a->status_other += dx_ld(&r->answers[i]);
	}
	for (unsigned b = 0; b <= DX_WM_BOUNDS; b++)
		a->buckets[b] += dx_ld(&r->buckets[b]);
	a->sum_ns += dx_ld(&r->sum_ns);
}

/* The sum for key, found or appended in sums (room for every slot of one
 * worker's table plus unknown and other: a key is in at most one slot per
 * worker, and every worker's keys are among the routes published). */
static dx_route_sum *dx_route_of(dx_route_sum *sums, size_t *n, size_t cap,
				 uint32_t key)
{
	for (size_t i = 0; i < *n; i++)
		if (sums[i].key == key)
			return &sums[i];
	if (*n == cap)
		return NULL;
	dx_route_sum *a = &sums[(*n)++];
	memset(a, 0, sizeof *a);
	a->key = key;
	return a;
}

static void dx_write_route(dx_mtext *t, const dx_route_sum *a,
			   const dx_metrics *m, int family)
{
	static const char *const rn[] = {"route", "plugin", "status"};
	char name[32];
	const char *route = name, *plugin = "";
	if (a->key == DX_KEY_UNKNOWN)
		route = "(unknown)";
	else if (a->key == DX_KEY_OTHER)
		route = "(other)";
	else {
		const dx_mroute *mr =
			dx_metrics_route_find(m, (uint16_t)(a->key - 1));
		snprintf(name, sizeof name, "route %u", a->key - 1);
		if (mr) {
			route = mr->name;
			plugin = mr->plugin;
		}
	}
	const char *rv[3] = {route, plugin, NULL};
	dx_mlabels l = {rn, rv, 2};
	if (family == 0) {
		dx_mtext_sample_u64(t, "dx_route_requests_total", &l,
				    a->requests);
	} else if (family == 1) {
		l.n = 3;
		char st[16];
		rv[2] = st;
		for (size_t i = 0; i < a->nstatus; i++) {
			snprintf(st, sizeof st, "%u", a->status[i]);
			dx_mtext_sample_u64(t, "dx_route_answers_total", &l,
					    a->answers[i]);
		}
		if (a->status_other) {
			rv[2] = "other";
			dx_mtext_sample_u64(t, "dx_route_answers_total", &l,
					    a->status_other);
		}
	} else {
		dx_mtext_histogram(t, "dx_route_latency_seconds", &l,
				   dx_wm_bounds_s, DX_WM_BOUNDS, a->buckets,
				   (double)a->sum_ns / 1e9);
	}
}

/* Every route published (counts or not, so a query finds it from the
 * start), then what each worker counted. Under m->lock: the names. */
static size_t dx_sum_routes(dx_route_sum *sums, size_t cap, const dx_metrics *m,
			    const dx_server *s)
{
	size_t n = 0;
	for (size_t i = 0; i < m->route_count; i++)
		dx_route_of(sums, &n, cap, (uint32_t)m->routes[i].id + 1);
	for (unsigned i = 0; i < s->nworkers; i++) {
		const dx_wmetrics *wm = s->workers[i].wm;
		dx_route_add(dx_route_of(sums, &n, cap, DX_KEY_UNKNOWN),
			     &wm->unknown);
		dx_route_add(dx_route_of(sums, &n, cap, DX_KEY_OTHER),
			     &wm->other);
		for (unsigned j = 0; j < DX_WM_ROUTES; j++) {
			const dx_wm_route *r = &wm->routes[j];
			uint32_t key = atomic_load_explicit(
				&r->key, memory_order_acquire);
			if (!key)
				continue;
			dx_route_sum *a = dx_route_of(sums, &n, cap, key);
			/* Room runs out only past the table's: other. */
			dx_route_add(a ? a :
					 dx_route_of(sums, &n, cap,
						     DX_KEY_OTHER),
				     r);
		}
	}
	return n;
}

static void dx_write_routes(dx_mtext *t, dx_metrics *m, const dx_server *s)
{
	static const struct {
		const char *name, *type, *help;
	} f[] = {
		{"dx_route_requests_total", "counter",
		 "requests that reached the route (before middleware); "
		 "route=\"(unknown)\": ids no route serves"},
		{"dx_route_answers_total", "counter",
		 "answers by status: 200 for RpcResponse, else the "
		 "RpcError's status"},
		{"dx_route_latency_seconds", "histogram",
		 "from the request's start to its answer (middleware "
		 "included; deferred answers when they complete)"},
	};
	pthread_mutex_lock(&m->lock);
	size_t cap = m->route_count + DX_WM_ROUTES + 2;
	dx_route_sum *sums = calloc(cap, sizeof *sums);
	size_t n = sums ? dx_sum_routes(sums, cap, m, s) : 0;
	for (int k = 0; sums && k < 3; k++) {
		dx_mtext_family(t, f[k].name, f[k].type, f[k].help);
		for (size_t i = 0; i < n; i++)
			if (sums[i].requests || sums[i].nstatus ||
			    sums[i].status_other || sums[i].key < DX_KEY_OTHER)
				dx_write_route(t, &sums[i], m, k);
	}
	pthread_mutex_unlock(&m->lock);
	if (!sums)
		t->failed = true;
	free(sums);
}

char *dx_metrics_render(dx_registry *r, const dx_server *s, size_t *len)
{
	dx_metrics *m = dx_registry_metrics(r);
	dx_mtext t;
	dx_mtext_init(&t);
	dx_write_host(&t, m, r, s);
	if (s) {
		dx_write_workers(&t, s);
		dx_write_routes(&t, m, s);
	}
	dx_metrics_write_plugins(m, &t);
	return dx_mtext_done(&t, len);
}
