/* test_forge_reload.c - `dx ctl reload forge` keeps the supervised tools
 * running, with the same PIDs, supervised by the new instance, through a
 * real dx-host and real child processes (argv: dx-host, a build of forge
 * whose handoff layout and version differ: forge_layout99.so).
 *
 * - the PIDs after a reload are the ones before (forge's status and
 *   /proc), still the host's children, not zombies; the old instance is
 *   retired; the counters (starts, restarts) carried over; the logs keep
 *   growing and the health checks keep running (on the new instance);
 * - after the reload a tool killed with SIGKILL is restarted (a new PID)
 *   and stop through the new instance's command stops one;
 * - a build that cannot read the state is refused with both versions
 *   named, and the old instance keeps supervising (kill -> restarted);
 * - ten reloads in a row: the same PIDs throughout, the host's open fds
 *   as before within a small margin;
 * - a reload of the driver, forge_process, takes forge along: the same
 *   PIDs, supervised on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <check.h>

#include "check_main.h"
#include "forge_test.h"

static const char *g_refused_build; /* forge_layout99.so */

/* Reload forge (from file, or its own path when NULL): the answer. */
static cJSON *reload(const char *file)
{
	if (file)
		return ctl("{\"cmd\":\"reload\",\"name\":\"forge\","
			   "\"path\":\"%s\"}",
			   file);
	return ctl("{\"cmd\":\"reload\",\"name\":\"forge\"}");
}

static void reload_ok(void)
{
	cJSON *r = reload(NULL);
	char *txt = cJSON_PrintUnformatted(r);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")) &&
			      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
				      r, "handoff")),
		      "reload forge: %s", txt);
	free(txt);
	cJSON_Delete(r);
}

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Wait (up to ms) until path is larger than size. */
static bool grows(const char *path, off_t size, long ms)
{
	for (long i = 0; i < ms / 20 && size_of(path) <= size; i++)
		sleep_ms(20);
	return size_of(path) > size;
}

static int host_fds(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)g_h.pid);
	DIR *d = opendir(path);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- tests ---- */

START_TEST(test_reload_keeps_pids)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	/* One restart before the reload: its count must carry over. */
	ck_assert_int_eq(kill(ticker, SIGKILL), 0);
	ticker = wait_new_pid("ticker", ticker);
	cJSON *t = tool_status("ticker");
	double starts = num(t, "starts"), restarts = num(t, "restarts");
	cJSON_Delete(t);
	ck_assert_double_ge(restarts, 1);

	reload_ok();
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	t = tool_status("ticker");
	ck_assert_str_eq(str(t, "state"), "healthy");
	ck_assert_double_eq(num(t, "starts"), starts);
	ck_assert_double_eq(num(t, "restarts"), restarts);
	cJSON_Delete(t);
	assert_host_child(ticker);
	assert_host_child(sleeper);
	wait_retired();
	/* Still the same processes once the old instance is gone. */
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	assert_host_child(ticker);
	assert_host_child(sleeper);
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	/* The logs keep flowing, and the health checks (the new
	 * instance's: the old one is finalised) keep running. */
	char log[128], probes[128];
	snprintf(log, sizeof log, "%s/ticker.log", g_logs);
	snprintf(probes, sizeof probes, "%s/probes", g_dir);
	ck_assert_msg(grows(log, size_of(log), 5000), "ticker's log stopped");
	ck_assert_msg(grows(probes, size_of(probes), 5000),
		      "no health check ran after the reload");
	ck_assert_str_eq(str(t = tool_status("ticker"), "state"), "healthy");
	cJSON_Delete(t);
	pid_t pids[] = {ticker, sleeper};
	pair_host_down(pids, 2);
}
END_TEST

START_TEST(test_reload_then_restart_and_stop)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	cJSON *t;
	reload_ok();
	wait_retired();
	/* Only the new instance can see this exit. */
	ck_assert_int_eq(kill(ticker, SIGKILL), 0);
	pid_t again = wait_new_pid("ticker", ticker);
	ck_assert(wait_dead(ticker, 2000));
	assert_host_child(again);
	t = tool_status("ticker");
	ck_assert_double_eq(num(t, "restarts"), 1);
	ck_assert_double_eq(num(t, "last_exit"), -9);
	cJSON_Delete(t);
	/* A sleeper killed by a signal failed: on_failure restarts it. */
	ck_assert_int_eq(kill(sleeper, SIGKILL), 0);
	pid_t sleeper2 = wait_new_pid("sleeper", sleeper);
	/* stop through the new instance's command. */
	cJSON_Delete(ctl("{\"cmd\":\"forge\",\"op\":\"stop\","
			 "\"tool\":\"sleeper\"}"));
	t = wait_state("sleeper", "stopped", 10000);
	ck_assert_double_eq(num(t, "last_exit"), -15);
	cJSON_Delete(t);
	ck_assert(wait_dead(sleeper2, 2000));
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	pid_t pids[] = {again, sleeper2};
	pair_host_down(pids, 2);
}
END_TEST

