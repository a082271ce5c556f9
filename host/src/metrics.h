/* metrics.h - the host's metrics store: plugins' own counters, gauges and
 * histograms, the route names the scrape labels with, and the host-wide
 * numbers only the main thread knows (generation, changes, plugins).
 *
 * Owned by the registry (created and freed with it), so every metric
 * outlives the plugin that made it: a reloaded build finds its metric by
 * name and keeps counting. Threads: metrics are created on the main thread
 * (a plugin's init); their values change from any thread without a lock
 * (a worker writes its own cell, other threads one shared cell with
 * atomic adds); the scrape (the control thread, or the HTTP endpoint's
 * thread) reads everything under `lock`, which only creation and the
 * publish of a generation also take: never a request. */
#ifndef DX_HOST_METRICS_H
#define DX_HOST_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/plugin.h>

#include "cell.h"
#include "metrics_text.h"

typedef enum dx_pmetric_kind {
	DX_PM_COUNTER = 1,
	DX_PM_GAUGE = 2,
	DX_PM_HISTOGRAM = 3,
} dx_pmetric_kind;

/* One cell: a worker's own (written by that worker alone) or the shared
 * one (index 0: threads that are not workers). A cache line each, so
 * workers never write the same line. */
#define DX_PM_CELL_WORDS 8

/* A plugin's metric of any kind. dx_gauge and dx_histogram (plugin.h)
 * are this struct too; dx_counter is its name in the oldest API. */
struct dx_counter {
	struct dx_counter *next;
	char *name; /* "<plugin>.<name>" */
	char *help;
	char *family; /* the Prometheus name: dx_plugin_<plugin>_<name> */
	char *plugin;
	dx_pmetric_kind kind;
	/* Counter: words[0] of each cell. Histogram: per cell, nb + 1
	 * bucket counts, the sum (a double's bits), rounded up to whole
	 * cells of DX_PM_CELL_WORDS. Gauge: gauge (a double's bits). */
	unsigned ncells; /* workers + 1 */
	size_t stride;   /* words per cell */
	_Atomic uint64_t *words;
	double *bounds;
	size_t nb;
	_Atomic uint64_t gauge;
};

/* A route's name as of the generation last published. */
typedef struct dx_mroute {
	uint16_t id;
	char name[DX_NAME_MAX + 1];
	char plugin[DX_NAME_MAX + 1];
} dx_mroute;

typedef struct dx_metrics {
	pthread_mutex_t lock;
	unsigned workers;
	struct dx_counter *list, **tail; /* creation order */
	dx_mroute *routes;               /* sorted by id */
	size_t route_count, route_cap;
	/* Main-thread facts, stored when they change. */
	_Atomic uint64_t generation;
	_Atomic uint64_t plugins, retiring;
	/* Live changes: [command][ok 0 / failed 1]. */
	_Atomic uint64_t changes[4][2];
	double start_s; /* realtime, seconds */
} dx_metrics;

/* The commands whose outcomes are counted (dx_reloads_total). */
extern const char *const dx_metrics_commands[4];

/* workers: the host's worker count (cells per metric). NULL on ENOMEM. */
dx_metrics *dx_metrics_new(unsigned workers);
void dx_metrics_free(dx_metrics *m);

/* The metric plugin.name of kind, made on first use (bounds copied, for
 * a histogram: ascending, finite, count >= 1). The same name asked again
 * gives the same metric when kind (and bounds) match, else NULL with
 * *why set. NULL on ENOMEM too. Main thread. */
struct dx_counter *dx_metrics_plugin(dx_metrics *m, const char *plugin,
				     const char *name, const char *help,
				     dx_pmetric_kind kind, const double *bounds,
				     size_t nb, const char **why);
/* Value changes; cell is the calling worker's id + 1, or 0 on any other
 * thread. Lock-free. The add is inline: plugins count on every request
 * (host->counter_add), and a call more per count showed in callgrind. */
static inline void dx_pmetric_add(struct dx_counter *c, unsigned cell,
				  uint64_t n)
{
	if (cell >= c->ncells)
		cell = 0;
	dx_cell_add_by(&c->words[cell * c->stride], n, cell == 0);
}
uint64_t dx_pmetric_sum(const struct dx_counter *c);
void dx_pmetric_gauge_set(struct dx_counter *c, double v);
void dx_pmetric_gauge_add(struct dx_counter *c, double v);
double dx_pmetric_gauge_get(const struct dx_counter *c);
void dx_pmetric_observe(struct dx_counter *c, unsigned cell, double v);

/* Every counter (kind COUNTER) in creation order, with its sum. */
void dx_metrics_each_counter(dx_metrics *m,
			     void (*fn)(void *ud, const char *name,
					const char *help, uint64_t value),
			     void *ud);
/* Write every plugin metric as Prometheus families. Takes lock. */
void dx_metrics_write_plugins(dx_metrics *m, dx_mtext *t);

/* A control command ended; counted when it is a live change ("reload",
 * "load", "unload", "apply"), ignored otherwise. */
void dx_metrics_change(dx_metrics *m, const char *command, bool ok);

/* The route names a scrape uses: set wholesale by the main thread at each
 * publish (routes of the new generation; ids it no longer serves keep
 * their last name, so their counts stay labelled). Takes lock. */
int dx_metrics_route_set(dx_metrics *m, uint16_t id, const char *name,
			 const char *plugin);
/* Route id's name, or NULL when it was never named. The caller holds
 * lock. */
const dx_mroute *dx_metrics_route_find(const dx_metrics *m, uint16_t id);

/* metrics_host.c: the main thread's part of a publish (generation g is
 * in force: its route names, its id, the plugin count), and the scrape:
 * every metric as Prometheus text (malloc'd; NULL on ENOMEM). s may be
 * NULL (a host without workers). Any thread but a worker's. */
struct dx_registry;
struct dx_server;
struct dx_gen;
void dx_metrics_publish(struct dx_registry *r, const struct dx_gen *g);
char *dx_metrics_render(struct dx_registry *r, const struct dx_server *s,
			size_t *len);

#endif
