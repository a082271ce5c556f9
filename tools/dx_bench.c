/* dx_bench.c - `dx bench ADDR`: an HBTP (or RESP) load generator.
 *
 * In the spirit of redis-benchmark and wrk. Every thread runs its own lean
 * event loop over its share of the connections: non-blocking sockets and
 * epoll (poll() on the BSDs, macOS, Windows and with
 * -Dportable_fallbacks: dx_bench_wait_*.c), one read and one write buffer
 * per connection, a whole pipeline
 * batch written with one send(), responses parsed incrementally, and the
 * pipeline refilled as answers come so each connection keeps P requests
 * outstanding. dx_client is not used on the hot path (it is used once to
 * resolve a route name through route 0).
 *
 * Latency of a request is the time from the send() that carried it to the
 * recv() that brought its answer (CLOCK_MONOTONIC). HBTP requests carry a
 * seq that names a slot of the connection (seq = slot + k * R, R the power
 * of two at or above P), so out-of-order answers pair up in O(1); RESP
 * answers come in order and pop a FIFO. Latencies go into a log-linear
 * histogram per thread (HdrHistogram-style: exact below 256 ns, then 128
 * linear sub-buckets per power of two, so within 0.8%; up to 60 s), merged
 * at the end: no per-sample storage.
 *
 * Timeline: connect everything, then warm up (answers not counted), then
 * measure for -d seconds (answers arriving in the window count) or until
 * -n answers arrived. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dx_cmd.h"

const char dx_bench_usage[] =
	"usage: dx bench [OPTIONS] ADDR\n"
	"\n"
	"Load the HBTP host at ADDR (HOST:PORT, [IPV6]:PORT or unix:PATH) and\n"
	"print requests/s and latency percentiles (p50, p99, p99.9, max, in\n"
	"microseconds). Each connection keeps PIPELINE requests outstanding.\n"
	"\n"
	"  -c N             connections (default 50)\n"
	"  -P N             pipeline depth per connection (default 1, max 4096)\n"
	"  -t N             threads; connections are spread over them\n"
	"                   (default 1)\n"
	"  -d SECONDS       measure for SECONDS (default 5)\n"
	"  -n COUNT         measure COUNT answers instead of a duration\n"
	"  --warmup SECONDS run this long first, not measured (default 1)\n"
	"  --ping           send HBTP Ping, expect Pong (the default)\n"
	"  --route NAME|ID  send RpcCall to this route (a name is looked up\n"
	"                   once through route 0, the route table)\n"
	"  -s BYTES         Ping payload or route argument size (default 0)\n"
	"  --body-hex HEX   route arguments: these bytes instead of -s x's\n"
	"                   (e.g. a db.get body, see dx/db_teleport.h)\n"
	"  --meta KEY=VALUE send this metadata with every request (repeatable;\n"
	"                   e.g. --meta \"authorization=Bearer TOKEN\")\n"
	"  --resp           speak RESP to a redis-server instead: send inline\n"
	"                   PING, expect +PONG (or PING <s bytes>, expect the\n"
	"                   bulk reply), to measure redis with the same client\n"
	"  --cpu LIST       pin the threads to these CPUs, round-robin\n"
	"                   (e.g. 1, 2,3 or 0-3)\n"
	"  --timeout MS     connect timeout, and how long to wait for an\n"
	"                   answer before giving up (default 5000)\n"
	"  --json           print one JSON line instead of the table\n"
	"\n"
	"On a terminal a progress line shows the rate so far. RpcError answers\n"
	"count as errors; connections the server closes are reported.\n"
	"Exit status: 0 done, 1 cannot connect, the server closed connections\n"
	"or nothing was answered, 2 a usage error.\n"
	"\n"
	"Examples:\n"
	"  dx bench 127.0.0.1:7070\n"
	"  dx bench -c 50 -P 16 -d 10 --cpu 1 127.0.0.1:7070\n"
	"  dx bench -c 1 --route echo -s 64 127.0.0.1:7070\n"
	"  dx bench --resp -c 50 -P 16 127.0.0.1:6379\n";

#include <pthread.h>
#include <stdlib.h>

#include <dx/addr.h>

#include "dx_bench.h"
#include "sock.h"

/* Connect every connection, run the threads for the warmup and the
 * measurement, join them, report. Returns the exit status. */
