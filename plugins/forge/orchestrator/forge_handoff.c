/* forge_handoff.c - forge's live reload: the supervised tools move from
 * the running instance to its successor with their processes (the same
 * PIDs), their pidfds and their orchestrator state (restart and start
 * counts, backoff, start limit, health, what falls due when).
 *
 * handoff_export (main thread, old instance) only hands out the blob
 * forge.handoff (forge_handoff.h): nothing changes, the old instance goes
 * on supervising. handoff_import (main thread, new instance, right after
 * its init) checks the blob's layout, then posts the move to worker 0 and
 * waits for it: there, where every watch, timer and post of both
 * instances runs, no callback of the old one can run while its tools
 * change hands. The move takes the old instance's snapshot, checks that
 * every running tool is one the new configuration has (same name, same
 * driver), makes the old one let go (forge_let_go: unwatch, cancel the
 * health check, forget the process; its pending timers and posts then
 * find it inactive and do nothing), and supervises each process
 * (forge_take: a pidfd watch of its own). Then it pumps: a restart, a
 * kill or a health check that fell due during the move runs now.
 *
 * Refusals (host->fail; the reload fails, the old instance keeps its
 * tools): a blob of another layout (a build whose state this one cannot
 * read), naming both versions; a running tool the new configuration
 * lacks or runs with another driver; worker 0 not reaching the move in
 * FH_WAIT_S seconds.
 *
 * A reload rolled back after the import runs the same hooks the other
 * way (the new instance exports, the old one imports): an instance
 * imports its own layout, and one that gave its tools away takes them
 * back like any successor. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forge_int.h"

/* How long an import waits for worker 0 to run the move. */
#define FH_WAIT_S 30

/* ---- the exporter's side (its code, called by the importer) ---- */

static int fh_snapshot(void *from, forge_handoff_tool **out, size_t *n)
{
	forge *f = from;
	forge_handoff_tool *v = NULL;
	int rc = 0;
	pthread_mutex_lock(&f->lock);
	if (!f->active)
		rc = DX_ESTATE;
	else if (!(v = calloc(f->count + 1, sizeof *v)))
		rc = -ENOMEM;
	for (size_t i = 0; v && i < f->count; i++) {
		const forge_tool *t = &f->tools[i];
		v[i] = (forge_handoff_tool){t->desc.name, t->driver_name,
					    t->proc, *dx_orch_at(f->orch, i)};
	}
	*out = v;
	*n = v ? f->count : 0;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void fh_release(void *from)
{
	forge *f = from;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->count; i++) {
		forge_let_go(&f->tools[i]);
		dx_orch_restore(f->orch, i, NULL);
	}
	f->active = false;
	f->tick_due = UINT64_MAX;
	pthread_mutex_unlock(&f->lock);
}

void forge_handoff_fill(forge *f)
{
	f->handoff = (forge_handoff){
		.magic = FORGE_HANDOFF_MAGIC,
		.layout = FORGE_HANDOFF_LAYOUT,
		.tool_size = sizeof(forge_handoff_tool),
		.version = FORGE_VERSION,
		.from = f,
		.snapshot = fh_snapshot,
		.release = fh_release,
	};
}

int forge_handoff_export(void *self, const void **data, size_t *len)
{
	forge *f = self;
	*data = &f->handoff;
	*len = sizeof f->handoff;
	return 0;
}

/* ---- the importer's side (worker 0) ---- */

