/* test_backpressure - a client that does not read its answers costs the
 * host a bounded amount of memory and is closed; buffers shrink when idle.
 *
 * Against the real dx-host on loopback, with the backend named in argv:
 * - stuck reader: 4 KiB pings pipelined by a client that never reads. The
 *   host's RSS (/proc/PID/status) stays within 64 MiB of its idle figure,
 *   the connection is closed about limits.write_timeout_ms (500 ms) after
 *   the host stopped reading it, and a bystander gets every answer.
 * - trim: after a burst that made a connection's buffers grow, once that
 *   client has read everything and gone quiet, the host's buffer_bytes
 *   stat is back to small buffers.
 * - idle close: with the write timeout off, a connection whose output
 *   (and so any Close) cannot be sent is still closed by
 *   limits.idle_timeout_ms.
 * - swap while held (with io_uring built): a stuck reader held by
 *   backpressure is moved to the other backend and back, then reads
 *   everything: every Pong arrives, in order.
 * - apply: limits.write_timeout_ms turned on live (dx ctl apply) closes
 *   the next stuck reader.
 * usage: test_backpressure BACKEND DX_HOST */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <dx/client.h>
#include <dx/hbtp.h>

#include "../reload/rt_ctl.h"
#include "../unit/check_main.h"
#include "test_host.h"

#define MiB (1024u * 1024u)
#define PING (4096u)          /* ping payload */
#define FRAME (8u + PING)     /* one ping frame, and one pong */
#define RSS_BOUND (64u * MiB) /* the target */
#define WRITE_TIMEOUT_MS 500

static const char *backend, *dx_host;
/* a: write timeout 500 ms; b: write timeout off, idle 1 s; c: neither,
 * both backends loaded (trim, swap). */
static struct dx_test_host host_a, host_b, host_c;
static bool can_swap;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A host counter from {"cmd":"stats"}; fails the test when it is not
 * there. */
static uint64_t stat_of(const struct dx_test_host *h, const char *name)
{
	char raw[8192];
	cJSON *a = rt_ctl_cmd(h->ctl, "stats", NULL, NULL, raw, sizeof raw);
	double v = rt_num(cJSON_GetObjectItem(a, "host"), name, -1);
	cJSON_Delete(a);
	ck_assert_msg(v >= 0, "no %s in stats: %s", name, raw);
	return (uint64_t)v;
}

/* Whether host h moved to backend to; its answer in raw either way. */
static bool swap_io(const struct dx_test_host *h, const char *to, char *raw,
		    size_t n)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "swap");
	cJSON_AddStringToObject(req, "kind", "io");
	cJSON_AddStringToObject(req, "name", to);
	cJSON *a = rt_ctl(h->ctl, req, raw, n);
	bool ok = rt_ok(a);
	cJSON_Delete(req);
	cJSON_Delete(a);
	return ok;
}

/* The host's resident set, from /proc/PID/status. */
static uint64_t rss_of(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "cannot open %s", path);
	uint64_t kb = 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtoull(line + 6, NULL, 10);
	fclose(f);
	ck_assert_uint_gt(kb, 0);
	return kb * 1024u;
}

/* A non-blocking TCP connection to h. */
static int connect_raw(const struct dx_test_host *h)
{
	const char *colon = strrchr(h->addr, ':');
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)atoi(colon + 1)),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* 64 pings in a row, seq from *seq on, each payload naming its seq. */
#define BATCH 64
static void fill_batch(uint8_t *b, uint16_t *seq)
{
	for (unsigned i = 0; i < BATCH; i++, (*seq)++) {
		uint8_t *f = b + i * FRAME;
		dx_hbtp_header h = {DX_HBTP_PING, DX_HBTP_FINAL, *seq, PING};
		dx_hbtp_header_encode(&h, f);
		memset(f + 8, 'a' + *seq % 26, PING);
		memcpy(f + 8, seq, sizeof *seq);
	}
}

