/* dbt_setup.c - what init does before any worker runs, blocking, on the
 * main thread: connect the listener and the pool, install the triggers,
 * prepare every query (learning its parameter count), LISTEN. Then
 * dbt_pg_start (dbt_pg.c) hands the connections to the database worker.
 *
 * A dry run (dx-host --check, host->dry_run) changes nothing in the
 * database: one connection of its own, the trigger check of dbt_check.c
 * instead of the DDL, every query prepared (a prepared statement lives
 * and dies with its session), no LISTEN, and the connection closed again
 * before init returns; the pool is never connected. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbt.h"

static PGconn *connect_blocking(dbt *d, bool listener, char *err, size_t n)
{
	char app[64];
	dbt_appname(app, sizeof app, listener);
	const char *kw[] = {"dbname", "application_name", NULL};
	const char *val[] = {d->conninfo, app, NULL};
	PGconn *pg = PQconnectdbParams(kw, val, 1);
	if (pg && PQstatus(pg) == CONNECTION_OK)
		return pg;
	const char *m = pg ? PQerrorMessage(pg) : "out of memory";
	size_t l = strlen(m);
	while (l && m[l - 1] == '\n')
		l--;
	snprintf(err, n, "cannot connect to PostgreSQL: %.*s", (int)l, m);
	PQfinish(pg);
	return NULL;
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t n,
		   const char *what)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	return dbt_pg_error(pg, r, err, n, what);
}

/* One trigger function for every channel (the channel is the trigger's
 * argument) and one statement-level trigger per table and channel,
 * replaced idempotently; under an advisory lock so two hosts starting at
 * once do not trip over each other. */
static int install_triggers(dbt *d, PGconn *pg, unsigned from, char *err,
			    size_t n)
{
	static const char fn[] =
		"CREATE OR REPLACE FUNCTION dx_teleport_notify() RETURNS "
		"trigger LANGUAGE plpgsql AS $dx$ BEGIN PERFORM "
		"pg_notify(TG_ARGV[0], TG_TABLE_NAME); RETURN NULL; END "
		"$dx$";
	if (from >= d->nt)
		return 0;
	int rc = exec_ok(pg, "BEGIN", err, n, "installing triggers");
	if (rc == 0)
		rc = exec_ok(pg, "SELECT pg_advisory_xact_lock(7436251834)",
			     err, n, "installing triggers");
	if (rc == 0)
		rc = exec_ok(pg, fn, err, n, "creating dx_teleport_notify()");
	for (unsigned i = from; i < d->nt && rc == 0; i++) {
		char quoted[600], sql[1200], what[400];
		if (dbt_quote_table(pg, d->t[i].qualified, quoted,
				    sizeof quoted) < 0) {
			snprintf(err, n, "out of memory");
			rc = -ENOMEM;
			break;
		}
		snprintf(what, sizeof what, "installing the trigger on table %s",
			 d->t[i].qualified);
		snprintf(sql, sizeof sql,
			 "DROP TRIGGER IF EXISTS \"dx_teleport_%s\" ON %s",
			 d->channel, quoted);
		rc = exec_ok(pg, sql, err, n, what);
		if (rc == 0) {
			snprintf(sql, sizeof sql,
				 "CREATE TRIGGER \"dx_teleport_%s\" AFTER "
				 "INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s "
				 "FOR EACH STATEMENT EXECUTE FUNCTION "
				 "dx_teleport_notify('%s')",
				 d->channel, quoted, d->channel);
			rc = exec_ok(pg, sql, err, n, what);
		}
	}
	char ignore[8];
	exec_ok(pg, rc == 0 ? "COMMIT" : "ROLLBACK", rc == 0 ? err : ignore,
		rc == 0 ? n : sizeof ignore, "installing triggers");
	return rc;
}

/* Prepare [from, nq) on pg; a configured query's failure names its JSON
 * path (cfg: the plugin's config, NULL for one register_query added). */
static int prepare_on(dbt *d, PGconn *pg, unsigned from,
		      const dx_config *cfg)
{
	const dx_host_api *h = d->host;
	char err[768];
	int bad = dbt_pg_prepare_all(d, pg, from, err, sizeof err);
	if (bad == 0)
		return 0;
	/* config_queries added the configured queries first, in order. */
	const dx_config *qs = cfg ? h->config_child(h, cfg, "queries") : NULL;
	if (qs && (size_t)bad <= h->config_len(h, qs)) {
		h->config_error(h, h->config_at(h, qs, (size_t)bad - 1), "sql",
				"%s", err);
		return DX_EPROTO;
	}
	return h->fail(h, DX_EPROTO, "%s", err);
}

/* The dry run's dbt_setup_new: a connection of its own, closed again. */
static int setup_dry(dbt *d, unsigned from, unsigned tfrom,
		     const dx_config *cfg)
{
	const dx_host_api *h = d->host;
	char err[768];
	PGconn *pg = connect_blocking(d, false, err, sizeof err);
	if (!pg)
		return h->fail(h, -ECONNREFUSED, "%s", err);
	int rc = 0;
	if (d->install_triggers &&
	    (rc = dbt_check_triggers(d, pg, tfrom, err, sizeof err)) < 0)
		h->fail(h, rc, "%s", err);
	if (rc == 0)
		rc = prepare_on(d, pg, from, cfg);
	PQfinish(pg);
	return rc;
}

