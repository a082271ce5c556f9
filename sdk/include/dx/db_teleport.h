/* dx/db_teleport.h - db_teleport: a PostgreSQL query cache kept fresh by
 * LISTEN/NOTIFY (docs/architecture.md, "The plugins that ship"), as other
 * plugins and clients see it.
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
 * Nothing may follow the last parameter. The part from nparams on (the
 * "parameter part") is what db_teleport keys its cache by. Both sides use
 * the codec below (libdx): clients write with dx_db_body_encode() and read
 * answers with dx_db_answer_open(); the plugin reads bodies with
 * dx_db_body_split() and dx_db_params_check() / dx_db_params_decode(),
 * and writes answers with dx/teleport.h's rowset writer.
 *
 * Answers. db.get: RpcResponse whose body is the result as a teleport
 * rowset (dx/teleport.h: dx_rowset_open reads it in place). db.subscribe:
 * the same RpcResponse, then a StateSync frame (same seq) carrying the whole
 * new rowset each time the result changes, until the connection closes,
 * or until db_teleport goes out of service without handing its state to
 * a new build (dx ctl unload): then a last RpcError 503 on the same seq
 * ends the stream, and the connection stays open.
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

#include <dx/error.h>
#include <dx/routes.h>   /* DX_PENDING */
#include <dx/teleport.h> /* dx_rowset */

#ifdef __cplusplus
extern "C" {
#endif

#define DX_DB_ROUTE_GET 100
#define DX_DB_ROUTE_SUBSCRIBE 101
#define DX_DB_ROUTE_STATS 102

#define DX_DB_PARAM_NULL 0xFFFFu
#define DX_DB_PARAM_MAX 0xFFFEu /* longest parameter, in bytes */
#define DX_DB_NAME_MAX 255u
#define DX_DB_NPARAMS_MAX 255u /* most parameters a body carries */

/* The SERVICE facet's name. */
#define DX_DB_SERVICE "db_teleport"

/* ---- the codec (libdx; no state: any thread; only dx_db_answer_open
 * allocates) ----
 *
 * Parameters are given as an array of nparams C strings, params[i] NULL
 * for SQL NULL; the caller keeps ownership of everything it passes. Decoded
 * views point into the caller's buffer and live as long as it does. */

/* The bytes dx_db_params_encode() / dx_db_body_encode() write for these
 * arguments (no checks: the encoders refuse what is out of bounds). */
size_t dx_db_params_size(const char *const *params, unsigned nparams);
size_t dx_db_body_size(const char *name, const char *const *params,
		       unsigned nparams);

/* Writes a db.get / db.subscribe body into out (cap bytes): the query
 * name, then nparams parameters. Returns the body's length, or -EINVAL (a
 * name of 0 or more than DX_DB_NAME_MAX bytes, more than
 * DX_DB_NPARAMS_MAX parameters, one longer than DX_DB_PARAM_MAX) or
 * -E2BIG (out is too small: dx_db_body_size() bytes always do). On an
 * error out's contents are unspecified. */
long dx_db_body_encode(uint8_t *out, size_t cap, const char *name,
		       const char *const *params, unsigned nparams);

/* Writes only the parameter part (u8 nparams, then each parameter) into
 * out (cap bytes). Returns its length, or -EINVAL / -E2BIG as
 * dx_db_body_encode(). */
long dx_db_params_encode(uint8_t *out, size_t cap, const char *const *params,
			 unsigned nparams);

/* A body split in place: views into the buffer given to
 * dx_db_body_split(), valid while it is. name is not NUL-terminated. */
typedef struct dx_db_body {
	const char *name;
	size_t name_len;       /* 0..255 */
	const uint8_t *params; /* the parameter part, params_len >= 1 bytes */
	size_t params_len;
} dx_db_body;

/* Splits body (len bytes) into its name and parameter part. Only the
 * name's framing is checked: 0, or DX_EPROTO when body is shorter than
 * its name_len says (or than 2 bytes); *out is set only on 0. A name_len
 * of 0 is not refused here (no query has that name). Check the parameter
 * part with dx_db_params_check() or dx_db_params_decode(). */
int dx_db_body_split(const uint8_t *body, size_t len, dx_db_body *out);

/* Checks a parameter part (len bytes at p) as the plugin must: every
 * length within the buffer, no NUL byte inside a parameter, nothing after
 * the last. Returns nparams (0..255), or DX_EPROTO. */
int dx_db_params_check(const uint8_t *p, size_t len);

/* Checks and decodes a parameter part into C strings: vals[i] (max
 * entries) is NULL for SQL NULL, else a NUL-terminated copy in strbuf
 * (strcap bytes; len bytes always suffice). Returns nparams, DX_EPROTO
 * (malformed, as dx_db_params_check()) or -E2BIG (max or strcap is too
 * small); on an error vals and strbuf hold partial results. */
int dx_db_params_decode(const uint8_t *p, size_t len, const char **vals,
			unsigned max, char *strbuf, size_t strcap);

/* Opens a db.get / db.subscribe answer (the body of its RpcResponse or
 * StateSync, at any alignment: a client's receive buffer is not aligned
 * for the rowset reader) as a rowset. Copies the len bytes at payload
 * into a malloc'd block aligned for dx_rowset_open(), stores it in *buf -
 * the caller free()s it whatever the result; NULL only on -ENOMEM - and
 * fills *rs, which points into *buf. Returns 0, -ENOMEM, or
 * dx_rowset_open()'s error (DX_EPROTO: not a rowset). */
int dx_db_answer_open(const void *payload, size_t len, void **buf,
		      dx_rowset *rs);

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
