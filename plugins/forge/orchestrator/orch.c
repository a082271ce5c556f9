/* orch.c - forge's orchestrator core (see orch.h): registry, dependency
 * order and the tools' state machine, pure and single-threaded. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orch.h"

struct dx_orch {
	dx_orch_opts opts;
	dx_orch_tool *tools;
	size_t count, cap;
	size_t *order; /* start order, after dx_orch_resolve */
	bool resolved;
};

#define MS (UINT64_C(1000000))

dx_orch *dx_orch_new(const dx_orch_opts *opts)
{
	dx_orch *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	if (opts)
		o->opts = *opts;
	dx_orch_opts *p = &o->opts;
	if (!p->backoff_ns)
		p->backoff_ns = 100 * MS;
	if (!p->backoff_max_ns)
		p->backoff_max_ns = 5000 * MS;
	if (p->backoff_max_ns < p->backoff_ns)
		p->backoff_max_ns = p->backoff_ns;
	if (!p->burst)
		p->burst = 5;
	if (p->burst > DX_ORCH_BURST_MAX)
		p->burst = DX_ORCH_BURST_MAX;
	if (!p->window_ns)
		p->window_ns = 10000 * MS;
	if (!p->health_starting_ns)
		p->health_starting_ns = 100 * MS;
	if (!p->health_ns)
		p->health_ns = 1000 * MS;
	if (!p->health_failures)
		p->health_failures = 3;
	return o;
}

static void spec_free(dx_orch_spec *s)
{
	for (size_t i = 0; i < s->dep_count; i++)
		free(s->deps[i].tool);
	free(s->deps);
	free(s->name);
}

void dx_orch_free(dx_orch *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->count; i++)
		spec_free(&o->tools[i].spec);
	free(o->tools);
	free(o->order);
	free(o);
}

long dx_orch_find(const dx_orch *o, const char *name)
{
	for (size_t i = 0; name && i < o->count; i++)
		if (strcmp(o->tools[i].spec.name, name) == 0)
			return (long)i;
	return -1;
}

static int spec_copy(dx_orch_spec *to, const dx_orch_spec *from)
{
	memset(to, 0, sizeof *to);
	to->name = strdup(from->name);
	to->priority = from->priority;
	to->restart = from->restart;
	to->stop_grace_ms = from->stop_grace_ms;
	if (from->dep_count)
		to->deps = calloc(from->dep_count, sizeof *to->deps);
	if (!to->name || (from->dep_count && !to->deps)) {
		spec_free(to);
		return -ENOMEM;
	}
	for (size_t i = 0; i < from->dep_count; i++) {
		to->deps[i].cond = from->deps[i].cond;
		to->deps[i].tool = strdup(from->deps[i].tool);
		to->dep_count = i + 1;
		if (!to->deps[i].tool) {
			spec_free(to);
			return -ENOMEM;
		}
	}
	return 0;
}

int dx_orch_add(dx_orch *o, const dx_orch_spec *spec)
{
	if (!spec->name || !*spec->name || spec->restart > 2)
		return -EINVAL;
	for (size_t i = 0; i < spec->dep_count; i++)
		if (!spec->deps[i].tool || spec->deps[i].cond > 2)
			return -EINVAL;
	if (dx_orch_find(o, spec->name) >= 0)
		return -EEXIST;
	if (o->count == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		dx_orch_tool *t = realloc(o->tools, cap * sizeof *t);
		if (!t)
			return -ENOMEM;
		o->tools = t;
		o->cap = cap;
	}
	dx_orch_tool *t = &o->tools[o->count];
	memset(t, 0, sizeof *t);
	int rc = spec_copy(&t->spec, spec);
	if (rc < 0)
		return rc;
	o->resolved = false;
	return (int)o->count++;
}

size_t dx_orch_count(const dx_orch *o)
{
	return o->count;
}

const dx_orch_tool *dx_orch_at(const dx_orch *o, size_t i)
{
	return i < o->count ? &o->tools[i] : NULL;
}

