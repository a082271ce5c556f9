/* routes_echo - two routes for trying a host and testing it.
 *
 *   echo  (id 2)  answers its arguments as they came.
 *   delay (id 3)  arguments "MS" or "MS PAYLOAD": answers PAYLOAD after MS
 *                 milliseconds (at most 60000), through host->defer and a
 *                 worker timer, so answers on one connection complete out of
 *                 order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dx/plugin.h>
#include <dx/routes.h>

struct echo {
	const dx_host_api *host;
};

struct delayed {
	const dx_host_api *host;
	dx_pending *pending;
	size_t len;
	uint8_t payload[]; /* copied: the request's bytes die with the call */
};

static int echo_call(void *self, const dx_request *req, dx_response *res)
{
	return dx_response_write(res, req->body, req->body_len);
}

static void delay_fire(void *arg)
{
	struct delayed *d = arg;
	d->host->complete(d->host, d->pending, 0, d->payload, d->len);
	free(d);
}

/* "MS" or "MS PAYLOAD" -> ms and where the payload starts; -1 if bad. */
static long delay_parse(const uint8_t *p, size_t n, size_t *payload_at)
{
	long ms = 0;
	size_t i = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && ms <= 60000)
		ms = ms * 10 + (p[i++] - '0');
	if (i == 0 || ms > 60000 || (i < n && p[i] != ' '))
		return -1;
	*payload_at = i < n ? i + 1 : n;
	return ms;
}

static int delay_call(void *self, const dx_request *req, dx_response *res)
{
	struct echo *e = self;
	size_t at;
	long ms = delay_parse(req->body, req->body_len, &at);
	if (ms < 0)
		return dx_response_error(res, 400,
					 "delay takes \"MS [PAYLOAD]\" with MS "
					 "in 0..60000");
	struct delayed *d = malloc(sizeof *d + req->body_len - at);
	if (!d)
		return -ENOMEM;
	d->host = e->host;
	d->len = req->body_len - at;
	memcpy(d->payload, req->body + at, d->len);
	d->pending = e->host->defer(e->host, req);
	if (!d->pending) {
		free(d);
		return -ENOMEM;
	}
	if (e->host->timer(e->host, (uint64_t)ms * 1000000u, delay_fire, d) <
	    0) {
		e->host->complete(e->host, d->pending, 503, "no timer", 8);
		free(d);
	}
	return DX_PENDING;
}

static int echo_init(const dx_host_api *host, const dx_config *config,
		     void **self)
{
	static const char *const keys[] = {NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	struct echo *e = calloc(1, sizeof *e);
	if (!e)
		return host->fail(host, -ENOMEM, "out of memory");
	e->host = host;
	*self = e;
	return 0;
}

static void echo_fini(void *self)
{
	free(self);
}

static const dx_route echo_routes[] = {
	{.id = 2, .name = "echo", .call = echo_call},
	{.id = 3, .name = "delay", .call = delay_call},
};

static const dx_routes_vtable echo_vtable = DX_ROUTES(echo_routes);

static const dx_facet echo_facets[] = {
	{DX_FACET_ROUTES, "echo", &echo_vtable},
};

DX_PLUGIN(.name = "routes_echo", .version = "1.0.0",
	  .description = "echo answers its arguments; delay answers later",
	  DX_FACETS(echo_facets), .init = echo_init, .fini = echo_fini)
