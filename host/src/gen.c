/* gen.c - building a generation: the route table, route 0's JSON and the
 * middleware chains, from the registry as it is now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "gen.h"

#define DX_ROUTE_SLOTS 65536u

static int dx_gen_routes(dx_gen *g, const dx_registry *r)
{
	/* calloc: untouched pages stay the kernel's zero page, so a table
	 * costs only the slots in use. */
	g->routes = calloc(DX_ROUTE_SLOTS, sizeof *g->routes);
	cJSON *arr = cJSON_CreateArray();
	if (!g->routes || !arr) {
		cJSON_Delete(arr);
		return -ENOMEM;
	}
	for (uint32_t id = 1; id < DX_ROUTE_SLOTS; id++) {
		const dx_route_ref *ref = dx_registry_route(r, (uint16_t)id);
		if (!ref)
			continue;
		g->routes[id] = *ref;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", id);
		cJSON_AddStringToObject(o, "name", ref->route->name);
		cJSON_AddStringToObject(o, "plugin", ref->plugin);
		cJSON_AddItemToArray(arr, o);
	}
	g->routes_json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (!g->routes_json)
		return -ENOMEM;
	g->routes_json_len = strlen(g->routes_json);
	return 0;
}

static int dx_gen_route_id(const dx_gen *g, const char *name)
{
	for (uint32_t id = 1; id < DX_ROUTE_SLOTS; id++)
		if (g->routes[id].route &&
		    strcmp(g->routes[id].route->name, name) == 0)
			return (int)id;
	return -1;
}

/* The manifest's middleware chain, and each route's own where it has one;
 * routes without one use the default (by_route slot NULL). */
static int dx_gen_chains(dx_gen *g, const dx_manifest *m,
			 const dx_registry *r, dx_diag *d)
{
	int rc = dx_chain_build(r, m->middleware, m->middleware_count,
				"middleware", &g->chain, d);
	if (rc < 0 || !m->route_middleware_count)
		return rc;
	g->route_chains = calloc(m->route_middleware_count,
				 sizeof *g->route_chains);
	g->by_route = calloc(DX_ROUTE_SLOTS, sizeof *g->by_route);
	if (!g->route_chains || !g->by_route)
		return -ENOMEM;
	for (size_t i = 0; i < m->route_middleware_count; i++) {
		const dx_route_mw *rm = &m->route_middleware[i];
		char path[128];
		snprintf(path, sizeof path, "route_middleware.%s", rm->route);
		int id = dx_gen_route_id(g, rm->route);
		if (id < 0) {
			dx_diag_add(d, "%s: no route named \"%s\" is loaded",
				    path, rm->route);
			return DX_ENAME;
		}
		rc = dx_chain_build(r, rm->names, rm->count, path,
				    &g->route_chains[i], d);
		if (rc < 0)
			return rc;
		g->route_chain_count = i + 1;
		g->by_route[id] = &g->route_chains[i];
	}
	return 0;
}

int dx_gen_build(const dx_manifest *m, const dx_registry *r, uint64_t id,
		 dx_gen **out, dx_diag *d)
{
	*out = NULL;
	dx_gen *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->id = id;
	g->limits = m->limits;
	int rc = dx_gen_routes(g, r);
	if (rc == 0)
		rc = dx_gen_chains(g, m, r, d);
	if (rc < 0) {
		if (rc == -ENOMEM)
			dx_diag_add(d, "out of memory building the route table");
		dx_gen_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void dx_gen_free(dx_gen *g)
{
	if (!g)
		return;
	free(g->routes);
	cJSON_free(g->routes_json);
	dx_chain_free(&g->chain);
	for (size_t i = 0; i < g->route_chain_count; i++)
		dx_chain_free(&g->route_chains[i]);
	free(g->route_chains);
	free(g->by_route);
	free(g);
}
