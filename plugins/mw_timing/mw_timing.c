/* mw_timing - adds x-response-time to every answer, errors included.
 *
 * The time runs from the request's decode (req->start_ns, taken by the
 * host) to this after hook, which the host runs just before it encodes the
 * answer; the value is whole microseconds in decimal. Put mw_timing first
 * in "middleware" so its after runs last and the figure covers the others.
 */
#include <errno.h>
#include <stdlib.h>

#include <dx/middleware.h>

struct timing {
	const dx_host_api *host;
	dx_meta_key key; /* "x-response-time", checked once at init */
};

static void timing_after(void *self, const dx_request *req, dx_response *res)
{
	struct timing *t = self;
	uint64_t now = t->host->now_ns(t->host, DX_CLOCK_MONOTONIC);
	uint64_t us = now > req->start_ns ? (now - req->start_ns) / 1000 : 0;
	/* Out of metadata room: the answer still goes, without the header. */
	dx_response_meta_key_u64(res, &t->key, us);
}

static int timing_init(const dx_host_api *host, const dx_config *config,
		       void **self)
{
	static const char *const keys[] = {NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	struct timing *t = calloc(1, sizeof *t);
	if (!t)
		return host->fail(host, -ENOMEM, "out of memory");
	t->host = host;
	dx_meta_key_init(&t->key, "x-response-time");
	*self = t;
	return 0;
}

static void timing_fini(void *self)
{
	free(self);
}

static const dx_middleware_vtable timing_vtable = {
	.size = sizeof(dx_middleware_vtable),
	.after = timing_after,
};

static const dx_facet timing_facets[] = {
	{DX_FACET_MIDDLEWARE, "mw_timing", &timing_vtable},
};

DX_PLUGIN(.name = "mw_timing", .version = "1.0.0",
	  .description = "adds x-response-time (microseconds) to every answer",
	  DX_FACETS(timing_facets), .init = timing_init, .fini = timing_fini)
