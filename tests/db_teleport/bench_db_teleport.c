/* bench_db_teleport.c - the two measurements bench/db_teleport.sh needs
 * besides dx bench:
 *
 *   bench_db_teleport hit MANIFEST QUERY [PARAM]
 *       Runs a host in-process from MANIFEST (the real loader, registry
 *       and workers; one worker), warms QUERY through the SERVICE facet's
 *       get (a miss, answered later), then on the worker times get+release
 *       of that warm key: batches of 1000, ns per hit; prints
 *       "hit_ns_p50 X p99 Y min Z".
 *
 *   bench_db_teleport pg CONNINFO SQL CONNS SECONDS [PIPELINE]
 *       The same query straight to Postgres: CONNS libpq connections in
 *       one thread (poll), each with PIPELINE prepared executions in
 *       flight (libpq pipeline mode when > 1). Prints "pg_rate X" (answers
 *       per second over SECONDS, after a 1 s warm-up).
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <dx/db_teleport.h>

#include "boot.h"
#include "diag.h"
#include "manifest.h"
#include "registry.h"
#include "server.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* ---- hit: in-process ---- */

#define BATCHES 3000
#define PER_BATCH 1000

struct hit {
	const dx_db_service *svc;
	void *self;
	const char *query;
	const char *params[1];
	unsigned nparams;
	atomic_int state; /* 0 warming, 1 warm, 2 measured, -1 failed */
	uint64_t ns[BATCHES];
};

static void warm_done(void *arg, const dx_db_result *res, uint16_t status,
		      const char *msg)
{
	struct hit *h = arg;
	if (res) {
		h->svc->release(h->self, res);
		atomic_store(&h->state, 1);
	} else {
		fprintf(stderr, "bench: warm-up: %u %s\n", status, msg);
		atomic_store(&h->state, -1);
	}
}

static void warm(void *arg)
{
	struct hit *h = arg;
	const dx_db_result *r;
	int rc = h->svc->get(h->self, h->query, h->params, h->nparams,
			     warm_done, h, &r);
	if (rc == 0) {
		h->svc->release(h->self, r);
		atomic_store(&h->state, 1);
	} else if (rc != DX_PENDING) {
		fprintf(stderr, "bench: get: %s\n", dx_strerror(rc));
		atomic_store(&h->state, -1);
	}
}

/* On the worker: the replica is filled a post after the answer, so the
 * first gets may still miss; wait for a hit, then time. */
static void measure(void *arg)
{
	struct hit *h = arg;
	const dx_db_result *r;
	int rc = h->svc->get(h->self, h->query, h->params, h->nparams,
			     warm_done, h, &r);
	if (rc != 0) {
		fprintf(stderr, "bench: not a hit yet (%d)\n", rc);
		atomic_store(&h->state, -1);
		return;
	}
	h->svc->release(h->self, r);
	for (int b = 0; b < BATCHES; b++) {
		uint64_t t0 = now_ns();
		for (int i = 0; i < PER_BATCH; i++) {
			h->svc->get(h->self, h->query, h->params, h->nparams,
				    warm_done, h, &r);
			h->svc->release(h->self, r);
		}
		h->ns[b] = now_ns() - t0;
	}
	atomic_store(&h->state, 2);
}

static int wait_state(struct hit *h, int want)
{
	for (int i = 0; i < 3000; i++) {
		int s = atomic_load(&h->state);
		if (s == want || s < 0)
			return s;
		usleep(10000);
	}
	return -1;
}

static int bench_hit(const char *manifest, const char *query,
		     const char *param)
{
	dx_diag d = DX_DIAG_INIT;
	dx_manifest *m = NULL;
	dx_server *s = NULL;
	int rc = dx_manifest_load(manifest, &m, &d);
	dx_registry_opts ro = {.log_level = DX_LOG_WARN, .workers = 1};
	dx_registry *r = rc == 0 ? dx_registry_new(&ro) : NULL;
	dx_facet_ref ref;
	struct hit *h = calloc(1, sizeof *h);
	if (!r || !h || dx_boot_plugins(m, r, &d) < 0 ||
	    dx_server_new(m, r, &d, &s) < 0 || dx_server_start(s, &d) < 0 ||
	    dx_registry_lookup(r, DX_FACET_SERVICE, DX_DB_SERVICE, &ref) < 0) {
		dx_diag_print(&d, stderr, "bench");
		return 1;
	}
	h->svc = ref.vtable;
	h->self = ref.self;
	h->query = query;
	h->params[0] = param;
	h->nparams = param ? 1 : 0;
	rc = 1;
	if (dx_registry_post(r, 0, warm, h) == 0 && wait_state(h, 1) == 1) {
		usleep(20000);
		if (dx_registry_post(r, 0, measure, h) == 0 &&
		    wait_state(h, 2) == 2) {
			qsort(h->ns, BATCHES, sizeof h->ns[0], cmp_u64);
			printf("hit_ns_p50 %.1f p99 %.1f min %.1f\n",
			       (double)h->ns[BATCHES / 2] / PER_BATCH,
			       (double)h->ns[BATCHES * 99 / 100] / PER_BATCH,
			       (double)h->ns[0] / PER_BATCH);
			rc = 0;
		}
	}
	dx_server_free(s);
	dx_registry_fini_all(r);
	dx_registry_free(r);
	dx_manifest_free(m);
	dx_diag_clear(&d);
	free(h);
	return rc;
}

