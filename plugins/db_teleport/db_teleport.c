/* db_teleport - a PostgreSQL query cache kept fresh by LISTEN/NOTIFY
 * (docs/architecture.md, "The plugins that ship"; the wire encoding is in
 * dx/db_teleport.h, its codec in libdx).
 *
 * This file: config, init (blocking: it validates by connecting, installs
 * triggers, prepares every query and LISTENs, then hands the connections
 * to the database worker), the routes db.get / db.subscribe / db.stats,
 * and the SERVICE vtable. The database worker's connections are in
 * dbt_pg.c, its fills and subscribers in dbt_fill.c, the cache in
 * dbt_cache.c, a reload's handoff in dbt_handoff.c, retire and fini in
 * dbt_retire.c; dbt.h says who owns what.
 *
 * db.subscribe: the RpcResponse, then a StateSync (same seq) each time
 * the result changes, until the client's connection closes or the
 * instance serving it goes out of service without handing its state over
 * (`dx ctl unload db_teleport`, a reload to a build that cannot take it):
 * then a last RpcError 503 on that seq ends the stream, and the
 * connection stays open. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbt.h"

/* ---- queries and tables ---- */

static int find_query(const dbt *d, const char *name, size_t len)
{
	for (unsigned i = 0; i < d->nq; i++)
		if (strlen(d->q[i].name) == len &&
		    memcmp(d->q[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* The table id of a configured name ("t" or "s.t"), added if new. */
static int table_id(dbt *d, const char *qualified)
{
	for (unsigned i = 0; i < d->nt; i++)
		if (strcmp(d->t[i].qualified, qualified) == 0)
			return (int)i;
	dbt_table *t = realloc(d->t, (d->nt + 1) * sizeof *t);
	if (!t)
		return -ENOMEM;
	d->t = t;
	const char *dot = strrchr(qualified, '.');
	t[d->nt] = (dbt_table){.qualified = strdup(qualified),
			       .name = strdup(dot ? dot + 1 : qualified)};
	if (!t[d->nt].qualified || !t[d->nt].name) {
		free(t[d->nt].qualified);
		free(t[d->nt].name);
		return -ENOMEM;
	}
	return (int)d->nt++;
}

static bool ident_ok(const char *s, bool dotted)
{
	if (!*s || strlen(s) > 127)
		return false;
	bool start = true;
	for (; *s; s++) {
		char c = *s;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_';
		if (dotted && c == '.' && !start) {
			start = true;
			continue;
		}
		if (!alpha && (start || !((c >= '0' && c <= '9') || c == '$')))
			return false;
		start = false;
	}
	return !start;
}

/* Add query (name, sql, tables) to d; not prepared yet. */
static int add_query(dbt *d, const char *name, const char *sql,
		     const char *const *tables, size_t ntables, char *err,
		     size_t n)
{
	if (!dx_name_valid(name)) {
		snprintf(err, n, "query name \"%s\": expected [a-z][a-z0-9_]*",
			 name);
		return DX_ECONFIG;
	}
	if (find_query(d, name, strlen(name)) >= 0) {
		snprintf(err, n, "query \"%s\" is registered twice", name);
		return -EEXIST;
	}
	if (d->nq >= 65535) {
		snprintf(err, n, "too many queries");
		return -E2BIG;
	}
	for (size_t i = 0; i < ntables; i++)
		if (!ident_ok(tables[i], true)) {
			snprintf(err, n,
				 "query \"%s\": table \"%s\": expected a table "
				 "name (table or schema.table)",
				 name, tables[i]);
			return DX_ECONFIG;
		}
	dbt_query *q = realloc(d->q, (d->nq + 1) * sizeof *q);
	if (!q)
		return -ENOMEM;
	d->q = q;
	q = &d->q[d->nq];
	*q = (dbt_query){.name = strdup(name), .sql = strdup(sql)};
	snprintf(q->stmt, sizeof q->stmt, "dxq%u", d->nq);
	q->tables = calloc(ntables + 1, sizeof *q->tables);
	if (!q->name || !q->sql || !q->tables)
		goto nomem;
	for (size_t i = 0; i < ntables; i++) {
		int id = table_id(d, tables[i]);
		if (id < 0)
			goto nomem;
		bool dup = false;
		for (unsigned j = 0; j < q->ntables; j++)
			dup |= q->tables[j] == (uint32_t)id;
		if (!dup)
			q->tables[q->ntables++] = (uint32_t)id;
	}
	d->nq++;
	return 0;
nomem:
	free(q->name);
	free(q->sql);
	free(q->tables);
	snprintf(err, n, "out of memory");
	return -ENOMEM;
}

/* ---- config ---- */

static int config_queries(dbt *d, const dx_config *cfg)
{
	const dx_host_api *h = d->host;
	static const char *const qkeys[] = {"name", "sql", "tables", NULL};
	const dx_config *qs = h->config_child(h, cfg, "queries");
	if (!qs)
		return h->config_has(h, cfg, "queries") ? DX_ECONFIG : 0;
	size_t nq = h->config_len(h, qs);
	for (size_t i = 0; i < nq; i++) {
		const dx_config *qc = h->config_at(h, qs, i);
		const char *name = NULL, *sql = NULL;
		int rc = h->config_keys(h, qc, qkeys);
		if (rc == 0)
			rc = h->config_str(h, qc, "name", NULL, &name);
		if (rc == 0)
			rc = h->config_str(h, qc, "sql", NULL, &sql);
		if (rc < 0)
			return rc;
		if (!name || !sql)
			return h->config_error(h, qc, name ? "sql" : "name",
					       "missing: every query needs a "
					       "name and its sql");
		const dx_config *tc = h->config_child(h, qc, "tables");
		if (!tc && h->config_has(h, qc, "tables"))
			return DX_ECONFIG;
		size_t nt = tc ? h->config_len(h, tc) : 0;
		const char **tables = calloc(nt + 1, sizeof *tables);
		if (!tables)
			return -ENOMEM;
		for (size_t j = 0; j < nt && rc == 0; j++)
			rc = h->config_str(h, h->config_at(h, tc, j), NULL, NULL,
					   &tables[j]);
		char err[512];
		if (rc == 0) {
			rc = add_query(d, name, sql, tables, nt, err,
				       sizeof err);
			if (rc < 0)
				rc = h->config_error(h, qc, NULL, "%s", err);
		}
		free(tables);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int config_read(dbt *d, const dx_config *cfg)
{
	const dx_host_api *h = d->host;
	static const char *const keys[] = {"conninfo", "channel", "pool",
					   "queries", "install_triggers",
					   NULL};
	const char *conninfo = NULL, *channel = NULL;
	int64_t pool = 0;
	int rc = h->config_keys(h, cfg, keys);
	if (rc == 0)
		rc = h->config_str(h, cfg, "conninfo", NULL, &conninfo);
	if (rc == 0 && !conninfo)
		rc = h->config_error(h, cfg, "conninfo",
				     "missing: a libpq connection string, "
				     "e.g. \"host=/run/postgresql "
				     "dbname=app\"");
	if (rc == 0)
		rc = h->config_str(h, cfg, "channel", "dx_teleport", &channel);
	if (rc == 0 && (!ident_ok(channel, false) || strlen(channel) > 40))
		rc = h->config_error(h, cfg, "channel",
				     "expected a channel name of at most 40 "
				     "letters, digits and _, got \"%s\"",
				     channel);
	if (rc == 0)
		rc = h->config_int(h, cfg, "pool", 2, 1, DBT_POOL_MAX, &pool);
	if (rc == 0)
		rc = h->config_bool(h, cfg, "install_triggers", false,
				    &d->install_triggers);
	if (rc < 0)
		return rc;
	d->conninfo = strdup(conninfo);
	d->channel = strdup(channel);
	d->pool_size = (unsigned)pool;
	if (!d->conninfo || !d->channel)
		return -ENOMEM;
	return config_queries(d, cfg);
}

/* ---- init / fini ---- */

static void dbt_free(dbt *d)
{
	dbt_pg_free(d);
	dbt_replicas_free(d);
	for (unsigned i = 0; i < d->nq; i++) {
		free(d->q[i].name);
		free(d->q[i].sql);
		free(d->q[i].tables);
	}
	for (unsigned i = 0; i < d->nt; i++) {
		free(d->t[i].name);
		free(d->t[i].qualified);
	}
	free(d->q);
	free(d->t);
	free(d->conninfo);
	free(d->channel);
	free(d);
}

static int make_counters(dbt *d)
{
	const dx_host_api *h = d->host;
	d->c_hits = h->counter(h, "hits", "db.get answered from the cache");
	d->c_misses = h->counter(h, "misses", "db.get not in the cache");
	d->c_fills = h->counter(h, "fills", "results stored in the cache");
	d->c_inval = h->counter(h, "invalidations", "tables invalidated");
	d->c_reconn = h->counter(h, "reconnects",
				 "listening connection re-established");
	d->c_coal = h->counter(h, "coalesced_misses",
			       "misses that joined a running query");
	d->c_queries = h->counter(h, "queries", "queries sent to Postgres");
	return d->c_hits && d->c_misses && d->c_fills && d->c_inval &&
			       d->c_reconn && d->c_coal && d->c_queries
		       ? 0
		       : -ENOMEM;
}

static int dbt_init(const dx_host_api *host, const dx_config *config,
		    void **self)
{
	dbt_inst *I = calloc(1, sizeof *I);
	dbt *d = calloc(1, sizeof *d);
	if (!I || !d) {
		free(I);
		free(d);
		return host->fail(host, -ENOMEM, "out of memory");
	}
	*I = (dbt_inst){.host = host, .d = d};
	d->host = host;
	d->ops = &dbt_ops_this;
	d->drv = I;
	atomic_init(&d->refs, 1);
	d->workers = host->worker_count(host);
	if (d->workers == 0)
		d->workers = 1;
	int rc = config_read(d, config);
	if (rc == 0)
		rc = make_counters(d);
	if (rc == 0 && (dbt_map_init(&d->master, 256) < 0 ||
			dbt_map_init(&d->flights, 64) < 0 ||
			dbt_map_init(&d->subs, 64) < 0 ||
			!(d->rep = calloc(d->workers, sizeof *d->rep))))
		rc = host->fail(host, -ENOMEM, "out of memory");
	for (unsigned w = 0; rc == 0 && d->rep && w < d->workers; w++)
		if (dbt_map_init(&d->rep[w].map, 256) < 0)
			rc = host->fail(host, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = dbt_connect_all(d, config);
	/* A dry run has no connection to hand over (and no workers run). */
	bool dry = dbt_dry_run(d);
	if (rc == 0 && !dry &&
	    (rc = host->post(host, DBT_DB_WORKER, dbt_pg_start, d)) < 0)
		host->fail(host, rc, "cannot reach worker %d", DBT_DB_WORKER);
	if (rc < 0) {
		dbt_free(d);
		free(I);
		return rc;
	}
	if (dry)
		host->log(host, DX_LOG_INFO,
			  "--check: %u quer%s prepared, %u table%s, channel "
			  "%s%s; nothing changed in the database",
			  d->nq, d->nq == 1 ? "y" : "ies", d->nt,
			  d->nt == 1 ? "" : "s", d->channel,
			  d->install_triggers ? ", triggers would install"
					      : "");
	else
		host->log(host, DX_LOG_INFO,
			  "%u quer%s, %u table%s, pool %u, listening on "
			  "channel %s%s",
			  d->nq, d->nq == 1 ? "y" : "ies", d->nt,
			  d->nt == 1 ? "" : "s", d->pool_size, d->channel,
			  d->install_triggers ? ", triggers installed" : "");
	*self = I;
	return 0;
}

static void dbt_fini(void *self)
{
	dbt_inst_fini(self, dbt_free);
}

/* ---- routes ---- */

/* Parse a db.get / db.subscribe body (dx_db_body_split and friends,
 * dx/db_teleport.h): 1 with the query and its parameter part (the cache
 * key's tail), or an error answered in res. */
static int parse_body(dbt *d, const dx_request *req, dx_response *res,
		      uint16_t *qidx, const uint8_t **params, size_t *plen)
{
	dx_db_body b;
	if (dx_db_body_split(req->body, req->body_len, &b) < 0)
		return dx_response_error(res, 400,
					 "%s: the body is u8 name_len, name, "
					 "u8 nparams, then u16 len + bytes "
					 "per parameter",
					 req->route_name);
	int q = find_query(d, b.name, b.name_len);
	if (q < 0)
		return dx_response_error(res, 404, "no query \"%.*s\"",
					 (int)b.name_len, b.name);
	int np = dx_db_params_check(b.params, b.params_len);
	if (np < 0)
		return dx_response_error(
			res, 400,
			"%s: malformed parameters for query "
			"%s (u16 len + bytes each, 0xFFFF for "
			"NULL, no NUL bytes, nothing after the "
			"last)",
			req->route_name, d->q[q].name);
	if ((unsigned)np != d->q[q].nparams)
		return dx_response_error(
			res, 400, "query %s takes %u parameter%s, got %d",
			d->q[q].name, d->q[q].nparams,
			d->q[q].nparams == 1 ? "" : "s", np);
	*qidx = (uint16_t)q;
	*params = b.params;
	*plen = b.params_len;
	return 1;
}

static void fail_later(void *arg)
{
	dbt_waiter *w = arg;
	dbt_waiter_answer(w->host, w, NULL, 503,
			  "db_teleport is shutting down");
}

/* Send the miss to the db worker; the waiter is answered from there. */
static int post_miss(dbt_inst *I, dbt_waiter *w, uint16_t qidx,
		     const uint8_t *params, size_t plen)
{
	dbt *d = I->d;
	dbt_miss *m = malloc(sizeof *m + plen);
	if (!m)
		return -ENOMEM;
	*m = (dbt_miss){.d = d, .w = w, .qidx = qidx, .plen = (uint32_t)plen};
	memcpy(m->params, params, plen);
	I->host->counter_add(d->c_misses, 1);
	if (I->host->post(I->host, DBT_DB_WORKER, dbt_pg_miss, m) < 0) {
		free(m);
		return -EPIPE;
	}
	return 0;
}

static int get_call(void *self, const dx_request *req, dx_response *res)
{
	dbt_inst *I = self;
	dbt *d = I->d;
	const dx_host_api *h = I->host;
	uint16_t qidx;
	const uint8_t *params;
	size_t plen;
	int rc = parse_body(d, req, res, &qidx, &params, &plen);
	if (rc <= 0)
		return rc;
	/* A hit: this worker's replica, no lock, no reference needed (only
	 * this thread ever changes it). */
	if (req->worker >= 0 && (unsigned)req->worker < d->workers) {
		dbt_entry *e = dbt_map_get(&d->rep[req->worker].map,
					   dbt_hash(qidx, params, plen), qidx,
					   params, plen);
		if (e) {
			const dbt_result *r = e->val;
			h->counter_add(d->c_hits, 1);
			return dx_response_write(res, r->pub.data, r->pub.len);
		}
	}
	dbt_waiter *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	*w = (dbt_waiter){.kind = W_ROUTE, .worker = req->worker, .d = d,
			  .host = h};
	if (!(w->pending = h->defer(h, req))) {
		free(w);
		return -ENOMEM;
	}
	if (post_miss(I, w, qidx, params, plen) < 0 &&
	    h->timer(h, 0, fail_later, w) < 0)
		free(w); /* cannot happen on a worker short of ENOMEM */
	return DX_PENDING;
}

void dbt_sub_on_close(void *arg)
{
	dbt_closer *k = arg;
	dbt_sub *s = k->s;
	s->closed = true;
	/* Registered (or about to be): the db worker unlinks and ends it.
	 * If that post fails the host is stopping and fini ends it. */
	if (s->posted)
		k->inst->host->post(k->inst->host, DBT_DB_WORKER,
				    dbt_pg_sub_close, s);
}

static int subscribe_call(void *self, const dx_request *req,
			  dx_response *res)
{
	dbt_inst *I = self;
	dbt *d = I->d;
	const dx_host_api *h = I->host;
	uint16_t qidx;
	const uint8_t *params;
	size_t plen;
	int rc = parse_body(d, req, res, &qidx, &params, &plen);
	if (rc <= 0)
		return rc;
	dbt_sub *s = calloc(1, sizeof *s);
	dbt_closer *k = malloc(sizeof *k);
	if (!s || !k || !(s->params = malloc(plen))) {
		free(s);
		free(k);
		return -ENOMEM;
	}
	*s = (dbt_sub){.d = d, .worker = req->worker, .qidx = qidx,
		       .plen = (uint32_t)plen, .params = s->params,
		       .closer = k};
	*k = (dbt_closer){.inst = I, .s = s};
	memcpy(s->params, params, plen);
	if (!(s->stream = h->stream(h, req, dbt_sub_on_close, k))) {
		dbt_sub_free(s);
		return -ENOMEM;
	}
	dbt_result *hit = dbt_replica_get(d, req->worker, qidx, params, plen);
	if (hit) {
		h->counter_add(d->c_hits, 1);
		rc = dx_response_write(res, hit->pub.data, hit->pub.len);
		s->last = hit;
		s->posted = true;
		if (h->post(h, DBT_DB_WORKER, dbt_pg_sub_add, s) < 0) {
			h->stream_end(h, s->stream);
			dbt_sub_free(s);
		}
		return rc;
	}
	dbt_waiter *w = calloc(1, sizeof *w);
	if (!w || !(w->pending = h->defer(h, req))) {
		free(w);
		h->stream_end(h, s->stream);
		dbt_sub_free(s);
		return -ENOMEM;
	}
	w->kind = W_SUB;
	w->worker = req->worker;
	w->d = d;
	w->host = h;
	w->sub = s;
	if (post_miss(I, w, qidx, params, plen) < 0)
		h->timer(h, 0, fail_later, w);
	return DX_PENDING;
}

static void stats_fill(dbt_inst *I, dx_db_stats *o)
{
	const dx_host_api *h = I->host;
	const dbt *d = I->d;
	dx_db_stats s = {
		.size = o->size,
		.hits = h->counter_get(d->c_hits),
		.misses = h->counter_get(d->c_misses),
		.fills = h->counter_get(d->c_fills),
		.invalidations = h->counter_get(d->c_inval),
		.reconnects = h->counter_get(d->c_reconn),
		.coalesced = h->counter_get(d->c_coal),
		.queries = h->counter_get(d->c_queries),
	};
	size_t n = o->size < sizeof s ? o->size : sizeof s;
	memcpy(o, &s, n);
}

static int stats_call(void *self, const dx_request *req, dx_response *res)
{
	(void)req;
	dx_db_stats s = {.size = sizeof s};
	stats_fill(self, &s);
	return dx_response_printf(
		res,
		"{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
		",\"fills\":%" PRIu64 ",\"invalidations\":%" PRIu64
		",\"reconnects\":%" PRIu64 ",\"coalesced_misses\":%" PRIu64
		",\"queries\":%" PRIu64 "}",
		s.hits, s.misses, s.fills, s.invalidations, s.reconnects,
		s.coalesced, s.queries);
}

/* ---- the SERVICE vtable ---- */

static int svc_register(void *self, const char *name, const char *sql,
			const char *const *tables, size_t ntables)
{
	dbt_inst *I = self;
	dbt *d = I->d;
	char err[512];
	if (d->started || I->host->worker_id(I->host) >= 0)
		return I->host->fail(I->host, DX_ESTATE,
				     "register_query(%s): only during init",
				     name);
	unsigned q0 = d->nq, t0 = d->nt;
	int rc = add_query(d, name, sql, tables, ntables, err, sizeof err);
	if (rc < 0)
		return I->host->fail(I->host, rc, "%s", err);
	return dbt_setup_new(d, q0, t0, NULL);
}

static int svc_get(void *self, const char *query, const char *const *params,
		   unsigned nparams, dx_db_done_fn done, void *arg,
		   const dx_db_result **out)
{
	dbt_inst *I = self;
	dbt *d = I->d;
	const dx_host_api *h = I->host;
	int q = find_query(d, query, strlen(query));
	if (q < 0)
		return -ENOENT;
	if (nparams != d->q[q].nparams)
		return -EINVAL;
	uint8_t stack[512], *key = stack;
	size_t need = dx_db_params_size(params, nparams);
	if (need > sizeof stack && !(key = malloc(need)))
		return -ENOMEM;
	long n = dx_db_params_encode(key, need, params, nparams);
	if (n < 0) {
		if (key != stack)
			free(key);
		return (int)n; /* -EINVAL: a parameter too long */
	}
	int rc = DX_PENDING;
	int worker = h->worker_id(h);
	dbt_result *hit =
		dbt_replica_get(d, worker, (uint16_t)q, key, (size_t)n);
	if (hit) {
		h->counter_add(d->c_hits, 1);
		*out = &hit->pub;
		rc = 0;
	} else {
		dbt_waiter *w = calloc(1, sizeof *w);
		if (w)
			*w = (dbt_waiter){.kind = W_SERVICE, .worker = worker,
					  .done = done, .arg = arg, .d = d,
					  .host = h};
		if (!w)
			rc = -ENOMEM;
		else if (post_miss(I, w, (uint16_t)q, key, (size_t)n) < 0) {
			free(w);
			rc = DX_ESTATE;
		}
	}
	if (key != stack)
		free(key);
	return rc;
}

static void svc_release(void *self, const dx_db_result *res)
{
	(void)self;
	dbt_result_unref((dbt_result *)(uintptr_t)res);
}

static int svc_invalidate(void *self, const char *table)
{
	dbt_inst *I = self;
	dbt *d = I->d;
	dbt_inval *iv = malloc(sizeof *iv + (d->nt + 1) * sizeof(uint32_t));
	if (!iv)
		return -ENOMEM;
	*iv = (dbt_inval){.d = d};
	for (unsigned i = 0; i < d->nt; i++)
		if (strcmp(d->t[i].name, table) == 0 ||
		    strcmp(d->t[i].qualified, table) == 0)
			iv->tables[iv->n++] = i;
	int rc = iv->n ? I->host->post(I->host, DBT_DB_WORKER,
				       dbt_pg_invalidate, iv)
		       : -ENOENT;
	if (rc < 0)
		free(iv);
	return rc;
}

static void svc_stats(void *self, dx_db_stats *out)
{
	stats_fill(self, out);
}

static const dx_db_service dbt_service = {
	.size = sizeof(dx_db_service),
	.register_query = svc_register,
	.get = svc_get,
	.release = svc_release,
	.invalidate_table = svc_invalidate,
	.stats = svc_stats,
};

static const dx_route dbt_routes[] = {
	{.id = DX_DB_ROUTE_GET, .name = "db.get", .call = get_call},
	{.id = DX_DB_ROUTE_SUBSCRIBE, .name = "db.subscribe",
	 .call = subscribe_call},
	{.id = DX_DB_ROUTE_STATS, .name = "db.stats", .call = stats_call},
};
static const dx_routes_vtable dbt_routes_vt = DX_ROUTES(dbt_routes);

static const dx_facet dbt_facets[] = {
	{DX_FACET_SERVICE, DX_DB_SERVICE, &dbt_service},
	{DX_FACET_ROUTES, "db_teleport", &dbt_routes_vt},
};

DX_PLUGIN(.name = "db_teleport", .version = DBT_VERSION,
	  .description = "PostgreSQL query cache kept fresh by LISTEN/NOTIFY",
	  DX_FACETS(dbt_facets), .init = dbt_init, .fini = dbt_fini,
	  .handoff_export = dbt_handoff_export,
	  .handoff_import = dbt_handoff_import, .retire = dbt_retire)
