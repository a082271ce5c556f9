/* metrics_http.h - the manifest's metrics.listen: GET /metrics over HTTP,
 * for Prometheus to scrape.
 *
 * Served by libmicrohttpd on a thread of its own (never a worker's, never
 * the control loop's), with its own limits on connections and time; dx
 * writes no HTTP parsing or connection handling (docs/metrics.md says why
 * this library). Each scrape renders the text afresh (metrics_host.c).
 * Start after the server, stop before it is freed. Main thread. */
#ifndef DX_HOST_METRICS_HTTP_H
#define DX_HOST_METRICS_HTTP_H

#include "diag.h"
#include "manifest.h"
#include "registry.h"
#include "server.h"

typedef struct dx_metrics_http dx_metrics_http;

/* Bind l (TCP; its port 0 takes any) and serve. 0 with *out set, or
 * negative with the reason in d ("metrics: listen 127.0.0.1:9464:
 * address already in use by another process ..."). s may be NULL (no
 * workers). Logs the address bound. */
int dx_metrics_http_start(const dx_listen *l, dx_registry *r,
			  const dx_server *s, dx_diag *d,
			  dx_metrics_http **out);
/* Stop serving and free (NULL: nothing). */
void dx_metrics_http_stop(dx_metrics_http *h);

#endif
