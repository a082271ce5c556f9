/* dx_bench.h - private to `dx bench` (tools/dx_bench*.c): the options,
 * the latency histogram, the per-connection and per-thread state, and the
 * functions one file of the tool calls in another. Every system: what
 * differs by system is behind the readiness layer (bwait: epoll on Linux,
 * poll() elsewhere) and the bench_sys_* calls, a file each that
 * tools/meson.build picks.
 *
 * Threads: a bthread and its bconns belong to the thread running
 * bench_thread on it until it is joined; bshared is read by all, its stop
 * flag and each bthread's progress counter are the only atomics. */
#ifndef DX_BENCH_H
#define DX_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <dx/addr.h>
#include <dx/hbtp.h>

/* ---- histogram ------------------------------------------------------------ */

#define H_SUB 128u            /* linear sub-buckets per power of two */
#define H_SHIFT 7u            /* log2(H_SUB) */
#define H_MAXV 60000000000ull /* 60 s in ns */
#define H_N 3840u             /* enough for H_MAXV (< 2^36) */

typedef struct bhist {
	uint64_t b[H_N];
	uint64_t count, max, sum;
} bhist;

static inline unsigned h_index(uint64_t v)
{
	if (v < 2 * H_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
	unsigned shift = e - H_SHIFT;
	return shift * H_SUB + (unsigned)(v >> shift);
}

static inline void h_record(bhist *h, uint64_t v)
{
	if (v > H_MAXV)
		v = H_MAXV;
	h->b[h_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* dx_bench_hist.c */
void bench_hist_merge(bhist *into, const bhist *h);
double bench_hist_percentile(const bhist *h, double p);

/* ---- options -------------------------------------------------------------- */

enum bmode { B_PING, B_ROUTE, B_RESP };

typedef struct bopts {
	const char *addr;
	unsigned conns, pipeline, threads;
	double duration, warmup;
	uint64_t count; /* 0: duration mode */
	enum bmode mode;
	const char *route;
	size_t size;
	bool json;
	int timeout_ms;
	int cpus[256];
	unsigned ncpus; /* each of cpus below BENCH_CPU_MAX */
	dx_hbtp_meta_writer meta; /* --meta entries (meta.len 0: none) */
	uint8_t meta_buf[65537];
	uint8_t *body; /* --body-hex (body_len bytes), or NULL */
	size_t body_len;
} bopts;

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --cpu's bound: glibc's CPU_SETSIZE, the same on every system so a
 * list means the same everywhere (pinning where the system cannot is
 * skipped: pin.h). */
#define BENCH_CPU_MAX 1024

/* dx_bench_opts.c: 0, -1 after --help, or 2 after a usage error
 * (printed). */
int bench_parse(int argc, char **argv, bopts *o);

/* ---- connections and threads --------------------------------------------- */

typedef struct bconn {
	int fd; /* sock.h's: a SOCKET cast to int on Windows */
	bool dead, want_out;
	unsigned wslot; /* the readiness layer's own (dx_bench_wait_poll.c) */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	uint64_t *ts;   /* per slot (HBTP) or FIFO entry (RESP): send time */
	uint16_t *seq;  /* HBTP: the seq a slot was sent with */
	uint8_t *used;  /* HBTP: slot outstanding */
	uint16_t *free; /* HBTP: stack of free slots */
	unsigned nfree;
	unsigned head, tail; /* RESP FIFO */
	unsigned outstanding;
} bconn;

typedef struct bshared {
	const bopts *o;
	const uint8_t *req; /* one request, seq patched per send */
	size_t req_len;
	size_t resp_len;           /* RESP: expected answer bytes */
	unsigned ring;             /* R: power of two >= pipeline */
	uint64_t t_measure, t_end; /* t_end = 0 in count mode */
	atomic_bool stop;
} bshared;

typedef struct bthread {
	bshared *sh;
	pthread_t thread;
	int cpu; /* -1: not pinned */
	bconn *conns;
	unsigned nconns, alive;
	uint64_t quota; /* count mode */
	bhist hist;
	uint64_t ok, errors, unexpected, closed, lost;
	uint64_t outstanding;
	uint64_t nrecv, nsend, nwait;  /* syscalls, warmup included; nwait
					  counts bench_wait calls */
	uint64_t t_last;               /* last measured answer */
	atomic_uint_fast64_t progress; /* answers so far, warmup included */
	char why[256];                 /* first connection-level trouble */
	char rpcerr[160];              /* first RpcError */
} bthread;

typedef struct bprogress_arg {
	bthread *ts;
	unsigned nt;
	bshared *sh;
	uint64_t start;
} bprogress_arg;

/* dx_bench_conn.c */
int bench_resolve(const char *addr, dx_sockaddr *out, int n, char *err,
		  size_t errlen);
int bench_route_id(const bopts *o);
int bench_conn_init(bconn *c, const bshared *sh, int fd);
void bench_conn_free(bconn *c);
uint8_t *bench_build_request(const bopts *o, int route, size_t *len,
			     size_t *resp_len);

/* dx_bench_loop.c: the thread's main; arg is its bthread. */
void *bench_thread(void *arg);

/* ---- readiness: dx_bench_wait_epoll.c or dx_bench_wait_poll.c ------------ */

/* One bench thread's set of its connections, level-triggered: each live
 * connection is watched for input (and errors and hang-ups), and for room
 * to write while bench_wait_out says so. Belongs to that thread. */
typedef struct bwait bwait;

/* The wait call, as the report names it ("epoll_wait", "poll"). */
extern const char bench_wait_name[];

/* A set watching every connection of t for input; NULL with t->why set
 * when it cannot be made. */
bwait *bench_wait_open(bthread *t);
/* Watch c for room to write too (out), or no longer. */
void bench_wait_out(bwait *w, bconn *c, bool out);
/* Stop watching c; before its socket is closed. */
void bench_wait_forget(bwait *w, bconn *c);
/* Wait up to timeout_ms for readiness: how many connections are ready
 * (0: timed out), or a negative errno (-EINTR: wait again). */
int bench_wait(bwait *w, int timeout_ms);
/* The next connection the last bench_wait found ready, *in set when it
 * has input (or an error or hang-up: recv tells which) rather than only
 * room; NULL after the last. bench_wait_forget may be called on the one
 * returned before the next call. */
bconn *bench_wait_next(bwait *w, bool *in);
void bench_wait_close(bwait *w);

/* ---- the system: dx_bench_sys_posix.c or dx_bench_sys_win.c --------------- */

/* Once, before connecting: SIGPIPE ignored (POSIX), Winsock started for
 * the calls compiled into dx.exe (Windows). */
void bench_sys_init(void);
/* Whether stdout takes the live progress line ("\r\033[K"): a terminal
 * (POSIX), a console with escape sequences on (Windows). */
bool bench_sys_live(void);
/* poll() (WSAPoll on Windows, whose struct pollfd is WSAPOLLFD): as
 * poll, but a negative errno on failure. */
struct pollfd;
int bench_sys_poll(struct pollfd *p, unsigned n, int timeout_ms);

/* dx_bench_report.c */
void *bench_progress_main(void *arg);
int bench_report(const bopts *o, const bshared *sh, const bthread *ts,
		 uint64_t t_done);

#endif
