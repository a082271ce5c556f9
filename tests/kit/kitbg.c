/* kitbg.c - a plugin for the test kit's own test (test_kit.c): answers
 * that come from elsewhere than the handler's own turn.
 *
 * Routes (ROUTES facet "kitbg"):
 *   kitbg.bg    (2001)  defers; a background task (host->enqueue) completes
 *                       it with "from background <args>": the answer
 *                       reaches the worker through its mailbox and wake
 *   kitbg.post  (2002)  defers; a host->post to the worker completes it
 *                       with "posted"
 *   kitbg.where (2003)  answers "worker N" (host->worker_id)
 * init logs "init on worker N" at info (N is -1 off a worker).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/plugin.h>
#include <dx/routes.h>

struct job {
	const dx_host_api *host;
	dx_pending *pending;
	size_t len;
	char args[64];
};

static struct job *job_new(void *self, const dx_request *req)
{
	const dx_host_api *host = self;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->host = host;
	j->len = req->body_len < sizeof j->args ? req->body_len :
						  sizeof j->args;
	memcpy(j->args, req->body, j->len);
	if (!(j->pending = host->defer(host, req))) {
		free(j);
		return NULL;
	}
	return j;
}

static void bg_run(void *arg)
{
	struct job *j = arg;
	char out[128];
	int n = snprintf(out, sizeof out, "from background %.*s", (int)j->len,
			 j->args);
	j->host->complete(j->host, j->pending, 0, out, (size_t)n);
	free(j);
}

static void bg_drop(void *arg)
{
	struct job *j = arg;
	j->host->complete(j->host, j->pending, 503, "dropped", 7);
	free(j);
}

static int bg_call(void *self, const dx_request *req, dx_response *res)
{
	struct job *j = job_new(self, req);
	if (!j)
		return -ENOMEM;
	j->host->enqueue(j->host, "kitbg", bg_run, bg_drop, j);
	return DX_PENDING;
}

static void post_run(void *arg)
{
	struct job *j = arg;
	j->host->complete(j->host, j->pending, 0, "posted", 6);
	free(j);
}

static int post_call(void *self, const dx_request *req, dx_response *res)
{
	struct job *j = job_new(self, req);
	if (!j)
		return -ENOMEM;
	if (j->host->post(j->host, -1, post_run, j) < 0) {
		j->host->complete(j->host, j->pending, 503, "no post", 7);
		free(j);
	}
	return DX_PENDING;
}

static int where_call(void *self, const dx_request *req, dx_response *res)
{
	const dx_host_api *host = self;
	return dx_response_printf(res, "worker %d", host->worker_id(host));
}

static int kitbg_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	host->log(host, DX_LOG_INFO, "init on worker %d",
		  host->worker_id(host));
	*self = (void *)host;
	return 0;
}

static const dx_route kitbg_routes[] = {
	{.id = 2001, .name = "kitbg.bg", .call = bg_call},
	{.id = 2002, .name = "kitbg.post", .call = post_call},
	{.id = 2003, .name = "kitbg.where", .call = where_call},
};

static const dx_routes_vtable kitbg_vtable = DX_ROUTES(kitbg_routes);

static const dx_facet kitbg_facets[] = {
	{DX_FACET_ROUTES, "kitbg", &kitbg_vtable},
};

DX_PLUGIN(.name = "kitbg", .version = "1.0.0",
	  .description = "answers from a background thread and a post",
	  DX_FACETS(kitbg_facets), .init = kitbg_init)
