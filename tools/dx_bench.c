/* dx_bench.c - `dx bench ADDR`: an HBTP (or RESP) load generator.
 *
 * In the spirit of redis-benchmark and wrk. Every thread runs its own lean
 * event loop over its share of the connections: non-blocking sockets and
 * epoll, one read and one write buffer per connection, a whole pipeline
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
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#ifndef __linux__

int dx_cmd_bench(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dx bench: needs Linux (epoll) for now\n");
	return 1;
}

#else

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cJSON.h>
#include <dx/addr.h>
#include <dx/client.h>
#include <dx/hbtp.h>

/* ---- histogram ------------------------------------------------------------ */

#define H_SUB 128u  /* linear sub-buckets per power of two */
#define H_SHIFT 7u  /* log2(H_SUB) */
#define H_MAXV 60000000000ull /* 60 s in ns */
#define H_N 3840u   /* enough for H_MAXV (< 2^36) */

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

/* The lowest and highest value of bucket i. */
static void h_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
	if (i < 2 * H_SUB) {
		*lo = *hi = i;
		return;
	}
	unsigned shift = (i >> H_SHIFT) - 1;
	*lo = (uint64_t)(i - shift * H_SUB) << shift;
	*hi = *lo + ((uint64_t)1 << shift) - 1;
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

static void h_merge(bhist *into, const bhist *h)
{
	for (unsigned i = 0; i < H_N; i++)
		into->b[i] += h->b[i];
	into->count += h->count;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
}

/* The value at percentile p (0 < p <= 100), in ns: the middle of the
 * bucket holding it (never above the exact max). */
static double h_percentile(const bhist *h, double p)
{
	if (!h->count)
		return 0;
	double x = p / 100.0 * (double)h->count;
	uint64_t want = (uint64_t)x;
	if ((double)want < x || want < 1)
		want++; /* ceil */
	uint64_t seen = 0;
	for (unsigned i = 0; i < H_N; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t lo, hi;
			h_range(i, &lo, &hi);
			double mid = ((double)lo + (double)hi) / 2;
			return mid > (double)h->max ? (double)h->max : mid;
		}
	}
	return (double)h->max;
}

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
	unsigned ncpus;
	dx_hbtp_meta_writer meta; /* --meta entries (meta.len 0: none) */
	uint8_t meta_buf[65537];
	uint8_t *body; /* --body-hex (body_len bytes), or NULL */
	size_t body_len;
} bopts;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_uint(const char *opt, const char *s, unsigned long long lo,
		      unsigned long long hi, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v < lo || v > hi) {
		fprintf(stderr, "dx bench: %s wants an integer in %llu..%llu, "
				"got \"%s\"\n",
			opt, lo, hi, s);
		return 2;
	}
	*out = v;
	return 0;
}

static int parse_secs(const char *opt, const char *s, double lo, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= lo) || v > 86400) {
		fprintf(stderr, "dx bench: %s wants seconds (%g..86400), got "
				"\"%s\"\n",
			opt, lo, s);
		return 2;
	}
	*out = v;
	return 0;
}

/* "1", "0,2", "1-3,5". */
static int parse_cpus(const char *s, bopts *o)
{
	const char *p = s;
	o->ncpus = 0;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;
		if (end == p || a < 0 || a >= CPU_SETSIZE)
			goto bad;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a || b >= CPU_SETSIZE)
				goto bad;
			p = end;
		}
		for (long i = a; i <= b; i++) {
			if (o->ncpus == sizeof o->cpus / sizeof o->cpus[0])
				goto bad;
			o->cpus[o->ncpus++] = (int)i;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (o->ncpus)
		return 0;
bad:
	fprintf(stderr, "dx bench: --cpu wants a CPU list such as 1, 2,3 or "
			"0-3, got \"%s\"\n",
		s);
	return 2;
}

