/* test_client.c - the SDK's HBTP client (sdk/src/client.c) against a tiny
 * server in a thread of this test, on loopback TCP, IPv6 and a Unix socket.
 *
 * The server's routes, chosen to exercise one client feature each:
 *   0 the route table (JSON)      4 RpcError 404 "no such route"
 *   1 echo (meta x-route: echo;   5 echo split into 3 frames
 *     split into 1000-byte frames)6 echo, LZ4-compressed
 *   2 hold: no answer yet         7 Close 1000 "bye", then hang up
 *   3 release: answer the held    8 a compression bomb (1 MiB of zeros)
 *     calls in REVERSE order, then this one
 * Ping is answered with Pong. The server reassembles and inflates calls
 * with the SDK's own functions. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include <dx/client.h>

#include "check_main.h"

#define SRV_FRAME 1000u
#define HELD_MAX 64

struct held {
	uint16_t seq;
	uint8_t arg[16];
	size_t n;
};

struct srv {
	int lfd, fd;
	pthread_t th;
	char addr[160];
	char dir[64];
	uint8_t reasm_buf[1 << 20];
	uint8_t inflated[1 << 20];
	struct held held[HELD_MAX];
	int nheld;
};

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k <= 0)
			return; /* the client went away: fine for a test */
		b += k;
		n -= (size_t)k;
	}
}

static void send_frame(struct srv *s, uint8_t op, uint8_t flags, uint16_t seq,
		       const void *body, size_t n)
{
	uint8_t *f = malloc(8 + n);
	long k = dx_hbtp_frame_write(f, 8 + n, op, flags, seq, body, n);
	ck_assert_int_eq(k, (long)(8 + n));
	write_all(s->fd, f, (size_t)k);
	free(f);
}

/* RpcResponse in frames of at most SRV_FRAME bytes. */
static void respond_split(struct srv *s, uint16_t seq, uint8_t flags,
			  const uint8_t *p, size_t n, size_t frame)
{
	size_t off = 0;
	do {
		size_t k = n - off < frame ? n - off : frame;
		bool last = off + k == n;
		send_frame(s, DX_HBTP_RPC_RESPONSE,
			   (off ? 0 : flags) | (last ? DX_HBTP_FINAL : 0), seq,
			   p + off, k);
		off += k;
	} while (off < n);
}

static void respond_error(struct srv *s, uint16_t seq, uint16_t status,
			  const char *text)
{
	uint8_t b[256];
	dx_hbtp_put_le16(b, status);
	memcpy(b + 2, text, strlen(text));
	send_frame(s, status == 1000 ? DX_HBTP_CLOSE : DX_HBTP_RPC_ERROR,
		   DX_HBTP_FINAL, seq, b, 2 + strlen(text));
}

static void respond_echo_meta(struct srv *s, uint16_t seq, const uint8_t *a,
			      size_t n)
{
	uint8_t *body = malloc(64 + n);
	dx_hbtp_meta_writer w;
	dx_hbtp_meta_begin(&w, body, 64);
	dx_hbtp_meta_add(&w, "x-route", "echo", 4);
	dx_hbtp_meta_end(&w);
	memcpy(body + w.len, a, n);
	respond_split(s, seq, DX_HBTP_HAS_META, body, w.len + n, SRV_FRAME);
	free(body);
}

static void respond_compressed(struct srv *s, uint16_t seq, const void *a,
			       size_t n)
{
	size_t bound = dx_hbtp_compress_bound(n);
	uint8_t *z = malloc(bound);
	long k = dx_hbtp_compress(a, n, z, bound);
	ck_assert_int_gt(k, 0);
	respond_split(s, seq, DX_HBTP_COMPRESSED, z, (size_t)k, SRV_FRAME);
	free(z);
}

static void release(struct srv *s, uint16_t seq)
{
	for (int i = s->nheld - 1; i >= 0; i--)
		respond_split(s, s->held[i].seq, 0, s->held[i].arg,
			      s->held[i].n, SRV_FRAME);
	char text[32];
	int n = snprintf(text, sizeof text, "released %d", s->nheld);
	respond_split(s, seq, 0, (const uint8_t *)text, (size_t)n, SRV_FRAME);
	s->nheld = 0;
}

