/* proc_posix.c - proc.h on POSIX systems: SIGTERM, SIGINT and SIGHUP are
 * blocked before any thread starts, so only the control loop ever takes
 * them (sig.h). */
#include <pthread.h>
#include <signal.h>

#include "proc.h"

const char dx_proc_help[] =
	"Signals: SIGTERM or SIGINT finalise plugins in reverse order and exit 0.\n"
	"SIGHUP re-reads the manifest and applies what changed (dx ctl apply).\n"
	"systemd: Type=notify (READY=1, RELOADING=1, STOPPING=1, STATUS=) and\n"
	"socket activation (passed sockets serve the listen entries with the\n"
	"same address); --version says whether this build has them.\n";

void dx_proc_init(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}
