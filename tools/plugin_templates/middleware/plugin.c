/* @NAME@ - a dx MIDDLEWARE plugin (made by `dx plugin new`).
 *
 * Runs around every call when the manifest lists it in "middleware":
 *   before  refuses a call whose arguments are exactly the configured
 *           "deny" text: RpcError 403 "denied by @NAME@", and the route
 *           does not run;
 *   after   adds the metadata "x-@NAME@: <tag>" to every answer, errors
 *           and refusals included.
 *
 * Config (plugins[].config):
 *   deny  string (default: none, nothing is refused)
 *   tag   string, 1..255 bytes (default "seen")
 * Counters: @NAME@.denied.
 * Refusals: an unknown config key, a deny or tag that is not a string, an
 * empty or too long tag (init fails, naming the key).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dx/middleware.h>
#include <dx/plugin.h>

struct plugin {
	const dx_host_api *host;
	const char *deny; /* the host's, valid until fini; NULL: none */
	const char *tag;
	dx_counter *denied;
};

/* Worker thread; must not block. */
static int plugin_before(void *self, dx_request *req, dx_response *res)
{
	struct plugin *p = self;
	if (!p->deny || req->body_len != strlen(p->deny) ||
	    memcmp(req->body, p->deny, req->body_len) != 0)
		return DX_MW_CONTINUE;
	p->host->counter_add(p->denied, 1);
	dx_response_error(res, 403, "denied by @NAME@");
	return DX_MW_STOP;
}

static void plugin_after(void *self, const dx_request *req, dx_response *res)
{
	struct plugin *p = self;
	(void)req;
	/* Out of metadata room: the answer still goes, without it. */
	dx_response_meta(res, "x-@NAME@", p->tag, strlen(p->tag));
}

static int plugin_init(const dx_host_api *host, const dx_config *config,
		       void **self)
{
	static const char *const keys[] = {"deny", "tag", NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return host->fail(host, -ENOMEM, "out of memory");
	p->host = host;
	rc = host->config_str(host, config, "deny", NULL, &p->deny);
	if (rc == 0)
		rc = host->config_str(host, config, "tag", "seen", &p->tag);
	if (rc == 0 && (!*p->tag || strlen(p->tag) > 255))
		rc = host->config_error(host, config, "tag",
					"expected 1..255 bytes");
	if (rc == 0 && !(p->denied = host->counter(host, "denied",
						    "calls refused")))
		rc = host->fail(host, -ENOMEM, "out of memory");
	if (rc < 0) {
		free(p);
		return rc;
	}
	*self = p;
	return 0;
}

static void plugin_fini(void *self)
{
	free(self);
}

static const dx_middleware_vtable plugin_vtable = {
	.size = sizeof(dx_middleware_vtable),
	.before = plugin_before,
	.after = plugin_after,
};

/* A middleware's facet has the plugin's name: the manifest's
 * "middleware" list names plugins. */
static const dx_facet plugin_facets[] = {
	{DX_FACET_MIDDLEWARE, "@NAME@", &plugin_vtable},
};

DX_PLUGIN(.name = "@NAME@", .version = "0.1.0",
	  .description = "tags every answer, refuses the deny text",
	  DX_FACETS(plugin_facets), .init = plugin_init, .fini = plugin_fini)
