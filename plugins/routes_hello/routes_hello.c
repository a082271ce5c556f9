/* routes_hello - the shortest complete dx plugin.
 *
 * One ROUTES facet with one route, "hello" (id 1), which answers
 * "<greeting>, <name>!" where name is the call's argument bytes (or "world")
 * and greeting comes from the manifest:
 *
 *     {"name": "routes_hello", "config": {"greeting": "hi"}}
 */
#include <errno.h>
#include <stdlib.h>

#include <dx/plugin.h>
#include <dx/routes.h>

struct hello {
	const char *greeting; /* owned by the host's config, valid until fini */
};

static int hello_call(void *self, const dx_request *req, dx_response *res)
{
	const struct hello *h = self;
	if (req->body_len > 256)
		return dx_response_error(res, 413, "name longer than 256 bytes");
	if (req->body_len == 0)
		return dx_response_printf(res, "%s, world!", h->greeting);
	return dx_response_printf(res, "%s, %.*s!", h->greeting,
				  (int)req->body_len, (const char *)req->body);
}

static int hello_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	static const char *const keys[] = {"greeting", NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;

	struct hello *h = calloc(1, sizeof *h);
	if (!h)
		return host->fail(host, -ENOMEM, "out of memory");
	rc = host->config_str(host, config, "greeting", "hello", &h->greeting);
	if (rc < 0) {
		free(h);
		return rc;
	}
	*self = h;
	host->log(host, DX_LOG_DEBUG, "greeting is \"%s\"", h->greeting);
	return 0;
}

static void hello_fini(void *self)
{
	free(self);
}

static const dx_route hello_routes[] = {
	{.id = 1, .name = "hello", .call = hello_call},
};

static const dx_routes_vtable hello_vtable = DX_ROUTES(hello_routes);

static const dx_facet hello_facets[] = {
	{DX_FACET_ROUTES, "hello", &hello_vtable},
};

DX_PLUGIN(.name = "routes_hello", .version = "1.0.0",
	  .description = "answers the route \"hello\" with a greeting",
	  DX_FACETS(hello_facets), .init = hello_init, .fini = hello_fini)