/* --meta KEY=VALUE, appended to o->meta. */
static int parse_meta(const char *s, bopts *o)
{
	const char *eq = strchr(s, '=');
	char key[256];
	if (!o->meta.out)
		dx_hbtp_meta_begin(&o->meta, o->meta_buf, sizeof o->meta_buf);
	if (!eq || eq == s || (size_t)(eq - s) >= sizeof key) {
		fprintf(stderr, "dx bench: --meta wants KEY=VALUE, got \"%s\"\n",
			s);
		return 2;
	}
	memcpy(key, s, (size_t)(eq - s));
	key[eq - s] = '\0';
	int rc = dx_hbtp_meta_add(&o->meta, key, eq + 1, strlen(eq + 1));
	if (rc < 0) {
		fprintf(stderr, "dx bench: --meta %s: %s\n", key,
			rc == -EINVAL ? "keys are lowercase ASCII, values at "
					"most 65535 bytes"
				      : "the metadata block is full");
		return 2;
	}
	return dx_hbtp_meta_end(&o->meta) < 0 ? 2 : 0;
}

/* --body-hex: the route arguments, as hex digits. */
static int parse_hex(const char *s, bopts *o)
{
	size_t n = strlen(s);
	free(o->body);
	o->body = n % 2 ? NULL : malloc(n / 2 + 1);
	for (size_t i = 0; o->body && i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
			free(o->body);
			o->body = NULL;
			break;
		}
		o->body[i] = (uint8_t)v;
	}
	if (!o->body) {
		fprintf(stderr, "dx bench: --body-hex wants an even number of "
				"hex digits\n");
		return 2;
	}
	o->body_len = n / 2;
	return 0;
}

static int bench_parse(int argc, char **argv, bopts *o)
{
	static const struct option opts[] = {
		{"ping", no_argument, NULL, 'p'},
		{"route", required_argument, NULL, 'r'},
		{"resp", no_argument, NULL, 'R'},
		{"warmup", required_argument, NULL, 'w'},
		{"cpu", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 'T'},
		{"json", no_argument, NULL, 'j'},
		{"meta", required_argument, NULL, 'M'},
		{"body-hex", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	o->conns = 50;
	o->pipeline = 1;
	o->threads = 1;
	o->duration = 5;
	o->warmup = 1;
	o->timeout_ms = 5000;
	o->mode = B_PING;
	optind = 1;
	int c, rc = 0;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "hc:P:t:d:n:s:", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			rc = parse_uint("-c", optarg, 1, 100000, &v);
			o->conns = (unsigned)v;
			break;
		case 'P':
			rc = parse_uint("-P", optarg, 1, 4096, &v);
			o->pipeline = (unsigned)v;
			break;
		case 't':
			rc = parse_uint("-t", optarg, 1, 256, &v);
			o->threads = (unsigned)v;
			break;
		case 'n':
			rc = parse_uint("-n", optarg, 1, UINT64_MAX / 2, &v);
			o->count = v;
			break;
		case 's':
			rc = parse_uint("-s", optarg, 0, 16u << 20, &v);
			o->size = (size_t)v;
			break;
		case 'T':
			rc = parse_uint("--timeout", optarg, 1, 3600000, &v);
			o->timeout_ms = (int)v;
			break;
		case 'd': rc = parse_secs("-d", optarg, 0.001, &o->duration); break;
		case 'w': rc = parse_secs("--warmup", optarg, 0, &o->warmup); break;
		case 'C': rc = parse_cpus(optarg, o); break;
		case 'p': o->mode = B_PING; break;
		case 'R': o->mode = B_RESP; break;
		case 'r':
			o->mode = B_ROUTE;
			o->route = optarg;
			break;
		case 'j': o->json = true; break;
		case 'M': rc = parse_meta(optarg, o); break;
		case 'B': rc = parse_hex(optarg, o); break;
		case 'h': fputs(dx_bench_usage, stdout); return -1;
		default: fputs(dx_bench_usage, stderr); return 2;
		}
		if (rc)
			return rc;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "dx bench: %s\n%s",
			argc - optind ? "one ADDR only" : "ADDR is missing",
			dx_bench_usage);
		return 2;
	}
	o->addr = argv[optind];
	if (o->threads > o->conns)
		o->threads = o->conns;
	if (o->body)
		o->size = o->body_len; /* --body-hex wins over -s */
	if (o->mode == B_ROUTE && o->size + 2 > DX_CLIENT_MAX_FRAME) {
		fprintf(stderr, "dx bench: -s %zu is above a frame's size\n",
			o->size);
		return 2;
	}
	return 0;
}

/* ---- addresses and connecting --------------------------------------------- */

