/* mw_timing - adds x-response-time to every answer, errors included.
 *
 * The time runs from the request's decode (req->start_ns, taken by the
 * host) to the moment the host starts the after hooks (the befores and
 * the handler included); the value is whole microseconds in decimal. The
 * host writes it itself (DX_MW_META_RESPONSE_TIME in host_meta, ABI 1.3),
 * in the place this middleware's after hook would have written it, with
 * the clock reading it takes for its own metrics and a key checked once:
 * that costs less than a hook that reads the clock and writes the entry.
 * The rule of an after hook holds: an answer gets it when this
 * middleware's link ran (a before earlier in the chain that stops it
 * leaves it out), so put mw_timing first in "middleware" for the figure
 * to cover the others' befores.
 * A host older than 1.3 refuses this build (ABI minor newer than its own).
 */
#include <dx/middleware.h>

static int timing_init(const dx_host_api *host, const dx_config *config,
		       void **self)
{
	static const char *const keys[] = {NULL};
	int rc = host->config_keys(host, config, keys);
	*self = NULL;
	return rc < 0 ? rc : 0;
}

static const dx_middleware_vtable timing_vtable = {
	.size = sizeof(dx_middleware_vtable),
	.host_meta = DX_MW_META_RESPONSE_TIME,
};

static const dx_facet timing_facets[] = {
	{DX_FACET_MIDDLEWARE, "mw_timing", &timing_vtable},
};

DX_PLUGIN(.name = "mw_timing", .version = "1.0.0",
	  .description = "adds x-response-time (microseconds) to every answer",
	  DX_FACETS(timing_facets), .init = timing_init)
