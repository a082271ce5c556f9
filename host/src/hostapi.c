/* hostapi.c - the dx_host_api table each plugin is handed at init.
 *
 * Each plugin gets its own copy of the table inside its registry entry, so
 * every call can find out which plugin is calling from the table pointer
 * alone: no global "current plugin" variable, no lookups. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostapi_offline.h"
#include "manifest.h"
#include "path.h"
#include "registry_int.h"
#include "async.h"
#include "timer.h"
#include "worker.h"

static dx_plugin_entry *dx_entry(const dx_host_api *host)
{
	return (dx_plugin_entry *)host; /* api is the entry's first member */
}

static void api_log(const dx_host_api *host, int level, const char *fmt, ...)
{
	dx_plugin_entry *e = dx_entry(host);
	va_list ap;
	va_start(ap, fmt);
	dx_registry_emit(e->reg, level, e->mod.desc->name, fmt, ap);
	va_end(ap);
}

static int api_fail(const dx_host_api *host, int code, const char *fmt, ...)
{
	dx_plugin_entry *e = dx_entry(host);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dx_diag_add(&e->errors, "%s", msg);
	return code;
}

static int api_config_str(const dx_host_api *host, const dx_config *cfg,
			  const char *key, const char *def, const char **out)
{
	return dx_config_get_str(cfg, key, def, out, &dx_entry(host)->errors);
}

static int api_config_file(const dx_host_api *host, const dx_config *cfg,
			   const char *key, const char *def, const char **out)
{
	dx_plugin_entry *e = dx_entry(host);
	const char *s = NULL;
	int rc = dx_config_get_str(cfg, key, def, &s, &e->errors);
	*out = s;
	const dx_manifest *m = e->reg->manifest;
	if (rc < 0 || !s || dx_path_root(s) || !m || !m->dir)
		return rc;
	char *abs = NULL;
	char **kept = realloc(e->paths, (e->path_count + 1) * sizeof *kept);
	if (kept)
		e->paths = kept;
	if (!kept || !(abs = dx_path_join(m->dir, s))) {
		dx_diag_add(&e->errors, "out of memory");
		return -ENOMEM;
	}
	e->paths[e->path_count++] = abs;
	*out = abs;
	return 0;
}

static bool api_dry_run(const dx_host_api *host)
{
	return dx_entry(host)->reg->opts.dry_run;
}

static int api_config_int(const dx_host_api *host, const dx_config *cfg,
			  const char *key, int64_t def, int64_t min, int64_t max,
			  int64_t *out)
{
	return dx_config_get_int(cfg, key, def, min, max, out,
				 &dx_entry(host)->errors);
}

static int api_config_bool(const dx_host_api *host, const dx_config *cfg,
			   const char *key, bool def, bool *out)
{
	return dx_config_get_bool(cfg, key, def, out, &dx_entry(host)->errors);
}

static int api_config_double(const dx_host_api *host, const dx_config *cfg,
			     const char *key, double def, double *out)
{
	return dx_config_get_double(cfg, key, def, out,
				    &dx_entry(host)->errors);
}

static bool api_config_has(const dx_host_api *host, const dx_config *cfg,
			   const char *key)
{
	return dx_config_has(cfg, key);
}

static const dx_config *api_config_child(const dx_host_api *host,
					 const dx_config *cfg, const char *key)
{
	return dx_config_child(cfg, key, &dx_entry(host)->errors);
}

static size_t api_config_len(const dx_host_api *host, const dx_config *cfg)
{
	return dx_config_len(cfg);
}

static const dx_config *api_config_at(const dx_host_api *host,
				      const dx_config *cfg, size_t i)
{
	return dx_config_at(cfg, i);
}

static const char *api_config_path(const dx_host_api *host,
				   const dx_config *cfg)
{
	return dx_config_node_path(cfg);
}

static int api_config_error(const dx_host_api *host, const dx_config *cfg,
			    const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = dx_config_verror(cfg, key, &dx_entry(host)->errors, fmt, ap);
	va_end(ap);
	return rc;
}

static int api_config_keys(const dx_host_api *host, const dx_config *cfg,
			   const char *const *allowed)
{
	return dx_config_check_keys(cfg, allowed, &dx_entry(host)->errors);
}

