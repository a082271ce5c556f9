/* test_db_teleport - db_teleport against a real PostgreSQL and the real
 * dx-host (usage: test_db_teleport DX_HOST).
 *
 * main() makes a throwaway cluster (pg_cluster.h), its tables, and two
 * dx-host processes (A and B) on that one database, each with db_teleport
 * (install_triggers on, the same channel); the Check tests, each in its
 * own process, talk to them over HBTP and to Postgres through libpq. The
 * hosts and the cluster are stopped and removed at exit, also on failure
 * and on SIGTERM/SIGINT. Exit 77 (skip) only when the PostgreSQL server
 * binaries are missing. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <libpq-fe.h>

#include <dx/client.h>
#include <dx/db_teleport.h>
#include <dx/teleport.h>

#include "../serve/test_host.h"
#include "dbt_client.h"
#include "pg_cluster.h"

static struct dx_test_host host_a, host_b;
static const char *dx_host;

#define BASE "1|one|1;2|two|1;3|three|2"
/* A change reaches db.get and subscribers within this: a hang guard (a
 * lost notification), not a speed claim; the figures are printed, and
 * bench/db_teleport.sh measures them. */
#define FRESH_MS 10000

static const char schema[] =
	"CREATE TABLE items (id int PRIMARY KEY, name text, grp int);"
	"INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 1), "
	"(3, 'three', 2);"
	"CREATE TABLE slow (v int); INSERT INTO slow VALUES (7);"
	"CREATE TABLE calls (n int); INSERT INTO calls VALUES (0);"
	"CREATE FUNCTION counted() RETURNS int LANGUAGE plpgsql AS $$ "
	"BEGIN UPDATE calls SET n = n + 1; RETURN 1; END $$;";

static const char queries[] =
	"\"queries\":["
	"{\"name\":\"items_all\",\"sql\":\"SELECT id, name, grp FROM items "
	"ORDER BY id\",\"tables\":[\"items\"]},"
	"{\"name\":\"items_by_grp\",\"sql\":\"SELECT id, name FROM items "
	"WHERE grp = $1 ORDER BY id\",\"tables\":[\"public.items\"]},"
	"{\"name\":\"slow_counted\",\"sql\":\"SELECT v, counted() AS c FROM "
	"slow, pg_sleep(0.3)\",\"tables\":[\"slow\"]}]";

/* Put items back to BASE and wait until host h's cache says so. */
static void reset_items(const struct dx_test_host *h)
{
	sql("DELETE FROM items; INSERT INTO items VALUES (1, 'one', 1), "
	    "(2, 'two', 1), (3, 'three', 2)");
	dx_client *c = connect_to(h);
	ck_assert(get_until(c, "items_all", NULL, 0, BASE, 5000) >= 0);
	dx_client_close(c);
}

/* ---- tests ---- */

START_TEST(test_miss_then_hit)
{
	reset_items(&host_a);
	usleep(300000); /* reset_items' own notification, see test_rollback */
	dx_client *c = connect_to(&host_a);
	char got[1024];
	const char *g1[] = {"1"}, *g2[] = {"2"}, *g9[] = {"9"};
	uint64_t m0 = dbstat(c, "misses"), h0 = dbstat(c, "hits");
	ck_assert_uint_eq(db_get(c, "items_by_grp", g1, 1, got, sizeof got), 0);
	ck_assert_str_eq(got, "1|one;2|two");
	ck_assert_uint_eq(dbstat(c, "misses"), m0 + 1);
	ck_assert_uint_eq(dbstat(c, "hits"), h0);
	ck_assert_uint_eq(db_get(c, "items_by_grp", g1, 1, got, sizeof got), 0);
	ck_assert_str_eq(got, "1|one;2|two");
	ck_assert_uint_eq(dbstat(c, "hits"), h0 + 1);
	ck_assert_uint_eq(dbstat(c, "misses"), m0 + 1);
	/* Another parameter is another key. */
	ck_assert_uint_eq(db_get(c, "items_by_grp", g2, 1, got, sizeof got), 0);
	ck_assert_str_eq(got, "3|three");
	ck_assert_uint_eq(dbstat(c, "misses"), m0 + 2);
	ck_assert_uint_eq(db_get(c, "items_by_grp", g9, 1, got, sizeof got), 0);
	ck_assert_str_eq(got, "");
	ck_assert_uint_eq(db_get(c, "items_by_grp", g2, 1, got, sizeof got), 0);
	ck_assert_str_eq(got, "3|three");
	ck_assert_uint_eq(dbstat(c, "hits"), h0 + 2);
	/* Errors. */
	ck_assert_uint_eq(db_get(c, "nope", NULL, 0, got, sizeof got), 404);
	ck_assert_msg(strstr(got, "nope"), "404 names the query: %s", got);
	ck_assert_uint_eq(db_get(c, "items_by_grp", NULL, 0, got, sizeof got),
			  400);
	ck_assert_msg(strstr(got, "items_by_grp") && strstr(got, "1 parameter"),
		      "400 says what was expected: %s", got);
	uint16_t seq;
	ck_assert_int_eq(dx_client_call(c, DX_DB_ROUTE_GET, "\x05nope", 3, 0,
					&seq),
			 0);
	ck_assert_uint_eq(db_wait(c, seq, got, sizeof got, 5000), 400);
	dx_client_close(c);
}
END_TEST

