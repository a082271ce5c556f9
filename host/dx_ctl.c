/* dx_ctl.c - `dx ctl COMMAND`: talk to a running host's control socket. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cJSON.h>

#include "diag.h"
#include "dx_cmd.h"
#include "manifest.h"

const char dx_ctl_usage[] =
	"usage: dx ctl [--socket PATH | -m MANIFEST] [--json] COMMAND\n"
	"\n"
	"Ask a running dx-host through its control socket (the manifest's\n"
	"control.socket; a Unix socket, mode 0600).\n"
	"\n"
	"commands:\n"
	"  status    uptime, workers, backend, listeners, connections, requests\n"
	"  plugins   loaded plugins: name, version, ABI, facets, file\n"
	"  stats     the host's counters and every plugin counter\n"
	"  swap io BACKEND\n"
	"            move every worker and its live connections to another IO\n"
	"            backend (io_uring, epoll) without closing any\n"
	"  drain     stop accepting, send Close, finish in-flight requests,\n"
	"            finalise plugins and exit 0\n"
	"\n"
	"  -s, --socket PATH    the control socket\n"
	"  -m, --manifest FILE  read control.socket from this manifest\n"
	"      --json           print the host's JSON answer as it came\n"
	"      --timeout MS     give up after MS milliseconds (default 5000)\n"
	"\n"
	"Example:\n"
	"  dx ctl -m examples/hello.json status\n"
	"  dx ctl -m examples/hello.json swap io epoll\n";

/* One request line, one answer line. 0 with *answer malloc'd, or an errno. */
static int dx_ctl_ask(const char *path, const char *request, int timeout_ms,
		      char **answer)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return e;
	}
	size_t n = strlen(request);
	if (send(fd, request, n, MSG_NOSIGNAL) != (ssize_t)n ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		close(fd);
		return EIO;
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int rc = buf ? ETIMEDOUT : ENOMEM;
	struct pollfd p = {fd, POLLIN, 0};
	while (buf && poll(&p, 1, timeout_ms) > 0) {
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r <= 0) {
			rc = EPIPE;
			break;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) || len == cap - 1) {
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

static double dx_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *dx_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void dx_ctl_print_status(const cJSON *o)
{
	printf("version      %s (pid %.0f)\n", dx_str(o, "version"),
	       dx_num(o, "pid"));
	printf("uptime       %.0f s\n", dx_num(o, "uptime_s"));
	printf("workers      %.0f\n", dx_num(o, "workers"));
	printf("backend      %s\n", dx_str(o, "backend"));
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(o, "listen"))
		printf("listening    %s\n", cJSON_IsString(l) ? l->valuestring : "");
	printf("connections  %.0f\n", dx_num(o, "connections"));
	printf("requests     %.0f\n", dx_num(o, "requests"));
	printf("plugins      %.0f\n", dx_num(o, "plugins"));
}

static void dx_ctl_print_plugins(const cJSON *o)
{
	printf("%-16s %-9s %-4s %-28s %s\n", "NAME", "VERSION", "ABI",
	       "FACETS", "FILE");
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "plugins"))
	{
		char facets[256] = "";
		size_t n = 0;
		const cJSON *f;
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(p, "facets"))
			if (n < sizeof facets)
				n += (size_t)snprintf(facets + n,
						      sizeof facets - n,
						      "%s%s %s", n ? ", " : "",
						      dx_str(f, "kind"),
						      dx_str(f, "name"));
		printf("%-16s %-9s %-4s %-28s %s\n", dx_str(p, "name"),
		       dx_str(p, "version"), dx_str(p, "abi"), facets,
		       dx_str(p, "path"));
	}
}

static void dx_ctl_print_stats(const cJSON *o)
{
	const char *groups[] = {"host", "background", "plugins"};
	for (int g = 0; g < 3; g++) {
		const cJSON *v;
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, groups[g]))
			printf("%-8s %-32s %.0f\n", groups[g], v->string,
			       cJSON_IsNumber(v) ? v->valuedouble : 0);
	}
}

static int dx_ctl_print(const char *cmd, const char *answer, bool json)
{
	cJSON *o = cJSON_Parse(answer);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
	int rc = cJSON_IsTrue(ok) ? 0 : 1;
	if (json)
		fputs(answer, stdout);
	else if (rc)
		fprintf(stderr, "dx ctl %s: %s\n", cmd,
			o ? dx_str(o, "error") : "the host's answer is not JSON");
	else if (strcmp(cmd, "status") == 0)
		dx_ctl_print_status(o);
	else if (strcmp(cmd, "plugins") == 0)
		dx_ctl_print_plugins(o);
	else if (strcmp(cmd, "stats") == 0)
		dx_ctl_print_stats(o);
	else if (strcmp(cmd, "swap") == 0)
		printf("io backend: %s -> %s\n", dx_str(o, "from"),
		       dx_str(o, "backend"));
	else
		printf("%s: done\n", cmd);
	cJSON_Delete(o);
	return rc;
}

/* control.socket of the manifest at file, or NULL (reasons on stderr). */
static char *dx_ctl_socket_of(const char *file)
{
	dx_manifest *m;
	dx_diag d = DX_DIAG_INIT;
	char *path = NULL;
	if (dx_manifest_load(file, &m, &d) < 0) {
		dx_diag_print(&d, stderr, "dx ctl");
	} else {
		if (m->control_socket)
			path = strdup(m->control_socket);
		else
			fprintf(stderr, "dx ctl: %s has no control.socket\n",
				file);
		dx_manifest_free(m);
	}
	dx_diag_clear(&d);
	return path;
}

int dx_cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"manifest", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *manifest = NULL;
	bool json = false;
	int timeout_ms = 5000, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'm': manifest = optarg; break;
		case 'j': json = true; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'h': fputs(dx_ctl_usage, stdout); return 0;
		default: fputs(dx_ctl_usage, stderr); return 2;
		}
	}
	bool swap = optind < argc && strcmp(argv[optind], "swap") == 0;
	if (argc - optind != (swap ? 3 : 1) || (!sock && !manifest)) {
		fputs(dx_ctl_usage, stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (swap) {
		cJSON_AddStringToObject(req, "kind", argv[optind + 1]);
		cJSON_AddStringToObject(req, "name", argv[optind + 2]);
	}
	char *request = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	char *owned = sock ? NULL : dx_ctl_socket_of(manifest);
	if (!request || (!sock && !(sock = owned))) {
		cJSON_free(request);
		return 1;
	}
	char *answer = NULL;
	int e = dx_ctl_ask(sock, request, timeout_ms, &answer);
	cJSON_free(request);
	int rc = 1;
	if (e)
		fprintf(stderr, "dx ctl: %s: %s%s\n", sock, strerror(e),
			e == ENOENT || e == ECONNREFUSED
				? " (is dx-host running with this control.socket?)"
				: "");
	else
		rc = dx_ctl_print(cmd, answer, json);
	free(answer);
	free(owned);
	return rc;
}