/* Resolve ADDR (dx/addr.h); the candidates into out (up to n). Returns how
 * many, or -1 with a message in err. */
static int bench_resolve(const char *addr, dx_sockaddr *out, int n, char *err,
			 size_t errlen)
{
	dx_addr a;
	int rc = dx_addr_parse(addr, &a);
	if (rc < 0) {
		dx_addr_message(rc, addr, err, errlen);
		return -1;
	}
	rc = dx_addr_resolve(&a, out, n, err, errlen);
	return rc < 0 ? -1 : rc;
}

/* The route id for name: a number, or a lookup in route 0's table. */
static int bench_route_id(const bopts *o)
{
	char *end;
	long id = strtol(o->route, &end, 10);
	if (*o->route && !*end) {
		if (id >= 0 && id <= 65535)
			return (int)id;
		fprintf(stderr, "dx bench: --route %s: ids are 0..65535\n",
			o->route);
		return -1;
	}
	char err[256];
	dx_client *c;
	if (dx_client_connect(o->addr, o->timeout_ms, &c, err, sizeof err) <
	    0) {
		fprintf(stderr, "dx bench: cannot connect: %s\n", err);
		return -1;
	}
	if (o->meta.out) /* the route table may sit behind middleware too */
		dx_client_set_meta(c, o->meta_buf, o->meta.len);
	char *json;
	size_t len;
	int rc = dx_client_routes(c, &json, &len, o->timeout_ms);
	if (rc < 0) {
		fprintf(stderr, "dx bench: %s: reading the route table: %s\n",
			o->addr,
			*dx_client_error(c) ? dx_client_error(c)
					    : dx_strerror(rc));
		dx_client_close(c);
		return -1;
	}
	dx_client_close(c);
	cJSON *t = cJSON_ParseWithLength(json, len);
	free(json);
	rc = -1;
	const cJSON *r;
	cJSON_ArrayForEach(r, t)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(r, "id");
		if (cJSON_IsString(n) && cJSON_IsNumber(i) &&
		    strcmp(n->valuestring, o->route) == 0)
			rc = i->valueint;
	}
	cJSON_Delete(t);
	if (rc < 0)
		fprintf(stderr,
			"dx bench: no route \"%s\" at %s (dx call %s --routes "
			"lists them)\n",
			o->route, o->addr, o->addr);
	return rc;
}

/* ---- the per-thread event loop -------------------------------------------- */

typedef struct bconn {
	int fd;
	bool dead, want_out;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	uint64_t *ts;     /* per slot (HBTP) or FIFO entry (RESP): send time */
	uint16_t *seq;    /* HBTP: the seq a slot was sent with */
	uint8_t *used;    /* HBTP: slot outstanding */
	uint16_t *free;   /* HBTP: stack of free slots */
	unsigned nfree;
	unsigned head, tail; /* RESP FIFO */
	unsigned outstanding;
} bconn;

typedef struct bshared {
	const bopts *o;
	const uint8_t *req; /* one request, seq patched per send */
	size_t req_len;
	size_t resp_len;    /* RESP: expected answer bytes */
	unsigned ring;      /* R: power of two >= pipeline */
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
	uint64_t nrecv, nsend, nwait; /* syscalls, warmup included */
	uint64_t t_last; /* last measured answer */
	atomic_uint_fast64_t progress; /* answers so far, warmup included */
	char why[256];   /* first connection-level trouble */
	char rpcerr[160]; /* first RpcError */
} bthread;

