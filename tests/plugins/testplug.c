/* testplug.c - the loader's and registry's test plugins, one source built
 * many times (see meson.build): each -D switch below breaks or renames one
 * thing, so every refusal class is a real .so with exactly one defect.
 *
 * Without switches this is "good": a ROUTES facet "good_routes" (routes 100
 * "good.ping" and 101 "good.echo") and a SERVICE facet "good_svc" whose
 * vtable answers the config's "answer" (default 42).
 *
 *   TP_NAME, TP_VERSION, TP_PREFIX   plugin name, version, facet/route prefix
 *   TP_SVC_NAME                      the SERVICE facet's name
 *   TP_ROUTE_A, TP_ROUTE_B           the two route ids
 *   TP_ROUTE_NAME_B                  the second route's name
 *   TP_VTABLE_SIZE                   the ROUTES vtable's size member
 *   TP_DUP_FACET                     declare the SERVICE facet twice
 *   TP_EXTRA_KIND                    add a facet of this kind
 *   TP_HANDMADE                      write the descriptor by hand, with
 *     TP_MAGIC, TP_ABI_MAJOR, TP_ABI_MINOR, TP_SIZE  its prefix fields,
 *     TP_EXPORT_NONE                 export no dx_plugin_v1 at all
 *     TP_EXPORT_NULL                 dx_plugin_v1 returns NULL
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "testplug.h"

#ifndef TP_NAME
#define TP_NAME "good"
#endif
#ifndef TP_VERSION
#define TP_VERSION "1.2.3"
#endif
#ifndef TP_PREFIX
#define TP_PREFIX TP_NAME
#endif
#ifndef TP_SVC_NAME
#define TP_SVC_NAME TP_PREFIX "_svc"
#endif
#ifndef TP_ROUTE_A
#define TP_ROUTE_A 100
#endif
#ifndef TP_ROUTE_B
#define TP_ROUTE_B (TP_ROUTE_A + 1)
#endif
#ifndef TP_ROUTE_NAME_B
#define TP_ROUTE_NAME_B TP_PREFIX ".echo"
#endif
#ifndef TP_VTABLE_SIZE
#define TP_VTABLE_SIZE sizeof(dx_routes_vtable)
#endif

struct tp {
	int64_t answer;
};

static int tp_ping(void *self, const dx_request *req, dx_response *res)
{
	return dx_response_printf(res, "pong from %s", TP_NAME);
}

static int tp_echo(void *self, const dx_request *req, dx_response *res)
{
	return dx_response_write(res, req->body, req->body_len);
}

static int tp_answer(void *self)
{
	return (int)((struct tp *)self)->answer;
}

static int tp_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	struct tp *t = calloc(1, sizeof *t);
	if (!t)
		return host->fail(host, -ENOMEM, "out of memory");
	int rc = host->config_int(host, config, "answer", 42, 0, 1000,
				  &t->answer);
	if (rc < 0) {
		free(t);
		return rc;
	}
	*self = t;
	return 0;
}

static void tp_fini(void *self)
{
	free(self);
}

static const dx_route tp_routes[] = {
	{.id = TP_ROUTE_A, .name = TP_PREFIX ".ping", .call = tp_ping},
	{.id = TP_ROUTE_B, .name = TP_ROUTE_NAME_B, .call = tp_echo},
};

static const dx_routes_vtable tp_routes_vt = {
	.size = TP_VTABLE_SIZE,
	.route_size = sizeof(dx_route),
	.routes = tp_routes,
	.count = sizeof tp_routes / sizeof tp_routes[0],
};

static const tp_service_vtable tp_svc = {
	.size = sizeof(tp_service_vtable),
	.answer = tp_answer,
};

static const dx_facet tp_facets[] = {
	{DX_FACET_ROUTES, TP_PREFIX "_routes", &tp_routes_vt},
	{DX_FACET_SERVICE, TP_SVC_NAME, &tp_svc},
#ifdef TP_DUP_FACET
	{DX_FACET_SERVICE, TP_SVC_NAME, &tp_svc},
#endif
#ifdef TP_EXTRA_KIND
	{TP_EXTRA_KIND, TP_PREFIX "_extra", &tp_svc},
#endif
};

#define TP_FIELDS                                                              \
	.name = TP_NAME, .version = TP_VERSION,                                \
	.description = "a dx test plugin", DX_FACETS(tp_facets),               \
	.init = tp_init, .fini = tp_fini

#ifndef TP_HANDMADE
DX_PLUGIN(TP_FIELDS)
#else
#ifndef TP_MAGIC
#define TP_MAGIC DX_PLUGIN_MAGIC
#endif
#ifndef TP_ABI_MAJOR
#define TP_ABI_MAJOR DX_ABI_MAJOR
#endif
#ifndef TP_ABI_MINOR
#define TP_ABI_MINOR DX_ABI_MINOR
#endif
#ifndef TP_SIZE
#define TP_SIZE sizeof(dx_plugin)
#endif

static const dx_plugin tp_desc = {
	.magic = TP_MAGIC,
	.abi_major = TP_ABI_MAJOR,
	.abi_minor = TP_ABI_MINOR,
	.size = TP_SIZE,
	TP_FIELDS,
};

#if defined(TP_EXPORT_NONE)
/* A plugin built for some other entry point: the right descriptor behind
 * the wrong symbol. */
DX_EXPORT const dx_plugin *dx_plugin_v0(void);
DX_EXPORT const dx_plugin *dx_plugin_v0(void)
{
	return &tp_desc;
}
#else
DX_EXPORT const dx_plugin *dx_plugin_v1(void);
DX_EXPORT const dx_plugin *dx_plugin_v1(void)
{
#ifdef TP_EXPORT_NULL
	(void)tp_desc;
	return NULL;
#else
	return &tp_desc;
#endif
}
#endif
#endif
