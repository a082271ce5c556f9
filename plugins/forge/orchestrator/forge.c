/* forge - the tool orchestrator plugin (docs/architecture.md section 11).
 *
 * Tools come from the manifest's top-level "forge": {"tools": [...]}, the
 * plugin's own section (host->section), checked by forge_schema.c: names,
 * drivers, dependencies without cycles.
 * Each is run by a FORGE_DRIVER facet ("process" by default, from the
 * forge_process plugin). The state machine is orch.c; this file feeds it
 * events from the host's worker 0 (a pidfd watch per process, timers for
 * backoff, grace periods and health checks) and carries out what it asks.
 * forge_control.c answers the control command {"cmd": "forge", "op": ...}
 * that `dx forge status|up|stop|restart|logs` send.
 *
 * Config (plugins[].config of "forge"), every key optional:
 *   log_dir                  where TOOL.log files go (default
 *                            ".dx/forge/logs", relative to the host's
 *                            working directory; created when missing)
 *   autostart                start every tool when the host starts, in
 *                            dependency and priority order (default true)
 *   backoff_ms, backoff_max_ms   restart delay: 100 ms doubling to 5000
 *   start_limit_burst, start_limit_interval_ms
 *                            this many restarts within the interval mark
 *                            the tool Degraded (default 5 in 10000 ms)
 *   health_interval_ms       checks of a healthy tool (default 1000; until
 *                            healthy, every 100 ms)
 *   health_timeout_ms        a check that takes longer fails (default 2000)
 *   health_failures          consecutive failed checks before a healthy
 *                            tool counts as unhealthy again (default 3)
 *
 * Threads: the control command runs on the host's control thread; all
 * processes are started, watched and reaped on worker 0. forge.lock keeps
 * them apart. fini runs after the workers stopped: it stops every tool
 * itself, blocking (SIGTERM to each group, SIGKILL after the grace
 * period, every child reaped).
 *
 * Reload (`dx ctl reload forge`): the tools keep running, with the same
 * PIDs, and the new instance supervises them from then on (forge_handoff.c
 * moves them on worker 0). A new instance that finds a running forge in
 * its init is such a successor: it starts nothing itself and waits for
 * the import.
 *
 * Retire (ABI 1.1; unload, a reload's old instance, a new one never
 * published): the instance stops supervising, and worker 0 lets go of its
 * pidfd and health-check watches (forge_on_retire), so that once its last
 * timer fired the host finalises it. Its processes and their pidfds stay:
 * fini stops them, as at shutdown, blocking until each is reaped. One
 * stop path for unload and shutdown (and for a host without retire), and
 * the waiting (grace period, SIGKILL, reap) stays out of retire, which
 * runs on the main thread and must not block. An instance that handed
 * its tools over has none left, and its retire touches only itself. A
 * fresh instance loaded while an unloaded one still retires starts its
 * tools once that one's fini stopped them (forge_waits): two copies of a
 * tool would fight over its port and log.
 *
 * Needs the host's workers: a manifest with an IO plugin (io_epoll or
 * io_uring); listeners are not needed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dx/io.h>
#include <dx/routes.h>

#include "forge_int.h"
#include "forge_schema.h"

#define MS (UINT64_C(1000000))

uint64_t forge_now(const forge *f)
{
	return f->host->now_ns(f->host, DX_CLOCK_MONOTONIC);
}

/* ---- timers ---- */

enum { TICK, PROBE_TIMEOUT };

typedef struct forge_timer {
	forge *f;
	int kind;
	uint64_t due;
	size_t tool;
	unsigned gen;
} forge_timer;

static void forge_on_timer(void *arg);

static int forge_set_timer(forge *f, int kind, uint64_t due, size_t tool,
			   unsigned gen)
{
	forge_timer *t = malloc(sizeof *t);
	if (!t)
		return -ENOMEM;
	*t = (forge_timer){f, kind, due, tool, gen};
	uint64_t now = forge_now(f);
	int rc = f->host->timer(f->host, due > now ? due - now : 0,
				forge_on_timer, t);
	if (rc < 0)
		free(t);
	return rc;
}