static void conn_kill(bthread *t, bconn *c, int ep, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void conn_kill(bthread *t, bconn *c, int ep, const char *fmt, ...)
{
	if (c->dead)
		return;
	if (!t->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->why, sizeof t->why, fmt, ap);
		va_end(ap);
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	t->alive--;
	t->closed++;
	t->lost += c->outstanding;
	t->outstanding -= c->outstanding;
	c->outstanding = 0;
}

/* How many more requests this thread may send now (count mode). */
static inline uint64_t allowance(const bthread *t, bool measuring)
{
	if (!t->quota || !measuring)
		return UINT64_MAX;
	uint64_t done = t->ok + t->errors + t->outstanding;
	return done >= t->quota ? 0 : t->quota - done;
}

/* Top the connection's pipeline up and send what is queued. */
static void conn_fill(bthread *t, bconn *c, int ep, uint64_t now,
		      bool measuring)
{
	const bshared *sh = t->sh;
	unsigned want = sh->o->pipeline - c->outstanding;
	uint64_t allow = allowance(t, measuring);
	if (want > allow)
		want = (unsigned)allow;
	if (want) {
		if (c->woff) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
		}
		uint8_t *w = c->wbuf + c->wlen;
		for (unsigned i = 0; i < want; i++, w += sh->req_len) {
			memcpy(w, sh->req, sh->req_len);
			if (sh->o->mode == B_RESP) {
				c->ts[c->tail++ & (sh->ring - 1)] = now;
				continue;
			}
			unsigned slot = c->free[--c->nfree];
			c->used[slot] = 1;
			c->ts[slot] = now;
			dx_hbtp_put_le16(w + 2, c->seq[slot]);
		}
		c->wlen += (size_t)want * sh->req_len;
		c->outstanding += want;
		t->outstanding += want;
	}
	if (c->woff == c->wlen)
		return;
	ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
	t->nsend++;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		conn_kill(t, c, ep, "send: %s", strerror(errno));
		return;
	}
	if (n > 0)
		c->woff += (size_t)n;
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	bool out = c->wlen != 0;
	if (out != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
					 .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = out;
	}
}

/* One answer to the request sent at `sent`. */
static inline void answered(bthread *t, bconn *c, uint64_t sent, uint64_t now,
			    bool ok, bool measuring)
{
	c->outstanding--;
	t->outstanding--;
	if (!measuring || (t->quota && t->ok + t->errors >= t->quota))
		return;
	if (ok) {
		t->ok++;
		h_record(&t->hist, now - sent);
	} else
		t->errors++;
	t->t_last = now;
}

static void hbtp_answer(bthread *t, bconn *c, const dx_hbtp_header *h,
			uint64_t now, bool measuring, bool ok)
{
	unsigned slot = h->seq & (t->sh->ring - 1);
	if (slot >= t->sh->o->pipeline || !c->used[slot] ||
	    c->seq[slot] != h->seq) {
		t->unexpected++;
		return;
	}
	c->used[slot] = 0;
	c->seq[slot] = (uint16_t)(c->seq[slot] + t->sh->ring);
	c->free[c->nfree++] = (uint16_t)slot;
	answered(t, c, c->ts[slot], now, ok, measuring);
}

/* Parse what is in rbuf; 0, or -1 when the connection must end (its
 * reason recorded). */
