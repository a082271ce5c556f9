/* dbt_client.h - what the db_teleport tests share: SQL straight to the
 * test's cluster (pg, made by the test's main), db.get / db.subscribe /
 * db.stats over HBTP, and rowsets as "v|v;v|v" text to compare. Check
 * assertions: call from a test. */
#ifndef DX_DBT_CLIENT_H
#define DX_DBT_CLIENT_H

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

#include <signal.h>

#include "../serve/test_host.h"
#include "../unit/check_main.h"
#include "pg_cluster.h"

static struct pg_cluster pg;

/* ---- the harness a test's main() runs: the cluster and its hosts,
 * stopped and removed at exit, also on failure and on SIGTERM/SIGINT ---- */

#define DBT_HOSTS_MAX 2
static struct dx_test_host *dbt_hosts[DBT_HOSTS_MAX];
static int dbt_nhosts;
static pid_t dbt_parent;

static void dbt_cleanup(void)
{
	if (getpid() != dbt_parent)
		return; /* a Check child: the parent owns all this */
	while (dbt_nhosts > 0)
		dx_test_host_stop(dbt_hosts[--dbt_nhosts]);
	pg_cluster_destroy(&pg);
}

static void dbt_on_signal(int sig)
{
	(void)sig;
	for (int i = 0; i < dbt_nhosts; i++)
		kill(dbt_hosts[i]->pid, SIGKILL);
	dbt_nhosts = 0;
	dbt_cleanup();
	_exit(1);
}

/* The cluster with schema in it: 0, 77 (skip: no server binaries) or 1. */
static int sql_try(const char *q, long *out);

static int dbt_begin(const char *schema)
{
	if (!pg_available()) {
		fprintf(stderr, "no PostgreSQL server binaries in %s "
				"(apt-get install postgresql): skipped\n",
			pg_bin());
		return 77;
	}
	dbt_parent = getpid();
	signal(SIGTERM, dbt_on_signal);
	signal(SIGINT, dbt_on_signal);
	atexit(dbt_cleanup);
	if (pg_cluster_create(&pg) < 0 || sql_try(schema, NULL) < 0)
		return 1;
	return 0;
}

/* A dx-host on the cluster (two workers, epoll) with db_teleport
 * installing its triggers, a pool of 2, and queries (the config's
 * "queries" member): 0 or -1. */
static int dbt_host_start(struct dx_test_host *h, const char *dx_host,
			  const char *queries)
{
	char extra[4096];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":2,\"io\":{\"backend\":"
		 "\"epoll\"},\"plugins\":[{\"name\":\"io_epoll\"},{\"name\":"
		 "\"db_teleport\",\"config\":{\"conninfo\":\"%s\","
		 "\"install_triggers\":true,\"pool\":2,%s}}]",
		 getenv("DX_PLUGINS"), pg.conninfo, queries);
	if (dbt_nhosts == DBT_HOSTS_MAX ||
	    dx_test_host_start(h, dx_host, extra, NULL) < 0)
		return -1;
	dbt_hosts[dbt_nhosts++] = h;
	return 0;
}

/* Run the suite, show the logs when it failed, stop every host (each must
 * exit cleanly) and remove the cluster: main's exit status. */
