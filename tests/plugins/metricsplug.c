/* metricsplug.c - a plugin with metrics of its own (tests/unit/test_metrics.c,
 * tests/integration/metrics.sh), built twice:
 *
 *   metricsplug     ABI 1.2 (DX_PLUGIN): a counter, a gauge and a histogram,
 *                   each with help text; route 900 "metrics.observe"
 *                   counts the call, sets the gauge to the body's length
 *                   and observes it in the histogram, answering "ok"
 *   metricsplug_v11 (-DMP_V11) a descriptor written as ABI 1.1 built it
 *                   (abi_minor 1), using only what 1.1 had: its counter,
 *                   whose help must now show; must load on a 1.2 host
 *
 * The help texts hold a backslash, a quote and a newline so the scrape's
 * escaping is seen end to end. */
#include <errno.h>
#include <stdlib.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#ifdef MP_V11
#define MP_NAME "metricsplug_v11"
#else
#define MP_NAME "metricsplug"
#endif

struct mp {
	dx_counter *calls;
	dx_gauge *last;
	dx_histogram *sizes;
	const dx_host_api *host;
};

static int mp_observe(void *self, const dx_request *req, dx_response *res)
{
	struct mp *m = self;
	const dx_host_api *h = m->host;
	h->counter_add(m->calls, 1);
	if (m->last)
		h->gauge_set(m->last, (double)req->body_len);
	if (m->sizes)
		h->histogram_observe(m->sizes, (double)req->body_len);
	return dx_response_printf(res, "ok");
}

static int mp_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	(void)config;
	struct mp *m = calloc(1, sizeof *m);
	if (!m)
		return host->fail(host, -ENOMEM, "out of memory");
	m->host = host;
	m->calls = host->counter(host, "calls",
				 "calls to metrics.observe \\ \"quoted\"\n"
				 "second line");
	/* A 1.1 build knows nothing past dry_run; a 1.2 build asks. */
#ifndef MP_V11
	static const double mp_bounds[] = {1, 4, 16, 64};
	if (DX_HAS(host, histogram)) {
		m->last = host->gauge(host, "last_size",
				      "the last body's length, in bytes");
		m->sizes = host->histogram(
			host, "body_size", "bodies seen, in bytes", mp_bounds,
			sizeof mp_bounds / sizeof mp_bounds[0]);
	}
	if (!m->last || !m->sizes) {
		free(m);
		return host->fail(host, -ENOSYS,
				  "this host has no gauges or "
				  "histograms (ABI < 1.2)");
	}
#endif
	if (!m->calls) {
		free(m);
		return host->fail(host, -ENOMEM, "out of memory");
	}
	*self = m;
	return 0;
}

static void mp_fini(void *self)
{
	free(self);
}

static const dx_route mp_routes[] = {
#ifdef MP_V11
	{.id = 901, .name = "metrics.observe_v11", .call = mp_observe},
#else
	{.id = 900, .name = "metrics.observe", .call = mp_observe},
#endif
};

static const dx_routes_vtable mp_routes_vt = {
	.size = sizeof(dx_routes_vtable),
	.route_size = sizeof(dx_route),
	.routes = mp_routes,
	.count = 1,
};

static const dx_facet mp_facets[] = {
	{DX_FACET_ROUTES, MP_NAME "_routes", &mp_routes_vt},
};

#ifndef MP_V11
DX_PLUGIN(.name = MP_NAME, .version = "1.0.0",
	  .description = "metrics of its own", DX_FACETS(mp_facets),
	  .init = mp_init, .fini = mp_fini)
#else
/* As a 1.1 SDK wrote it: abi_minor 1, the descriptor through retire (the
 * descriptor did not grow in 1.2). */
static const dx_plugin mp_descriptor = {
	.magic = DX_PLUGIN_MAGIC,
	.abi_major = 1,
	.abi_minor = 1,
	.size = (uint32_t)(offsetof(dx_plugin, retire) +
			   sizeof(((dx_plugin *)0)->retire)),
	.name = MP_NAME,
	.version = "1.1.0",
	.description = "a plugin built against ABI 1.1",
	DX_FACETS(mp_facets),
	.init = mp_init,
	.fini = mp_fini,
};
DX_EXPORT const dx_plugin *dx_plugin_v1(void);
DX_EXPORT const dx_plugin *dx_plugin_v1(void)
{
	return &mp_descriptor;
}
#endif