static int parse_hbtp(bthread *t, bconn *c, int ep, uint64_t now,
		      bool measuring)
{
	const bool ping = t->sh->o->mode == B_PING;
	size_t off = 0;
	int rc = 0;
	while (c->rlen - off >= DX_HBTP_HEADER_SIZE) {
		dx_hbtp_header h;
		dx_hbtp_header_decode(c->rbuf + off, &h);
		if (h.length > DX_CLIENT_MAX_MESSAGE) {
			conn_kill(t, c, ep,
				  "a frame of %u bytes (opcode 0x%02x): the "
				  "stream is not HBTP?",
				  h.length, h.opcode);
			return -1;
		}
		size_t total = DX_HBTP_HEADER_SIZE + (size_t)h.length;
		if (c->rlen - off < total) {
			if (total > c->rcap) { /* a big answer: make room */
				memmove(c->rbuf, c->rbuf + off, c->rlen - off);
				c->rlen -= off;
				off = 0;
				uint8_t *nb = realloc(c->rbuf, total);
				if (!nb) {
					conn_kill(t, c, ep, "out of memory");
					return -1;
				}
				c->rbuf = nb;
				c->rcap = total;
			}
			break;
		}
		const uint8_t *body = c->rbuf + off + DX_HBTP_HEADER_SIZE;
		off += total;
		switch (h.opcode) {
		case DX_HBTP_PONG:
			if (ping)
				hbtp_answer(t, c, &h, now, measuring, true);
			else
				t->unexpected++;
			break;
		case DX_HBTP_RPC_RESPONSE:
			if (!(h.flags & DX_HBTP_FINAL))
				break; /* more of it follows */
			if (!ping)
				hbtp_answer(t, c, &h, now, measuring, true);
			else
				t->unexpected++;
			break;
		case DX_HBTP_RPC_ERROR:
			if (!(h.flags & DX_HBTP_FINAL))
				break;
			if (!t->rpcerr[0] && h.length >= 2 &&
			    !(h.flags & (DX_HBTP_COMPRESSED | DX_HBTP_HAS_META)))
				snprintf(t->rpcerr, sizeof t->rpcerr,
					 "RpcError %u: %.*s",
					 dx_hbtp_le16(body),
					 (int)(h.length - 2 > 120
						       ? 120
						       : h.length - 2),
					 (const char *)body + 2);
			else if (!t->rpcerr[0])
				snprintf(t->rpcerr, sizeof t->rpcerr,
					 "RpcError");
			hbtp_answer(t, c, &h, now, measuring, false);
			break;
		case DX_HBTP_CLOSE: {
			unsigned code = h.length >= 2 ? dx_hbtp_le16(body) : 0;
			int tl = h.length > 2 ? (int)(h.length - 2) : 0;
			conn_kill(t, c, ep, "the server sent Close %u: %.*s",
				  code, tl > 120 ? 120 : tl,
				  (const char *)body + 2);
			return -1;
		}
		default: /* pushes and the like: not ours */
			break;
		}
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return rc;
}

/* RESP: "+PONG\r\n", or "$N\r\n<N bytes>\r\n" for PING with an argument;
 * "-ERR ...\r\n" counts as an error. */
static int parse_resp(bthread *t, bconn *c, int ep, uint64_t now,
		      bool measuring)
{
	size_t off = 0;
	const unsigned mask = t->sh->ring - 1;
	while (off < c->rlen) {
		const uint8_t *p = c->rbuf + off;
		size_t avail = c->rlen - off;
		const uint8_t *nl = memchr(p, '\n', avail);
		if (!nl)
			break;
		size_t line = (size_t)(nl - p) + 1, total = line;
		bool ok = true;
		if (p[0] == '$') {
			long n = strtol((const char *)p + 1, NULL, 10);
			if (n > 0)
				total += (size_t)n + 2;
		} else if (p[0] == '-') {
			ok = false;
		} else if (p[0] != '+') {
			conn_kill(t, c, ep,
				  "an answer that is not RESP (\"%.*s\")",
				  (int)(line > 40 ? 40 : line), p);
			return -1;
		}
		if (avail < total) {
			if (total > c->rcap) {
				conn_kill(t, c, ep, "a RESP answer too big");
				return -1;
			}
			break;
		}
		if (!ok && !t->rpcerr[0])
			snprintf(t->rpcerr, sizeof t->rpcerr, "%.*s",
				 (int)(line > 100 ? 100 : line - 2), p);
		off += total;
		if (c->head == c->tail) {
			t->unexpected++;
			continue;
		}
		answered(t, c, c->ts[c->head++ & mask], now, ok, measuring);
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return 0;
}

static void conn_read(bthread *t, bconn *c, int ep, bool measuring,
		      uint64_t *nowp)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen,
				 MSG_DONTWAIT);
		t->nrecv++;
		if (n == 0) {
			conn_kill(t, c, ep, "the server closed the connection");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			conn_kill(t, c, ep, "recv: %s", strerror(errno));
			return;
		}
		uint64_t now = *nowp = now_ns();
		size_t room = c->rcap - c->rlen;
		c->rlen += (size_t)n;
		int rc = t->sh->o->mode == B_RESP
				 ? parse_resp(t, c, ep, now, measuring)
				 : parse_hbtp(t, c, ep, now, measuring);
		if (rc < 0 || (size_t)n < room)
			return; /* drained (level-triggered brings the rest) */
	}
}