static int dbt_run(Suite *s)
{
	int rc = dx_check_run(s);
	if (rc) {
		for (int i = 0; i < dbt_nhosts; i++)
			dx_test_host_dump(dbt_hosts[i]);
		pg_dump_log(&pg);
	}
	while (dbt_nhosts > 0)
		if (dx_test_host_stop(dbt_hosts[--dbt_nhosts]) < 0)
			rc = 1;
	dbt_cleanup();
	return rc;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- Postgres, from the test ---- */

static int sql_try(const char *q, long *out)
{
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, q) : NULL;
	int st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "sql: %s: %s", q,
			r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	if (rc == 0 && out && PQntuples(r) > 0)
		*out = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static void sql(const char *q)
{
	ck_assert_msg(sql_try(q, NULL) == 0, "sql failed: %s", q);
}

static long sql_long(const char *q)
{
	long v = -1;
	ck_assert_msg(sql_try(q, &v) == 0, "sql failed: %s", q);
	return v;
}

/* ---- HBTP ---- */

static dx_client *connect_to(const struct dx_test_host *h)
{
	char err[256];
	dx_client *c = NULL;
	int rc = dx_client_connect(h->addr, 5000, &c, err, sizeof err);
	ck_assert_msg(rc == 0, "connect %s: %s", h->addr, err);
	return c;
}

/* "v|v;v|v" for a rowset (NULL as "~"). */
static void rowset_str(const uint8_t *p, size_t len, char *out, size_t n)
{
	void *buf;
	dx_rowset rs;
	int rc = dx_db_answer_open(p, len, &buf, &rs);
	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(rc == 0, "not a rowset (%d, %zu bytes)", rc, len);
	size_t o = 0;
	out[0] = '\0';
	for (uint32_t r = 0; r < dx_rowset_nrows(&rs); r++)
		for (uint32_t c = 0; c < dx_rowset_ncols(&rs); c++) {
			int isnull;
			const char *v = dx_rowset_value(&rs, r, c, NULL, &isnull);
			o += (size_t)snprintf(out + o, n - o, "%s%s",
					      c ? "|" : r ? ";" : "",
					      isnull ? "~" : v);
			if (o >= n)
				o = n - 1;
		}
	free(buf);
}

static uint16_t db_send(dx_client *c, uint16_t route, const char *query,
			const char *const *params, unsigned n)
{
	uint8_t body[1024];
	long len = dx_db_body_encode(body, sizeof body, query, params, n);
	ck_assert_int_ge(len, 0);
	uint16_t seq;
	ck_assert_int_eq(dx_client_call(c, route, body, (size_t)len, 0, &seq),
			 0);
	return seq;
}

/* Wait for seq's answer: 0 and the rowset as text, or the RpcError
 * status and its message in out. */
static unsigned db_wait(dx_client *c, uint16_t seq, char *out, size_t n,
			int timeout_ms)
{
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, timeout_ms);
	ck_assert_msg(rc == 0, "no answer: %s", dx_client_error(c));
	if (m.opcode == DX_HBTP_RPC_ERROR) {
		snprintf(out, n, "%.*s", (int)m.len, (const char *)m.payload);
		return m.status;
	}
	ck_assert_uint_eq(m.opcode, DX_HBTP_RPC_RESPONSE);
	rowset_str(m.payload, m.len, out, n);
	return 0;
}

static unsigned db_get(dx_client *c, const char *query,
		       const char *const *params, unsigned n, char *out,
		       size_t outn)
{
	uint16_t seq = db_send(c, DX_DB_ROUTE_GET, query, params, n);
	return db_wait(c, seq, out, outn, 10000);
}

static uint64_t dbstat(dx_client *c, const char *name)
{
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, DX_DB_ROUTE_STATS, "", 0, 0, &seq),
			 0);
	ck_assert_int_eq(dx_client_wait(c, seq, &m, 5000), 0);
	char json[512], key[64];
	snprintf(json, sizeof json, "%.*s", (int)m.len, (const char *)m.payload);
	snprintf(key, sizeof key, "\"%s\":", name);
	const char *p = strstr(json, key);
	ck_assert_msg(p, "no %s in %s", name, json);
	return strtoull(p + strlen(key), NULL, 10);
}

/* db.get query until it answers want (or deadline_ms passes); the time
 * it took, or -1. */
static double get_until(dx_client *c, const char *query,
			const char *const *params, unsigned n,
			const char *want, double deadline_ms)
{
	double t0 = now_ms();
	char got[1024];
	for (;;) {
		unsigned st = db_get(c, query, params, n, got, sizeof got);
		if (st == 0 && strcmp(got, want) == 0)
			return now_ms() - t0;
		if (now_ms() - t0 > deadline_ms) {
			fprintf(stderr, "%s: still \"%s\" (status %u), want "
					"\"%s\"\n",
				query, got, st, want);
			return -1;
		}
		usleep(1000);
	}
}

#endif
