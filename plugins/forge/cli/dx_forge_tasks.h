/* dx_forge_tasks.h - `dx forge snapshot|rollback|sync|prefetch|analyse`:
 * the forge background tasks (sdk/forge) run in the foreground, without a
 * running host. */
#ifndef DX_FORGE_TASKS_H
#define DX_FORGE_TASKS_H

#include <stdbool.h>

/* True for the verbs dx_forge_task_cmd handles. */
bool dx_forge_task_verb(const char *verb);
/* argv[0] is the verb. Returns the exit status: 0 done, 1 failed, 2 usage. */
int dx_forge_task_cmd(int argc, char **argv);
extern const char dx_forge_tasks_usage[];

#endif
