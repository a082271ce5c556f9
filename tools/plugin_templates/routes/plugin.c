/* @NAME@ - a dx ROUTES plugin (made by `dx plugin new`).
 *
 * Route "@NAME@" (id @ID@) answers "<greeting>, <arguments>!".
 *
 * Route ids: 0 is the host's route table and 1..1023 belong to the plugins
 * shipped with dx (`dx plugin ids` lists them); a third-party plugin takes
 * its ids in 1024..65535. @ID@ comes from a hash of the name, so two
 * generated plugins rarely collide; `dx plugin inspect` flags an id in
 * dx's range, and a manifest can move a route without a rebuild:
 * {"path": "...", "routes": {"@NAME@": 5000}}.
 *
 * Config (plugins[].config):
 *   greeting  string (default "hello")
 * Counters: @NAME@.calls (calls answered).
 * Refusals: an unknown config key or a greeting that is not a string
 * (init fails, naming the key); arguments over 1024 bytes (RpcError 413).
 */
#include <errno.h>
#include <stdlib.h>

#include <dx/plugin.h>
#include <dx/routes.h>

struct plugin {
	const dx_host_api *host;
	const char *greeting; /* the host's, valid until fini */
	dx_counter *calls;
};

/* Worker thread; must not block. */
static int plugin_call(void *self, const dx_request *req, dx_response *res)
{
	struct plugin *p = self;
	if (req->body_len > 1024)
		return dx_response_error(res, 413,
					 "arguments longer than 1024 bytes");
	p->host->counter_add(p->calls, 1);
	return dx_response_printf(res, "%s, %.*s!", p->greeting,
				  (int)req->body_len, (const char *)req->body);
}

static int plugin_init(const dx_host_api *host, const dx_config *config,
		       void **self)
{
	static const char *const keys[] = {"greeting", NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return host->fail(host, -ENOMEM, "out of memory");
	p->host = host;
	rc = host->config_str(host, config, "greeting", "hello", &p->greeting);
	if (rc == 0 && !(p->calls = host->counter(host, "calls",
						   "calls answered")))
		rc = host->fail(host, -ENOMEM, "out of memory");
	if (rc < 0) {
		free(p);
		return rc;
	}
	host->log(host, DX_LOG_INFO, "greeting is \"%s\"", p->greeting);
	*self = p;
	return 0;
}

static void plugin_fini(void *self)
{
	free(self);
}

static const dx_route plugin_routes[] = {
	{.id = @ID@, .name = "@NAME@", .call = plugin_call},
};

static const dx_routes_vtable plugin_vtable = DX_ROUTES(plugin_routes);

static const dx_facet plugin_facets[] = {
	{DX_FACET_ROUTES, "@NAME@", &plugin_vtable},
};

DX_PLUGIN(.name = "@NAME@", .version = "0.1.0",
	  .description = "answers route @NAME@ with a greeting",
	  DX_FACETS(plugin_facets), .init = plugin_init, .fini = plugin_fini)
