/* txn.h - a change to the running server's plugins, made as one step.
 *
 * Every change (reload, load, unload, and apply, which is several of them)
 * is a transaction: each step is checked, initialised and put into the
 * registry's tables at once, where only the main thread looks (lookups
 * during a later step's init see it), while workers go on serving the
 * published generation, which does not change. Publishing builds one
 * generation from the registry and the transaction's manifest and hands it
 * to the workers; until then every step can be undone, in reverse order,
 * and an abort leaves the registry exactly as it was.
 *
 * A reload also reloads every live plugin that uses the replaced one (it
 * looked one of its facets up and may call it): their new instances look
 * up the new build during their init, and the old ones retire together.
 * Main thread only. */
#ifndef DX_HOST_TXN_H
#define DX_HOST_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "manifest.h"
#include "server.h"

typedef enum dx_step_kind {
	DX_STEP_LOAD,
	DX_STEP_RELOAD,
	DX_STEP_UNLOAD,
} dx_step_kind;

typedef struct dx_txn_step {
	dx_step_kind kind;
	struct dx_plugin_entry *e; /* the new instance, or the leaving one */
	struct dx_plugin_entry *old; /* reload: the instance it replaced */
	bool handoff;              /* reload: state went from old to new */
	bool cascade;              /* reloaded because a plugin it uses was */
	char name[64];
	char from[64]; /* reload, unload: the old version */
	char to[64];   /* load, reload: the new version */
	char path[1024];
} dx_txn_step;

typedef struct dx_txn {
	dx_server *s;
	const dx_manifest *m;      /* the manifest the change brings */
	const dx_manifest *before; /* the registry's before it */
	uint64_t id;               /* the generation it will publish */
	dx_txn_step *steps;
	size_t count;
	size_t cap;
} dx_txn;

/* Begin a change of s against manifest m (the one in force, or the one
 * apply brings: the registry answers host->section from it meanwhile). */
void dx_txn_begin(dx_txn *t, dx_server *s, const dx_manifest *m);
/* Replace plugin name with a new instance from path (NULL: the file it
 * came from), configured by conf (a manifest entry; NULL: as before), and
 * every plugin that uses it. */
int dx_txn_reload(dx_txn *t, const char *name, const char *path,
		  const dx_manifest_plugin *conf, dx_diag *d);
/* Load and initialise a plugin entry. */
int dx_txn_load(dx_txn *t, const dx_manifest_plugin *pl, dx_diag *d);
/* Take plugin name out (refused for the IO backend in use, a plugin the
 * transaction's manifest names as middleware, and one others use). */
int dx_txn_unload(dx_txn *t, const char *name, dx_diag *d);
/* Build the generation and publish it; returns once every worker serves
 * with it. If it cannot be built, the transaction is aborted. */
int dx_txn_publish(dx_txn *t, dx_diag *d);
/* Undo every step, last first. */
void dx_txn_abort(dx_txn *t);
/* Log what was published and free t. */
void dx_txn_end(dx_txn *t);

#endif
