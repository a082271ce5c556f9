/* gen.h - a generation: everything a worker reads to serve a request.
 *
 * The route table, the middleware chains and route 0's answer are built
 * together from the registry as it is at one moment, and never change
 * afterwards. The server publishes one generation at a time (an atomic
 * pointer); a worker adopts the newest at its loop boundary, right after it
 * collected completions and before it dispatches any of them, so a request
 * runs wholly on one generation, and the hot path reads it without a lock.
 *
 * A generation ends when two things are true: every worker has adopted a
 * newer one (each worker publishes the id it adopted: a quiescent point,
 * QSBR's idea), and no deferred request still runs on it (refs). Only then
 * may the plugin instances it points to be finalised. Built and freed on
 * the main thread; read by workers. */
#ifndef DX_HOST_GEN_H
#define DX_HOST_GEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "diag.h"
#include "manifest.h"
#include "registry.h"

typedef struct dx_gen {
	uint64_t id; /* 1 for the first, then one more per publish */
	dx_route_ref *routes; /* 65,536 slots by route id; route NULL: none */
	dx_chain chain;       /* the manifest's middleware */
	dx_chain *route_chains; /* route_middleware, or NULL */
	size_t route_chain_count;
	const dx_chain **by_route; /* 65,536 slots, or NULL: none */
	char *routes_json;         /* route 0's answer */
	/* The manifest's limits as of this generation: workers read them
	 * here, so `apply` changes them at a loop boundary like the rest. */
	struct dx_limits limits;
	size_t routes_json_len;
	/* Deferred requests that started on this generation and have not
	 * been answered: their after hooks and route still point into it. */
	_Atomic unsigned long refs;
	uint64_t replaced_by; /* the id that replaced it; 0: current */
	struct dx_gen *next;  /* the server's list of replaced ones */
} dx_gen;

/* Build generation id from the registry's routes and the manifest's
 * middleware (every plugin initialised). 0, or negative with the reason in
 * d (a chain names a plugin without a MIDDLEWARE facet, a route_middleware
 * key names no route). Main thread. */
int dx_gen_build(const dx_manifest *m, const dx_registry *r, uint64_t id,
		 dx_gen **out, dx_diag *d);
void dx_gen_free(dx_gen *g);

/* The route with this id, or NULL. O(1). */
static inline const dx_route_ref *dx_gen_route(const dx_gen *g, uint16_t id)
{
	return g->routes[id].route ? &g->routes[id] : NULL;
}

/* The chain for route id: its own, or the manifest's middleware. */
static inline const dx_chain *dx_gen_chain(const dx_gen *g, uint16_t id)
{
	const dx_chain *c = g->by_route ? g->by_route[id] : NULL;
	return c ? c : &g->chain;
}

#endif
