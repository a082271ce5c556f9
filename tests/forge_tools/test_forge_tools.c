/* test_forge_tools.c - forge's orchestrator and the process driver with
 * real processes, through a real dx-host (argv: dx-host, dx):
 * dependency order, health by TCP port and by command, SIGKILL restarted
 * with backoff, Degraded after repeated crashes, stop takes the whole
 * process group (grandchildren too, SIGKILL after the grace period), the
 * host's shutdown stops every tool, and the dx forge CLI verbs. After each
 * test: no zombie children of the host, no tool process left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <check.h>

#include "check_main.h"
#include "forge_test.h"

static const char *g_dx;

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[4096];
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* ---- tests ---- */

/* api waits for db to be healthy; db becomes healthy (its check command
 * finds the file) only 300 ms after it starts. api writes what it saw. */
START_TEST(test_dependency_order)
{
	char dir[] = "/tmp/dx-forge-order.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char tools[2048];
	snprintf(tools, sizeof tools,
		 "[{\"name\":\"api\",\"binary\":\"/bin/sh\",\"args\":[\"-c\","
		 "\"if test -f ready; then echo after; else echo before; fi > "
		 "order; exec sleep 100\"],\"cwd\":\"%s\",\"depends_on\":"
		 "[{\"tool\":\"db\",\"condition\":\"healthy\"}]},"
		 "{\"name\":\"db\",\"binary\":\"sh\",\"args\":[\"-c\","
		 "\"sleep 0.3; touch ready; exec sleep 100\"],\"cwd\":\"%s\","
		 "\"health\":{\"cmd\":[\"test\",\"-f\",\"ready\"]}}]",
		 dir, dir);
	host_up(tools, "");
	cJSON *api = wait_state("api", "healthy", 10000);
	cJSON *db = tool_status("db");
	char order[128];
	snprintf(order, sizeof order, "%s/order", dir);
	for (int i = 0; i < 100 && !*slurp(order); i++)
		sleep_ms(10);
	ck_assert_str_eq(slurp(order), "after\n");
	ck_assert_double_ge(num(api, "started_ns"), num(db, "healthy_ns"));
	ck_assert_double_ge(num(db, "healthy_ns") - num(db, "started_ns"),
			    250e6);
	pid_t pids[] = {(pid_t)num(api, "pid"), (pid_t)num(db, "pid")};
	cJSON_Delete(api);
	cJSON_Delete(db);
	host_down(pids, 2);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_health_tcp)
{
	int port = free_port(), dead_port = free_port();
	char tools[1024];
	snprintf(tools, sizeof tools,
		 "[{\"name\":\"web\",\"binary\":\"python3\",\"args\":[\"-m\","
		 "\"http.server\",\"%d\",\"--bind\",\"127.0.0.1\"],"
		 "\"health\":{\"tcp\":\"127.0.0.1:%d\"}},"
		 "{\"name\":\"mute\",\"binary\":\"sleep\",\"args\":[\"100\"],"
		 "\"health\":{\"tcp\":\"127.0.0.1:%d\"}}]",
		 port, port, dead_port);
	host_up(tools, "");
	cJSON *web = wait_state("web", "healthy", 10000);
	/* Healthy means the port accepts. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	close(fd);
	/* Nobody listens on mute's port: it runs, never healthy. */
	sleep_ms(500);
	cJSON *mute = tool_status("mute");
	ck_assert_str_eq(str(mute, "state"), "running");
	ck_assert_double_gt(num(mute, "pid"), 0);
	/* Restarts by hand, each with a new pid that becomes healthy (a
	 * regression test: a probe's watch ending just before the new
	 * process's watch began once left the new one half-armed). */
	for (int k = 0; k < 3; k++) {
		pid_t old = (pid_t)num(web, "pid");
		double starts = num(web, "starts");
		cJSON_Delete(web);
		cJSON_Delete(ctl("{\"cmd\":\"forge\",\"op\":\"restart\","
				 "\"tool\":\"web\"}"));
		for (;;) {
			web = wait_state("web", "healthy", 10000);
			if (num(web, "starts") > starts)
				break;
			cJSON_Delete(web);
			sleep_ms(20);
		}
		ck_assert_int_ne((pid_t)num(web, "pid"), old);
		ck_assert_str_eq(str(web, "why"), "");
		ck_assert(wait_dead(old, 2000));
	}
	pid_t pids[] = {(pid_t)num(web, "pid"), (pid_t)num(mute, "pid")};
	cJSON_Delete(web);
	cJSON_Delete(mute);
	host_down(pids, 2);
}
END_TEST

