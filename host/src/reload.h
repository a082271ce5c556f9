/* reload.h - replace a plugin with a new build while the server runs.
 * Main thread only (the control socket's thread). */
#ifndef DX_HOST_RELOAD_H
#define DX_HOST_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "diag.h"
#include "server.h"

typedef struct dx_reload_result {
	char name[64];       /* the plugin (load: from its descriptor) */
	char from[64];       /* the old instance's version */
	char to[64];         /* the new one's */
	char path[1024];     /* the file the new one came from */
	uint64_t generation; /* the generation it was published in */
	bool handoff;        /* state went from old to new */
	char also[256];      /* plugins reloaded with it, comma-separated */
	double ms;           /* how long the whole reload took */
} dx_reload_result;

/* Reload plugin name from path (NULL or "": the file it was loaded from):
 * checked like at startup, initialised with its manifest config, handed
 * the old instance's state, published; returns once every worker serves
 * with it. On failure nothing changed, the old instance keeps serving,
 * and d holds the reason. */
int dx_server_reload(dx_server *s, const char *name, const char *path,
		     dx_reload_result *out, dx_diag *d);
/* Free the generations no worker can use any more, finalise and unload
 * the plugin instances only they ran; returns how many of either are
 * still waiting (call again later while it is not 0). */
size_t dx_server_reap(dx_server *s);
/* The id of the generation workers serve with now. */
uint64_t dx_server_generation(const dx_server *s);

/* Load a plugin given as a manifest entry ({"name": ..., "path": ...,
 * "config": ..., "routes": ...}), checked like at startup, initialised,
 * and published; out->to and out->path say which. On failure nothing
 * changed. */
int dx_server_load(dx_server *s, const cJSON *entry, dx_reload_result *out,
		   dx_diag *d);
/* Take plugin name out of service: once published, no new request
 * reaches it; it is finalised and unloaded like a replaced instance.
 * Refused for the IO backend in use, a plugin the manifest's middleware
 * names, and SERVICE and FORGE_DRIVER providers. */
int dx_server_unload(dx_server *s, const char *name, dx_reload_result *out,
		     dx_diag *d);

/* What apply did. */
typedef struct dx_apply_result {
	char path[1024];     /* the manifest read */
	uint64_t generation; /* the one in force afterwards */
	cJSON *changes;      /* ["load NAME", "middleware", ...]; caller frees */
	double ms;
} dx_apply_result;

/* Make the running server match the manifest at path (NULL: the one it
 * started with) as one transaction (apply.c). On failure nothing
 * changed and d holds every reason. */
int dx_server_apply(dx_server *s, const char *path, dx_apply_result *out,
		    dx_diag *d);

#endif
