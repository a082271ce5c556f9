/* dbt_fill.c - fills on the database worker: the waiters of a miss,
 * single flight per key with table epochs, the queue the pool takes
 * queries from, subscribers and what they are pushed, and the requests
 * other workers post (misses, subscriptions).
 *
 * Everything here runs on the database worker's thread (DBT_DB_WORKER);
 * dbt_waiter_answer hands answers back to the caller's worker. dbt_pg.c
 * owns the connections that run the queries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/hbtp.h>

#include "dbt.h"

/* ---- waiters ---- */

static void waiter_free(dbt_waiter *w)
{
	dbt_result_unref(w->res);
	free(w->msg);
	free(w);
}

/* On the caller's worker: call the service's done. */
static void waiter_deliver(void *arg)
{
	dbt_waiter *w = arg;
	const dx_db_result *r = w->res ? &w->res->pub : NULL;
	w->res = NULL; /* the callee's now */
	w->done(w->arg, r, w->status, w->msg ? w->msg : "");
	waiter_free(w);
}

void dbt_sub_free(dbt_sub *s)
{
	dbt_result_unref(s->last);
	free(s->closer);
	free(s->params);
	free(s);
}

/* On the stream's worker: answer the subscribe call, then register the
 * subscriber with the db worker. Answering here, on the connection's own
 * thread, puts the RpcResponse out before any StateSync the db worker
 * sends after the registration. */
static void sub_answer(void *arg)
{
	dbt_waiter *w = arg;
	dbt_sub *s = w->sub;
	const dx_host_api *h = w->host;
	if (w->res)
		h->complete(h, w->pending, 0, w->res->pub.data,
			    w->res->pub.len);
	else
		h->complete(h, w->pending, w->status, w->msg,
			    w->msg ? strlen(w->msg) : 0);
	if (w->res && !s->closed) {
		s->last = w->res;
		w->res = NULL;
		s->posted = true;
		if (h->post(h, DBT_DB_WORKER, dbt_pg_sub_add, s) == 0) {
			waiter_free(w);
			return;
		}
	}
	h->stream_end(h, s->stream);
	dbt_sub_free(s);
	waiter_free(w);
}

void dbt_waiter_answer(const dx_host_api *h, dbt_waiter *w, dbt_result *res,
		       uint16_t status, const char *msg)
{
	w->host = h; /* the code answering is h's, so is what it posts */
	if (w->kind == W_ROUTE) {
		if (res)
			h->complete(h, w->pending, 0, res->pub.data,
				    res->pub.len);
		else
			h->complete(h, w->pending, status, msg, strlen(msg));
		waiter_free(w);
		return;
	}
	w->res = res ? dbt_result_ref(res) : NULL;
	w->status = res ? 0 : status;
	w->msg = res ? NULL : strdup(msg);
	void (*fn)(void *) = w->kind == W_SUB ? sub_answer : waiter_deliver;
	if (w->worker < 0 || h->post(h, w->worker, fn, w) < 0)
		fn(w);
}

/* ---- flights ---- */

static bool flight_epochs_ok(dbt *d, const dbt_flight *f)
{
	const dbt_query *q = &d->q[f->qidx];
	for (unsigned i = 0; i < q->ntables; i++)
		if (d->t[q->tables[i]].epoch != f->epochs[i])
			return false;
	return f->gen == d->gen && d->cache_ok;
}

static void flight_free(dbt *d, dbt_flight *f)
{
	if (f->e)
		dbt_map_del(&d->flights, f->e);
	free(f->epochs);
	free(f);
}

/* Answer every waiter with an error and forget the flight. */
void dbt_flight_fail(dbt *d, dbt_flight *f, uint16_t status, const char *msg)
{
	dbt_waiter *w = f->waiters;
	f->waiters = NULL;
	flight_free(d, f);
	while (w) {
		dbt_waiter *next = w->next;
		dbt_waiter_answer(d->host, w, NULL, status, msg);
		w = next;
	}
}

