/* rt_load.h - a load generator for the reload tests: threads that each own
 * some client connections and keep RT_DEPTH calls to one route in flight on
 * every one of them, counting what comes back. It stops when told, or by
 * itself after RT_LOAD_LIMIT_MS, and then waits (bounded) for the answers
 * still owed. Every answer must be an RpcResponse "v1" or "v2"; anything
 * else is counted and the first one described.
 *
 * Threads: rt_load_start and rt_load_stop run on the test's thread; each
 * load thread touches only its own struct rt_loader (and the atomics). */
#ifndef DX_RT_LOAD_H
#define DX_RT_LOAD_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <dx/client.h>

#define RT_DEPTH 16              /* calls in flight per connection */
#define RT_MAX_CONNS 64          /* per thread */
#define RT_LOAD_LIMIT_MS 100000  /* the load stops by itself after this */
#define RT_STALL_MS 15000        /* owed answers, none for this long: stall */
#define RT_DRAIN_MS 15000        /* after stop, wait this long for the rest */

static int64_t rt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct rt_conn {
	dx_client *c; /* NULL once it failed */
	unsigned inflight;
	int64_t progress_ms; /* when it last got an answer (or started) */
};

struct rt_loader {
	pthread_t thread;
	int id;
	const char *addr;
	uint16_t route;
	int nconn;
	struct rt_conn conn[RT_MAX_CONNS];
	unsigned long sent, answers, v1, v2;
	unsigned long failed; /* answered, but not an RpcResponse */
	unsigned long bad;    /* an RpcResponse other than "v1" / "v2" */
	unsigned long closed; /* connections lost (or never made) */
	unsigned long stalled;
	char failure[512]; /* the first thing that went wrong */
};

static _Atomic bool rt_load_stopping;
static _Atomic unsigned long rt_load_answers; /* all threads, for progress */

static void rt_load_fail(struct rt_loader *l, const char *fmt, const char *a,
			 int conn)
{
	if (l->failure[0])
		return;
	int k = snprintf(l->failure, sizeof l->failure,
			 "load thread %d conn %d: ", l->id, conn);
	snprintf(l->failure + k, sizeof l->failure - (size_t)k, fmt, a);
}

/* Drop connection i after an error on it. */
static void rt_load_lose(struct rt_loader *l, int i, const char *why)
{
	rt_load_fail(l, "connection lost: %s", why, i);
	l->closed++;
	dx_client_close(l->conn[i].c);
	l->conn[i].c = NULL;
}

/* Take every answer connection i has for us now, without waiting. */
static void rt_load_drain(struct rt_loader *l, int i)
{
	struct rt_conn *k = &l->conn[i];
	while (k->c) {
		dx_client_msg m;
		int rc = dx_client_recv(k->c, &m, 0);
		if (rc == -ETIMEDOUT)
			return;
		if (rc < 0 || m.opcode == DX_HBTP_CLOSE) {
			rt_load_lose(l, i,
				     rc < 0 ? dx_client_error(k->c)
					    : "the host sent Close");
			return;
		}
		k->inflight--;
		k->progress_ms = rt_now_ms();
		l->answers++;
		atomic_fetch_add(&rt_load_answers, 1);
		char text[128];
		snprintf(text, sizeof text, "opcode 0x%02x status %u \"%.*s\"",
			 m.opcode, m.status, (int)(m.len > 80 ? 80 : m.len),
			 (const char *)m.payload);
		if (m.opcode != DX_HBTP_RPC_RESPONSE) {
			l->failed++;
			rt_load_fail(l, "a failed request: %s", text, i);
		} else if (m.len == 2 && memcmp(m.payload, "v1", 2) == 0) {
			l->v1++;
		} else if (m.len == 2 && memcmp(m.payload, "v2", 2) == 0) {
			l->v2++;
		} else {
			l->bad++;
			rt_load_fail(l, "an answer neither v1 nor v2: %s", text,
				     i);
		}
	}
}

/* Top connection i up to RT_DEPTH calls in flight and send them. */
static void rt_load_fill(struct rt_loader *l, int i)
{
	struct rt_conn *k = &l->conn[i];
	while (k->c && k->inflight < RT_DEPTH) {
		uint16_t seq;
		if (dx_client_call(k->c, l->route, "", 0, 0, &seq) < 0) {
			rt_load_lose(l, i, dx_client_error(k->c));
			return;
		}
		k->inflight++;
		l->sent++;
	}
	if (k->c && dx_client_flush(k->c, 5000) < 0)
		rt_load_lose(l, i, dx_client_error(k->c));
}

