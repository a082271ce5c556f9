/* test_alloc - the host's request path allocates nothing once warm.
 *
 * Starts the real dx-host (one worker, the backend named by argv[1]) with
 * alloc_count.so preloaded, warms a connection up with pipelined echo calls
 * and pings (its buffers grow to size), reads the host's heap-call count,
 * sends 10,000 more, reads it again and asserts nothing was allocated or
 * freed in between. usage: test_alloc BACKEND DX_HOST ALLOC_COUNT_SO */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <dx/client.h>
#include <dx/hbtp.h>

#include "../unit/check_main.h"
#include "../serve/test_host.h"

static const char *backend, *dx_host, *preload;
static struct dx_test_host host;
static char count_dir[] = "/tmp/dx-alloc.XXXXXX";

static dx_client *connect_host(void)
{
	char err[256];
	dx_client *c = NULL;
	if (dx_client_connect(host.addr, 5000, &c, err, sizeof err) < 0)
		ck_abort_msg("cannot connect to dx-host at %s: %s", host.addr,
			     err);
	return c;
}

static unsigned long host_count(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/count", count_dir);
	unlink(path);
	kill(host.pid, SIGUSR2);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		unsigned long v;
		if (f && fscanf(f, "%lu", &v) == 1) {
			fclose(f);
			return v;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	ck_abort_msg("dx-host did not report its allocation count");
	return 0;
}

/* rounds x 100 pipelined echo calls and 10 pings, all answers checked. */
static void burst(dx_client *c, int rounds)
{
	char args[64];
	memset(args, 'x', sizeof args);
	for (int r = 0; r < rounds; r++) {
		uint16_t seq;
		for (int i = 0; i < 100; i++)
			ck_assert_int_eq(dx_client_call(c, 2, args, sizeof args,
							0, &seq),
					 0);
		for (int i = 0; i < 10; i++)
			ck_assert_int_eq(dx_client_ping(c, "p", 1, &seq), 0);
		for (int i = 0; i < 110; i++) {
			dx_client_msg m;
			ck_assert_int_eq(dx_client_recv(c, &m, 5000), 0);
			if (m.opcode == DX_HBTP_RPC_RESPONSE)
				ck_assert_uint_eq(m.len, sizeof args);
			else
				ck_assert_uint_eq(m.opcode, DX_HBTP_PONG);
		}
	}
}

START_TEST(test_no_alloc_per_request)
{
	dx_client *c = connect_host();
	burst(c, 20); /* warm: buffers grow to what this traffic needs */
	usleep(200000);
	unsigned long before = host_count();
	/* Startup allocates plenty: zero would mean nothing was counted. */
	ck_assert_msg(before > 100, "the preload counted only %lu heap calls",
		      before);
	burst(c, 100); /* 10,000 calls and 1,000 pings */
	unsigned long after = host_count();
	dx_client_close(c);
	ck_assert_msg(after == before,
		      "backend %s: %lu heap calls during 11,000 warm requests "
		      "(before %lu, after %lu)",
		      backend, after - before, before, after);
}
END_TEST

/* The same with every call carrying x-request-id: the log's request id
 * (host/src/log.h) is taken where it lies, never copied. */
START_TEST(test_no_alloc_with_request_id)
{
	dx_client *c = connect_host();
	uint8_t block[64];
	dx_hbtp_meta_writer w;
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, block, sizeof block), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "x-request-id", "req-1", 5), 0);
	ck_assert_int_eq(dx_hbtp_meta_end(&w), 0);
	ck_assert_int_eq(dx_client_set_meta(c, block, w.len), 0);
	burst(c, 20);
	usleep(200000);
	unsigned long before = host_count();
	burst(c, 100);
	unsigned long after = host_count();
	dx_client_close(c);
	ck_assert_msg(after == before,
		      "backend %s: %lu heap calls during 11,000 warm requests "
		      "with x-request-id",
		      backend, after - before);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test_alloc BACKEND DX_HOST PRELOAD\n");
		return 2;
	}
	backend = argv[1];
	dx_host = argv[2];
	preload = argv[3];
	char extra[512], count_env[128], preload_env[1024];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":1,\"io\":"
		 "{\"backend\":\"%s\"},\"plugins\":[{\"name\":"
		 "\"io_epoll\"},{\"name\":\"io_uring\"},{\"name\":"
		 "\"routes_echo\"}]",
		 getenv("DX_PLUGINS"), backend);
	if (!mkdtemp(count_dir))
		return 1;
	snprintf(preload_env, sizeof preload_env, "LD_PRELOAD=%s", preload);
	snprintf(count_env, sizeof count_env, "DX_ALLOC_COUNT_FILE=%s/count",
		 count_dir);
	char *env[] = {preload_env, count_env, NULL};
	if (dx_test_host_start(&host, dx_host, extra, env) < 0)
		return 77;
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("warm");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_alloc_per_request);
	tcase_add_test(tc, test_no_alloc_with_request_id);
	suite_add_tcase(s, tc);
	int rc = dx_check_run(s);
	if (dx_test_host_stop(&host) < 0)
		rc = 1;
	return rc;
}