static void hold(struct srv *s, uint16_t seq, const uint8_t *a, size_t n)
{
	ck_assert_int_lt(s->nheld, HELD_MAX);
	struct held *h = &s->held[s->nheld++];
	h->seq = seq;
	h->n = n < sizeof h->arg ? n : sizeof h->arg;
	memcpy(h->arg, a, h->n);
}

static const char routes_json[] =
	"[{\"id\": 1, \"name\": \"echo\", \"plugin\": \"test\"}]";

/* Returns false when the connection is to end. */
static bool on_call(struct srv *s, uint16_t seq, uint16_t route,
		    const uint8_t *a, size_t n)
{
	switch (route) {
	case 0:
		respond_split(s, seq, 0, (const uint8_t *)routes_json,
			      strlen(routes_json), SRV_FRAME);
		break;
	case 1: respond_echo_meta(s, seq, a, n); break;
	case 2: hold(s, seq, a, n); break;
	case 3: release(s, seq); break;
	case 4: respond_error(s, seq, 404, "no such route"); break;
	case 5: respond_split(s, seq, 0, a, n, n / 3 + 1); break;
	case 6: respond_compressed(s, seq, a, n); break;
	case 7: respond_error(s, seq, 1000, "bye"); return false;
	case 8: {
		uint8_t *zeros = calloc(1, 1 << 20);
		respond_compressed(s, seq, zeros, 1 << 20);
		free(zeros);
		break;
	}
	default: respond_error(s, seq, 404, "unknown route");
	}
	return true;
}

/* One whole message from the client. */
static bool on_msg(struct srv *s, const dx_hbtp_header *h, const uint8_t *b,
		   size_t n)
{
	if (h->opcode == DX_HBTP_PING) {
		send_frame(s, DX_HBTP_PONG, DX_HBTP_FINAL, h->seq, b, n);
		return true;
	}
	ck_assert_uint_eq(h->opcode, DX_HBTP_RPC_CALL);
	if (h->flags & DX_HBTP_HAS_META) {
		dx_hbtp_meta m;
		const char *why;
		long k = dx_hbtp_meta_parse(b, n, &m, &why);
		ck_assert_int_gt(k, 0);
		b += k;
		n -= (size_t)k;
	}
	if (h->flags & DX_HBTP_COMPRESSED) {
		long k = dx_hbtp_decompress(b, n, s->inflated,
					    sizeof s->inflated);
		ck_assert_int_ge(k, 2);
		b = s->inflated;
		n = (size_t)k;
	}
	ck_assert_uint_ge(n, 2);
	return on_call(s, h->seq, dx_hbtp_le16(b), b + 2, n - 2);
}

/* Split what is buffered into frames and serve them; returns the bytes
 * used, or -1 when the connection is to end. */
static long serve_buffer(struct srv *s, dx_hbtp_reasm *r, const uint8_t *p,
			 size_t n)
{
	size_t off = 0;
	dx_hbtp_header h, mh;
	const uint8_t *body, *msg;
	size_t len;
	long f;
	while ((f = dx_hbtp_frame_split(p + off, n - off, SRV_FRAME * 64, &h,
					&body)) > 0) {
		off += (size_t)f;
		int rc = dx_hbtp_reasm_push(r, &h, body, &mh, &msg, &len);
		ck_assert_int_ge(rc, 0);
		if (rc == DX_HBTP_REASM_COMPLETE && !on_msg(s, &mh, msg, len))
			return -1;
	}
	ck_assert_int_ge(f, 0);
	return (long)off;
}

static void *serve(void *arg)
{
	struct srv *s = arg;
	s->fd = accept(s->lfd, NULL, NULL);
	ck_assert_int_ge(s->fd, 0);
	dx_hbtp_reasm r;
	dx_hbtp_reasm_init(&r, s->reasm_buf, sizeof s->reasm_buf);
	size_t cap = 1 << 20, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		ssize_t k = recv(s->fd, buf + len, cap - len, 0);
		if (k <= 0)
			break;
		len += (size_t)k;
		long used = serve_buffer(s, &r, buf, len);
		if (used < 0)
			break;
		memmove(buf, buf + used, len - (size_t)used);
		len -= (size_t)used;
	}
	free(buf);
	close(s->fd);
	return NULL;
}

