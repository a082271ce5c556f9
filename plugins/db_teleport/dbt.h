/* dbt.h - db_teleport's insides, shared by its files.
 *
 * Threads. One worker (DBT_DB_WORKER, worker 0) is the database worker: it
 * owns every PGconn (the listening one and the pool), the master cache,
 * the in-flight fills (single flight), the table epochs and the
 * subscriptions. Nothing there is locked: other threads reach it only by
 * host->post(). Each worker owns a replica of the cache (dbt_replica),
 * updated by posts from the database worker in the order the master
 * changed (posts are FIFO per worker); a hit reads the caller's own replica
 * with no lock and no shared write except the result's reference count.
 *
 * Instances and the core. The plugin's self is a dbt_inst, one per loaded
 * build; what it serves is a dbt (the core: cache, connections, fills,
 * subscriptions), reference counted, which a reload hands from the old
 * instance to the new one (dbt_handoff.c). While both are alive they share
 * the core: route handlers of either read the replicas, and whatever
 * either posts to the database worker runs there. Exactly one instance
 * drives the core (d->drv, d->ops, d->host: its code and its host table),
 * and every entry point on the database worker first checks that it is the
 * driver's code (dbt_driving) and otherwise hands the job to the driver's
 * (d->ops) or drops it when the driver has done it already (socket reads,
 * reconnect timers). The driver changes only on the database worker, so
 * no two builds ever touch the core at once. Code of one build only ever
 * uses its own instance's host table (holds, callbacks): on the database
 * worker that is d->host, elsewhere the instance's or the one a job
 * carries (w->host, the closer's inst).
 *
 * Files: dbt_cache.c (results, keys, maps, replicas), dbt_pg.c (the
 * database worker's connections: the pool, the listener and its
 * notifications, reconnects), dbt_fill.c (fills, waiters, subscriptions),
 * dbt_setup.c (init's blocking connect, triggers, prepares),
 * dbt_handoff.c (export, import, the takeover), dbt_retire.c (an
 * instance out of service: retire, fini), db_teleport.c (config, init,
 * routes, the SERVICE vtable). */
#ifndef DBT_H
#define DBT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <dx/db_teleport.h>
#include <dx/plugin.h>
#include <dx/routes.h>

/* The plugin's version, and the layout of the state a reload hands over
 * (the structs below): bump DBT_LAYOUT whenever one of them changes, so an
 * import refuses a core it would misread. Both can be set when building,
 * for a test build that must refuse. */
#ifndef DBT_VERSION
#define DBT_VERSION "1.2.0"
#endif
#ifndef DBT_LAYOUT
#define DBT_LAYOUT 1
#endif

#define DBT_DB_WORKER 0
#define DBT_BACKOFF_MIN_NS 50000000ull    /* 50 ms */
#define DBT_BACKOFF_MAX_NS 5000000000ull  /* 5 s */
#define DBT_POOL_MAX 64
/* What a request or a subscription still waiting gets (RpcError 503) when
 * the instance driving the core goes out of service (dbt_retire.c). */
#define DBT_GONE "db_teleport is out of service (unloaded or replaced " \
		 "without its state); call again"

/* ---- results and keys (dbt_cache.c) ---- */

/* An immutable rowset with a reference count. pub first: a dx_db_result
 * pointer is a dbt_result pointer. */
typedef struct dbt_result {
	dx_db_result pub;
	atomic_uint refs;
	uint8_t *buf;
} dbt_result;

/* A rowset built from a PGresult, refs 1; NULL on ENOMEM. */
dbt_result *dbt_result_from_pg(const PGresult *res);
static inline dbt_result *dbt_result_ref(dbt_result *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}
void dbt_result_unref(dbt_result *r);

/* A cache key: u16 query index (LE), then the body's parameter part
 * (u8 nparams, then u16 len + bytes each): canonical, so the route's hit
 * path hashes the request body in place. */
uint64_t dbt_hash(uint16_t qidx, const uint8_t *params, size_t len);

/* Chained hash map of key -> value, one thread only. */
typedef struct dbt_entry {
	struct dbt_entry *next;
	uint64_t hash;
	void *val;
	uint16_t qidx;
	uint32_t plen;   /* bytes of params[] */
	uint8_t params[]; /* u8 nparams, then u16 len + bytes each */
} dbt_entry;

typedef struct dbt_map {
	dbt_entry **b;
	size_t nb, count;
} dbt_map;

int dbt_map_init(dbt_map *m, size_t nb);
dbt_entry *dbt_map_get(const dbt_map *m, uint64_t hash, uint16_t qidx,
		       const uint8_t *params, size_t plen);
