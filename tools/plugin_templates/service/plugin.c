/* @NAME@ - a dx SERVICE plugin (made by `dx plugin new`).
 *
 * A SERVICE facet is a vtable other plugins call: they find it in their
 * init with host->lookup(host, DX_FACET_SERVICE, "@NAME@", &ref) and call
 * ((const struct @NAME@_service *)ref.vtable)->next(ref.self). The host
 * checks nothing in it but its size field: the vtable is the contract
 * between this plugin and its users, so give it its own header when other
 * plugins use it, and only ever append members (users test the size).
 *
 * This one hands out numbers of a sequence, from any thread.
 *
 * Config (plugins[].config):
 *   start  integer, 0..2^62 (default 1): the first number
 * Counters: @NAME@.handed_out.
 * Refusals: an unknown config key, a start out of range (init fails,
 * naming the key).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <dx/plugin.h>

/* The vtable, as users see it. Sized and append-only. */
struct @NAME@_service {
	uint32_t size;
	/* The next number. Any thread; never blocks. */
	uint64_t (*next)(void *self);
};

struct plugin {
	const dx_host_api *host;
	_Atomic uint64_t next;
	dx_counter *handed_out;
};

static uint64_t plugin_next(void *self)
{
	struct plugin *p = self;
	p->host->counter_add(p->handed_out, 1);
	return atomic_fetch_add(&p->next, 1);
}

static int plugin_init(const dx_host_api *host, const dx_config *config,
		       void **self)
{
	static const char *const keys[] = {"start", NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	int64_t start;
	rc = host->config_int(host, config, "start", 1, 0, INT64_C(1) << 62,
			      &start);
	if (rc < 0)
		return rc;
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return host->fail(host, -ENOMEM, "out of memory");
	p->host = host;
	atomic_init(&p->next, (uint64_t)start);
	if (!(p->handed_out = host->counter(host, "handed_out",
					    "numbers handed out"))) {
		free(p);
		return host->fail(host, -ENOMEM, "out of memory");
	}
	*self = p;
	return 0;
}

static void plugin_fini(void *self)
{
	free(self);
}

static const struct @NAME@_service plugin_vtable = {
	.size = sizeof(struct @NAME@_service),
	.next = plugin_next,
};

static const dx_facet plugin_facets[] = {
	{DX_FACET_SERVICE, "@NAME@", &plugin_vtable},
};

DX_PLUGIN(.name = "@NAME@", .version = "0.1.0",
	  .description = "a sequence other plugins draw numbers from",
	  DX_FACETS(plugin_facets), .init = plugin_init, .fini = plugin_fini)