/* Each change reaches the next db.get and a subscriber (how fast is printed;
 * bench/db_teleport.sh measures it). */
START_TEST(test_changes)
{
	reset_items(&host_a);
	dx_client *s = connect_to(&host_a), *g = connect_to(&host_a);
	char got[1024];
	uint16_t sseq = db_send(s, DX_DB_ROUTE_SUBSCRIBE, "items_all", NULL, 0);
	ck_assert_uint_eq(db_wait(s, sseq, got, sizeof got, 10000), 0);
	ck_assert_str_eq(got, BASE);
	static const struct {
		const char *sql, *want;
	} steps[] = {
		{"UPDATE items SET name = 'uno' WHERE id = 1",
		 "1|uno|1;2|two|1;3|three|2"},
		{"INSERT INTO items VALUES (4, 'four', 2)",
		 "1|uno|1;2|two|1;3|three|2;4|four|2"},
		{"DELETE FROM items WHERE id = 2",
		 "1|uno|1;3|three|2;4|four|2"},
		{"TRUNCATE items", ""},
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		/* Cached first, so the new answer proves an invalidation. */
		ck_assert_uint_eq(db_get(g, "items_all", NULL, 0, got,
					 sizeof got),
				  0);
		ck_assert_uint_eq(db_get(g, "items_all", NULL, 0, got,
					 sizeof got),
				  0);
		double t0 = now_ms(); /* the statement's commit is in there */
		sql(steps[i].sql);
		dx_client_msg m;
		/* How fast is the benchmark's to say (bench/db_teleport.sh);
		 * here only a bound that catches a lost notification, wide
		 * enough for a loaded machine under ASan. */
		int rc = dx_client_wait(s, sseq, &m, FRESH_MS);
		double pushed = now_ms() - t0;
		ck_assert_msg(rc == 0, "%s: no StateSync within %d ms (%s)",
			      steps[i].sql, FRESH_MS, dx_client_error(s));
		ck_assert_uint_eq(m.opcode, DX_HBTP_STATE_SYNC);
		rowset_str(m.payload, m.len, got, sizeof got);
		ck_assert_str_eq(got, steps[i].want);
		double t = get_until(g, "items_all", NULL, 0, steps[i].want,
				     FRESH_MS - (now_ms() - t0));
		ck_assert_msg(t >= 0, "%s: db.get not new within %d ms",
			      steps[i].sql, FRESH_MS);
		fprintf(stderr, "%-45s StateSync %.1f ms, db.get %.1f ms\n",
			steps[i].sql, pushed, now_ms() - t0);
	}
	dx_client_close(s);
	dx_client_close(g);
	reset_items(&host_a);
}
END_TEST