static int api_lookup(const dx_host_api *host, uint32_t kind,
		      const char *name, dx_facet_ref *out)
{
	return dx_registry_lookup_by(dx_entry(host), kind, name, out);
}

static uint64_t api_now_ns(const dx_host_api *host, int clock)
{
	struct timespec ts;
	clock_gettime(clock == DX_CLOCK_REALTIME ? CLOCK_REALTIME
						 : CLOCK_MONOTONIC,
		      &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned api_worker_count(const dx_host_api *host)
{
	return dx_entry(host)->reg->opts.workers;
}

static int api_worker_id(const dx_host_api *host)
{
	const dx_worker *w = dx_worker_current;
	return w ? (int)w->id : -1;
}

/* Metrics (metrics.h): found by name, so a reloaded build of a plugin
 * picks up the values its predecessor left. A worker writes its own cell
 * (cell id + 1), any other thread the shared cell 0. */
static unsigned dx_metric_cell(void)
{
	const dx_worker *w = dx_worker_current;
	return w ? w->id + 1 : 0;
}

static struct dx_counter *dx_metric(const dx_host_api *host, const char *name,
				    const char *help, dx_pmetric_kind kind,
				    const double *bounds, size_t nb)
{
	dx_plugin_entry *e = dx_entry(host);
	const char *why = NULL;
	struct dx_counter *c =
		dx_metrics_plugin(e->reg->metrics, e->mod.desc->name, name,
				  help, kind, bounds, nb, &why);
	if (!c)
		dx_registry_log(e->reg, DX_LOG_WARN, "%s: metric \"%s\": %s",
				e->mod.desc->name, name ? name : "(null)",
				why ? why : "out of memory");
	return c;
}

static dx_counter *api_counter(const dx_host_api *host, const char *name,
			       const char *help)
{
	return dx_metric(host, name, help, DX_PM_COUNTER, NULL, 0);
}

static void api_counter_add(dx_counter *c, uint64_t n)
{
	dx_pmetric_add(c, dx_metric_cell(), n);
}

static uint64_t api_counter_get(const dx_counter *c)
{
	return dx_pmetric_sum(c);
}

static dx_gauge *api_gauge(const dx_host_api *host, const char *name,
			   const char *help)
{
	return (dx_gauge *)dx_metric(host, name, help, DX_PM_GAUGE, NULL, 0);
}

static void api_gauge_set(dx_gauge *g, double v)
{
	dx_pmetric_gauge_set((struct dx_counter *)g, v);
}

static void api_gauge_add(dx_gauge *g, double v)
{
	dx_pmetric_gauge_add((struct dx_counter *)g, v);
}

static double api_gauge_get(const dx_gauge *g)
{
	return dx_pmetric_gauge_get((const struct dx_counter *)g);
}

static dx_histogram *api_histogram(const dx_host_api *host, const char *name,
				   const char *help, const double *bounds,
				   size_t count)
{
	return (dx_histogram *)dx_metric(host, name, help, DX_PM_HISTOGRAM,
					 bounds, count);
}

static void api_histogram_observe(dx_histogram *h, double v)
{
	dx_pmetric_observe((struct dx_counter *)h, dx_metric_cell(), v);
}

static dx_pending *api_defer(const dx_host_api *host, const dx_request *req)
{
	return dx_worker_defer(req);
}

static int api_complete(const dx_host_api *host, dx_pending *p,
			uint16_t status, const void *body, size_t len)
{
	return p ? dx_worker_complete(p, status, body, len) : -EINVAL;
}

/* Every callback the host will make into a plugin later holds its
 * instance (dx_entry_hold), so a replaced instance is finalised only once
 * nothing can call it any more. Timers carry the holder as their udata,
 * posts in their post; background tasks (off the request path) go
 * through a small trampoline. */
static int api_timer(const dx_host_api *host, uint64_t delay_ns,
		     void (*fn)(void *arg), void *arg)
{
	dx_plugin_entry *e = dx_entry(host);
	dx_entry_hold(e);
	int rc = dx_worker_timer_held(delay_ns, fn, arg, e);
	if (rc < 0)
		dx_entry_release(e);
	return rc;
}

typedef struct dx_held_call {
	dx_plugin_entry *e;
	void (*fn)(void *arg);
	void (*drop)(void *arg);
	void *arg;
} dx_held_call;

static dx_held_call *dx_held_new(dx_plugin_entry *e, void (*fn)(void *),
				 void (*drop)(void *), void *arg)
{
	dx_held_call *h = malloc(sizeof *h);
	if (h) {
		*h = (dx_held_call){e, fn, drop, arg};
		dx_entry_hold(e);
	}
	return h;
}

static void dx_held_end(dx_held_call *h)
{
	dx_entry_release(h->e);
	free(h);
}

static void dx_held_run(void *arg)
{
	dx_held_call *h = arg;
	h->fn(h->arg);
	dx_held_end(h);
}

static void dx_held_drop(void *arg)
{
	dx_held_call *h = arg;
	if (h->drop)
		h->drop(h->arg);
	dx_held_end(h);
}

static int api_post(const dx_host_api *host, int worker,
		    void (*fn)(void *arg), void *arg)
{
	dx_plugin_entry *e = dx_entry(host);
	dx_entry_hold(e);
	int rc = dx_registry_post_held(e->reg, worker, fn, arg, e);
	if (rc < 0)
		dx_entry_release(e);
	return rc;
}

static dx_watch *api_watch(const dx_host_api *host, int fd, uint32_t events,
			   void (*fn)(void *arg, uint32_t revents), void *arg)
{
	dx_watch *x = dx_worker_watch(fd, events, fn, arg);
	if (x) {
		x->holder = dx_entry(host);
		dx_entry_hold(x->holder);
	}
	return x;
}

static void api_unwatch(const dx_host_api *host, dx_watch *watch)
{
	if (!watch)
		return;
	dx_plugin_entry *e = watch->holder;
	dx_worker_unwatch(watch);
	dx_entry_release(e);
}

static dx_stream *api_stream(const dx_host_api *host, const dx_request *req,
			     void (*on_close)(void *arg), void *arg)
{
	dx_stream *s = dx_worker_stream(req, on_close, arg);
	if (s) {
		s->holder = dx_entry(host);
		dx_entry_hold(s->holder);
	}
	return s;
}

static int api_stream_send(const dx_host_api *host, dx_stream *stream,
			   uint8_t opcode, const void *body, size_t len)
{
	return stream ? dx_stream_send(stream, opcode, body, len) : -EINVAL;
}

static void api_stream_end(const dx_host_api *host, dx_stream *stream)
{
	if (stream)
		dx_stream_end(stream);
}

static int api_enqueue(const dx_host_api *host, const char *name,
		       void (*fn)(void *arg), void (*drop)(void *arg),
		       void *arg)
{
	dx_plugin_entry *e = dx_entry(host);
	dx_registry *r = e->reg;
	if (!r->bg) {
		if (drop)
			drop(arg); /* the host is stopping: nothing will run */
		return DX_ESTATE;
	}
	dx_held_call *h = dx_held_new(e, fn, drop, arg);
	if (!h) {
		if (drop)
			drop(arg);
		return -ENOMEM;
	}
	return dx_bgqueue_push(r->bg, name, dx_held_run, dx_held_drop, h);
}

static int api_control(const dx_host_api *host, const char *cmd,
		       char *(*fn)(void *arg, const char *request), void *arg)
{
	dx_plugin_entry *e = dx_entry(host);
	dx_registry *r = e->reg;
	static const char *const builtin[] = {
		"status", "plugins", "stats", "swap",	 "reload",
		"load",	  "unload",  "apply", "drain", "metrics", NULL};
	for (size_t i = 0; builtin[i]; i++)
		if (strcmp(builtin[i], cmd) == 0)
			return -EEXIST;
	/* A new instance being prepared by a reload takes over the
	 * commands of the one it replaces, and those of older instances
	 * still retiring (their commands go with them). */
	for (size_t i = 0; i < r->ctl_count; i++) {
		const dx_plugin_entry *o = r->ctl_cmds[i].owner;
		if (strcmp(r->ctl_cmds[i].cmd, cmd) == 0 &&
		    (!e->replaces || o != e->replaces) &&
		    !dx_registry_is_retiring(r, o))
			return -EEXIST;
	}
	struct dx_ctl_cmd *t =
		realloc(r->ctl_cmds, (r->ctl_count + 1) * sizeof *t);
	if (!t)
		return -ENOMEM;
	r->ctl_cmds = t;
	char *copy = strdup(cmd);
	if (!copy)
		return -ENOMEM;
	t[r->ctl_count++] = (struct dx_ctl_cmd){copy, fn, arg, e};
	return 0;
}

/* A plugin's top-level section (see manifest.h for which keys are
 * sections), or with key NULL the manifest's directory, from which the
 * relative paths in a section are meant. */
static const dx_config *api_section(const dx_host_api *host, const char *key)
{
	dx_registry *r = dx_entry(host)->reg;
	if (!r->manifest)
		return NULL;
	if (!key) {
		if (!r->manifest_dir)
			r->manifest_dir = dx_config_string(r->manifest->dir, "");
		return r->manifest_dir;
	}
	if (!dx_manifest_section(r->manifest, key))
		return NULL; /* absent, or one of the host's own keys */
	if (!r->sections) {
		/* The root node is named "": its children are the sections. */
		r->sections = dx_config_section(r->manifest->root, "");
		if (!r->sections)
			return NULL;
	}
	return dx_config_child(r->sections, key, &dx_entry(host)->errors);
}

static const char *api_handoff_version(const dx_host_api *host)
{
	return dx_entry(host)->handoff_from;
}

static int api_stream_adopt(const dx_host_api *host, dx_stream *stream,
			    void (*on_close)(void *arg), void *arg)
{
	return stream ? dx_stream_adopt(stream, on_close, arg, dx_entry(host))
		      : -EINVAL;
}

void dx_hostapi_fill(dx_plugin_entry *e)
{
	e->api = (dx_host_api){
		.size = sizeof(dx_host_api),
		.abi_major = DX_ABI_MAJOR,
		.abi_minor = DX_ABI_MINOR,
		.log = api_log,
		.fail = api_fail,
		.config_str = api_config_str,
		.config_int = api_config_int,
		.config_bool = api_config_bool,
		.config_double = api_config_double,
		.config_has = api_config_has,
		.config_child = api_config_child,
		.config_len = api_config_len,
		.config_at = api_config_at,
		.config_path = api_config_path,
		.config_error = api_config_error,
		.config_keys = api_config_keys,
		.lookup = api_lookup,
		.now_ns = api_now_ns,
		.worker_count = api_worker_count,
		.worker_id = api_worker_id,
		.counter = api_counter,
		.counter_add = api_counter_add,
		.counter_get = api_counter_get,
		.defer = api_defer,
		.complete = api_complete,
		.timer = api_timer,
		.post = api_post,
		.watch = api_watch,
		.unwatch = api_unwatch,
		.stream = api_stream,
		.stream_send = api_stream_send,
		.stream_end = api_stream_end,
		.enqueue = api_enqueue,
		.control = api_control,
		.section = api_section,
		.handoff_version = api_handoff_version,
		.stream_adopt = api_stream_adopt,
		.config_file = api_config_file,
		.dry_run = api_dry_run,
		.gauge = api_gauge,
		.gauge_set = api_gauge_set,
		.gauge_add = api_gauge_add,
		.gauge_get = api_gauge_get,
		.histogram = api_histogram,
		.histogram_observe = api_histogram_observe,
	};
}

const dx_host_api *dx_hostapi_offline(void)
{
	dx_plugin_entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	dx_hostapi_fill(e);
	dx_host_api *a = &e->api;
	/* Keep log, fail and the config members: nothing else has a host
	 * behind it. */
	a->lookup = NULL;
	a->worker_count = NULL;
	a->counter = NULL;
	a->defer = NULL;
	a->complete = NULL;
	a->timer = NULL;
	a->post = NULL;
	a->watch = NULL;
	a->unwatch = NULL;
	a->stream = NULL;
	a->stream_send = NULL;
	a->stream_end = NULL;
	a->enqueue = NULL;
	a->control = NULL;
	a->section = NULL;
	a->handoff_version = NULL;
	a->stream_adopt = NULL;
	a->config_file = NULL;
	a->dry_run = NULL;
	a->gauge = NULL;
	a->histogram = NULL;
	a->log = NULL;
	return a;
}

const dx_diag *dx_hostapi_offline_errors(const dx_host_api *host)
{
	return &dx_entry(host)->errors;
}

void dx_hostapi_offline_free(const dx_host_api *host)
{
	if (!host)
		return;
	dx_plugin_entry *e = dx_entry(host);
	dx_diag_clear(&e->errors);
	free(e);
}