/* A server listening on family (AF_INET, AF_INET6 or AF_UNIX), or NULL when
 * this machine cannot (no IPv6). */
static struct srv *srv_start(int family)
{
	struct srv *s = calloc(1, sizeof *s);
	s->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->lfd, 0);
	int rc;
	if (family == AF_UNIX) {
		strcpy(s->dir, "/tmp/dxclient.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(s->dir));
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s/s", s->dir);
		rc = bind(s->lfd, (struct sockaddr *)&sun, sizeof sun);
		snprintf(s->addr, sizeof s->addr, "unix:%s", sun.sun_path);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6,
					 .sin6_addr = in6addr_loopback};
		socklen_t al = sizeof a;
		rc = bind(s->lfd, (struct sockaddr *)&a, sizeof a);
		if (rc < 0) {
			close(s->lfd);
			free(s);
			return NULL;
		}
		getsockname(s->lfd, (struct sockaddr *)&a, &al);
		snprintf(s->addr, sizeof s->addr, "[::1]:%u",
			 ntohs(a.sin6_port));
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr =
						htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof a;
		rc = bind(s->lfd, (struct sockaddr *)&a, sizeof a);
		getsockname(s->lfd, (struct sockaddr *)&a, &al);
		snprintf(s->addr, sizeof s->addr, "127.0.0.1:%u",
			 ntohs(a.sin_port));
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(listen(s->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&s->th, NULL, serve, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	if (s->dir[0]) {
		char p[128];
		snprintf(p, sizeof p, "%s/s", s->dir);
		unlink(p);
		rmdir(s->dir);
	}
	free(s);
}

/* A server and a client connected to it. */
static struct srv *srv;
static dx_client *cl;

static void connect_to(int family)
{
	srv = srv_start(family);
	char err[256] = "";
	int rc = dx_client_connect(srv->addr, 2000, &cl, err, sizeof err);
	ck_assert_msg(rc == 0, "connect %s: %d %s", srv->addr, rc, err);
}

static void disconnect(void)
{
	dx_client_close(cl);
	srv_stop(srv);
}

static void expect_payload(const dx_client_msg *m, const char *want)
{
	ck_assert_uint_eq(m->len, strlen(want));
	ck_assert_mem_eq(m->payload, want, m->len);
}

START_TEST(ping_pong)
{
	connect_to(AF_INET);
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_ping(cl, "abc", 3, &seq), 0);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_PONG);
	ck_assert_uint_eq(m.seq, seq);
	expect_payload(&m, "abc");
	ck_assert_int_ge(dx_client_fd(cl), 0);
	disconnect();
}
END_TEST

START_TEST(echo_with_meta)
{
	connect_to(AF_INET);
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(cl, 1, "hello", 5, 0, &seq), 0);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_RPC_RESPONSE);
	ck_assert(m.flags & DX_HBTP_FINAL);
	expect_payload(&m, "hello");
	uint16_t vlen = 0;
	const uint8_t *v = dx_hbtp_meta_get(&m.meta, "x-route", &vlen);
	ck_assert_ptr_nonnull(v);
	ck_assert_mem_eq(v, "echo", 4);
	disconnect();
}
END_TEST

/* Ten held calls answered in reverse: waiting in send order must still
 * pair each answer with its own call. */
START_TEST(pipelined_out_of_order_wait)
{
	connect_to(AF_INET);
	uint16_t seqs[10], rel;
	char arg[8];
	for (int i = 0; i < 10; i++) {
		int n = snprintf(arg, sizeof arg, "a%d", i);
		ck_assert_int_eq(
			dx_client_call(cl, 2, arg, (size_t)n, 0, &seqs[i]), 0);
	}
	ck_assert_int_eq(dx_client_call(cl, 3, NULL, 0, 0, &rel), 0);
	dx_client_msg m;
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(dx_client_wait(cl, seqs[i], &m, 2000), 0);
		ck_assert_uint_eq(m.seq, seqs[i]);
		snprintf(arg, sizeof arg, "a%d", i);
		expect_payload(&m, arg);
	}
	ck_assert_int_eq(dx_client_wait(cl, rel, &m, 2000), 0);
	expect_payload(&m, "released 10");
	disconnect();
}
END_TEST

