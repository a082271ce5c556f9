/* rt_apply.h - what the reload tests share beyond the control socket's
 * line protocol (rt_ctl.h): an apply of an edited manifest, the
 * listeners status shows, a port this process holds (so the host finds
 * it taken), a bounded stop of the host, and a case's temp
 * dir (its "passed" mark, its removal). Plain error returns, no Check:
 * the caller asserts. */
#ifndef DX_RT_APPLY_H
#define DX_RT_APPLY_H

#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include "rt_ctl.h"

/* Write m to path and {"cmd":"apply","path":path} it on sock: the answer
 * (the caller cJSON_Delete()s it), or NULL with raw saying why. */
static cJSON *rt_ctl_apply(const char *sock, const char *path, const cJSON *m,
			   char *raw, size_t n)
{
	char *text = cJSON_Print(m);
	FILE *f = text ? fopen(path, "w") : NULL;
	bool written = f && fputs(text, f) >= 0;
	if (f && fclose(f) != 0)
		written = false;
	cJSON_free(text);
	if (!written) {
		snprintf(raw, n, "%s: %s", path, strerror(errno));
		return NULL;
	}
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "apply");
	cJSON_AddStringToObject(req, "path", path);
	cJSON *a = rt_ctl(sock, req, raw, n);
	cJSON_Delete(req);
	return a;
}

/* The host's listeners, as {"cmd":"status"} on sock lists them, into out
 * (one a line); how many, or -1 with raw saying why. */
static int rt_ctl_listeners(const char *sock, char *out, size_t outn,
			    char *raw, size_t n)
{
	out[0] = '\0';
	cJSON *st = rt_ctl_cmd(sock, "status", NULL, NULL, raw, n);
	if (!st)
		return -1;
	const cJSON *l, *arr = cJSON_GetObjectItemCaseSensitive(st, "listen");
	size_t at = 0;
	cJSON_ArrayForEach(l, arr)
		if (cJSON_IsString(l) && at < outn)
			at += (size_t)snprintf(out + at, outn - at, "%s\n",
					       l->valuestring);
	int count = cJSON_GetArraySize(arr);
	cJSON_Delete(st);
	return count;
}

/* Listen on a loopback port the kernel picks, "127.0.0.1:PORT" into
 * addr: the socket (the caller closes it), or -1. */
static int rt_take_port(char *addr, size_t n)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(addr, n, "127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

/* Stop the host pid: SIGTERM, 15 s, then SIGKILL. true when it exited 0
 * (fini of every instance ran cleanly); else false, having said why. */
static bool rt_host_stop(pid_t pid)
{
	int st = 0;
	pid_t w = 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < 600; i++) {
		w = waitpid(pid, &st, WNOHANG);
		if (w != 0)
			break;
		usleep(25000);
	}
	bool ok = w == pid && WIFEXITED(st) && !WEXITSTATUS(st);
	if (w != pid) {
		fprintf(stderr, "dx-host did not stop within 15 s of "
				"SIGTERM: killed\n");
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	} else if (!ok) {
		fprintf(stderr, "dx-host did not exit 0 on SIGTERM (%s %d)\n",
			WIFSIGNALED(st) ? "signal" : "status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	return ok;
}

/* A case's last step marks its temp dir work "passed", which tells the
 * teardown not to show the host's log. */
static void rt_mark_passed(const char *work)
{
	char mark[96];
	snprintf(mark, sizeof mark, "%s/passed", work);
	FILE *f = fopen(mark, "w");
	if (f)
		fclose(f);
}

static bool rt_marked_passed(const char *work)
{
	char mark[96];
	snprintf(mark, sizeof mark, "%s/passed", work);
	return work[0] && access(mark, F_OK) == 0;
}

/* Remove the case's temp dir work (when there is one), whatever modes a
 * test left in it. */
static void rt_work_remove(const char *work)
{
	char cmd[160];
	snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", work,
		 work);
	if (work[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", work);
}

#endif