/* A writer of pings that never reads: how far it got. */
struct pinger {
	int fd;
	uint8_t batch[BATCH * FRAME];
	size_t off;      /* into batch */
	bool filled;     /* batch holds pings not all sent */
	uint16_t seq;    /* of the next batch */
	uint64_t sent;   /* bytes */
	uint64_t frames; /* whole frames sent */
	int err;         /* the send error that ended it, 0: none yet */
};

/* Send what the socket takes now; 1 when something went, 0 when it would
 * block, -1 once the host has closed (p->err says how). */
static int pinger_push(struct pinger *p)
{
	int moved = 0;
	for (;;) {
		if (!p->filled || p->off == sizeof p->batch) {
			p->off = 0;
			p->filled = true;
			fill_batch(p->batch, &p->seq);
		}
		ssize_t n = send(p->fd, p->batch + p->off,
				 sizeof p->batch - p->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return moved;
			p->err = errno;
			return -1;
		}
		p->frames += ((p->off + (size_t)n) / FRAME) - p->off / FRAME;
		p->off += (size_t)n;
		p->sent += (size_t)n;
		moved = 1;
	}
}

/* Whether fd ends (a reset, or end of stream after whatever is still
 * to read, which is discarded) within ms. */
static bool ended_within(int fd, int ms)
{
	static char sink[65536];
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) != 1)
			continue;
		ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
	}
	return false;
}

/* Wait up to ms for host h's write_timeouts count to pass was (the sweep
 * closed a connection whose output did not move): the count then. The
 * host's count, not the client's socket, says when: when the host had
 * read all of a connection's input (its pusher stopped early, e.g. on a
 * busy machine), its close is a FIN queued behind answers the client
 * never reads, not a reset the client sees at once. */
static uint64_t closes_after(const struct dx_test_host *h, uint64_t was,
			     int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms, n = was;
	while (n == was && now_ms() < end) {
		usleep(50000);
		n = stat_of(h, "write_timeouts");
	}
	return n;
}

/* ---- the bystander: echo calls all along, each answered ---- */

struct bystander {
	pthread_t thread;
	const struct dx_test_host *h;
	_Atomic bool stop;
	unsigned long answered;
	char failure[320];
};

static void *bystander_main(void *arg)
{
	struct bystander *b = arg;
	char err[256];
	dx_client *c = NULL;
	if (dx_client_connect(b->h->addr, 5000, &c, err, sizeof err) < 0) {
		snprintf(b->failure, sizeof b->failure, "connect: %s", err);
		return NULL;
	}
	while (!atomic_load(&b->stop)) {
		char msg[32];
		int n = snprintf(msg, sizeof msg, "by-%lu", b->answered);
		uint16_t seq;
		dx_client_msg m;
		if (dx_client_call(c, 2, msg, (size_t)n, 0, &seq) < 0 ||
		    dx_client_recv(c, &m, 5000) < 0) {
			snprintf(b->failure, sizeof b->failure,
				 "after %lu answers: %s", b->answered,
				 dx_client_error(c));
			break;
		}
		if (m.opcode != DX_HBTP_RPC_RESPONSE || m.seq != seq ||
		    m.len != (size_t)n || memcmp(m.payload, msg, m.len)) {
			snprintf(b->failure, sizeof b->failure,
				 "answer %lu: opcode 0x%02x, %zu bytes",
				 b->answered, m.opcode, m.len);
			break;
		}
		b->answered++;
		usleep(2000);
	}
	dx_client_close(c);
	return NULL;
}

/* ---- 1: the stuck reader ---- */

