/* proc_win.c - proc.h on Windows: there are no signals to block; the
 * console control events (Ctrl+C, Ctrl+Break, the console closing) reach
 * the control loop through control_win.c's console control handler, and
 * dx ctl speaks over the control pipe. */
#include "proc.h"

const char dx_proc_help[] =
	"Stopping: Ctrl+C or Ctrl+Break in its console, the console closing,\n"
	"or dx ctl drain finalise plugins in reverse order and exit 0.\n"
	"dx ctl apply re-reads the manifest and applies what changed.\n"
	"No systemd here: the host binds its listen entries itself (LISTEN_FDS\n"
	"is refused) and sends no readiness notifications.\n";

void dx_proc_init(void)
{
}
