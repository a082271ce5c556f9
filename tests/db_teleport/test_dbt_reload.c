/* test_dbt_reload - `dx ctl reload db_teleport` keeps its state (issue 10):
 * the cache, the subscriptions and the LISTEN connection pass from the old
 * instance to the new one (plugins/db_teleport/dbt_handoff.c).
 *
 * main() makes a throwaway cluster (pg_cluster.h) and one dx-host (two
 * workers, io_epoll, db_teleport with install_triggers); each Check test
 * runs in its own process and reloads db_teleport through the control
 * socket ({"cmd":"reload"}, as `dx ctl reload` sends it):
 *   warm_hit     a query cached before the reload is a hit right after it
 *                (the hits counter moves, misses does not), on either
 *                worker.
 *   subscriber   a db.subscribe stream opened before two reloads gets a
 *                StateSync for a change committed after each, on the same
 *                connection.
 *   commits      a thread commits changes in a loop while db_teleport is
 *                reloaded again and again: afterwards db.get and the
 *                subscriber have the last committed value (a notification
 *                lost in a reload would leave the cache stale for good).
 *   refused      a build with another state layout (tests/db_teleport/
 *                meson.build: db_teleport_layout2, version 2.0.0-test)
 *                is refused with a message naming both versions; the
 *                refused instance retires (retire closes the connections
 *                its init opened: the host's log says "retired", Postgres
 *                has only the old instance's connections again); the old
 *                instance serves on, its cache intact, and still follows
 *                changes.
 * After every successful reload the old instance must be retired: the
 * plugins command's "retiring" list empties (bounded generously).
 * usage: test_dbt_reload DX_HOST LAYOUT2_SO; exit 77 (skip) only when the
 * PostgreSQL server binaries are missing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbt_client.h"
#include "dbt_ctl.h"

#define RAW 32768
#define RETIRE_MS 30000 /* generous: the old instance retires in ms */
#define PUSH_MS 10000   /* a StateSync after a commit: generous too */
#define RELOADS 12      /* while the writer commits */

static struct dx_test_host host;
static const char *layout2_so;

static const char schema[] = DBT_ITEMS_SCHEMA;

static const char queries[] =
	"\"queries\":[" DBT_ITEMS_ALL ","
	"{\"name\":\"items_by_grp\",\"sql\":\"SELECT id, name FROM items "
	"WHERE grp = $1 ORDER BY id\",\"tables\":[\"public.items\"]}]";

/* ---- the control socket ---- */

/* db_teleport's entry in {"cmd":"plugins"}: its version into ver, and
 * how many instances are still retiring. */
static int plugins_state(char *ver, size_t n)
{
	cJSON *a = dbt_plugins(&host);
	const char *v = rt_str(rt_plugin_entry(a, "db_teleport"), "version");
	ck_assert_msg(v, "no db_teleport in the plugins answer");
	snprintf(ver, n, "%s", v);
	int left = dbt_retiring(a);
	cJSON_Delete(a);
	return left;
}

/* Until no instance is retiring any more (the handoff let go of every
 * hold the old one had); fails after RETIRE_MS. */
static void wait_retired(void)
{
	dbt_wait_retired(&host, RETIRE_MS);
}

/* Reload db_teleport from its own file: it must succeed with the state
 * handed over. */
static void reload_ok(void)
{
	char raw[RAW];
	cJSON *a = rt_ctl_cmd(host.ctl, "reload", "db_teleport", NULL, raw,
			      sizeof raw);
	ck_assert_msg(a && rt_ok(a), "reload: %s", raw);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			      a, "handoff")),
		      "reload without a handoff: %s", raw);
	ck_assert_msg(!cJSON_GetObjectItemCaseSensitive(a, "warning"),
		      "reload: %s", raw);
	ck_assert_msg(rt_num(a, "generation", 0) > 1, "reload: %s", raw);
	cJSON_Delete(a);
}

/* ---- helpers ---- */

/* Items back to BASE, cached, with their notification landed: a get
 * after this is a hit unless something invalidates it. */
static void settle(dx_client *c)
{
	sql("DELETE FROM items; INSERT INTO items VALUES (1, 'one', 1), "
	    "(2, 'two', 1), (3, 'three', 2)");
	ck_assert(get_until(c, "items_all", NULL, 0, BASE, 5000) >= 0);
	usleep(300000); /* the reset's own notification, see test_db_teleport */
	char got[1024];
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, BASE);
}