/* One timer for the earliest thing the orchestrator waits for. */
static void forge_arm(forge *f)
{
	uint64_t due = dx_orch_next_due(f->orch);
	if (f->draining || due == UINT64_MAX || due >= f->tick_due)
		return;
	if (forge_set_timer(f, TICK, due, 0, 0) == 0)
		f->tick_due = due;
}

static void forge_unwatch(forge *f, dx_watch *w)
{
	if (w)
		f->host->unwatch(f->host, w);
}

/* ---- health ---- */

static void forge_health_result(forge_tool *t, bool ok)
{
	forge *f = t->f;
	const dx_orch_tool *o = dx_orch_at(f->orch, t->idx);
	bool was = o->healthy;
	dx_orch_health(f->orch, t->idx, ok, forge_now(f));
	if (!was && o->healthy)
		f->host->log(f->host, DX_LOG_INFO, "%s: healthy (pid %d)",
			     t->desc.name, t->proc.pid);
	else if (was && !o->healthy)
		f->host->log(f->host, DX_LOG_WARN,
			     "%s: unhealthy: %u checks failed (%s)",
			     t->desc.name, o->health_fails, t->health_text);
}

static void forge_probe_drop(forge_tool *t)
{
	if (!t->probe)
		return;
	forge_unwatch(t->f, t->probe_watch);
	t->probe_watch = NULL;
	t->vt->health_cancel(t->drv_self, t->probe);
	t->probe = NULL;
}

static void forge_on_probe(void *arg, uint32_t revents)
{
	forge_tool *t = arg;
	forge *f = t->f;
	pthread_mutex_lock(&f->lock);
	if (t->probe) {
		/* Unwatch first: a finished probe closes its fd. */
		forge_unwatch(f, t->probe_watch);
		t->probe_watch = NULL;
		int rc = t->vt->health_poll(t->drv_self, t->probe, revents);
		if (rc == DX_FORGE_PENDING) {
			/* Not done yet: watch again (its timer still runs). */
			t->probe_watch = f->host->watch(f->host, t->probe_fd,
							t->probe_events,
							forge_on_probe, t);
			if (t->probe_watch) {
				pthread_mutex_unlock(&f->lock);
				return;
			}
			forge_probe_drop(t);
			rc = DX_FORGE_UNHEALTHY;
		}
		t->probe = NULL;
		forge_health_result(t, rc == DX_FORGE_HEALTHY);
		forge_pump(f);
	}
	pthread_mutex_unlock(&f->lock);
}

static void forge_check(forge_tool *t)
{
	forge *f = t->f;
	dx_forge_probe *probe = NULL;
	int fd = -1;
	uint32_t events = 0;
	forge_probe_drop(t);
	int rc = t->vt->health(t->drv_self, &t->desc, &t->proc, &probe, &fd,
			       &events);
	if (rc == DX_FORGE_PENDING) {
		t->probe = probe;
		t->probe_fd = fd;
		t->probe_events = events;
		t->probe_gen++;
		t->probe_watch =
			f->host->watch(f->host, fd, events, forge_on_probe, t);
		uint64_t due = forge_now(f) + f->health_timeout_ms * MS;
		if (t->probe_watch &&
		    forge_set_timer(f, PROBE_TIMEOUT, due, t->idx,
				    t->probe_gen) == 0)
			return;
		forge_probe_drop(t);
		rc = DX_FORGE_UNHEALTHY;
	}
	forge_health_result(t, rc == DX_FORGE_HEALTHY);
}

static void forge_probe_timeout(forge *f, const forge_timer *x)
{
	forge_tool *t = &f->tools[x->tool];
	if (!t->probe || t->probe_gen != x->gen)
		return;
	forge_probe_drop(t);
	f->host->log(f->host, DX_LOG_DEBUG, "%s: health check timed out (%s)",
		     t->desc.name, t->health_text);
	forge_health_result(t, false);
	forge_pump(f);
}

/* ---- processes ---- */

