/* test_forge_retire.c - a forge instance that leaves service without
 * handing its tools over is retired (its retire, ABI 1.1, lets go of its
 * watches; its fini stops its tools), through a real dx-host and real
 * child processes (argv: dx-host).
 *
 * - `unload forge` with two tools running: the instance retires (no
 *   "retiring" entry, "retired forge" in the host's log) and its tools
 *   are stopped (gone, no zombies); `load forge` with the manifest's
 *   entry then starts them again (new PIDs, healthy);
 * - `load forge` right after the unload: the new instance starts its
 *   tools only once the old ones are gone (never two copies at once);
 * - an `apply` that reloads forge (its tools handed over) and then fails
 *   on a later entry: refused, naming that entry's JSON path; the tools
 *   went back to the old instance (the same PIDs, two "took over" in the
 *   log), which still supervises (kill -9: restarted); the new instance,
 *   dropped, retires. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <check.h>

#include "check_main.h"
#include "forge_test.h"

/* Lines of the host's log that contain text. */
static int log_count(const char *text)
{
	FILE *f = fopen(g_h.log, "r");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

static bool ok_of(const cJSON *r)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
}

/* A control request that must succeed. */
static void ctl_ok(const char *what, const char *request)
{
	cJSON *r = ctl("%s", request);
	char *txt = cJSON_PrintUnformatted(r);
	ck_assert_msg(ok_of(r), "%s: %s", what, txt);
	free(txt);
	cJSON_Delete(r);
}

static void unload_forge(void)
{
	ctl_ok("unload forge", "{\"cmd\":\"unload\",\"name\":\"forge\"}");
}

/* forge again, with the manifest's entry (pair_host_up's). */
static void load_forge(void)
{
	char req[512];
	snprintf(req, sizeof req,
		 "{\"cmd\":\"load\",\"plugin\":{\"name\":\"forge\",\"config\":"
		 "{\"log_dir\":\"%s\"," PAIR_CONFIG "}}}",
		 g_logs);
	ctl_ok("load forge", req);
}

/* pid is gone with its process group (each tool leads its own), and no
 * zombie of the host is left. */
static void assert_stopped(pid_t pid)
{
	ck_assert_msg(wait_dead(pid, 10000), "pid %d still runs", (int)pid);
	ck_assert_int_eq(group_alive(pid), 0);
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
}

/* ---- tests ---- */

START_TEST(test_unload_stops_then_load_starts)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	unload_forge();
	wait_retired();
	ck_assert_int_ge(log_count("retired forge"), 1);
	assert_stopped(ticker);
	assert_stopped(sleeper);
	/* The retired instance's command went with it. */
	cJSON *r = ctl("{\"cmd\":\"forge\",\"op\":\"status\"}");
	ck_assert(!ok_of(r));
	cJSON_Delete(r);

	load_forge();
	pid_t ticker2 = wait_new_pid("ticker", ticker);
	pid_t sleeper2 = wait_new_pid("sleeper", sleeper);
	assert_host_child(ticker2);
	assert_host_child(sleeper2);
	/* Supervised: a killed ticker comes back. */
	ck_assert_int_eq(kill(ticker2, SIGKILL), 0);
	pid_t ticker3 = wait_new_pid("ticker", ticker2);
	assert_host_child(ticker3);
	pid_t pids[] = {ticker, sleeper, ticker3, sleeper2};
	pair_host_down(pids, 4);
}
END_TEST

/* Loaded while the unloaded one retires: new tools only once the old
 * ones are gone (each time a new pid shows, the old one is dead). */
