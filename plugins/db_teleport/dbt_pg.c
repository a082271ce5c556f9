/* dbt_pg.c - the database worker's connections: libpq on the host's loop
 * (the query pool and the listener), notifications and the invalidations
 * they cause, reconnects. The fills the pool runs, their waiters and the
 * subscribers are dbt_fill.c's.
 *
 * Everything here runs on the database worker's thread (DBT_DB_WORKER),
 * except the blocking helpers init uses before the workers exist. libpq
 * is in non-blocking mode: every socket is watched (the fd is looked up
 * again after each connect step, since libpq may hand back another one),
 * sends are flushed with PQflush (POLLOUT while it returns 1), reads are
 * PQconsumeInput, then PQgetResult while !PQisBusy, then PQnotifies. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dx/io.h>

#include "dbt.h"

static void conn_connect(dbt_conn *c);

/* libpq's message without its trailing newline. */
static void conn_err(dbt_conn *c, const char *what)
{
	const char *m = c->pg ? PQerrorMessage(c->pg) : "out of memory";
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	snprintf(c->err, sizeof c->err, "%s%s%.*s", what ? what : "",
		 what && n ? ": " : "", (int)n, m);
	if (!c->err[0])
		snprintf(c->err, sizeof c->err, "connection lost");
	snprintf(c->d->last_err, sizeof c->d->last_err, "%s", c->err);
}

static void on_conn_io(void *arg, uint32_t revents);

/* Watch c's current socket for ev (no-op when already so).
 *
 * We watch a dup of libpq's socket, never libpq's own fd: libpq closes
 * its fd by itself when a connection fails (inside PQconsumeInput or
 * PQconnectPoll), before we can unwatch it. Our dup stays open until
 * conn_close has unwatched it. While connecting, libpq may also swap
 * sockets (the next address), so the socket's identity is checked then
 * (check). Every watch gets a new dup. */
static int conn_watch_ex(dbt_conn *c, uint32_t ev, bool check)
{
	const dx_host_api *h = c->d->host;
	int pgfd = PQsocket(c->pg);
	struct stat st;
	bool same = c->fd >= 0 && pgfd == c->pgfd;
	if (same && check)
		same = fstat(pgfd, &st) == 0 && (uint64_t)st.st_ino == c->ino &&
		       (uint64_t)st.st_dev == c->dev;
	if (same && c->watch && c->events == ev)
		return 0;
	if (c->watch)
		h->unwatch(h, c->watch);
	c->watch = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (pgfd < 0)
		return -EBADF;
	if ((c->fd = fcntl(pgfd, F_DUPFD_CLOEXEC, 0)) < 0 ||
	    fstat(c->fd, &st) < 0)
		return -errno;
	c->pgfd = pgfd;
	c->ino = (uint64_t)st.st_ino;
	c->dev = (uint64_t)st.st_dev;
	c->events = ev;
	if ((c->watch = h->watch(h, c->fd, ev, on_conn_io, c)))
		return 0;
	int rc = -errno;
	close(c->fd);
	c->fd = -1;
	return rc;
}

static int conn_watch(dbt_conn *c, uint32_t ev)
{
	return conn_watch_ex(c, ev, false);
}

static void conn_close(dbt_conn *c)
{
	if (c->watch)
		c->d->host->unwatch(c->d->host, c->watch);
	c->watch = NULL;
	if (c->res)
		PQclear(c->res);
	c->res = NULL;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->pgfd = -1;
	c->state = c->listener ? LS_DOWN : PC_DOWN;
}

/* A reconnect timer (arg: the connection). It holds the instance whose
 * code armed it (the host's hold, through d->host); once that code no
 * longer drives d (taken over, or retired: d dead) it fires without
 * re-arming, so the hold ends within the longest backoff. */
static void conn_retry(void *arg)
{
	dbt_conn *c = arg;
	const dx_host_api *h = c->d->host;
	/* Not the driver's code any more: the new driver armed a timer of
	 * its own for this connection when it took over. */
	if (!dbt_driving(c->d))
		return;
	c->timer = false;
	/* Early: the host is draining and runs every pending timer now.
	 * Reconnecting would only arm another timer, run at once again. */
	if (h->now_ns(h, DX_CLOCK_MONOTONIC) + 1000000 >= c->due_ns && !c->pg)
		conn_connect(c);
}