size_t dx_orch_order(const dx_orch *o, size_t i)
{
	return o->resolved ? o->order[i] : i;
}

/* ---- dependency order ---- */

static bool order_before(const dx_orch *o, size_t a, size_t b)
{
	int pa = o->tools[a].spec.priority, pb = o->tools[b].spec.priority;
	return pa != pb ? pa < pb : a < b;
}

typedef struct cycle_dfs {
	size_t n;
	size_t (*edge)(void *arg, size_t i, size_t k);
	void (*found)(void *arg, const size_t *cycle, size_t len);
	void *arg;
	unsigned char *state; /* 0 unvisited, 1 on the stack, 2 done */
	size_t *stack;
	size_t depth;
} cycle_dfs;

static void cycle_visit(cycle_dfs *g, size_t i)
{
	g->state[i] = 1;
	g->stack[g->depth++] = i;
	for (size_t k = 0, j; (j = g->edge(g->arg, i, k)) != SIZE_MAX; k++) {
		if (j >= g->n)
			continue;
		if (g->state[j] == 0) {
			cycle_visit(g, j);
		} else if (g->state[j] == 1) {
			size_t at = g->depth;
			while (at > 0 && g->stack[at - 1] != j)
				at--;
			if (at > 0)
				g->found(g->arg, g->stack + at - 1,
					 g->depth - at + 1);
		}
	}
	g->depth--;
	g->state[i] = 2;
}

int dx_orch_cycles(size_t n, size_t (*edge)(void *arg, size_t i, size_t k),
		   void (*found)(void *arg, const size_t *cycle, size_t len),
		   void *arg)
{
	cycle_dfs g = {n, edge, found, arg, calloc(n + 1, 1),
		       calloc(n + 1, sizeof(size_t)), 0};
	int rc = g.state && g.stack ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (g.state[i] == 0)
			cycle_visit(&g, i);
	free(g.state);
	free(g.stack);
	return rc;
}

typedef struct cycle_why {
	const dx_orch *o;
	char *why;
	size_t why_len;
	bool found;
} cycle_why;

static size_t spec_edge(void *arg, size_t i, size_t k)
{
	const cycle_why *w = arg;
	const dx_orch_spec *s = &w->o->tools[i].spec;
	return k < s->dep_count ? s->deps[k].idx : SIZE_MAX;
}

/* The first cycle found: "dependency cycle among: a b". */
static void cycle_text(void *arg, const size_t *cycle, size_t len)
{
	cycle_why *w = arg;
	if (w->found)
		return;
	w->found = true;
	size_t at = (size_t)snprintf(w->why, w->why_len,
				     "dependency cycle among:");
	for (size_t i = 0; i < len && at < w->why_len; i++)
		at += (size_t)snprintf(w->why + at, w->why_len - at, " %s",
				       w->o->tools[cycle[i]].spec.name);
}

/* Kahn's algorithm, always taking the ready tool of lowest priority; the
 * graph has no cycle (checked first). */
static int order_tools(dx_orch *o, char *why, size_t why_len)
{
	cycle_why w = {o, why, why_len, false};
	int rc = dx_orch_cycles(o->count, spec_edge, cycle_text, &w);
	if (rc < 0 || w.found)
		return rc < 0 ? rc : -ELOOP;
	size_t n = o->count, done = 0;
	unsigned char *placed = calloc(n + 1, 1);
	if (!placed)
		return -ENOMEM;
	while (done < n) {
		size_t best = n;
		for (size_t i = 0; i < n; i++) {
			if (placed[i])
				continue;
			bool ready = true;
			const dx_orch_spec *s = &o->tools[i].spec;
			for (size_t d = 0; d < s->dep_count && ready; d++)
				ready = placed[s->deps[d].idx];
			if (ready && (best == n || order_before(o, i, best)))
				best = i;
		}
		placed[best] = 1; /* acyclic: some tool is always ready */
		o->order[done++] = best;
	}
	free(placed);
	return 0;
}

