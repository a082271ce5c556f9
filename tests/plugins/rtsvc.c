/* rtsvc.c - a SERVICE provider and its user, for the tests of reloading a
 * plugin that another one uses (tests/reload, case "dependents").
 *
 * Built with -DRTS_PROVIDER: plugin "rt_svc", one SERVICE facet "rt_svc"
 * whose vtable's tag() answers RTS_TAG ("v1", "v2": which build).
 * Built without it: plugin "rt_user", whose init looks the facet up (and
 * so uses rt_svc) and whose route rt_user_tag (310) answers "user-" and
 * what the provider's tag() says now: a user still calling an old build
 * would answer its old tag; and rt_user_slow (311), args a delay in ms,
 * which defers and answers "slow-" and the provider's tag when its timer
 * fires: a call into the provider's code after a reload published, made
 * by the old user instance through the old provider; and rt_user_later
 * (312), args a delay in ms, which answers at once and arms a timer that
 * appends "rt_user later TAG" (the provider's tag then) to the fini file:
 * an instance held by its timer alone, calling its provider; and
 * rt_user_fail (313), which returns -EIO: a handler that fails; and
 * rt_user_positive (314), which writes "ok" and returns 7: a handler that
 * returns a positive value by mistake.
 * Config of both: "fini_file" (optional), where fini appends one line,
 * "NAME VERSION fini", so a test sees the order in which instances went. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#ifndef RTS_VERSION
#define RTS_VERSION "1.0.0"
#endif
#ifndef RTS_TAG
#define RTS_TAG "v1"
#endif

/* The SERVICE facet's vtable: sized, as every vtable. */
typedef struct rts_vtable {
	uint32_t size;
	const char *(*tag)(void *self);
} rts_vtable;

struct rts {
	const dx_host_api *host;
	char *fini_file;
	dx_facet_ref svc; /* rt_user: the provider */
};

static void rts_note(const struct rts *r, const char *line, int n)
{
	int fd = open(r->fini_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) != n)
		r->host->log(r->host, DX_LOG_ERROR, "short write");
	close(fd);
}

static void rts_fini(void *self)
{
	struct rts *r = self;
	if (r->fini_file) {
		char line[128];
		int n = snprintf(line, sizeof line, "%s " RTS_VERSION " fini\n",
#ifdef RTS_PROVIDER
				 "rt_svc"
#else
				 "rt_user"
#endif
		);
		rts_note(r, line, n);
	}
	free(r->fini_file);
	free(r);
}

static int rts_init(const dx_host_api *host, const dx_config *config,
		    void **self)
{
	static const char *const keys[] = {"fini_file", NULL};
	const char *fini_file = NULL;
	int rc = host->config_keys(host, config, keys);
	if (rc == 0)
		rc = host->config_str(host, config, "fini_file", NULL,
				      &fini_file);
	if (rc < 0)
		return rc;
	struct rts *r = calloc(1, sizeof *r);
	if (!r || (fini_file && !(r->fini_file = strdup(fini_file)))) {
		free(r);
		return host->fail(host, -ENOMEM, "out of memory");
	}
	r->host = host;
#ifndef RTS_PROVIDER
	if (host->lookup(host, DX_FACET_SERVICE, "rt_svc", &r->svc) < 0) {
		free(r->fini_file);
		free(r);
		return host->fail(host, -ENOENT, "no SERVICE \"rt_svc\"");
	}
#endif
	*self = r;
	return 0;
}

#ifdef RTS_PROVIDER
static const char *rts_tag(void *self)
{
	(void)self;
	return RTS_TAG;
}

static const rts_vtable rts_vt = {sizeof rts_vt, rts_tag};

static const dx_facet rts_facets[] = {
	{DX_FACET_SERVICE, "rt_svc", &rts_vt},
};