static void *bench_thread(void *arg)
{
	bthread *t = arg;
	bshared *sh = t->sh;
	if (t->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		snprintf(t->why, sizeof t->why, "epoll_create1: %s",
			 strerror(errno));
		return NULL;
	}
	for (unsigned i = 0; i < t->nconns; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.ptr = &t->conns[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, t->conns[i].fd, &ev);
	}
	uint64_t now = now_ns();
	bool measuring = now >= sh->t_measure;
	for (unsigned i = 0; i < t->nconns; i++)
		conn_fill(t, &t->conns[i], ep, now, measuring);
	struct epoll_event evs[256];
	uint64_t answers = 0, last_progress = now;
	const uint64_t stall = (uint64_t)sh->o->timeout_ms * 1000000ull;
	while (t->alive && !atomic_load_explicit(&sh->stop,
						 memory_order_relaxed)) {
		/* Sleep at most until the next phase boundary. */
		uint64_t next = !measuring ? sh->t_measure
			      : sh->t_end  ? sh->t_end
					   : now + 100000000ull;
		int tmo = next > now ? (int)((next - now + 999999) / 1000000)
				     : 0;
		if (tmo > 100)
			tmo = 100;
		int n = epoll_wait(ep, evs, 256, tmo);
		t->nwait++;
		if (n < 0 && errno != EINTR)
			break;
		now = now_ns();
		if (!measuring && now >= sh->t_measure)
			measuring = true;
		if (sh->t_end && now >= sh->t_end)
			break;
		uint64_t before = t->ok + t->errors;
		for (int i = 0; i < n; i++) {
			bconn *c = evs[i].data.ptr;
			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				unsigned o0 = c->outstanding;
				conn_read(t, c, ep, measuring, &now);
				if (c->dead)
					continue;
				answers += o0 - c->outstanding;
			}
			conn_fill(t, c, ep, now, measuring);
		}
		if (t->ok + t->errors != before || n > 0)
			last_progress = now;
		atomic_store_explicit(&t->progress, answers,
				      memory_order_relaxed);
		if (t->quota && t->ok + t->errors >= t->quota)
			break;
		if (t->outstanding && now - last_progress > stall) {
			snprintf(t->why, sizeof t->why,
				 "no answer for %d ms with %llu requests "
				 "outstanding",
				 sh->o->timeout_ms,
				 (unsigned long long)t->outstanding);
			t->lost += t->outstanding;
			break;
		}
	}
	close(ep);
	return NULL;
}

/* ---- set-up, progress, report --------------------------------------------- */

static int conn_init(bconn *c, const bshared *sh, int fd)
{
	const bopts *o = sh->o;
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->rcap = sh->req_len * o->pipeline * 2 + 64;
	if (o->mode == B_RESP && sh->resp_len * 2 + 64 > c->rcap)
		c->rcap = sh->resp_len * 2 + 64;
	if (c->rcap < 65536)
		c->rcap = 65536;
	c->wcap = sh->req_len * o->pipeline;
	c->rbuf = malloc(c->rcap);
	c->wbuf = malloc(c->wcap);
	c->ts = calloc(sh->ring, sizeof *c->ts);
	c->seq = calloc(sh->ring, sizeof *c->seq);
	c->used = calloc(sh->ring, 1);
	c->free = calloc(sh->ring, sizeof *c->free);
	if (!c->rbuf || !c->wbuf || !c->ts || !c->seq || !c->used || !c->free)
		return -1;
	for (unsigned i = 0; i < o->pipeline; i++) {
		c->seq[i] = (uint16_t)i;
		c->free[c->nfree++] = (uint16_t)(o->pipeline - 1 - i);
	}
	return 0;
}

static void conn_free(bconn *c)
{
	if (c->fd >= 0 && !c->dead)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c->ts);
	free(c->seq);
	free(c->used);
	free(c->free);
}

/* The request bytes: one frame (HBTP, seq patched per send) or one RESP
 * inline command. */
static uint8_t *build_request(const bopts *o, int route, size_t *len,
			      size_t *resp_len)
{
	uint8_t *r;
	if (o->mode == B_RESP) {
		*len = o->size ? 5 + o->size + 2 : 6; /* "PING x..x\r\n" */
		if (!(r = malloc(*len)))
			return NULL;
		memcpy(r, o->size ? "PING " : "PING\r\n", o->size ? 5 : 6);
		if (o->size) {
			memset(r + 5, 'x', o->size);
			memcpy(r + 5 + o->size, "\r\n", 2);
		}
		*resp_len = o->size ? o->size + 32 : 7;
		return r;
	}
	size_t meta = o->meta.out ? o->meta.len : 0;
	size_t body = meta + (o->mode == B_ROUTE ? 2 + o->size : o->size);
	*len = DX_HBTP_HEADER_SIZE + body;
	*resp_len = *len;
	if (!(r = malloc(*len)))
		return NULL;
	dx_hbtp_header h = {
		.opcode = o->mode == B_ROUTE ? DX_HBTP_RPC_CALL : DX_HBTP_PING,
		.flags = DX_HBTP_FINAL | (meta ? DX_HBTP_HAS_META : 0) |
			 (o->mode == B_ROUTE ? DX_HBTP_EXPECTS_RESPONSE : 0),
		.seq = 0,
		.length = (uint32_t)body,
	};
	dx_hbtp_header_encode(&h, r);
	uint8_t *b = r + DX_HBTP_HEADER_SIZE;
	memcpy(b, o->meta_buf, meta);
	b += meta;
	if (o->mode == B_ROUTE) {
		dx_hbtp_put_le16(b, (uint16_t)route);
		b += 2;
	}
	if (o->body && o->mode == B_ROUTE)
		memcpy(b, o->body, o->size);
	else
		memset(b, 'x', o->size);
	return r;
}