/* Push res to every active subscriber of the key that was sent
 * something else. */
static void subs_push(dbt *d, uint16_t qidx, const uint8_t *params,
		      size_t plen, uint64_t hash, dbt_result *res)
{
	dbt_entry *e = dbt_map_get(&d->subs, hash, qidx, params, plen);
	if (!e)
		return;
	dbt_subkey *k = e->val;
	for (dbt_sub *s = k->subs; s; s = s->next) {
		if (s->last == res ||
		    (s->last && s->last->pub.len == res->pub.len &&
		     memcmp(s->last->pub.data, res->pub.data,
			    res->pub.len) == 0))
			continue;
		d->host->stream_send(d->host, s->stream, DX_HBTP_STATE_SYNC,
				     res->pub.data, res->pub.len);
		dbt_result_unref(s->last);
		s->last = dbt_result_ref(res);
	}
}

/* A query's answer: store it if nothing it reads changed meanwhile,
 * answer the waiters, push to subscribers. */
void dbt_flight_done(dbt *d, dbt_flight *f, const PGresult *r)
{
	char msg[512];
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorMessage(r);
		size_t n = strlen(m);
		while (n && m[n - 1] == '\n')
			n--;
		snprintf(msg, sizeof msg, "query %s failed: %.*s",
			 d->q[f->qidx].name, (int)n, m);
		dbt_flight_fail(d, f, 500, msg);
		return;
	}
	dbt_result *res = dbt_result_from_pg(r);
	if (!res) {
		dbt_flight_fail(d, f, 500, "out of memory");
		return;
	}
	dbt_entry *e = f->e;
	uint16_t qidx = e->qidx;
	uint64_t hash = e->hash;
	size_t plen = e->plen;
	uint8_t *params = malloc(plen ? plen : 1);
	if (params)
		memcpy(params, e->params, plen);
	if (params && flight_epochs_ok(d, f)) {
		dbt_entry *m = dbt_map_get(&d->master, hash, qidx, params,
					   plen);
		bool stored = true;
		if (m) {
			dbt_result_unref(m->val);
			m->val = dbt_result_ref(res);
		} else if (!dbt_map_add(&d->master, hash, qidx, params, plen,
					dbt_result_ref(res))) {
			dbt_result_unref(res);
			stored = false;
		}
		/* Replicas hold only what the master holds (dbt_pg.c's
		 * cache_drop counts on it). */
		if (stored) {
			dbt_replicas_put(d, qidx, params, plen, hash, res);
			d->host->counter_add(d->c_fills, 1);
		}
	}
	bool again = f->again;
	dbt_waiter *w = f->waiters;
	f->waiters = NULL;
	flight_free(d, f);
	while (w) {
		dbt_waiter *next = w->next;
		dbt_waiter_answer(d->host, w, res, 0, NULL);
		w = next;
	}
	if (params) {
		subs_push(d, qidx, params, plen, hash, res);
		/* Invalidated while it ran: subscribers want the newest. */
		if (again && dbt_map_get(&d->subs, hash, qidx, params, plen))
			dbt_flight_start_key(d, qidx, params, plen, hash, NULL);
	}
	free(params);
	dbt_result_unref(res);
}

void dbt_queue_push(dbt *d, dbt_flight *f, bool head)
{
	if (head) {
		f->qnext = d->queue;
		d->queue = f;
		if (!d->queue_tail)
			d->queue_tail = f;
		return;
	}
	f->qnext = NULL;
	if (d->queue_tail)
		d->queue_tail->qnext = f;
	else
		d->queue = f;
	d->queue_tail = f;
}

