/* rec.c - a plugin that records its lifecycle, built once per REC_NAME
 * (rec_a, rec_b, ...). init logs "init NAME" and fini "fini NAME" through
 * host->log, so a test's log sink sees the order. Config:
 *   "fail": true    init fails with -EINVAL and its own message
 *   "count": 1..100 read as an integer; a bad value fails init with the
 *                   getter's error (which names the JSON path)
 *   "return": N     init returns N at once, without a reason (what a
 *                   plugin returning -1 or a positive value by habit does)
 */
#include <errno.h>
#include <stdlib.h>

#include <dx/plugin.h>

#ifndef REC_NAME
#error "build with -DREC_NAME=\"rec_x\""
#endif

struct rec {
	const dx_host_api *host; /* fini has no other way to reach it */
	int64_t count;
};

static int rec_init(const dx_host_api *host, const dx_config *config,
		    void **self)
{
	host->log(host, DX_LOG_INFO, "init %s", REC_NAME);
	bool fail = false;
	int64_t count = 0, ret = 0;
	int rc = host->config_bool(host, config, "fail", false, &fail);
	if (rc == 0)
		rc = host->config_int(host, config, "count", 1, 1, 100, &count);
	if (rc == 0)
		rc = host->config_int(host, config, "return", 0, -100000,
				      100000, &ret);
	if (rc < 0)
		return rc;
	if (ret)
		return (int)ret;
	if (fail)
		return host->fail(host, -EINVAL, "asked to fail by config");
	struct rec *r = calloc(1, sizeof *r);
	if (!r)
		return host->fail(host, -ENOMEM, "out of memory");
	r->host = host;
	r->count = count;
	*self = r;
	return 0;
}

static void rec_fini(void *self)
{
	struct rec *r = self;
	r->host->log(r->host, DX_LOG_INFO, "fini %s", REC_NAME);
	free(r);
}

static const struct {
	uint32_t size;
} rec_svc = {sizeof rec_svc};

static const dx_facet rec_facets[] = {
	{DX_FACET_SERVICE, REC_NAME, &rec_svc},
};

DX_PLUGIN(.name = REC_NAME, .version = "0.0.1",
	  .description = "records init and fini", DX_FACETS(rec_facets),
	  .init = rec_init, .fini = rec_fini)
