/* metrics_http.c - GET /metrics through libmicrohttpd (metrics_http.h).
 *
 * The socket is bound here, with the host's own checks (bind.c: a port
 * another process holds is refused by name), and handed to the daemon,
 * which runs its own thread (MHD_USE_INTERNAL_POLLING_THREAD, poll()),
 * at most DX_HTTP_CONNECTIONS clients, each cut after DX_HTTP_TIMEOUT_S
 * idle seconds. Answers: 200 with the text for GET or HEAD /metrics,
 * 404 for another path, 405 for another method. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "bind.h"
#include "metrics.h"
#include "metrics_http.h"

#define DX_HTTP_CONNECTIONS 16
#define DX_HTTP_TIMEOUT_S 10

/* The exposition format's content type (version 0.0.4). */
#define DX_PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct dx_metrics_http {
	struct MHD_Daemon *daemon;
	dx_registry *r;
	const dx_server *s;
};

static enum MHD_Result dx_http_send(struct MHD_Connection *conn, unsigned code,
				    const char *type, char *body, size_t len)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(
		len, body, MHD_RESPMEM_MUST_FREE);
	if (!res) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result rc = MHD_queue_response(conn, code, res);
	MHD_destroy_response(res);
	return rc;
}

static enum MHD_Result dx_http_plain(struct MHD_Connection *conn, unsigned code,
				     const char *text)
{
	char *body = strdup(text);
	return body ? dx_http_send(conn, code, "text/plain; charset=utf-8",
				   body, strlen(body)) :
		      MHD_NO;
}

static enum MHD_Result dx_http_handle(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_size, void **con_cls)
{
	dx_metrics_http *h = cls;
	(void)version;
	(void)upload_data;
	/* The first call has only the headers: a request body (none is
	 * expected) would come in later calls, read and ignored. */
	if (!*con_cls) {
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return dx_http_plain(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				     "only GET /metrics is served here\n");
	if (strcmp(url, "/metrics"))
		return dx_http_plain(
			conn, MHD_HTTP_NOT_FOUND,
			"not found; the metrics are at /metrics\n");
	size_t len = 0;
	char *text = dx_metrics_render(h->r, h->s, &len);
	if (!text)
		return dx_http_plain(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				     "out of memory\n");
	return dx_http_send(conn, MHD_HTTP_OK, DX_PROM_TYPE, text, len);
}

/* libmicrohttpd's own complaints, into the host's log. */
static void dx_http_log(void *cls, const char *fmt, va_list ap)
{
	dx_metrics_http *h = cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	dx_registry_log(h->r, DX_LOG_WARN, "metrics.listen: %s", msg);
}

int dx_metrics_http_start(const dx_listen *l, dx_registry *r,
			  const dx_server *s, dx_diag *d, dx_metrics_http **out)
{
	*out = NULL;
	if (l->kind == DX_LISTEN_UNIX) {
		dx_diag_add(d, "metrics.listen %s: expected HOST:PORT",
			    l->text);
		return DX_ECONFIG;
	}
	/* bind.c's messages start "listen ADDR: ": "metrics: " in front
	 * says which listen. */
	uint16_t port = l->port;
	size_t before = d->count;
	int fd = port && dx_port_free(l, port, d) < 0 ? -EADDRINUSE :
							dx_bind(l, &port, d);
	if (fd < 0) {
		dx_diag_prefix(d, before, "metrics");
		return fd;
	}
	dx_metrics_http *h = calloc(1, sizeof *h);
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->r = r;
	h->s = s;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;
	if (l->kind == DX_LISTEN_TCP6)
		flags |= MHD_USE_IPv6;
	h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, dx_http_handle, h,
				     MHD_OPTION_EXTERNAL_LOGGER, dx_http_log, h,
				     MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				     MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned)DX_HTTP_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)DX_HTTP_TIMEOUT_S,
				     MHD_OPTION_END);
	if (!h->daemon) {
		dx_diag_add(d,
			    "metrics.listen %s: libmicrohttpd could not "
			    "start its daemon",
			    l->text);
		close(fd);
		free(h);
		return -EIO;
	}
	dx_registry_log(
		r, DX_LOG_INFO,
		"metrics on http://%s%s%s:%u/metrics (metrics.listen %s)",
		l->kind == DX_LISTEN_TCP6 ? "[" : "", l->host,
		l->kind == DX_LISTEN_TCP6 ? "]" : "", port, l->text);
	*out = h;
	return 0;
}

void dx_metrics_http_stop(dx_metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
