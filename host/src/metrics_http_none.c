/* metrics_http_none.c - metrics.listen on a build without libmicrohttpd
 * (metrics_http.h): refused at start, naming what is missing. dx ctl
 * metrics serves the same text without it. */
#include <errno.h>

#include "metrics_http.h"

int dx_metrics_http_start(const dx_listen *l, dx_registry *r,
			  const dx_server *s, dx_diag *d, dx_metrics_http **out)
{
	(void)r;
	(void)s;
	*out = NULL;
	dx_diag_add(d,
		    "metrics.listen %s: this dx-host was built without "
		    "libmicrohttpd (Debian: libmicrohttpd-dev); use dx ctl "
		    "metrics, or rebuild with it",
		    l->text);
	return -ENOSYS;
}

void dx_metrics_http_stop(dx_metrics_http *h)
{
	(void)h;
}
