/* forge_process - the "process" FORGE_DRIVER (dx/forge.h): runs a tool as a
 * child process, never through a shell.
 *
 * start: posix_spawn(p) with the tool's argv array, in a process group of
 *   its own (so a stop reaches its grandchildren), with the tool's cwd, the
 *   host's environment plus the tool's env, stdin from /dev/null, stdout
 *   and stderr appended to the tool's log file, every other fd closed, the
 *   signal mask emptied and every signal at its default (the host blocks
 *   SIGTERM in its threads; a tool must not inherit that). A pidfd tells
 *   the orchestrator when it ends.
 * health: alive (the pidfd is not readable), tcp (a non-blocking connect),
 *   cmd (its argv spawned like a tool, output discarded, exit status 0).
 * stop: SIGTERM (or SIGKILL) to the process group.
 * reap: once the leader has exited (it stays a zombie, so its group id
 *   cannot be reused yet), SIGKILL whatever is left of its group, then
 *   collect it with waitid(P_PIDFD): no zombies, no stray grandchildren.
 *   A grandchild that moves to a session or group of its own escapes this
 *   (so it would under supervisord too; cgroups would be needed).
 *
 * No configuration, no state: self is the host API, for logging. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dx/forge.h>
#include <dx/io.h>
#include <dx/plugin.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

static int fp_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* environ with every "NAME=value" of add replacing or joining it, as a
 * NULL-terminated array of borrowed pointers (free the array only). */
static char **fp_envp(const char *const *add, size_t n)
{
	size_t base = 0;
	while (environ && environ[base])
		base++;
	char **e = calloc(base + n + 1, sizeof *e);
	if (!e)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < base; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool replaced = false;
		for (size_t j = 0; j < n && !replaced; j++)
			replaced = strncmp(add[j], environ[i], len) == 0 &&
				   add[j][len] == '=';
		if (!replaced)
			e[k++] = environ[i];
	}
	for (size_t j = 0; j < n; j++)
		e[k++] = (char *)add[j];
	return e;
}

typedef struct fp_cmd {
	const char *binary;
	const char *const *args; /* after argv[0] */
	size_t arg_count;
	const char *const *env;
	size_t env_count;
	const char *cwd;
	int out_fd; /* stdout and stderr */
} fp_cmd;

/* Spawn c in a new process group: 0 with *pid, or a negative errno. */
static int fp_spawn(const fp_cmd *c, pid_t *pid)
{
	char **argv = calloc(c->arg_count + 2, sizeof *argv);
	char **envp = fp_envp(c->env, c->env_count);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int rc = ENOMEM;
	if (!argv || !envp)
		goto out;
	argv[0] = (char *)c->binary;
	for (size_t i = 0; i < c->arg_count; i++)
		argv[i + 1] = (char *)c->args[i];
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
					      POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, c->out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, c->out_fd, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (c->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, c->cwd);
	rc = strchr(c->binary, '/')
		     ? posix_spawn(pid, c->binary, &fa, &at, argv, envp)
		     : posix_spawnp(pid, c->binary, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
out:
	free(argv);
	free(envp);
	return -rc;
}

/* Kill the group of a spawned leader that has not been reaped, and reap
 * it (blocking: SIGKILL is quick). */
static void fp_kill_reap(pid_t pid, int pidfd)
{
	kill(-pid, SIGKILL);
	siginfo_t si;
	if (pidfd >= 0)
		waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED);
	else
		waitpid(pid, NULL, 0);
}

static void fp_log_line(int fd, const char *fmt, const char *a, const char *b)
{
	char buf[512];
	time_t now = time(NULL);
	struct tm tm;
	char ts[32];
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
	int n = snprintf(buf, sizeof buf, "== dx forge %s: ", ts);
	if (n > 0 && (size_t)n < sizeof buf)
		n += snprintf(buf + n, sizeof buf - (size_t)n, fmt, a, b);
	if (n > 0 && (size_t)n < sizeof buf - 1) {
		buf[n++] = '\n';
		ssize_t w = write(fd, buf, (size_t)n);
		(void)w;
	}
}

