/* forge_test.h - what the forge tests that drive a real dx-host share:
 * a host whose manifest runs io_epoll, forge_process and forge with the
 * given forge.tools (host_up, host_down: no zombies, the host exits 0, no
 * tool outlives it), control requests (ctl), a tool's status and waiting
 * for a state or a new pid, waiting for old instances to retire, and
 * /proc checks of processes. Check tests only (they
 * assert); one host at a time (g_h). The including file sets g_dx_host
 * from its argv. */
#ifndef DX_FORGE_TEST_H
#define DX_FORGE_TEST_H

#include <dirent.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <check.h>

#include "test_host.h"

static const char *g_dx_host;
static struct dx_test_host g_h;
static char g_logs[64]; /* the forge plugin's log_dir */

#define MS (UINT64_C(1000000))

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Start a host whose forge.tools is tools (a JSON array) and whose forge
 * plugin has extra config (JSON members, may be ""). */
static void host_up(const char *tools, const char *config)
{
	char *extra = NULL;
	snprintf(g_logs, sizeof g_logs, "/tmp/dx-forge-logs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_logs));
	ck_assert_int_ge(
		asprintf(&extra,
			 "\"plugin_path\":[\"%s\"],\"workers\":1,"
			 "\"plugins\":[{\"name\":\"io_epoll\"},"
			 "{\"name\":\"forge_process\"},{\"name\":\"forge\","
			 "\"config\":{\"log_dir\":\"%s\"%s%s}}],"
			 "\"forge\":{\"tools\":%s}",
			 getenv("DX_PLUGINS"), g_logs, *config ? "," : "",
			 config, tools),
		0);
	ck_assert_msg(dx_test_host_start(&g_h, g_dx_host, extra, NULL) == 0,
		      "dx-host did not start");
	free(extra);
}

/* One control request: the parsed answer (ok or not). */
static cJSON *ctl(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static cJSON *ctl(const char *fmt, ...)
{
	char req[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(req, sizeof req, fmt, ap);
	va_end(ap);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", g_h.ctl);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	strcat(req, "\n");
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	static char buf[1 << 20];
	size_t len = 0;
	struct pollfd p = {fd, POLLIN, 0};
	while (len < sizeof buf - 1 && poll(&p, 1, 30000) > 0) {
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	buf[len] = '\0';
	cJSON *o = cJSON_Parse(buf);
	ck_assert_msg(o != NULL, "control answer is not JSON: %s", buf);
	return o;
}

/* The status entry of tool (a copy), or fail. */
static cJSON *tool_status(const char *name)
{
	cJSON *o = ctl("{\"cmd\":\"forge\",\"op\":\"status\"}");
	const cJSON *t;
	cJSON *copy = NULL;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "tools"))
		if (!strcmp(cJSON_GetObjectItemCaseSensitive(t, "name")
				    ->valuestring,
			    name))
			copy = cJSON_Duplicate(t, 1);
	cJSON_Delete(o);
	ck_assert_msg(copy != NULL, "no tool %s in status", name);
	return copy;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Wait (up to ms) until tool is in state; its status then. */
static cJSON *wait_state(const char *tool, const char *state, long ms)
{
	uint64_t end = mono_ns() + (uint64_t)ms * MS;
	for (;;) {
		cJSON *t = tool_status(tool);
		if (!strcmp(str(t, "state"), state))
			return t;
		if (mono_ns() > end) {
			char *txt = cJSON_PrintUnformatted(t);
			dx_test_host_dump(&g_h);
			ck_abort_msg("%s: not %s after %ld ms: %s", tool, state,
				     ms, txt);
		}
		cJSON_Delete(t);
		sleep_ms(20);
	}
}

/* Processes in /proc: with zombies, the zombie children of id; else the
 * live (not zombie) members of process group id. */
static int procs_count(pid_t id, bool zombies)
{
	int n = 0;
	char path[300], line[512];
	DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		const char *rp = fgets(line, sizeof line, f)
					 ? strrchr(line, ')')
					 : NULL;
		char st = 0;
		int pp = 0, pg = 0;
		if (rp && sscanf(rp + 2, "%c %d %d", &st, &pp, &pg) == 3)
			n += zombies ? pp == id && st == 'Z'
				     : pg == id && st != 'Z';
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Children of pid that stay zombies: a tool or a health probe that has
 * just exited is a zombie until forge reaps it on its next loop turn (the
 * probes run every 100 ms), so a single look can catch one that is being
 * reaped; only one that is still there after 2 s is a leak. */
static int zombies_of(pid_t parent)
{
	int n = procs_count(parent, true);
	for (int i = 0; i < 100 && n > 0; i++) {
		sleep_ms(20);
		n = procs_count(parent, true);
	}
	return n;
}

/* Live (not zombie) processes in process group pgid. */
static int group_alive(pid_t pgid)
{
	return procs_count(pgid, false);
}

/* Dead: gone, or a zombie no longer ours (orphans go to init). */
static bool dead(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	bool z = false;
	if (fgets(line, sizeof line, f)) {
		const char *rp = strrchr(line, ')');
		z = rp && rp[2] == 'Z';
	}
	fclose(f);
	return z;
}

static bool wait_dead(pid_t pid, long ms)
{
	for (long i = 0; i < ms / 10; i++) {
		if (dead(pid))
			return true;
		sleep_ms(10);
	}
	return dead(pid);
}

/* The helpers below serve some of the including files only: inline, so
 * the others do not warn. */
static inline pid_t pid_of(const char *tool)
{
	cJSON *t = tool_status(tool);
	pid_t pid = (pid_t)num(t, "pid");
	cJSON_Delete(t);
	return pid;
}

/* Old instances still retiring, as {"cmd":"plugins"} lists them. */
static inline int retiring(void)
{
	cJSON *o = ctl("{\"cmd\":\"plugins\"}");
	int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o,
								   "retiring"));
	cJSON_Delete(o);
	return n;
}

/* Wait until every old instance is retired (its timers, at most a
 * health interval and a backoff away, fired; generous for sanitizers). */
static inline void wait_retired(void)
{
	for (int i = 0; i < 1000 && retiring() > 0; i++)
		sleep_ms(20);
	if (retiring() > 0) {
		cJSON *o = ctl("{\"cmd\":\"plugins\"}");
		char *txt = cJSON_PrintUnformatted(o);
		dx_test_host_dump(&g_h);
		ck_abort_msg("an old forge is still retiring after 20 s: %s",
			     txt);
	}
}

/* pid is alive, a child of the host, and not a zombie. */
static inline void assert_host_child(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "pid %d is gone", (int)pid);
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	fclose(f);
	const char *rp = strrchr(line, ')');
	char st = 0;
	int ppid = 0;
	ck_assert_int_eq(sscanf(rp + 2, "%c %d", &st, &ppid), 2);
	ck_assert_msg(st != 'Z', "pid %d is a zombie", (int)pid);
	ck_assert_int_eq(ppid, g_h.pid);
}

/* Wait until tool runs (healthy) with a pid other than old. */
static inline pid_t wait_new_pid(const char *tool, pid_t old)
{
	for (int i = 0; i < 500; i++) {
		cJSON *t = tool_status(tool);
		pid_t pid = (pid_t)num(t, "pid");
		bool ok = pid > 0 && pid != old &&
			  !strcmp(str(t, "state"), "healthy");
		cJSON_Delete(t);
		if (ok)
			return pid;
		sleep_ms(20);
	}
	dx_test_host_dump(&g_h);
	ck_abort_msg("%s was not restarted after pid %d died", tool, (int)old);
	return 0;
}

/* End of a test: no zombies of the host, a clean exit, no tool left. */
static void host_down(const pid_t *tools, size_t n)
{
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	ck_assert_int_eq(dx_test_host_stop(&g_h), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(wait_dead(tools[i], 2000),
			      "pid %d outlived the host", (int)tools[i]);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s %s", g_logs, g_h.dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The pair of tools the reload and retire tests supervise: ticker writes
 * to its log all the time (restart always); sleeper is quiet (restart
 * on_failure); ticker's health check appends a line to g_dir/probes each
 * time it runs. forge's config beside log_dir is PAIR_CONFIG. */
static char g_dir[64]; /* the tools' scratch directory */

#define PAIR_CONFIG                                                  \
	"\"backoff_ms\":50,\"health_interval_ms\":100,"              \
	"\"health_timeout_ms\":500"

/* A host running the pair; returns once both are healthy, with their
 * pids. */
static inline void pair_host_up(pid_t *ticker, pid_t *sleeper)
{
	snprintf(g_dir, sizeof g_dir, "/tmp/dx-forge-pair.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	char tools[2048];
	snprintf(tools, sizeof tools,
		 "[{\"name\":\"ticker\",\"binary\":\"/bin/sh\",\"args\":[\"-c\","
		 "\"while :; do echo tick; sleep 0.05; done\"],"
		 "\"restart\":\"always\",\"stop_grace_ms\":2000,"
		 "\"health\":{\"cmd\":[\"/bin/sh\",\"-c\","
		 "\"echo x >> %s/probes\"]}},"
		 "{\"name\":\"sleeper\",\"binary\":\"sleep\",\"args\":[\"1000\"],"
		 "\"restart\":\"on_failure\",\"stop_grace_ms\":2000}]",
		 g_dir);
	host_up(tools, PAIR_CONFIG);
	cJSON *t = wait_state("ticker", "healthy", 10000);
	*ticker = (pid_t)num(t, "pid");
	cJSON_Delete(t);
	t = wait_state("sleeper", "healthy", 10000);
	*sleeper = (pid_t)num(t, "pid");
	cJSON_Delete(t);
}

/* host_down, then the scratch directory goes. */
static inline void pair_host_down(const pid_t *pids, size_t n)
{
	host_down(pids, n);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
	ck_assert_int_eq(system(cmd), 0);
}

#endif
