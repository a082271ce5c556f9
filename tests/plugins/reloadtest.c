/* reloadtest.c - the live-reload tests' plugin (tests/reload), one source
 * built several times (see meson.build), every build named "reloadtest" so
 * the host can reload one into another.
 *
 * Routes (ROUTES facet "reloadtest"):
 *   rt_version (300)  answers RT_TAG ("v1", "v2"): which build ran it.
 *   rt_slow    (301)  args: a delay in milliseconds, ASCII decimal. Defers,
 *                     arms a timer on its worker and answers RT_TAG "-slow"
 *                     when it fires: a request that outlives a reload.
 *   rt_later   (302)  args: a delay in ms. Answers RT_TAG at once and arms
 *                     a timer that only notes "rt_later fired" (below): a
 *                     timer that outlives both its request and a reload.
 * Config: "fini_file" (optional path). Each line is appended with one
 * write() on an O_APPEND descriptor, so the file's order is the order in
 * which things happened:
 *   "reloadtest VERSION rt_slow answering\n"  just before an rt_slow
 *                                             answer is completed
 *   "reloadtest VERSION rt_later fired\n"     when an rt_later timer runs
 *   "reloadtest VERSION fini\n"               when fini runs
 * so a test sees whether an old build's fini ran before the request it
 * still owed was answered.
 *
 *   RT_VERSION, RT_TAG   the build's version and what rt_version answers
 *   RT_INIT_FAILS        init always fails (host->fail)
 *   RT_HANDMADE          write the descriptor by hand, with RT_ABI_MAJOR
 *                        and RT_ABI_MINOR in its prefix (a loader refusal)
 *   RT_HANDOFF           a state handoff (tests/reload/test_paths.c): the
 *                        state is a call count and how many imports it
 *                        went through; route rt_state (303) counts a call
 *                        and answers "TAG n=COUNT imports=IMPORTS". Config
 *                        "export_fails" (bool): its handoff_export fails,
 *                        with a reason (host->fail), so a test sees a
 *                        handback that cannot be made.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#ifndef RT_VERSION
#define RT_VERSION "1.0.0"
#endif
#ifndef RT_TAG
#define RT_TAG "v1"
#endif

#define RT_SLOW_MAX_MS 60000u

/* What a handoff carries (RT_HANDOFF). */
struct rt_state {
	unsigned long count;   /* rt_state calls, across the builds */
	unsigned long imports; /* handoffs this state went through */
};

struct rt {
	const dx_host_api *host;
	char *fini_file; /* malloc'd, or NULL */
	/* RT_HANDOFF: the state, what export hands out (stable until the
	 * next export), and whether export refuses. The handoff runs on the
	 * main thread, rt_state on a worker: the tests call rt_state one
	 * call at a time and never during a handoff. */
	struct rt_state state, out;
	bool export_fails;
};

/* One rt_slow in flight: owned by its timer, freed when it fires. */
struct rt_slow {
	struct rt *rt;
	dx_pending *pending;
};

/* Append line to the fini file (when there is one). Any thread. */
static void rt_note(const struct rt *rt, const char *line)
{
	if (!rt->fini_file)
		return;
	int fd = open(rt->fini_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0644);
	if (fd < 0) {
		rt->host->log(rt->host, DX_LOG_ERROR, "%s: %s", rt->fini_file,
			      strerror(errno));
		return;
	}
	size_t n = strlen(line);
	if (write(fd, line, n) != (ssize_t)n)
		rt->host->log(rt->host, DX_LOG_ERROR, "%s: short write",
			      rt->fini_file);
	close(fd);
}

static int rt_version_call(void *self, const dx_request *req,
			   dx_response *res)
{
	return dx_response_write(res, RT_TAG, strlen(RT_TAG));
}

/* On the worker that deferred the request, after the delay. */
static void rt_slow_fire(void *arg)
{
	struct rt_slow *s = arg;
	const struct rt *rt = s->rt;
	static const char body[] = RT_TAG "-slow";
	rt_note(rt, "reloadtest " RT_VERSION " rt_slow answering\n");
	int rc = rt->host->complete(rt->host, s->pending, 0, body,
				    sizeof body - 1);
	if (rc < 0)
		rt->host->log(rt->host, DX_LOG_ERROR, "complete: %s",
			      dx_strerror(rc));
	free(s);
}

/* The request's body as a delay in ms (0..RT_SLOW_MAX_MS): 0 and *ms, or
 * an RpcError 400 written into res and -1. */
static int rt_delay(const dx_request *req, dx_response *res, unsigned *ms)
{
	/* The body is not NUL-terminated: parse exactly its bytes. */
	*ms = 0;
	for (size_t i = 0; i < req->body_len && *ms <= RT_SLOW_MAX_MS; i++)
		*ms = req->body[i] >= '0' && req->body[i] <= '9'
			      ? *ms * 10 + (unsigned)(req->body[i] - '0')
			      : RT_SLOW_MAX_MS + 1;
	if (*ms <= RT_SLOW_MAX_MS)
		return 0;
	dx_response_error(res, 400, "%s takes a delay in ms, 0..%u",
			  req->route_name ? req->route_name : "this route",
			  RT_SLOW_MAX_MS);
	return -1;
}

/* On the worker that armed it; rt is still this build's instance. */
static void rt_later_fire(void *arg)
{
	rt_note(arg, "reloadtest " RT_VERSION " rt_later fired\n");
}

