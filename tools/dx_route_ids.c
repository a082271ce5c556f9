/* dx_route_ids.c - the route ids of the plugins shipped with dx (see
 * dx_route_ids.h). A shipped plugin that registers a new route adds a row
 * here, in the range 1..1023; route_ids.sh fails until it does. */
#include "dx_route_ids.h"

static const dx_shipped_route dx_table[] = {
	{1, "hello", "routes_hello"},
	{2, "echo", "routes_echo"},
	{3, "delay", "routes_echo"},
	{100, "db.get", "db_teleport"},
	{101, "db.subscribe", "db_teleport"},
	{102, "db.stats", "db_teleport"},
	{200, "forge", "forge"},
};

const dx_shipped_route *dx_shipped_routes(size_t *n)
{
	*n = sizeof dx_table / sizeof dx_table[0];
	return dx_table;
}

const dx_shipped_route *dx_shipped_route_find(uint16_t id)
{
	for (size_t i = 0; i < sizeof dx_table / sizeof dx_table[0]; i++)
		if (dx_table[i].id == id)
			return &dx_table[i];
	return NULL;
}

uint16_t dx_route_id_suggest(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return (uint16_t)(DX_ROUTE_ID_THIRD_PARTY_MIN +
			  h % (65536u - DX_ROUTE_ID_THIRD_PARTY_MIN));
}
