/* dx_ctl_client.c - talk to a running host's control socket (see
 * dx_ctl_client.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include <cJSON.h>

#include "dx_ctl_client.h"
#include "manifest.h"
#include "sock.h"

static int dx_ctl_connect(const char *path, int *out)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = dx_sock_open(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -fd;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

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
	int fd = -1, rc = dx_ctl_connect(path, &fd);
	if (rc)
		return rc;
	size_t n = strlen(request);
	if (send(fd, request, n, DX_MSG_NOSIGNAL) != (ssize_t)n ||
	    send(fd, "\n", 1, DX_MSG_NOSIGNAL) != 1) {
		close(fd);
		return EIO;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	rc = buf ? ETIMEDOUT : ENOMEM;
	long long deadline = dx_ms_now() + timeout_ms;
	struct pollfd p = {fd, POLLIN, 0};
	while (buf) {
		long long left = deadline - dx_ms_now();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
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
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
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
	close(fd);
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
		dx_diag_print(&d, stderr, who);
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
	fprintf(stderr, "%s: %s: %s%s\n", who, path, strerror(e),
		e == ENOENT || e == ECONNREFUSED
			? " (is dx-host running with this control.socket?)"
			: "");
}
