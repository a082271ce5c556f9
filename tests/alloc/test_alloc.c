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

#include "../unit/check_main.h"

static const char *backend, *dx_host, *preload;
static char dir[] = "/tmp/dx-alloc.XXXXXX";
static char addr[64];
static pid_t host_pid;

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

static void start_host(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
	char path[256], env_file[300], env_pre[1024];
	snprintf(path, sizeof path, "%s/m.json", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"{\"dx\":1,\"plugin_path\":[\"%s\"],\"listen\":[\"%s\"],"
		"\"workers\":1,\"io\":{\"backend\":\"%s\"},\"plugins\":["
		"{\"name\":\"io_epoll\"},{\"name\":\"io_uring\"},"
		"{\"name\":\"routes_echo\"}]}\n",
		getenv("DX_PLUGINS"), addr, backend);
	fclose(f);
	snprintf(env_file, sizeof env_file, "DX_ALLOC_COUNT_FILE=%s/count", dir);
	snprintf(env_pre, sizeof env_pre, "LD_PRELOAD=%s", preload);
	host_pid = fork();
	ck_assert_int_ge(host_pid, 0);
	if (host_pid == 0) {
		putenv(env_file);
		putenv(env_pre);
		execl(dx_host, dx_host, "-m", path, "-q", (char *)NULL);
		_exit(127);
	}
}

static dx_client *connect_host(void)
{
	char err[256];
	dx_client *c = NULL;
	for (int i = 0; i < 100; i++) {
		if (dx_client_connect(addr, 1000, &c, err, sizeof err) == 0)
			return c;
		int st;
		if (waitpid(host_pid, &st, WNOHANG) == host_pid)
			ck_abort_msg("dx-host (backend %s) exited early: %d",
				     backend, WEXITSTATUS(st));
		usleep(50000);
	}
	ck_abort_msg("cannot connect to dx-host at %s: %s", addr, err);
	return NULL;
}

static unsigned long host_count(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/count", dir);
	unlink(path);
	kill(host_pid, SIGUSR2);
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
	start_host();
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
	kill(host_pid, SIGTERM);
	int st;
	waitpid(host_pid, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "dx-host did not exit 0 on SIGTERM");
	ck_assert_msg(after == before,
		      "backend %s: %lu heap calls during 11,000 warm requests "
		      "(before %lu, after %lu)",
		      backend, after - before, before, after);
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
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("warm");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_alloc_per_request);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
