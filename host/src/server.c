/* server.c - pick the backend, bind the listeners, run the workers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include <dx/buf.h>

#include "activate.h"
#include "async.h"
#include "bind.h"
#include "cpus.h"
#include "pin.h"
#include "metrics.h"
#include "server_int.h"

/* The most IO facets "auto" considers. */
#define DX_AUTO_MAX 16

/* name is an IO facet, or a plugin with one IO facet (the two names often
 * differ): people write either. */
static const char *dx_io_facet_name(const dx_registry *r, const char *name)
{
	dx_facet_ref ref;
	if (dx_registry_lookup(r, DX_FACET_IO, name, &ref) == 0)
		return name;
	int i = dx_registry_find(r, name);
	const dx_plugin *p = i >= 0 ? dx_registry_module(r, (size_t)i)->desc
				    : NULL;
	for (uint32_t k = 0; p && k < p->facet_count; k++)
		if (p->facets[k].kind == DX_FACET_IO)
			return p->facets[k].name;
	return NULL;
}

static int dx_try_backend(dx_server *s, const char *name, dx_diag *d,
			  bool quiet)
{
	dx_facet_ref ref;
	name = dx_io_facet_name(s->view.reg, name);
	if (!name || dx_registry_lookup(s->view.reg, DX_FACET_IO, name, &ref) < 0)
		return -ENOENT;
	const dx_io_vtable *vt = ref.vtable;
	char why[256] = "";
	int rc = vt->probe(ref.self, why, sizeof why);
	if (rc < 0) {
		if (quiet)
			dx_registry_log(s->view.reg, DX_LOG_INFO,
					"io.backend auto: %s (plugin %s) is not "
					"usable here: %s",
					name, ref.plugin, why);
		else
			dx_diag_add(d,
				    "io.backend: %s (plugin %s) is not usable "
				    "here: %s",
				    name, ref.plugin, why);
		return rc;
	}
	s->vt = vt;
	s->vt_self = ref.self;
	snprintf(s->backend, sizeof s->backend, "%s", name);
	return 0;
}

static int dx_pick_backend(dx_server *s, dx_diag *d)
{
	const char *want = s->view.m->io.backend;
	if (strcmp(want, "auto") != 0) {
		int rc = dx_try_backend(s, want, d, false);
		if (rc == -ENOENT)
			dx_diag_add(d,
				    "io.backend: no IO plugin provides \"%s\"; "
				    "add its plugin to plugins",
				    want);
		return rc;
	}
	/* Every loaded IO facet, native completions first (registry.h). */
	const char *names[DX_AUTO_MAX];
	size_t n = dx_registry_io_names(s->view.reg, names, DX_AUTO_MAX);
	n = n < DX_AUTO_MAX ? n : DX_AUTO_MAX;
	char order[256] = "";
	for (size_t i = 0, at = 0; i < n && at < sizeof order; i++)
		at += (size_t)snprintf(order + at, sizeof order - at, "%s%s",
				       i ? ", " : "", names[i]);
	for (size_t i = 0; i < n; i++) {
		if (dx_try_backend(s, names[i], d, true) < 0)
			continue;
		if (n == 1)
			dx_registry_log(s->view.reg, DX_LOG_INFO,
					"io.backend auto: using %s (the only "
					"IO backend loaded)",
					names[i]);
		else
			dx_registry_log(s->view.reg, DX_LOG_INFO,
					"io.backend auto: using %s (the first "
					"usable of %s: native completions "
					"before emulated, then by name)",
					names[i], order);
		return 0;
	}
	dx_diag_add(d,
		    "io.backend: \"auto\" found no usable IO backend%s%s; "
		    "add a plugin with an IO facet to plugins",
		    n ? " among " : "", order);
	return DX_EFACET;
}

/* ---- listeners ---- */

