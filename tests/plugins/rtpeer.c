/* rtpeer.c - two plugins that use each other, for the test of a reload
 * cascade that comes back to where it started (tests/reload/test_paths.c,
 * case "cycle").
 *
 * Built with RTS_PEER_SELF (its name and its SERVICE facet's name),
 * RTS_PEER_OTHER (the SERVICE it looks up) and RTS_PEER_ROUTE (its
 * route's id). init looks the other up and goes on without it when it is
 * not there; at start every init sees every loaded plugin's facets, so
 * each uses the other. The route answers "SELF->OTHER" or "SELF->none":
 * what its instance found. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/plugin.h>
#include <dx/routes.h>

typedef struct rtp_vtable {
	uint32_t size;
} rtp_vtable;

struct rtp {
	dx_facet_ref other;
	bool found;
};

static int rtp_init(const dx_host_api *host, const dx_config *config,
		    void **self)
{
	(void)config;
	struct rtp *p = calloc(1, sizeof *p);
	if (!p)
		return host->fail(host, -ENOMEM, "out of memory");
	p->found = host->lookup(host, DX_FACET_SERVICE, RTS_PEER_OTHER,
				&p->other) == 0;
	*self = p;
	return 0;
}

static void rtp_fini(void *self)
{
	free(self);
}

static int rtp_call(void *self, const dx_request *req, dx_response *res)
{
	(void)req;
	const struct rtp *p = self;
	const char *s = p->found ? RTS_PEER_SELF "->" RTS_PEER_OTHER
				 : RTS_PEER_SELF "->none";
	return dx_response_write(res, s, strlen(s));
}

static const rtp_vtable rtp_vt = {sizeof rtp_vt};

static const dx_route rtp_routes[] = {
	{.id = RTS_PEER_ROUTE, .name = RTS_PEER_SELF,
	 .call = rtp_call},
};

static const dx_routes_vtable rtp_routes_vt = DX_ROUTES(rtp_routes);

static const dx_facet rtp_facets[] = {
	{DX_FACET_SERVICE, RTS_PEER_SELF, &rtp_vt},
	{DX_FACET_ROUTES, RTS_PEER_SELF, &rtp_routes_vt},
};

DX_PLUGIN(.name = RTS_PEER_SELF, .version = "1.0.0",
	  .description = "uses " RTS_PEER_OTHER " (reload tests: a cycle)",
	  DX_FACETS(rtp_facets), .init = rtp_init, .fini = rtp_fini)