START_TEST(test_sigkill_restarts_with_backoff)
{
	host_up("[{\"name\":\"srv\",\"binary\":\"sleep\",\"args\":[\"100\"],"
		"\"restart\":\"on_failure\"}]",
		"");
	cJSON *t = wait_state("srv", "healthy", 5000);
	pid_t first = (pid_t)num(t, "pid");
	cJSON_Delete(t);
	uint64_t killed = mono_ns();
	ck_assert_int_eq(kill(first, SIGKILL), 0);
	pid_t second = 0;
	for (int i = 0; i < 300 && !second; i++) {
		t = tool_status("srv");
		if (num(t, "pid") > 0 && (pid_t)num(t, "pid") != first) {
			second = (pid_t)num(t, "pid");
			ck_assert_double_eq(num(t, "restarts"), 1);
			ck_assert_double_eq(num(t, "last_exit"), -9);
			ck_assert_str_eq(str(t, "last_exit_text"), "SIGKILL");
			/* Not at once: after the 100 ms backoff. */
			ck_assert_double_ge(num(t, "started_ns") - (double)killed,
					    90e6);
		}
		cJSON_Delete(t);
		sleep_ms(10);
	}
	ck_assert_msg(second > 0, "srv was not restarted");
	ck_assert(dead(first));
	/* The second crash waits twice as long. */
	killed = mono_ns();
	kill(second, SIGKILL);
	t = wait_state("srv", "healthy", 5000);
	while (num(t, "restarts") < 2) {
		cJSON_Delete(t);
		sleep_ms(10);
		t = wait_state("srv", "healthy", 5000);
	}
	ck_assert_double_ge(num(t, "started_ns") - (double)killed, 190e6);
	pid_t pids[] = {(pid_t)num(t, "pid")};
	cJSON_Delete(t);
	host_down(pids, 1);
}
END_TEST

START_TEST(test_degraded_after_crashes)
{
	host_up("[{\"name\":\"crash\",\"binary\":\"sh\",\"args\":[\"-c\","
		"\"echo crashing; exit 3\"],\"restart\":\"always\"},"
		"{\"name\":\"after\",\"binary\":\"sleep\",\"args\":[\"100\"],"
		"\"depends_on\":[{\"tool\":\"crash\",\"condition\":"
		"\"completed\"}]}]",
		"\"backoff_ms\":20,\"start_limit_burst\":4,"
		"\"start_limit_interval_ms\":10000");
	cJSON *t = wait_state("crash", "degraded", 10000);
	ck_assert_double_eq(num(t, "starts"), 4);
	ck_assert_double_eq(num(t, "restarts"), 3);
	ck_assert_double_eq(num(t, "last_exit"), 3);
	ck_assert_ptr_nonnull(strstr(str(t, "why"), "restarts within"));
	cJSON_Delete(t);
	/* Stays so: no more starts. */
	sleep_ms(400);
	t = tool_status("crash");
	ck_assert_double_eq(num(t, "starts"), 4);
	cJSON_Delete(t);
	/* Its dependent waits, and says it is blocked. */
	t = tool_status("after");
	ck_assert_str_eq(str(t, "state"), "starting");
	ck_assert_str_eq(str(t, "waiting_for"), "crash");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "blocked")));
	cJSON_Delete(t);
	/* up does not revive it; restart does. */
	cJSON *o = ctl("{\"cmd\":\"forge\",\"op\":\"up\",\"tool\":\"crash\"}");
	const cJSON *r = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(o, "results"), 0);
	ck_assert_ptr_nonnull(strstr(str(r, "result"), "degraded"));
	cJSON_Delete(o);
	o = ctl("{\"cmd\":\"forge\",\"op\":\"restart\",\"tool\":\"crash\"}");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
	cJSON_Delete(o);
	for (int i = 0; i < 200; i++) {
		t = tool_status("crash");
		double starts = num(t, "starts");
		cJSON_Delete(t);
		if (starts > 4)
			break;
		sleep_ms(10);
	}
	t = wait_state("crash", "degraded", 10000);
	ck_assert_double_eq(num(t, "starts"), 8);
	cJSON_Delete(t);
	host_down(NULL, 0);
}
END_TEST

/* A tool that forks a grandchild; stop must take both. A second one
 * ignores SIGTERM: SIGKILL after its grace period. */