/* Wait up to ms for any connection to become readable, then drain each. */
static void rt_load_poll(struct rt_loader *l, int ms)
{
	struct pollfd p[RT_MAX_CONNS];
	for (int i = 0; i < l->nconn; i++)
		p[i] = (struct pollfd){
			.fd = l->conn[i].c ? dx_client_fd(l->conn[i].c) : -1,
			.events = POLLIN};
	poll(p, (nfds_t)l->nconn, ms);
	/* Drain all, not only the readable ones: the client may hold whole
	 * messages it read earlier that poll cannot see. */
	int64_t now = rt_now_ms();
	for (int i = 0; i < l->nconn; i++) {
		rt_load_drain(l, i);
		struct rt_conn *k = &l->conn[i];
		if (k->c && k->inflight && now - k->progress_ms > RT_STALL_MS) {
			l->stalled++;
			rt_load_lose(l, i, "no answer for 15 s (stalled)");
		}
	}
}

/* How many calls are still owed on live connections. */
static unsigned long rt_load_owed(const struct rt_loader *l)
{
	unsigned long owed = 0;
	for (int i = 0; i < l->nconn; i++)
		owed += l->conn[i].c ? l->conn[i].inflight : 0;
	return owed;
}

static void *rt_load_main(void *arg)
{
	struct rt_loader *l = arg;
	int64_t start = rt_now_ms();
	for (int i = 0; i < l->nconn; i++) {
		char err[256];
		l->conn[i].progress_ms = start;
		if (dx_client_connect(l->addr, 5000, &l->conn[i].c, err,
				      sizeof err) < 0) {
			l->conn[i].c = NULL;
			l->closed++;
			rt_load_fail(l, "connect: %s", err, i);
		}
	}
	while (!atomic_load(&rt_load_stopping) &&
	       rt_now_ms() - start < RT_LOAD_LIMIT_MS) {
		for (int i = 0; i < l->nconn; i++)
			rt_load_fill(l, i);
		rt_load_poll(l, 50);
	}
	int64_t drain_end = rt_now_ms() + RT_DRAIN_MS;
	while (rt_load_owed(l) && rt_now_ms() < drain_end)
		rt_load_poll(l, 50);
	for (int i = 0; i < l->nconn; i++) {
		if (l->conn[i].c && l->conn[i].inflight) {
			l->stalled++;
			rt_load_fail(l, "%s", "answers still owed after the drain",
				     i);
		}
		dx_client_close(l->conn[i].c);
		l->conn[i].c = NULL;
	}
	return NULL;
}

/* Start nthreads threads sharing nconns connections to addr, each calling
 * route with no arguments. 0, or -1 when a thread could not start. */
static int rt_load_start(struct rt_loader *l, int nthreads, int nconns,
			 const char *addr, uint16_t route)
{
	atomic_store(&rt_load_stopping, false);
	atomic_store(&rt_load_answers, 0);
	for (int t = 0; t < nthreads; t++) {
		memset(&l[t], 0, sizeof l[t]);
		l[t].id = t;
		l[t].addr = addr;
		l[t].route = route;
		l[t].nconn = nconns / nthreads + (t < nconns % nthreads);
		if (l[t].nconn > RT_MAX_CONNS ||
		    pthread_create(&l[t].thread, NULL, rt_load_main, &l[t]))
			return -1;
	}
	return 0;
}

/* Stop the threads, wait for them, and add their counts into *sum (its
 * failure: the first thread's that has one). */
static void rt_load_stop(struct rt_loader *l, int nthreads,
			 struct rt_loader *sum)
{
	atomic_store(&rt_load_stopping, true);
	memset(sum, 0, sizeof *sum);
	for (int t = 0; t < nthreads; t++) {
		pthread_join(l[t].thread, NULL);
		sum->sent += l[t].sent;
		sum->answers += l[t].answers;
		sum->v1 += l[t].v1;
		sum->v2 += l[t].v2;
		sum->failed += l[t].failed;
		sum->bad += l[t].bad;
		sum->closed += l[t].closed;
		sum->stalled += l[t].stalled;
		sum->nconn += l[t].nconn;
		if (!sum->failure[0] && l[t].failure[0])
			snprintf(sum->failure, sizeof sum->failure, "%s",
				 l[t].failure);
	}
}

#endif
