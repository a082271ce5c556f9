/* test_notify.c - dx-host's Type=notify messages, read on a NOTIFY_SOCKET
 * the test binds itself (no systemd needed): READY=1 only once a request
 * can be served, STATUS= naming the listeners, workers and backend,
 * RELOADING=1 then READY=1 around every manifest apply (dx ctl apply, a
 * refused one, SIGHUP), STOPPING=1 on drain and on SIGTERM.
 *
 * argv: the backend ("epoll" or "io_uring"), the dx-host to run. Exits 77
 * (SKIP) when the backend's plugin is not built or not usable here. */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>

#include <stdlib.h>

/* Only rt_ctl_cmd and rt_ok are used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../reload/rt_ctl.h"
#pragma GCC diagnostic pop
#include "../unit/check_main.h"
#include "ops_host.h"

static const char *g_backend;
static const char *g_dx_host;

typedef struct notify_rx {
	int fd;
	char path[100];
	char env[120]; /* NOTIFY_SOCKET=path, for the host's environment */
} notify_rx;

static void rx_open(notify_rx *rx, const ops_host *h)
{
	snprintf(rx->path, sizeof rx->path, "%s/notify.sock", h->dir);
	snprintf(rx->env, sizeof rx->env, "NOTIFY_SOCKET=%s", rx->path);
	rx->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", rx->path);
	ck_assert_msg(rx->fd >= 0 && bind(rx->fd, (struct sockaddr *)&a,
					  sizeof a) == 0,
		      "notify socket %s: %s", rx->path, strerror(errno));
}

/* The next notification (NUL-terminated into out), or "" after
 * timeout_ms. */
