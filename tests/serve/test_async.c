/* test_async - the host API's post, watch and stream, through the real
 * dx-host with tests/serve/routes_async.so (usage: test_async BACKEND
 * DX_HOST PLUGIN_SO). A post made at init reaches worker 0, which watches
 * a pipe (and keeps watching it across a backend swap); a stream pushes
 * StateSync frames from another thread, in order, on the call's seq; a
 * client leaving mid-stream triggers on_close. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <dx/client.h>

#include "../unit/check_main.h"
#include "test_host.h"

static const char *backend, *dx_host, *plugin;
static struct dx_test_host host;

static dx_client *connect_host(void)
{
	char err[256];
	dx_client *c = NULL;
	return dx_client_connect(host.addr, 5000, &c, err, sizeof err) == 0
		       ? c
		       : NULL;
}

static int ctl(const char *request, char *answer, size_t n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", host.ctl);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -errno;
	}
	ssize_t w = write(fd, request, strlen(request));
	ssize_t r = w > 0 ? read(fd, answer, n - 1) : -1;
	answer[r > 0 ? r : 0] = '\0';
	close(fd);
	return r > 0 ? 0 : -EIO;
}

/* Call route with args and return its answer text in buf. */
static void call(dx_client *c, uint16_t route, const char *args, char *buf,
		 size_t n)
{
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, route, args, strlen(args), 0, &seq),
			 0);
	int rc = dx_client_wait(c, seq, &m, 5000);
	if (rc < 0) {
		char stats[2048] = "";
		ctl("{\"cmd\":\"stats\"}\n", stats, sizeof stats);
		ck_abort_msg("route %u seq %u: %s; host stats: %s", route, seq,
			     dx_client_error(c), stats);
	}
	ck_assert_uint_eq(m.opcode, DX_HBTP_RPC_RESPONSE);
	snprintf(buf, n, "%.*s", (int)m.len, (const char *)m.payload);
}

/* Poke n times, then wait until the watch has read want bytes. */
static void poke_and_count(dx_client *c, int n, unsigned long want)
{
	char buf[64];
	for (int i = 0; i < n; i++) {
		call(c, 61, "", buf, sizeof buf);
		ck_assert_str_eq(buf, "ok");
	}
	unsigned long got = 0;
	for (int t = 0; t < 200 && got < want; t++) {
		call(c, 62, "", buf, sizeof buf);
		got = strtoul(buf, NULL, 10);
		if (got < want)
			usleep(10000);
	}
	ck_assert_msg(got == want, "backend %s: the watch read %lu bytes, "
				   "wanted %lu",
		      backend, got, want);
}

START_TEST(test_stream_in_order)
{
	dx_client *c = connect_host();
	ck_assert_ptr_nonnull(c);
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, 60, "1000", 4, 0, &seq), 0);
	ck_assert_int_eq(dx_client_wait(c, seq, &m, 5000), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_RPC_RESPONSE);
	for (int i = 0; i < 1000; i++) {
		int rc = dx_client_wait(c, seq, &m, 5000);
		if (rc < 0) {
			char stats[2048] = "";
			ctl("{\"cmd\":\"stats\"}\n", stats, sizeof stats);
			ck_abort_msg("frame %d of 1000 never came (%s); host "
				     "stats: %s",
				     i, dx_client_error(c), stats);
		}
		char want[16];
		snprintf(want, sizeof want, "%d", i);
		ck_assert_msg(m.opcode == DX_HBTP_STATE_SYNC &&
				      m.len == strlen(want) &&
				      !memcmp(m.payload, want, m.len),
			      "push %d: opcode 0x%02x, %.*s", i, m.opcode,
			      (int)m.len, (const char *)m.payload);
	}
	dx_client_close(c);
}
END_TEST

START_TEST(test_watch_and_swap)
{
	dx_client *c = connect_host();
	ck_assert_ptr_nonnull(c);
	poke_and_count(c, 50, 50);
	char answer[1024], req[128];
	snprintf(req, sizeof req,
		 "{\"cmd\":\"swap\",\"kind\":\"io\",\"name\":\"%s\"}\n",
		 strcmp(backend, "epoll") ? "epoll" : "io_uring");
	ck_assert_int_eq(ctl(req, answer, sizeof answer), 0);
	if (strstr(answer, "not usable")) {
		dx_client_close(c);
		return; /* no io_uring here: nothing to swap to */
	}
	ck_assert_msg(strstr(answer, "\"ok\":true"), "swap: %s", answer);
	poke_and_count(c, 50, 100);
	dx_client_close(c);
}
END_TEST