static int fp_start(void *self, const dx_forge_tool *t, dx_forge_proc *out,
		    char *why, size_t why_len)
{
	const char *log = t->log_path ? t->log_path : "/dev/null";
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(why, why_len, "log file %s: %s", log, strerror(e));
		return -e;
	}
	fp_log_line(fd, "starting %s (%s)", t->name, t->binary);
	fp_cmd c = {t->binary, t->args,      t->arg_count, t->env,
		    t->env_count, t->cwd, fd};
	pid_t pid = 0;
	int rc = fp_spawn(&c, &pid);
	if (rc < 0) {
		snprintf(why, why_len, "%s: %s%s%s", t->binary, strerror(-rc),
			 t->cwd ? " (cwd " : "", t->cwd ? t->cwd : "");
		if (t->cwd)
			strncat(why, ")", why_len - strlen(why) - 1);
		fp_log_line(fd, "%s%s", why, "");
		close(fd);
		return rc;
	}
	close(fd);
	int pidfd = fp_pidfd_open(pid);
	if (pidfd < 0) {
		int e = errno;
		fp_kill_reap(pid, -1);
		snprintf(why, why_len, "pidfd_open: %s", strerror(e));
		return -e;
	}
	out->pid = pid;
	out->pidfd = pidfd;
	return 0;
}

/* ---- health ---- */

struct dx_forge_probe {
	int kind; /* DX_FORGE_HEALTH_TCP or _CMD */
	int fd;   /* the socket, or the check command's pidfd */
	pid_t pid;
};

/* Split "HOST:PORT" / "[V6]:PORT" and resolve it (numeric or /etc/hosts
 * names; a name that needs DNS blocks, so use addresses). */
static int fp_addr(const char *spec, struct addrinfo **res)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon)
		return -EINVAL;
	size_t len = (size_t)(colon - spec);
	const char *h = spec;
	if (len >= 2 && spec[0] == '[' && spec[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len >= sizeof host)
		return -EINVAL;
	memcpy(host, h, len);
	host[len] = '\0';
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	return getaddrinfo(host, colon + 1, &hints, res) == 0 ? 0 : -EINVAL;
}

static int fp_health_tcp(const dx_forge_tool *t, dx_forge_probe **probe,
			 int *fdp, uint32_t *events)
{
	struct addrinfo *ai = NULL;
	if (!t->health_tcp || fp_addr(t->health_tcp, &ai) < 0)
		return DX_FORGE_UNHEALTHY;
	int fd = socket(ai->ai_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
	int e = errno;
	freeaddrinfo(ai);
	if (fd >= 0 && rc == 0) {
		close(fd);
		return DX_FORGE_HEALTHY;
	}
	dx_forge_probe *p = NULL;
	if (fd >= 0 && e == EINPROGRESS && (p = calloc(1, sizeof *p))) {
		*p = (dx_forge_probe){DX_FORGE_HEALTH_TCP, fd, 0};
		*probe = p;
		*fdp = fd;
		*events = DX_IO_POLLOUT;
		return DX_FORGE_PENDING;
	}
	if (fd >= 0)
		close(fd);
	return DX_FORGE_UNHEALTHY;
}

static int fp_health_cmd(const dx_forge_tool *t, dx_forge_probe **probe,
			 int *fdp, uint32_t *events)
{
	if (!t->health_cmd || !t->health_cmd_count)
		return DX_FORGE_UNHEALTHY;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0)
		return DX_FORGE_UNHEALTHY;
	fp_cmd c = {t->health_cmd[0], t->health_cmd + 1,
		    t->health_cmd_count - 1, t->env, t->env_count, t->cwd,
		    null};
	pid_t pid;
	int rc = fp_spawn(&c, &pid);
	close(null);
	if (rc < 0)
		return DX_FORGE_UNHEALTHY;
	int pidfd = fp_pidfd_open(pid);
	dx_forge_probe *p = pidfd >= 0 ? calloc(1, sizeof *p) : NULL;
	if (!p) {
		fp_kill_reap(pid, pidfd);
		if (pidfd >= 0)
			close(pidfd);
		return DX_FORGE_UNHEALTHY;
	}
	*p = (dx_forge_probe){DX_FORGE_HEALTH_CMD, pidfd, pid};
	*probe = p;
	*fdp = pidfd;
	*events = DX_IO_POLLIN;
	return DX_FORGE_PENDING;
}

