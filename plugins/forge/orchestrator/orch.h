/* orch.h - forge's orchestrator core: the tools, their dependencies and
 * the state machine, with no host, no processes and no clock of its own.
 *
 * The plugin (forge.c) feeds it what happened (a process started, exited,
 * passed or failed a health check) and what the user asked (up, stop,
 * restart), and asks it what to do next (dx_orch_next): start a tool,
 * ask it to stop, kill it, check its health. Time is passed in, so the
 * property tests (tests/forge_tools/test_orch_prop.c) drive it with a fake
 * clock and fake pids.
 *
 * Not thread-safe: the plugin keeps it behind its mutex. */
#ifndef DX_FORGE_ORCH_H
#define DX_FORGE_ORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The five states (docs/architecture.md section 11). A tool's state is derived from
 * its fields by dx_orch_state, so it is always exactly one of these. */
typedef enum dx_orch_state {
	DX_ORCH_STOPPED = 0,  /* no process and none wanted */
	DX_ORCH_STARTING = 1, /* wanted: waiting for dependencies or backoff */
	DX_ORCH_RUNNING = 2,  /* a process; not (or no longer) healthy */
	DX_ORCH_HEALTHY = 3,  /* a process whose last health check passed */
	DX_ORCH_DEGRADED = 4, /* failed too often: no restarts until restart */
} dx_orch_state;
#define DX_ORCH_STATE_COUNT 5

typedef enum dx_orch_policy {
	DX_ORCH_RESTART_NO = 0,
	DX_ORCH_RESTART_ON_FAILURE = 1,
	DX_ORCH_RESTART_ALWAYS = 2,
} dx_orch_policy;

typedef enum dx_orch_cond {
	DX_ORCH_COND_STARTED = 0,   /* the dependency has a process */
	DX_ORCH_COND_HEALTHY = 1,   /* ... that passes its health check */
	DX_ORCH_COND_COMPLETED = 2, /* it ran and exited 0 */
} dx_orch_cond;

typedef struct dx_orch_dep {
	char *tool;
	uint32_t cond; /* dx_orch_cond */
	size_t idx;    /* set by dx_orch_resolve */
} dx_orch_dep;

/* What a tool is, as registered. dx_orch_add copies it. */
typedef struct dx_orch_spec {
	char *name;
	int priority; /* lower starts first (supervisord); ties: order added */
	uint32_t restart; /* dx_orch_policy */
	uint32_t stop_grace_ms;
	dx_orch_dep *deps;
	size_t dep_count;
} dx_orch_spec;

typedef struct dx_orch_opts {
	uint64_t backoff_ns;     /* first restart delay (doubles) */
	uint64_t backoff_max_ns; /* its cap */
	unsigned burst;          /* this many restarts within window_ns: */
	uint64_t window_ns;      /* Degraded (systemd's start limit) */
	uint64_t health_starting_ns; /* check interval until healthy */
	uint64_t health_ns;          /* check interval once healthy */
	unsigned health_failures;    /* consecutive failures: not healthy */
} dx_orch_opts;

/* The start limit remembers at most this many restart times. */
#define DX_ORCH_BURST_MAX 32

/* A tool: its spec and run-time fields (read them for status; change
 * them only through the functions below). */
typedef struct dx_orch_tool {
	dx_orch_spec spec;
	bool want;      /* should have a process */
	bool degraded;  /* start limit hit */
	bool launching; /* a START was handed out, no answer yet */
	bool stopping;  /* asked to stop (SIGTERM sent) */
	bool killed;    /* SIGKILL sent */
	bool restart_now; /* restart by hand: start again once it exits */
	bool healthy;
	bool probing;   /* a HEALTH was handed out, no answer yet */
	bool exited;    /* last_exit is valid */
	bool completed; /* exited 0 since it was last started */
	int pid;        /* > 0 while a process exists */
	int last_exit;  /* exit code, or -N: killed by signal N */
	unsigned starts;   /* processes started */
	unsigned restarts; /* automatic restarts scheduled */
	unsigned backoff_step;  /* consecutive failures, for the delay */
	unsigned health_fails;  /* consecutive failed checks */
	uint64_t restart_due, kill_due, health_due;
	uint64_t started_ns, healthy_ns, exited_ns;
	uint64_t limit[DX_ORCH_BURST_MAX]; /* recent restart times (ring) */
	unsigned limit_len, limit_at;
	char why[160]; /* the last problem, for status ("" when none) */
} dx_orch_tool;

typedef struct dx_orch dx_orch;