/* Unwatch and watch the same fd again in one callback, many times over:
 * every new watch must keep working (each watch is a new generation, so
 * the old one's cancellation cannot reach it). */
START_TEST(test_rewatch_same_turn)
{
	dx_client *c = connect_host();
	ck_assert_ptr_nonnull(c);
	char buf[64];
	call(c, 62, "", buf, sizeof buf);
	unsigned long before = strtoul(buf, NULL, 10);
	for (int i = 0; i < 20; i++) {
		call(c, 63, "", buf, sizeof buf);
		ck_assert_str_eq(buf, "ok");
		poke_and_count(c, 1, before + (unsigned long)i + 1);
	}
	call(c, 62, "", buf, sizeof buf);
	const char *failed = strrchr(buf, ' ');
	ck_assert_msg(failed && strtoul(failed + 1, NULL, 10) == 0,
		      "a rewatch failed: count answered \"%s\"", buf);
	dx_client_close(c);
}
END_TEST

START_TEST(test_plugin_control_command)
{
	dx_client *c = connect_host();
	ck_assert_ptr_nonnull(c);
	poke_and_count(c, 0, 0); /* whatever came before, the count is read */
	dx_client_close(c);
	char answer[1024];
	ck_assert_int_eq(ctl("{\"cmd\":\"async\"}\n", answer, sizeof answer),
			 0);
	ck_assert_msg(strstr(answer, "\"read\":") &&
			      strstr(answer, "\"ok\":true"),
		      "the plugin's command answered %s", answer);
	ck_assert_int_eq(ctl("{\"cmd\":\"async\",\"fail\":1}\n", answer,
			     sizeof answer),
			 0);
	ck_assert_msg(strstr(answer, "\"ok\":false") &&
			      strstr(answer, "routes_async: asked to fail"),
		      "a failing command answered %s", answer);
}
END_TEST

START_TEST(test_on_close)
{
	dx_client *c = connect_host();
	ck_assert_ptr_nonnull(c);
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, 60, "10000000", 8, 0, &seq), 0);
	ck_assert_int_eq(dx_client_wait(c, seq, &m, 5000), 0);
	dx_client_close(c); /* leave while it pushes */
	dx_client *d = connect_host();
	char buf[64];
	unsigned long closed = 0;
	for (int t = 0; t < 300 && !closed; t++) {
		call(d, 62, "", buf, sizeof buf);
		closed = strtoul(strchr(buf, ' ') + 1, NULL, 10);
		if (!closed)
			usleep(10000);
	}
	ck_assert_msg(closed >= 1, "on_close never ran (%s)", buf);
	dx_client_close(d);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test_async BACKEND DX_HOST PLUGIN\n");
		return 2;
	}
	backend = argv[1];
	dx_host = argv[2];
	plugin = argv[3];
	char extra[1024];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":2,\"io\":"
		 "{\"backend\":\"%s\"},\"plugins\":[{\"name\":\"io_epoll\"},"
		 "{\"name\":\"io_uring\"},{\"path\":\"%s\"}]",
		 getenv("DX_PLUGINS"), backend, plugin);
	if (dx_test_host_start(&host, dx_host, extra, NULL) < 0) {
		/* Where io_uring is refused the host says so: a skip. */
		FILE *f = fopen(host.log, "r");
		char line[512];
		bool unusable = false;
		while (f && fgets(line, sizeof line, f))
			unusable |= strstr(line, "not usable") != NULL;
		if (f)
			fclose(f);
		return unusable ? 77 : 1;
	}
	Suite *s = suite_create("async");
	TCase *tc = tcase_create("host api");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stream_in_order);
	tcase_add_test(tc, test_watch_and_swap);
	tcase_add_test(tc, test_rewatch_same_turn);
	tcase_add_test(tc, test_plugin_control_command);
	tcase_add_test(tc, test_on_close);
	suite_add_tcase(s, tc);
	int rc = dx_check_run(s);
	if (rc)
		dx_test_host_dump(&host);
	if (dx_test_host_stop(&host) < 0)
		rc = 1;
	return rc;
}
