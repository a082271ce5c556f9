/* dbt_check.c - a dry run's trigger check (dx-host --check): would
 * install_triggers (dbt_setup.c) succeed for this role on this database?
 * Answered from the catalogs only, statement by statement:
 *
 *   CREATE OR REPLACE FUNCTION dx_teleport_notify()  the session may
 *     write; plpgsql exists and the role may use it; the function goes
 *     into current_schema() (the creation schema of an unqualified name),
 *     which must exist and be writable (CREATE), or, when the function is
 *     there already, the role must own it and it must return trigger;
 *   DROP TRIGGER IF EXISTS dx_teleport_<channel>    only when the trigger
 *     is there: the role must own the table;
 *   CREATE TRIGGER ... EXECUTE FUNCTION ...          the table exists, is a
 *     table, and the role has TRIGGER on it and EXECUTE on the function.
 *
 * Why not run the DDL in a transaction that is always rolled back, which
 * would ask Postgres itself: it is not free of effects. DROP TRIGGER locks
 * each watched table ACCESS EXCLUSIVE (even when there is no trigger to
 * drop) and CREATE TRIGGER SHARE ROW EXCLUSIVE: on a busy table the check
 * would wait behind long readers while every new reader and writer queues
 * behind it, which is an outage a --check must not cause. It would also
 * fire event triggers (whose actions need not be transactional) and take
 * a transaction id and WAL. The catalog reads here take no lock on any
 * watched table and write nothing. What they cannot see (an event trigger
 * that vetoes DDL, a lock the real install would wait for) is why the log
 * says "would install", and why a real start can still fail there.
 *
 * Main thread, during init, on a connection of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbt.h"

#define NOTIFY_FN "dx_teleport_notify()"

static PGresult *query(PGconn *pg, const char *sql, int np,
		       const char *const *params)
{
	PGresult *r = PQexecParams(pg, sql, np, NULL, params, NULL, NULL, 0);
	if (r && PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return NULL;
	}
	return r;
}

static bool yes(const PGresult *r, int col)
{
	return !PQgetisnull(r, 0, col) && PQgetvalue(r, 0, col)[0] == 't';
}

/* The function, and whether the session may write at all. *replace: the
 * function is there (CREATE OR REPLACE replaces it); *fn_exec: the role
 * may execute it (true when it would create it: it would own it). */
static int check_function(dbt *d, PGconn *pg, const char *role, bool say,
			  char *err, size_t n, bool *fn_exec)
{
	static const char sql[] =
		"SELECT current_setting('transaction_read_only') = 'on', "
		"current_schema(), "
		"current_schema() IS NOT NULL AND "
		"has_schema_privilege(current_schema(), 'CREATE'), "
		"EXISTS (SELECT 1 FROM pg_language l WHERE l.lanname = "
		"'plpgsql'), "
		"EXISTS (SELECT 1 FROM pg_language l WHERE l.lanname = "
		"'plpgsql' AND has_language_privilege(l.oid, 'USAGE')), "
		"p.oid IS NOT NULL, pg_has_role(p.proowner, 'USAGE'), "
		"pg_get_userbyid(p.proowner), p.prorettype = "
		"'trigger'::regtype, has_function_privilege(p.oid, 'EXECUTE') "
		"FROM (SELECT 1) one LEFT JOIN pg_proc p ON p.proname = "
		"'dx_teleport_notify' AND p.pronargs = 0 AND p.pronamespace = "
		"(SELECT oid FROM pg_namespace WHERE nspname = "
		"current_schema())";
	const char *what = "--check: creating " NOTIFY_FN;
	PGresult *r = query(pg, sql, 0, NULL);
	if (!r || PQntuples(r) != 1)
		return dbt_pg_error(pg, r, err, n, what);
	const char *schema = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
	bool exists = yes(r, 5);
	int rc = DX_EPROTO;
	if (yes(r, 0))
		snprintf(err, n,
			 "%s: the session is read-only (a standby, or "
			 "default_transaction_read_only is on): no trigger "
			 "can be installed; connect to the primary or set "
			 "install_triggers to false",
			 what);
	else if (!yes(r, 3))
		snprintf(err, n,
			 "%s: the language plpgsql is not installed "
			 "(CREATE EXTENSION plpgsql)",
			 what);
	else if (!yes(r, 4))
		snprintf(err, n,
			 "%s: role \"%s\" lacks the USAGE privilege on "
			 "language plpgsql",
			 what, role);
	else if (!schema)
		snprintf(err, n,
			 "%s: no schema of the search_path exists to create "
			 "it in (or role \"%s\" lacks USAGE on them)",
			 what, role);
	else if (exists && !yes(r, 6))
		snprintf(err, n,
			 "%s: %s.%s exists and only its owner (role \"%s\") "
			 "may replace it, not role \"%s\"",
			 what, schema, NOTIFY_FN, PQgetvalue(r, 0, 7), role);
	else if (exists && !yes(r, 8))
		snprintf(err, n,
			 "%s: %s.%s exists and does not return trigger; "
			 "drop or rename it",
			 what, schema, NOTIFY_FN);
	else if (!exists && !yes(r, 2))
		snprintf(err, n,
			 "%s: role \"%s\" lacks the CREATE privilege on "
			 "schema %s (GRANT CREATE ON SCHEMA %s TO %s)",
			 what, role, schema, schema, role);
	else
		rc = 0;
	if (rc == 0) {
		*fn_exec = !exists || yes(r, 9);
		if (say)
			d->host->log(d->host, DX_LOG_INFO,
				     "--check: would %s function %s.%s",
				     exists ? "replace" : "create", schema,
				     NOTIFY_FN);
	}
	PQclear(r);
	return rc;
}