DX_PLUGIN(.name = "rt_svc", .version = RTS_VERSION,
	  .description = "a SERVICE for the reload tests (build " RTS_TAG ")",
	  DX_FACETS(rts_facets), .init = rts_init, .fini = rts_fini)
#else
static int rts_user_call(void *self, const dx_request *req, dx_response *res)
{
	(void)req;
	const struct rts *r = self;
	const rts_vtable *vt = r->svc.vtable;
	char out[64];
	int n = snprintf(out, sizeof out, "user-%s", vt->tag(r->svc.self));
	return dx_response_write(res, out, (size_t)n);
}

struct rts_slow {
	const struct rts *r;
	dx_pending *pending;
};

static void rts_slow_fire(void *arg)
{
	struct rts_slow *s = arg;
	const rts_vtable *vt = s->r->svc.vtable;
	char out[64];
	int n = snprintf(out, sizeof out, "slow-%s", vt->tag(s->r->svc.self));
	s->r->host->complete(s->r->host, s->pending, 0, out, (size_t)n);
	free(s);
}

static int rts_slow_call(void *self, const dx_request *req, dx_response *res)
{
	const struct rts *r = self;
	unsigned ms = 0;
	for (size_t i = 0; i < req->body_len && ms < 60000; i++)
		ms = ms * 10 + (unsigned)(req->body[i] - '0');
	struct rts_slow *s = calloc(1, sizeof *s);
	if (!s || !(s->pending = r->host->defer(r->host, req))) {
		free(s);
		return -ENOMEM;
	}
	s->r = r;
	if (r->host->timer(r->host, (uint64_t)ms * 1000000u, rts_slow_fire,
			   s) < 0) {
		r->host->complete(r->host, s->pending, 503, "no timer", 8);
		free(s);
	}
	(void)res;
	return DX_PENDING;
}

/* Fails the way a handler's bug would: a negative errno. */
static int rts_fail_call(void *self, const dx_request *req, dx_response *res)
{
	(void)self;
	(void)req;
	(void)res;
	return -EIO;
}

static int rts_positive_call(void *self, const dx_request *req,
			     dx_response *res)
{
	(void)self;
	(void)req;
	dx_response_write(res, "ok", 2);
	return 7;
}

static void rts_later_fire(void *arg)
{
	const struct rts *r = arg;
	const rts_vtable *vt = r->svc.vtable;
	char line[64];
	int n = snprintf(line, sizeof line, "rt_user later %s\n",
			 vt->tag(r->svc.self));
	if (r->fini_file)
		rts_note(r, line, n);
}

static int rts_later_call(void *self, const dx_request *req, dx_response *res)
{
	const struct rts *r = self;
	unsigned ms = 0;
	for (size_t i = 0; i < req->body_len && ms < 60000; i++)
		ms = ms * 10 + (unsigned)(req->body[i] - '0');
	if (r->host->timer(r->host, (uint64_t)ms * 1000000u, rts_later_fire,
			   (void *)r) < 0)
		return dx_response_error(res, 503, "no timer");
	return dx_response_write(res, "user-later", 10);
}

static const dx_route rts_routes[] = {
	{.id = 310, .name = "rt_user_tag", .call = rts_user_call},
	{.id = 311, .name = "rt_user_slow", .call = rts_slow_call},
	{.id = 312, .name = "rt_user_later", .call = rts_later_call},
	{.id = 313, .name = "rt_user_fail", .call = rts_fail_call},
	{.id = 314, .name = "rt_user_positive", .call = rts_positive_call},
};

static const dx_routes_vtable rts_routes_vt = DX_ROUTES(rts_routes);

static const dx_facet rts_facets[] = {
	{DX_FACET_ROUTES, "rt_user", &rts_routes_vt},
};

DX_PLUGIN(.name = "rt_user", .version = RTS_VERSION,
	  .description = "uses rt_svc's SERVICE facet (reload tests)",
	  DX_FACETS(rts_facets), .init = rts_init, .fini = rts_fini)
#endif