START_TEST(test_load_right_after_unload)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	unload_forge();
	load_forge();
	pid_t now[2] = {0, 0};
	const char *names[2] = {"ticker", "sleeper"};
	const pid_t old[2] = {ticker, sleeper};
	uint64_t end = mono_ns() + 30000 * MS;
	while ((!now[0] || !now[1]) && mono_ns() < end) {
		for (int i = 0; i < 2; i++) {
			cJSON *t = tool_status(names[i]);
			pid_t pid = (pid_t)num(t, "pid");
			bool healthy = !strcmp(str(t, "state"), "healthy");
			cJSON_Delete(t);
			if (pid <= 0 || pid == old[i])
				continue;
			ck_assert_msg(dead(ticker) && dead(sleeper),
				      "%s started as pid %d while the unloaded "
				      "forge's tools still ran",
				      names[i], (int)pid);
			if (healthy)
				now[i] = pid;
		}
		sleep_ms(10);
	}
	ck_assert_msg(now[0] && now[1], "the loaded forge started no tools");
	assert_host_child(now[0]);
	assert_host_child(now[1]);
	wait_retired();
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	pid_t pids[] = {ticker, sleeper, now[0], now[1]};
	pair_host_down(pids, 4);
}
END_TEST

/* The host's manifest with forge's config changed (so apply reloads it,
 * its tools handed over) and a routes_echo entry after it whose config
 * has a key routes_echo refuses, written to a file: its path. */
static void bad_manifest(char *path, size_t len)
{
	char was[128];
	snprintf(was, sizeof was, "%s/m.json", g_h.dir);
	FILE *f = fopen(was, "r");
	ck_assert_ptr_nonnull(f);
	static char text[1 << 16];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cJSON *m = cJSON_Parse(text);
	ck_assert_ptr_nonnull(m);
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(m, "plugins");
	cJSON *forge = cJSON_GetArrayItem(plugins, 2);
	ck_assert_str_eq(str(forge, "name"), "forge");
	cJSON_ReplaceItemInObject(
		cJSON_GetObjectItemCaseSensitive(forge, "config"),
		"health_interval_ms", cJSON_CreateNumber(150));
	cJSON *echo = cJSON_CreateObject();
	cJSON_AddStringToObject(echo, "name", "routes_echo");
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(echo, "config"),
				"no_such_key", 1);
	cJSON_AddItemToArray(plugins, echo);
	snprintf(path, len, "%s/bad.json", g_h.dir);
	char *out = cJSON_PrintUnformatted(m);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(out, f);
	fclose(f);
	free(out);
	cJSON_Delete(m);
}

START_TEST(test_apply_rolled_back_after_import)
{
	pid_t ticker, sleeper;
	pair_host_up(&ticker, &sleeper);
	int took = log_count("took over 2 running tools");
	char path[160];
	bad_manifest(path, sizeof path);
	cJSON *r = ctl("{\"cmd\":\"apply\",\"path\":\"%s\"}", path);
	char *txt = cJSON_PrintUnformatted(r);
	const char *err = str(r, "error");
	ck_assert_msg(!ok_of(r) && strstr(err, "plugins[3].config.no_such_key"),
		      "the apply's answer: %s", txt);
	free(txt);
	cJSON_Delete(r);
	/* forge was reloaded (the new instance took the tools over) and
	 * rolled back (the old one took them back). */
	ck_assert_int_eq(log_count("took over 2 running tools"), took + 2);
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	wait_retired();
	ck_assert_int_eq(pid_of("ticker"), ticker);
	ck_assert_int_eq(pid_of("sleeper"), sleeper);
	assert_host_child(ticker);
	assert_host_child(sleeper);
	/* The old instance supervises: a killed tool comes back. */
	ck_assert_int_eq(kill(ticker, SIGKILL), 0);
	pid_t again = wait_new_pid("ticker", ticker);
	assert_host_child(again);
	ck_assert(wait_dead(ticker, 2000));
	cJSON *o = ctl("{\"cmd\":\"plugins\"}");
	const cJSON *p;
	int forges = 0;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "plugins"))
		forges += !strcmp(str(p, "name"), "forge");
	cJSON_Delete(o);
	ck_assert_int_eq(forges, 1);
	ck_assert_int_eq(zombies_of(g_h.pid), 0);
	pid_t pids[] = {again, sleeper};
	pair_host_down(pids, 2);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_forge_retire DX_HOST\n");
		return 2;
	}
	g_dx_host = argv[1];
	Suite *s = suite_create("forge-retire");
	TCase *tc = tcase_create("real processes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_unload_stops_then_load_starts);
	tcase_add_test(tc, test_load_right_after_unload);
	tcase_add_test(tc, test_apply_rolled_back_after_import);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