static int rt_later_call(void *self, const dx_request *req, dx_response *res)
{
	unsigned ms;
	if (rt_delay(req, res, &ms) < 0)
		return 0;
	struct rt *rt = self;
	int rc = rt->host->timer(rt->host, (uint64_t)ms * 1000000u,
				 rt_later_fire, rt);
	if (rc < 0)
		return dx_response_error(res, 503, "rt_later: no timer");
	return dx_response_write(res, RT_TAG, strlen(RT_TAG));
}

static int rt_slow_call(void *self, const dx_request *req, dx_response *res)
{
	struct rt *rt = self;
	unsigned ms;
	if (rt_delay(req, res, &ms) < 0)
		return 0;
	struct rt_slow *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->rt = rt;
	s->pending = rt->host->defer(rt->host, req);
	if (!s->pending) {
		free(s);
		return -ENOMEM;
	}
	int rc = rt->host->timer(rt->host, (uint64_t)ms * 1000000u,
				 rt_slow_fire, s);
	if (rc < 0) {
		/* Deferred already: the answer has to go through complete. */
		static const char why[] = "rt_slow: no timer";
		rt->host->complete(rt->host, s->pending, 503, why,
				   sizeof why - 1);
		free(s);
	}
	return DX_PENDING;
}

static int rt_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
#ifdef RT_INIT_FAILS
	return host->fail(host, DX_EINIT,
			  "reloadtest " RT_VERSION
			  " refuses to start (a test build)");
#else
	static const char *const keys[] = {"fini_file", "export_fails", NULL};
	int rc = host->config_keys(host, config, keys);
	if (rc < 0)
		return rc;
	const char *fini_file = NULL;
	rc = host->config_str(host, config, "fini_file", NULL, &fini_file);
	if (rc < 0)
		return rc;
	bool export_fails = false;
	rc = host->config_bool(host, config, "export_fails", false,
			       &export_fails);
	if (rc < 0)
		return rc;
	struct rt *rt = calloc(1, sizeof *rt);
	if (!rt || (fini_file && !(rt->fini_file = strdup(fini_file)))) {
		free(rt);
		return host->fail(host, -ENOMEM, "out of memory");
	}
	rt->host = host;
	rt->export_fails = export_fails;
	*self = rt;
	return 0;
#endif
}

static void rt_fini(void *self)
{
	struct rt *rt = self;
	rt_note(rt, "reloadtest " RT_VERSION " fini\n");
	free(rt->fini_file);
	free(rt);
}

#ifdef RT_HANDOFF
static int rt_state_call(void *self, const dx_request *req, dx_response *res)
{
	(void)req;
	struct rt *rt = self;
	char out[96];
	int n = snprintf(out, sizeof out, RT_TAG " n=%lu imports=%lu",
			 ++rt->state.count, rt->state.imports);
	return dx_response_write(res, out, (size_t)n);
}

static int rt_export(void *self, const void **data, size_t *len)
{
	struct rt *rt = self;
	if (rt->export_fails)
		return rt->host->fail(rt->host, -EIO,
				      "reloadtest " RT_VERSION
				      " refuses to export (export_fails)");
	rt->out = rt->state;
	*data = &rt->out;
	*len = sizeof rt->out;
	return 0;
}

static int rt_import(void *self, const void *data, size_t len)
{
	struct rt *rt = self;
	if (len != sizeof rt->state)
		return rt->host->fail(rt->host, -EINVAL,
				      "reloadtest: a state of %zu bytes", len);
	memcpy(&rt->state, data, len);
	rt->state.imports++;
	return 0;
}
#endif

static const dx_route rt_routes[] = {
	{.id = 300, .name = "rt_version", .call = rt_version_call},
	{.id = 301, .name = "rt_slow", .call = rt_slow_call},
	{.id = 302, .name = "rt_later", .call = rt_later_call},
#ifdef RT_HANDOFF
	{.id = 303, .name = "rt_state", .call = rt_state_call},
#endif
};

static const dx_routes_vtable rt_routes_vt = DX_ROUTES(rt_routes);

static const dx_facet rt_facets[] = {
	{DX_FACET_ROUTES, "reloadtest", &rt_routes_vt},
};

#define RT_FIELDS                                                              \
	.name = "reloadtest", .version = RT_VERSION,                           \
	.description = "live-reload test plugin (build " RT_TAG ")",           \
	DX_FACETS(rt_facets), .init = rt_init, .fini = rt_fini

#ifdef RT_HANDOFF
DX_PLUGIN(RT_FIELDS, .handoff_export = rt_export,
	  .handoff_import = rt_import)
#elif !defined(RT_HANDMADE)
DX_PLUGIN(RT_FIELDS)
#else
#ifndef RT_ABI_MAJOR
#define RT_ABI_MAJOR DX_ABI_MAJOR
#endif
#ifndef RT_ABI_MINOR
#define RT_ABI_MINOR DX_ABI_MINOR
#endif

static const dx_plugin rt_desc = {
	.magic = DX_PLUGIN_MAGIC,
	.abi_major = RT_ABI_MAJOR,
	.abi_minor = RT_ABI_MINOR,
	.size = sizeof(dx_plugin),
	RT_FIELDS,
};

DX_EXPORT const dx_plugin *dx_plugin_v1(void);
DX_EXPORT const dx_plugin *dx_plugin_v1(void)
{
	return &rt_desc;
}
#endif
