/* test_mw_ratelimit_host.c - mw_ratelimit in the real dx-host.
 *
 *     test_mw_ratelimit_host DX_HOST
 *
 * Starts dx-host (fork/exec) with a manifest in a mkdtemp directory:
 * io_epoll, routes_echo and mw_ratelimit (rate 20/s, burst 5, so a token
 * every 50 ms) as the only middleware, listening on 127.0.0.1:0 (the port
 * comes from the "listening on" log line) and on a Unix socket. Then:
 *   - client A (127.0.0.1): five echo calls, sent at once, pass with
 *     x-ratelimit-remaining 4, 3, 2, 1, 0; the sixth gets RpcError 429
 *     "rate limited: retry in N ms" with x-ratelimit-remaining 0 and
 *     x-ratelimit-reset N; after N ms (and a little) a call passes again;
 *   - client B, a raw socket bound to 127.0.0.2 (another client address)
 *     while A is limited: its own bucket, five calls pass;
 *   - client C on the Unix socket (peer "unix"): its own bucket too;
 *   - the host keeps serving: A answers a Ping, the host is alive, and
 *     SIGTERM ends it with status 0.
 *
 * Env: DX_PLUGINS. DX_RL_KEEP=1 keeps the temp dir (manifest, host.log). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <dx/client.h>
#include <dx/error.h>
#include <dx/hbtp.h>
#include "../unit/test_util.h"

#define T_MS 5000
#define ROUTE_ECHO 2
#define BURST 5
#define TOKEN_MS 50 /* rate 20/s */

static const char *g_host_exe;
static char g_dir[256], g_log[300], g_sock[300], g_manifest[300];
static unsigned g_port;
static pid_t g_pid = -1;
static int g_status = -1;
static dx_client *g_a;

/* ---- utilities ---- */

static const char *log_tail(void)
{
	static char tail[3000];
	char *s = slurp(g_log);
	size_t n = strlen(s);
	snprintf(tail, sizeof tail, "%s",
		 n > sizeof tail - 1 ? s + n - (sizeof tail - 1) : s);
	free(s);
	return tail;
}

static bool host_alive(void)
{
	if (g_pid < 0)
		return false;
	int st;
	pid_t r = waitpid(g_pid, &st, WNOHANG);
	if (r == 0)
		return true;
	if (r == g_pid) {
		g_status = st;
		g_pid = -1;
	}
	return false;
}

/* x-ratelimit-* value as a number, -1 when absent. */
static long meta_num(const dx_hbtp_meta *m, const char *key)
{
	uint16_t n;
	const uint8_t *v = dx_hbtp_meta_get(m, key, &n);
	if (!v || n == 0 || n > 20)
		return -1;
	char s[24];
	memcpy(s, v, n);
	s[n] = '\0';
	char *end;
	long x = strtol(s, &end, 10);
	return *end ? -2 : x;
}

/* What a call came back as. */
struct answer {
	uint8_t opcode;
	uint16_t status;
	char text[160];
	long remaining, reset;
};

static void describe(const struct answer *a, char *out, size_t n)
{
	snprintf(out, n, "%s status %u \"%s\", remaining %ld, reset %ld",
		 a->opcode == DX_HBTP_RPC_RESPONSE ? "RpcResponse" :
		 a->opcode == DX_HBTP_RPC_ERROR    ? "RpcError" :
						     "other",
		 a->status, a->text, a->remaining, a->reset);
}

static void expect_pass(const struct answer *a, const char *arg, long remaining,
			const char *who)
{
	char d[300];
	describe(a, d, sizeof d);
	ck_assert_msg(a->opcode == DX_HBTP_RPC_RESPONSE &&
			      strcmp(a->text, arg) == 0,
		      "%s: expected the echo of \"%s\", got %s; log:\n%s", who,
		      arg, d, log_tail());
	ck_assert_msg(a->remaining == remaining && a->reset == -1,
		      "%s: expected x-ratelimit-remaining %ld, got %s", who,
		      remaining, d);
}