/* A new flight for the key (w may be NULL: a refresh). */
void dbt_flight_start_key(dbt *d, uint16_t qidx, const uint8_t *params,
			  size_t plen, uint64_t hash, dbt_waiter *w)
{
	dbt_flight *f = calloc(1, sizeof *f);
	const dbt_query *q = &d->q[qidx];
	if (f)
		f->epochs = calloc(q->ntables + 1, sizeof *f->epochs);
	if (!f || !f->epochs ||
	    !(f->e = dbt_map_add(&d->flights, hash, qidx, params, plen, f))) {
		if (f)
			free(f->epochs);
		free(f);
		if (w)
			dbt_waiter_answer(d->host, w, NULL, 500,
					  "out of memory");
		return;
	}
	f->qidx = qidx;
	f->waiters = w;
	dbt_queue_push(d, f, false);
	dbt_pool_pump(d);
}

/* ---- requests from other workers ---- */

void dbt_pg_miss(void *arg)
{
	dbt_miss *m = arg;
	dbt *d = m->d;
	if (d->ops != &dbt_ops_this) {
		d->ops->miss(arg); /* another build drives now */
		return;
	}
	if (d->dead) { /* out of service (dbt_retire.c) */
		dbt_waiter_answer(d->host, m->w, NULL, 503, DBT_GONE);
		free(m);
		return;
	}
	uint64_t hash = dbt_hash(m->qidx, m->params, m->plen);
	dbt_entry *e;
	if ((e = dbt_map_get(&d->master, hash, m->qidx, m->params, m->plen))) {
		/* Filled since the worker looked (its replica lags). */
		dbt_waiter_answer(d->host, m->w, e->val, 0, NULL);
	} else if ((e = dbt_map_get(&d->flights, hash, m->qidx, m->params,
				    m->plen))) {
		dbt_flight *f = e->val;
		m->w->next = f->waiters;
		f->waiters = m->w;
		d->host->counter_add(d->c_coal, 1);
	} else {
		dbt_flight_start_key(d, m->qidx, m->params, m->plen, hash,
				     m->w);
	}
	free(m);
}

/* The driver takes over s's stream if another instance opened it (or
 * holds it now): from here on its on_close is the driver's code. On
 * -EPIPE the old on_close has run, and its post of dbt_pg_sub_close
 * (handed to the driver) follows. */
static void sub_adopt(dbt *d, dbt_sub *s)
{
	if (s->closer->inst == d->drv)
		return;
	dbt_closer *k = malloc(sizeof *k);
	if (!k)
		return; /* the old instance stays held until the stream ends */
	*k = (dbt_closer){.inst = d->drv, .s = s};
	if (d->host->stream_adopt(d->host, s->stream, dbt_sub_on_close, k) ==
	    0) {
		free(s->closer); /* its callback will never run now */
		s->closer = k;
	} else {
		free(k);
	}
}

void dbt_subs_adopt(dbt *d)
{
	for (size_t i = 0; i < d->subs.nb; i++)
		for (dbt_entry *e = d->subs.b[i]; e; e = e->next)
			for (dbt_sub *s = ((dbt_subkey *)e->val)->subs; s;
			     s = s->next)
				sub_adopt(d, s);
}

void dbt_pg_sub_add(void *arg)
{
	dbt_sub *s = arg;
	dbt *d = s->d;
	if (d->ops != &dbt_ops_this) {
		d->ops->sub_add(arg);
		return;
	}
	if (d->dead) { /* out of service: it ends at once */
		if (dbt_sub_end(d, s))
			dbt_sub_free(s);
		return;
	}
	sub_adopt(d, s);
	uint64_t hash = dbt_hash(s->qidx, s->params, s->plen);
	dbt_entry *e = dbt_map_get(&d->subs, hash, s->qidx, s->params, s->plen);
	if (!e) {
		dbt_subkey *k = calloc(1, sizeof *k);
		if (!k || !(e = dbt_map_add(&d->subs, hash, s->qidx, s->params,
					    s->plen, k))) {
			free(k);
			d->host->stream_end(d->host, s->stream);
			dbt_sub_free(s);
			return;
		}
		k->e = e;
	}
	dbt_subkey *k = e->val;
	s->key = k;
	s->active = true;
	s->next = k->subs;
	k->subs = s;
	/* Something may have changed between its answer and now. */
	dbt_entry *m = dbt_map_get(&d->master, hash, s->qidx, s->params,
				   s->plen);
	if (m)
		subs_push(d, s->qidx, s->params, s->plen, hash, m->val);
	else if (!dbt_map_get(&d->flights, hash, s->qidx, s->params, s->plen))
		dbt_flight_start_key(d, s->qidx, s->params, s->plen, hash,
				     NULL);
}