static int dx_bind_all(dx_server *s, dx_diag *d)
{
	const dx_manifest *m = s->view.m;
	s->addrs = calloc(m->listen_count ? m->listen_count : 1, sizeof *s->addrs);
	s->listen_keys = calloc(m->listen_count ? m->listen_count : 1,
				sizeof *s->listen_keys);
	if (!s->addrs || !s->listen_keys)
		return -ENOMEM;
	s->naddrs = s->nslots = m->listen_count;
	s->slot_fds = calloc(s->nworkers ? s->nworkers : 1, sizeof *s->slot_fds);
	if (!s->slot_fds)
		return -ENOMEM;
	for (unsigned k = 0; k < s->nworkers; k++) {
		s->slot_fds[k] = malloc((m->listen_count ? m->listen_count : 1) *
					sizeof **s->slot_fds);
		if (!s->slot_fds[k])
			return -ENOMEM;
		for (size_t i = 0; i < m->listen_count; i++)
			s->slot_fds[k][i] = -1;
	}
	int *fds = malloc((s->nworkers ? s->nworkers : 1) * sizeof *fds);
	if (!fds)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->listen_count; i++) {
		const dx_listen *l = &m->listen[i];
		if (!(s->listen_keys[i] = strdup(l->text))) {
			rc = -ENOMEM;
			break;
		}
		uint16_t port = l->port;
		/* A socket systemd passed serves the entry (activate.h). */
		int passed = dx_inherit_take(s->inherited, l, &port);
		if (passed >= 0)
			dx_registry_log(s->view.reg, DX_LOG_INFO,
					"listen %s: serving the socket systemd "
					"passed (fd %d), shared by the workers",
					l->text, passed);
		rc = dx_listen_open(s, l, passed, port, fds, &s->addrs[i], d);
		for (unsigned k = 0; rc == 0 && k < s->nworkers; k++) {
			s->workers[k].listen_fds[i] = s->slot_fds[k][i] = fds[k];
			s->workers[k].listen_count = i + 1;
		}
	}
	free(fds);
	return rc;
}

/* ---- workers ---- */

static int dx_workers_new(dx_server *s, dx_diag *d)
{
	const dx_manifest *m = s->view.m;
	s->nworkers = m->workers ? m->workers : dx_cpus();
	s->workers = calloc(s->nworkers, sizeof *s->workers);
	if (!s->workers)
		return -ENOMEM;
	dx_io_params p = {
		.size = sizeof p, .queue_depth = m->io.queue_depth,
		.buf_count = 256, .buf_size = 16384, .sqpoll = m->io.sqpoll,
	};
	for (unsigned i = 0; i < s->nworkers; i++) {
		dx_worker *w = &s->workers[i];
		if (dx_worker_setup(w, &s->view, i, s->vt, m->listen_count) < 0)
			return -ENOMEM;
		p.worker = (int)i;
		int rc = s->vt->create(s->vt_self, &p, &w->io);
		if (rc < 0) {
			dx_diag_add(d, "io.backend %s: worker %u: %s", s->backend,
				    i, dx_strerror(rc));
			return rc;
		}
	}
	return 0;
}

int dx_server_new(const dx_manifest *m, dx_registry *r, dx_diag *d,
		  dx_server **out)
{
	return dx_server_new_passed(m, r, NULL, d, out);
}

