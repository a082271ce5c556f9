/* dx - the command-line tool: `dx COMMAND [ARGS]`.
 *
 * Each command is one entry in dx_commands with its own usage text; the
 * table is what `dx --help` prints, so adding a command is adding a row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/plugin.h>

#include "dx_cmd.h"
#include "version.h"

typedef struct dx_command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
} dx_command;

static int dx_cmd_help(int argc, char **argv);
static int dx_cmd_version(int argc, char **argv)
{
	printf("dx %s (plugin ABI %d.%d)\n", DX_VERSION, DX_ABI_MAJOR,
	       DX_ABI_MINOR);
	return 0;
}

static const dx_command dx_commands[] = {
	{"call", "send one HBTP request to a running host", dx_call_usage,
	 dx_cmd_call},
	{"bench", "HBTP load generator: requests/s and latency percentiles",
	 dx_bench_usage, dx_cmd_bench},
	{"ctl", "a running host: status, stats, reload, load, unload, apply, drain",
	 dx_ctl_usage, dx_cmd_ctl},
	{"plugin", "inspect a plugin file; reserved route ids; a new plugin",
	 dx_plugin_usage, dx_cmd_plugin},
	{"forge", "developer tools and source packages", dx_forge_usage,
	 dx_cmd_forge},
	{"help", "show help for a command", "usage: dx help [COMMAND]\n",
	 dx_cmd_help},
	{"version", "print the version and plugin ABI", "usage: dx version\n",
	 dx_cmd_version},
};
#define DX_NCOMMANDS (sizeof dx_commands / sizeof dx_commands[0])

static const dx_command *dx_find_command(const char *name)
{
	for (size_t i = 0; i < DX_NCOMMANDS; i++)
		if (strcmp(dx_commands[i].name, name) == 0)
			return &dx_commands[i];
	return NULL;
}

static void dx_usage(FILE *out)
{
	fprintf(out, "usage: dx COMMAND [ARGS]\n"
		     "       dx --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < DX_NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", dx_commands[i].name,
			dx_commands[i].summary);
	fprintf(out, "\nRun 'dx help COMMAND' for a command's options.\n");
}

static int dx_cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		dx_usage(stdout);
		return 0;
	}
	const dx_command *c = dx_find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "dx help: no command \"%s\"\n", argv[1]);
		return 2;
	}
	fputs(c->usage, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		dx_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		dx_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
		return dx_cmd_version(0, NULL);
	const dx_command *c = dx_find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "dx: unknown command \"%s\"\n", argv[1]);
		dx_usage(stderr);
		return 2;
	}
	return c->run(argc - 1, argv + 1);
}