void dbt_pg_sub_close(void *arg)
{
	dbt_sub *s = arg;
	dbt *d = s->d;
	if (d->ops != &dbt_ops_this) {
		d->ops->sub_close(arg);
		return;
	}
	dbt_subkey *k = s->key;
	if (k) {
		for (dbt_sub **pp = &k->subs; *pp; pp = &(*pp)->next)
			if (*pp == s) {
				*pp = s->next;
				break;
			}
		if (!k->subs) {
			dbt_map_del(&d->subs, k->e);
			free(k);
		}
	}
	d->host->stream_end(d->host, s->stream);
	dbt_sub_free(s);
}

/* ---- out of service (dbt_retire.c) ---- */

/* The on_close of a stream being ended: if the connection closes before
 * stream_end lands, there is nothing left to do. */
static void closed_after_end(void *arg)
{
	(void)arg;
}

bool dbt_sub_end(dbt *d, dbt_sub *s)
{
	const dx_host_api *h = d->host;
	/* Its on_close may have run already and posted dbt_pg_sub_close,
	 * which frees it: only when stream_adopt finds the connection open
	 * can on_close never run (it runs under the stream's lock). */
	if (!DX_HAS(h, stream_adopt) ||
	    h->stream_adopt(h, s->stream, closed_after_end, NULL) < 0)
		return false;
	uint8_t b[2 + sizeof DBT_GONE];
	dx_hbtp_put_le16(b, 503);
	memcpy(b + 2, DBT_GONE, sizeof DBT_GONE - 1);
	h->stream_send(h, s->stream, DX_HBTP_RPC_ERROR, b, sizeof b - 1);
	h->stream_end(h, s->stream);
	return true;
}

void dbt_fill_stop(dbt *d)
{
	d->queue = d->queue_tail = NULL;
	for (size_t i = 0; i < d->flights.nb; i++)
		while (d->flights.b[i]) /* each fail unlinks its entry */
			dbt_flight_fail(d, d->flights.b[i]->val, 503, DBT_GONE);
	for (size_t i = 0; i < d->subs.nb; i++) {
		dbt_entry *e = d->subs.b[i];
		while (e) {
			dbt_entry *next = e->next;
			dbt_subkey *k = e->val;
			for (dbt_sub **pp = &k->subs; *pp;) {
				dbt_sub *s = *pp;
				if (dbt_sub_end(d, s)) {
					*pp = s->next;
					dbt_sub_free(s);
				} else {
					pp = &s->next; /* its close is queued */
				}
			}
			if (!k->subs) {
				dbt_map_del(&d->subs, e);
				free(k);
			}
			e = next;
		}
	}
}

/* ---- fini ---- */

void dbt_free_subkey(void *ud, void *val)
{
	dbt *d = ud;
	dbt_subkey *k = val;
	while (k->subs) {
		dbt_sub *s = k->subs;
		k->subs = s->next;
		d->host->stream_end(d->host, s->stream);
		dbt_sub_free(s);
	}
	free(k);
}

void dbt_free_flight(void *ud, void *val)
{
	(void)ud;
	dbt_flight *f = val;
	/* The workers have stopped: nobody is left to answer. Streams of
	 * subscribers still waiting must be ended all the same. */
	while (f->waiters) {
		dbt_waiter *w = f->waiters;
		f->waiters = w->next;
		if (w->kind == W_SUB) {
			w->d->host->stream_end(w->d->host, w->sub->stream);
			dbt_sub_free(w->sub);
		}
		waiter_free(w);
	}
	free(f->epochs);
	free(f);
}