int dx_server_new_passed(const dx_manifest *m, dx_registry *r,
			 struct dx_inherited *passed, dx_diag *d,
			 dx_server **out)
{
	*out = NULL;
	dx_server *s = calloc(1, sizeof *s);
	if (!s) {
		dx_inherit_free(passed);
		return -ENOMEM;
	}
	s->view.m = m;
	s->manifest = m;
	s->view.reg = r;
	s->inherited = passed;
	int rc = dx_pick_backend(s, d);
	if (rc == 0)
		rc = dx_workers_new(s, d);
	if (rc == 0)
		rc = dx_bind_all(s, d);
	if (rc == 0)
		rc = dx_inherit_check(s->inherited, m, d);
	dx_gen *g = NULL;
	if (rc == 0)
		rc = dx_gen_build(m, r, 1, &g, d);
	atomic_store(&s->view.gen, g);
	if (rc == 0)
		dx_metrics_publish(r, g);
	if (rc < 0) {
		if (rc == -ENOMEM)
			dx_diag_add(d, "out of memory starting the server");
		s->drained = true; /* nothing ran */
		dx_server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int dx_server_check(const dx_manifest *m, dx_registry *r, dx_diag *d,
		    char *backend, size_t len)
{
	dx_server s = {.view = {.m = m, .reg = r}};
	int rc = dx_pick_backend(&s, d);
	snprintf(backend, len, "%s", rc == 0 ? s.backend : "");
	return rc;
}

/* Pin worker w; the first that cannot be pinned says why (*said). */
static void dx_pin(dx_server *s, dx_worker *w, unsigned ncpu, bool *said)
{
	int rc = dx_pin_thread(w->thread, w->id % ncpu);
	if (rc < 0 && !*said && (*said = true))
		dx_registry_log(s->view.reg, DX_LOG_WARN,
				"pin_cpus: workers run unpinned: %s",
				rc == -ENOTSUP ? "this system has no way to pin "
						 "a thread to a CPU that dx "
						 "uses (docs/platforms.md)"
					       : strerror(-rc));
}

/* host->post, once the workers run: worker -1 spreads by round robin. */
static int dx_server_post(void *target, int worker, void (*fn)(void *),
			  void *arg, dx_plugin_entry *holder)
{
	dx_server *s = target;
	unsigned i = worker >= 0 ? (unsigned)worker
				 : atomic_fetch_add(&s->next_post, 1);
	if (worker >= 0 && i >= s->nworkers)
		return -EINVAL;
	return dx_worker_post(&s->workers[i % s->nworkers], fn, arg, holder);
}

int dx_server_start(dx_server *s, dx_diag *d)
{
	unsigned cpus = dx_cpus();
	bool pin_said = false;
	for (unsigned i = 0; i < s->nworkers; i++) {
		dx_worker *w = &s->workers[i];
		int rc = pthread_create(&w->thread, NULL, dx_worker_main, w);
		if (rc != 0) {
			dx_diag_add(d, "worker %u: pthread_create: %s", i,
				    strerror(rc));
			s->nworkers = i; /* join only those that run */
			return -rc;
		}
		if (s->view.m->pin_cpus)
			dx_pin(s, w, cpus, &pin_said);
	}
	s->started = true;
	dx_registry_set_poster(s->view.reg, dx_server_post, s);
	for (size_t i = 0; i < s->naddrs; i++)
		dx_registry_log(s->view.reg, DX_LOG_INFO,
				"listening on %s (%u worker%s, backend %s)",
				s->addrs[i], s->nworkers,
				s->nworkers == 1 ? "" : "s", s->backend);
	return 0;
}

void dx_server_drain(dx_server *s)
{
	if (s->drained)
		return;
	s->drained = true;
	if (!s->started)
		return;
	dx_registry_set_poster(s->view.reg, NULL, NULL);
	for (unsigned i = 0; i < s->nworkers; i++) {
		atomic_store(&s->workers[i].drain, true);
		dx_worker_wake(&s->workers[i]);
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i].thread, NULL);
}

void dx_server_free(dx_server *s)
{
	if (!s)
		return;
	dx_server_drain(s);
	for (unsigned i = 0; s->workers && i < s->nworkers; i++)
		dx_worker_release(&s->workers[i]);
	/* The unix sockets this host bound and serves now (addrs: set once
	 * a listener is bound; apply replaces them with the listeners in
	 * force), not every path the manifest lists: a start refused at a
	 * path another process holds must not remove that process's
	 * socket. systemd's stay too. */
	for (size_t i = 0; i < s->naddrs; i++)
		if (s->addrs[i] && strncmp(s->addrs[i], "unix:", 5) == 0 &&
		    !dx_inherit_owns_path(s->inherited, s->addrs[i] + 5))
			unlink(s->addrs[i] + 5);
	dx_inherit_free(s->inherited);
	for (size_t i = 0; i < s->naddrs; i++)
		free(s->addrs[i]);
	free(s->addrs);
	for (size_t i = 0; i < s->nslots; i++)
		free(s->listen_keys[i]);
	free(s->listen_keys);
	for (unsigned k = 0; s->slot_fds && k < s->nworkers; k++)
		free(s->slot_fds[k]);
	free(s->slot_fds);
	free(s->workers);
	dx_gen_free(atomic_load(&s->view.gen));
	while (s->replaced) {
		dx_gen *g = s->replaced;
		s->replaced = g->next;
		dx_gen_free(g);
	}
	free(s);
}

/* Make one instance of vt per worker, or none at all. */
static int dx_swap_instances(dx_server *s, const dx_io_vtable *vt, void *self,
			     const char *name, dx_io **ios, dx_diag *d)
{
	const dx_manifest *m = s->view.m;
	dx_io_params p = {
		.size = sizeof p, .queue_depth = m->io.queue_depth,
		.buf_count = 256, .buf_size = 16384, .sqpoll = m->io.sqpoll,
	};
	for (unsigned i = 0; i < s->nworkers; i++) {
		p.worker = (int)i;
		int rc = vt->create(self, &p, &ios[i]);
		if (rc < 0) {
			dx_diag_add(d, "swap to %s: worker %u: %s", name, i,
				    dx_strerror(rc));
			while (i-- > 0)
				vt->destroy(ios[i]);
			return rc;
		}
	}
	return 0;
}

int dx_server_swap(dx_server *s, const char *backend, dx_diag *d)
{
	if (!s->started || s->drained) {
		dx_diag_add(d, "the server is not running");
		return DX_ESTATE;
	}
	dx_server probe = {.view = s->view};
	int rc = dx_try_backend(&probe, backend, d, false);
	if (rc == -ENOENT)
		dx_diag_add(d, "no IO plugin provides \"%s\"", backend);
	if (rc < 0)
		return rc;
	if (probe.vt == s->vt)
		return 0;
	dx_io **ios = calloc(s->nworkers, sizeof *ios);
	if (!ios)
		return -ENOMEM;
	rc = dx_swap_instances(s, probe.vt, probe.vt_self, backend, ios, d);
	if (rc == 0) {
		atomic_store(&s->view.swapped, 0);
		for (unsigned i = 0; i < s->nworkers; i++)
			dx_worker_post_swap(&s->workers[i], probe.vt, ios[i]);
		/* Each worker swaps at its next loop boundary, well within a
		 * tick; wait so the caller's answer tells the truth. */
		for (int t = 0; t < 1000 &&
				atomic_load(&s->view.swapped) < s->nworkers;
		     t++)
			usleep(5000);
		s->vt = probe.vt;
		s->vt_self = probe.vt_self;
		memcpy(s->backend, probe.backend, sizeof s->backend);
		dx_registry_log(s->view.reg, DX_LOG_INFO,
				"io backend is now %s on %u worker%s", backend,
				s->nworkers, s->nworkers == 1 ? "" : "s");
	}
	free(ios);
	return rc;
}

const char *dx_server_backend(const dx_server *s)
{
	return s->backend;
}

unsigned dx_server_workers(const dx_server *s)
{
	return s->nworkers;
}

size_t dx_server_listen_count(const dx_server *s)
{
	return s->naddrs;
}

const char *dx_server_listen_addr(const dx_server *s, size_t i)
{
	return i < s->naddrs ? s->addrs[i] : NULL;
}

void dx_server_route_failures(const dx_server *s,
			      void (*fn)(void *ud, const char *route,
					 uint64_t n),
			      void *ud)
{
	const dx_gen *g = atomic_load(&((dx_server *)s)->view.gen);
	uint64_t other = 0;
	/* Few routes fail: gather by id in a table as small as a worker's. */
	struct {
		uint32_t key;
		uint64_t n;
	} sum[DX_ROUTE_FAILS * 4] = {{0, 0}};
	size_t used = 0;
	for (unsigned i = 0; i < s->nworkers; i++) {
		const dx_worker *w = &s->workers[i];
		other += atomic_load_explicit(&w->fails_other,
					      memory_order_relaxed);
		for (unsigned k = 0; k < DX_ROUTE_FAILS; k++) {
			uint32_t key = atomic_load_explicit(
				&w->fails[k].route, memory_order_acquire);
			uint64_t n = atomic_load_explicit(&w->fails[k].n,
							  memory_order_relaxed);
			if (!key || !n)
				continue;
			size_t j = 0;
			while (j < used && sum[j].key != key)
				j++;
			if (j == used && used == sizeof sum / sizeof sum[0]) {
				other += n;
				continue;
			}
			if (j == used)
				sum[used++].key = key;
			sum[j].n += n;
		}
	}
	for (size_t j = 0; j < used; j++) {
		uint16_t id = (uint16_t)(sum[j].key - 1);
		const dx_route_ref *ref = dx_gen_route(g, id);
		char name[32];
		snprintf(name, sizeof name, "route %u", id);
		fn(ud, ref ? ref->route->name : name, sum[j].n);
	}
	if (other)
		fn(ud, "(other routes)", other);
}

void dx_server_stats_sum(const dx_server *s, dx_server_stats *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < s->nworkers; i++) {
		const dx_worker *w = &s->workers[i];
#define DX_SUM(f) out->f += atomic_load_explicit(&w->stats.f, memory_order_relaxed)
		DX_SUM(connections);
		DX_SUM(accepted);
		DX_SUM(refused);
		DX_SUM(requests);
		DX_SUM(errors);
		DX_SUM(closed_by_server);
		DX_SUM(bytes_in);
		DX_SUM(bytes_out);
		DX_SUM(zero_copy_sends);
		DX_SUM(output_paused);
		DX_SUM(write_timeouts);
		DX_SUM(buffer_bytes);
#undef DX_SUM
	}
}