static const forge_handoff_tool *fh_find(const forge_handoff_tool *v,
					 size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* Every tool of the snapshot that runs (or, with wanted, may start before
 * the move) must be one of f's, run by the same driver: 0, or DX_ESTATE
 * with why. */
static int fh_check(const forge *f, const forge_handoff *x,
		    const forge_handoff_tool *v, size_t n, bool wanted,
		    char *why, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].proc.pid <= 0 &&
		    !(wanted && (v[i].run.want || v[i].run.restart_now)))
			continue;
		long k = dx_orch_find(f->orch, v[i].name);
		const char *drv = k >= 0 ? f->tools[k].driver_name : NULL;
		if (drv && strcmp(drv, v[i].driver) == 0)
			continue;
		char runs[48] = "is to run";
		if (v[i].proc.pid > 0)
			snprintf(runs, sizeof runs, "runs (pid %d)",
				 v[i].proc.pid);
		if (!drv)
			snprintf(why, len,
				 "tool \"%s\" %s under forge %s, but forge.tools "
				 "of forge %s has no such tool; stop it first "
				 "(dx forge stop %s)",
				 v[i].name, runs, x->version, FORGE_VERSION,
				 v[i].name);
		else
			snprintf(why, len,
				 "tool \"%s\" %s under driver \"%s\", but forge "
				 "%s would run it with driver \"%s\"; stop it "
				 "first (dx forge stop %s)",
				 v[i].name, runs, v[i].driver, FORGE_VERSION,
				 drv, v[i].name);
		return DX_ESTATE;
	}
	return 0;
}

/* Supervise what the snapshot v says (lock held): each tool's state,
 * its process; a tool the exporter did not have starts as at boot. */
static void fh_adopt(forge *f, const forge_handoff *x,
		     const forge_handoff_tool *v, size_t n)
{
	size_t moved = 0;
	char pids[256] = "";
	size_t at = 0;
	for (size_t i = 0; i < f->count; i++) {
		forge_tool *t = &f->tools[i];
		const forge_handoff_tool *h = fh_find(v, n, t->desc.name);
		dx_orch_restore(f->orch, i, h ? &h->run : NULL);
		if (!h || h->proc.pid <= 0)
			continue;
		moved++;
		if (at < sizeof pids)
			at += (size_t)snprintf(pids + at, sizeof pids - at,
					       "%s%s %d", at ? ", " : "",
					       t->desc.name, h->proc.pid);
		forge_take(t, h->proc);
	}
	for (size_t k = 0; f->autostart && k < f->count; k++) {
		size_t i = dx_orch_order(f->orch, k);
		if (!fh_find(v, n, f->tools[i].desc.name))
			dx_orch_up(f->orch, i, forge_now(f));
	}
	f->active = true;
	f->host->log(f->host, DX_LOG_INFO,
		     "took over %zu running tool%s from forge %s%s%s%s", moved,
		     moved == 1 ? "" : "s", x->version, moved ? " (" : "",
		     pids, moved ? ")" : "");
	forge_pump(f);
}

static int fh_move_tools(forge *f, const forge_handoff *x, char *why,
			 size_t len)
{
	pthread_mutex_lock(&f->lock);
	bool busy = f->active;
	pthread_mutex_unlock(&f->lock);
	if (busy) {
		snprintf(why, len, "forge %s supervises tools already",
			 FORGE_VERSION);
		return DX_ESTATE;
	}
	forge_handoff_tool *v = NULL;
	size_t n = 0;
	int rc = x->snapshot(x->from, &v, &n);
	if (rc < 0) {
		snprintf(why, len, "forge %s has no tools to hand over (%s)",
			 x->version, dx_strerror(rc));
		return rc;
	}
	rc = fh_check(f, x, v, n, false, why, len);
	if (rc == 0) {
		/* From here on the processes are ours: nothing fails. */
		x->release(x->from);
		pthread_mutex_lock(&f->lock);
		fh_adopt(f, x, v, n);
		pthread_mutex_unlock(&f->lock);
	}
	free(v);
	return rc;
}

/* The move, shared by the importer (waiting) and the job on worker 0;
 * the last of the two frees it. */
typedef struct fh_move {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	bool done;      /* the job ran the move: rc and why are set */
	bool cancelled; /* the importer gave up waiting: do nothing */
	int rc;
	char why[512];
	forge *to;
	const forge_handoff *from;
} fh_move;