static void forge_on_exit(void *arg, uint32_t revents)
{
	forge_tool *t = arg;
	forge *f = t->f;
	int status = 0;
	pthread_mutex_lock(&f->lock);
	if (t->proc.pid > 0 &&
	    t->vt->reap(t->drv_self, &t->desc, &t->proc, false, &status) == 0) {
		forge_unwatch(f, t->watch);
		t->watch = NULL;
		close(t->proc.pidfd);
		forge_probe_drop(t);
		char text[32];
		f->host->log(f->host, status ? DX_LOG_WARN : DX_LOG_INFO,
			     "%s: pid %d ended: %s", t->desc.name, t->proc.pid,
			     dx_orch_exit_text(status, text, sizeof text));
		t->proc = (dx_forge_proc){0, -1};
		f->host->counter_add(f->c_exits, 1);
		const dx_orch_tool *o = dx_orch_at(f->orch, t->idx);
		unsigned restarts = o->restarts;
		dx_orch_exited(f->orch, t->idx, status, forge_now(f));
		if (o->degraded)
			f->host->log(f->host, DX_LOG_ERROR,
				     "%s: degraded: %s", t->desc.name, o->why);
		else if (o->restarts != restarts)
			f->host->log(f->host, DX_LOG_INFO,
				     "%s: restarting in %llu ms (restart %u)",
				     t->desc.name,
				     (unsigned long long)((o->restart_due -
							   forge_now(f)) /
							  MS),
				     o->restarts);
		if (o->restarts != restarts)
			f->host->counter_add(f->c_restarts, 1);
		forge_pump(f);
	}
	pthread_mutex_unlock(&f->lock);
}

/* Watch process p of t; when that fails, p is killed and reaped (a
 * process nobody watches would never be reaped): *status then says how
 * it ended. 0 or a negative errno. */
static int forge_supervise(forge_tool *t, dx_forge_proc p, int *status)
{
	forge *f = t->f;
	t->proc = p;
	t->watch = f->host->watch(f->host, p.pidfd, DX_IO_POLLIN,
				  forge_on_exit, t);
	if (t->watch)
		return 0;
	int e = errno ? errno : ENOMEM;
	t->vt->stop(t->drv_self, &t->desc, &p, true);
	if (t->vt->reap(t->drv_self, &t->desc, &p, true, status) < 0)
		*status = -9;
	close(p.pidfd);
	t->proc = (dx_forge_proc){0, -1};
	return -e;
}

static void forge_start(forge_tool *t)
{
	forge *f = t->f;
	char why[256] = "";
	dx_forge_proc p = {0, -1};
	int st, rc = t->vt->start(t->drv_self, &t->desc, &p, why, sizeof why);
	if (rc == 0 && (rc = forge_supervise(t, p, &st)) < 0)
		snprintf(why, sizeof why, "cannot watch its pidfd: %s",
			 strerror(-rc));
	if (rc == 0) {
		dx_orch_started(f->orch, t->idx, p.pid, forge_now(f));
		f->host->counter_add(f->c_starts, 1);
		f->host->log(f->host, DX_LOG_INFO, "%s: started pid %d (%s)",
			     t->desc.name, p.pid, t->desc.binary);
	} else {
		dx_orch_start_failed(f->orch, t->idx, why, forge_now(f));
		const dx_orch_tool *o = dx_orch_at(f->orch, t->idx);
		f->host->log(f->host, DX_LOG_ERROR, "%s: cannot start: %s%s",
			     t->desc.name, why,
			     o->degraded ? " (degraded)" : "");
	}
}

static void forge_do(forge *f, const dx_orch_action *a)
{
	forge_tool *t = &f->tools[a->tool];
	switch (a->act) {
	case DX_ORCH_START:
		forge_start(t);
		break;
	case DX_ORCH_TERM:
		f->host->log(f->host, DX_LOG_INFO,
			     "%s: stopping pid %d (SIGTERM to its group)",
			     t->desc.name, t->proc.pid);
		forge_probe_drop(t);
		t->vt->stop(t->drv_self, &t->desc, &t->proc, false);
		break;
	case DX_ORCH_KILL:
		f->host->log(f->host, DX_LOG_WARN,
			     "%s: pid %d still running %u ms after SIGTERM: "
			     "SIGKILL to its group",
			     t->desc.name, t->proc.pid, t->desc.stop_grace_ms);
		t->vt->stop(t->drv_self, &t->desc, &t->proc, true);
		break;
	case DX_ORCH_HEALTH:
		forge_check(t);
		break;
	}
}