START_TEST(test_stop_kills_group)
{
	char dir[] = "/tmp/dx-forge-grp.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char tools[2048];
	snprintf(tools, sizeof tools,
		 "[{\"name\":\"fam\",\"binary\":\"/bin/sh\",\"args\":[\"-c\","
		 "\"sleep 100 & echo $! > %s/gc.pid; wait\"]},"
		 "{\"name\":\"deaf\",\"binary\":\"/bin/sh\",\"args\":[\"-c\","
		 "\"trap '' TERM; echo $$ > %s/deaf.pid; while :; do sleep "
		 "0.05; done\"],\"stop_grace_ms\":300}]",
		 dir, dir);
	host_up(tools, "");
	cJSON *t = wait_state("fam", "healthy", 5000);
	pid_t fam = (pid_t)num(t, "pid");
	cJSON_Delete(t);
	char path[128];
	snprintf(path, sizeof path, "%s/gc.pid", dir);
	for (int i = 0; i < 200 && !*slurp(path); i++)
		sleep_ms(10);
	pid_t gc = (pid_t)atoi(slurp(path));
	ck_assert_int_gt(gc, 0);
	ck_assert(!dead(gc));
	ck_assert_int_eq(getpgid(gc), fam); /* the tool's group */
	cJSON *o = ctl("{\"cmd\":\"forge\",\"op\":\"stop\",\"tool\":\"fam\"}");
	cJSON_Delete(o);
	t = wait_state("fam", "stopped", 5000);
	ck_assert_double_eq(num(t, "last_exit"), -15);
	cJSON_Delete(t);
	ck_assert_msg(wait_dead(gc, 2000), "grandchild %d survived", (int)gc);
	ck_assert(dead(fam));

	t = wait_state("deaf", "healthy", 5000);
	pid_t deaf = (pid_t)num(t, "pid");
	cJSON_Delete(t);
	/* "alive" is healthy as soon as the process runs, before its shell
	 * has set the trap: a stop then would end it by SIGTERM. deaf.pid is
	 * written after the trap. */
	snprintf(path, sizeof path, "%s/deaf.pid", dir);
	for (int i = 0; i < 500 && !*slurp(path); i++)
		sleep_ms(10);
	ck_assert_int_eq(atoi(slurp(path)), deaf);
	uint64_t t0 = mono_ns();
	cJSON_Delete(ctl("{\"cmd\":\"forge\",\"op\":\"stop\",\"tool\":\"deaf\"}"));
	t = wait_state("deaf", "stopped", 5000);
	ck_assert_double_ge((double)(mono_ns() - t0), 280e6);
	ck_assert_double_eq(num(t, "last_exit"), -9);
	cJSON_Delete(t);
	ck_assert(dead(deaf));
	host_down(NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* SIGTERM to the host stops every tool (and its grandchildren). */
START_TEST(test_host_shutdown_stops_tools)
{
	host_up("[{\"name\":\"a\",\"binary\":\"sh\",\"args\":[\"-c\","
		"\"sleep 100 & sleep 100\"]},"
		"{\"name\":\"b\",\"binary\":\"sleep\",\"args\":[\"100\"],"
		"\"depends_on\":[{\"tool\":\"a\",\"condition\":\"started\"}]}]",
		"");
	cJSON *a = wait_state("a", "healthy", 5000);
	cJSON *b = wait_state("b", "healthy", 5000);
	pid_t pids[] = {(pid_t)num(a, "pid"), (pid_t)num(b, "pid")};
	cJSON_Delete(a);
	cJSON_Delete(b);
	host_down(pids, 2);
	/* Nothing of a's group is left either (but zombies init reaps). */
	for (int i = 0; i < 200 && group_alive(pids[0]); i++)
		sleep_ms(10);
	ck_assert_int_eq(group_alive(pids[0]), 0);
}
END_TEST

/* Run dx with args; its stdout (static) and exit status. */
static const char *run_dx(int *status, const char *const *args)
{
	static char out[65536];
	char path[64];
	snprintf(path, sizeof path, "%s/dx.out", g_h.dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		char *argv[32];
		int n = 0;
		argv[n++] = (char *)g_dx;
		for (; args[n - 1] && n < 31; n++)
			argv[n] = (char *)args[n - 1];
		argv[n] = NULL;
		execv(g_dx, argv);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
	if (f)
		fclose(f);
	out[n] = '\0';
	return out;
}

START_TEST(test_cli)
{
	host_up("[{\"name\":\"db\",\"binary\":\"sh\",\"args\":[\"-c\","
		"\"echo db says hello; exec sleep 100\"],"
		"\"env\":{\"DX_T\":\"v1\"},\"restart\":\"on_failure\"},"
		"{\"name\":\"api\",\"binary\":\"sleep\",\"args\":[\"100\"],"
		"\"depends_on\":[{\"tool\":\"db\",\"condition\":\"healthy\"}],"
		"\"priority\":5}]",
		"\"autostart\":false");
	char m[64];
	snprintf(m, sizeof m, "%s/m.json", g_h.dir);
	int st;
	const char *out = run_dx(&st, (const char *[]){"forge", "status", "-s",
						      g_h.ctl, NULL});
	ck_assert_int_eq(st, 0);
	ck_assert_msg(strstr(out, "NAME") && strstr(out, "LAST-EXIT") &&
			      strstr(out, "stopped"),
		      "%s", out);
	/* DX_SOCKET names the host when neither -s nor -m does. */
	setenv("DX_SOCKET", g_h.ctl, 1);
	out = run_dx(&st, (const char *[]){"forge", "status", NULL});
	ck_assert_msg(st == 0 && strstr(out, "NAME"), "%s", out);
	unsetenv("DX_SOCKET");
	out = run_dx(&st, (const char *[]){"forge", "status", NULL});
	ck_assert_msg(st == 2 && strstr(out, "DX_SOCKET"), "%s", out);
	/* up api brings db first; the CLI waits until both are healthy. */
	out = run_dx(&st, (const char *[]){"forge", "up", "api", "-m", m,
					   NULL});
	ck_assert_msg(st == 0 && strstr(out, "api: healthy (pid"), "%s", out);
	cJSON *db = tool_status("db");
	ck_assert_str_eq(str(db, "state"), "healthy");
	pid_t dbpid = (pid_t)num(db, "pid");
	cJSON_Delete(db);
	out = run_dx(&st, (const char *[]){"forge", "status", "--json", "-s",
					   g_h.ctl, NULL});
	cJSON *j = cJSON_Parse(out);
	ck_assert_msg(j && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				   j, "tools")) == 2,
		      "%s", out);
	cJSON_Delete(j);
	/* up again: idempotent, same pid. */
	out = run_dx(&st, (const char *[]){"forge", "up", "db", "-s", g_h.ctl,
					   NULL});
	ck_assert_msg(st == 0 && strstr(out, "already running"), "%s", out);
	db = tool_status("db");
	ck_assert_int_eq((pid_t)num(db, "pid"), dbpid);
	cJSON_Delete(db);
	/* logs */
	out = run_dx(&st, (const char *[]){"forge", "logs", "db", "-s",
					   g_h.ctl, NULL});
	ck_assert_msg(st == 0 && strstr(out, "db says hello"), "%s", out);
	/* restart: a new pid; stop: stopped. */
	out = run_dx(&st, (const char *[]){"forge", "restart", "db", "-s",
					   g_h.ctl, NULL});
	ck_assert_msg(st == 0 && strstr(out, "db: healthy"), "%s", out);
	db = tool_status("db");
	ck_assert_int_ne((pid_t)num(db, "pid"), dbpid);
	ck_assert(wait_dead(dbpid, 1000));
	cJSON_Delete(db);
	out = run_dx(&st, (const char *[]){"forge", "stop", "api", "-s",
					   g_h.ctl, NULL});
	ck_assert_msg(st == 0 && strstr(out, "api: stopped"), "%s", out);
	/* Errors name the tool and the socket. */
	out = run_dx(&st, (const char *[]){"forge", "stop", "nope", "-s",
					   g_h.ctl, NULL});
	ck_assert_msg(st == 1 && strstr(out, "\"nope\"") &&
			      strstr(out, g_h.ctl) && strstr(out, "db, api"),
		      "%s", out);
	out = run_dx(&st, (const char *[]){"forge", "status", "-s",
					   "/nonexistent/x.sock", NULL});
	ck_assert_msg(st == 1 && strstr(out, "/nonexistent/x.sock"), "%s",
		      out);
	out = run_dx(&st, (const char *[]){"forge", "stop", "-s", g_h.ctl,
					   NULL});
	ck_assert_msg(st == 2 && strstr(out, "which tool"), "%s", out);
	/* run: the tool's binary with other ARGS and its env, exit status. */
	out = run_dx(&st, (const char *[]){"forge", "run", "db", "-m", m, "--",
					   "-c", "echo run $DX_T; exit 7",
					   NULL});
	ck_assert_int_eq(st, 7);
	ck_assert_str_eq(out, "run v1\n");
	db = tool_status("db");
	pid_t pids[] = {(pid_t)num(db, "pid")};
	cJSON_Delete(db);
	host_down(pids, 1);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_forge_tools DX_HOST DX\n");
		return 2;
	}
	g_dx_host = argv[1];
	g_dx = argv[2];
	/* The tools' own children: ours to reap if a test fails midway. */
	Suite *s = suite_create("forge-tools");
	TCase *tc = tcase_create("real processes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dependency_order);
	tcase_add_test(tc, test_health_tcp);
	tcase_add_test(tc, test_sigkill_restarts_with_backoff);
	tcase_add_test(tc, test_degraded_after_crashes);
	tcase_add_test(tc, test_stop_kills_group);
	tcase_add_test(tc, test_host_shutdown_stops_tools);
	tcase_add_test(tc, test_cli);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
