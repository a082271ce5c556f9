/* routes_reverse - a dx plugin written the way a third party writes one.
 *
 * It lives outside the dx source tree and sees dx only through the installed
 * SDK: the headers <dx/plugin.h> and <dx/routes.h> and libdx, found with
 *
 *     pkg-config --cflags --libs dx-sdk
 *
 * (see the Makefile next to this file). It provides one ROUTES facet with one
 * route, "reverse" (id 2, so it can share a host with routes_hello, which
 * owns id 1), that answers its argument bytes in reverse order:
 *
 *     dx call 127.0.0.1:7070 reverse hello      ->  olleh
 *
 * Its manifest entry may set one option:
 *
 *     {"path": "routes_reverse.so", "config": {"max_len": 1024}}
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <dx/plugin.h>
#include <dx/routes.h>

/* 1. The plugin's state: one instance, made by init, freed by fini. The host
 *    hands the pointer back to every call. */
struct reverse {
	int64_t max_len;   /* longest argument we answer */
	dx_counter *calls; /* a host-owned metric: "routes_reverse.calls" */
	const dx_host_api *host;
};

/* 2. The route handler. It runs on a worker thread and must not block. The
 *    request (and its body) belong to the host; the answer goes into res, a
 *    host-owned buffer, through the dx_response_* helpers from libdx. */
static int reverse_call(void *self, const dx_request *req, dx_response *res)
{
	struct reverse *r = self;

	if (r->calls)
		r->host->counter_add(r->calls, 1);
	if (req->body_len > (size_t)r->max_len)
		return dx_response_error(res, 413,
					 "argument is %zu bytes; at most %lld",
					 req->body_len, (long long)r->max_len);

	for (size_t i = req->body_len; i > 0; i--) {
		int rc = dx_response_write(res, &req->body[i - 1], 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* 3. init: read and check the config, build the state. Refuse unknown
 *    config keys so a typo in the manifest is an error, not a silent
 *    default. Every getter reports a bad value with its JSON path
 *    ("plugins[1].config.max_len: ..."), so just return its code. */
static int reverse_init(const dx_host_api *host, const dx_config *config,
			void **self)
{
	static const char *const keys[] = {"max_len", NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;

	struct reverse *r = calloc(1, sizeof *r);
	if (!r)
		return host->fail(host, -ENOMEM, "out of memory");
	r->host = host;
	rc = host->config_int(host, config, "max_len", 256, 1, 65536,
			      &r->max_len);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->calls = host->counter(host, "calls", "reverse calls answered");

	*self = r;
	host->log(host, DX_LOG_INFO, "answering up to %lld bytes",
		  (long long)r->max_len);
	return 0;
}

/* 4. fini: undo init. Called once, in reverse manifest order. */
static void reverse_fini(void *self)
{
	free(self);
}

/* 5. The declarations, at the bottom where a reader finds them: the route
 *    table, the ROUTES vtable built from it, the facets, and the plugin
 *    descriptor. DX_ROUTES and DX_PLUGIN fill in the sizes and the ABI
 *    version this file was compiled against; the host checks them. */
static const dx_route reverse_routes[] = {
	{.id = 2, .name = "reverse", .call = reverse_call},
};

static const dx_routes_vtable reverse_vtable = DX_ROUTES(reverse_routes);

static const dx_facet reverse_facets[] = {
	{DX_FACET_ROUTES, "reverse", &reverse_vtable},
};

DX_PLUGIN(.name = "routes_reverse", .version = "0.1.0",
	  .description = "answers the route \"reverse\" with its argument "
			 "reversed",
	  DX_FACETS(reverse_facets), .init = reverse_init, .fini = reverse_fini)
