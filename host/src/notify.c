/* notify.c - the host's readiness, reload and stop notifications
 * (notify.h). */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "notify.h"
#include "sd.h"

void dx_notify_ready(const dx_server *s, const dx_registry *r)
{
	char addrs[768] = "";
	size_t n = s ? dx_server_listen_count(s) : 0;
	for (size_t i = 0, at = 0; i < n && at < sizeof addrs; i++) {
		const char *a = dx_server_listen_addr(s, i);
		if (a) /* NULL: a slot apply closed */
			at += (size_t)snprintf(addrs + at, sizeof addrs - at,
					       "%s%s", at ? ", " : "", a);
	}
	char state[1024];
	if (s)
		snprintf(state, sizeof state,
			 "READY=1\nSTATUS=%s%s with %u worker%s, backend %s",
			 *addrs ? "serving on " : "running, no listeners,",
			 addrs, dx_server_workers(s),
			 dx_server_workers(s) == 1 ? "" : "s",
			 dx_server_backend(s));
	else
		snprintf(state, sizeof state,
			 "READY=1\nSTATUS=running, no listeners");
	if (dx_sd_notify(state) == -ENOTSUP)
		dx_registry_log(r, DX_LOG_WARN,
				"NOTIFY_SOCKET is set, but this dx-host was "
				"built without libsystemd and cannot say it is "
				"ready; use Type=simple, or build it with "
				"libsystemd-dev installed");
}

void dx_notify_reloading(const char *file)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	char state[1200];
	/* MONOTONIC_USEC: what Type=notify-reload (systemd 253) asks for. */
	snprintf(state, sizeof state,
		 "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=applying manifest "
		 "%s",
		 (unsigned long long)now.tv_sec * 1000000ull +
			 (unsigned long long)now.tv_nsec / 1000u,
		 file);
	dx_sd_notify(state);
}

void dx_notify_stopping(const char *why)
{
	char state[256];
	snprintf(state, sizeof state, "STOPPING=1\nSTATUS=draining (%s)", why);
	dx_sd_notify(state);
}
