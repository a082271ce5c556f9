/* logtest - a test plugin whose routes log while they handle a request,
 * for the log tests (test_logs.c).
 *
 * Routes (ROUTES facet "logtest"):
 *   61001 "logfail": logs "logtest said: BODY" (the body's bytes as they
 *         are, so a test can send quotes, control bytes, bad UTF-8), then
 *         fails with -EIO: the host logs the failure and answers 500.
 *   61002 "logok": logs "logtest ok: BODY" and answers "ok". */
#include <errno.h>

#include <dx/plugin.h>
#include <dx/routes.h>

static int lt_fail(void *self, const dx_request *req, dx_response *res)
{
	const dx_host_api *host = self;
	host->log(host, DX_LOG_WARN, "logtest said: %.*s", (int)req->body_len,
		  (const char *)req->body);
	return -EIO;
}

static int lt_ok(void *self, const dx_request *req, dx_response *res)
{
	const dx_host_api *host = self;
	host->log(host, DX_LOG_INFO, "logtest ok: %.*s", (int)req->body_len,
		  (const char *)req->body);
	return dx_response_printf(res, "ok");
}

static int lt_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	*self = (void *)host; /* the table outlives the instance */
	return 0;
}

static const dx_route lt_routes[] = {
	{.id = 61001, .name = "logfail", .call = lt_fail},
	{.id = 61002, .name = "logok", .call = lt_ok},
};

static const dx_routes_vtable lt_vtable = DX_ROUTES(lt_routes);

static const dx_facet lt_facets[] = {
	{DX_FACET_ROUTES, "logtest", &lt_vtable},
};

DX_PLUGIN(.name = "logtest", .version = "1.0.0",
	  .description = "routes that log while handling, one that fails",
	  DX_FACETS(lt_facets), .init = lt_init)