typedef enum dx_orch_act {
	DX_ORCH_START = 1,  /* start the tool; answer started/start_failed */
	DX_ORCH_TERM = 2,   /* ask it to stop (SIGTERM its group) */
	DX_ORCH_KILL = 3,   /* the grace period is over: SIGKILL its group */
	DX_ORCH_HEALTH = 4, /* check it; answer dx_orch_health */
} dx_orch_act;

typedef struct dx_orch_action {
	dx_orch_act act;
	size_t tool;
} dx_orch_action;

/* Fills any zero member of opts with the defaults: 100 ms backoff doubling
 * to 5 s, 5 restarts in 10 s, health checks every 100 ms until healthy and
 * every 1 s after, 3 failed checks to lose health. */
dx_orch *dx_orch_new(const dx_orch_opts *opts);
void dx_orch_free(dx_orch *o);

/* Register a tool (copied). Its index (0, 1, ...), -EEXIST for a name
 * already taken, -EINVAL for a bad spec, -ENOMEM. */
int dx_orch_add(dx_orch *o, const dx_orch_spec *spec);
/* Resolve dependency names and work out the start order: 0, or -ENOENT
 * (unknown dependency) / -ELOOP (cycle) with the tools named in why. */
int dx_orch_resolve(dx_orch *o, char *why, size_t why_len);

/* The one dependency-cycle check of forge (the orchestrator's resolve and
 * the manifest check, forge_schema.c): a depth-first search over n nodes.
 * edge(arg, i, k) is the k-th dependency of node i: its index, n for one
 * to skip (unknown), SIZE_MAX after the last. found(arg, cycle, len) is
 * called for each back edge, with the nodes of the cycle in order (the
 * last depends on the first). 0, or -ENOMEM. */
int dx_orch_cycles(size_t n, size_t (*edge)(void *arg, size_t i, size_t k),
		   void (*found)(void *arg, const size_t *cycle, size_t len),
		   void *arg);

size_t dx_orch_count(const dx_orch *o);
const dx_orch_tool *dx_orch_at(const dx_orch *o, size_t i);
/* The index of the tool called name, or -1. */
long dx_orch_find(const dx_orch *o, const char *name);
/* The i-th tool in start order (dependencies first, then priority). */
size_t dx_orch_order(const dx_orch *o, size_t i);

dx_orch_state dx_orch_state_of(const dx_orch *o, size_t i);
const char *dx_orch_state_name(dx_orch_state s);
/* The dependency tool i waits for (its index), or -1; *blocked tells
 * whether it can no longer come (Degraded, or stopped for good). */
long dx_orch_waiting(const dx_orch *o, size_t i, bool *blocked);

/* What the user asks. ensure_running: tool i and the dependencies it
 * needs, idempotent (a tool with a process keeps it). 0, or DX_ESTATE-like
 * -EAGAIN when i is Degraded (restart it). */
int dx_orch_up(dx_orch *o, size_t i, uint64_t now);
/* Stop i (not its dependents): 0. Clears Degraded. */
int dx_orch_down(dx_orch *o, size_t i, uint64_t now);
/* Stop i if it runs, then start it again; clears Degraded and the start
 * limit. 0. */
int dx_orch_restart(dx_orch *o, size_t i, uint64_t now);

/* What happened. */
void dx_orch_started(dx_orch *o, size_t i, int pid, uint64_t now);
void dx_orch_start_failed(dx_orch *o, size_t i, const char *why,
			  uint64_t now);
/* status: exit code, or -N for signal N. */
void dx_orch_exited(dx_orch *o, size_t i, int status, uint64_t now);
void dx_orch_health(dx_orch *o, size_t i, bool ok, uint64_t now);

/* A live reload (forge_handoff.c): give tool i the run-time fields of
 * saved (a tool of another orchestrator built from the same manifest:
 * its process, counters, backoff, start limit and due times; never its
 * spec), or with saved NULL the fields of a tool just added. A health
 * check that was in flight is forgotten (its probe was cancelled), so the
 * next one is due at once; a START cannot be in flight (it is answered
 * before dx_orch_next is called again). */
void dx_orch_restore(dx_orch *o, size_t i, const dx_orch_tool *saved);

/* The next thing to do now, or false when nothing is due. Call until
 * false after every event (a START must be answered before the next
 * call, so a dependent sees its dependency's process). */
bool dx_orch_next(dx_orch *o, uint64_t now, dx_orch_action *out);
/* When something next falls due (a restart, a kill, a health check), or
 * UINT64_MAX. */
uint64_t dx_orch_next_due(const dx_orch *o);

/* "SIGKILL", "exit 1", "exit 0" for a last_exit value. */
const char *dx_orch_exit_text(int status, char *buf, size_t len);

#endif