/* The same batch through recv: messages come in arrival order. */
START_TEST(pipelined_recv_order)
{
	connect_to(AF_INET);
	uint16_t seqs[5], rel;
	for (int i = 0; i < 5; i++)
		dx_client_call(cl, 2, "x", 1, 0, &seqs[i]);
	dx_client_call(cl, 3, NULL, 0, 0, &rel);
	ck_assert_int_eq(dx_client_flush(cl, 2000), 0);
	dx_client_msg m;
	for (int i = 4; i >= 0; i--) {
		ck_assert_int_eq(dx_client_recv(cl, &m, 2000), 0);
		ck_assert_uint_eq(m.seq, seqs[i]);
	}
	ck_assert_int_eq(dx_client_recv(cl, &m, 2000), 0);
	ck_assert_uint_eq(m.seq, rel);
	/* Waiting for the release first keeps the others for recv. */
	for (int i = 0; i < 3; i++)
		dx_client_call(cl, 2, "y", 1, 0, &seqs[i]);
	dx_client_call(cl, 3, NULL, 0, 0, &rel);
	ck_assert_int_eq(dx_client_wait(cl, rel, &m, 2000), 0);
	expect_payload(&m, "released 3");
	for (int i = 2; i >= 0; i--) {
		ck_assert_int_eq(dx_client_recv(cl, &m, 2000), 0);
		ck_assert_uint_eq(m.seq, seqs[i]);
	}
	disconnect();
}
END_TEST

START_TEST(queue_is_bounded)
{
	connect_to(AF_INET);
	ck_assert_int_eq(dx_client_set_limits(cl, 0, 0, 2), 0);
	uint16_t s, rel;
	for (int i = 0; i < 3; i++)
		dx_client_call(cl, 2, "x", 1, 0, &s);
	dx_client_call(cl, 3, NULL, 0, 0, &rel);
	dx_client_msg m;
	ck_assert_int_eq(dx_client_wait(cl, rel, &m, 2000), -ENOBUFS);
	ck_assert_ptr_nonnull(strstr(dx_client_error(cl), "recv them"));
	/* recv drains the queue, then the stream goes on. */
	ck_assert_int_eq(dx_client_recv(cl, &m, 2000), 0);
	ck_assert_int_eq(dx_client_recv(cl, &m, 2000), 0);
	ck_assert_int_eq(dx_client_wait(cl, rel, &m, 2000), 0);
	expect_payload(&m, "released 3");
	disconnect();
}
END_TEST

START_TEST(rpc_error_status)
{
	connect_to(AF_INET);
	uint16_t seq;
	dx_client_msg m;
	dx_client_call(cl, 4, NULL, 0, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_RPC_ERROR);
	ck_assert_uint_eq(m.status, 404);
	expect_payload(&m, "no such route");
	disconnect();
}
END_TEST