/* dbt.h */
bool dbt_dry_run(const dbt *d)
{
	return DX_HAS(d->host, dry_run) && d->host->dry_run(d->host);
}

int dbt_setup_new(dbt *d, unsigned from, unsigned tfrom,
		  const dx_config *cfg)
{
	char err[768];
	const dx_host_api *h = d->host;
	if (dbt_dry_run(d))
		return setup_dry(d, from, tfrom, cfg);
	int rc;
	if (d->install_triggers &&
	    (rc = install_triggers(d, d->listen.pg, tfrom, err, sizeof err)) <
		    0)
		return h->fail(h, rc, "%s", err);
	if ((rc = prepare_on(d, d->listen.pg, from, cfg)) < 0)
		return rc;
	for (unsigned i = 0; i < d->pool_size; i++)
		if (d->pool[i].pg &&
		    (rc = prepare_on(d, d->pool[i].pg, from, cfg)) < 0)
			return rc;
	return 0;
}

int dbt_connect_all(dbt *d, const dx_config *cfg)
{
	const dx_host_api *h = d->host;
	char err[768];
	d->listen = (dbt_conn){.d = d, .listener = true, .fd = -1,
			       .pgfd = -1};
	for (unsigned i = 0; i < d->pool_size; i++)
		d->pool[i] = (dbt_conn){.d = d, .fd = -1, .pgfd = -1};
	if (dbt_dry_run(d))
		return setup_dry(d, 0, 0, cfg);
	if (!(d->listen.pg = connect_blocking(d, true, err, sizeof err)))
		return h->fail(h, -ECONNREFUSED, "%s", err);
	for (unsigned i = 0; i < d->pool_size; i++)
		if (!(d->pool[i].pg = connect_blocking(d, false, err,
						       sizeof err)))
			return h->fail(h, -ECONNREFUSED, "%s", err);
	int rc = dbt_setup_new(d, 0, 0, cfg);
	if (rc < 0)
		return rc;
	/* LISTEN before the first fill: it is in place (committed) before
	 * any worker can ask for a query. */
	char *id = PQescapeIdentifier(d->listen.pg, d->channel,
				      strlen(d->channel));
	char sql[256];
	snprintf(sql, sizeof sql, "LISTEN %s", id ? id : "dx_teleport");
	PQfreemem(id);
	if (exec_ok(d->listen.pg, sql, err, sizeof err, "LISTEN") < 0)
		return h->fail(h, DX_EPROTO, "%s", err);
	return 0;
}

int dbt_pg_error(PGconn *pg, PGresult *r, char *err, size_t n,
		 const char *what)
{
	const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
	size_t l = strlen(m);
	while (l && m[l - 1] == '\n')
		l--;
	snprintf(err, n, "%s: %.*s", what, (int)l, m);
	PQclear(r);
	return DX_EPROTO;
}

int dbt_quote_table(PGconn *pg, const char *qualified, char *out, size_t n)
{
	/* Each part of "schema.table" on its own, as configured. */
	char *tok, *save, copy[256];
	snprintf(copy, sizeof copy, "%s", qualified);
	out[0] = '\0';
	for (tok = strtok_r(copy, ".", &save); tok;
	     tok = strtok_r(NULL, ".", &save)) {
		char *id = PQescapeIdentifier(pg, tok, strlen(tok));
		if (!id)
			return -ENOMEM;
		size_t ql = strlen(out);
		snprintf(out + ql, n - ql, "%s%s", ql ? "." : "", id);
		PQfreemem(id);
	}
	return 0;
}

void dbt_appname(char *out, size_t n, bool listener)
{
	/* The pid tells two hosts' connections apart in pg_stat_activity. */
	snprintf(out, n, "dx_teleport %s %ld", listener ? "listen" : "query",
		 (long)getpid());
}

int dbt_pg_prepare_all(dbt *d, PGconn *pg, unsigned from, char *err,
		       size_t n)
{
	for (unsigned i = from; i < d->nq; i++) {
		dbt_query *q = &d->q[i];
		PGresult *r = PQprepare(pg, q->stmt, q->sql, 0, NULL);
		bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
		if (ok) {
			PQclear(r);
			r = PQdescribePrepared(pg, q->stmt);
			ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
			if (ok)
				q->nparams = (unsigned)PQnparams(r);
		}
		if (!ok) {
			const char *m = r ? PQresultErrorMessage(r)
					  : PQerrorMessage(pg);
			size_t l = strlen(m);
			while (l && m[l - 1] == '\n')
				l--;
			snprintf(err, n, "query \"%s\" does not prepare: %.*s",
				 q->name, (int)l, m);
			PQclear(r);
			return (int)i + 1;
		}
		PQclear(r);
		if (q->nparams > 255) {
			snprintf(err, n,
				 "query \"%s\" has %u parameters; at most 255",
				 q->name, q->nparams);
			return (int)i + 1;
		}
	}
	return 0;
}