/* Adds a new entry (the key must not be there). NULL on ENOMEM. */
dbt_entry *dbt_map_add(dbt_map *m, uint64_t hash, uint16_t qidx,
		       const uint8_t *params, size_t plen, void *val);
/* Removes e (which must be in m) and frees it; returns its value. */
void *dbt_map_del(dbt_map *m, dbt_entry *e);
/* Removes every entry whose query index has drop[qidx] set (drop NULL:
 * all), calling fn(ud, val) on each value first. */
void dbt_map_sweep(dbt_map *m, const bool *drop, void (*fn)(void *, void *),
		   void *ud);
void dbt_map_free(dbt_map *m, void (*fn)(void *, void *), void *ud);

/* A worker's copy of the cache: values are dbt_result references. Touched
 * only by its worker. Padded so two workers never share a line. */
typedef struct dbt_replica {
	dbt_map map;
	char pad[64 - sizeof(dbt_map) % 64];
} dbt_replica;

/* ---- the plugin ---- */

typedef struct dbt_query {
	char *name;
	char *sql;
	char stmt[16];      /* prepared statement name: "dxq<i>" */
	unsigned nparams;   /* $n count, from Postgres */
	uint32_t *tables;   /* table ids */
	unsigned ntables;
} dbt_query;

typedef struct dbt_table {
	char *name;        /* as notified: TG_TABLE_NAME */
	char *qualified;   /* as configured ("s.t" or "t") */
	uint64_t epoch;    /* db worker: bumped on each invalidation */
} dbt_table;

/* Who waits for a fill. */
typedef struct dbt_waiter {
	struct dbt_waiter *next;
	enum { W_ROUTE, W_SERVICE, W_SUB } kind;
	int worker;            /* the caller's worker (-1: none) */
	dx_pending *pending;   /* W_ROUTE, W_SUB */
	dx_db_done_fn done;    /* W_SERVICE */
	void *arg;
	struct dbt_sub *sub;   /* W_SUB */
	struct dbt *d;
	/* The host table of the build whose code delivers the answer. */
	const dx_host_api *host;
	/* Set when the answer is posted to the caller's worker. */
	dbt_result *res;
	uint16_t status;
	char *msg;
} dbt_waiter;

/* One query running (or queued) for one key. */
typedef struct dbt_flight {
	struct dbt_flight *qnext; /* the pool's queue */
	dbt_entry *e;             /* in d->flights: its key */
	uint16_t qidx;
	uint64_t gen;             /* d->gen at start */
	uint64_t *epochs;         /* its tables' epochs at start */
	dbt_waiter *waiters;
	bool again;               /* invalidated while running: run again */
	bool sent;
	int tries;
} dbt_flight;

/* A subscribed key and its subscribers. */
typedef struct dbt_subkey {
	dbt_entry *e; /* in d->subs */
	struct dbt_sub *subs;
} dbt_subkey;

struct dbt_inst;

/* A subscription stream's on_close argument: which instance's code the
 * callback is (it posts with that instance's table). A new one each time
 * a stream is adopted; the sub owns the current one. */
typedef struct dbt_closer {
	struct dbt_inst *inst;
	struct dbt_sub *s;
} dbt_closer;

typedef struct dbt_sub {
	struct dbt_sub *next;
	struct dbt *d;
	dbt_closer *closer;
	dbt_subkey *key;       /* NULL until active on the db worker */
	dx_stream *stream;
	int worker;            /* the stream's worker */
	dbt_result *last;      /* what it was sent last */
	bool closed;           /* on_close ran */
	bool active;           /* registered on the db worker */
	bool posted;           /* stream's worker: dbt_pg_sub_add posted */
	/* Its key, until it is registered. */
	uint16_t qidx;
	uint32_t plen;
	uint8_t *params;
} dbt_sub;

enum pc_state { PC_DOWN, PC_CONNECTING, PC_PREPARING, PC_IDLE, PC_BUSY };
enum ls_state { LS_DOWN, LS_CONNECTING, LS_LISTENING, LS_UP };

/* A libpq connection on the db worker's loop. */
typedef struct dbt_conn {
	struct dbt *d;
	PGconn *pg;
	dx_watch *watch;
	int fd;              /* our dup of libpq's socket: what is watched */
	int pgfd;            /* libpq's socket number when we dup'ed it */
	uint64_t ino, dev;   /* its identity (libpq may swap sockets) */
	uint32_t events;
	int state; /* pc_state or ls_state */
	bool listener;
	unsigned prep;       /* PC_PREPARING: next query to prepare */
	dbt_flight *fl;      /* PC_BUSY */
	PGresult *res;       /* the current command's result, until done */
	bool was_up;         /* listener: has been up before (reconnects) */
	uint64_t backoff_ns;
	uint64_t due_ns;     /* when the reconnect timer should fire */
	bool timer;          /* a reconnect timer is pending */
	char err[256];
} dbt_conn;