static int bench_run(const bopts *o, int route)
{
	bshared sh = {.o = o};
	uint8_t *req = bench_build_request(o, route, &sh.req_len, &sh.resp_len);
	if (!req) {
		fprintf(stderr, "dx bench: out of memory\n");
		return 1;
	}
	sh.req = req;
	sh.ring = 1;
	while (sh.ring < o->pipeline)
		sh.ring <<= 1;
	atomic_init(&sh.stop, false);

	char err[256];
	dx_sockaddr addrs[8];
	int na = bench_resolve(o->addr, addrs, 8, err, sizeof err);
	if (na < 0) {
		fprintf(stderr, "dx bench: cannot connect: %s\n", err);
		free(req);
		return 1;
	}
	bthread *ts = calloc(o->threads, sizeof *ts);
	bconn *conns = calloc(o->conns, sizeof *conns);
	int rc = 1;
	unsigned made = 0;
	if (!ts || !conns) {
		fprintf(stderr, "dx bench: out of memory\n");
		goto out;
	}
	/* Connect everything first; the first address that works is used
	 * for all. */
	const dx_sockaddr *use = NULL;
	for (unsigned i = 0; i < o->conns; i++) {
		int fd = -ECONNREFUSED;
		if (!use) {
			for (int k = 0; k < na; k++) {
				fd = dx_sockaddr_connect(&addrs[k],
							 o->timeout_ms);
				if (fd >= 0) {
					use = &addrs[k];
					break;
				}
			}
		} else
			fd = dx_sockaddr_connect(use, o->timeout_ms);
		if (fd < 0) {
			fprintf(stderr,
				"dx bench: cannot connect to %s: %s%s\n",
				o->addr, dx_sock_strerror(-fd),
				i ? "" : " (is a server listening there?)");
			if (i)
				fprintf(stderr,
					"dx bench: (after %u of %u "
					"connections)\n",
					i, o->conns);
			goto out;
		}
		if (bench_conn_init(&conns[i], &sh, fd) < 0) {
			dx_sock_close(fd);
			fprintf(stderr, "dx bench: out of memory\n");
			goto out;
		}
		made++;
	}
	/* Spread the connections over the threads, contiguously. */
	for (unsigned i = 0, at = 0; i < o->threads; i++) {
		bthread *t = &ts[i];
		t->sh = &sh;
		t->nconns = o->conns / o->threads +
			    (i < o->conns % o->threads ? 1 : 0);
		t->conns = &conns[at];
		t->alive = t->nconns;
		at += t->nconns;
		t->cpu = o->ncpus ? o->cpus[i % o->ncpus] : -1;
		if (o->count)
			t->quota = o->count / o->threads +
				   (i < o->count % o->threads ? 1 : 0);
		atomic_init(&t->progress, 0);
	}
	uint64_t start = now_ns();
	sh.t_measure = start + (uint64_t)(o->warmup * 1e9);
	sh.t_end = o->count ? 0 : sh.t_measure + (uint64_t)(o->duration * 1e9);
	unsigned started = 0;
	for (; started < o->threads; started++) {
		int e = pthread_create(&ts[started].thread, NULL, bench_thread,
				       &ts[started]);
		if (e) {
			fprintf(stderr, "dx bench: pthread_create: %s\n",
				strerror(e));
			atomic_store(&sh.stop, true);
			break;
		}
	}
	pthread_t pt;
	bprogress_arg pa = {ts, started, &sh, start};
	bool live = started == o->threads && !o->json && bench_sys_live() &&
		    pthread_create(&pt, NULL, bench_progress_main, &pa) == 0;
	for (unsigned i = 0; i < started; i++)
		pthread_join(ts[i].thread, NULL);
	uint64_t t_done = now_ns();
	atomic_store(&sh.stop, true);
	if (live)
		pthread_join(pt, NULL);
	if (started < o->threads)
		goto out;

	rc = bench_report(o, &sh, ts, t_done);
out:
	for (unsigned i = 0; i < made; i++)
		bench_conn_free(&conns[i]);
	free(conns);
	free(ts);
	free(req);
	return rc;
}

int dx_cmd_bench(int argc, char **argv)
{
	bopts o;
	memset(&o, 0, sizeof o);
	int rc = bench_parse(argc, argv, &o);
	if (rc) {
		free(o.body);
		return rc < 0 ? 0 : rc;
	}
	bench_sys_init();
	int route = 0;
	if (o.mode == B_ROUTE && (route = bench_route_id(&o)) < 0) {
		free(o.body);
		return 1;
	}
	rc = bench_run(&o, route);
	free(o.body);
	return rc;
}