static void progress(bthread *ts, unsigned nt, const bshared *sh,
		     uint64_t start)
{
	uint64_t prev = 0, tprev = now_ns();
	const uint64_t tick = 250000000ull;
	for (;;) {
		struct timespec d = {0, (long)tick};
		nanosleep(&d, NULL);
		uint64_t now = now_ns(), sum = 0;
		for (unsigned i = 0; i < nt; i++)
			sum += atomic_load_explicit(&ts[i].progress,
						    memory_order_relaxed);
		double rate = (double)(sum - prev) * 1e9 / (double)(now - tprev);
		prev = sum;
		tprev = now;
		if (atomic_load(&sh->stop))
			break;
		fprintf(stdout, "\r\033[K%s %5.1f s  %12.0f requests/s",
			now < sh->t_measure ? "warmup " : "running",
			(double)(now - start) / 1e9, rate);
		fflush(stdout);
	}
	fputs("\r\033[K", stdout);
	fflush(stdout);
}

typedef struct bprogress_arg {
	bthread *ts;
	unsigned nt;
	bshared *sh;
	uint64_t start;
} bprogress_arg;

static void *progress_main(void *arg)
{
	bprogress_arg *a = arg;
	progress(a->ts, a->nt, a->sh, a->start);
	return NULL;
}

static const char *mode_name(const bopts *o)
{
	return o->mode == B_RESP ? "resp-ping" : o->mode == B_ROUTE ? "route"
								    : "ping";
}