/* The database worker's entry points of one build, so that another
 * build's code can hand a job over (dbt.h's opening comment). */
typedef struct dbt_ops {
	void (*miss)(void *arg);
	void (*sub_add)(void *arg);
	void (*sub_close)(void *arg);
	void (*invalidate)(void *arg);
} dbt_ops;

/* This build's (each mapping of the plugin has its own). */
extern const dbt_ops dbt_ops_this;

typedef struct dbt {
	/* The driver: its host table, its code, its instance. Set at init;
	 * then changed only on the database worker (dbt_handoff.c). */
	const dx_host_api *host;
	const dbt_ops *ops;
	struct dbt_inst *drv;
	atomic_uint refs;     /* instances that serve it */
	bool dead;            /* db worker: connections closed for good */
	char *conninfo;
	char *channel;
	unsigned pool_size;
	bool install_triggers;
	dbt_query *q;
	unsigned nq;
	dbt_table *t;
	unsigned nt;
	unsigned workers;
	dbt_replica *rep;     /* one per worker */
	atomic_bool started;  /* the db worker has taken over */

	/* Host counters. */
	dx_counter *c_hits, *c_misses, *c_fills, *c_inval, *c_reconn,
		*c_coal, *c_queries;

	/* ---- the db worker's (after start) ---- */
	dbt_conn listen;
	dbt_conn pool[DBT_POOL_MAX];
	dbt_map master;  /* key -> dbt_result */
	dbt_map flights; /* key -> dbt_flight */
	dbt_map subs;    /* key -> dbt_subkey */
	dbt_flight *queue, *queue_tail;
	uint64_t gen;    /* bumped when the listener goes down or up */
	bool cache_ok;   /* the listener is up: fills may be stored */
	char last_err[256];
} dbt;

/* The plugin's self. */
typedef struct dbt_inst {
	const dx_host_api *host;
	dbt *d;            /* what it serves (after an import: the shared core) */
	dbt *own;          /* after an import: the core its init made, closed */
	/* Unused since retire (ABI 1.1) ended fini's drain; kept so that
	 * sizeof(dbt_inst), one of the sizes an import checks, stays that of
	 * 1.1.0: no other build reads them, and a live reload between the
	 * two builds stays possible. */
	bool reserved_b[3];
	atomic_uint reserved_u[2];
	struct dbt_handoff *blob; /* what export handed out */
} dbt_inst;

/* Whether the calling code drives d: only then may it touch d's
 * connections and maps (database worker only). */
static inline bool dbt_driving(const dbt *d)
{
	return d->ops == &dbt_ops_this && !d->dead;
}

/* ---- dbt_pg.c: the db worker ---- */

/* Post from init: the db worker takes over the connections init made. */
void dbt_pg_start(void *arg);
/* Blocking helpers for init (main thread). */
int dbt_pg_prepare_all(dbt *d, PGconn *pg, unsigned from, char *err,
		       size_t n);
/* arg: a dbt_inval (table ids). */
typedef struct dbt_inval {
	dbt *d;
	unsigned n;
	uint32_t tables[];
} dbt_inval;
void dbt_pg_invalidate(void *arg);
/* application_name: "dx_teleport listen|query <pid>". */
void dbt_appname(char *out, size_t n, bool listener);
/* fini: close everything (workers stopped). */
void dbt_pg_free(dbt *d);
/* Database worker: close every connection of d for good (d->dead). */
void dbt_pg_close_all(dbt *d);
/* Database worker, in the new driver's code (d->drv etc. already set):
 * move the watches and pending reconnects of d's connections to it and
 * read what arrived meanwhile. */
void dbt_pg_take_conns(dbt *d);
/* Give queued flights to idle connections (or answer 503). */
void dbt_pool_pump(dbt *d);

/* ---- dbt_fill.c: fills, waiters, subscribers (db worker) ---- */

