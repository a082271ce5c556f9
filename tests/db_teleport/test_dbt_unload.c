/* test_dbt_unload - `dx ctl unload db_teleport` (issue 10): an instance
 * that goes out of service without handing its state over lets go of
 * everything it holds (plugins/db_teleport/dbt_retire.c), so the host
 * finalises it, and loading it again serves.
 *
 * main() makes a throwaway cluster (pg_cluster.h) and one dx-host (two
 * workers, io_epoll, db_teleport with install_triggers, pool 2). One Check
 * test, through the control socket:
 *   - with a cache warm (a hit), a subscriber open and a fill running
 *     in Postgres (pg_sleep) with a client waiting for it,
 *     {"cmd":"unload"} answers ok;
 *   - the waiting client is answered RpcError 503 "db_teleport is out of
 *     service ...";
 *   - the subscriber's stream ends with a final RpcError 503 on its seq,
 *     and its connection stays open: a call on it is answered (404: the
 *     db routes are gone), as on another connection;
 *   - the old instance is finalised: nothing is left retiring in
 *     {"cmd":"plugins"}, the host's log says "retired db_teleport";
 *   - Postgres has none of the host's db_teleport connections any more
 *     (as before the host loaded it; all bounds generous, to catch a
 *     hang);
 *   - {"cmd":"load"} with the same entry brings it back: a miss, then a
 *     hit, its connections are there again, and it follows a change.
 * usage: test_dbt_unload DX_HOST; exit 77 (skip) only when the PostgreSQL
 * server binaries are missing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbt_client.h"
#include "dbt_ctl.h"

#define BOUND_MS 30000 /* generous: each of these takes milliseconds */

static struct dx_test_host host;
static long conns_before; /* the host's db_teleport connections, pre-load */

static const char schema[] = DBT_ITEMS_SCHEMA;

static const char queries[] =
	"\"queries\":[" DBT_ITEMS_ALL ","
	"{\"name\":\"slow\",\"sql\":\"SELECT pg_sleep(3)::text AS "
	"slept\"}]";

/* The plugin's manifest entry, as dbt_host_start wrote it. */
static char entry[4096];

static cJSON *ctl(cJSON *req, char *raw, size_t n)
{
	cJSON *a = rt_ctl(host.ctl, req, raw, n);
	cJSON_Delete(req);
	return a;
}

static void expect_404(dx_client *c)
{
	char got[1024];
	unsigned st = db_get(c, "items_all", NULL, 0, got, sizeof got);
	ck_assert_msg(st == 404, "db.get after the unload: status %u (%s)", st,
		      got);
}

