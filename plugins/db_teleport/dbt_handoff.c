/* dbt_handoff.c - `dx ctl reload db_teleport`: the new instance takes over
 * the old one's core (cache, connections with their LISTEN, fills in
 * flight, subscriptions) instead of starting cold.
 *
 * export (old instance, main thread) only describes the core: a pointer,
 * the layout tag and the struct sizes; it stops nothing, the old instance
 * serves on. import (new instance, main thread) checks that this build
 * reads that core the same way (DBT_LAYOUT and the sizes; otherwise it
 * refuses with host->fail naming both versions, and the reload fails with
 * the old instance untouched) and that the config matches, takes a
 * reference on the core, serves it from now on (its routes read the same
 * replicas: no cold miss), and posts the takeover to the database worker.
 *
 * The takeover (database worker, new code) closes the connections the new
 * instance's own init opened, then makes itself the driver: it unwatches
 * the old driver's sockets and watches them itself (what arrived meanwhile
 * waits in the socket and is read at once: no notification is lost),
 * re-arms pending reconnects, and adopts every registered subscriber's
 * stream (stream_adopt). From then on whatever the old build still has
 * queued there (misses, subscriptions, closes, invalidations posted by its
 * route handlers) is handed to the new code through d->ops, and its socket
 * reads and reconnect timers see they no longer drive and stop, so the old
 * instance's holds drain and it is retired. Its fini then only drops its
 * reference.
 *
 * Handing back (a rolled-back apply: export on the new instance, import on
 * the old) is the same path: the old instance imports its own core and
 * takes the driver's seat back.
 *
 * An instance whose import was refused, or that gave its state back, is
 * retired like any other (dbt_retire.c): it closes what it still drives
 * (a refused one: the connections its init opened) and the host
 * finalises it once nothing holds it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbt.h"

#define DBT_HANDOFF_MAGIC 0x48544244u /* "DBTH" */

const dbt_ops dbt_ops_this = {
	.miss = dbt_pg_miss,
	.sub_add = dbt_pg_sub_add,
	.sub_close = dbt_pg_sub_close,
	.invalidate = dbt_pg_invalidate,
};

/* The sizes of everything two builds share while both run: a change the
 * layout tag was not bumped for still refuses. */
#define DBT_NSIZES 12
#define DBT_SIZES                                                          \
	{sizeof(dbt),         sizeof(dbt_conn),   sizeof(dbt_sub),         \
	 sizeof(dbt_subkey),  sizeof(dbt_flight), sizeof(dbt_waiter),      \
	 sizeof(dbt_result),  sizeof(dbt_entry),  sizeof(dbt_replica),     \
	 sizeof(dbt_closer),  sizeof(dbt_miss),   sizeof(dbt_inst)}

typedef struct dbt_handoff {
	uint32_t magic;
	uint32_t layout;
	uint32_t sizes[DBT_NSIZES];
	const char *version; /* the exporter's, for a host without 1.1 */
	dbt *d;
} dbt_handoff;