static int conn_timer(dbt_conn *c, uint64_t delay)
{
	return c->d->host->timer(c->d->host, delay, conn_retry, c);
}

/* Try again later: capped exponential backoff. */
static void conn_schedule(dbt_conn *c)
{
	if (c->timer)
		return;
	uint64_t delay = c->backoff_ns ? c->backoff_ns : DBT_BACKOFF_MIN_NS;
	c->backoff_ns = delay * 2 > DBT_BACKOFF_MAX_NS ? DBT_BACKOFF_MAX_NS
						       : delay * 2;
	const dx_host_api *h = c->d->host;
	c->due_ns = h->now_ns(h, DX_CLOCK_MONOTONIC) + delay;
	if (conn_timer(c, delay) == 0)
		c->timer = true;
}

/* Send what libpq buffered; watch for POLLOUT while it could not. */
static int conn_flush(dbt_conn *c)
{
	int f = PQflush(c->pg);
	if (f < 0)
		return -EIO;
	return conn_watch(c, DX_IO_POLLIN | (f ? DX_IO_POLLOUT : 0));
}

/* The parameters of a key as C strings for libpq: one block, the pointers
 * then the strings (dx_db_params_decode: plen bytes hold them). NULL on
 * ENOMEM; the key was checked when it came in, so it decodes. */
static const char **key_params(const dbt_entry *e, unsigned *n)
{
	unsigned np = e->plen ? e->params[0] : 0;
	const char **v = calloc(1, sizeof(char *) * (np + 1) + e->plen);
	if (!v)
		return NULL;
	int rc = dx_db_params_decode(e->params, e->plen, v, np,
				     (char *)(v + np + 1), e->plen);
	if (rc < 0) {
		free(v);
		return NULL;
	}
	*n = (unsigned)rc;
	return v;
}

static void pool_failed(dbt_conn *c, const char *what);

/* Send f's query on the idle connection c. */
static void flight_send(dbt_conn *c, dbt_flight *f)
{
	dbt *d = c->d;
	const dbt_query *q = &d->q[f->qidx];
	for (unsigned i = 0; i < q->ntables; i++)
		f->epochs[i] = d->t[q->tables[i]].epoch;
	f->gen = d->gen;
	f->sent = true;
	f->tries++;
	c->fl = f;
	c->state = PC_BUSY;
	unsigned n;
	const char **v = key_params(f->e, &n);
	if (!v) {
		c->fl = NULL;
		c->state = PC_IDLE;
		dbt_flight_fail(d, f, 500, "out of memory");
		return;
	}
	int ok = PQsendQueryPrepared(c->pg, q->stmt, (int)n, v, NULL, NULL, 0);
	free(v);
	d->host->counter_add(d->c_queries, 1);
	if (!ok || conn_flush(c) < 0)
		pool_failed(c, "sending the query");
}

static bool pool_usable(const dbt *d)
{
	for (unsigned i = 0; i < d->pool_size; i++)
		if (d->pool[i].state != PC_DOWN)
			return true;
	return false;
}

/* Give queued flights to idle connections; with no connection left that
 * could ever take them, answer 503. */
void dbt_pool_pump(dbt *d)
{
	for (unsigned i = 0; i < d->pool_size && d->queue; i++) {
		dbt_conn *c = &d->pool[i];
		if (c->state != PC_IDLE)
			continue;
		dbt_flight *f = d->queue;
		d->queue = f->qnext;
		if (!d->queue)
			d->queue_tail = NULL;
		f->qnext = NULL;
		flight_send(c, f);
	}
	if (d->queue && !pool_usable(d)) {
		char msg[400];
		snprintf(msg, sizeof msg, "database unavailable: %s",
			 d->last_err[0] ? d->last_err : "no connection");
		while (d->queue) {
			dbt_flight *f = d->queue;
			d->queue = f->qnext;
			dbt_flight_fail(d, f, 503, msg);
		}
		d->queue_tail = NULL;
	}
}

