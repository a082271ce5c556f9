/* task.h - the forge tasks as background-queue work (dx_host_api.enqueue:
 * fn(arg) on a host thread, or drop(arg) when the queue drops it).
 *
 * A task copies every string it is given, so the caller may free its own
 * at once. Use it like this, from any thread:
 *
 *     dx_forge_task *t = dx_forge_task_snapshot(project);
 *     if (!t) return -ENOMEM;
 *     dx_forge_task_on_done(t, my_done, my_arg);          (optional)
 *     host->enqueue(host, dx_forge_task_name(t), dx_forge_task_run,
 *                   dx_forge_task_drop, t);
 *
 * The queue owns t from there: run or drop frees it, exactly once (the
 * host calls drop itself when enqueue fails). done(arg, task name, rc,
 * message) is called on the thread that runs or drops the task; rc is 0
 * or the task's negative code (-ECANCELED when dropped), message one line
 * (what was done, or the error), valid during the call only. */
#ifndef DX_FORGE_TASK_H
#define DX_FORGE_TASK_H

#include "s3sync.h"

typedef struct dx_forge_task dx_forge_task;

typedef void (*dx_forge_task_done_fn)(void *arg, const char *task, int rc,
				      const char *message);

/* NULL on ENOMEM. project NULL: ".". */
dx_forge_task *dx_forge_task_snapshot(const char *project);
/* s3: every string copied; credentials included (the task wipes its copy
 * of the secret when freed). */
dx_forge_task *dx_forge_task_sync(const char *project, const dx_s3_conf *s3);
dx_forge_task *dx_forge_task_prefetch(const char *registry, const char *project,
				      const char *name, const char *version);
/* report NULL: PROJECT/.dx/forge/analysis.json. */
dx_forge_task *dx_forge_task_analyse(const char *project, const char *report);

void dx_forge_task_on_done(dx_forge_task *t, dx_forge_task_done_fn fn,
			   void *arg);
/* "forge.snapshot", "forge.sync", "forge.prefetch", "forge.analyse":
 * static strings, as enqueue wants. */
const char *dx_forge_task_name(const dx_forge_task *t);

/* Run the task and free it. */
void dx_forge_task_run(void *task);
/* Free it without running (done gets -ECANCELED). */
void dx_forge_task_drop(void *task);

#endif
