/* dbt_cache.c - results, cache keys, hash maps and the per-worker replicas.
 *
 * Why replicas rather than one shared map read under RCU: a worker's hit
 * then touches only memory its own thread writes (its map) plus the
 * result's reference count, needs no reader registration or grace periods
 * (liburcu QSBR would need every host worker to announce quiescent states,
 * and call_rcu starts a thread of its own, which plugins must not), and
 * the cost is one post per worker per change, on the slow path. The
 * database worker keeps the master copy and posts each change to every
 * worker in order, so a replica is the master as of a moment ago. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dx/teleport.h>

#include "dbt.h"

/* ---- results ---- */

dbt_result *dbt_result_from_pg(const PGresult *res)
{
	dbt_result *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	dx_rowset_writer w;
	int nc = PQnfields(res), nr = PQntuples(res), rc;
	size_t len = 0;
	rc = dx_rowset_begin(&w, (uint32_t)nc);
	for (int c = 0; c < nc && rc == 0; c++)
		rc = dx_rowset_column(&w, PQfname(res, c), PQftype(res, c));
	for (int i = 0; i < nr && rc == 0; i++) {
		rc = dx_rowset_row(&w);
		for (int c = 0; c < nc && rc == 0; c++)
			rc = dx_rowset_put(&w,
					   PQgetisnull(res, i, c)
						   ? NULL
						   : PQgetvalue(res, i, c),
					   (size_t)PQgetlength(res, i, c));
	}
	if (rc == 0)
		rc = dx_rowset_finish(&w, &r->buf, &len);
	dx_rowset_writer_free(&w);
	if (rc < 0) {
		free(r);
		return NULL;
	}
	r->pub.data = r->buf;
	r->pub.len = len;
	atomic_init(&r->refs, 1);
	return r;
}

void dbt_result_unref(dbt_result *r)
{
	if (r && atomic_fetch_sub_explicit(&r->refs, 1,
					   memory_order_acq_rel) == 1) {
		free(r->buf);
		free(r);
	}
}

/* ---- keys and maps ---- */