int dx_orch_resolve(dx_orch *o, char *why, size_t why_len)
{
	for (size_t i = 0; i < o->count; i++) {
		dx_orch_spec *s = &o->tools[i].spec;
		for (size_t d = 0; d < s->dep_count; d++) {
			long k = dx_orch_find(o, s->deps[d].tool);
			if (k < 0) {
				snprintf(why, why_len,
					 "tool \"%s\" depends on \"%s\", which "
					 "is not a tool",
					 s->name, s->deps[d].tool);
				return -ENOENT;
			}
			s->deps[d].idx = (size_t)k;
		}
	}
	free(o->order);
	o->order = calloc(o->count + 1, sizeof *o->order);
	if (!o->order)
		return -ENOMEM;
	int rc = order_tools(o, why, why_len);
	o->resolved = rc == 0;
	return rc;
}

/* ---- states ---- */

dx_orch_state dx_orch_state_of(const dx_orch *o, size_t i)
{
	const dx_orch_tool *t = &o->tools[i];
	if (t->pid > 0)
		return t->healthy ? DX_ORCH_HEALTHY : DX_ORCH_RUNNING;
	if (t->degraded)
		return DX_ORCH_DEGRADED;
	if (t->want || t->launching)
		return DX_ORCH_STARTING;
	return DX_ORCH_STOPPED;
}

const char *dx_orch_state_name(dx_orch_state s)
{
	static const char *const names[] = {"stopped", "starting", "running",
					    "healthy", "degraded"};
	return (unsigned)s < DX_ORCH_STATE_COUNT ? names[s] : "?";
}

static bool dep_ok(const dx_orch *o, const dx_orch_dep *d)
{
	const dx_orch_tool *t = &o->tools[d->idx];
	switch (d->cond) {
	case DX_ORCH_COND_STARTED:
		return t->pid > 0 || t->completed;
	case DX_ORCH_COND_HEALTHY:
		return t->pid > 0 && t->healthy;
	default:
		return t->pid <= 0 && t->completed;
	}
}

long dx_orch_waiting(const dx_orch *o, size_t i, bool *blocked)
{
	const dx_orch_spec *s = &o->tools[i].spec;
	*blocked = false;
	for (size_t d = 0; d < s->dep_count; d++) {
		if (dep_ok(o, &s->deps[d]))
			continue;
		const dx_orch_tool *t = &o->tools[s->deps[d].idx];
		*blocked = t->degraded ||
			   (!t->want && !t->launching && t->pid <= 0);
		return (long)s->deps[d].idx;
	}
	return -1;
}

/* ---- what the user asks ---- */

static void ensure(dx_orch *o, size_t i, unsigned char *seen)
{
	if (seen[i])
		return;
	seen[i] = 1;
	dx_orch_tool *t = &o->tools[i];
	for (size_t d = 0; d < t->spec.dep_count; d++) {
		const dx_orch_dep *dep = &t->spec.deps[d];
		/* A dependency that already ran to completion is not run
		 * again for its dependents. */
		if (dep->cond == DX_ORCH_COND_COMPLETED && dep_ok(o, dep))
			continue;
		ensure(o, dep->idx, seen);
	}
	if (t->degraded)
		return; /* stays so until restart by hand */
	if (!t->want && t->pid <= 0)
		t->restart_due = 0;
	t->want = true;
}

int dx_orch_up(dx_orch *o, size_t i, uint64_t now)
{
	(void)now;
	if (i >= o->count)
		return -EINVAL;
	if (o->tools[i].degraded)
		return -EAGAIN;
	unsigned char *seen = calloc(o->count, 1);
	if (!seen)
		return -ENOMEM;
	ensure(o, i, seen);
	free(seen);
	return 0;
}

int dx_orch_down(dx_orch *o, size_t i, uint64_t now)
{
	(void)now;
	if (i >= o->count)
		return -EINVAL;
	dx_orch_tool *t = &o->tools[i];
	t->want = false;
	t->restart_now = false;
	t->degraded = false;
	t->restart_due = 0;
	return 0;
}