static const char *rx_next(notify_rx *rx, char *out, size_t len, int timeout_ms)
{
	struct pollfd p = {rx->fd, POLLIN, 0};
	out[0] = '\0';
	if (poll(&p, 1, timeout_ms) == 1) {
		ssize_t n = recv(rx->fd, out, len - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	}
	return out;
}

/* The next notification must start with first (e.g. "READY=1\n") and
 * hold every string of also (NULL-terminated). */
static void rx_expect(notify_rx *rx, const ops_host *h, const char *first,
		      const char *const *also, char *out, size_t len)
{
	rx_next(rx, out, len, 30000);
	bool ok = strncmp(out, first, strlen(first)) == 0;
	for (const char *const *a = also; ok && a && *a; a++)
		ok = strstr(out, *a) != NULL;
	if (!ok)
		ops_host_done((ops_host *)h, true);
	ck_assert_msg(ok, "expected a notification starting \"%s\", got \"%s\"",
		      first, out);
}

static void start(ops_host *h, notify_rx *rx)
{
	ck_assert_int_eq(ops_host_init(h), 0);
	ck_assert_int_eq(ops_host_manifest(h, "\"127.0.0.1:0\"", g_backend, ""),
			 0);
	rx_open(rx, h);
	char *argv[] = {(char *)g_dx_host, "-m", h->manifest, NULL};
	char *env[] = {rx->env, NULL};
	ck_assert_int_eq(ops_host_spawn(h, argv, env), 0);
}

/* READY=1 with its STATUS (into st); the port it names. */
static unsigned expect_ready(notify_rx *rx, const ops_host *h, const char *more,
			     char *st, size_t len)
{
	char want[96];
	snprintf(want, sizeof want, " with 2 workers, backend %s", g_backend);
	const char *also[] = {"STATUS=serving on 127.0.0.1:", want, more, NULL};
	rx_expect(rx, h, "READY=1\n", also, st, len);
	return (unsigned)atoi(strstr(st, "127.0.0.1:") + 10);
}

static void expect_reload_around(notify_rx *rx, const ops_host *h,
				 const char *file, const char *more)
{
	char st[1024], status[256];
	snprintf(status, sizeof status, "STATUS=applying manifest %s", file);
	const char *also[] = {"MONOTONIC_USEC=", status, NULL};
	rx_expect(rx, h, "RELOADING=1\n", also, st, sizeof st);
	expect_ready(rx, h, more, st, sizeof st);
}

START_TEST(ready_reload_stopping)
{
	ops_host h;
	notify_rx rx;
	start(&h, &rx);
	/* READY=1 first: no request is tried before it, and the one tried
	 * right after it must be served. */
	char st[1024];
	unsigned port = expect_ready(&rx, &h, NULL, st, sizeof st);
	char addr[64], why[256];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
	ck_assert_msg(ops_echo(addr, "ready", why, sizeof why) == 0,
		      "a request right after READY=1: %s", why);

	/* dx ctl apply with a manifest that adds a unix listener: the
	 * STATUS after it names it. */
	char m2[100], sock[100], listen[200], raw[4096];
	snprintf(m2, sizeof m2, "%s/m2.json", h.dir);
	snprintf(sock, sizeof sock, "unix:%s/s.sock", h.dir);
	snprintf(listen, sizeof listen, "\"127.0.0.1:0\", \"%s\"", sock);
	ops_host two = h;
	snprintf(two.manifest, sizeof two.manifest, "%s", m2);
	ck_assert_int_eq(ops_host_manifest(&two, listen, g_backend, ""), 0);
	cJSON *a = rt_ctl_cmd(h.ctl, "apply", NULL, m2, raw, sizeof raw);
	ck_assert_msg(a && rt_ok(a), "apply: %s", raw);
	cJSON_Delete(a);
	expect_reload_around(&rx, &h, m2, sock);
	ck_assert_msg(ops_echo(sock, "unix", why, sizeof why) == 0,
		      "the listener apply added: %s", why);

	/* A refused apply (workers cannot change live): reloading, then
	 * ready again. */
	char m3[100];
	snprintf(m3, sizeof m3, "%s/m3.json", h.dir);
	FILE *f = fopen(m3, "w");
	char *text = slurp(m2);
	char *w = strstr(text, "\"workers\": 2");
	ck_assert_ptr_nonnull(w);
	w[11] = '3';
	fputs(text, f);
	fclose(f);
	free(text);
	a = rt_ctl_cmd(h.ctl, "apply", NULL, m3, raw, sizeof raw);
	ck_assert_msg(a && !rt_ok(a) && strstr(raw, "workers"),
		      "apply of a changed workers: %s", raw);
	cJSON_Delete(a);
	expect_reload_around(&rx, &h, m3, sock);

	/* SIGHUP applies the host's own manifest: the unix listener goes. */
	kill(h.pid, SIGHUP);
	const char *own[] = {h.manifest, NULL};
	rx_expect(&rx, &h, "RELOADING=1\n", own, st, sizeof st);
	ck_assert_uint_eq(expect_ready(&rx, &h, NULL, st, sizeof st), port);
	ck_assert_msg(!strstr(st, "unix:"), "unix listener still in %s", st);

	a = rt_ctl_cmd(h.ctl, "drain", NULL, NULL, raw, sizeof raw);
	ck_assert_msg(a && rt_ok(a), "drain: %s", raw);
	cJSON_Delete(a);
	const char *stop[] = {"STATUS=draining (dx ctl drain)", NULL};
	rx_expect(&rx, &h, "STOPPING=1\n", stop, st, sizeof st);
	int status = ops_host_exit(&h, 30000);
	ck_assert_msg(status == 0, "dx-host after drain: exit %d", status);
	/* Nothing after STOPPING=1: no READY=1 from a host going away. */
	rx_next(&rx, st, sizeof st, 200);
	ck_assert_msg(!*st, "after STOPPING=1: \"%s\"", st);
	close(rx.fd);
	ops_host_done(&h, false);
}
END_TEST

START_TEST(sigterm_stopping)
{
	ops_host h;
	notify_rx rx;
	start(&h, &rx);
	char st[1024];
	expect_ready(&rx, &h, NULL, st, sizeof st);
	kill(h.pid, SIGTERM);
	const char *stop[] = {"STATUS=draining (SIGTERM)", NULL};
	rx_expect(&rx, &h, "STOPPING=1\n", stop, st, sizeof st);
	int status = ops_host_exit(&h, 30000);
	ck_assert_msg(status == 0, "dx-host after SIGTERM: exit %d", status);
	close(rx.fd);
	ops_host_done(&h, false);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_notify BACKEND DX_HOST\n");
		return 2;
	}
	g_backend = argv[1];
	g_dx_host = argv[2];
	if (!ops_backend_usable(g_dx_host, g_backend)) {
		fprintf(stderr, "%s: not built or not usable here: skipped\n",
			g_backend);
		return 77;
	}
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ready_reload_stopping);
	tcase_add_test(tc, sigterm_stopping);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