/* ---- pool connections ---- */

static void pool_failed(dbt_conn *c, const char *what)
{
	dbt *d = c->d;
	conn_err(c, what);
	d->host->log(d->host, DX_LOG_WARN, "query connection lost: %s",
		     c->err);
	dbt_flight *f = c->fl;
	c->fl = NULL;
	conn_close(c);
	conn_schedule(c);
	if (f) {
		/* Another connection may still be fine: one more try. */
		if (f->tries < 2) {
			dbt_queue_push(d, f, true);
		} else {
			char msg[400];
			snprintf(msg, sizeof msg, "database unavailable: %s",
				 c->err);
			dbt_flight_fail(d, f, 503, msg);
		}
	}
	dbt_pool_pump(d);
}

static void pool_prepare_next(dbt_conn *c)
{
	dbt *d = c->d;
	if (c->prep >= d->nq) {
		c->state = PC_IDLE;
		c->backoff_ns = 0;
		dbt_pool_pump(d);
		return;
	}
	const dbt_query *q = &d->q[c->prep];
	if (!PQsendPrepare(c->pg, q->stmt, q->sql, 0, NULL) ||
	    conn_flush(c) < 0)
		pool_failed(c, "preparing");
}

/* The current command finished (PQgetResult gave NULL). */
static void pool_command_done(dbt_conn *c)
{
	PGresult *r = c->res;
	c->res = NULL;
	if (c->state == PC_PREPARING) {
		bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok) {
			dbt *d = c->d;
			d->host->log(d->host, DX_LOG_ERROR,
				     "query %s no longer prepares: %s",
				     d->q[c->prep].name,
				     r ? PQresultErrorMessage(r) : "no result");
			PQclear(r);
			pool_failed(c, "preparing");
			return;
		}
		PQclear(r);
		c->prep++;
		pool_prepare_next(c);
		return;
	}
	if (c->state == PC_BUSY) {
		dbt_flight *f = c->fl;
		c->fl = NULL;
		c->state = PC_IDLE;
		if (f && r)
			dbt_flight_done(c->d, f, r);
		else if (f)
			dbt_flight_fail(c->d, f, 500, "no result");
		PQclear(r);
		dbt_pool_pump(c->d);
		return;
	}
	PQclear(r);
}

static void pool_read(dbt_conn *c)
{
	if (!PQconsumeInput(c->pg)) {
		pool_failed(c, NULL);
		return;
	}
	while (c->pg && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			pool_command_done(c);
			return;
		}
		if (!c->res)
			c->res = r; /* the first: the one that counts */
		else
			PQclear(r);
	}
}

/* ---- the listening connection ---- */

/* Drop everything cached: notifications are not durable, so what we
 * hold may be stale by now. */
static void unref_val(void *ud, void *val)
{
	(void)ud;
	dbt_result_unref(val);
}

static void cache_drop_all(dbt *d)
{
	dbt_map_sweep(&d->master, NULL, unref_val, NULL);
	dbt_replicas_drop(d, NULL);
}

/* Drop the master's entries of the queries in drop (NULL: all), and the
 * replicas' only when the master had any: a replica holds only what the
 * master holds (dbt_flight_done puts both or neither), so there is
 * nothing to post otherwise. That also keeps a core nobody reads yet (a
 * reload's new instance before its import) from posting to workers. */
static void cache_drop(dbt *d, const bool *drop)
{
	size_t before = d->master.count;
	dbt_map_sweep(&d->master, drop, unref_val, NULL);
	if (d->master.count != before)
		dbt_replicas_drop(d, drop);
}

static void listen_failed(dbt_conn *c, const char *what)
{
	dbt *d = c->d;
	conn_err(c, what);
	if (d->cache_ok)
		d->host->log(d->host, DX_LOG_WARN,
			     "listening connection lost (%s): cache dropped, "
			     "reads go to the database, reconnecting",
			     c->err);
	d->cache_ok = false;
	d->gen++;
	cache_drop(d, NULL);
	conn_close(c);
	conn_schedule(c);
}

