/* manifest_int.h - what the manifest's schema files share (manifest.c,
 * manifest_listen.c, manifest_plugins.c); not an interface. */
#ifndef DX_HOST_MANIFEST_INT_H
#define DX_HOST_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#include "json_check.h"
#include "manifest.h"

/* One validation run: where messages go, what is being built. */
typedef struct mctx {
	dx_jcheck jc;
	dx_manifest *m;
} mctx;

/* Append s to the array *v of *n strings, taking ownership of s. */
bool dx_manifest_push_str(mctx *c, char ***v, size_t *n, char *s);
char *dx_manifest_join(mctx *c, const char *dir, const char *name);
/* Relative paths in a manifest mean "from the manifest's directory",
 * never from wherever the host happened to be started. */
char *dx_manifest_resolve(mctx *c, const char *p);
bool dx_manifest_is_dir(const char *p);
/* The length of p's directory part: up to its last separator (path.h),
 * which is kept only when it is the root's; 0 when p has none. */
size_t dx_path_dir_len(const char *p);
bool dx_manifest_is_file(const char *p);
/* The canonical form of an existing path, falling back to p itself. */
char *dx_manifest_canonical(mctx *c, char *p);

/* The path value v at path (a non-empty string, else reported) resolved,
 * and stat's answer: *st, with *e 0 or the errno. NULL when v is not a
 * path or on ENOMEM. The caller frees the result. */
struct stat;
char *dx_manifest_stat(mctx *c, const cJSON *v, const char *path,
		       struct stat *st, int *e);

/* manifest_listen.c: listen, control.socket, metrics.listen. */
void dx_manifest_listen(mctx *c, const cJSON *root);
void dx_manifest_control(mctx *c, const cJSON *root);
void dx_manifest_metrics(mctx *c, const cJSON *root);
/* manifest_plugins.c: plugins, middleware, route_middleware. */
void dx_manifest_plugins(mctx *c, const cJSON *root);
void dx_manifest_middleware(mctx *c, const cJSON *root);
bool dx_manifest_is_plugin(const dx_manifest *m, const char *name);

#endif