START_TEST(test_stuck_reader)
{
	/* Idle figure: the host warmed up by a few calls on a connection. */
	struct bystander by = {.h = &host_a};
	pthread_create(&by.thread, NULL, bystander_main, &by);
	usleep(300000);
	uint64_t idle = rss_of(host_a.pid);

	struct pinger *p = calloc(1, sizeof *p);
	p->fd = connect_raw(&host_a);
	/* Send until the host closes us, 1 GiB went, or 30 s passed. The
	 * last moment a byte went is when the host stopped reading. */
	uint64_t start = now_ms(), last_moved = start, peak = idle;
	uint64_t next_stat = start, bufs = 0;
	bool gone = false;
	while (p->sent < 1024ull * MiB && now_ms() - start < 30000) {
		int rc = pinger_push(p);
		if (rc < 0) {
			gone = true;
			break;
		}
		if (rc > 0)
			last_moved = now_ms();
		if (now_ms() >= next_stat) { /* exact, as of each sweep */
			uint64_t b = stat_of(&host_a, "buffer_bytes");
			bufs = b > bufs ? b : bufs;
			next_stat = now_ms() + 50;
		}
		uint64_t rss = rss_of(host_a.pid);
		if (rss > peak)
			peak = rss;
		/* Fail early, before the old behaviour eats the machine. */
		ck_assert_msg(peak - idle < RSS_BOUND,
			      "host RSS %llu MiB above idle after %llu MiB "
			      "sent",
			      (unsigned long long)((peak - idle) / MiB),
			      (unsigned long long)(p->sent / MiB));
		if (rc == 0) {
			struct pollfd q = {.fd = p->fd, .events = POLLOUT};
			poll(&q, 1, 20);
			if (q.revents & (POLLERR | POLLHUP)) {
				gone = true;
				break;
			}
		}
	}
	/* Not seen by the client (a FIN behind unread answers, as in the
	 * idle case): the host's count says when it closed. */
	if (!gone)
		gone = closes_after(&host_a, 0, 5000) > 0;
	uint64_t closed_after = now_ms() - last_moved;
	ck_assert_msg(gone && ended_within(p->fd, 10000),
		      "the stuck reader was not closed (%llu MiB sent, "
		      "last byte %llu ms ago)",
		      (unsigned long long)(p->sent / MiB),
		      (unsigned long long)closed_after);
	/* The host stops reading once its output is over the cap, and the
	 * write timeout runs from the output's last progress, which came
	 * before that: the close follows the client's last byte within
	 * write_timeout_ms and the 100 ms sweep tick (generous slack). */
	ck_assert_msg(closed_after < WRITE_TIMEOUT_MS + 5000,
		      "closed %llu ms after the last byte went",
		      (unsigned long long)closed_after);
	/* What the connection's buffers held at most: the default
	 * max_output (4 MiB) unsent, as much again unread, and what one
	 * pipeline run and buffer doubling add. */
	ck_assert_msg(bufs > MiB && bufs <= 32u * MiB,
		      "buffer_bytes peaked at %llu", (unsigned long long)bufs);
	/* host_a serves this test alone. */
	ck_assert_uint_ge(stat_of(&host_a, "output_paused"), 1);
	ck_assert_uint_eq(stat_of(&host_a, "write_timeouts"), 1);
	/* Still bounded after it went, and the bystander never noticed. */
	uint64_t after = rss_of(host_a.pid);
	ck_assert_msg(after - idle < RSS_BOUND || after < idle,
		      "RSS %llu MiB above idle after the close",
		      (unsigned long long)((after - idle) / MiB));
	usleep(200000);
	atomic_store(&by.stop, true);
	pthread_join(by.thread, NULL);
	ck_assert_msg(!by.failure[0], "bystander: %s", by.failure);
	ck_assert_uint_gt(by.answered, 20);
	fprintf(stderr,
		"stuck reader (%s): %llu MiB sent, RSS idle %llu KiB, peak "
		"+%llu KiB, buffers at most %llu KiB, closed %llu ms after "
		"the last byte; bystander %lu answers\n",
		backend, (unsigned long long)(p->sent / MiB),
		(unsigned long long)(idle / 1024),
		(unsigned long long)((peak - idle) / 1024),
		(unsigned long long)(bufs / 1024),
		(unsigned long long)closed_after, by.answered);
	close(p->fd);
	free(p);
}
END_TEST

/* ---- 2: buffers back to small once idle ---- */