/* Refresh every subscribed key (the listener came back: anything may
 * have changed meanwhile). */
static void subs_refresh_all(dbt *d, const bool *only)
{
	for (size_t i = 0; i < d->subs.nb; i++)
		for (dbt_entry *e = d->subs.b[i]; e; e = e->next) {
			if (only && !only[e->qidx])
				continue;
			dbt_entry *fe = dbt_map_get(&d->flights, e->hash,
						    e->qidx, e->params,
						    e->plen);
			if (fe) {
				dbt_flight *f = fe->val;
				if (f->sent)
					f->again = true;
			} else {
				dbt_flight_start_key(d, e->qidx, e->params,
						     e->plen, e->hash, NULL);
			}
		}
}

static void listen_up(dbt_conn *c)
{
	dbt *d = c->d;
	c->state = LS_UP;
	c->backoff_ns = 0;
	d->gen++;
	d->cache_ok = true;
	if (c->was_up) {
		d->host->counter_add(d->c_reconn, 1);
		d->host->log(d->host, DX_LOG_INFO,
			     "listening again on channel %s", d->channel);
	}
	c->was_up = true;
	subs_refresh_all(d, NULL);
}

/* Invalidate the tables flagged in dirty: one pass for the whole batch. */
static void invalidate(dbt *d, const bool *dirty)
{
	bool *drop = calloc(d->nq + 1, 1);
	if (!drop) {
		cache_drop_all(d); /* coarse, but never stale */
		return;
	}
	for (unsigned t = 0; t < d->nt; t++)
		if (dirty[t]) {
			d->t[t].epoch++;
			d->host->counter_add(d->c_inval, 1);
		}
	for (unsigned q = 0; q < d->nq; q++)
		for (unsigned i = 0; i < d->q[q].ntables; i++)
			drop[q] |= dirty[d->q[q].tables[i]];
	cache_drop(d, drop);
	subs_refresh_all(d, drop);
	free(drop);
}

static void listen_read(dbt_conn *c)
{
	dbt *d = c->d;
	if (!PQconsumeInput(c->pg)) {
		listen_failed(c, NULL);
		return;
	}
	while (!PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			if (c->state == LS_LISTENING) {
				bool ok = c->res && PQresultStatus(c->res) ==
							    PGRES_COMMAND_OK;
				if (!ok) {
					listen_failed(c, "LISTEN");
					return;
				}
				PQclear(c->res);
				c->res = NULL;
				listen_up(c);
			}
			break;
		}
		if (c->state == LS_LISTENING && !c->res)
			c->res = r;
		else
			PQclear(r);
	}
	/* A burst of notifications is coalesced: each table once per read. */
	bool *dirty = NULL;
	PGnotify *n;
	while ((n = PQnotifies(c->pg))) {
		for (unsigned t = 0; t < d->nt; t++)
			if (strcmp(d->t[t].name, n->extra) == 0) {
				if (!dirty)
					dirty = calloc(d->nt + 1, 1);
				if (dirty)
					dirty[t] = true;
				else
					cache_drop_all(d);
			}
		PQfreemem(n);
	}
	if (dirty && c->state == LS_UP)
		invalidate(d, dirty);
	free(dirty);
}

static void listen_connected(dbt_conn *c)
{
	dbt *d = c->d;
	char *id = PQescapeIdentifier(c->pg, d->channel, strlen(d->channel));
	char sql[512];
	snprintf(sql, sizeof sql, "LISTEN %s", id ? id : "dx_teleport");
	PQfreemem(id);
	c->state = LS_LISTENING;
	if (!PQsendQuery(c->pg, sql) || conn_flush(c) < 0)
		listen_failed(c, "LISTEN");
}

/* ---- connecting ---- */

static void conn_failed(dbt_conn *c, const char *what)
{
	if (c->listener)
		listen_failed(c, what);
	else
		pool_failed(c, what);
}

