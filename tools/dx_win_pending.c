/* dx_win_pending.c - the dx tool's commands that do not run on Windows
 * yet, each saying why (README, "Windows"), so dx.exe has the same command
 * table as dx. Built on Windows only, in place of dx_plugin_new.c and
 * forge's cli. */
#include <stdio.h>

#include "dx_cmd.h"

const char dx_forge_usage[] =
	"usage: dx forge ...\n"
	"\n"
	"Not on Windows yet: forge's tools and source packages run child\n"
	"processes through POSIX process groups and signals.\n";

int dx_cmd_forge(int argc, char **argv)
{
	fputs("dx forge: not on Windows yet (forge's process driver is "
	      "fork/exec with POSIX process groups)\n",
	      stderr);
	return 2;
}

int dx_plugin_new(int argc, char **argv)
{
	fputs("dx plugin new: not on Windows yet (the templates build with "
	      "pkg-config dx-sdk, which the Windows build does not install)\n",
	      stderr);
	return 2;
}
