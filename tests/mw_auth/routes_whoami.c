/* routes_whoami - a test plugin: routes that answer what mw_auth left in
 * the request's extensions, so tests over HBTP can see the handler got
 * the claims.
 *
 *   whoami  (id 50)  answers jwt.sub, or "anonymous" without one.
 *   claims  (id 51)  answers jwt.claims, or "{}" without them.
 *   health  (id 52)  answers "ok" (a public route in the tests).
 */
#include <dx/plugin.h>
#include <dx/routes.h>

static int whoami_call(void *self, const dx_request *req, dx_response *res)
{
	size_t n = 0;
	const void *sub = dx_request_ext_get(req, "jwt.sub", &n);
	if (!sub)
		return dx_response_write(res, "anonymous", 9);
	return dx_response_write(res, sub, n);
}

static int claims_call(void *self, const dx_request *req, dx_response *res)
{
	size_t n = 0;
	const void *c = dx_request_ext_get(req, "jwt.claims", &n);
	if (!c)
		return dx_response_write(res, "{}", 2);
	return dx_response_write(res, c, n);
}

static int health_call(void *self, const dx_request *req, dx_response *res)
{
	return dx_response_write(res, "ok", 2);
}

static const dx_route whoami_routes[] = {
	{.id = 50, .name = "whoami", .call = whoami_call},
	{.id = 51, .name = "claims", .call = claims_call},
	{.id = 52, .name = "health", .call = health_call},
};

static const dx_routes_vtable whoami_vtable = DX_ROUTES(whoami_routes);

static const dx_facet whoami_facets[] = {
	{DX_FACET_ROUTES, "whoami", &whoami_vtable},
};

DX_PLUGIN(.name = "routes_whoami", .version = "1.0.0",
	  .description = "answers the JWT claims mw_auth verified (tests)",
	  DX_FACETS(whoami_facets))