static void fh_move_unref(fh_move *m)
{
	bool last = --m->refs == 0;
	pthread_mutex_unlock(&m->lock);
	if (!last)
		return;
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void fh_move_run(void *arg)
{
	fh_move *m = arg;
	pthread_mutex_lock(&m->lock);
	if (!m->cancelled) {
		m->rc = fh_move_tools(m->to, m->from, m->why, sizeof m->why);
		m->done = true;
		pthread_cond_signal(&m->cond);
	}
	fh_move_unref(m);
}

static fh_move *fh_move_new(forge *to, const forge_handoff *from)
{
	fh_move *m = calloc(1, sizeof *m);
	pthread_condattr_t ca;
	if (!m || pthread_condattr_init(&ca) != 0) {
		free(m);
		return NULL;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->lock, NULL);
	m->refs = 2;
	m->to = to;
	m->from = from;
	return m;
}

/* Post the move to worker 0 and wait for it: 0, or a negative code with
 * why. */
static int fh_move_wait(forge *f, const forge_handoff *x, char *why,
			size_t len)
{
	fh_move *m = fh_move_new(f, x);
	if (!m) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	int rc = f->host->post(f->host, 0, fh_move_run, m);
	if (rc < 0) {
		m->refs = 1;
		pthread_mutex_lock(&m->lock);
		fh_move_unref(m);
		snprintf(why, len, "cannot post to worker 0: %s",
			 dx_strerror(rc));
		return rc;
	}
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += FH_WAIT_S;
	pthread_mutex_lock(&m->lock);
	int w = 0;
	while (!m->done && w != ETIMEDOUT)
		w = pthread_cond_timedwait(&m->cond, &m->lock, &end);
	if (m->done) {
		rc = m->rc;
		snprintf(why, len, "%s", m->why);
	} else {
		m->cancelled = true;
		rc = -ETIMEDOUT;
		snprintf(why, len,
			 "worker 0 did not reach the move in %d s (a handler "
			 "that blocks?)",
			 FH_WAIT_S);
	}
	fh_move_unref(m);
	return rc;
}

/* The exporter's version: the host's word when it gives it (ABI 1.1),
 * else what the blob says. */
static const char *fh_from_version(const dx_host_api *h,
				   const forge_handoff *x, size_t len)
{
	const char *v = DX_HAS(h, handoff_version) ? h->handoff_version(h)
						   : NULL;
	if (!v && len >= sizeof *x && x->layout == FORGE_HANDOFF_LAYOUT)
		v = x->version;
	return v ? v : "(unknown version)";
}

int forge_handoff_import(void *self, const void *data, size_t len)
{
	forge *f = self;
	const dx_host_api *h = f->host;
	const forge_handoff *x = data;
	if (!x || len < 2 * sizeof(uint32_t) || x->magic != FORGE_HANDOFF_MAGIC)
		return h->fail(h, DX_ESTATE,
			       "forge %s: the state handed over is not "
			       "forge's (%zu bytes); the old instance keeps "
			       "its tools",
			       FORGE_VERSION, len);
	const char *from = fh_from_version(h, x, len);
	if (x->layout != FORGE_HANDOFF_LAYOUT || len != sizeof *x ||
	    x->tool_size != sizeof(forge_handoff_tool))
		return h->fail(h, DX_ESTATE,
			       "forge %s cannot take over the tools of forge "
			       "%s: its state has layout %u, forge %s reads "
			       "layout %u; forge %s keeps supervising them "
			       "(reload a build of layout %u, or restart the "
			       "host to change to forge %s)",
			       FORGE_VERSION, from, x->layout, FORGE_VERSION,
			       (unsigned)FORGE_HANDOFF_LAYOUT, from, x->layout,
			       FORGE_VERSION);
	/* Refuse what can be refused here, before anything is posted: a
	 * post of this instance still pending (or returning) when a failed
	 * import makes the host finalise it would run freed code. */
	char why[512] = "";
	forge_handoff_tool *v = NULL;
	size_t n = 0;
	int rc = x->snapshot(x->from, &v, &n);
	if (rc == 0)
		rc = fh_check(f, x, v, n, true, why, sizeof why);
	else
		snprintf(why, sizeof why, "it supervises nothing (%s)",
			 dx_strerror(rc));
	free(v);
	if (rc == 0)
		rc = fh_move_wait(f, x, why, sizeof why);
	if (rc < 0)
		return h->fail(h, rc,
			       "forge %s cannot take over the tools of forge "
			       "%s: %s; forge %s keeps supervising them",
			       FORGE_VERSION, from, why, from);
	return 0;
}