/* One table: what CREATE TRIGGER (and DROP TRIGGER, when the trigger is
 * there) would need. */
static int check_table(dbt *d, PGconn *pg, const char *role,
		       const dbt_table *t, bool fn_exec, char *err, size_t n)
{
	static const char sql[] =
		"SELECT c.relkind, has_table_privilege(c.oid, 'TRIGGER'), "
		"pg_has_role(c.relowner, 'USAGE'), "
		"pg_get_userbyid(c.relowner), EXISTS (SELECT 1 FROM "
		"pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = $2) "
		"FROM pg_class c WHERE c.oid = to_regclass($1)";
	char quoted[600], trig[64], what[400];
	if (dbt_quote_table(pg, t->qualified, quoted, sizeof quoted) < 0) {
		snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	snprintf(trig, sizeof trig, "dx_teleport_%s", d->channel);
	snprintf(what, sizeof what,
		 "--check: installing the trigger on table %s", t->qualified);
	const char *params[] = {quoted, trig};
	PGresult *r = query(pg, sql, 2, params);
	if (!r)
		return dbt_pg_error(pg, r, err, n, what);
	int rc = DX_EPROTO;
	if (PQntuples(r) != 1)
		snprintf(err, n,
			 "%s: relation \"%s\" does not exist (or role \"%s\" "
			 "cannot see it: USAGE on its schema)",
			 what, t->qualified, role);
	else if (!strchr("rp", PQgetvalue(r, 0, 0)[0]))
		snprintf(err, n,
			 "%s: \"%s\" is not a table (relkind '%s'): "
			 "statement triggers with TRUNCATE need a table",
			 what, t->qualified, PQgetvalue(r, 0, 0));
	else if (!yes(r, 1))
		snprintf(err, n,
			 "%s: role \"%s\" lacks the TRIGGER privilege on "
			 "table %s (GRANT TRIGGER ON %s TO %s)",
			 what, role, t->qualified, quoted, role);
	else if (yes(r, 4) && !yes(r, 2))
		snprintf(err, n,
			 "%s: trigger %s exists already and only the table's "
			 "owner (role \"%s\") may replace it, not role \"%s\"",
			 what, trig, PQgetvalue(r, 0, 3), role);
	else if (!fn_exec)
		snprintf(err, n,
			 "%s: role \"%s\" lacks the EXECUTE privilege on "
			 "function %s",
			 what, role, NOTIFY_FN);
	else
		rc = 0;
	if (rc == 0)
		d->host->log(d->host, DX_LOG_INFO,
			     "--check: would install trigger %s on table %s%s",
			     trig, t->qualified,
			     yes(r, 4) ? " (replacing the one there)" : "");
	PQclear(r);
	return rc;
}

/* dbt.h */
int dbt_check_triggers(dbt *d, PGconn *pg, unsigned from, char *err,
		       size_t n)
{
	if (from >= d->nt)
		return 0;
	PGresult *r = query(pg, "SELECT current_user", 0, NULL);
	if (!r || PQntuples(r) != 1)
		return dbt_pg_error(pg, r, err, n, "--check: installing triggers");
	char who[128];
	snprintf(who, sizeof who, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	bool fn_exec = false;
	/* Said once: a later register_query's tables need it again, but
	 * the first install would have made it. */
	int rc = check_function(d, pg, who, from == 0, err, n, &fn_exec);
	for (unsigned i = from; i < d->nt && rc == 0; i++)
		rc = check_table(d, pg, who, &d->t[i], fn_exec, err, n);
	return rc;
}
