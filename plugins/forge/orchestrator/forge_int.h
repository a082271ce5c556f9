/* forge_int.h - what forge.c (the plugin: tools from the manifest, the
 * drivers, the event loop), forge_control.c (the "forge" control
 * command) and forge_handoff.c (the live reload) share. */
#ifndef DX_FORGE_INT_H
#define DX_FORGE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dx/forge.h>
#include <dx/plugin.h>

#include "forge_handoff.h"
#include "orch.h"

/* The plugin's version; a test build overrides it (and the handoff
 * layout, forge_handoff.h) to be a build a reload must refuse. */
#ifndef FORGE_VERSION
#define FORGE_VERSION "1.1.0"
#endif

typedef struct forge forge;

/* A tool as the plugin runs it: the driver's description and handles.
 * proc, watch and probe are worker 0's (under forge.lock). */
typedef struct forge_tool {
	forge *f;
	size_t idx; /* in the orchestrator, = index in forge.tools */
	dx_forge_tool desc;
	char **strs; /* every string desc points at, owned */
	size_t str_count;
	const char **args, **env, **hcmd; /* owned arrays */
	const char *driver_name;
	const dx_forge_driver_vtable *vt;
	void *drv_self;
	dx_forge_proc proc; /* pid 0 and pidfd -1 when no process */
	dx_watch *watch;    /* on proc.pidfd */
	dx_forge_probe *probe;
	dx_watch *probe_watch;
	int probe_fd; /* what probe_watch watches */
	uint32_t probe_events;
	unsigned probe_gen;
	const char *health_text; /* "tcp 127.0.0.1:8001", for status */
} forge_tool;

struct forge {
	const dx_host_api *host;
	/* Guards everything below: worker 0 changes it, the control thread
	 * reads it (status) and asks for changes (up, stop, restart). */
	pthread_mutex_t lock;
	dx_orch *orch;
	forge_tool *tools;
	size_t count;
	char *log_dir; /* absolute */
	bool autostart;
	uint32_t health_timeout_ms;
	uint64_t tick_due; /* the earliest timer set, or UINT64_MAX */
	bool draining;     /* a timer fired early: the host is stopping */
	/* Supervises its tools. False in a reload's new instance until it
	 * took its predecessor's tools over, and in an instance that gave
	 * them away: its pending timers and posts then do nothing. */
	bool active;
	/* Out of service (retire ran, main thread): nothing starts any more
	 * and, once forge_on_retire ran on worker 0, nothing is watched;
	 * fini stops the processes it still has. */
	bool retired;
	/* A fresh instance loaded while an unloaded one still retires: the
	 * value of c_finis once every older instance is finalised (its
	 * tools stopped). Until then it starts nothing; 0: nothing to wait
	 * for. Worker 0 (lock held) after init. */
	uint64_t after_finis;
	forge_handoff handoff; /* what handoff_export hands out */
	dx_counter *c_starts, *c_restarts, *c_exits;
	/* Instances: initialised, out of service (retired, or finalised
	 * without retire), finalised. See forge_lifecycle. */
	dx_counter *c_inits, *c_outs, *c_finis;
	/* The last background tasks' outcomes, newest last (op "tasks"). */
	struct forge_task_result {
		char task[24];
		int rc;
		char message[200];
	} results[8];
	unsigned nresults;
};

/* Run whatever is due now (worker 0, lock held). */
void forge_pump(forge *f);
/* Post a pump to worker 0 (any thread; lock not needed). */
int forge_kick(forge *f);
uint64_t forge_now(const forge *f);

/* A live reload (forge_handoff.c), worker 0, lock held. let_go: stop
 * supervising t's process (unwatch it, cancel its health check, forget
 * it; the process runs on). take: supervise process p, a tool of the
 * previous instance (0, or a negative errno after ending p, which the
 * orchestrator then sees exit). */
void forge_let_go(forge_tool *t);
int forge_take(forge_tool *t, dx_forge_proc p);

/* The plugin's handoff hooks (main thread) and the blob they share. */
void forge_handoff_fill(forge *f);
int forge_handoff_export(void *self, const void **data, size_t *len);
int forge_handoff_import(void *self, const void *data, size_t len);

/* Read the plugin's options (its plugins[].config) into f and o
 * (forge_config.c; main thread, init). 0 or a negative code. */
int forge_options(forge *f, const dx_config *cfg, dx_orch_opts *o);
/* Register forge.tools with the orchestrator and fill f->tools. */
int forge_tools(forge *f, const dx_config *tools);

/* The "forge" control command (control thread). */
char *forge_control(void *arg, const char *request);

#endif