/* Read (and count) whole pongs, checking each one's seq; 0 on EAGAIN. */
struct reader {
	uint8_t buf[256 * 1024];
	size_t len;
	uint16_t next_seq;
	uint64_t pongs;
};

static void reader_pull(struct reader *r, int fd)
{
	for (;;) {
		ssize_t n =
			recv(fd, r->buf + r->len, sizeof r->buf - r->len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		ck_assert_msg(n > 0, "recv: %s", n ? strerror(errno) : "EOF");
		r->len += (size_t)n;
		size_t off = 0;
		while (r->len - off >= FRAME) {
			dx_hbtp_header h;
			dx_hbtp_header_decode(r->buf + off, &h);
			ck_assert_uint_eq(h.opcode, DX_HBTP_PONG);
			ck_assert_uint_eq(h.length, PING);
			ck_assert_uint_eq(h.seq, r->next_seq);
			uint16_t named;
			memcpy(&named, r->buf + off + 8, sizeof named);
			ck_assert_uint_eq(named, r->next_seq);
			r->next_seq++;
			r->pongs++;
			off += FRAME;
		}
		memmove(r->buf, r->buf + off, r->len - off);
		r->len -= off;
	}
}

/* Push pings until stalled for 300 ms (the host holds us), bounded by
 * max bytes; a close ends it too when may_close. */
static void push_until_held(struct pinger *p, uint64_t max, bool may_close)
{
	uint64_t last = now_ms();
	while (p->sent < max && now_ms() - last < 300) {
		int rc = pinger_push(p);
		if (rc < 0 && may_close)
			return;
		ck_assert_msg(rc >= 0, "closed while pushing: %s",
			      strerror(p->err));
		if (rc > 0)
			last = now_ms();
		else
			usleep(5000);
	}
}

/* Read every answer while sending the rest of what the batch began. */
static void drain_all(struct pinger *p, struct reader *r)
{
	uint64_t start = now_ms();
	while (r->pongs < p->frames || p->off % FRAME) {
		ck_assert_msg(now_ms() - start < 30000,
			      "%llu of %llu pongs after 30 s",
			      (unsigned long long)r->pongs,
			      (unsigned long long)p->frames);
		if (p->off % FRAME) { /* finish the frame begun */
			ssize_t n = send(p->fd, p->batch + p->off,
					 FRAME - p->off % FRAME, MSG_NOSIGNAL);
			if (n > 0) {
				p->off += (size_t)n;
				if (p->off % FRAME == 0)
					p->frames++;
			}
		}
		struct pollfd q = {.fd = p->fd, .events = POLLIN};
		poll(&q, 1, 50);
		reader_pull(r, p->fd);
	}
}

START_TEST(test_buffers_shrink)
{
	struct pinger *p = calloc(1, sizeof *p);
	struct reader *r = calloc(1, sizeof *r);
	p->fd = connect_raw(&host_c);
	uint64_t before = stat_of(&host_c, "buffer_bytes");
	push_until_held(p, 64ull * MiB, false);
	usleep(300000); /* a sweep or more: buffer_bytes is as of one */
	uint64_t grown = stat_of(&host_c, "buffer_bytes");
	ck_assert_msg(grown > 2 * MiB,
		      "the burst did not grow the buffers (%llu bytes)",
		      (unsigned long long)grown);
	drain_all(p, r);
	/* Quiet now: within a few seconds the buffers are small again (at
	 * most 64 KiB each of in, out and sending on this connection). */
	uint64_t small = before + 3 * 64 * 1024, now = grown;
	for (int i = 0; i < 100 && now > small; i++) {
		usleep(100000);
		now = stat_of(&host_c, "buffer_bytes");
	}
	ck_assert_msg(now <= small,
		      "buffer_bytes %llu after idle (was %llu before, %llu "
		      "at the burst)",
		      (unsigned long long)now, (unsigned long long)before,
		      (unsigned long long)grown);
	/* The connection still works. */
	p->sent = 0;
	uint64_t frames = p->frames;
	while (p->frames < frames + BATCH)
		ck_assert_int_ge(pinger_push(p), 0);
	drain_all(p, r);
	close(p->fd);
	free(p);
	free(r);
}
END_TEST

/* ---- 3: the idle timeout closes what it cannot send a Close to ---- */

START_TEST(test_idle_close_stuck)
{
	struct pinger *p = calloc(1, sizeof *p);
	uint64_t closes = stat_of(&host_b, "write_timeouts");
	p->fd = connect_raw(&host_b);
	/* Answers the host cannot send, then silence. Bounded at 48 MiB:
	 * a host without backpressure would take all of it. */
	push_until_held(p, 48ull * MiB, false);
	uint64_t quiet = now_ms();
	/* limits.idle_timeout_ms is 1 s; the write timeout is off. */
	uint64_t now_closes = closes_after(&host_b, closes, 1000 + 6000);
	uint64_t took = now_ms() - quiet;
	ck_assert_msg(now_closes == closes + 1,
		      "not closed %llu ms after it went quiet (idle timeout "
		      "1000 ms, %llu MiB sent): write_timeouts %llu -> %llu",
		      (unsigned long long)took,
		      (unsigned long long)(p->sent / MiB),
		      (unsigned long long)closes,
		      (unsigned long long)now_closes);
	/* And the client sees the end: a reset, or the answers the host
	 * had sent and then end of stream. */
	ck_assert_msg(ended_within(p->fd, 10000),
		      "the host counts the connection closed, but the client "
		      "saw neither a reset nor the end of stream in 10 s");
	close(p->fd);
	free(p);
}
END_TEST

/* ---- 4: a held connection survives a backend swap ---- */

static void swap_to(const char *to)
{
	char answer[1024];
	ck_assert_msg(swap_io(&host_c, to, answer, sizeof answer),
		      "swap to %s: %s", to, answer);
}

START_TEST(test_swap_while_held)
{
	const char *other = strcmp(backend, "epoll") ? "epoll" : "io_uring";
	struct pinger *p = calloc(1, sizeof *p);
	struct reader *r = calloc(1, sizeof *r);
	p->fd = connect_raw(&host_c);
	uint64_t paused = stat_of(&host_c, "output_paused");
	push_until_held(p, 64ull * MiB, false);
	ck_assert_uint_gt(stat_of(&host_c, "output_paused"), paused);
	swap_to(other);
	push_until_held(p, 64ull * MiB, false);
	swap_to(backend);
	drain_all(p, r);
	ck_assert_uint_eq(r->pongs, p->frames);
	ck_assert_uint_gt(r->pongs, 1000);
	close(p->fd);
	free(p);
	free(r);
}
END_TEST

/* ---- 5: the write timeout changes live (dx ctl apply) ---- */

START_TEST(test_apply_write_timeout)
{
	/* host_c's manifest with the write timeout on: 300 ms. */
	char path[64], text[2048], answer[2048];
	snprintf(path, sizeof path, "%s/m.json", host_c.dir);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *was = "\"write_timeout_ms\":0";
	char *at = strstr(text, was);
	ck_assert_ptr_nonnull(at);
	char applied[2048];
	snprintf(applied, sizeof applied, "%.*s\"write_timeout_ms\":300%s",
		 (int)(at - text), text, at + strlen(was));
	snprintf(path, sizeof path, "%s/m2.json", host_c.dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(applied, f);
	fclose(f);
	cJSON *a = rt_ctl_cmd(host_c.ctl, "apply", NULL, path, answer,
			      sizeof answer);
	bool applied_ok = rt_ok(a);
	cJSON_Delete(a);
	ck_assert_msg(applied_ok, "apply: %s", answer);

	uint64_t timeouts = stat_of(&host_c, "write_timeouts");
	struct pinger *p = calloc(1, sizeof *p);
	p->fd = connect_raw(&host_c);
	push_until_held(p, 48ull * MiB, true);
	uint64_t quiet = now_ms();
	uint64_t now_closes = closes_after(&host_c, timeouts, 300 + 5000);
	ck_assert_msg(now_closes == timeouts + 1,
		      "not closed %llu ms after the host stopped reading: "
		      "write_timeouts %llu -> %llu",
		      (unsigned long long)(now_ms() - quiet),
		      (unsigned long long)timeouts,
		      (unsigned long long)now_closes);
	ck_assert_msg(ended_within(p->fd, 10000),
		      "the host counts the connection closed, but the client "
		      "saw neither a reset nor the end of stream in 10 s");
	close(p->fd);
	free(p);
}
END_TEST

static int start(struct dx_test_host *h, const char *limits, bool both,
		 char *const *env)
{
	char extra[1024];
	const char *plug = strcmp(backend, "epoll") ? backend : "io_epoll";
	char plugins[128];
	if (both)
		snprintf(plugins, sizeof plugins,
			 "{\"name\":\"io_epoll\"},{\"name\":\"io_uring\"}");
	else
		snprintf(plugins, sizeof plugins, "{\"name\":\"%s\"}", plug);
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":1,\"io\":"
		 "{\"backend\":\"%s\"},\"limits\":{%s},\"plugins\":[%s,"
		 "{\"name\":\"routes_echo\"}]",
		 getenv("DX_PLUGINS"), backend, limits, plugins);
	return dx_test_host_start(h, dx_host, extra, env);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_backpressure BACKEND DX_HOST\n");
		return 2;
	}
	backend = argv[1];
	dx_host = argv[2];
	(void)rt_plugin_entry; /* rt_ctl.h's, unused here */
	(void)rt_ends_with;
	char so[512];
	snprintf(so, sizeof so, "%s/io_uring/io_uring.so",
		 getenv("DX_PLUGINS"));
	bool uring_built = access(so, F_OK) == 0;
	if (!strcmp(backend, "io_uring") && !uring_built)
		return 77;
	/* Hosts start here, not in the (forked) tests: a backend this
	 * machine refuses is a skip (77), and no host outlives a test. */
	/* Under ASan, freed blocks stay resident in its quarantine (256 MiB
	 * by default): keep it small so host_a's RSS is the host's own. */
	static char asan[512];
	const char *was = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%squarantine_size_mb=8",
		 was ? was : "", was && *was ? ":" : "");
	char *env[] = {asan, NULL};
	if (start(&host_a, "\"write_timeout_ms\":500", false, env) < 0)
		return strcmp(backend, "epoll") ? 77 : 1;
	if (start(&host_b, "\"write_timeout_ms\":0,\"idle_timeout_ms\":1000",
		  false, NULL) < 0 ||
	    start(&host_c, "\"write_timeout_ms\":0,\"idle_timeout_ms\":0",
		  uring_built, NULL) < 0) {
		dx_test_host_stop(&host_a);
		return 1;
	}
	if (uring_built) {
		/* io_uring may be built and still refused here (seccomp). */
		char answer[1024];
		const char *other = strcmp(backend, "epoll") ? "epoll" :
							       "io_uring";
		can_swap = swap_io(&host_c, other, answer, sizeof answer) &&
			   swap_io(&host_c, backend, answer, sizeof answer);
		if (!can_swap)
			fprintf(stderr, "swap while held: not run (%s)\n",
				answer);
	}
	Suite *s = suite_create("backpressure");
	TCase *tc = tcase_create(backend);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stuck_reader);
	tcase_add_test(tc, test_buffers_shrink);
	tcase_add_test(tc, test_idle_close_stuck);
	if (can_swap)
		tcase_add_test(tc, test_swap_while_held);
	tcase_add_test(tc, test_apply_write_timeout); /* host_c: the last */
	suite_add_tcase(s, tc);
	int rc = dx_check_run(s);
	/* The hosts are this process's children (the tests ran in forks). */
	if (dx_test_host_stop(&host_a) < 0)
		rc = 1;
	if (dx_test_host_stop(&host_b) < 0)
		rc = 1;
	if (dx_test_host_stop(&host_c) < 0)
		rc = 1;
	return rc;
}
