/* test_activate.c - socket activation without systemd as PID 1:
 * systemd-socket-activate binds the address, waits for a connection and
 * execs dx-host with LISTEN_FDS; dx-host serves the manifest's listen
 * entry on that socket (shared by its two workers) without binding it
 * again, leaves a passed unix socket's file alone, and refuses to start,
 * naming it, when a passed socket matches no listen entry.
 *
 * argv: the backend ("epoll" or "io_uring"), the dx-host to run,
 * systemd-socket-activate. Exits 77 (SKIP) when the backend's plugin is
 * not built or not usable here. */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>

#include "../unit/free_port.h"
#include "../unit/check_main.h"
#include "ops_host.h"

static const char *g_backend;
static const char *g_dx_host;
static const char *g_activate;

/* systemd-socket-activate -l listen [-E sanitizer options] dx-host -m M. */
static void spawn_activated(ops_host *h, const char *listen)
{
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)g_activate;
	argv[n++] = "-l";
	argv[n++] = (char *)listen;
	/* It hands the program only the environment -E names. */
	static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS",
					   "LSAN_OPTIONS", "LD_LIBRARY_PATH",
					   NULL};
	for (int i = 0; pass[i]; i++)
		if (getenv(pass[i])) {
			argv[n++] = "-E";
			argv[n++] = (char *)pass[i];
		}
	argv[n++] = (char *)g_dx_host;
	argv[n++] = "-m";
	argv[n++] = h->manifest;
	argv[n] = NULL;
	ck_assert_int_eq(ops_host_spawn(h, argv, NULL), 0);
}

/* Connect to addr once systemd-socket-activate listens there: the
 * client, or NULL when it exited first (its address was taken). */
static dx_client *connect_activated(ops_host *h, const char *addr)
{
	uint64_t end = now_ms() + 20000;
	while (now_ms() < end && ops_host_alive(h)) {
		dx_client *c;
		char err[256];
		if (dx_client_connect(addr, 2000, &c, err, sizeof err) == 0)
			return c;
		sleep_ms(20);
	}
	return NULL;
}

/* Start dx-host through systemd-socket-activate on 127.0.0.1:PORT (a
 * fresh port per try) with listen_entry ("" : the same address) in the
 * manifest; the first connection (which makes it exec dx-host), and the
 * address in addr. */
static dx_client *start_tcp(ops_host *h, const char *listen_entry, char *addr,
			    size_t len)
{
	for (int tries = 0; tries < 5; tries++) {
		ck_assert_int_eq(ops_host_init(h), 0);
		snprintf(addr, len, "127.0.0.1:%u", free_tcp_port());
		char listen[160];
		snprintf(listen, sizeof listen, "\"%s\"",
			 *listen_entry ? listen_entry : addr);
		ck_assert_int_eq(ops_host_manifest(h, listen, g_backend, ""),
				 0);
		spawn_activated(h, addr);
		dx_client *c = connect_activated(h, addr);
		if (c)
			return c;
		ops_host_done(h, false); /* the port was taken: again */
	}
	ck_abort_msg("systemd-socket-activate never listened");
	return NULL;
}

struct burst {
	const char *addr;
	int id;
	char why[256];
	int rc;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	dx_client *c;
	b->rc = dx_client_connect(b->addr, 5000, &c, b->why, sizeof b->why);
	for (int i = 0; b->rc == 0 && i < 25; i++) {
		char text[32];
		snprintf(text, sizeof text, "c%d-%d", b->id, i);
		b->rc = ops_echo_on(c, text, b->why, sizeof b->why);
	}
	if (b->rc == 0)
		dx_client_close(c);
	return NULL;
}