/* Frames on the subscription until one is want (a StateSync); fails
 * after PUSH_MS or on anything but a StateSync. */
static void sub_until(dx_client *s, uint16_t sseq, const char *want)
{
	double t0 = now_ms();
	char got[1024] = "";
	while (now_ms() - t0 < PUSH_MS) {
		dx_client_msg m;
		int rc = dx_client_wait(s, sseq, &m, 200);
		if (rc == -ETIMEDOUT)
			continue;
		ck_assert_msg(rc == 0, "subscriber: %s", dx_client_error(s));
		ck_assert_uint_eq(m.opcode, DX_HBTP_STATE_SYNC);
		rowset_str(m.payload, m.len, got, sizeof got);
		if (strcmp(got, want) == 0)
			return;
	}
	ck_abort_msg("subscriber: no StateSync \"%s\" within %d ms (last "
		     "\"%s\")",
		     want, PUSH_MS, got);
}

/* A db.subscribe of items_all on s, answered BASE: its seq. */
static uint16_t subscribe_base(dx_client *s)
{
	char got[1024];
	uint16_t sseq = db_send(s, DX_DB_ROUTE_SUBSCRIBE, "items_all", NULL, 0);
	ck_assert_uint_eq(db_wait(s, sseq, got, sizeof got, 10000), 0);
	ck_assert_str_eq(got, BASE);
	return sseq;
}

/* ---- tests ---- */

START_TEST(test_warm_hit)
{
	dx_client *c = connect_to(&host);
	settle(c);
	uint64_t h0 = dbstat(c, "hits"), m0 = dbstat(c, "misses");
	reload_ok();
	/* New connections, spread over both workers: each worker's replica
	 * came over warm. */
	enum { N = 6 };
	for (int i = 0; i < N; i++) {
		dx_client *k = connect_to(&host);
		char got[1024];
		ck_assert_uint_eq(db_get(k, "items_all", NULL, 0, got,
					 sizeof got),
				  0);
		ck_assert_str_eq(got, BASE);
		dx_client_close(k);
	}
	ck_assert_uint_eq(dbstat(c, "misses"), m0);
	ck_assert_uint_eq(dbstat(c, "hits"), h0 + N);
	wait_retired();
	dx_client_close(c);
}
END_TEST

START_TEST(test_subscriber)
{
	dx_client *g = connect_to(&host), *s = connect_to(&host);
	settle(g);
	uint16_t sseq = subscribe_base(s);
	static const struct {
		const char *sql, *want;
	} steps[] = {
		{"UPDATE items SET name = 'after1' WHERE id = 1",
		 "1|after1|1;2|two|1;3|three|2"},
		{"UPDATE items SET name = 'after2' WHERE id = 3",
		 "1|after1|1;2|two|1;3|after2|2"},
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		reload_ok();
		wait_retired(); /* the new one alone serves it now */
		sql(steps[i].sql);
		sub_until(s, sseq, steps[i].want);
		ck_assert(get_until(g, "items_all", NULL, 0, steps[i].want,
				    5000) >= 0);
	}
	dx_client_close(s);
	dx_client_close(g);
}
END_TEST

/* The writer: commits name = 'wN' for N = 1, 2, ... on row 2 until told
 * to stop; last is the last N committed. */
static atomic_bool writer_stop;
static atomic_long writer_last;

static void *writer_main(void *arg)
{
	(void)arg;
	PGconn *c = PQconnectdb(pg.conninfo);
	for (long n = 1; PQstatus(c) == CONNECTION_OK &&
			 !atomic_load(&writer_stop);
	     n++) {
		char q[128];
		snprintf(q, sizeof q,
			 "UPDATE items SET name = 'w%ld' WHERE id = 2", n);
		PGresult *r = PQexec(c, q);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok)
			break;
		atomic_store(&writer_last, n);
		usleep(2000);
	}
	PQfinish(c);
	return NULL;
}

