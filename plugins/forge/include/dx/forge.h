/* dx/forge.h - the FORGE_DRIVER facet: how forge starts, checks and stops
 * one kind of tool (docs/architecture.md section 11,
 * docs/abi.md section 15).
 *
 * The orchestrator (plugins/forge) owns the tools' life cycle: which tool
 * starts when, restarts, backoff, reaping. A driver only knows how to do
 * one thing to one tool at a time, without blocking: start it, begin a
 * health check, signal it, collect its exit. Every member is called on the
 * orchestrator's worker thread (never two at once for one driver), except
 * at host shutdown, where fini calls stop and reap on the main thread
 * after the workers have stopped.
 *
 * A driver that runs processes ("process", plugins/forge_process) hands back
 * a pidfd in dx_forge_proc: the orchestrator watches it on its event loop
 * and calls reap when it becomes readable.
 *
 *     static const dx_forge_driver_vtable drv = {
 *         .size = sizeof drv, .start = my_start, .health = my_health,
 *         .health_poll = my_poll, .health_cancel = my_cancel,
 *         .stop = my_stop, .reap = my_reap,
 *     };
 *     static const dx_facet facets[] = {
 *         {DX_FACET_FORGE_DRIVER, "process", &drv},
 *     };
 *
 * Sized and append-only like every vtable. Like a SERVICE vtable it is
 * checked by its consumer, not the loader: forge refuses a driver whose
 * vtable is smaller than DX_FORGE_DRIVER_VTABLE_V1_0_SIZE, naming the
 * plugin and both sizes; use DX_HAS() for later members.
 */
#ifndef DX_FORGE_H
#define DX_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a tool's health is checked (forge.tools[].health). */
typedef enum dx_forge_health_kind {
	DX_FORGE_HEALTH_ALIVE = 0, /* the process is running (the default) */
	DX_FORGE_HEALTH_TCP = 1,   /* a TCP connect to health_tcp succeeds */
	DX_FORGE_HEALTH_CMD = 2,   /* health_cmd runs to exit status 0 */
} dx_forge_health_kind;

/* What a health check found. */
enum {
	DX_FORGE_HEALTHY = 0,
	DX_FORGE_UNHEALTHY = 1,
	DX_FORGE_PENDING = 2, /* watch the fd, then call health_poll */
};

/* One tool, as the orchestrator hands it to its driver. Owned by the
 * orchestrator and valid from the first call about the tool until the
 * host's fini; the driver keeps no pointer into it past a call. */
typedef struct dx_forge_tool {
	uint32_t size; /* sizeof(dx_forge_tool) as the orchestrator built it */
	const char *name;
	/* The program: with a '/', used as is (relative to cwd); without,
	 * looked up in PATH. Run with an argv array, never through a shell. */
	const char *binary;
	const char *const *args; /* argv[1..], arg_count of them */
	size_t arg_count;
	/* "NAME=value" added to (or replacing in) the host's environment. */
	const char *const *env;
	size_t env_count;
	const char *cwd;      /* absolute, or NULL: the host's */
	const char *log_path; /* stdout and stderr appended here; NULL:
				 /dev/null */
	uint32_t health_kind; /* dx_forge_health_kind */
	const char *health_tcp; /* "HOST:PORT", "[V6]:PORT" (TCP) */
	const char *const *health_cmd; /* argv of the check (CMD) */
	size_t health_cmd_count;
	uint32_t health_timeout_ms; /* for the orchestrator's timer */
	uint32_t stop_grace_ms;     /* SIGTERM, then SIGKILL after this */
} dx_forge_tool;

/* A started tool. pid is the process (and its process group, which the
 * driver made); pidfd becomes readable when the process ends (then call
 * reap). Both are the orchestrator's until reap succeeds, which closes
 * nothing: the orchestrator closes pidfd. */
typedef struct dx_forge_proc {
	int pid;
	int pidfd;
} dx_forge_proc;

/* A health check in flight; the driver's own. */
typedef struct dx_forge_probe dx_forge_probe;

typedef struct dx_forge_driver_vtable {
	uint32_t size;

	/* Start the tool: 0 with *out filled, or a negative code (-ENOENT:
	 * no such binary, ...) with why (a message of at most why_len bytes
	 * the orchestrator shows in status). Must not block. */
	int (*start)(void *self, const dx_forge_tool *tool, dx_forge_proc *out,
		     char *why, size_t why_len);

	/* Begin a health check of a running tool. DX_FORGE_HEALTHY or
	 * DX_FORGE_UNHEALTHY when known at once; DX_FORGE_PENDING with
	 * *probe set, and *fd / *events to watch (DX_IO_POLLIN/OUT of
	 * dx/io.h): when the fd is ready call health_poll. The orchestrator
	 * bounds every check with tool->health_timeout_ms and calls
	 * health_cancel when it runs out. */
	int (*health)(void *self, const dx_forge_tool *tool,
		      const dx_forge_proc *proc, dx_forge_probe **probe,
		      int *fd, uint32_t *events);
	/* The fd of probe became ready: DX_FORGE_HEALTHY, DX_FORGE_UNHEALTHY
	 * (probe is freed either way) or DX_FORGE_PENDING (watch again). */
	int (*health_poll)(void *self, dx_forge_probe *probe, uint32_t revents);
	/* Abandon a pending check and free it (kills and reaps a check
	 * command; may block for the few milliseconds that takes). */
	void (*health_cancel)(void *self, dx_forge_probe *probe);

	/* Signal the tool: force false asks it to stop (SIGTERM to its whole
	 * process group), true makes it (SIGKILL to the group). 0 or a
	 * negative code. The orchestrator times the grace period. */
	int (*stop)(void *self, const dx_forge_tool *tool,
		    const dx_forge_proc *proc, bool force);

	/* Collect the exit of a tool whose pidfd is readable (or, with
	 * block, wait for it): 0 with *status set (the exit code 0..255, or
	 * -N when signal N killed it), -EAGAIN when it is still running.
	 * Whatever is left of its process group is killed first, so no
	 * grandchild outlives its tool. */
	int (*reap)(void *self, const dx_forge_tool *tool,
		    const dx_forge_proc *proc, bool block, int *status);
} dx_forge_driver_vtable;

#define DX_FORGE_DRIVER_VTABLE_V1_0_SIZE                                   \
	(offsetof(dx_forge_driver_vtable, reap) +                          \
	 sizeof(((dx_forge_driver_vtable *)0)->reap))

#ifdef __cplusplus
}
#endif
#endif
