/* test_dbt_check - `dx-host --check` on a manifest with db_teleport changes
 * nothing in the database (usage: test_dbt_check DX_HOST DBT_PROBE_SO).
 *
 * A throwaway cluster (pg_cluster.h) with tables that have no dx triggers;
 * each test writes a manifest, runs the real dx-host -m M --check and
 * reads its exit status and stderr, then asks Postgres what changed:
 *   - a passing check names each trigger it would install (also for a
 *     table another plugin registers a query on during its init: the
 *     dbt_probe plugin), and leaves no trigger, no function and no
 *     session: the probe counts db_teleport's sessions between init and
 *     fini, the test counts them again after exit;
 *   - it takes no lock on a watched table: a check run while another
 *     session holds an open write transaction on one (ROW EXCLUSIVE, which
 *     CREATE and DROP TRIGGER wait for) still finishes;
 *   - a query that does not prepare fails it, naming the query's JSON
 *     path and quoting Postgres;
 *   - a role without the TRIGGER privilege on one table fails it, naming
 *     the table and the privilege, and changes nothing. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <libpq-fe.h>

#include "dbt_client.h"

static const char *dx_host, *probe_so;

static const char schema[] =
	"CREATE TABLE chk_a (id int); CREATE TABLE chk_b (id int);"
	"CREATE TABLE chk_c (id int);"
	/* A role that may create the function (CREATE on public) and read
	 * all three, with TRIGGER on chk_a only. */
	"CREATE ROLE dx_notrig LOGIN;"
	"GRANT CREATE, USAGE ON SCHEMA public TO dx_notrig;"
	"GRANT SELECT ON chk_a, chk_b, chk_c TO dx_notrig;"
	"GRANT TRIGGER ON chk_a TO dx_notrig;";

static const char queries_ok[] =
	"[{\"name\":\"a_all\",\"sql\":\"SELECT id FROM chk_a\","
	"\"tables\":[\"chk_a\"]},"
	"{\"name\":\"b_by_id\",\"sql\":\"SELECT id FROM chk_b WHERE id = $1\","
	"\"tables\":[\"public.chk_b\"]}]";

/* What a check left behind, by the plugin's names. */
static long dx_triggers(void)
{
	return sql_long("SELECT count(*) FROM pg_trigger WHERE tgname LIKE "
			"'dx\\_teleport\\_%'");
}

static long dx_functions(void)
{
	return sql_long("SELECT count(*) FROM pg_proc WHERE proname = "
			"'dx_teleport_notify'");
}

/* db_teleport's sessions of process pid, once the ones closing are gone
 * (a hang guard, not a speed claim). */
static long dx_sessions(pid_t pid)
{
	char q[256];
	snprintf(q, sizeof q,
		 "SELECT count(*) FROM pg_stat_activity WHERE "
		 "application_name LIKE 'dx_teleport %% %ld'",
		 (long)pid);
	long n = sql_long(q);
	for (double t0 = now_ms(); n > 0 && now_ms() - t0 < 10000;
	     usleep(20000))
		n = sql_long(q);
	return n;
}

struct check_run {
	char dir[32];
	char err[16384]; /* dx-host's stderr */
	int status;      /* exit status; -1: killed by the hang guard */
	pid_t pid;
};

/* Write a manifest with db_teleport (config: conninfo, channel dxchk,
 * install_triggers, pool 2, the given queries), then dbt_probe when
 * probe_table is set, and run dx-host -m M --check on it. */
static void run_check(struct check_run *r, const char *conninfo,
		      const char *queries, const char *probe_table)
{
	memset(r, 0, sizeof *r);
	snprintf(r->dir, sizeof r->dir, "/tmp/dx-chk.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	char path[64], errp[64], probe[1024] = "";
	if (probe_table)
		snprintf(probe, sizeof probe,
			 ",{\"name\":\"dbt_probe\",\"path\":\"%s\","
			 "\"config\":{\"conninfo\":\"%s\",\"table\":\"%s\"}}",
			 probe_so, pg.conninfo, probe_table);
	snprintf(path, sizeof path, "%s/m.json", r->dir);
	snprintf(errp, sizeof errp, "%s/err", r->dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"{\"dx\":1,\"listen\":[],\"plugin_path\":[\"%s\"],"
		"\"plugins\":[{\"name\":\"db_teleport\",\"config\":{"
		"\"conninfo\":\"%s\",\"channel\":\"dxchk\","
		"\"install_triggers\":true,\"pool\":2,\"queries\":%s}}%s]}\n",
		getenv("DX_PLUGINS"), conninfo, queries, probe);
	fclose(f);
	r->pid = fork();
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		if (!freopen(errp, "w", stderr) ||
		    !freopen("/dev/null", "w", stdout))
			_exit(126);
		execl(dx_host, dx_host, "-m", path, "--check", (char *)NULL);
		_exit(127);
	}
	/* A hang guard: a check that waits for a lock never ends. */
	int st = 0;
	double t0 = now_ms();
	while (waitpid(r->pid, &st, WNOHANG) == 0) {
		if (now_ms() - t0 > 60000) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &st, 0);
			break;
		}
		usleep(20000);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	f = fopen(errp, "r");
	size_t n = f ? fread(r->err, 1, sizeof r->err - 1, f) : 0;
	r->err[n] = '\0';
	if (f)
		fclose(f);
	fprintf(stderr, "--- dx-host --check (exit %d) ---\n%s", r->status,
		r->err);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void assert_unchanged(const struct check_run *r)
{
	ck_assert_int_eq(dx_triggers(), 0);
	ck_assert_int_eq(dx_functions(), 0);
	ck_assert_int_eq(dx_sessions(r->pid), 0);
}

