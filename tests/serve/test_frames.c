/* test_frames - no frame the host sends is larger than limits.max_frame,
 * metadata included (issue 11, item 2): an answer that does not fit is
 * split into frames, FINAL on the last, and the client reassembles it.
 *
 * The client is libdx's, with its max_frame set to the host's: it refuses
 * (and the call fails) any frame larger than that, so every check below
 * that gets its answer has seen only frames within the limit.
 *   small    a host with max_frame 64 (the least) and mw_timing
 *            (x-response-time on every answer): echoes of 62 bytes (fits
 *            until the metadata comes), 1,000 and 10,000 bytes, route 0's
 *            table (94 bytes), and a Ping.
 *   full     default limits (1 MiB frames) and mw_timing: an echo of a
 *            full frame's worth of arguments, and a 3 MB echo after 8 MB
 *            of pipelined Pings grew the connection's buffer (the limit
 *            was only checked when the buffer grew).
 * usage: test_frames DX_HOST (DX_PLUGINS set). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <dx/client.h>

#include "../unit/check_main.h"
#include "test_host.h"

#define T_MS 30000

static const char *dx_host;
static struct dx_test_host host;
static bool host_up;

static void host_start(const char *limits)
{
	char extra[2 * PATH_MAX];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":1,%s\"plugins\":"
		 "[{\"name\":\"io_epoll\"},{\"name\":\"routes_echo\"},"
		 "{\"name\":\"mw_timing\"}],\"middleware\":[\"mw_timing\"]",
		 getenv("DX_PLUGINS"), limits);
	host_up = dx_test_host_start(&host, dx_host, extra, NULL) == 0;
}

static void small_setup(void)
{
	host_start("\"limits\":{\"max_frame\":64},");
}

static void full_setup(void)
{
	host_start("");
}

static void host_teardown(void)
{
	if (host_up)
		dx_test_host_stop(&host);
	dx_test_host_clean(&host);
}

static dx_client *connect_with(uint32_t max_frame)
{
	ck_assert_msg(host_up, "dx-host did not start");
	char err[256];
	dx_client *c = NULL;
	ck_assert_msg(dx_client_connect(host.addr, 5000, &c, err, sizeof err) ==
			      0,
		      "%s", err);
	ck_assert_int_eq(dx_client_set_limits(c, max_frame, 0, 0), 0);
	return c;
}

/* Echo n bytes of a pattern; the answer must be those bytes, with
 * mw_timing's metadata. */
static void echo(dx_client *c, size_t n)
{
	uint8_t *args = malloc(n);
	ck_assert_ptr_nonnull(args);
	for (size_t i = 0; i < n; i++)
		args[i] = (uint8_t)(i * 31 + 7);
	uint16_t seq;
	ck_assert_int_eq(dx_client_call(c, 2, args, n, 0, &seq), 0);
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, T_MS);
	ck_assert_msg(rc == 0, "echo of %zu bytes: %s (%s)", n, dx_strerror(rc),
		      dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.len == n &&
			      memcmp(m.payload, args, n) == 0,
		      "echo of %zu bytes: opcode 0x%02x, %zu bytes", n,
		      m.opcode, m.len);
	ck_assert_msg(m.meta.count == 1, "echo of %zu bytes: %u metadata "
					 "entries, wanted x-response-time",
		      n, (unsigned)m.meta.count);
	free(args);
}

START_TEST(small_frames)
{
	dx_client *c = connect_with(64);
	echo(c, 62); /* 64 with the route id; past it with the metadata */
	echo(c, 1000);
	echo(c, 10000);
	char *json = NULL;
	size_t len = 0;
	ck_assert_int_eq(dx_client_routes(c, &json, &len, T_MS), 0);
	ck_assert_msg(len > 64 && strstr(json, "\"echo\""),
		      "route 0 (%zu bytes): %s", len, json);
	free(json);
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_ping(c, "ping", 4, &seq), 0);
	ck_assert_int_eq(dx_client_wait(c, seq, &m, T_MS), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_PONG);
	dx_client_close(c);
}
END_TEST

START_TEST(full_frames)
{
	dx_client *c = connect_with(DX_CLIENT_MAX_FRAME);
	/* The arguments fill a frame with the route id: the answer's
	 * metadata pushes it past max_frame. */
	echo(c, DX_CLIENT_MAX_FRAME - 2);
	/* 8 MB of Pings in flight grow the output buffer; then an answer
	 * three frames long. */
	static char ping[4096];
	uint16_t last = 0;
	for (int i = 0; i < 2048; i++)
		ck_assert_int_eq(dx_client_ping(c, ping, sizeof ping, &last), 0);
	dx_client_msg m;
	ck_assert_int_eq(dx_client_wait(c, last, &m, T_MS), 0);
	echo(c, 3000000);
	dx_client_close(c);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 2 || !getenv("DX_PLUGINS")) {
		fprintf(stderr, "usage: test_frames DX_HOST (DX_PLUGINS set)\n");
		return 2;
	}
	dx_host = argv[1];
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("frames");
	TCase *small = tcase_create("small");
	tcase_add_unchecked_fixture(small, small_setup, host_teardown);
	tcase_add_test(small, small_frames);
	tcase_set_timeout(small, 60);
	suite_add_tcase(s, small);
	TCase *full = tcase_create("full");
	tcase_add_unchecked_fixture(full, full_setup, host_teardown);
	tcase_add_test(full, full_frames);
	tcase_set_timeout(full, 120);
	suite_add_tcase(s, full);
	return dx_check_run(s);
}
