/* dbt_retire.c - an instance out of service (the descriptor's retire, ABI
 * 1.1), and its fini.
 *
 * The host calls retire once, on the main thread, when the instance is out
 * of service: replaced by a reload (after its export), unloaded, or never
 * published (a reload whose import it refused, a load or apply that failed
 * after its init, a rolled-back apply after it gave its state back). Its
 * own watches (the Postgres sockets), reconnect timers, streams and the
 * requests it deferred hold it; fini comes only once they are all gone.
 *
 * retire posts retire_run to the database worker, behind everything the
 * instance posted before (posts are FIFO per worker), so it runs after its
 * init's start and after any takeover posted before it. There, in this
 * build's code:
 *   - the core its init made and an import replaced (I->own) is closed, if
 *     the takeover has not done it already;
 *   - if the instance still drives its core (d->drv), nobody else will: it
 *     closes every connection for good (d->dead: sockets unwatched,
 *     pending reconnect timers fire without re-arming), answers every
 *     fill's waiters RpcError 503 (DBT_GONE) and ends every subscriber's
 *     stream with a final RpcError 503 on its seq (the client's connection
 *     stays open). Misses, subscriptions and invalidations its route
 *     handlers post later find the core dead and are answered the same
 *     way (dbt_fill.c, dbt_pg.c).
 *   - if another instance drives it (a reload handed the core over, or a
 *     rolled-back apply handed it back), it touches nothing: that one
 *     serves on.
 * fini then drops the instance's reference on the core, and frees it when
 * it was the last; by then nothing of the instance is queued or watched
 * anywhere, or the workers have stopped (the host's shutdown, where fini
 * comes without retire). */
#include <stdlib.h>

#include "dbt.h"

/* Database worker, this build's code. */
static void retire_run(void *arg)
{
	dbt_inst *I = arg;
	if (I->own && !I->own->dead)
		dbt_pg_close_all(I->own);
	dbt *d = I->d;
	if (d->drv != I || !dbt_driving(d))
		return; /* handed over: the driver serves on */
	size_t fills = d->flights.count, keys = d->subs.count;
	dbt_pg_close_all(d);
	dbt_fill_stop(d);
	I->host->log(I->host, DX_LOG_INFO,
		     "out of service: connections closed, %zu fill%s "
		     "answered and %zu subscribed key%s ended",
		     fills, fills == 1 ? "" : "s", keys, keys == 1 ? "" : "s");
}

void dbt_retire(void *self)
{
	dbt_inst *I = self;
	/* Fails only once the workers have stopped: fini closes it all. */
	if (I->host->post(I->host, DBT_DB_WORKER, retire_run, I) < 0)
		I->host->log(I->host, DX_LOG_WARN,
			     "retire: cannot reach worker %d; the connections "
			     "close at fini",
			     DBT_DB_WORKER);
}

void dbt_inst_fini(dbt_inst *I, void (*free_core)(dbt *d))
{
	if (I->own)
		free_core(I->own);
	dbt *d = I->d;
	if (atomic_fetch_sub(&d->refs, 1) == 1) {
		d->host = I->host; /* the driver's table may be gone by now */
		free_core(d);
	}
	free(I->blob);
	free(I);
}
