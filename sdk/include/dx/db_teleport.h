/* dx/db_teleport.h - db_teleport: a PostgreSQL query cache kept fresh by
 * LISTEN/NOTIFY (DESIGN.md section 8), as other plugins and clients see it.
 *
 * The plugin "db_teleport" provides two facets:
 *
 *   SERVICE "db_teleport"  the dx_db_service vtable below: other plugins
 *                          find it with host->lookup(host, DX_FACET_SERVICE,
 *                          "db_teleport", &ref) and call it with ref.self.
 *   ROUTES  "db_teleport"  db.get (DX_DB_ROUTE_GET), db.subscribe
 *                          (DX_DB_ROUTE_SUBSCRIBE) and db.stats
 *                          (DX_DB_ROUTE_STATS) over HBTP.
 *
 * Request body of db.get and db.subscribe (all integers little-endian):
 *
 *     u8  name_len            1..255
 *     ... name                the registered query's name
 *     u8  nparams             must equal the query's $n count
 *     then nparams times:
 *       u16 len               DX_DB_PARAM_NULL (0xFFFF): SQL NULL, no bytes
 *       ... len bytes         the parameter in text form (no NUL bytes)
 *
 * dx_db_body_encode() below writes it. Nothing may follow the last
 * parameter.
 *
 * Answers. db.get: RpcResponse whose body is the result as a teleport
 * rowset (dx/teleport.h: dx_rowset_open reads it in place). db.subscribe:
 * the same RpcResponse, then a StateSync frame (same seq) carrying the whole
 * new rowset each time the result changes, until the connection closes.
 * db.stats: a JSON object of the counters in dx_db_stats. Errors
 * (RpcError): 400 a malformed body or the wrong number of parameters, 404
 * no query of that name (the message names it), 500 the query failed in
 * Postgres (its message), 503 "database unavailable: <reason>" while
 * Postgres cannot be reached.
 */
#ifndef DX_DB_TELEPORT_H
#define DX_DB_TELEPORT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <dx/error.h>
#include <dx/routes.h> /* DX_PENDING */

#ifdef __cplusplus
extern "C" {
#endif

#define DX_DB_ROUTE_GET 100
#define DX_DB_ROUTE_SUBSCRIBE 101
#define DX_DB_ROUTE_STATS 102

#define DX_DB_PARAM_NULL 0xFFFFu
#define DX_DB_PARAM_MAX 0xFFFEu /* longest parameter, in bytes */
#define DX_DB_NAME_MAX 255u

/* The SERVICE facet's name. */
#define DX_DB_SERVICE "db_teleport"

/* Writes a db.get / db.subscribe body into out (cap bytes): the query
 * name, then nparams parameters (params[i] NULL: SQL NULL; otherwise a C
 * string). Returns the body's length, or -EINVAL (a name of 0 or more than
 * 255 bytes, more than 255 parameters, one longer than DX_DB_PARAM_MAX) or
 * -E2BIG (out is too small). */
static inline long dx_db_body_encode(uint8_t *out, size_t cap,
				     const char *name,
				     const char *const *params,
				     unsigned nparams)
{
	size_t nl = strlen(name), n = 0;
	if (nl == 0 || nl > DX_DB_NAME_MAX || nparams > 255)
		return -EINVAL;
	if (cap < 2 + nl)
		return -E2BIG;
	out[n++] = (uint8_t)nl;
	memcpy(out + n, name, nl);
	n += nl;
	out[n++] = (uint8_t)nparams;
	for (unsigned i = 0; i < nparams; i++) {
		size_t l = params[i] ? strlen(params[i]) : 0;
		if (l > DX_DB_PARAM_MAX)
			return -EINVAL;
		if (cap - n < 2 + l)
			return -E2BIG;
		uint16_t v = params[i] ? (uint16_t)l : (uint16_t)DX_DB_PARAM_NULL;
		out[n++] = (uint8_t)v;
		out[n++] = (uint8_t)(v >> 8);
		if (l)
			memcpy(out + n, params[i], l);
		n += l;
	}
	return (long)n;
}

/* A cached result: immutable, reference-counted. data/len are the teleport
 * rowset (aligned for dx_rowset_open). Read-only; the plugin's private
 * fields follow. Every result handed out must be given back with
 * release(), from any thread. */
typedef struct dx_db_result {
	const uint8_t *data;
	size_t len;
} dx_db_result;

/* Counters since start (any thread; relaxed reads). */
typedef struct dx_db_stats {
	uint32_t size;        /* sizeof(dx_db_stats) as built by the caller */
	uint64_t hits;        /* answered from a worker's cache */
	uint64_t misses;      /* not in the cache: went to the db worker */
	uint64_t fills;       /* results stored in the cache */
	uint64_t invalidations; /* tables invalidated (a burst counts once) */
	uint64_t reconnects;  /* times the listening connection came back */
	uint64_t coalesced;   /* misses that joined a query already running */
	uint64_t queries;     /* queries sent to Postgres */
} dx_db_stats;

/* A miss's answer: exactly one call per get() that returned DX_PENDING.
 * status 0: res is the result (release() it); otherwise res is NULL and
 * status is 404/400/500/503 with message (valid during the call only).
 * Runs on the worker that called get() (or on the plugin's database
 * worker when get() was not called on a worker thread). */
typedef void (*dx_db_done_fn)(void *arg, const dx_db_result *res,
			      uint16_t status, const char *message);

/* The SERVICE facet. Sized and append-only, like every vtable. */
typedef struct dx_db_service {
	uint32_t size;
	/* Register a query (main thread, during init only: DX_ESTATE once
	 * the workers run): name [a-z][a-z0-9_]*, sql with $n parameters,
	 * the tables it reads (their invalidations drop it). The SQL is
	 * prepared at once: a failure returns DX_EPROTO after host->fail()
	 * with the query's name and Postgres' message. -EEXIST for a name
	 * taken. */
	int (*register_query)(void *self, const char *name, const char *sql,
			      const char *const *tables, size_t ntables);
	/* Query name with nparams text parameters (params[i] NULL: SQL NULL).
	 * 0 and *out: a cache hit (lock-free; release() it). DX_PENDING:
	 * done(arg, ...) answers later. -ENOENT: no such query; -EINVAL:
	 * the wrong number of parameters; -ENOMEM. Any thread; lock-free
	 * hits on worker threads only. */
	int (*get)(void *self, const char *query, const char *const *params,
		   unsigned nparams, dx_db_done_fn done, void *arg,
		   const dx_db_result **out);
	/* Give back a result from get() or done(). Any thread. */
	void (*release)(void *self, const dx_db_result *res);
	/* Drop every cached result that reads table, as a notification
	 * would (and refresh subscribed ones). 0 or -ENOENT (no registered
	 * query reads it). Any thread. */
	int (*invalidate_table)(void *self, const char *table);
	/* Fill *out (set out->size first; members past it are left alone). */
	void (*stats)(void *self, dx_db_stats *out);
} dx_db_service;

#define DX_DB_SERVICE_V1_0_SIZE                                            \
	(offsetof(dx_db_service, stats) + sizeof(((dx_db_service *)0)->stats))

#ifdef __cplusplus
}
#endif
#endif