/* Post targets for the other workers' requests. arg: a dbt_miss. */
typedef struct dbt_miss {
	dbt *d;
	dbt_waiter *w;
	uint16_t qidx;
	uint32_t plen;
	uint8_t params[];
} dbt_miss;
void dbt_pg_miss(void *arg);
/* arg: a dbt_sub with its key set; registers it (db worker). */
void dbt_pg_sub_add(void *arg);
/* arg: a dbt_sub whose stream closed. */
void dbt_pg_sub_close(void *arg);
/* Answer every waiter with an error and forget the flight. */
void dbt_flight_fail(dbt *d, dbt_flight *f, uint16_t status, const char *msg);
/* A query's answer: store it, answer the waiters, push to subscribers. */
void dbt_flight_done(dbt *d, dbt_flight *f, const PGresult *r);
/* Queue f for the pool (head: first, for a retry). */
void dbt_queue_push(dbt *d, dbt_flight *f, bool head);
/* A new flight for the key (w may be NULL: a refresh). */
void dbt_flight_start_key(dbt *d, uint16_t qidx, const uint8_t *params,
			  size_t plen, uint64_t hash, dbt_waiter *w);
/* The calling driver takes over the stream of every registered
 * subscriber (database worker). */
void dbt_subs_adopt(dbt *d);
/* A subscription stream's on_close (arg: its dbt_closer). */
void dbt_sub_on_close(void *arg);
void dbt_sub_free(dbt_sub *s);
/* Out of service (dbt_retire.c, after dbt_pg_close_all): answer every
 * flight's waiters 503 and end every subscriber's stream. */
void dbt_fill_stop(dbt *d);
/* End s's stream with a final RpcError 503 (DBT_GONE): true, and s is the
 * caller's to free; false when its on_close has run already (its
 * dbt_pg_sub_close is queued and frees it). */
bool dbt_sub_end(dbt *d, dbt_sub *s);
/* dbt_map_free callbacks for d->subs and d->flights (fini). */
void dbt_free_subkey(void *ud, void *val);
void dbt_free_flight(void *ud, void *val);

/* ---- dbt_cache.c: replicas ---- */

/* Post a change to every worker's replica: put key -> res (a new
 * reference each), drop the queries in drop (NULL: everything). */
void dbt_replicas_put(dbt *d, uint16_t qidx, const uint8_t *params,
		      size_t plen, uint64_t hash, dbt_result *res);
void dbt_replicas_drop(dbt *d, const bool *drop);
/* A hit in the calling worker's replica (a new reference), or NULL. */
dbt_result *dbt_replica_get(dbt *d, int worker, uint16_t qidx,
			    const uint8_t *params, size_t plen);
void dbt_replicas_free(dbt *d);

/* Answer one waiter: res (a reference is taken) or status + msg; frees w
 * eventually. h: the calling code's own host table (d->host on the
 * database worker). */
void dbt_waiter_answer(const dx_host_api *h, dbt_waiter *w, dbt_result *res,
		       uint16_t status, const char *msg);

/* ---- dbt_setup.c: blocking, main thread (init) ---- */

/* Connect the listener and the pool, install triggers, prepare, LISTEN;
 * in a dry run only check (dbt_setup.c says how). cfg: the plugin's
 * config, so that a configured query that does not prepare is named by
 * its JSON path. */
int dbt_connect_all(dbt *d, const dx_config *cfg);
/* Prepare queries [from, nq) on every connection made so far, and the
 * triggers of tables [tfrom, nt) (a dry run: check them on a connection
 * of its own). cfg as above, or NULL (register_query). */
int dbt_setup_new(dbt *d, unsigned from, unsigned tfrom,
		  const dx_config *cfg);
/* Whether this is dx-host --check: change nothing in the database. */
bool dbt_dry_run(const dbt *d);
/* "what: <Postgres' message>" into err (r's, or pg's when r is NULL);
 * clears r; DX_EPROTO. */
int dbt_pg_error(PGconn *pg, PGresult *r, char *err, size_t n,
		 const char *what);
/* qualified ("t" or "s.t") with each part quoted as an identifier into
 * out: 0, or -ENOMEM. */
int dbt_quote_table(PGconn *pg, const char *qualified, char *out,
		    size_t n);

/* ---- dbt_check.c: a dry run's trigger check (main thread, init) ---- */

/* Whether the triggers of tables [from, nt) could be installed by this
 * role, read from the catalogs (no DDL, no lock on the tables); one info
 * line for each, saying what would be installed. 0, or an error in err
 * (DX_EPROTO: naming the table and what is missing; -ENOMEM). */
int dbt_check_triggers(dbt *d, PGconn *pg, unsigned from, char *err,
		       size_t n);

/* ---- dbt_handoff.c ---- */

int dbt_handoff_export(void *self, const void **data, size_t *len);
int dbt_handoff_import(void *self, const void *data, size_t len);

/* ---- dbt_retire.c ---- */

/* The descriptor's retire (main thread): the instance is out of service. */
void dbt_retire(void *self);
/* fini's part: drop the instance's cores (free_core frees one). */
void dbt_inst_fini(dbt_inst *I, void (*free_core)(dbt *d));

#endif