static long expect_429(const struct answer *a, const char *who)
{
	char d[300];
	describe(a, d, sizeof d);
	ck_assert_msg(a->opcode == DX_HBTP_RPC_ERROR && a->status == 429,
		      "%s: expected RpcError 429, got %s", who, d);
	ck_assert_msg(a->remaining == 0 && a->reset >= 1 &&
			      a->reset <= TOKEN_MS,
		      "%s: expected remaining 0 and a reset in 1..%d ms, got "
		      "%s",
		      who, TOKEN_MS, d);
	char want[64];
	snprintf(want, sizeof want, "rate limited: retry in %ld ms", a->reset);
	ck_assert_str_eq(a->text, want);
	return a->reset;
}

/* ---- dx_client calls (clients A and C) ---- */

static dx_client *connect_to(const char *addr)
{
	dx_client *c = NULL;
	char err[256] = "";
	int rc = dx_client_connect(addr, T_MS, &c, err, sizeof err);
	ck_assert_msg(rc == 0, "connect %s: %s", addr, err);
	return c;
}

static void client_wait(dx_client *c, uint16_t seq, struct answer *a)
{
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, T_MS);
	ck_assert_msg(rc == 0, "seq %u: no answer: %s (%s); log:\n%s", seq,
		      dx_strerror(rc), dx_client_error(c), log_tail());
	a->opcode = m.opcode;
	a->status = m.status;
	snprintf(a->text, sizeof a->text, "%.*s",
		 (int)(m.len > 150 ? 150 : m.len),
		 m.payload ? (const char *)m.payload : "");
	a->remaining = meta_num(&m.meta, "x-ratelimit-remaining");
	a->reset = meta_num(&m.meta, "x-ratelimit-reset");
}

static uint16_t client_call(dx_client *c, const char *arg)
{
	uint16_t seq;
	int rc = dx_client_call(c, ROUTE_ECHO, arg, strlen(arg), 0, &seq);
	ck_assert_msg(rc == 0, "call: %s", dx_strerror(rc));
	return seq;
}

/* ---- raw frames from 127.0.0.2 (client B) ---- */