int dbt_handoff_export(void *self, const void **data, size_t *len)
{
	dbt_inst *I = self;
	if (!I->blob && !(I->blob = malloc(sizeof *I->blob)))
		return I->host->fail(I->host, -ENOMEM, "out of memory");
	*I->blob = (dbt_handoff){.magic = DBT_HANDOFF_MAGIC,
				 .layout = DBT_LAYOUT,
				 .sizes = DBT_SIZES,
				 .version = DBT_VERSION,
				 .d = I->d};
	*data = I->blob;
	*len = sizeof *I->blob;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Why this instance's config cannot serve core d (into why), or NULL. */
static const char *config_differs(const dbt *mine, const dbt *d, char *why,
				  size_t n)
{
	if (!same_str(mine->conninfo, d->conninfo) ||
	    !same_str(mine->channel, d->channel) ||
	    mine->pool_size != d->pool_size || mine->workers != d->workers) {
		snprintf(why, n, "conninfo, channel, pool or the worker count "
				 "differ");
		return why;
	}
	for (unsigned i = 0; i < mine->nq; i++) {
		const dbt_query *q = &mine->q[i], *o = NULL;
		for (unsigned k = 0; k < d->nq && !o; k++)
			if (strcmp(d->q[k].name, q->name) == 0)
				o = &d->q[k];
		bool same = o && strcmp(o->sql, q->sql) == 0 &&
			    o->ntables == q->ntables;
		for (unsigned t = 0; same && t < q->ntables; t++)
			same = strcmp(mine->t[q->tables[t]].qualified,
				      d->t[o->tables[t]].qualified) == 0;
		if (!same) {
			snprintf(why, n, "query \"%s\" is %s", q->name,
				 o ? "configured differently" : "new");
			return why;
		}
	}
	return NULL;
}

/* Database worker, this build's code: become d's driver. */
static void takeover(void *arg)
{
	dbt_inst *I = arg;
	if (I->own && !I->own->dead)
		dbt_pg_close_all(I->own); /* its init's: not needed now */
	dbt *d = I->d;
	if (d->dead || (d->drv == I && d->ops == &dbt_ops_this))
		return;
	d->host = I->host;
	d->ops = &dbt_ops_this;
	d->drv = I;
	dbt_pg_take_conns(d);
	dbt_subs_adopt(d);
	I->host->log(I->host, DX_LOG_INFO,
		     "took over %zu cached result%s, %zu subscribed key%s and "
		     "the connections",
		     d->master.count, d->master.count == 1 ? "" : "s",
		     d->subs.count, d->subs.count == 1 ? "" : "s");
}

int dbt_handoff_import(void *self, const void *data, size_t len)
{
	dbt_inst *I = self;
	const dx_host_api *h = I->host;
	const dbt_handoff *b = data;
	static const uint32_t sizes[DBT_NSIZES] = DBT_SIZES;
	const char *from = DX_HAS(h, handoff_version) && h->handoff_version
				   ? h->handoff_version(h)
				   : NULL;
	if (!b || len != sizeof *b || b->magic != DBT_HANDOFF_MAGIC)
		return h->fail(h, DX_EPROTO,
			       "db_teleport %s hands over a state that this "
			       "build (%s) does not know; restart the host to "
			       "move between them",
			       from ? from : "(unknown version)", DBT_VERSION);
	if (!from)
		from = b->version;
	if (b->layout != DBT_LAYOUT ||
	    memcmp(b->sizes, sizes, sizeof sizes) != 0)
		return h->fail(h, DX_EPROTO,
			       "cannot take over the state of db_teleport %s "
			       "(state layout %u) in db_teleport %s (state "
			       "layout %u): both share the cache, connections "
			       "and subscriptions while they run, so their "
			       "layouts must match; restart the host to move "
			       "between these versions",
			       from, b->layout, DBT_VERSION, DBT_LAYOUT);
	if (!DX_HAS(h, stream_adopt) || !h->stream_adopt)
		return h->fail(h, DX_ESTATE,
			       "this host cannot hand subscription streams "
			       "over (stream_adopt, ABI 1.1); restart it to "
			       "replace db_teleport %s with %s",
			       from, DBT_VERSION);
	dbt *d = b->d;
	char why[256];
	if (d != I->d && config_differs(I->d, d, why, sizeof why))
		return h->fail(h, DX_ECONFIG,
			       "cannot take over the state of db_teleport %s "
			       "in %s: %s",
			       from, DBT_VERSION, why);
	/* From here on this instance serves d (published after we return);
	 * the post orders it before the takeover reads it. */
	dbt *own = NULL;
	if (d != I->d) {
		atomic_fetch_add(&d->refs, 1);
		own = I->d;
		I->own = own;
		I->d = d;
	}
	int rc = h->post(h, DBT_DB_WORKER, takeover, I);
	if (rc < 0) {
		if (own) {
			I->d = own;
			I->own = NULL;
			atomic_fetch_sub(&d->refs, 1);
		}
		return h->fail(h, rc, "cannot reach worker %d to take over",
			       DBT_DB_WORKER);
	}
	return 0;
}
