/* metrics.c - the metrics store (metrics.h): plugins' metrics, route
 * names, the main thread's host-wide facts.
 *
 * A plugin's metric has one cell per worker plus a shared one. A worker
 * is the only writer of its cell, so it adds with a plain load and store
 * (relaxed atomics, no locked instruction, no cache line shared with
 * another worker); any other thread adds to the shared cell with atomic
 * read-modify-writes. The scrape sums the cells. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

const char *const dx_metrics_commands[4] = {"reload", "load", "unload",
					    "apply"};

dx_metrics *dx_metrics_new(unsigned workers)
{
	dx_metrics *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->workers = workers;
	m->tail = &m->list;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return m;
}

static void dx_pmetric_free(struct dx_counter *c)
{
	free(c->name);
	free(c->help);
	free(c->family);
	free(c->plugin);
	free(c->bounds);
	free((void *)c->words);
	free(c);
}

void dx_metrics_free(dx_metrics *m)
{
	if (!m)
		return;
	while (m->list) {
		struct dx_counter *c = m->list;
		m->list = c->next;
		dx_pmetric_free(c);
	}
	free(m->routes);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool dx_same_bounds(const struct dx_counter *c, const double *b,
			   size_t nb)
{
	return c->nb == nb && (!nb || !memcmp(c->bounds, b, nb * sizeof *b));
}

static bool dx_bounds_ok(const double *b, size_t nb)
{
	if (!b || !nb)
		return false;
	for (size_t i = 0; i < nb; i++)
		if (!isfinite(b[i]) || (i && b[i] <= b[i - 1]))
			return false;
	return true;
}

/* The Prometheus family name: dx_plugin_<plugin>_<name>, counters ending
 * in _total (once). */
static char *dx_family_name(const char *plugin, const char *name,
			    dx_pmetric_kind kind)
{
	char raw[2 * DX_NAME_MAX + 64], out[sizeof raw];
	size_t n = strlen(name);
	bool total = n >= 6 && !strcmp(name + n - 6, "_total");
	snprintf(raw, sizeof raw, "dx_plugin_%s_%s%s", plugin, name,
		 kind == DX_PM_COUNTER && !total ? "_total" : "");
	dx_mtext_name(out, sizeof out, raw);
	return strdup(out);
}

static struct dx_counter *dx_pmetric_new(dx_metrics *m, const char *plugin,
					 const char *name, const char *help,
					 dx_pmetric_kind kind,
					 const double *bounds, size_t nb)
{
	struct dx_counter *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->kind = kind;
	c->ncells = m->workers + 1;
	size_t words = kind == DX_PM_HISTOGRAM ? nb + 2 : 1;
	c->stride = (words + DX_PM_CELL_WORDS - 1) / DX_PM_CELL_WORDS *
		    DX_PM_CELL_WORDS;
	c->nb = nb;
	bool ok = asprintf(&c->name, "%s.%s", plugin, name) >= 0;
	if (!ok)
		c->name = NULL;
	c->help = strdup(help ? help : "");
	c->plugin = strdup(plugin);
	c->family = dx_family_name(plugin, name, kind);
	if (kind != DX_PM_GAUGE)
		c->words = calloc(c->ncells * c->stride, sizeof *c->words);
	if (nb && (c->bounds = malloc(nb * sizeof *bounds)))
		memcpy(c->bounds, bounds, nb * sizeof *bounds);
	if (!ok || !c->help || !c->plugin || !c->family ||
	    (kind != DX_PM_GAUGE && !c->words) || (nb && !c->bounds)) {
		dx_pmetric_free(c);
		return NULL;
	}
	return c;
}

struct dx_counter *dx_metrics_plugin(dx_metrics *m, const char *plugin,
				     const char *name, const char *help,
				     dx_pmetric_kind kind, const double *bounds,
				     size_t nb, const char **why)
{
	*why = NULL;
	if (!name || !*name || strlen(name) > DX_NAME_MAX) {
		*why = "a metric name is 1..63 bytes";
		return NULL;
	}
	if (kind == DX_PM_HISTOGRAM && !dx_bounds_ok(bounds, nb)) {
		*why = "histogram bounds must be finite and ascending, at "
		       "least one";
		return NULL;
	}
	struct dx_counter *found = NULL;
	size_t plen = strlen(plugin);
	pthread_mutex_lock(&m->lock);
	for (struct dx_counter *c = m->list; c; c = c->next)
		if (!strncmp(c->name, plugin, plen) && c->name[plen] == '.' &&
		    !strcmp(c->name + plen + 1, name))
			found = c;
	if (found) {
		pthread_mutex_unlock(&m->lock);
		if (found->kind != kind || !dx_same_bounds(found, bounds, nb)) {
			*why = "the name is taken by a metric of another kind "
			       "or other bounds";
			return NULL;
		}
		return found;
	}
	struct dx_counter *c =
		dx_pmetric_new(m, plugin, name, help, kind, bounds, nb);
	if (c) {
		*m->tail = c;
		m->tail = &c->next;
	}
	pthread_mutex_unlock(&m->lock);
	if (!c)
		*why = "out of memory";
	return c;
}