START_TEST(test_reload_refused_keeps_supervising)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	cJSON *r = reload(g_refused_build);
	char *txt = cJSON_PrintUnformatted(r);
	const char *err = str(r, "error");
	ck_assert_msg(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "ok")),
		      "%s", txt);
	ck_assert_msg(strstr(err, "forge 9.0.0 cannot take over the tools of "
				  "forge 1.1.0") &&
			      strstr(err, "layout 1") &&
			      strstr(err, "layout 99"),
		      "%s", txt);
	free(txt);
	cJSON_Delete(r);
	/* The running instance is the one it was. */
	cJSON *o = ctl("{\"cmd\":\"plugins\"}");
	const cJSON *p;
	bool found = false;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "plugins"))
		if (!strcmp(str(p, "name"), "forge")) {
			ck_assert_str_eq(str(p, "version"), "1.1.0");
			found = true;
		}
	ck_assert(found);
	ck_assert_int_eq(
		cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "retiring")),
		0);
	cJSON_Delete(o);
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	/* ... and it still supervises. */
	ck_assert_int_eq(kill(ticker, SIGKILL), 0);
	pid_t again = wait_new_pid("ticker", ticker);
	assert_host_child(again);
	assert_host_child(sleeper);
	/* A good reload still works after the refused one. */
	reload_ok();
	ck_assert_int_eq(pid_of("ticker"), again);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	pid_t pids[] = {again, sleeper};
	pair_host_down(pids, 2);
}
END_TEST

START_TEST(test_reload_many_times)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	/* The first reload sets up what every later one reuses. */
	reload_ok();
	wait_retired();
	int fds = host_fds();
	/* Each reload waits for the previous old instance to retire: the
	 * host refuses a new instance's control command ("forge") while a
	 * retiring instance still has it registered. */
	for (int i = 0; i < 10; i++) {
		reload_ok();
		ck_assert_int_eq(pid_of("ticker"), ticker);
		ck_assert_int_eq(pid_of("sleeper"), sleeper);
		assert_host_child(ticker);
		wait_retired();
	}
	wait_retired();
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	assert_host_child(ticker);
	assert_host_child(sleeper);
	int after = host_fds();
	ck_assert_msg(after <= fds + 2, "host fds: %d before, %d after 10 "
					"reloads",
		      fds, after);
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	ck_assert_int_ge(group_alive(ticker), 1); /* its group lives */
	pid_t pids[] = {ticker, sleeper};
	pair_host_down(pids, 2);
}
END_TEST

/* Reloading the driver (forge_process) reloads forge with it, as forge
 * uses its FORGE_DRIVER facet: the tools keep their PIDs, and the new
 * forge starts the next process through the new driver. */
START_TEST(test_reload_driver_keeps_pids)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	cJSON *r = ctl("{\"cmd\":\"reload\",\"name\":\"forge_process\"}");
	char *txt = cJSON_PrintUnformatted(r);
	const cJSON *with = cJSON_GetObjectItemCaseSensitive(r, "reloaded_with");
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")) &&
			      cJSON_GetArraySize(with) == 1 &&
			      !strcmp(cJSON_GetArrayItem(with, 0)->valuestring,
				      "forge"),
		      "%s", txt);
	free(txt);
	cJSON_Delete(r);
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	wait_retired();
	assert_host_child(ticker);
	assert_host_child(sleeper);
	ck_assert_int_eq(kill(ticker, SIGKILL), 0);
	pid_t again = wait_new_pid("ticker", ticker);
	assert_host_child(again);
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	pid_t pids[] = {again, sleeper};
	pair_host_down(pids, 2);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_forge_reload DX_HOST "
				"FORGE_LAYOUT99_SO\n");
		return 2;
	}
	g_dx_host = argv[1];
	g_refused_build = argv[2];
	Suite *s = suite_create("forge-reload");
	TCase *tc = tcase_create("real processes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_reload_keeps_pids);
	tcase_add_test(tc, test_reload_then_restart_and_stop);
	tcase_add_test(tc, test_reload_refused_keeps_supervising);
	tcase_add_test(tc, test_reload_many_times);
	tcase_add_test(tc, test_reload_driver_keeps_pids);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
