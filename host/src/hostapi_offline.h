/* hostapi_offline.h - a plugin's host API table without a host, for a
 * program that checks a plugin's manifest section itself, with the same
 * code the plugin runs at init (the dx tool does, for a plugin's verbs).
 *
 * Only the config members work (config_str ... config_keys, and fail);
 * every other member is NULL. Errors collect in the table's own list.
 * One thread; the caller owns the table. */
#ifndef DX_HOST_HOSTAPI_OFFLINE_H
#define DX_HOST_HOSTAPI_OFFLINE_H

#include <dx/plugin.h>

#include "diag.h"

/* A new table, or NULL on ENOMEM. */
const dx_host_api *dx_hostapi_offline(void);
/* What its getters and config_error reported so far. */
const dx_diag *dx_hostapi_offline_errors(const dx_host_api *host);
void dx_hostapi_offline_free(const dx_host_api *host);

#endif
