/* notify.h - what dx-host tells its service manager (systemd's
 * Type=notify, through sd.h): READY=1 once plugins are initialised,
 * listeners bound and workers started; RELOADING=1 while a manifest is
 * applied (SIGHUP, dx ctl apply), then READY=1 again; STOPPING=1 when it
 * drains; each with a STATUS= line `systemctl status` shows. Nothing is
 * sent when NOTIFY_SOCKET is unset. Main thread. */
#ifndef DX_HOST_NOTIFY_H
#define DX_HOST_NOTIFY_H

#include "registry.h"
#include "server.h"

/* READY=1 and STATUS="serving on ADDR[, ADDR...] with N workers, backend
 * B" (s may be NULL: a host without listeners). A NOTIFY_SOCKET this
 * build cannot serve (no libsystemd) is logged as a warning through r. */
void dx_notify_ready(const dx_server *s, const dx_registry *r);
/* RELOADING=1, MONOTONIC_USEC and STATUS="applying manifest FILE". */
void dx_notify_reloading(const char *file);
/* STOPPING=1 and STATUS="draining (WHY)". */
void dx_notify_stopping(const char *why);

#endif
