/* dbt_ctl.h - what the db_teleport tests that change a live host share:
 * the control socket's view of retiring instances, the host's log, and
 * the plugin's connections as Postgres sees them (pg_stat_activity; the
 * plugin names them "dx_teleport listen|query <host pid>"), and the items
 * table they read. Check assertions: call from a test. */
#ifndef DX_DBT_CTL_H
#define DX_DBT_CTL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "../reload/rt_ctl.h"
#include "dbt_client.h"

#define DBT_CTL_RAW 32768

/* The table these tests read: its rows, and the query that reads them
 * all (a member of db_teleport's "queries"), answered BASE. */
#define BASE "1|one|1;2|two|1;3|three|2"
#define DBT_ITEMS_SCHEMA                                                   \
	"CREATE TABLE items (id int PRIMARY KEY, name text, grp int);"     \
	"INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 1), "          \
	"(3, 'three', 2);"
#define DBT_ITEMS_ALL                                                      \
	"{\"name\":\"items_all\",\"sql\":\"SELECT id, name, grp FROM "     \
	"items ORDER BY id\",\"tables\":[\"items\"]}"

/* {"cmd":"plugins"}, asserted ok: the caller cJSON_Delete()s it. */
static cJSON *dbt_plugins(const struct dx_test_host *h)
{
	static char raw[DBT_CTL_RAW];
	cJSON *a = rt_ctl_cmd(h->ctl, "plugins", NULL, NULL, raw, sizeof raw);
	ck_assert_msg(a && rt_ok(a), "plugins: %s", raw);
	return a;
}

/* How many instances a plugins answer lists as retiring. */
static int dbt_retiring(const cJSON *plugins)
{
	return cJSON_GetArraySize(
		cJSON_GetObjectItemCaseSensitive(plugins, "retiring"));
}

/* Until no instance is retiring (each has let go of every hold and was
 * finalised); fails after ms. */
static void dbt_wait_retired(const struct dx_test_host *h, int ms)
{
	double t0 = now_ms();
	for (;;) {
		cJSON *a = dbt_plugins(h);
		int left = dbt_retiring(a);
		char *txt = left ? cJSON_PrintUnformatted(cJSON_GetObjectItem(
					   a, "retiring"))
				 : NULL;
		cJSON_Delete(a);
		if (!left)
			return;
		if (now_ms() - t0 >= ms) {
			fprintf(stderr, "still retiring: %s\n", txt);
			free(txt);
			ck_abort_msg("an instance is still retiring after %d ms",
				     ms);
		}
		free(txt);
		usleep(10000);
	}
}

/* Whether the host's log has a line containing s. */
static bool dbt_log_has(const struct dx_test_host *h, const char *s)
{
	FILE *f = fopen(h->log, "r");
	char line[2048];
	bool found = false;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, s) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* The host's db_teleport connections Postgres still has. */
static long dbt_pg_conns(const struct dx_test_host *h)
{
	char q[256];
	snprintf(q, sizeof q,
		 "SELECT count(*) FROM pg_stat_activity WHERE "
		 "application_name LIKE 'dx\\_teleport %% %ld'",
		 (long)h->pid);
	return sql_long(q);
}

/* Until the host has want db_teleport connections; fails after ms. */
static void dbt_wait_pg_conns(const struct dx_test_host *h, long want, int ms)
{
	double t0 = now_ms();
	long n;
	while ((n = dbt_pg_conns(h)) != want) {
		ck_assert_msg(now_ms() - t0 < ms,
			      "Postgres still has %ld db_teleport connections "
			      "of the host after %d ms, want %ld",
			      n, ms, want);
		usleep(20000);
	}
}

#endif