static int bench_run(const bopts *o, int route)
{
	bshared sh = {.o = o};
	uint8_t *req = build_request(o, route, &sh.req_len, &sh.resp_len);
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
				fd = dx_sockaddr_connect(&addrs[k], o->timeout_ms);
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
				o->addr, strerror(-fd),
				i ? "" : " (is a server listening there?)");
			if (i)
				fprintf(stderr, "dx bench: (after %u of %u "
						"connections)\n",
					i, o->conns);
			goto out;
		}
		if (conn_init(&conns[i], &sh, fd) < 0) {
			close(fd);
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
	bool live = started == o->threads && !o->json &&
		    isatty(STDOUT_FILENO) &&
		    pthread_create(&pt, NULL, progress_main, &pa) == 0;
	for (unsigned i = 0; i < started; i++)
		pthread_join(ts[i].thread, NULL);
	uint64_t t_done = now_ns();
	atomic_store(&sh.stop, true);
	if (live)
		pthread_join(pt, NULL);
	if (started < o->threads)
		goto out;

	/* Merge. */
	static bhist h; /* 30 KiB: not on the stack */
	memset(&h, 0, sizeof h);
	uint64_t ok = 0, errors = 0, unexpected = 0, closed = 0, lost = 0,
		 t_last = 0, nrecv = 0, nsend = 0, nwait = 0, all = 0;
	const char *why = NULL, *rpcerr = NULL;
	for (unsigned i = 0; i < o->threads; i++) {
		h_merge(&h, &ts[i].hist);
		ok += ts[i].ok;
		nrecv += ts[i].nrecv;
		nsend += ts[i].nsend;
		nwait += ts[i].nwait;
		all += atomic_load(&ts[i].progress);
		errors += ts[i].errors;
		unexpected += ts[i].unexpected;
		closed += ts[i].closed;
		lost += ts[i].lost;
		if (ts[i].t_last > t_last)
			t_last = ts[i].t_last;
		if (!why && ts[i].why[0])
			why = ts[i].why;
		if (!rpcerr && ts[i].rpcerr[0])
			rpcerr = ts[i].rpcerr;
	}
	uint64_t t_stop = sh.t_end ? sh.t_end : t_last;
	if (t_stop > t_done)
		t_stop = t_done;
	double secs = t_stop > sh.t_measure
			      ? (double)(t_stop - sh.t_measure) / 1e9
			      : 0;
	double rps = secs > 0 ? (double)ok / secs : 0;
	double p50 = h_percentile(&h, 50) / 1e3, p99 = h_percentile(&h, 99) / 1e3,
	       p999 = h_percentile(&h, 99.9) / 1e3, mx = (double)h.max / 1e3,
	       mean = h.count ? (double)h.sum / (double)h.count / 1e3 : 0;
	errors += lost;
	/* Syscalls per answer, warmup included: how well batches form. */
	double per = all ? 1.0 / (double)all : 0;

	if (o->json) {
		printf("{\"addr\": \"%s\", \"mode\": \"%s\", \"size\": %zu, "
		       "\"connections\": %u, \"pipeline\": %u, "
		       "\"threads\": %u, \"seconds\": %.3f, "
		       "\"requests\": %llu, \"errors\": %llu, "
		       "\"closed\": %llu, \"rps\": %.0f, \"p50_us\": %.1f, "
		       "\"p99_us\": %.1f, \"p999_us\": %.1f, "
		       "\"max_us\": %.1f, \"mean_us\": %.1f, "
		       "\"recv_per_answer\": %.3f, \"send_per_answer\": %.3f, "
		       "\"epoll_wait_per_answer\": %.3f}\n",
		       o->addr, mode_name(o), o->size, o->conns, o->pipeline,
		       o->threads, secs, (unsigned long long)ok,
		       (unsigned long long)errors,
		       (unsigned long long)closed, rps, p50, p99, p999, mx,
		       mean, (double)nrecv * per, (double)nsend * per,
		       (double)nwait * per);
	} else {
		printf("dx bench %s: %s%s%s, %zu B, %u connection%s x "
		       "pipeline %u, %u thread%s, %.2f s measured\n",
		       o->addr, mode_name(o), o->route ? " " : "",
		       o->route ? o->route : "", o->size, o->conns,
		       o->conns == 1 ? "" : "s", o->pipeline, o->threads,
		       o->threads == 1 ? "" : "s", secs);
		printf("  requests/s  %.0f\n", rps);
		printf("  latency us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f "
		       " (mean %.1f)\n",
		       p50, p99, p999, mx, mean);
		printf("  requests    %llu answered, %llu errors\n",
		       (unsigned long long)ok, (unsigned long long)errors);
		printf("  syscalls    per answer: recv %.3f  send %.3f  "
		       "epoll_wait %.3f\n",
		       (double)nrecv * per, (double)nsend * per,
		       (double)nwait * per);
	}
	fflush(stdout);
	if (rpcerr)
		fprintf(stderr, "dx bench: %llu error answers, the first: %s\n",
			(unsigned long long)(errors - lost), rpcerr);
	if (unexpected)
		fprintf(stderr, "dx bench: %llu answers matched no request\n",
			(unsigned long long)unexpected);
	if (closed)
		fprintf(stderr,
			"dx bench: %s: %llu of %u connections ended early "
			"(%llu requests unanswered); the first: %s\n",
			o->addr, (unsigned long long)closed, o->conns,
			(unsigned long long)lost, why ? why : "?");
	else if (why)
		fprintf(stderr, "dx bench: %s: %s\n", o->addr, why);
	rc = closed || why || ok == 0 ? 1 : 0;
	if (ok == 0 && !closed && !why)
		fprintf(stderr, "dx bench: %s: no answer was measured\n",
			o->addr);
out:
	for (unsigned i = 0; i < made; i++)
		conn_free(&conns[i]);
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
	signal(SIGPIPE, SIG_IGN);
	int route = 0;
	if (o.mode == B_ROUTE && (route = bench_route_id(&o)) < 0) {
		free(o.body);
		return 1;
	}
	rc = bench_run(&o, route);
	free(o.body);
	return rc;
}

#endif /* __linux__ */