static void conn_connected(dbt_conn *c)
{
	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_failed(c, "non-blocking mode");
		return;
	}
	if (c->listener) {
		listen_connected(c);
		return;
	}
	c->state = PC_PREPARING;
	c->prep = 0;
	pool_prepare_next(c);
}

static void conn_poll(dbt_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		if (conn_watch_ex(c, DX_IO_POLLIN, true) < 0)
			conn_failed(c, "watching the socket");
		break;
	case PGRES_POLLING_WRITING:
		if (conn_watch_ex(c, DX_IO_POLLOUT, true) < 0)
			conn_failed(c, "watching the socket");
		break;
	case PGRES_POLLING_OK:
		conn_connected(c);
		break;
	default:
		conn_failed(c, NULL);
		break;
	}
}

static void conn_connect(dbt_conn *c)
{
	char app[64];
	dbt_appname(app, sizeof app, c->listener);
	const char *kw[] = {"dbname", "application_name", NULL};
	const char *val[] = {c->d->conninfo, app, NULL};
	c->pg = PQconnectStartParams(kw, val, 1);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_failed(c, NULL);
		return;
	}
	c->state = c->listener ? LS_CONNECTING : PC_CONNECTING;
	/* libpq: start as if PQconnectPoll had said POLLING_WRITING. */
	if (conn_watch_ex(c, DX_IO_POLLOUT, true) < 0)
		conn_failed(c, "watching the socket");
}

/* Whether fd has more for us right now (or is at EOF / in error). */
static bool fd_ready(int fd, uint32_t events)
{
	struct pollfd p = {.fd = fd};
	p.events = (short)((events & DX_IO_POLLIN ? POLLIN : 0) |
			   (events & DX_IO_POLLOUT ? POLLOUT : 0));
	return fd >= 0 && poll(&p, 1, 0) == 1 && p.revents;
}

static void conn_continue(void *arg);

/* The watch is edge-triggered (dx/plugin.h: consume until EAGAIN), and
 * libpq reads at most one buffer per call: go round while the socket still
 * has something, then, past a budget, carry on in a later loop turn so one
 * busy connection cannot starve the worker's clients. */
static void conn_io(dbt_conn *c, uint32_t revents)
{
	for (int round = 0; round < 32; round++) {
		if (!c->pg)
			return;
		if (c->state == (c->listener ? LS_CONNECTING : PC_CONNECTING)) {
			conn_poll(c);
			if (!c->pg)
				return;
			if (c->state ==
			    (c->listener ? LS_CONNECTING : PC_CONNECTING)) {
				if (!fd_ready(c->fd, c->events))
					return;
				continue;
			}
			revents = DX_IO_POLLIN; /* connected: read what came */
		}
		if ((revents & DX_IO_POLLOUT) && conn_flush(c) < 0) {
			conn_failed(c, NULL);
			return;
		}
		if (c->listener)
			listen_read(c);
		else
			pool_read(c);
		if (!c->pg || !fd_ready(c->fd, DX_IO_POLLIN))
			return;
		revents = DX_IO_POLLIN;
	}
	if (c->d->host->post(c->d->host, DBT_DB_WORKER, conn_continue, c) < 0)
		return; /* draining */
}

static void conn_continue(void *arg)
{
	dbt_conn *c = arg;
	/* Another build drives now: it read the socket when it took over. */
	if (dbt_driving(c->d) && c->pg && c->state != (c->listener ? LS_CONNECTING : PC_CONNECTING))
		conn_io(c, DX_IO_POLLIN);
}

static void on_conn_io(void *arg, uint32_t revents)
{
	dbt_conn *c = arg;
	if (dbt_driving(c->d)) /* always: a takeover unwatches first */
		conn_io(c, revents);
}

/* ---- start, requests from other workers ---- */