/* A fresh instance while an older one is still to be finalised (an
 * unloaded forge whose fini has not stopped its tools yet): start nothing,
 * look again in 20 ms (lock held). */
static bool forge_waits(forge *f)
{
	if (f->after_finis == 0)
		return false;
	if (f->host->counter_get(f->c_finis) >= f->after_finis) {
		f->after_finis = 0;
		f->host->log(f->host, DX_LOG_INFO,
			     "the unloaded forge stopped its tools: starting");
		return false;
	}
	uint64_t due = forge_now(f) + 20 * MS;
	if (due < f->tick_due && forge_set_timer(f, TICK, due, 0, 0) == 0)
		f->tick_due = due;
	return true;
}

/* The clock is read for each action: an action (a spawn) takes time, and
 * a deadline the orchestrator sets (a TERM's kill_due) counts from when
 * it is carried out. */
void forge_pump(forge *f)
{
	if (f->draining || !f->active || f->retired || forge_waits(f))
		return;
	dx_orch_action a;
	while (dx_orch_next(f->orch, forge_now(f), &a))
		forge_do(f, &a);
	forge_arm(f);
}

void forge_let_go(forge_tool *t)
{
	forge_probe_drop(t);
	forge_unwatch(t->f, t->watch);
	t->watch = NULL;
	t->proc = (dx_forge_proc){0, -1};
}

int forge_take(forge_tool *t, dx_forge_proc p)
{
	forge *f = t->f;
	int st = 0, rc = forge_supervise(t, p, &st);
	if (rc < 0) {
		char text[32];
		f->host->log(f->host, DX_LOG_ERROR,
			     "%s: cannot watch pid %d taken over (%s): ended "
			     "it (%s)",
			     t->desc.name, p.pid, strerror(-rc),
			     dx_orch_exit_text(st, text, sizeof text));
		dx_orch_exited(f->orch, t->idx, st, forge_now(f));
	}
	return rc;
}

static void forge_on_timer(void *arg)
{
	forge_timer *x = arg;
	forge *f = x->f;
	pthread_mutex_lock(&f->lock);
	/* The host runs every pending timer at once when it stops: a timer
	 * early by more than a tick means that, and nothing more may start
	 * (fini stops what runs). */
	if (forge_now(f) + 2 * MS < x->due)
		f->draining = true;
	if (x->kind == TICK && x->due == f->tick_due)
		f->tick_due = UINT64_MAX;
	if (!f->draining) {
		if (x->kind == TICK)
			forge_pump(f);
		else
			forge_probe_timeout(f, x);
	}
	pthread_mutex_unlock(&f->lock);
	free(x);
}

static void forge_on_kick(void *arg)
{
	forge *f = arg;
	pthread_mutex_lock(&f->lock);
	forge_pump(f);
	pthread_mutex_unlock(&f->lock);
}

int forge_kick(forge *f)
{
	return f->host->post(f->host, 0, forge_on_kick, f);
}

static void forge_boot(void *arg)
{
	forge *f = arg;
	pthread_mutex_lock(&f->lock);
	if (f->autostart && f->active && !f->retired)
		for (size_t k = 0; k < f->count; k++)
			dx_orch_up(f->orch, dx_orch_order(f->orch, k),
				   forge_now(f));
	forge_pump(f);
	pthread_mutex_unlock(&f->lock);
}

/* ---- init and fini ---- */

