/* dx_cmd.h - the dx tool's subcommands, one file each. */
#ifndef DX_CMD_H
#define DX_CMD_H

/* Each takes argv with argv[0] = the command's name; returns the exit
 * status. */
int dx_cmd_call(int argc, char **argv);
extern const char dx_call_usage[];
int dx_cmd_ctl(int argc, char **argv);
extern const char dx_ctl_usage[];
int dx_cmd_bench(int argc, char **argv);
extern const char dx_bench_usage[];
int dx_cmd_forge(int argc, char **argv);
extern const char dx_forge_usage[];

int dx_cmd_plugin(int argc, char **argv);
extern const char dx_plugin_usage[];
/* `dx plugin new` (dx_plugin_new.c); argv after "new". */
int dx_plugin_new(int argc, char **argv);

#endif