void dbt_pg_start(void *arg)
{
	dbt *d = arg;
	if (d->dead)
		return;
	d->started = true;
	d->gen = 1;
	dbt_conn *l = &d->listen;
	if (PQsetnonblocking(l->pg, 1) != 0 || conn_watch(l, DX_IO_POLLIN) < 0)
		listen_failed(l, "watching the socket");
	else {
		l->state = LS_UP;
		l->was_up = true;
		d->cache_ok = true;
		listen_read(l); /* anything already buffered */
	}
	for (unsigned i = 0; i < d->pool_size; i++) {
		dbt_conn *c = &d->pool[i];
		if (PQsetnonblocking(c->pg, 1) != 0 ||
		    conn_watch(c, DX_IO_POLLIN) < 0)
			pool_failed(c, "watching the socket");
		else
			c->state = PC_IDLE;
	}
}

void dbt_pg_invalidate(void *arg)
{
	dbt_inval *iv = arg;
	dbt *d = iv->d;
	if (d->ops != &dbt_ops_this) {
		d->ops->invalidate(arg);
		return;
	}
	if (d->dead) { /* out of service: nothing cached to drop */
		free(iv);
		return;
	}
	bool *dirty = calloc(d->nt + 1, 1);
	if (dirty) {
		for (unsigned i = 0; i < iv->n; i++)
			dirty[iv->tables[i]] = true;
		invalidate(d, dirty);
	} else {
		cache_drop_all(d);
	}
	free(dirty);
	free(iv);
}

/* ---- handoff (dbt_handoff.c) ---- */

/* Every connection init made, whatever its state. */
static dbt_conn *conn_at(dbt *d, unsigned i)
{
	dbt_conn *c = i == 0 ? &d->listen : &d->pool[i - 1];
	return c->d ? c : NULL;
}

void dbt_pg_close_all(dbt *d)
{
	d->dead = true;
	d->cache_ok = false;
	for (unsigned i = 0; i <= d->pool_size; i++) {
		dbt_conn *c = conn_at(d, i);
		if (!c)
			continue;
		conn_close(c); /* a pending timer finds d dead */
		c->fl = NULL;  /* its flight stays in d->flights */
	}
}

void dbt_pg_take_conns(dbt *d)
{
	const dx_host_api *h = d->host;
	for (unsigned i = 0; i <= d->pool_size; i++) {
		dbt_conn *c = conn_at(d, i);
		if (!c)
			continue;
		/* The old driver's watch calls the old code: ours instead
		 * (conn_watch_ex makes a new one once there is none). Data
		 * that came meanwhile waits in the socket. */
		if (c->watch) {
			h->unwatch(h, c->watch);
			c->watch = NULL;
			if (conn_watch_ex(c, c->events, false) < 0) {
				conn_failed(c, "watching the socket");
				continue;
			}
		}
		/* Its timer, when it fires, sees it no longer drives. */
		if (c->timer) {
			uint64_t now = h->now_ns(h, DX_CLOCK_MONOTONIC);
			if (conn_timer(c, c->due_ns > now ? c->due_ns - now
							  : 0) < 0)
				c->timer = false;
		}
	}
	for (unsigned i = 0; i <= d->pool_size; i++) {
		dbt_conn *c = conn_at(d, i);
		if (c && c->pg &&
		    c->state != (c->listener ? LS_CONNECTING : PC_CONNECTING))
			conn_io(c, c->events ? c->events : DX_IO_POLLIN);
	}
	dbt_pool_pump(d);
}

/* ---- fini ---- */

void dbt_pg_free(dbt *d)
{
	/* Either the workers have stopped (the host's shutdown) and the
	 * watches ended with them, or retire closed every connection on the
	 * database worker before the host let fini run (dbt_retire.c): never
	 * unwatch here. A connection init never reached has no d (and fd 0
	 * from calloc). */
	if (d->listen.d) {
		d->listen.watch = NULL;
		conn_close(&d->listen);
	}
	for (unsigned i = 0; i < d->pool_size; i++)
		if (d->pool[i].d) {
			d->pool[i].watch = NULL;
			conn_close(&d->pool[i]);
		}
	if (d->master.b)
		dbt_map_free(&d->master, unref_val, NULL);
	if (d->flights.b)
		dbt_map_free(&d->flights, dbt_free_flight, d);
	if (d->subs.b)
		dbt_map_free(&d->subs, dbt_free_subkey, d);
	d->queue = d->queue_tail = NULL;
}