START_TEST(test_unload_load)
{
	char raw[DBT_CTL_RAW], got[1024];
	dx_client *c = connect_to(&host), *s = connect_to(&host);
	/* Warm: a miss fills the cache, the next get is a hit. */
	ck_assert(get_until(c, "items_all", NULL, 0, BASE, 5000) >= 0);
	uint64_t h0 = dbstat(c, "hits");
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, BASE);
	ck_assert_uint_eq(dbstat(c, "hits"), h0 + 1);
	/* A subscriber, answered. */
	uint16_t sseq = db_send(s, DX_DB_ROUTE_SUBSCRIBE, "items_all", NULL, 0);
	ck_assert_uint_eq(db_wait(s, sseq, got, sizeof got, 10000), 0);
	ck_assert_str_eq(got, BASE);
	long loaded = dbt_pg_conns(&host);
	ck_assert_int_eq(loaded, 3); /* the listener and a pool of 2 */
	/* A fill running in Postgres, a client waiting for it. */
	dx_client *w = connect_to(&host);
	uint16_t wseq = db_send(w, DX_DB_ROUTE_GET, "slow", NULL, 0);
	ck_assert_int_eq(dx_client_flush(w, 5000), 0);
	double t0 = now_ms();
	while (sql_long("SELECT count(*) FROM pg_stat_activity WHERE query "
			"LIKE '%pg_sleep(3)%' AND state = 'active' AND pid <> "
			"pg_backend_pid()") != 1) {
		ck_assert_msg(now_ms() - t0 < BOUND_MS, "the slow fill did "
							"not start");
		usleep(10000);
	}

	cJSON *a = rt_ctl_cmd(host.ctl, "unload", "db_teleport", NULL, raw,
			      sizeof raw);
	ck_assert_msg(a && rt_ok(a), "unload: %s", raw);
	cJSON_Delete(a);

	/* The waiting client is answered 503, not left hanging. */
	ck_assert_uint_eq(db_wait(w, wseq, got, sizeof got, BOUND_MS), 503);
	ck_assert_msg(strstr(got, "db_teleport is out of service"), "slow: %s",
		      got);
	dx_client_close(w);
	/* The stream ends with a last RpcError 503 on its seq. */
	dx_client_msg m;
	int rc = dx_client_wait(s, sseq, &m, BOUND_MS);
	ck_assert_msg(rc == 0, "subscriber: %s", dx_client_error(s));
	ck_assert_msg(m.opcode == DX_HBTP_RPC_ERROR,
		      "subscriber: opcode 0x%02x, want RpcError", m.opcode);
	ck_assert_uint_eq(m.status, 503);
	snprintf(got, sizeof got, "%.*s", (int)m.len, (const char *)m.payload);
	ck_assert_msg(strstr(got, "db_teleport is out of service"),
		      "subscriber: %s", got);
	/* Its connection is open: it is answered, and the routes are gone. */
	expect_404(s);
	expect_404(c);

	/* The old instance let go of everything and was finalised. */
	dbt_wait_retired(&host, BOUND_MS);
	a = dbt_plugins(&host);
	ck_assert_ptr_null(rt_plugin_entry(a, "db_teleport"));
	cJSON_Delete(a);
	ck_assert_msg(dbt_log_has(&host, "retired db_teleport"),
		      "no \"retired db_teleport\" in the host's log");
	dbt_wait_pg_conns(&host, conns_before, BOUND_MS);
	/* Nothing more on the old stream. */
	rc = dx_client_wait(s, sseq, &m, 300);
	ck_assert_msg(rc == -ETIMEDOUT, "a frame after the stream ended (%d)",
		      rc);

	/* Loaded again, it serves: a miss, then a hit. */
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "load");
	cJSON *pl = cJSON_Parse(entry);
	ck_assert_ptr_nonnull(pl);
	cJSON_AddItemToObject(req, "plugin", pl);
	a = ctl(req, raw, sizeof raw);
	ck_assert_msg(a && rt_ok(a), "load: %s", raw);
	cJSON_Delete(a);
	uint64_t m0 = dbstat(c, "misses");
	h0 = dbstat(c, "hits");
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, BASE);
	ck_assert_uint_eq(dbstat(c, "misses"), m0 + 1);
	ck_assert_uint_eq(dbstat(c, "hits"), h0);
	/* c's worker put the fill in its replica before it sent the answer
	 * (both are posts from the database worker, in order). */
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, BASE);
	ck_assert_uint_eq(dbstat(c, "hits"), h0 + 1);
	ck_assert_uint_eq(dbstat(c, "misses"), m0 + 1);
	ck_assert_int_eq(dbt_pg_conns(&host), loaded);
	/* And it follows changes again (its LISTEN is up). */
	sql("UPDATE items SET name = 'again' WHERE id = 1");
	ck_assert(get_until(c, "items_all", NULL, 0,
			    "1|again|1;2|two|1;3|three|2", 5000) >= 0);
	dx_client_close(s);
	dx_client_close(c);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_dbt_unload DX_HOST\n");
		return 2;
	}
	(void)rt_ends_with;
	(void)rt_num;
	int rc = dbt_begin(schema);
	if (rc)
		return rc;
	snprintf(entry, sizeof entry,
		 "{\"name\":\"db_teleport\",\"config\":{\"conninfo\":\"%s\","
		 "\"install_triggers\":true,\"pool\":2,%s}}",
		 pg.conninfo, queries);
	/* No host yet: what Postgres has under a pid that is not running. */
	if (sql_try("SELECT count(*) FROM pg_stat_activity WHERE "
		    "application_name LIKE 'dx\\_teleport %'",
		    &conns_before) < 0 ||
	    conns_before != 0 || dbt_host_start(&host, argv[1], queries) < 0)
		return 1;

	Suite *s = suite_create("db_teleport_unload");
	TCase *tc = tcase_create("unload");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_unload_load);
	suite_add_tcase(s, tc);
	return dbt_run(s);
}