/* Its stderr has the info line for table's trigger. */
static void assert_would_install(const struct check_run *r,
				 const char *table)
{
	char line[128];
	snprintf(line, sizeof line,
		 "--check: would install trigger dx_teleport_dxchk on table "
		 "%s\n",
		 table);
	ck_assert_msg(strstr(r->err, line), "no \"%s\"", line);
}

/* ---- tests ---- */

START_TEST(test_check_would_install)
{
	ck_assert_int_eq(dx_triggers(), 0);
	ck_assert_int_eq(dx_functions(), 0);
	struct check_run r;
	run_check(&r, pg.conninfo, queries_ok, "chk_c");
	ck_assert_int_eq(r.status, 0);
	assert_would_install(&r, "chk_a");
	assert_would_install(&r, "public.chk_b");
	/* Registered by another plugin during its init. */
	assert_would_install(&r, "chk_c");
	ck_assert_msg(strstr(r.err, "would create function "
				    "public.dx_teleport_notify()"),
		      "the function is not named");
	ck_assert_msg(strstr(r.err, "probe: 0 dx_teleport sessions open after "
				    "init"),
		      "db_teleport left sessions open after init");
	assert_unchanged(&r);
}
END_TEST

/* An open write transaction on a watched table (ROW EXCLUSIVE: what an
 * UPDATE holds until commit) does not hold the check up. */
START_TEST(test_check_takes_no_table_lock)
{
	PGconn *w = PQconnectdb(pg.conninfo);
	ck_assert_int_eq(PQstatus(w), CONNECTION_OK);
	PGresult *res = PQexec(w, "BEGIN; INSERT INTO chk_b VALUES (1)");
	ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	struct check_run r;
	run_check(&r, pg.conninfo, queries_ok, NULL);
	res = PQexec(w, "ROLLBACK");
	PQclear(res);
	PQfinish(w);
	ck_assert_msg(r.status == 0, "--check waited for a table lock or "
				     "failed (exit %d)", r.status);
	assert_would_install(&r, "public.chk_b");
	assert_unchanged(&r);
}
END_TEST

START_TEST(test_check_bad_query)
{
	struct check_run r;
	run_check(&r, pg.conninfo,
		  "[{\"name\":\"fine\",\"sql\":\"SELECT 1\",\"tables\":"
		  "[\"chk_a\"]},{\"name\":\"broken\",\"sql\":\"SELECT nope "
		  "FROM nowhere\",\"tables\":[\"chk_a\"]}]",
		  NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "plugins[0].config.queries[1].sql: query "
				    "\"broken\" does not prepare"),
		      "the query's JSON path is not named");
	ck_assert(strstr(r.err, "relation \"nowhere\" does not exist"));
	assert_unchanged(&r);
}
END_TEST

START_TEST(test_check_no_trigger_privilege)
{
	char conninfo[256];
	snprintf(conninfo, sizeof conninfo,
		 "host=%s port=%u user=dx_notrig dbname=postgres", pg.dir,
		 pg.port);
	struct check_run r;
	run_check(&r, conninfo, queries_ok, NULL);
	ck_assert_int_eq(r.status, 1);
	/* chk_a is fine; chk_b is refused, naming the table, the role and
	 * the privilege, and what to do. */
	assert_would_install(&r, "chk_a");
	ck_assert_msg(strstr(r.err, "installing the trigger on table "
				    "public.chk_b: role \"dx_notrig\" lacks the "
				    "TRIGGER privilege on table public.chk_b "
				    "(GRANT TRIGGER ON "),
		      "the refusal does not name table and privilege");
	assert_unchanged(&r);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_dbt_check DX_HOST DBT_PROBE_SO\n");
		return 2;
	}
	dx_host = argv[1];
	probe_so = argv[2];
	int rc = dbt_begin(schema);
	if (rc)
		return rc;
	Suite *s = suite_create("db_teleport_check");
	TCase *tc = tcase_create("postgres");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_check_would_install);
	tcase_add_test(tc, test_check_takes_no_table_lock);
	tcase_add_test(tc, test_check_bad_query);
	tcase_add_test(tc, test_check_no_trigger_privilege);
	suite_add_tcase(s, tc);
	return dbt_run(s);
}
