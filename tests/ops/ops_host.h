/* ops_host.h - run a real dx-host the way an operator does (extra
 * arguments, extra environment, a wrapper such as systemd-socket-activate
 * in front of it) with its stderr in a file the test reads. Plain error
 * returns; the callers assert. */
#ifndef DX_OPS_HOST_H
#define DX_OPS_HOST_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dx/client.h>

#include "../unit/test_util.h"

typedef struct ops_host {
	pid_t pid;
	char dir[64];  /* a fresh temp dir: manifest, log, sockets */
	char log[128]; /* the host's stderr */
	char ctl[128]; /* its control socket */
	char manifest[128];
} ops_host;

/* A temp dir and the paths in it. 0 or -1. */
static inline int ops_host_init(ops_host *h)
{
	memset(h, 0, sizeof *h);
	h->pid = -1;
	snprintf(h->dir, sizeof h->dir, "/tmp/dx-ops.XXXXXX");
	if (!mkdtemp(h->dir))
		return -1;
	snprintf(h->log, sizeof h->log, "%s/host.log", h->dir);
	snprintf(h->ctl, sizeof h->ctl, "%s/ctl.sock", h->dir);
	snprintf(h->manifest, sizeof h->manifest, "%s/m.json", h->dir);
	return 0;
}

/* The IO plugin that provides backend ("epoll", "io_uring"). */
static inline const char *ops_io_plugin(const char *backend)
{
	return strcmp(backend, "epoll") == 0 ? "io_epoll" : "io_uring";
}

/* Write the manifest: listen (a JSON array's inside), the backend and its
 * IO plugin, routes_echo, more plugin entries (may be ""), 2 workers, the
 * control socket; plugins are found under $DX_PLUGINS. */
static inline int ops_host_manifest(const ops_host *h, const char *listen,
				    const char *backend, const char *plugins)
{
	FILE *f = fopen(h->manifest, "w");
	if (!f)
		return -1;
	const char *dir = getenv("DX_PLUGINS");
	const char *io = ops_io_plugin(backend);
	fprintf(f,
		"{\"dx\": 1, \"plugin_path\": [\"%s/%s\", \"%s/routes_echo\"],\n"
		" \"listen\": [%s], \"workers\": 2,\n"
		" \"io\": {\"backend\": \"%s\"},\n"
		" \"control\": {\"socket\": \"%s\"},\n"
		" \"plugins\": [{\"name\": \"%s\"}, {\"name\": \"routes_echo\"}%s%s]}\n",
		dir ? dir : ".", io, dir ? dir : ".", listen, backend, h->ctl,
		io, *plugins ? ", " : "", plugins);
	return fclose(f) == 0 ? 0 : -1;
}

/* Whether the backend's plugin was built (io_uring needs liburing). */
static inline bool ops_io_built(const char *backend)
{
	char path[512];
	const char *io = ops_io_plugin(backend);
	snprintf(path, sizeof path, "%s/%s/%s.so", getenv("DX_PLUGINS"), io,
		 io);
	return access(path, R_OK) == 0;
}

/* Whether h is still running (not reaped here). */
static inline bool ops_host_alive(const ops_host *h)
{
	siginfo_t si = {0};
	return h->pid > 0 &&
	       waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
		       0 &&
	       si.si_pid == 0;
}

/* Start argv (argv[0] a path) with stderr to h->log and env (NAME=VALUE,
 * NULL-terminated, may be NULL) added. 0 or -1. */
static inline int ops_host_spawn(ops_host *h, char *const *argv,
				 char *const *env)
{
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		if (!freopen(h->log, "w", stderr))
			_exit(126);
		for (char *const *e = env; e && *e; e++)
			putenv(*e);
		execv(argv[0], argv);
		_exit(127);
	}
	return 0;
}

/* Wait (at most timeout_ms) for the host to exit: its wait status, or -1
 * when it did not (it is killed then). */
