/* sd_linux.c - sd.h through libsystemd's sd-daemon. */
#include <errno.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "sd.h"

const char dx_sd_build[] = "libsystemd " DX_LIBSYSTEMD_VERSION;

int dx_sd_notify(const char *state)
{
	int rc = sd_notify(0, state);
	return rc > 0 ? 0 : rc == 0 ? 1 : rc;
}

int dx_sd_listen_fds(void)
{
	_Static_assert(SD_LISTEN_FDS_START == DX_SD_LISTEN_FDS_START,
		       "sd-daemon's first passed fd");
	return sd_listen_fds(1);
}

bool dx_sd_is_listener(int fd, int family)
{
	return sd_is_socket(fd, family, SOCK_STREAM, 1) > 0;
}
