/* config.h - dx_config: a node of the manifest that knows its JSON path.
 *
 * The host API's config getters are thin wrappers over these. A node owns
 * the child nodes it has handed out (made on first use and cached, so a
 * plugin may keep the pointer until fini). Not thread-safe: plugins read
 * their config during init, on the main thread. Errors are appended to d as
 * "PATH: message". */
#ifndef DX_HOST_CONFIG_H
#define DX_HOST_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include <dx/plugin.h>

#include "diag.h"

/* A root node for json (NULL: an empty object) named path. The json tree is
 * borrowed and must outlive the node. NULL on ENOMEM. */
dx_config *dx_config_new(const cJSON *json, const char *path);
/* A root for a manifest (key "") or one top-level section of it, named
 * key, so that error paths start there ("NAME.list[1].key"); its
 * messages say what was found as the manifest's own checks do ("got
 * 5000", "did you mean"). Borrowed json; NULL when json is NULL or on
 * ENOMEM. */
dx_config *dx_config_section(const cJSON *json, const char *key);
/* A node holding the string text (copied), named path. NULL on ENOMEM. */
dx_config *dx_config_string(const char *text, const char *path);
void dx_config_free(dx_config *c);

const char *dx_config_node_path(const dx_config *c);
const cJSON *dx_config_json(const dx_config *c);

int dx_config_get_str(const dx_config *c, const char *key, const char *def,
		      const char **out, dx_diag *d);
int dx_config_get_int(const dx_config *c, const char *key, int64_t def,
		      int64_t min, int64_t max, int64_t *out, dx_diag *d);
int dx_config_get_bool(const dx_config *c, const char *key, bool def,
		       bool *out, dx_diag *d);
int dx_config_get_double(const dx_config *c, const char *key, double def,
			 double *out, dx_diag *d);
bool dx_config_has(const dx_config *c, const char *key);
const dx_config *dx_config_child(const dx_config *c, const char *key,
				 dx_diag *d);
size_t dx_config_len(const dx_config *c);
const dx_config *dx_config_at(const dx_config *c, size_t i);
int dx_config_check_keys(const dx_config *c, const char *const *allowed,
			 dx_diag *d);
/* "PATH.key: " + message, appended to d; returns DX_ECONFIG. */
int dx_config_verror(const dx_config *c, const char *key, dx_diag *d,
		     const char *fmt, va_list ap);

#endif