static inline int ops_host_wait(ops_host *h, long timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int st;
	while (now_ms() < end) {
		pid_t r = waitpid(h->pid, &st, WNOHANG);
		if (r == h->pid) {
			h->pid = -1;
			return st;
		}
		sleep_ms(20);
	}
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->pid = -1;
	return -1;
}

/* Whether the log holds needle yet; waits up to timeout_ms. */
static inline bool ops_log_has(const ops_host *h, const char *needle,
			       long timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	do {
		char *s = slurp(h->log);
		bool found = strstr(s, needle) != NULL;
		free(s);
		if (found)
			return true;
		sleep_ms(20);
	} while (now_ms() < end);
	return false;
}

/* The port after "listening on 127.0.0.1:" in the log (waits up to
 * timeout_ms), or 0. */
static inline unsigned ops_log_port(const ops_host *h, long timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	do {
		char *s = slurp(h->log);
		const char *p = strstr(s, "listening on 127.0.0.1:");
		unsigned port = p ? (unsigned)atoi(p + 23) : 0;
		free(s);
		if (port)
			return port;
		if (!ops_host_alive(h))
			return 0;
		sleep_ms(20);
	} while (now_ms() < end);
	return 0;
}

/* SIGTERM and reap (if running), print the log when asked, remove the
 * temp dir. */
static inline void ops_host_done(ops_host *h, bool show_log)
{
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		if (ops_host_wait(h, 30000) < 0)
			show_log = true;
	}
	if (show_log) {
		char *s = slurp(h->log);
		fprintf(stderr, "--- dx-host log (%s) ---\n%s", h->log, s);
		free(s);
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
	if (h->dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h->dir);
}

/* Wait (at most timeout_ms) for the host to exit: its exit status, or -1
 * when it was killed by a signal or did not exit in time. */
static inline int ops_host_exit(ops_host *h, long timeout_ms)
{
	int st = ops_host_wait(h, timeout_ms);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Whether backend can run here: dx-host --check probes it (its log is
 * shown when not). */
static inline bool ops_backend_usable(const char *dx_host, const char *backend)
{
	ops_host h;
	if (!ops_io_built(backend) || ops_host_init(&h) < 0)
		return false;
	bool ok = ops_host_manifest(&h, "\"127.0.0.1:0\"", backend, "") == 0;
	char *argv[] = {(char *)dx_host, "-m", h.manifest, "--check", NULL};
	ok = ok && ops_host_spawn(&h, argv, NULL) == 0 &&
	     ops_host_exit(&h, 60000) == 0;
	ops_host_done(&h, !ok);
	return ok;
}

/* Call routes_echo's "echo" (route 2) on c with text: 0 when it came
 * back, else -1 with why (len bytes). */
static inline int ops_echo_on(dx_client *c, const char *text, char *why,
			      size_t len)
{
	uint16_t seq;
	dx_client_msg m;
	int rc = dx_client_call(c, 2, text, strlen(text), 0, &seq);
	if (rc == 0)
		rc = dx_client_wait(c, seq, &m, 20000);
	if (rc < 0) {
		snprintf(why, len, "call: %s", dx_client_error(c));
		return -1;
	}
	if (m.opcode != DX_HBTP_RPC_RESPONSE || m.len != strlen(text) ||
	    memcmp(m.payload, text, m.len) != 0) {
		snprintf(why, len, "opcode 0x%02x status %u: %.*s", m.opcode,
			 m.status, (int)m.len, (const char *)m.payload);
		return -1;
	}
	return 0;
}

/* Connect to addr and echo text once (ops_echo_on). */
static inline int ops_echo(const char *addr, const char *text, char *why,
			   size_t len)
{
	dx_client *c;
	if (dx_client_connect(addr, 5000, &c, why, len) < 0)
		return -1;
	int rc = ops_echo_on(c, text, why, len);
	dx_client_close(c);
	return rc;
}

#endif