static double dx_bits_double(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static uint64_t dx_double_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static void dx_word_fadd(_Atomic uint64_t *p, double v, bool shared)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	if (!shared) {
		atomic_store_explicit(p,
				      dx_double_bits(dx_bits_double(old) + v),
				      memory_order_relaxed);
		return;
	}
	while (!atomic_compare_exchange_weak_explicit(
		p, &old, dx_double_bits(dx_bits_double(old) + v),
		memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t dx_pmetric_sum(const struct dx_counter *c)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < c->ncells; i++)
		sum += atomic_load_explicit(&c->words[i * c->stride],
					    memory_order_relaxed);
	return sum;
}

void dx_pmetric_gauge_set(struct dx_counter *c, double v)
{
	atomic_store_explicit(&c->gauge, dx_double_bits(v),
			      memory_order_relaxed);
}

void dx_pmetric_gauge_add(struct dx_counter *c, double v)
{
	dx_word_fadd(&c->gauge, v, true);
}

double dx_pmetric_gauge_get(const struct dx_counter *c)
{
	return dx_bits_double(
		atomic_load_explicit(&c->gauge, memory_order_relaxed));
}

void dx_pmetric_observe(struct dx_counter *c, unsigned cell, double v)
{
	if (cell >= c->ncells)
		cell = 0;
	_Atomic uint64_t *w = &c->words[cell * c->stride];
	size_t b = 0;
	while (b < c->nb && !(v <= c->bounds[b]))
		b++;
	dx_cell_add_by(&w[b], 1, cell == 0);
	dx_word_fadd(&w[c->nb + 1], v, cell == 0);
}

void dx_metrics_each_counter(dx_metrics *m,
			     void (*fn)(void *ud, const char *name,
					const char *help, uint64_t value),
			     void *ud)
{
	pthread_mutex_lock(&m->lock);
	for (const struct dx_counter *c = m->list; c; c = c->next)
		if (c->kind == DX_PM_COUNTER)
			fn(ud, c->name, c->help, dx_pmetric_sum(c));
	pthread_mutex_unlock(&m->lock);
}

static void dx_write_histogram(dx_mtext *t, const struct dx_counter *c,
			       const dx_mlabels *l)
{
	uint64_t stack[64];
	uint64_t *counts = c->nb + 1 <= 64 ? stack :
					     calloc(c->nb + 1, sizeof *counts);
	if (!counts) {
		t->failed = true;
		return;
	}
	memset(counts, 0, (c->nb + 1) * sizeof *counts);
	double sum = 0;
	for (unsigned i = 0; i < c->ncells; i++) {
		const _Atomic uint64_t *w = &c->words[i * c->stride];
		for (size_t b = 0; b <= c->nb; b++)
			counts[b] += atomic_load_explicit(&w[b],
							  memory_order_relaxed);
		sum += dx_bits_double(atomic_load_explicit(
			&w[c->nb + 1], memory_order_relaxed));
	}
	dx_mtext_histogram(t, c->family, l, c->bounds, c->nb, counts, sum);
	if (counts != stack)
		free(counts);
}

void dx_metrics_write_plugins(dx_metrics *m, dx_mtext *t)
{
	static const char *const names[] = {"plugin"};
	static const char *const types[] = {"", "counter", "gauge",
					    "histogram"};
	pthread_mutex_lock(&m->lock);
	for (const struct dx_counter *c = m->list; c; c = c->next) {
		const char *values[] = {c->plugin};
		dx_mlabels l = {names, values, 1};
		dx_mtext_family(t, c->family, types[c->kind], c->help);
		if (c->kind == DX_PM_COUNTER)
			dx_mtext_sample_u64(t, c->family, &l,
					    dx_pmetric_sum(c));
		else if (c->kind == DX_PM_GAUGE)
			dx_mtext_sample(t, c->family, &l,
					dx_pmetric_gauge_get(c));
		else
			dx_write_histogram(t, c, &l);
	}
	pthread_mutex_unlock(&m->lock);
}

void dx_metrics_change(dx_metrics *m, const char *command, bool ok)
{
	size_t i = 0;
	while (i < 4 && strcmp(dx_metrics_commands[i], command))
		i++;
	if (i == 4)
		return; /* not a change: status, stats, ... */
	atomic_fetch_add_explicit(&m->changes[i][ok ? 0 : 1], 1,
				  memory_order_relaxed);
}

/* Where route id is in m->routes, or would go (sorted by id). */
static size_t dx_route_index(const dx_metrics *m, uint16_t id)
{
	size_t lo = 0, hi = m->route_count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->routes[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int dx_metrics_route_set(dx_metrics *m, uint16_t id, const char *name,
			 const char *plugin)
{
	pthread_mutex_lock(&m->lock);
	size_t lo = dx_route_index(m, id);
	if (lo == m->route_count || m->routes[lo].id != id) {
		if (m->route_count == m->route_cap) {
			size_t cap = m->route_cap ? 2 * m->route_cap : 16;
			dx_mroute *p = realloc(m->routes, cap * sizeof *p);
			if (!p) {
				pthread_mutex_unlock(&m->lock);
				return -ENOMEM;
			}
			m->routes = p;
			m->route_cap = cap;
		}
		memmove(&m->routes[lo + 1], &m->routes[lo],
			(m->route_count - lo) * sizeof *m->routes);
		m->route_count++;
	}
	dx_mroute *r = &m->routes[lo];
	r->id = id;
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->plugin, sizeof r->plugin, "%s", plugin ? plugin : "");
	pthread_mutex_unlock(&m->lock);
	return 0;
}

const dx_mroute *dx_metrics_route_find(const dx_metrics *m, uint16_t id)
{
	size_t lo = dx_route_index(m, id);
	return lo < m->route_count && m->routes[lo].id == id ? &m->routes[lo] :
							       NULL;
}