int dx_orch_restart(dx_orch *o, size_t i, uint64_t now)
{
	if (i >= o->count)
		return -EINVAL;
	dx_orch_tool *t = &o->tools[i];
	t->degraded = false;
	t->limit_len = t->limit_at = 0;
	t->backoff_step = 0;
	t->why[0] = '\0';
	int rc = dx_orch_up(o, i, now);
	if (rc < 0)
		return rc;
	t->restart_due = 0;
	if (t->pid > 0 || t->launching) {
		/* Stop it, and start again as soon as it is gone. */
		t->want = false;
		t->restart_now = true;
	}
	return 0;
}

/* ---- what happened ---- */

void dx_orch_started(dx_orch *o, size_t i, int pid, uint64_t now)
{
	dx_orch_tool *t = &o->tools[i];
	t->launching = false;
	t->pid = pid > 0 ? pid : 1;
	t->starts++;
	t->started_ns = now;
	t->healthy = false;
	t->healthy_ns = 0;
	t->health_fails = 0;
	t->health_due = now;
	t->probing = false;
	t->stopping = t->killed = false;
	t->completed = false;
	t->why[0] = '\0';
}

/* Count a restart against the start limit: true when it is hit. */
static bool limit_hit(dx_orch *o, dx_orch_tool *t, uint64_t now)
{
	unsigned burst = o->opts.burst;
	t->limit[t->limit_at] = now;
	t->limit_at = (t->limit_at + 1) % burst;
	if (t->limit_len < burst)
		t->limit_len++;
	if (t->limit_len < burst)
		return false;
	/* The oldest of the last burst restarts is at limit_at. */
	return now - t->limit[t->limit_at] < o->opts.window_ns;
}

/* The tool is gone on its own (or never came): restart per its policy. */
static void after_failure(dx_orch *o, size_t i, bool failed, uint64_t now)
{
	dx_orch_tool *t = &o->tools[i];
	uint32_t r = t->spec.restart;
	bool again = t->want && (r == DX_ORCH_RESTART_ALWAYS ||
				 (r == DX_ORCH_RESTART_ON_FAILURE && failed));
	if (!again) {
		t->want = false;
		return;
	}
	/* A run that lasted a whole window starts the backoff afresh. */
	if (t->started_ns && now - t->started_ns >= o->opts.window_ns)
		t->backoff_step = 0;
	if (limit_hit(o, t, now)) {
		t->degraded = true;
		t->want = false;
		snprintf(t->why, sizeof t->why,
			 "%u restarts within %llu ms: not restarting until "
			 "restart by hand",
			 o->opts.burst,
			 (unsigned long long)(o->opts.window_ns / MS));
		return;
	}
	uint64_t delay = o->opts.backoff_ns;
	for (unsigned k = 0; k < t->backoff_step && delay < o->opts.backoff_max_ns;
	     k++)
		delay *= 2;
	if (delay > o->opts.backoff_max_ns)
		delay = o->opts.backoff_max_ns;
	t->backoff_step++;
	t->restarts++;
	t->restart_due = now + delay;
}

void dx_orch_start_failed(dx_orch *o, size_t i, const char *why,
			  uint64_t now)
{
	dx_orch_tool *t = &o->tools[i];
	t->launching = false;
	snprintf(t->why, sizeof t->why, "%s", why ? why : "start failed");
	if (t->restart_now) {
		t->restart_now = false;
		t->want = true;
	}
	after_failure(o, i, true, now);
	if (t->degraded)
		snprintf(t->why, sizeof t->why, "%s (start limit hit)",
			 why ? why : "start failed");
}

void dx_orch_exited(dx_orch *o, size_t i, int status, uint64_t now)
{
	dx_orch_tool *t = &o->tools[i];
	bool asked = t->stopping;
	t->pid = 0;
	t->last_exit = status;
	t->exited = true;
	t->exited_ns = now;
	t->healthy = false;
	t->probing = false;
	t->stopping = t->killed = false;
	t->completed = status == 0;
	if (t->restart_now) {
		t->restart_now = false;
		t->want = true;
		t->restart_due = 0;
		return;
	}
	if (asked) {
		/* Stopped as asked: no restart, unless up came meanwhile. */
		t->restart_due = 0;
		return;
	}
	if (status != 0)
		dx_orch_exit_text(status, t->why, sizeof t->why);
	after_failure(o, i, status != 0, now);
}

