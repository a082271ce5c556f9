/* dx_forge_tools.h - `dx forge status|up|stop|restart|logs|run`
 * (dx_forge_tools.c), called by dx_forge.c. */
#ifndef DX_FORGE_TOOLS_H
#define DX_FORGE_TOOLS_H

#include <stdbool.h>

/* argv[0] is the verb. Returns the exit status. */
int dx_forge_tools(int argc, char **argv);
/* Whether verb is one of the tool verbs. */
bool dx_forge_is_tool_verb(const char *verb);

#endif
