/* test_win_client.c - libdx's client (dx.dll, Winsock) under wine against
 * a Linux dx-host serving routes_echo on 127.0.0.1 (client.sh starts it
 * and passes its address): ping, the echo route plain and LZ4-compressed
 * both ways, route discovery, pipelined calls answered out of order, a
 * wait that times out and then succeeds, and a refused connection.
 *
 * usage: test_win_client HOST:PORT CLOSED_PORT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/client.h>

#include "wintest.h"

static const char *addr;
static const char *closed_port;

static dx_client *connect_host(void)
{
	dx_client *c = NULL;
	char err[256] = "";
	int rc = dx_client_connect(addr, 5000, &c, err, sizeof err);
	WT_CHECK(rc == 0 && c, "connect %s: rc %d: %s", addr, rc, err);
	WT_ASSERT(dx_client_fd(c) >= 0);
	return c;
}

static void ping(void)
{
	dx_client *c = connect_host();
	uint16_t seq = 0;
	WT_INT_EQ(dx_client_ping(c, "wine", 4, &seq), 0);
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, 5000);
	WT_CHECK(rc == 0, "wait: %d: %s", rc, dx_client_error(c));
	WT_INT_EQ(m.opcode, DX_HBTP_PONG);
	WT_ASSERT(m.len == 4 && memcmp(m.payload, "wine", 4) == 0);
	dx_client_close(c);
}

/* Route 2 of routes_echo answers its arguments as they came. */
static void echo(void)
{
	dx_client *c = connect_host();
	uint16_t seq = 0;
	WT_INT_EQ(dx_client_call(c, 2, "from windows", 12, 0, &seq), 0);
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, 5000);
	WT_CHECK(rc == 0, "wait: %d: %s", rc, dx_client_error(c));
	WT_INT_EQ(m.opcode, DX_HBTP_RPC_RESPONSE);
	WT_INT_EQ(m.seq, seq);
	WT_ASSERT(m.len == 12 && memcmp(m.payload, "from windows", 12) == 0);
	dx_client_close(c);
}

/* 256 KiB of arguments, compressed by dx.dll's lz4 on the way out; the
 * host (Debian's liblz4) inflates them, and answers. */
static void echo_compressed(void)
{
	enum { N = 256 * 1024 };
	char *args = malloc(N);
	WT_ASSERT(args != NULL);
	for (size_t i = 0; i < N; i++)
		args[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	dx_client *c = connect_host();
	uint16_t seq = 0;
	WT_INT_EQ(dx_client_call(c, 2, args, N, DX_HBTP_COMPRESSED, &seq), 0);
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, 10000);
	WT_CHECK(rc == 0, "wait: %d: %s", rc, dx_client_error(c));
	WT_INT_EQ(m.opcode, DX_HBTP_RPC_RESPONSE);
	WT_INT_EQ(m.len, N);
	WT_ASSERT(memcmp(m.payload, args, N) == 0);
	dx_client_close(c);
	free(args);
}

static void routes(void)
{
	dx_client *c = connect_host();
	char *json = NULL;
	size_t len = 0;
	int rc = dx_client_routes(c, &json, &len, 5000);
	WT_CHECK(rc == 0, "routes: %d: %s", rc, dx_client_error(c));
	WT_STR_HAS(json, "\"echo\"");
	WT_STR_HAS(json, "\"delay\"");
	free(json);
	dx_client_close(c);
}

/* delay (route 3, "MS PAYLOAD") answers after MS: a slow call sent
 * first, a fast one second; waiting for the fast one keeps the slow
 * one's answer (if it came) for later. */
static void pipelined_out_of_order(void)
{
	dx_client *c = connect_host();
	uint16_t slow = 0, fast = 0;
	WT_INT_EQ(dx_client_call(c, 3, "300 slow", 8, 0, &slow), 0);
	WT_INT_EQ(dx_client_call(c, 2, "fast", 4, 0, &fast), 0);
	dx_client_msg m;
	int rc = dx_client_wait(c, fast, &m, 5000);
	WT_CHECK(rc == 0, "wait fast: %d: %s", rc, dx_client_error(c));
	WT_ASSERT(m.len == 4 && memcmp(m.payload, "fast", 4) == 0);
	rc = dx_client_wait(c, slow, &m, 5000);
	WT_CHECK(rc == 0, "wait slow: %d: %s", rc, dx_client_error(c));
	WT_ASSERT(m.len == 4 && memcmp(m.payload, "slow", 4) == 0);
	dx_client_close(c);
}

/* A wait shorter than the answer's delay times out (the deadline clock,
 * WSAPoll's timeout); the connection goes on and the answer comes. */
static void wait_times_out_then_answers(void)
{
	dx_client *c = connect_host();
	uint16_t seq = 0;
	WT_INT_EQ(dx_client_call(c, 3, "1500 late", 9, 0, &seq), 0);
	dx_client_msg m;
	WT_INT_EQ(dx_client_wait(c, seq, &m, 100), -ETIMEDOUT);
	WT_STR_HAS(dx_client_error(c), "timed out");
	int rc = dx_client_wait(c, seq, &m, 10000);
	WT_CHECK(rc == 0, "wait: %d: %s", rc, dx_client_error(c));
	WT_ASSERT(m.len == 4 && memcmp(m.payload, "late", 4) == 0);
	dx_client_close(c);
}

static void refused(void)
{
	char to[64];
	snprintf(to, sizeof to, "127.0.0.1:%s", closed_port);
	dx_client *c = NULL;
	char err[256] = "";
	int rc = dx_client_connect(to, 5000, &c, err, sizeof err);
	WT_CHECK(rc == -ECONNREFUSED, "connect %s: rc %d: %s", to, rc, err);
	WT_ASSERT(c == NULL);
	WT_STR_HAS(err, to);
	/* In words, not the C runtime's "Unknown error" for socket codes. */
	WT_STR_HAS(err, "Connection refused");
	WT_STR_HAS(dx_strerror(-ETIMEDOUT), "timed out");
	WT_STR_HAS(dx_strerror(-ENOENT), "No such file");
	/* A name that does not parse: the address rules' message. */
	rc = dx_client_connect("no port here", 1000, &c, err, sizeof err);
	WT_INT_EQ(rc, -EINVAL);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_win_client HOST:PORT "
				"CLOSED_PORT\n");
		return 2;
	}
	addr = argv[1];
	closed_port = argv[2];
	static const wt_test tests[] = {
		{"ping", ping},
		{"echo", echo},
		{"echo_compressed", echo_compressed},
		{"routes", routes},
		{"pipelined_out_of_order", pipelined_out_of_order},
		{"wait_times_out_then_answers", wait_times_out_then_answers},
		{"refused", refused},
	};
	return wt_run("test_win_client", tests, sizeof tests / sizeof tests[0]);
}