START_TEST(tcp_passed_socket_serves)
{
	ops_host h;
	char addr[64], why[256];
	dx_client *first = start_tcp(&h, "", addr, sizeof addr);
	/* The connection that woke it is served like any other. */
	int rc = ops_echo_on(first, "first", why, sizeof why);
	dx_client_close(first);
	if (rc != 0)
		ops_host_done(&h, true);
	ck_assert_msg(rc == 0, "the first connection: %s", why);
	char want[160];
	snprintf(want, sizeof want,
		 "listen %s: serving the socket systemd passed (fd 3)", addr);
	ck_assert_msg(ops_log_has(&h, want, 5000), "log lacks \"%s\"", want);
	/* Both workers accept on the one socket: connections in parallel,
	 * each served whichever worker took it. */
	enum { N = 12 };
	struct burst b[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		b[i] = (struct burst){.addr = addr, .id = i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, burst_main, &b[i]),
				 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++)
		if (b[i].rc != 0)
			ops_host_done(&h, true);
	for (int i = 0; i < N; i++)
		ck_assert_msg(b[i].rc == 0, "client %d: %s", i, b[i].why);
	kill(h.pid, SIGTERM);
	int st = ops_host_exit(&h, 30000);
	ck_assert_msg(st == 0, "dx-host after SIGTERM: exit %d", st);
	ops_host_done(&h, false);
}
END_TEST

START_TEST(unix_passed_socket_is_not_unlinked)
{
	ops_host h;
	ck_assert_int_eq(ops_host_init(&h), 0);
	char path[200], addr[220], listen[240], why[256];
	snprintf(path, sizeof path, "%s/dx.sock", h.dir);
	snprintf(addr, sizeof addr, "unix:%s", path);
	snprintf(listen, sizeof listen, "\"%s\"", addr);
	ck_assert_int_eq(ops_host_manifest(&h, listen, g_backend, ""), 0);
	spawn_activated(&h, path);
	dx_client *c = connect_activated(&h, addr);
	ck_assert_msg(c, "systemd-socket-activate never listened on %s", path);
	int rc = ops_echo_on(c, "over unix", why, sizeof why);
	dx_client_close(c);
	if (rc != 0)
		ops_host_done(&h, true);
	ck_assert_msg(rc == 0, "unix: %s", why);
	kill(h.pid, SIGTERM);
	int st = ops_host_exit(&h, 30000);
	ck_assert_msg(st == 0, "dx-host after SIGTERM: exit %d", st);
	/* The socket file is systemd's: it outlives the host. */
	struct stat sb;
	ck_assert_msg(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode),
		      "%s was removed by dx-host", path);
	ops_host_done(&h, false);
}
END_TEST

START_TEST(unmatched_passed_socket_refused)
{
	ops_host h;
	char addr[64], other[200];
	/* Bound by dx-host itself (and removed when it stops). */
	snprintf(other, sizeof other, "unix:/tmp/dx-ops-other.%d.sock",
		 (int)getpid());
	dx_client *c = start_tcp(&h, other, addr, sizeof addr);
	dx_client_close(c);
	int st = ops_host_exit(&h, 30000);
	char *log = slurp(h.log);
	char want[200];
	snprintf(want, sizeof want,
		 "LISTEN_FDS: passed socket fd 3 (%s) matches no listen entry",
		 addr);
	bool ok = st == 1 && strstr(log, want) &&
		  strstr(log, "nothing started");
	free(log);
	ops_host_done(&h, !ok);
	ck_assert_msg(ok, "want exit 1 and \"%s\" (exit %d)", want, st);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: test_activate BACKEND DX_HOST "
				"SYSTEMD_SOCKET_ACTIVATE\n");
		return 2;
	}
	g_backend = argv[1];
	g_dx_host = argv[2];
	g_activate = argv[3];
	if (!ops_backend_usable(g_dx_host, g_backend)) {
		fprintf(stderr, "%s: not built or not usable here: skipped\n",
			g_backend);
		return 77;
	}
	Suite *s = suite_create("activate");
	TCase *tc = tcase_create("activate");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, tcp_passed_socket_serves);
	tcase_add_test(tc, unix_passed_socket_is_not_unlinked);
	tcase_add_test(tc, unmatched_passed_socket_refused);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