uint64_t dbt_hash(uint16_t qidx, const uint8_t *p, size_t len)
{
	/* FNV-1a: keys are short (a name's index and a few parameters). */
	uint64_t h = 0xcbf29ce484222325ull ^ qidx;
	h *= 0x100000001b3ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

int dbt_map_init(dbt_map *m, size_t nb)
{
	m->nb = nb;
	m->count = 0;
	m->b = calloc(nb, sizeof *m->b);
	return m->b ? 0 : -ENOMEM;
}

dbt_entry *dbt_map_get(const dbt_map *m, uint64_t hash, uint16_t qidx,
		       const uint8_t *params, size_t plen)
{
	for (dbt_entry *e = m->b[hash & (m->nb - 1)]; e; e = e->next)
		if (e->hash == hash && e->qidx == qidx && e->plen == plen &&
		    memcmp(e->params, params, plen) == 0)
			return e;
	return NULL;
}

static void dbt_map_grow(dbt_map *m)
{
	size_t nb = m->nb * 2;
	dbt_entry **b = calloc(nb, sizeof *b);
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < m->nb; i++)
		for (dbt_entry *e = m->b[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

dbt_entry *dbt_map_add(dbt_map *m, uint64_t hash, uint16_t qidx,
		       const uint8_t *params, size_t plen, void *val)
{
	dbt_entry *e = malloc(sizeof *e + plen);
	if (!e)
		return NULL;
	e->hash = hash;
	e->val = val;
	e->qidx = qidx;
	e->plen = (uint32_t)plen;
	memcpy(e->params, params, plen);
	if (m->count >= m->nb)
		dbt_map_grow(m);
	dbt_entry **b = &m->b[hash & (m->nb - 1)];
	e->next = *b;
	*b = e;
	m->count++;
	return e;
}

void *dbt_map_del(dbt_map *m, dbt_entry *e)
{
	for (dbt_entry **pp = &m->b[e->hash & (m->nb - 1)]; *pp;
	     pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			m->count--;
			void *v = e->val;
			free(e);
			return v;
		}
	return NULL;
}

void dbt_map_sweep(dbt_map *m, const bool *drop, void (*fn)(void *, void *),
		   void *ud)
{
	for (size_t i = 0; i < m->nb; i++)
		for (dbt_entry **pp = &m->b[i]; *pp;) {
			dbt_entry *e = *pp;
			if (drop && !drop[e->qidx]) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			m->count--;
			if (fn)
				fn(ud, e->val);
			free(e);
		}
}

void dbt_map_free(dbt_map *m, void (*fn)(void *, void *), void *ud)
{
	if (!m->b)
		return;
	dbt_map_sweep(m, NULL, fn, ud);
	free(m->b);
	m->b = NULL;
}

/* ---- replicas ---- */

static void unref_val(void *ud, void *val)
{
	(void)ud;
	dbt_result_unref(val);
}

dbt_result *dbt_replica_get(dbt *d, int worker, uint16_t qidx,
			    const uint8_t *params, size_t plen)
{
	if (worker < 0 || (unsigned)worker >= d->workers || !d->rep)
		return NULL;
	const dbt_map *m = &d->rep[worker].map;
	dbt_entry *e = dbt_map_get(m, dbt_hash(qidx, params, plen), qidx,
				   params, plen);
	return e ? dbt_result_ref(e->val) : NULL;
}

/* A change for one replica, posted to its worker. */
typedef struct dbt_rop {
	dbt *d;
	int worker;
	bool put;
	bool all;       /* drop everything */
	dbt_result *res; /* put */
	uint64_t hash;
	uint16_t qidx;
	uint32_t plen;
	uint8_t data[]; /* put: params; drop: d->nq bools */
} dbt_rop;

static void dbt_rop_run(void *arg)
{
	dbt_rop *op = arg;
	dbt_map *m = &op->d->rep[op->worker].map;
	if (op->put) {
		dbt_entry *e =
			dbt_map_get(m, op->hash, op->qidx, op->data, op->plen);
		if (e) {
			dbt_result_unref(e->val);
			e->val = op->res;
		} else if (!dbt_map_add(m, op->hash, op->qidx, op->data,
					op->plen, op->res)) {
			dbt_result_unref(op->res); /* ENOMEM: a miss later */
		}
	} else {
		dbt_map_sweep(m, op->all ? NULL : (const bool *)op->data,
			      unref_val, NULL);
	}
	free(op);
}

/* The db worker's own replica changes at once (it is this thread's), so
 * an answer it sends after a fill can never overtake the fill's put.
 * Others get a post, queued ahead of any answer completed after it. */
static void dbt_rop_post(dbt *d, dbt_rop *op)
{
	if (op->worker == d->host->worker_id(d->host)) {
		dbt_rop_run(op);
		return;
	}
	if (d->host->post(d->host, op->worker, dbt_rop_run, op) < 0) {
		/* Draining: nobody reads the replica any more. */
		dbt_result_unref(op->res);
		free(op);
	}
}

void dbt_replicas_put(dbt *d, uint16_t qidx, const uint8_t *params,
		      size_t plen, uint64_t hash, dbt_result *res)
{
	for (unsigned w = 0; w < d->workers; w++) {
		dbt_rop *op = malloc(sizeof *op + plen);
		if (!op)
			continue; /* that worker misses: still correct */
		*op = (dbt_rop){.d = d, .worker = (int)w, .put = true,
				.res = dbt_result_ref(res), .hash = hash,
				.qidx = qidx, .plen = (uint32_t)plen};
		memcpy(op->data, params, plen);
		dbt_rop_post(d, op);
	}
}

void dbt_replicas_drop(dbt *d, const bool *drop)
{
	for (unsigned w = 0; w < d->workers; w++) {
		size_t n = drop ? d->nq : 0;
		dbt_rop *op = malloc(sizeof *op + n);
		if (!op)
			continue; /* ENOMEM: that replica stays stale */
		*op = (dbt_rop){.d = d, .worker = (int)w, .all = !drop};
		if (drop)
			memcpy(op->data, drop, n);
		dbt_rop_post(d, op);
	}
}

void dbt_replicas_free(dbt *d)
{
	if (!d->rep)
		return;
	for (unsigned w = 0; w < d->workers; w++)
		dbt_map_free(&d->rep[w].map, unref_val, NULL);
	free(d->rep);
	d->rep = NULL;
}
