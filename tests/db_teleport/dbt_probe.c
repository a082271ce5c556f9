/* dbt_probe.c - a plugin for test_dbt_check: it comes after db_teleport in
 * the manifest, so its init runs after db_teleport's and before any fini.
 * It registers one query through db_teleport's SERVICE (as a consumer
 * plugin would, during its own init), then counts, on a connection of its
 * own, the database sessions of this process whose application_name is
 * db_teleport's ("dx_teleport listen|query <pid>"), and logs
 *   "probe: N dx_teleport sessions open after init"
 * so the test sees what a dry run left open between init and fini (after
 * the process exits the kernel would have closed anything).
 * Config: "conninfo" (string), "table" (the registered query's table). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <dx/db_teleport.h>
#include <dx/plugin.h>

static int probe_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	const char *conninfo = NULL, *table = NULL;
	int rc = host->config_str(host, config, "conninfo", NULL, &conninfo);
	if (rc == 0)
		rc = host->config_str(host, config, "table", NULL, &table);
	if (rc < 0)
		return rc;
	if (!conninfo || !table)
		return host->fail(host, -EINVAL, "conninfo and table needed");
	dx_facet_ref ref;
	if (host->lookup(host, DX_FACET_SERVICE, DX_DB_SERVICE, &ref) < 0)
		return host->fail(host, -ENOENT, "no db_teleport service");
	const dx_db_service *db = ref.vtable;
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	const char *tables[] = {table};
	rc = db->register_query(ref.self, "probe_q", sql, tables, 1);
	if (rc < 0)
		return host->fail(host, rc, "register_query failed (%d)", rc);
	PGconn *pg = PQconnectdb(conninfo);
	char q[256];
	snprintf(q, sizeof q,
		 "SELECT count(*) FROM pg_stat_activity WHERE "
		 "application_name LIKE 'dx_teleport %% %ld'",
		 (long)getpid());
	PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, q) : NULL;
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		host->log(host, DX_LOG_INFO,
			  "probe: %s dx_teleport sessions open after init",
			  PQgetvalue(r, 0, 0));
	else
		rc = host->fail(host, -EIO, "probe: cannot count sessions: %s",
				PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	if (rc < 0)
		return rc;
	*self = NULL;
	return 0;
}

static void probe_fini(void *self)
{
	(void)self;
}

static const struct {
	uint32_t size;
} probe_svc = {sizeof probe_svc};
static const dx_facet probe_facets[] = {
	{DX_FACET_SERVICE, "dbt_probe", &probe_svc},
};

DX_PLUGIN(.name = "dbt_probe", .version = "0.0.1",
	  .description = "test_dbt_check: what db_teleport left open",
	  DX_FACETS(probe_facets), .init = probe_init, .fini = probe_fini)