START_TEST(split_response)
{
	connect_to(AF_INET);
	uint16_t seq;
	dx_client_msg m;
	dx_client_call(cl, 5, "abcdefghijk", 11, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	expect_payload(&m, "abcdefghijk");
	/* Split both ways: the client splits a 5000-byte call into frames
	 * of max_frame, the server answers in 1000-byte frames. */
	char *big = malloc(5001);
	for (int i = 0; i < 5000; i++)
		big[i] = (char)('a' + i % 26);
	big[5000] = '\0';
	ck_assert_int_eq(dx_client_set_limits(cl, 1000, 0, 0), 0);
	dx_client_call(cl, 1, big, 5000, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	expect_payload(&m, big);
	free(big);
	disconnect();
}
END_TEST

START_TEST(compressed_both_ways)
{
	connect_to(AF_INET);
	size_t n = 100000;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + (i / 100) % 26);
	big[n] = '\0';
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(
		dx_client_call(cl, 6, big, n, DX_HBTP_COMPRESSED, &seq), 0);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	ck_assert(m.flags & DX_HBTP_COMPRESSED);
	expect_payload(&m, big);
	free(big);
	disconnect();
}
END_TEST

START_TEST(bomb_refused_then_goes_on)
{
	connect_to(AF_INET);
	ck_assert_int_eq(dx_client_set_limits(cl, 1000, 65536, 0), 0);
	uint16_t seq;
	dx_client_msg m;
	dx_client_call(cl, 8, NULL, 0, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), -E2BIG);
	ck_assert_ptr_nonnull(strstr(dx_client_error(cl), "max_message"));
	dx_client_ping(cl, "p", 1, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	expect_payload(&m, "p");
	disconnect();
}
END_TEST

START_TEST(route_table)
{
	connect_to(AF_INET);
	char *json = NULL;
	size_t len = 0;
	ck_assert_int_eq(dx_client_routes(cl, &json, &len, 2000), 0);
	ck_assert_str_eq(json, routes_json);
	ck_assert_uint_eq(len, strlen(routes_json));
	free(json);
	disconnect();
}
END_TEST

START_TEST(server_close)
{
	connect_to(AF_INET);
	uint16_t seq;
	dx_client_msg m;
	dx_client_call(cl, 7, NULL, 0, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_CLOSE);
	ck_assert_uint_eq(m.status, 1000);
	expect_payload(&m, "bye");
	ck_assert_int_eq(dx_client_recv(cl, &m, 2000), -ECONNRESET);
	ck_assert_int_eq(dx_client_recv(cl, &m, 2000), -ECONNRESET);
	disconnect();
}
END_TEST

START_TEST(recv_timeout)
{
	connect_to(AF_INET);
	dx_client_msg m;
	ck_assert_int_eq(dx_client_recv(cl, &m, 50), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(dx_client_error(cl), "timed out"));
	uint16_t seq; /* a timeout does not end the connection */
	dx_client_ping(cl, NULL, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	ck_assert_uint_eq(m.len, 0);
	disconnect();
}
END_TEST

START_TEST(unix_socket)
{
	connect_to(AF_UNIX);
	uint16_t seq;
	dx_client_msg m;
	dx_client_call(cl, 1, "over unix", 9, 0, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	expect_payload(&m, "over unix");
	disconnect();
}
END_TEST

START_TEST(ipv6_loopback)
{
	srv = srv_start(AF_INET6);
	if (!srv)
		return; /* no IPv6 on this machine */
	char err[256];
	ck_assert_int_eq(
		dx_client_connect(srv->addr, 2000, &cl, err, sizeof err), 0);
	uint16_t seq;
	dx_client_msg m;
	dx_client_ping(cl, "v6", 2, &seq);
	ck_assert_int_eq(dx_client_wait(cl, seq, &m, 2000), 0);
	expect_payload(&m, "v6");
	disconnect();
}
END_TEST

START_TEST(bad_addresses)
{
	const char *bad[] = {"nohostport", "127.0.0.1:", ":80",  "[::1",
			     "[::1]80",    "::1:80",     "unix:"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		dx_client *c = (dx_client *)1;
		char err[256] = "";
		ck_assert_int_eq(dx_client_connect(bad[i], 100, &c, err,
						   sizeof err),
				 -EINVAL);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(err, bad[i]), "%s: %s", bad[i], err);
	}
	/* Nothing listens there (a port we just closed). */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	char addr[64], err[256] = "";
	snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(a.sin_port));
	dx_client *c;
	ck_assert_int_eq(dx_client_connect(addr, 1000, &c, err, sizeof err),
			 -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(err, addr));
	ck_assert_int_eq(dx_client_connect("unix:/nonexistent/dx.sock", 1000,
					   &c, err, sizeof err),
			 -ENOENT);
	dx_client_close(NULL);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *t = tcase_create("client");
	tcase_set_timeout(t, 20);
	tcase_add_test(t, ping_pong);
	tcase_add_test(t, echo_with_meta);
	tcase_add_test(t, pipelined_out_of_order_wait);
	tcase_add_test(t, pipelined_recv_order);
	tcase_add_test(t, queue_is_bounded);
	tcase_add_test(t, rpc_error_status);
	tcase_add_test(t, split_response);
	tcase_add_test(t, compressed_both_ways);
	tcase_add_test(t, bomb_refused_then_goes_on);
	tcase_add_test(t, route_table);
	tcase_add_test(t, server_close);
	tcase_add_test(t, recv_timeout);
	tcase_add_test(t, unix_socket);
	tcase_add_test(t, ipv6_loopback);
	tcase_add_test(t, bad_addresses);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return dx_check_run(client_suite());
}