START_TEST(test_rollback)
{
	reset_items(&host_a);
	dx_client *s = connect_to(&host_a), *g = connect_to(&host_a);
	char got[1024];
	uint16_t sseq = db_send(s, DX_DB_ROUTE_SUBSCRIBE, "items_all", NULL, 0);
	ck_assert_uint_eq(db_wait(s, sseq, got, sizeof got, 10000), 0);
	/* reset_items may have returned before its own notification came
	 * (the data was BASE already): let it land before the baseline. */
	usleep(300000);
	ck_assert_uint_eq(db_get(g, "items_all", NULL, 0, got, sizeof got), 0);
	uint64_t inv = dbstat(g, "invalidations"), hits = dbstat(g, "hits");
	sql("BEGIN; UPDATE items SET name = 'zzz'; "
	    "INSERT INTO items VALUES (9, 'nine', 9); ROLLBACK");
	dx_client_msg m;
	ck_assert_msg(dx_client_wait(s, sseq, &m, 300) == -ETIMEDOUT,
		      "a rolled-back change was pushed");
	ck_assert_uint_eq(db_get(g, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, BASE);
	ck_assert_uint_eq(dbstat(g, "invalidations"), inv);
	ck_assert_uint_eq(dbstat(g, "hits"), hits + 1);
	/* And the cache still follows committed changes. */
	sql("UPDATE items SET name = 'ONE' WHERE id = 1");
	ck_assert(get_until(g, "items_all", NULL, 0,
			    "1|ONE|1;2|two|1;3|three|2", 1000) >= 0);
	dx_client_close(s);
	dx_client_close(g);
	reset_items(&host_a);
}
END_TEST

/* 50 concurrent misses for one key: one query (counted by the query's
 * own side effect in table calls). */
START_TEST(test_single_flight)
{
	enum { N = 50 };
	dx_client *c[N];
	uint16_t seq[N];
	long before = sql_long("SELECT n FROM calls");
	dx_client *st = connect_to(&host_a);
	uint64_t coal = dbstat(st, "coalesced_misses");
	for (int i = 0; i < N; i++)
		c[i] = connect_to(&host_a);
	for (int i = 0; i < N; i++)
		seq[i] = db_send(c[i], DX_DB_ROUTE_GET, "slow_counted", NULL, 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(dx_client_flush(c[i], 5000), 0);
	for (int i = 0; i < N; i++) {
		char got[256];
		ck_assert_uint_eq(db_wait(c[i], seq[i], got, sizeof got, 20000),
				  0);
		ck_assert_str_eq(got, "7|1");
		dx_client_close(c[i]);
	}
	long after = sql_long("SELECT n FROM calls");
	uint64_t coal2 = dbstat(st, "coalesced_misses");
	fprintf(stderr, "single flight: %ld database quer%s, %llu coalesced\n",
		after - before, after - before == 1 ? "y" : "ies",
		(unsigned long long)(coal2 - coal));
	ck_assert_int_eq(after - before, 1);
	ck_assert_uint_ge(coal2 - coal, 1);
	dx_client_close(st);
}
END_TEST

/* Two hosts on one database both see a change made outside them. */
START_TEST(test_two_hosts)
{
	reset_items(&host_a);
	reset_items(&host_b);
	dx_client *a = connect_to(&host_a), *b = connect_to(&host_b);
	char got[1024];
	ck_assert_uint_eq(db_get(a, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_uint_eq(db_get(b, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_uint_eq(db_get(b, "items_all", NULL, 0, got, sizeof got), 0);
	sql("UPDATE items SET name = 'both' WHERE id = 3");
	const char *want = "1|one|1;2|two|1;3|both|2";
	ck_assert(get_until(a, "items_all", NULL, 0, want, FRESH_MS) >= 0);
	ck_assert(get_until(b, "items_all", NULL, 0, want, FRESH_MS) >= 0);
	dx_client_close(a);
	dx_client_close(b);
	reset_items(&host_a);
	reset_items(&host_b);
}
END_TEST

/* A query that does not prepare stops the host, naming the query and
 * quoting Postgres. */
START_TEST(test_bad_query)
{
	char extra[2048];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":1,\"io\":{\"backend\":"
		 "\"epoll\"},\"plugins\":[{\"name\":\"io_epoll\"},{\"name\":"
		 "\"db_teleport\",\"config\":{\"conninfo\":\"%s\",\"queries\":"
		 "[{\"name\":\"fine\",\"sql\":\"SELECT 1\",\"tables\":[]},"
		 "{\"name\":\"broken\",\"sql\":\"SELECT nope FROM nowhere\","
		 "\"tables\":[\"nowhere\"]}]}}]",
		 getenv("DX_PLUGINS"), pg.conninfo);
	struct dx_test_host h;
	ck_assert_msg(dx_test_host_start(&h, dx_host, extra, NULL) < 0,
		      "dx-host started with a broken query");
	FILE *f = fopen(h.log, "r");
	char line[1024];
	bool named = false;
	while (f && fgets(line, sizeof line, f))
		named |= strstr(line, "\"broken\"") &&
			 strstr(line, "relation \"nowhere\" does not exist");
	if (f)
		fclose(f);
	dx_test_host_clean(&h); /* a failed start keeps it for the log */
	ck_assert_msg(named, "the log does not name the query and quote "
			     "Postgres");
}
END_TEST

/* The listening connection killed: cache dropped, reconnect, and a change
 * made meanwhile is seen. */
START_TEST(test_terminate_listener)
{
	reset_items(&host_a);
	dx_client *c = connect_to(&host_a);
	char got[1024], q[256];
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	uint64_t r0 = dbstat(c, "reconnects"), m0 = dbstat(c, "misses");
	snprintf(q, sizeof q,
		 "SELECT count(pg_terminate_backend(pid)) FROM "
		 "pg_stat_activity WHERE application_name = "
		 "'dx_teleport listen %ld'",
		 (long)host_a.pid);
	ck_assert_int_eq(sql_long(q), 1);
	sql("UPDATE items SET name = 'while-down' WHERE id = 2");
	double t0 = now_ms();
	while (dbstat(c, "reconnects") == r0 && now_ms() - t0 < 15000)
		usleep(5000);
	ck_assert_msg(dbstat(c, "reconnects") > r0, "no reconnect");
	const char *want = "1|one|1;2|while-down|1;3|three|2";
	ck_assert(get_until(c, "items_all", NULL, 0, want, FRESH_MS) >= 0);
	ck_assert_uint_gt(dbstat(c, "misses"), m0); /* the cache was dropped */
	/* Listening again: the next change arrives by notification. */
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	sql("UPDATE items SET name = 'after' WHERE id = 2");
	ck_assert(get_until(c, "items_all", NULL, 0,
			    "1|one|1;2|after|1;3|three|2", 1000) >= 0);
	dx_client_close(c);
	reset_items(&host_a);
}
END_TEST

/* Postgres stopped: 503 with a clear message; started again: recovers
 * without restarting dx-host. */
START_TEST(test_pg_restart)
{
	reset_items(&host_a);
	dx_client *c = connect_to(&host_a);
	char got[1024];
	const char *g1[] = {"1"};
	ck_assert_uint_eq(db_get(c, "items_by_grp", g1, 1, got, sizeof got), 0);
	ck_assert_int_eq(pg_stop(&pg), 0);
	double t0 = now_ms();
	unsigned st = 0;
	while (now_ms() - t0 < 15000) {
		st = db_get(c, "items_by_grp", g1, 1, got, sizeof got);
		if (st == 503)
			break;
		usleep(20000);
	}
	ck_assert_msg(st == 503, "db.get with Postgres down: %u %s", st, got);
	ck_assert_msg(strstr(got, "database unavailable: "), "message: %s",
		      got);
	fprintf(stderr, "Postgres down: 503 \"%s\"\n", got);
	ck_assert_int_eq(pg_start(&pg), 0);
	t0 = now_ms();
	while (now_ms() - t0 < 30000) {
		st = db_get(c, "items_by_grp", g1, 1, got, sizeof got);
		if (st == 0)
			break;
		usleep(50000);
	}
	ck_assert_msg(st == 0, "no recovery after restart: %u %s", st, got);
	ck_assert_str_eq(got, "1|one;2|two");
	fprintf(stderr, "recovered %.0f ms after the restart\n",
		now_ms() - t0);
	/* Listening again too. */
	t0 = now_ms();
	uint64_t r0 = dbstat(c, "reconnects");
	(void)r0;
	ck_assert(get_until(c, "items_all", NULL, 0, BASE, 10000) >= 0);
	sql("UPDATE items SET grp = 2 WHERE id = 2");
	ck_assert(get_until(c, "items_by_grp", g1, 1, "1|one", 6000) >= 0);
	dx_client_close(c);
	reset_items(&host_a);
}
END_TEST

/* ---- set-up ---- */

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_db_teleport DX_HOST\n");
		return 2;
	}
	dx_host = argv[1];
	int rc = dbt_begin(schema);
	if (rc)
		return rc;
	if (dbt_host_start(&host_a, dx_host, queries) < 0 ||
	    dbt_host_start(&host_b, dx_host, queries) < 0)
		return 1;

	Suite *s = suite_create("db_teleport");
	TCase *tc = tcase_create("postgres");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_miss_then_hit);
	tcase_add_test(tc, test_changes);
	tcase_add_test(tc, test_rollback);
	tcase_add_test(tc, test_single_flight);
	tcase_add_test(tc, test_two_hosts);
	tcase_add_test(tc, test_bad_query);
	tcase_add_test(tc, test_terminate_listener);
	tcase_add_test(tc, test_pg_restart);
	suite_add_tcase(s, tc);
	return dbt_run(s);
}
