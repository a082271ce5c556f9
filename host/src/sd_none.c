/* sd_none.c - sd.h in a build without libsystemd: nothing is sent, and
 * sockets passed by a socket unit are refused (sd.h) rather than ignored,
 * since the host would then try to bind addresses systemd holds. Windows
 * builds it too (no systemd there; activate_none.c words the refusal). */
#include <errno.h>
#include <stdlib.h>

#include "sd.h"

const char dx_sd_build[] = "";

int dx_sd_notify(const char *state)
{
	(void)state;
	return getenv("NOTIFY_SOCKET") ? -ENOTSUP : 1;
}

int dx_sd_listen_fds(void)
{
	return getenv("LISTEN_FDS") ? -ENOTSUP : 0;
}

bool dx_sd_is_listener(int fd, int family)
{
	(void)fd;
	(void)family;
	return false;
}