static int fp_health(void *self, const dx_forge_tool *t,
		     const dx_forge_proc *proc, dx_forge_probe **probe,
		     int *fd, uint32_t *events)
{
	switch (t->health_kind) {
	case DX_FORGE_HEALTH_TCP:
		return fp_health_tcp(t, probe, fd, events);
	case DX_FORGE_HEALTH_CMD:
		return fp_health_cmd(t, probe, fd, events);
	default: {
		/* Alive: the pidfd turns readable when the process ends. */
		struct pollfd p = {proc->pidfd, POLLIN, 0};
		return poll(&p, 1, 0) == 0 ? DX_FORGE_HEALTHY
					   : DX_FORGE_UNHEALTHY;
	}
	}
}

static int fp_health_poll(void *self, dx_forge_probe *p, uint32_t revents)
{
	int rc = DX_FORGE_UNHEALTHY;
	if (p->kind == DX_FORGE_HEALTH_TCP) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
		    err == 0)
			rc = DX_FORGE_HEALTHY;
		else if (err == EINPROGRESS)
			return DX_FORGE_PENDING;
	} else {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid((idtype_t)P_PIDFD, (id_t)p->fd, &si,
			   WEXITED | WNOHANG) < 0)
			rc = DX_FORGE_UNHEALTHY;
		else if (si.si_pid == 0)
			return DX_FORGE_PENDING;
		else if (si.si_code == CLD_EXITED && si.si_status == 0)
			rc = DX_FORGE_HEALTHY;
		kill(-p->pid, SIGKILL); /* anything it left behind */
	}
	close(p->fd);
	free(p);
	return rc;
}

static void fp_health_cancel(void *self, dx_forge_probe *p)
{
	if (!p)
		return;
	if (p->kind == DX_FORGE_HEALTH_CMD)
		fp_kill_reap(p->pid, p->fd);
	close(p->fd);
	free(p);
}

/* ---- stop and reap ---- */

static int fp_stop(void *self, const dx_forge_tool *t,
		   const dx_forge_proc *proc, bool force)
{
	if (proc->pid <= 0)
		return -EINVAL;
	if (kill(-proc->pid, force ? SIGKILL : SIGTERM) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

static int fp_reap(void *self, const dx_forge_tool *t,
		   const dx_forge_proc *proc, bool block, int *status)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	/* Look without reaping: while the leader is a zombie its process
	 * group id is still ours to signal. */
	int flags = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
	while (waitid((idtype_t)P_PIDFD, (id_t)proc->pidfd, &si, flags) < 0)
		if (errno != EINTR)
			return -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	kill(-proc->pid, SIGKILL);
	memset(&si, 0, sizeof si);
	while (waitid((idtype_t)P_PIDFD, (id_t)proc->pidfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			return -errno;
	*status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	if (t && t->log_path) {
		int fd = open(t->log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		char what[48];
		if (si.si_code == CLD_EXITED)
			snprintf(what, sizeof what, "exit %d", si.si_status);
		else
			snprintf(what, sizeof what, "killed by signal %d",
				 si.si_status);
		if (fd >= 0) {
			fp_log_line(fd, "%s ended: %s", t->name, what);
			close(fd);
		}
	}
	return 0;
}

static const dx_forge_driver_vtable fp_driver = {
	.size = sizeof(dx_forge_driver_vtable),
	.start = fp_start,
	.health = fp_health,
	.health_poll = fp_health_poll,
	.health_cancel = fp_health_cancel,
	.stop = fp_stop,
	.reap = fp_reap,
};

static int fp_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	static const char *const none[] = {NULL};
	if (host->config_keys(host, config, none) < 0)
		return DX_ECONFIG;
	*self = (void *)host;
	return 0;
}

static const dx_facet fp_facets[] = {
	{DX_FACET_FORGE_DRIVER, "process", &fp_driver},
};

DX_PLUGIN(.name = "forge_process", .version = "1.0.0",
	  .description = "forge driver: runs tools as child processes",
	  DX_FACETS(fp_facets), .init = fp_init)
