/* test_host.h - start a real dx-host for a test, on a port the kernel
 * picks, and find out which.
 *
 * Picking a free port in the test and handing it to the host races with
 * every other test doing the same (and SO_REUSEPORT would let two hosts
 * share it): the host binds 127.0.0.1:0 itself and the test reads the
 * port from its "listening on" log line. Runs outside Check tests: plain
 * error returns, the host's log printed on failure. */
#ifndef DX_TEST_HOST_H
#define DX_TEST_HOST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct dx_test_host {
	pid_t pid;
	char dir[32];
	char addr[64];     /* "127.0.0.1:PORT" */
	char ctl[100];     /* the control socket */
	char log[64];      /* the host's stderr */
};

static void dx_test_host_dump(const struct dx_test_host *h)
{
	FILE *f = fopen(h->log, "r");
	char line[512];
	fprintf(stderr, "--- dx-host log (%s) ---\n", h->log);
	while (f && fgets(line, sizeof line, f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

/* Start dx_host with a manifest made of extra (JSON members after the
 * listen and control ones: "\"plugins\": [...], ..."); env (may be NULL)
 * is a NULL-terminated list of NAME=VALUE added to the host's
 * environment. 0 with h filled, or -1 after printing why. */
static int dx_test_host_start(struct dx_test_host *h, const char *dx_host,
			      const char *extra, char *const *env)
{
	snprintf(h->dir, sizeof h->dir, "/tmp/dx-host.XXXXXX");
	if (!mkdtemp(h->dir))
		return -1;
	snprintf(h->ctl, sizeof h->ctl, "%s/ctl.sock", h->dir);
	snprintf(h->log, sizeof h->log, "%s/host.log", h->dir);
	char path[64];
	snprintf(path, sizeof path, "%s/m.json", h->dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
		"{\"dx\":1,\"listen\":[\"127.0.0.1:0\"],\"control\":"
		"{\"socket\":\"%s\"},%s}\n",
		h->ctl, extra);
	fclose(f);
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		FILE *log = freopen(h->log, "w", stderr);
		(void)log;
		for (char *const *e = env; e && *e; e++)
			putenv(*e);
		execl(dx_host, dx_host, "-m", path, "--log-level", "info",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		FILE *l = fopen(h->log, "r");
		char line[512];
		unsigned port = 0;
		while (l && fgets(line, sizeof line, l) && !port) {
			const char *p = strstr(line, "listening on 127.0.0.1:");
			if (p)
				port = (unsigned)atoi(p + 23);
		}
		if (l)
			fclose(l);
		if (port) {
			snprintf(h->addr, sizeof h->addr, "127.0.0.1:%u", port);
			return 0;
		}
		int st;
		if (waitpid(h->pid, &st, WNOHANG) == h->pid)
			break;
		usleep(25000);
	}
	fprintf(stderr, "dx-host did not come up\n");
	dx_test_host_dump(h);
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	return -1; /* the dir stays: callers read the log (io_uring refused?) */
}

/* Remove the host's temp dir (manifest, log, control socket). */
static void dx_test_host_clean(struct dx_test_host *h)
{
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
	if (h->dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h->dir);
}

/* SIGTERM, wait; 0 when it exited 0, else -1 with its log printed. The
 * temp dir goes either way (after the log was shown). */
static int dx_test_host_stop(struct dx_test_host *h)
{
	int st = 0, rc = 0;
	kill(h->pid, SIGTERM);
	if (waitpid(h->pid, &st, 0) != h->pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "dx-host did not exit 0 on SIGTERM (%s %d)\n",
			WIFSIGNALED(st) ? "signal" : "status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		dx_test_host_dump(h);
		rc = -1;
	}
	dx_test_host_clean(h);
	return rc;
}

#endif