START_TEST(test_commits)
{
	dx_client *g = connect_to(&host), *s = connect_to(&host);
	settle(g);
	char got[1024];
	uint16_t sseq = subscribe_base(s);
	atomic_store(&writer_stop, false);
	atomic_store(&writer_last, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, writer_main, NULL), 0);
	for (int i = 0; i < RELOADS; i++) {
		/* Cached again between reloads, so each commit has a cached
		 * answer to invalidate. */
		ck_assert_uint_eq(db_get(g, "items_all", NULL, 0, got,
					 sizeof got),
				  0);
		reload_ok();
	}
	atomic_store(&writer_stop, true);
	pthread_join(t, NULL);
	long last = atomic_load(&writer_last);
	ck_assert_msg(last > RELOADS, "the writer committed only %ld times",
		      last);
	ck_assert_int_eq(sql_long("SELECT substr(name, 2)::int FROM items "
				  "WHERE id = 2"),
			 last);
	char want[128];
	snprintf(want, sizeof want, "1|one|1;2|w%ld|1;3|three|2", last);
	fprintf(stderr, "%d reloads while %ld commits went in\n", RELOADS,
		last);
	/* Nothing changes any more: only the notifications of the last
	 * commits can bring these up to date. */
	ck_assert(get_until(g, "items_all", NULL, 0, want, PUSH_MS) >= 0);
	sub_until(s, sseq, want);
	wait_retired();
	/* And the last answer is a cached one, kept fresh. */
	uint64_t m0 = dbstat(g, "misses");
	ck_assert_uint_eq(db_get(g, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, want);
	ck_assert_uint_eq(dbstat(g, "misses"), m0);
	dx_client_close(s);
	dx_client_close(g);
}
END_TEST

START_TEST(test_refused)
{
	dx_client *c = connect_to(&host);
	settle(c);
	char ver[64], raw[RAW];
	plugins_state(ver, sizeof ver);
	long conns = dbt_pg_conns(&host); /* the old instance's */
	ck_assert_int_gt(conns, 0);
	uint64_t h0 = dbstat(c, "hits"), m0 = dbstat(c, "misses");
	cJSON *a = rt_ctl_cmd(host.ctl, "reload", "db_teleport", layout2_so,
			      raw, sizeof raw);
	ck_assert_msg(a && !rt_ok(a), "a reload across layouts: %s", raw);
	const char *err = rt_str(a, "error");
	ck_assert_msg(err, "no error in %s", raw);
	char old_v[96];
	snprintf(old_v, sizeof old_v, "db_teleport %s (state layout 1)", ver);
	ck_assert_msg(strstr(err, old_v) &&
			      strstr(err, "db_teleport 2.0.0-test (state "
					  "layout 2)"),
		      "the refusal does not name both versions: %s", err);
	fprintf(stderr, "refused: %s\n", err);
	cJSON_Delete(a);
	/* The refused instance retires (its retire closes the connections
	 * its init opened, which held it), and Postgres sees them go. */
	wait_retired();
	ck_assert_msg(dbt_log_has(&host, "retired db_teleport 2.0.0-test"),
		      "no \"retired db_teleport 2.0.0-test\" in the host's log");
	dbt_wait_pg_conns(&host, conns, RETIRE_MS);
	/* The old instance serves on, its cache intact. */
	char now[64];
	ck_assert_int_eq(plugins_state(now, sizeof now), 0);
	ck_assert_str_eq(now, ver);
	char got[1024];
	ck_assert_uint_eq(db_get(c, "items_all", NULL, 0, got, sizeof got), 0);
	ck_assert_str_eq(got, BASE);
	ck_assert_uint_eq(dbstat(c, "hits"), h0 + 1);
	ck_assert_uint_eq(dbstat(c, "misses"), m0);
	/* And still follows changes. */
	sql("UPDATE items SET name = 'still' WHERE id = 1");
	ck_assert(get_until(c, "items_all", NULL, 0,
			    "1|still|1;2|two|1;3|three|2", 5000) >= 0);
	dx_client_close(c);
}
END_TEST

/* ---- set-up ---- */

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_dbt_reload DX_HOST LAYOUT2_SO\n");
		return 2;
	}
	(void)rt_ends_with;
	layout2_so = argv[2];
	int rc = dbt_begin(schema);
	if (rc)
		return rc;
	if (dbt_host_start(&host, argv[1], queries) < 0)
		return 1;

	Suite *s = suite_create("db_teleport_reload");
	TCase *tc = tcase_create("reload");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_warm_hit);
	tcase_add_test(tc, test_subscriber);
	tcase_add_test(tc, test_commits);
	tcase_add_test(tc, test_refused);
	suite_add_tcase(s, tc);
	return dbt_run(s);
}