void dx_orch_health(dx_orch *o, size_t i, bool ok, uint64_t now)
{
	dx_orch_tool *t = &o->tools[i];
	t->probing = false;
	if (t->pid <= 0)
		return;
	if (ok) {
		if (!t->healthy)
			t->healthy_ns = now;
		t->healthy = true;
		t->health_fails = 0;
	} else if (++t->health_fails >= o->opts.health_failures ||
		   !t->healthy) {
		t->healthy = false;
	}
	t->health_due = now + (t->healthy ? o->opts.health_ns
					  : o->opts.health_starting_ns);
}

void dx_orch_restore(dx_orch *o, size_t i, const dx_orch_tool *saved)
{
	if (i >= o->count)
		return;
	dx_orch_tool *t = &o->tools[i];
	dx_orch_spec spec = t->spec;
	if (saved)
		*t = *saved;
	else
		memset(t, 0, sizeof *t);
	t->spec = spec;
	t->launching = false;
	if (t->probing) {
		t->probing = false;
		t->health_due = 0;
	}
	if (t->limit_at >= o->opts.burst || t->limit_len > o->opts.burst)
		t->limit_len = t->limit_at = 0; /* another burst: start over */
}

/* ---- what to do ---- */

static bool deps_ok(const dx_orch *o, size_t i)
{
	const dx_orch_spec *s = &o->tools[i].spec;
	for (size_t d = 0; d < s->dep_count; d++)
		if (!dep_ok(o, &s->deps[d]))
			return false;
	return true;
}

static bool next_for(dx_orch *o, size_t i, uint64_t now, dx_orch_action *a)
{
	dx_orch_tool *t = &o->tools[i];
	*a = (dx_orch_action){0, i};
	if (t->pid > 0) {
		if (!t->want && !t->stopping) {
			t->stopping = true;
			t->kill_due = now + t->spec.stop_grace_ms * MS;
			a->act = DX_ORCH_TERM;
		} else if (t->stopping && !t->killed && now >= t->kill_due) {
			t->killed = true;
			a->act = DX_ORCH_KILL;
		} else if (!t->stopping && !t->probing &&
			   now >= t->health_due) {
			t->probing = true;
			a->act = DX_ORCH_HEALTH;
		}
	} else if (t->want && !t->launching && !t->degraded &&
		   now >= t->restart_due && deps_ok(o, i)) {
		t->launching = true;
		a->act = DX_ORCH_START;
	}
	return a->act != 0;
}

bool dx_orch_next(dx_orch *o, uint64_t now, dx_orch_action *out)
{
	for (size_t k = 0; k < o->count; k++)
		if (next_for(o, dx_orch_order(o, k), now, out))
			return true;
	return false;
}

uint64_t dx_orch_next_due(const dx_orch *o)
{
	uint64_t due = UINT64_MAX;
	for (size_t i = 0; i < o->count; i++) {
		const dx_orch_tool *t = &o->tools[i];
		uint64_t d = UINT64_MAX;
		if (t->pid > 0 && t->stopping && !t->killed)
			d = t->kill_due;
		else if (t->pid > 0 && !t->stopping && !t->probing)
			d = t->health_due;
		else if (t->pid <= 0 && t->want && !t->launching &&
			 !t->degraded && t->restart_due)
			d = t->restart_due;
		if (d < due)
			due = d;
	}
	return due;
}

const char *dx_orch_exit_text(int status, char *buf, size_t len)
{
	if (status >= 0) {
		snprintf(buf, len, "exit %d", status);
		return buf;
	}
	const char *name = sigabbrev_np(-status);
	if (name)
		snprintf(buf, len, "SIG%s", name);
	else
		snprintf(buf, len, "signal %d", -status);
	return buf;
}
