/* forge_handoff.h - what one build of forge hands the next in a live
 * reload (`dx ctl reload forge`): the blob its handoff_export gives out.
 *
 * Two builds read it, the old one writing and the new one reading, so it
 * carries a layout tag: FORGE_HANDOFF_LAYOUT changes whenever this file,
 * dx_orch_tool (orch.h) or dx_forge_proc (dx/forge.h) changes, and an
 * import refuses a layout it does not read, naming both versions; the old
 * instance then keeps its tools. magic and layout stay the first two
 * members in every layout, so any build can read them.
 *
 * The blob lives inside the exporting instance (forge.handoff) and is
 * valid until its fini. Its functions are the exporter's code, called by
 * the importer; the move itself runs on worker 0, the thread where both
 * supervise, so no callback of the exporter runs while it does (see
 * forge_handoff.c). */
#ifndef DX_FORGE_HANDOFF_H
#define DX_FORGE_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include <dx/forge.h>

#include "orch.h"

#define FORGE_HANDOFF_MAGIC 0x48475246u /* "FRGH" in memory */
#ifndef FORGE_HANDOFF_LAYOUT
#define FORGE_HANDOFF_LAYOUT 1u
#endif

/* One tool as the exporter supervises it. The strings and run.spec are
 * the exporter's, valid only during the move; run's other fields are
 * plain values. */
typedef struct forge_handoff_tool {
	const char *name;
	const char *driver;   /* the FORGE_DRIVER facet that started it */
	dx_forge_proc proc;   /* pid 0 and pidfd -1: no process */
	dx_orch_tool run;     /* the orchestrator's run-time fields */
} forge_handoff_tool;

typedef struct forge_handoff {
	uint32_t magic;  /* FORGE_HANDOFF_MAGIC */
	uint32_t layout; /* FORGE_HANDOFF_LAYOUT of the exporter */
	uint32_t tool_size; /* sizeof(forge_handoff_tool) of the exporter */
	const char *version; /* the exporter's plugin version */
	void *from;          /* the exporting instance, for the calls below */
	/* Any thread (it takes the exporter's lock). The exporter's tools,
	 * a malloc'd array the caller frees (*n entries): 0, or DX_ESTATE
	 * when it supervises nothing (it gave its tools away already),
	 * -ENOMEM. Nothing changes. Only on worker 0 does it stay true until
	 * the release that follows. */
	int (*snapshot)(void *from, forge_handoff_tool **out, size_t *n);
	/* Worker 0 only, right after snapshot: the exporter stops
	 * supervising (unwatches each pidfd, cancels health checks, forgets
	 * its processes, ignores its pending timers). The pidfds of the
	 * snapshot are the caller's from now on; the processes keep
	 * running. Cannot fail. */
	void (*release)(void *from);
} forge_handoff;

#endif