static void forge_free(forge *f)
{
	for (size_t i = 0; f->tools && i < f->count; i++) {
		forge_tool *t = &f->tools[i];
		for (size_t k = 0; k < t->str_count; k++)
			free(t->strs[k]);
		free(t->strs);
		free(t->args);
		free(t->env);
		free(t->hcmd);
	}
	free(f->tools);
	dx_orch_free(f->orch);
	free(f->log_dir);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Is a forge instance in service already (initialised, neither retired
 * nor finalised)? Then this one is a reload's new instance. The host's
 * counters outlive every instance, so they tell (a lookup of forge's own
 * facet would not do: it makes the new instance a user of the old one,
 * which then never retires). An unloaded instance is out of service
 * from its retire on, but stops its tools only in its fini: a fresh
 * instance waits for that (after_finis). init, retire and fini all run
 * on the main thread. */
static int forge_lifecycle(forge *f)
{
	const dx_host_api *h = f->host;
	f->c_inits = h->counter(h, "instances",
				"forge instances initialised (a reload "
				"adds one)");
	f->c_outs = h->counter(h, "instances_out",
			       "forge instances out of service (retired, or "
			       "finalised unretired)");
	f->c_finis = h->counter(h, "instances_ended",
				"forge instances finalised");
	if (!f->c_inits || !f->c_outs || !f->c_finis)
		return -ENOMEM;
	uint64_t inits = h->counter_get(f->c_inits);
	f->active = inits == h->counter_get(f->c_outs);
	if (f->active && h->counter_get(f->c_finis) < inits)
		f->after_finis = inits;
	return 0;
}

static int forge_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	forge *f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	f->host = host;
	f->tick_due = UINT64_MAX;
	forge_handoff_fill(f);
	pthread_mutex_init(&f->lock, NULL);
	dx_orch_opts o;
	int rc = forge_lifecycle(f);
	if (rc == 0)
		rc = forge_options(f, config, &o);
	if (rc == 0 && !(f->orch = dx_orch_new(&o)))
		rc = -ENOMEM;
	const dx_config *sec = host->section(host, "forge");
	if (rc == 0)
		rc = forge_schema_check(host, sec);
	const dx_config *tools =
		sec && rc == 0 ? host->config_child(host, sec, "tools") : NULL;
	if (rc == 0 && tools)
		rc = forge_tools(f, tools);
	f->c_starts = host->counter(host, "starts", "tool processes started");
	f->c_restarts = host->counter(host, "restarts",
				      "automatic restarts scheduled");
	f->c_exits = host->counter(host, "exits", "tool processes reaped");
	if (rc == 0 && (!f->c_starts || !f->c_restarts || !f->c_exits))
		rc = -ENOMEM;
	if (rc == 0 && (rc = host->control(host, "forge", forge_control, f)) <
			       0)
		host->fail(host, rc, "cannot register control command forge");
	/* A successor starts nothing: its predecessor's tools come with the
	 * import (and a failed reload must leave nothing of it behind). */
	if (rc == 0 && f->active &&
	    (rc = host->post(host, 0, forge_boot, f)) < 0)
		host->fail(host, rc, "cannot post to worker 0");
	if (rc < 0) {
		forge_free(f);
		return rc;
	}
	const char *how = !f->active ? "; taking over the running tools"
			  : f->after_finis
				  ? "; starting once the unloaded forge has "
				    "stopped its tools"
				  : "";
	host->log(host, DX_LOG_INFO, "%zu tool%s, logs in %s%s%s", f->count,
		  f->count == 1 ? "" : "s", f->log_dir,
		  f->autostart ? "" : "; autostart off", how);
	host->counter_add(f->c_inits, 1);
	*self = f;
	return 0;
}

/* Worker 0, after retire: let go of every watch (pidfds, health checks)
 * so that nothing but its last timers holds the instance. The processes
 * and their pidfds stay, for fini to stop (lock held: a control request
 * may still look). */
static void forge_on_retire(void *arg)
{
	forge *f = arg;
	size_t kept = 0;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->count; i++) {
		forge_tool *t = &f->tools[i];
		forge_probe_drop(t);
		forge_unwatch(f, t->watch);
		t->watch = NULL;
		kept += t->proc.pid > 0;
	}
	pthread_mutex_unlock(&f->lock);
	if (kept)
		f->host->log(f->host, DX_LOG_INFO,
			     "out of service: %zu running tool%s left for fini "
			     "to stop",
			     kept, kept == 1 ? "" : "s");
}

/* Main thread, once: out of service. Nothing starts from now on (pump
 * and boot look at retired); the watches go on worker 0, where they
 * live. */