/* ---- pg: straight to Postgres ---- */

struct pgc {
	PGconn *c;
	unsigned inflight;
	bool got; /* no pipeline: the result came, its NULL not yet */
};

static int pg_send(struct pgc *p, unsigned pipeline)
{
	while (p->inflight < pipeline) {
		if (!PQsendQueryPrepared(p->c, "q", 0, NULL, NULL, NULL, 0))
			return -1;
		p->inflight++;
		if (pipeline > 1 && !PQpipelineSync(p->c))
			return -1;
	}
	return PQflush(p->c) < 0 ? -1 : 0;
}

/* Read what came: the answers counted. Without a pipeline a query is
 * over (and the next may be sent) at the NULL after its result. */
static long pg_read(struct pgc *p, unsigned pipeline)
{
	long n = 0;
	if (!PQconsumeInput(p->c))
		return -1;
	while (!PQisBusy(p->c)) {
		PGresult *r = PQgetResult(p->c);
		if (!r) {
			if (pipeline > 1)
				continue; /* between a query and its sync */
			if (p->got) {
				p->got = false;
				p->inflight--;
			}
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		PQclear(r);
		if (st == PGRES_TUPLES_OK) {
			n++;
			if (pipeline > 1)
				p->inflight--;
			else
				p->got = true;
		} else if (st == PGRES_PIPELINE_SYNC) {
			if (p->inflight == 0)
				break;
		} else {
			fprintf(stderr, "bench: %s", PQerrorMessage(p->c));
			return -1;
		}
	}
	return n;
}

static int bench_pg(const char *conninfo, const char *sql, unsigned conns,
		    double secs, unsigned pipeline)
{
	struct pgc *p = calloc(conns, sizeof *p);
	struct pollfd *fds = calloc(conns, sizeof *fds);
	for (unsigned i = 0; i < conns; i++) {
		p[i].c = PQconnectdb(conninfo);
		PGresult *r = PQstatus(p[i].c) == CONNECTION_OK
				      ? PQprepare(p[i].c, "q", sql, 0, NULL)
				      : NULL;
		if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench: %s", PQerrorMessage(p[i].c));
			return 1;
		}
		PQclear(r);
		PQsetnonblocking(p[i].c, 1);
		if (pipeline > 1)
			PQenterPipelineMode(p[i].c);
		fds[i].fd = PQsocket(p[i].c);
		fds[i].events = POLLIN;
		if (pg_send(&p[i], pipeline) < 0)
			return 1;
	}
	uint64_t start = now_ns(), warm_end = start + 1000000000ull,
		 end = warm_end + (uint64_t)(secs * 1e9);
	long counted = 0;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= end)
			break;
		if (poll(fds, conns, 100) < 0 && errno != EINTR)
			return 1;
		now = now_ns();
		for (unsigned i = 0; i < conns; i++) {
			if (!fds[i].revents)
				continue;
			long n = pg_read(&p[i], pipeline);
			if (n < 0 || pg_send(&p[i], pipeline) < 0)
				return 1;
			if (now >= warm_end)
				counted += n;
		}
	}
	printf("pg_rate %.0f\n", (double)counted / secs);
	for (unsigned i = 0; i < conns; i++)
		PQfinish(p[i].c);
	free(p);
	free(fds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "hit") == 0)
		return bench_hit(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	if (argc >= 6 && strcmp(argv[1], "pg") == 0)
		return bench_pg(argv[2], argv[3], (unsigned)atoi(argv[4]),
				atof(argv[5]),
				argc > 6 ? (unsigned)atoi(argv[6]) : 1);
	fprintf(stderr,
		"usage: bench_db_teleport hit MANIFEST QUERY [PARAM]\n"
		"       bench_db_teleport pg CONNINFO SQL CONNS SECONDS "
		"[PIPELINE]\n");
	return 2;
}
