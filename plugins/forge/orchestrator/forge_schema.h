/* forge_schema.h - forge's part of the manifest, "forge": {"tools": [...]},
 * checked in one place for both of its readers: the forge plugin at init
 * (the host hands the section through host->section) and `dx forge run`,
 * which reads the manifest without a host (the host core library gives it
 * a config table of its own: dx_config_api in config.h).
 *
 * Every problem is reported through host->config_error with its JSON path
 * ("forge.tools[1].binary: ..."), not just the first. Main thread. */
#ifndef DX_FORGE_SCHEMA_H
#define DX_FORGE_SCHEMA_H

#include <dx/plugin.h>

/* Check the section sec (NULL: none, fine). 0, or DX_ECONFIG after
 * reporting every problem. */
int forge_schema_check(const dx_host_api *h, const dx_config *sec);

/* A tool's cwd as the driver needs it: relative paths are meant from the
 * manifest's directory dir. malloc'd; NULL on ENOMEM. */
char *forge_schema_path(const char *dir, const char *cwd);

#endif