static void forge_retire(void *self)
{
	forge *f = self;
	pthread_mutex_lock(&f->lock);
	f->retired = true;
	pthread_mutex_unlock(&f->lock);
	f->host->counter_add(f->c_outs, 1);
	int rc = f->host->post(f->host, 0, forge_on_retire, f);
	/* DX_ESTATE: the host is stopping; the watches end with the
	 * workers, and fini follows. */
	if (rc < 0 && rc != DX_ESTATE)
		f->host->log(f->host, DX_LOG_ERROR,
			     "cannot post the retire to worker 0 (%s): this "
			     "forge stays loaded, its tools running, until "
			     "the host stops",
			     dx_strerror(rc));
}

/* Blocking stop of every tool: SIGTERM to every group, wait up to each
 * grace period, then SIGKILL, and reap them all. Nothing watches them any
 * more: the workers have stopped (shutdown), or the instance was retired
 * (forge_on_retire unwatched, its timers fired). An instance retired by a
 * reload gave its processes to its successor (forge_let_go forgot them):
 * it has none. c_finis counts only after the last is reaped: a fresh
 * instance waits for that (forge_waits). */
static void forge_fini(void *self)
{
	forge *f = self;
	pthread_mutex_lock(&f->lock);
	uint64_t start = forge_now(f);
	size_t live = 0;
	for (size_t k = f->count; k-- > 0;) {
		forge_tool *t = &f->tools[dx_orch_order(f->orch, k)];
		if (t->probe) {
			t->vt->health_cancel(t->drv_self, t->probe);
			t->probe = NULL;
		}
		if (t->proc.pid <= 0)
			continue;
		f->host->log(f->host, DX_LOG_INFO, "%s: stopping pid %d",
			     t->desc.name, t->proc.pid);
		t->vt->stop(t->drv_self, &t->desc, &t->proc, false);
		live++;
	}
	while (live) {
		uint64_t now = forge_now(f);
		live = 0;
		for (size_t i = 0; i < f->count; i++) {
			forge_tool *t = &f->tools[i];
			int st;
			if (t->proc.pid <= 0)
				continue;
			bool late = now - start >= t->desc.stop_grace_ms * MS;
			if (late)
				t->vt->stop(t->drv_self, &t->desc, &t->proc,
					    true);
			if (t->vt->reap(t->drv_self, &t->desc, &t->proc, late,
					&st) == 0 ||
			    late) {
				close(t->proc.pidfd);
				t->proc = (dx_forge_proc){0, -1};
				continue;
			}
			live++;
		}
		if (live) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (!f->retired)
		f->host->counter_add(f->c_outs, 1);
	f->host->counter_add(f->c_finis, 1);
	forge_free(f);
}

/* Route "forge": the same requests as the control command, over HBTP, so
 * a client of the service can see and steer its tools. The body is the
 * JSON request ({"op": "status"}, {"op": "restart", "tool": "api"}, ...);
 * an empty body asks for status. */
static int forge_route(void *self, const dx_request *req, dx_response *res)
{
	char *request = req->body_len ? strndup((const char *)req->body,
						req->body_len)
				      : strdup("{\"op\":\"status\"}");
	if (!request)
		return -ENOMEM;
	char *answer = forge_control(self, request);
	free(request);
	if (!answer)
		return dx_response_error(res, 400,
					 "forge: use {\"op\": \"status\"|\"up\"|"
					 "\"stop\"|\"restart\"|\"logs\", "
					 "\"tool\": NAME}");
	int rc = dx_response_write(res, answer, strlen(answer));
	free(answer);
	return rc;
}

static const dx_route forge_routes[] = {
	{.id = 200, .name = "forge", .call = forge_route},
};

static const dx_routes_vtable forge_routes_vtable = DX_ROUTES(forge_routes);

static const dx_facet forge_facets[] = {
	{DX_FACET_ROUTES, "forge", &forge_routes_vtable},
};

DX_PLUGIN(.name = "forge", .version = FORGE_VERSION,
	  .description = "forge: supervises the manifest's forge.tools",
	  DX_FACETS(forge_facets), .init = forge_init, .fini = forge_fini,
	  .handoff_export = forge_handoff_export,
	  .handoff_import = forge_handoff_import, .retire = forge_retire)
