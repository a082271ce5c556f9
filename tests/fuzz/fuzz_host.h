/* fuzz_host.h - a real host core for the fuzz targets without sockets: a
 * manifest parsed from text, its plugins loaded from this build's plugins
 * directory and initialised, and (for the pipeline) one generation built
 * from them, exactly as dx-host does at start (boot.c, gen.c). */
#ifndef DX_FUZZ_HOST_H
#define DX_FUZZ_HOST_H

#include <stdio.h>
#include <stdlib.h>

#include "boot.h"
#include "diag.h"
#include "gen.h"
#include "manifest.h"
#include "registry.h"

/* The members of a manifest (for fuzz_boot) that serve nothing and load
 * routes_echo (echo: route 2, delay: route 3) and mw_timing, which adds
 * response metadata, as the middleware chain. */
#define FUZZ_ECHO_TIMING                                                   \
	"\"dx\": 1, \"listen\": [], \"plugins\": ["                           \
	"{\"name\": \"routes_echo\", "                                       \
	"\"path\": \"%s/routes_echo/routes_echo.so\"},"                      \
	"{\"name\": \"mw_timing\", \"path\": \"%s/mw_timing/mw_timing.so\"}]," \
	"\"middleware\": [\"mw_timing\"]"

/* The build's plugins directory: $DX_PLUGINS, else the one this target was
 * built beside. */
static inline const char *fuzz_plugins_dir(void)
{
	const char *p = getenv("DX_PLUGINS");
	return p && *p ? p : FUZZ_PLUGINS;
}

/* Parse text (printf-style, with the plugins directory as its one %s
 * wherever a plugin path needs it), boot its plugins into a new registry.
 * Exits on failure: a target that cannot start is a broken build. */
static inline void fuzz_boot(const char *text, dx_manifest **m,
			     dx_registry **r)
{
	dx_diag d = DX_DIAG_INIT;
	const char *dir = fuzz_plugins_dir();
	size_t n = (size_t)snprintf(NULL, 0, text, dir, dir, dir, dir) + 1;
	char *json = malloc(n);
	if (!json)
		abort();
	snprintf(json, n, text, dir, dir, dir, dir);
	dx_registry_opts ro = {.log_level = DX_LOG_ERROR, .workers = 1};
	if (dx_manifest_parse(json, "fuzz.json", "/", m, &d) < 0 ||
	    !(*r = dx_registry_new(&ro)) || dx_boot_plugins(*m, *r, &d) < 0) {
		dx_diag_print(&d, stderr, "fuzz: boot");
		fprintf(stderr, "fuzz: manifest was: %s\n", json);
		exit(1);
	}
	free(json);
	dx_diag_clear(&d);
}

#endif
