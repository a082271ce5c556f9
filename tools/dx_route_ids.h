/* dx_route_ids.h - the route ids dx keeps for itself (docs/writing-plugins.md,
 * "Route ids").
 *
 * 0 is the host's discovery route; 1..DX_ROUTE_ID_RESERVED_MAX belong to
 * the plugins shipped with dx; third parties take
 * DX_ROUTE_ID_THIRD_PARTY_MIN..65535. The table lists the ids the shipped
 * plugins register, whether or not this build built them (db_teleport
 * needs libpq, forge Linux), so `dx plugin inspect` can name the plugin an
 * id clashes with without any plugin file at hand. tests/integration's
 * route_ids.sh compares it with the built plugins' descriptors. */
#ifndef DX_ROUTE_IDS_H
#define DX_ROUTE_IDS_H

#include <stddef.h>
#include <stdint.h>

#define DX_ROUTE_ID_RESERVED_MAX 1023
#define DX_ROUTE_ID_THIRD_PARTY_MIN 1024

typedef struct dx_shipped_route {
	uint16_t id;
	const char *route;  /* its name */
	const char *plugin; /* the shipped plugin that registers it */
} dx_shipped_route;

/* The table, in id order; *n is set to its length. */
const dx_shipped_route *dx_shipped_routes(size_t *n);
/* The shipped route with id, or NULL. */
const dx_shipped_route *dx_shipped_route_find(uint16_t id);
/* The id a new third-party plugin's first route gets: a hash of its name
 * into DX_ROUTE_ID_THIRD_PARTY_MIN..65535, so two generated plugins
 * rarely pick the same one. */
uint16_t dx_route_id_suggest(const char *name);

#endif
