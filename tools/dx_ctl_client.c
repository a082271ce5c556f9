/* dx_ctl_client.c - talk to a running host's control socket (see
 * dx_ctl_client.h), over the system's transport (dx_ctl_conn.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include <cJSON.h>

#include "dx_ctl_client.h"
#include "dx_ctl_conn.h"
#include "manifest.h"
#include "sock.h" /* dx_sock_strerror: the socket errnos in words on Windows too */

long long dx_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *dx_json_str(const cJSON *o, const char *k, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : def;
}

double dx_json_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int dx_ctl_ask(const char *path, const char *request, int timeout_ms,
	       char **answer)
{
	long long deadline = dx_ms_now() + timeout_ms;
	dx_ctl_conn *c;
	int rc = dx_ctl_conn_open(path, timeout_ms, &c);
	if (rc)
		return rc;
	if (dx_ctl_conn_send(c, request, strlen(request)) ||
	    dx_ctl_conn_send(c, "\n", 1)) {
		dx_ctl_conn_close(c);
		return EIO;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	rc = buf ? ETIMEDOUT : ENOMEM;
	while (buf) {
		long long left = deadline - dx_ms_now();
		if (left <= 0)
			break;
		if (len + 1 == cap) {
			char *b = realloc(buf, cap * 2);
			if (!b) {
				rc = ENOMEM;
				break;
			}
			buf = b;
			cap *= 2;
		}
		long r = dx_ctl_conn_recv(c, buf + len, cap - 1 - len,
					  (int)left);
		if (r == -ETIMEDOUT)
			break;
		if (r <= 0) {
			rc = EPIPE;
			break;
		}
		char *nl = memchr(buf + len, '\n', (size_t)r);
		len += (size_t)r;
		buf[len] = '\0';
		if (nl) {
			*nl = '\0';
			rc = 0;
			break;
		}
	}
	dx_ctl_conn_close(c);
	if (rc)
		free(buf);
	else
		*answer = buf;
	return rc;
}

char *dx_ctl_socket_of(const char *file, const char *who)
{
	dx_manifest *m;
	dx_diag d = DX_DIAG_INIT;
	char *path = NULL;
	if (dx_manifest_load(file, &m, &d) < 0) {
		/* As dx-host says them (diag.h). */
		for (size_t i = 0; i < d.count; i++) {
			char line[2048];
			dx_diag_at_file(&d, i, file, line, sizeof line);
			fprintf(stderr, "%s: %s\n", who, line);
		}
	} else {
		if (m->control_socket)
			path = strdup(m->control_socket);
		else
			fprintf(stderr,
				"%s: %s has no control.socket; add "
				"\"control\": {\"socket\": \"dx.sock\"}\n",
				who, file);
		dx_manifest_free(m);
	}
	dx_diag_clear(&d);
	return path;
}

void dx_ctl_print_error(const char *who, const char *path, int e)
{
	char where[600];
	dx_ctl_conn_where(path, where, sizeof where);
	fprintf(stderr, "%s: %s: %s%s\n", who, where, dx_sock_strerror(e),
		e == ENOENT || e == ECONNREFUSED
			? " (is dx-host running with this control.socket?)"
		: e == EPERM ? " (another user's process serves it, not a "
			       "dx-host of this user: nothing was sent)"
			     : "");
}