static int raw_connect_from(const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, src, &a.sin_addr);
	ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof a) == 0,
		      "bind %s: %s", src, strerror(errno));
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)g_port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	ck_assert_msg(connect(fd, (struct sockaddr *)&to, sizeof to) == 0,
		      "connect from %s: %s", src, strerror(errno));
	struct timeval tv = {T_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = recv(fd, p, n, 0);
		ck_assert_msg(k > 0, "raw recv: %s",
			      k == 0 ? "connection closed" : strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

/* One RpcCall echo on fd, written by hand, and its answer parsed. */
static void raw_call(int fd, uint16_t seq, const char *arg, struct answer *a)
{
	size_t n = strlen(arg);
	uint8_t f[256];
	ck_assert_uint_le(n, sizeof f - 10);
	dx_hbtp_header h = {DX_HBTP_RPC_CALL,
			    DX_HBTP_EXPECTS_RESPONSE | DX_HBTP_FINAL, seq,
			    (uint32_t)(2 + n)};
	dx_hbtp_header_encode(&h, f);
	dx_hbtp_put_le16(f + 8, ROUTE_ECHO);
	memcpy(f + 10, arg, n);
	ck_assert_int_eq(send(fd, f, 10 + n, MSG_NOSIGNAL), (ssize_t)(10 + n));

	uint8_t hb[8];
	read_all(fd, hb, 8);
	dx_hbtp_header_decode(hb, &h);
	ck_assert_uint_eq(h.seq, seq);
	ck_assert_uint_le(h.length, 4096);
	uint8_t body[4096];
	read_all(fd, body, h.length);
	const uint8_t *p = body;
	size_t len = h.length;
	dx_hbtp_meta m = {.count = 0};
	if (h.flags & DX_HBTP_HAS_META) {
		const char *why = "?";
		long used = dx_hbtp_meta_parse(p, len, &m, &why);
		ck_assert_msg(used > 0, "bad metadata in the answer: %s", why);
		p += used;
		len -= (size_t)used;
	}
	a->opcode = h.opcode;
	a->status = 0;
	if (h.opcode == DX_HBTP_RPC_ERROR) {
		ck_assert_uint_ge(len, 2);
		a->status = dx_hbtp_le16(p);
		p += 2;
		len -= 2;
	}
	snprintf(a->text, sizeof a->text, "%.*s", (int)(len > 150 ? 150 : len),
		 (const char *)p);
	a->remaining = meta_num(&m, "x-ratelimit-remaining");
	a->reset = meta_num(&m, "x-ratelimit-reset");
}

/* ---- cases (in order, one host) ---- */

static long g_reset;

START_TEST(burst_then_429)
{
	/* Six calls in one write: the burst, then one over it. */
	char args[BURST + 1][16];
	uint16_t seqs[BURST + 1];
	for (int i = 0; i <= BURST; i++) {
		snprintf(args[i], sizeof args[i], "a-%d", i);
		seqs[i] = client_call(g_a, args[i]);
	}
	struct answer a;
	for (int i = 0; i < BURST; i++) {
		client_wait(g_a, seqs[i], &a);
		char who[32];
		snprintf(who, sizeof who, "client A, call %d", i + 1);
		expect_pass(&a, args[i], BURST - 1 - i, who);
	}
	client_wait(g_a, seqs[BURST], &a);
	g_reset = expect_429(&a, "client A, call 6");
	printf("  ok: A: 5 passed (remaining 4..0), 6th: 429 \"%s\"\n", a.text);
}
END_TEST

START_TEST(other_address_own_bucket)
{
	/* Whatever A's bucket holds now, B's is its own and full. */
	int fd = raw_connect_from("127.0.0.2");
	struct answer a;
	for (int i = 0; i < BURST; i++) {
		char arg[16];
		snprintf(arg, sizeof arg, "b-%d", i);
		raw_call(fd, (uint16_t)(100 + i), arg, &a);
		expect_pass(&a, arg, BURST - 1 - i, "client B (127.0.0.2)");
	}
	close(fd);
	printf("  ok: B from 127.0.0.2: its own 5 tokens\n");
}
END_TEST

START_TEST(unix_client_own_bucket)
{
	char addr[320];
	snprintf(addr, sizeof addr, "unix:%s", g_sock);
	dx_client *c = connect_to(addr);
	struct answer a;
	client_wait(c, client_call(c, "c-0"), &a);
	expect_pass(&a, "c-0", BURST - 1, "client C (unix)");
	dx_client_close(c);
	printf("  ok: C over the Unix socket: its own bucket\n");
}
END_TEST

START_TEST(refill_then_pass)
{
	/* The reset A was told, plus a little: at least one token is back
	 * (more on a slow machine, where the cases between took longer). */
	sleep_ms(g_reset + 5);
	struct answer a;
	client_wait(g_a, client_call(g_a, "a-again"), &a);
	char d[300];
	describe(&a, d, sizeof d);
	ck_assert_msg(a.opcode == DX_HBTP_RPC_RESPONSE &&
			      strcmp(a.text, "a-again") == 0 &&
			      a.remaining >= 0 && a.remaining < BURST,
		      "client A after %ld ms: expected to pass, got %s",
		      g_reset + 5, d);
	/* A full refill: 5 tokens x 50 ms, and ~250 ms later it passes
	 * with the whole burst back. */
	sleep_ms(BURST * TOKEN_MS + 20);
	client_wait(g_a, client_call(g_a, "a-full"), &a);
	expect_pass(&a, "a-full", BURST - 1, "client A after a full refill");
	printf("  ok: A passes again after %ld ms, full after 270 ms\n",
	       g_reset + 5);
}
END_TEST

START_TEST(host_keeps_serving)
{
	uint16_t seq;
	ck_assert_int_eq(dx_client_ping(g_a, "still", 5, &seq), 0);
	dx_client_msg m;
	ck_assert_int_eq(dx_client_wait(g_a, seq, &m, T_MS), 0);
	ck_assert_uint_eq(m.opcode, DX_HBTP_PONG);
	ck_assert_msg(host_alive(), "dx-host is gone; log:\n%s", log_tail());
	dx_client_close(g_a);
	g_a = NULL;
	kill(g_pid, SIGTERM);
	uint64_t deadline = now_ms() + 10000;
	while (host_alive() && now_ms() < deadline)
		sleep_ms(20);
	ck_assert_msg(g_pid < 0, "dx-host did not exit after SIGTERM");
	ck_assert_msg(WIFEXITED(g_status) && WEXITSTATUS(g_status) == 0,
		      "dx-host exit status 0x%x; log:\n%s", g_status,
		      log_tail());
	char *log = slurp(g_log);
	ck_assert_msg(strstr(log, "burst 5, key peer_ip"),
		      "mw_ratelimit's start-up line is missing:\n%s", log);
	free(log);
}
END_TEST

/* ---- the host ---- */

static void cleanup_dir(void)
{
	if (getenv("DX_RL_KEEP")) {
		fprintf(stderr, "kept %s\n", g_dir);
		return;
	}
	unlink(g_manifest);
	unlink(g_log);
	unlink(g_sock);
	rmdir(g_dir);
}

static void kill_host(void)
{
	if (g_pid > 0) {
		kill(g_pid, SIGKILL);
		waitpid(g_pid, NULL, 0);
		g_pid = -1;
	}
}

static int start_host(void)
{
	const char *plugins = getenv("DX_PLUGINS");
	if (!plugins) {
		fprintf(stderr, "DX_PLUGINS is not set\n");
		return 1;
	}
	snprintf(g_dir, sizeof g_dir, "/tmp/dx-rl-XXXXXX");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(g_manifest, sizeof g_manifest, "%s/manifest.json", g_dir);
	snprintf(g_log, sizeof g_log, "%s/host.log", g_dir);
	snprintf(g_sock, sizeof g_sock, "%s/rl.sock", g_dir);
	FILE *f = fopen(g_manifest, "w");
	if (!f) {
		perror(g_manifest);
		return 1;
	}
	fprintf(f,
		"{\"dx\": 1, \"plugin_path\": [\"%s\"],\n"
		" \"listen\": [\"127.0.0.1:0\", \"unix:%s\"], \"workers\": 2,\n"
		" \"io\": {\"backend\": \"epoll\"},\n"
		" \"plugins\": [{\"name\": \"io_epoll\"},\n"
		"   {\"name\": \"routes_echo\"},\n"
		"   {\"name\": \"mw_ratelimit\",\n"
		"    \"config\": {\"rate\": 20, \"burst\": %d}}],\n"
		" \"middleware\": [\"mw_ratelimit\"]}\n",
		plugins, g_sock, BURST);
	fclose(f);
	g_pid = fork();
	if (g_pid < 0) {
		perror("fork");
		return 1;
	}
	if (g_pid == 0) {
		int fd = open(g_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		execl(g_host_exe, "dx-host", "-m", g_manifest, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", g_host_exe, strerror(errno));
		_exit(127);
	}
	uint64_t deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		char *log = slurp(g_log);
		const char *at = strstr(log, "listening on 127.0.0.1:");
		bool unix_up = strstr(log, g_sock) != NULL;
		if (at && unix_up) {
			g_port = (unsigned)atoi(at + 23);
			free(log);
			if (!g_port)
				break;
			printf("dx-host pid %d on 127.0.0.1:%u and unix:%s\n",
			       (int)g_pid, g_port, g_sock);
			return 0;
		}
		free(log);
		if (!host_alive()) {
			fprintf(stderr, "dx-host did not start; log:\n%s",
				log_tail());
			return 1;
		}
		sleep_ms(20);
	}
	fprintf(stderr,
		"dx-host did not say \"listening on\" in 20 s; "
		"log:\n%s",
		log_tail());
	kill_host();
	return 1;
}

static Suite *host_suite(void)
{
	Suite *s = suite_create("mw_ratelimit_host");
	TCase *t = tcase_create("host");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, burst_then_429);
	tcase_add_test(t, other_address_own_bucket);
	tcase_add_test(t, unix_client_own_bucket);
	tcase_add_test(t, refill_then_pass);
	tcase_add_test(t, host_keeps_serving);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_mw_ratelimit_host DX_HOST\n");
		return 2;
	}
	g_host_exe = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (start_host()) {
		kill_host();
		cleanup_dir();
		return 1;
	}
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", g_port);
	char err[256] = "";
	if (dx_client_connect(addr, T_MS, &g_a, err, sizeof err) < 0) {
		fprintf(stderr, "connect %s: %s\n", addr, err);
		kill_host();
		cleanup_dir();
		return 1;
	}
	SRunner *sr = srunner_create(host_suite());
	/* One host, cases in order, sharing client A. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	dx_client_close(g_a);
	if (failed)
		fprintf(stderr, "---- dx-host log (%s) ----\n%s\n", g_log,
			log_tail());
	kill_host();
	cleanup_dir();
	return failed ? 1 : 0;
}
