/* test_serve.c - bad input against the real dx-host on loopback (issue 3,
 * "Bad input"; docs/protocol.md sections 11-13,
 * docs/architecture.md section 6).
 *
 *     test_serve BACKEND DX_HOST  (BACKEND: epoll, io_uring, kqueue or iocp)
 *
 * main() starts one dx-host (fork/exec) with a manifest written to a
 * mkdtemp directory, listening on 127.0.0.1:0 (the port is read from the
 * host's "listening on 127.0.0.1:PORT" log line), with io.backend BACKEND.
 * The Check suite runs without forking (CK_NOFORK: every case talks to the
 * same host). A "witness" connection opened before the first case must
 * still answer a Ping and an echo call after every case, and the host must
 * still be alive; the last case sends SIGTERM and expects exit status 0
 * within a few seconds (drain), with the witness receiving Close 1000.
 *
 * Exit 77 (skip) when the backend is not usable on this machine (the host
 * says "not usable") or its plugin is not built. io_kqueue is loaded from
 * the file DX_IO_KQUEUE names when set (its Linux test build is not where
 * plugin_path would find it), with the config {"emulation": true}, which
 * that build needs to serve (a kernel kqueue ignores it).
 *
 * BACKEND iocp runs the Windows build (tests/win/serve.sh): DX_HOST is a
 * script that runs dx-host.exe under wine, DX_PLUGINS the cross build's
 * plugins (DLLs), and the control channel is a named pipe this Linux
 * process cannot open, so stats come from the command DX_SERVE_CTL names
 * (dx.exe ctl under wine; " --socket PATH --json stats" is appended), and
 * the shutdown case sends SIGINT, which wine delivers to the host as
 * CTRL_C_EVENT (there is no SIGTERM on Windows); every assertion is the
 * same.
 *
 * Env: DX_PLUGINS (the build's plugins dir). DX_SERVE_KEEP=1 keeps the
 * temp dir (manifest and host.log) for a look afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <check.h>

#include <dx/client.h>
#include <dx/error.h>
#include <dx/hbtp.h>
#include "../unit/test_util.h"

/* Limits in the manifest; the cases are built around them. */
#define MAX_FRAME 65536u
#define MAX_MESSAGE 262144u
#define MAX_CONNECTIONS 1100
#define HEADER_TIMEOUT_MS 1500

#define T_MS 5000 /* how long to wait for any one answer */

#define ROUTE_HELLO 1
#define ROUTE_ECHO 2
#define ROUTE_DELAY 3

static const char *g_backend;
static const char *g_host_exe;
static bool g_win; /* dx-host.exe under wine: backend iocp */
static char g_dir[256];
static char g_log[300];
static char g_ctl[300];
static char g_addr[64];
static pid_t g_pid = -1;
static int g_status = -1; /* the host's wait status once reaped */
static dx_client *g_witness;
static unsigned g_witness_n;

/* ---- small utilities ---- */

/* The last part of the host's log, for failure messages. */
static const char *log_tail(void)
{
	static char tail[2048];
	char *s = slurp(g_log);
	size_t n = strlen(s);
	const char *from = n > sizeof tail - 1 ? s + n - (sizeof tail - 1) : s;
	snprintf(tail, sizeof tail, "%s", from);
	free(s);
	return tail;
}

/* true while the host runs; reaps it (into g_status) once it is gone. */
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

static const char *describe_status(int st)
{
	static char b[64];
	if (WIFEXITED(st))
		snprintf(b, sizeof b, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, sizeof b, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(b, sizeof b, "wait status 0x%x", st);
	return b;
}

static const char *opname(uint8_t op)
{
	const char *n = dx_hbtp_opcode_name(op);
	return n ? n : "unknown-opcode";
}

/* "RpcError 400 \"reserved flag bits...\"" for assertion messages. */
static const char *msg_str(const dx_client_msg *m)
{
	static char b[400];
	snprintf(b, sizeof b, "%s (0x%02x) seq %u status %u, %zu bytes \"%.*s\"",
		 opname(m->opcode), m->opcode, m->seq, m->status, m->len,
		 (int)(m->len > 200 ? 200 : m->len),
		 m->payload ? (const char *)m->payload : "");
	return b;
}

/* ---- the control socket ---- */

/* The stats answer's host counters; false (said why) when it has none. */
static bool stats_parse(const char *buf, uint64_t *accepted, uint64_t *refused,
			uint64_t *connections)
{
	bool ok = false;
	cJSON *o = cJSON_Parse(buf);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "host");
	const cJSON *ac = cJSON_GetObjectItemCaseSensitive(h, "accepted");
	const cJSON *re = cJSON_GetObjectItemCaseSensitive(h, "refused");
	const cJSON *co = cJSON_GetObjectItemCaseSensitive(h, "connections");
	if (cJSON_IsNumber(ac) && cJSON_IsNumber(re) && cJSON_IsNumber(co)) {
		if (accepted)
			*accepted = (uint64_t)ac->valuedouble;
		if (refused)
			*refused = (uint64_t)re->valuedouble;
		if (connections)
			*connections = (uint64_t)co->valuedouble;
		ok = true;
	} else {
		fprintf(stderr, "control: unexpected stats answer: %s\n", buf);
	}
	cJSON_Delete(o);
	return ok;
}

/* dx-host.exe's stats through DX_SERVE_CTL (its pipe is Windows'). */
static bool ctl_stats_cmd(uint64_t *accepted, uint64_t *refused,
			  uint64_t *connections)
{
	const char *ctl = getenv("DX_SERVE_CTL");
	if (!ctl) {
		fprintf(stderr, "test_serve: backend iocp needs DX_SERVE_CTL\n");
		return false;
	}
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s --socket '%s' --json stats", ctl, g_ctl);
	FILE *p = popen(cmd, "r");
	if (!p)
		return false;
	char buf[16384];
	size_t len = fread(buf, 1, sizeof buf - 1, p);
	buf[len] = '\0';
	int st = pclose(p);
	if (st != 0) {
		fprintf(stderr, "test_serve: %s: status %d: %s\n", cmd, st, buf);
		return false;
	}
	return stats_parse(buf, accepted, refused, connections);
}

/* {"cmd":"stats"} -> host.NAME for each name; false if not reachable. */
static bool ctl_stats(uint64_t *accepted, uint64_t *refused,
		      uint64_t *connections)
{
	if (g_win)
		return ctl_stats_cmd(accepted, refused, connections);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t pl = strlen(g_ctl);
	if (pl >= sizeof a.sun_path) {
		close(fd);
		return false;
	}
	memcpy(a.sun_path, g_ctl, pl + 1);
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[8192];
	size_t len = 0;
	bool ok = false;
	static const char req[] = "{\"cmd\":\"stats\"}\n";
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != sizeof req - 1)
		goto out;
	while (len < sizeof buf - 1) {
		ssize_t k = recv(fd, buf + len, sizeof buf - 1 - len, 0);
		if (k <= 0)
			goto out;
		len += (size_t)k;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	ok = stats_parse(buf, accepted, refused, connections);
out:
	close(fd);
	return ok;
}

/* Wait until the host has closed what earlier cases left open: at most
 * `most` connections (the witness and what the caller holds). */
static void settle_connections(uint64_t most)
{
	uint64_t conns = 0, deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		ck_assert_msg(ctl_stats(NULL, NULL, &conns),
			      "control socket %s: no stats answer", g_ctl);
		if (conns <= most)
			return;
		sleep_ms(20);
	}
	ck_abort_msg("the host still counts %llu open connections 10 s after "
		     "the clients closed them (expected at most %llu)",
		     (unsigned long long)conns, (unsigned long long)most);
}

/* ---- client helpers ---- */

/* Every client a case opens is tracked, so one a failed case left open
 * (Check jumps out of it) is closed before the next case counts the
 * host's connections. */
static dx_client **g_open;
static size_t g_open_n, g_open_cap;

static void track(dx_client *c)
{
	if (g_open_n == g_open_cap) {
		size_t cap = g_open_cap ? g_open_cap * 2 : 64;
		dx_client **p = realloc(g_open, cap * sizeof *p);
		ck_assert(p);
		g_open = p;
		g_open_cap = cap;
	}
	g_open[g_open_n++] = c;
}

static void cl_close(dx_client *c)
{
	for (size_t i = g_open_n; i-- > 0;)
		if (g_open[i] == c) {
			g_open[i] = g_open[--g_open_n];
			break;
		}
	dx_client_close(c);
}

static void close_leftovers(void)
{
	while (g_open_n)
		dx_client_close(g_open[--g_open_n]);
}

static dx_client *conn(void)
{
	dx_client *c = NULL;
	char err[256] = "";
	int rc = dx_client_connect(g_addr, T_MS, &c, err, sizeof err);
	ck_assert_msg(rc == 0, "connect %s: %s (%s)", g_addr, err,
		      dx_strerror(rc));
	track(c);
	return c;
}

static void put16(uint8_t *p, uint16_t v)
{
	dx_hbtp_put_le16(p, v);
}

/* An RpcCall body: u16 route, then args. */
static size_t call_body(uint8_t *out, size_t cap, uint16_t route,
			const void *args, size_t n)
{
	ck_assert(cap >= 2 + n);
	put16(out, route);
	if (n)
		memcpy(out + 2, args, n);
	return 2 + n;
}

static void frame(dx_client *c, uint8_t op, uint8_t flags, uint16_t seq,
		  const uint8_t *meta, size_t meta_len, const void *body,
		  size_t n)
{
	int rc = dx_client_send_frame(c, op, flags, seq, meta, meta_len, body,
				      n);
	ck_assert_msg(rc == 0, "send_frame op 0x%02x flags 0x%02x: %s (%s)",
		      op, flags, dx_strerror(rc), dx_client_error(c));
}

/* Wait for seq's answer; it must be RpcError with status. */
static void expect_error(dx_client *c, uint16_t seq, uint16_t status,
			 const char *sent)
{
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, T_MS);
	ck_assert_msg(rc == 0,
		      "sent %s: expected RpcError %u, got no answer: %s (%s)",
		      sent, status, dx_strerror(rc), dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_RPC_ERROR && m.status == status &&
			      m.seq == seq,
		      "sent %s (seq %u): expected RpcError %u, got %s", sent,
		      seq, status, msg_str(&m));
	printf("  ok: %s -> RpcError %u \"%.*s\"\n", sent, status,
	       (int)(m.len > 120 ? 120 : m.len), (const char *)m.payload);
}

/* Wait for seq's answer; it must be RpcResponse with exactly want. */
static void expect_response(dx_client *c, uint16_t seq, const void *want,
			    size_t n, const char *sent)
{
	dx_client_msg m;
	int rc = dx_client_wait(c, seq, &m, T_MS);
	ck_assert_msg(rc == 0,
		      "sent %s: expected RpcResponse, got no answer: %s (%s)",
		      sent, dx_strerror(rc), dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.seq == seq,
		      "sent %s (seq %u): expected RpcResponse, got %s", sent,
		      seq, msg_str(&m));
	ck_assert_msg(m.len == n && (n == 0 || memcmp(m.payload, want, n) == 0),
		      "sent %s: expected %zu bytes \"%.*s\", got %s", sent, n,
		      (int)(n > 100 ? 100 : n), (const char *)want, msg_str(&m));
}

/* An echo call on c answered correctly: the connection goes on. */
static void expect_echo(dx_client *c, const char *after)
{
	static unsigned n;
	char arg[64];
	int k = snprintf(arg, sizeof arg, "still-here-%u", ++n);
	uint16_t seq;
	int rc = dx_client_call(c, ROUTE_ECHO, arg, (size_t)k, 0, &seq);
	ck_assert_msg(rc == 0, "echo after %s: %s", after, dx_strerror(rc));
	char what[200];
	snprintf(what, sizeof what, "echo \"%s\" on the same connection after %s",
		 arg, after);
	expect_response(c, seq, arg, (size_t)k, what);
}

/* A Ping on c: the very next message must be its Pong (proves nothing
 * else, like a second answer to an earlier frame, is queued). */
static void expect_next_is_pong(dx_client *c, const char *after)
{
	uint16_t seq;
	int rc = dx_client_ping(c, "next", 4, &seq);
	ck_assert_msg(rc == 0, "ping after %s: %s", after, dx_strerror(rc));
	dx_client_msg m;
	rc = dx_client_recv(c, &m, T_MS);
	ck_assert_msg(rc == 0, "after %s: ping got no answer: %s (%s)", after,
		      dx_strerror(rc), dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_PONG && m.seq == seq && m.len == 4,
		      "after %s: expected only the Pong (seq %u) next, got %s",
		      after, seq, msg_str(&m));
}

/* After c got a Close (code), the server must end the connection. */
static void expect_close(dx_client *c, uint16_t code, const char *sent)
{
	dx_client_msg m;
	int rc = dx_client_recv(c, &m, T_MS);
	ck_assert_msg(rc == 0, "sent %s: expected Close %u, got %s (%s)", sent,
		      code, dx_strerror(rc), dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_CLOSE && m.status == code,
		      "sent %s: expected Close %u, got %s", sent, code,
		      msg_str(&m));
	printf("  ok: %s -> Close %u \"%.*s\"\n", sent, code,
	       (int)(m.len > 120 ? 120 : m.len), (const char *)m.payload);
	rc = dx_client_recv(c, &m, T_MS);
	ck_assert_msg(rc == -ECONNRESET,
		      "sent %s: after Close %u the server should end the "
		      "connection; recv gave %s (%s)%s%s",
		      sent, code, rc == 0 ? "a message:" : dx_strerror(rc),
		      dx_client_error(c), rc == 0 ? " " : "",
		      rc == 0 ? msg_str(&m) : "");
}

/* What every case ends with: the host runs and the witness, opened before
 * the first case, still gets its answers. */
static void after_case(const char *name)
{
	ck_assert_msg(host_alive(), "after %s: dx-host is gone (%s); log:\n%s",
		      name, describe_status(g_status), log_tail());
	char data[64];
	int k = snprintf(data, sizeof data, "witness-%u", ++g_witness_n);
	uint16_t pseq, cseq;
	int rc = dx_client_ping(g_witness, data, (size_t)k, &pseq);
	if (rc == 0)
		rc = dx_client_call(g_witness, ROUTE_ECHO, data, (size_t)k, 0,
				    &cseq);
	ck_assert_msg(rc == 0, "after %s: witness send: %s (%s)", name,
		      dx_strerror(rc), dx_client_error(g_witness));
	dx_client_msg m;
	rc = dx_client_wait(g_witness, pseq, &m, T_MS);
	ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_PONG && m.len == (size_t)k &&
			      memcmp(m.payload, data, (size_t)k) == 0,
		      "after %s: the witness's Ping \"%s\" was not answered "
		      "with its Pong: %s %s",
		      name, data, rc ? dx_strerror(rc) : msg_str(&m),
		      rc ? dx_client_error(g_witness) : "");
	char what[128];
	snprintf(what, sizeof what, "witness echo \"%s\" after %s", data, name);
	expect_response(g_witness, cseq, data, (size_t)k, what);
}

/* ---- the cases ---- */

START_TEST(reserved_flags)
{
	static const uint8_t bits[] = {0x20, 0x40, 0x80, 0xE0};
	for (size_t i = 0; i < sizeof bits; i++) {
		dx_client *c = conn();
		uint8_t body[16];
		size_t n = call_body(body, sizeof body, ROUTE_ECHO, "x", 1);
		uint16_t seq = (uint16_t)(100 + i);
		uint8_t flags = DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE | bits[i];
		frame(c, DX_HBTP_RPC_CALL, flags, seq, NULL, 0, body, n);
		char sent[96];
		snprintf(sent, sizeof sent, "RpcCall echo with flags 0x%02x "
			 "(reserved 0x%02x)", flags, bits[i]);
		expect_error(c, seq, 400, sent);
		expect_echo(c, sent);
		expect_next_is_pong(c, sent);
		cl_close(c);
	}
	after_case("reserved flag bits");
}
END_TEST

START_TEST(unsupported_opcodes)
{
	static const struct {
		uint8_t op;
		const char *what;
	} ops[] = {
		{0x7E, "unknown opcode 0x7E"},
		{0x03, "unknown opcode 0x03"},
		{DX_HBTP_EXTENDED, "Extended (0xFF)"},
		{DX_HBTP_HTIP_CLONE, "HtipClone (0x20)"},
		{DX_HBTP_HTIP_PATCH_TEXT, "HtipPatchText (0x21)"},
		{DX_HBTP_STATE_SYNC, "StateSync (0x10) from a client"},
		{DX_HBTP_STATE_DELTA, "StateDelta (0x11) from a client"},
		{DX_HBTP_RPC_RESPONSE, "RpcResponse (0x31) from a client"},
		{DX_HBTP_RPC_ERROR, "RpcError (0x32) from a client"},
	};
	dx_client *c = conn();
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		uint16_t seq = (uint16_t)(200 + i);
		frame(c, ops[i].op, DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE, seq,
		      NULL, 0, "\x02\x00some bytes", 12);
		expect_error(c, seq, 501, ops[i].what);
		expect_echo(c, ops[i].what);
	}
	/* Without EXPECTS_RESPONSE too: still 501 (the client must learn
	 * the host does not speak it). */
	frame(c, 0x7E, DX_HBTP_FINAL, 299, NULL, 0, "", 0);
	expect_error(c, 299, 501, "unknown opcode 0x7E, empty, no EXPECTS_RESPONSE");
	/* Without FINAL: refused at once, not held as the first part of a
	 * split message (which would take the next call for its rest). */
	frame(c, 0x7E, DX_HBTP_EXPECTS_RESPONSE, 298, NULL, 0, "part", 4);
	expect_error(c, 298, 501, "unknown opcode 0x7E without FINAL");
	expect_echo(c, "unknown opcode 0x7E without FINAL");
	expect_next_is_pong(c, "unsupported opcodes");
	cl_close(c);
	after_case("unsupported opcodes");
}
END_TEST

START_TEST(encrypted)
{
	dx_client *c = conn();
	uint8_t body[16];
	size_t n = call_body(body, sizeof body, ROUTE_ECHO, "secret", 6);
	frame(c, DX_HBTP_RPC_CALL,
	      DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE | DX_HBTP_ENCRYPTED, 300,
	      NULL, 0, body, n);
	expect_error(c, 300, 501, "RpcCall echo with ENCRYPTED (no plugin)");
	expect_echo(c, "ENCRYPTED");
	expect_next_is_pong(c, "ENCRYPTED");
	cl_close(c);
	after_case("ENCRYPTED");
}
END_TEST

START_TEST(short_call)
{
	dx_client *c = conn();
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE, 400,
	      NULL, 0, "", 0);
	expect_error(c, 400, 400, "RpcCall with a 0-byte body");
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE, 401,
	      NULL, 0, "\x02", 1);
	expect_error(c, 401, 400, "RpcCall with a 1-byte body");
	expect_echo(c, "short RpcCall bodies");
	expect_next_is_pong(c, "short RpcCall bodies");
	cl_close(c);
	after_case("RpcCall shorter than its route id");
}
END_TEST

START_TEST(unknown_route)
{
	dx_client *c = conn();
	static const uint16_t routes[] = {999, 4, 0xFFFF};
	for (size_t i = 0; i < 3; i++) {
		uint16_t seq;
		int rc = dx_client_call(c, routes[i], "x", 1, 0, &seq);
		ck_assert_int_eq(rc, 0);
		char sent[64];
		snprintf(sent, sizeof sent, "RpcCall to route %u", routes[i]);
		expect_error(c, seq, 404, sent);
	}
	expect_echo(c, "unknown routes");
	cl_close(c);
	after_case("unknown route");
}
END_TEST

START_TEST(bad_metadata)
{
	dx_client *c = conn();
	uint8_t body[16];
	size_t n = call_body(body, sizeof body, ROUTE_ECHO, "meta", 4);
	uint8_t fl = DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE;

	/* A good block first: the path works, so the 400s below are about
	 * the blocks. */
	uint8_t good[64];
	dx_hbtp_meta_writer w;
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, good, sizeof good), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "x-request-id", "r1", 2), 0);
	ck_assert_int_eq(dx_hbtp_meta_end(&w), 0);
	frame(c, DX_HBTP_RPC_CALL, fl, 500, good, w.len, body, n);
	expect_response(c, 500, "meta", 4,
			"RpcCall echo \"meta\" with a valid metadata block");

	/* block_len 200, but only the route id and 4 bytes follow. */
	static const uint8_t too_long[] = {200, 0, 1, 'a', 1, 0, 'v'};
	frame(c, DX_HBTP_RPC_CALL, fl, 501, too_long, sizeof too_long, body, n);
	expect_error(c, 501, 400, "metadata block_len 200 longer than the body");

	/* block_len 0xFFFF with an empty rest. */
	static const uint8_t huge[] = {0xFF, 0xFF};
	frame(c, DX_HBTP_RPC_CALL, fl, 502, huge, sizeof huge, NULL, 0);
	expect_error(c, 502, 400, "metadata block_len 65535 and no body");

	/* Only one byte of block_len. */
	frame(c, DX_HBTP_RPC_CALL, fl, 503, (const uint8_t *)"\x05", 1, NULL, 0);
	expect_error(c, 503, 400, "HAS_META with a 1-byte body");

	/* A key of length 0: {key_len 0, value_len 1, "v"}. */
	static const uint8_t key0[] = {4, 0, 0, 1, 0, 'v'};
	frame(c, DX_HBTP_RPC_CALL, fl, 504, key0, sizeof key0, body, n);
	expect_error(c, 504, 400, "a metadata key of length 0");

	/* A value running past the end of the block: value_len 10, 1 byte
	 * there (then the route id and args, which are not the block's). */
	static const uint8_t past[] = {5, 0, 1, 'a', 10, 0, 'v'};
	frame(c, DX_HBTP_RPC_CALL, fl, 505, past, sizeof past, body, n);
	expect_error(c, 505, 400, "a metadata value running past the block");

	/* The same with nothing after the block: past the end of the body. */
	frame(c, DX_HBTP_RPC_CALL, fl, 506, past, sizeof past, NULL, 0);
	expect_error(c, 506, 400, "a metadata value running past the body");

	/* A key that is not lowercase ASCII. */
	static const uint8_t upper[] = {5, 0, 1, 'A', 1, 0, 'v'};
	frame(c, DX_HBTP_RPC_CALL, fl, 507, upper, sizeof upper, body, n);
	expect_error(c, 507, 400, "a metadata key \"A\" (not lowercase)");

	expect_echo(c, "bad metadata");
	expect_next_is_pong(c, "bad metadata");
	cl_close(c);
	after_case("bad metadata");
}
END_TEST

START_TEST(compressed)
{
	dx_client *c = conn();
	uint8_t fl = DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE | DX_HBTP_COMPRESSED;

	/* A good compressed call: the path works. */
	uint16_t seq;
	ck_assert_int_eq(dx_client_call(c, ROUTE_ECHO, "squeezed", 8,
					DX_HBTP_COMPRESSED, &seq),
			 0);
	expect_response(c, seq, "squeezed", 8,
			"a valid LZ4-compressed RpcCall echo \"squeezed\"");

	/* Not an LZ4 frame. */
	frame(c, DX_HBTP_RPC_CALL, fl, 600, NULL, 0, "\x02\x00not lz4 at all",
	      16);
	expect_error(c, 600, 400, "COMPRESSED body that is not LZ4");
	frame(c, DX_HBTP_RPC_CALL, fl, 601, NULL, 0, "", 0);
	expect_error(c, 601, 400, "COMPRESSED with an empty body");

	/* A valid LZ4 frame, cut short. */
	uint8_t raw[64], lz[256];
	size_t rn = call_body(raw, sizeof raw, ROUTE_ECHO, "truncate me", 11);
	long ln = dx_hbtp_compress(raw, rn, lz, sizeof lz);
	ck_assert_msg(ln > 8, "dx_hbtp_compress: %s", dx_strerror((int)ln));
	frame(c, DX_HBTP_RPC_CALL, fl, 602, NULL, 0, lz, (size_t)ln - 5);
	expect_error(c, 602, 400, "COMPRESSED with a truncated LZ4 frame");

	/* 1 MiB of zeros (after the route id): inflates past max_message. */
	size_t big = 1u << 20;
	uint8_t *zeros = calloc(1, big);
	size_t cap = dx_hbtp_compress_bound(big);
	uint8_t *bomb = malloc(cap);
	ck_assert(zeros && bomb);
	put16(zeros, ROUTE_ECHO);
	long bn = dx_hbtp_compress(zeros, big, bomb, cap);
	ck_assert_msg(bn > 0 && (size_t)bn < MAX_FRAME,
		      "dx_hbtp_compress of 1 MiB of zeros: %ld", bn);
	frame(c, DX_HBTP_RPC_CALL, fl, 603, NULL, 0, bomb, (size_t)bn);
	char sent[128];
	snprintf(sent, sizeof sent,
		 "COMPRESSED %ld bytes inflating to 1 MiB (max_message %u)", bn,
		 MAX_MESSAGE);
	expect_error(c, 603, 413, sent);
	free(zeros);
	free(bomb);

	expect_echo(c, "bad COMPRESSED bodies");
	expect_next_is_pong(c, "bad COMPRESSED bodies");
	cl_close(c);
	after_case("COMPRESSED");
}
END_TEST

START_TEST(split_message)
{
	dx_client *c = conn();
	/* "hello world" to echo in three frames: FINAL on the last only. */
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_EXPECTS_RESPONSE, 700, NULL, 0,
	      "\x02\x00hel", 5);
	frame(c, DX_HBTP_RPC_CALL, 0, 700, NULL, 0, "lo wo", 5);
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 700, NULL, 0, "rld", 3);
	expect_response(c, 700, "hello world", 11,
			"echo \"hello world\" split into 3 frames");
	expect_next_is_pong(c, "a split message (one answer only)");

	/* A Ping between fragments is answered; the message goes on. */
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_EXPECTS_RESPONSE, 701, NULL, 0,
	      "\x02\x00" "ab", 4);
	uint16_t pseq;
	ck_assert_int_eq(dx_client_ping(c, "mid", 3, &pseq), 0);
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 701, NULL, 0, "cd", 2);
	expect_response(c, 701, "abcd", 4,
			"echo \"abcd\" split in 2 frames with a Ping between");
	dx_client_msg pm;
	int prc = dx_client_wait(c, pseq, &pm, T_MS);
	ck_assert_msg(prc == 0 && pm.opcode == DX_HBTP_PONG && pm.len == 3,
		      "a Ping between the fragments of a split message: "
		      "expected its Pong, got %s",
		      prc ? dx_strerror(prc) : msg_str(&pm));

	/* Five fragments of 60000 bytes (300000 > max_message 262144), then
	 * a FINAL one: exactly one 413, and the rest is swallowed. */
	size_t part = 60000;
	uint8_t *p = calloc(1, part);
	ck_assert(p);
	put16(p, ROUTE_ECHO);
	for (int i = 0; i < 5; i++)
		frame(c, DX_HBTP_RPC_CALL, i ? 0 : DX_HBTP_EXPECTS_RESPONSE, 702,
		      NULL, 0, p, part);
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_FINAL, 702, NULL, 0, "end", 3);
	expect_error(c, 702, 413,
		     "a message split into 6 frames totalling 300003 bytes "
		     "(max_message 262144)");
	free(p);
	expect_next_is_pong(c, "an oversize split message (one 413 only)");
	expect_echo(c, "an oversize split message");

	/* A frame of another seq interrupts a split message: 400. */
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_EXPECTS_RESPONSE, 703, NULL, 0,
	      "\x02\x00x", 3);
	frame(c, DX_HBTP_RPC_CALL, DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE, 704,
	      NULL, 0, "\x02\x00y", 3);
	expect_error(c, 704, 400,
		     "a frame of seq 704 inside a split message of seq 703");
	expect_echo(c, "an interrupted split message");
	cl_close(c);
	after_case("split messages");
}
END_TEST

START_TEST(frame_too_large)
{
	static const uint32_t lens[] = {MAX_FRAME + 1, 0xFFFFFFFFu};
	for (size_t i = 0; i < 2; i++) {
		dx_client *c = conn();
		expect_echo(c, "connecting"); /* served before the bad frame */
		uint8_t h[8];
		dx_hbtp_header hd = {DX_HBTP_RPC_CALL,
				     DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE,
				     800, lens[i]};
		dx_hbtp_header_encode(&hd, h);
		ck_assert_int_eq(dx_client_send_raw(c, h, sizeof h), 0);
		/* A few body bytes behind it; the host must not read them
		 * as a frame. */
		ck_assert_int_eq(dx_client_send_raw(c, "\x02\x00zzzzzz", 8), 0);
		char sent[96];
		snprintf(sent, sizeof sent,
			 "a header with length %u (max_frame %u)", lens[i],
			 MAX_FRAME);
		expect_close(c, DX_HBTP_CLOSE_TOO_LARGE, sent);
		cl_close(c);
	}
	after_case("frame above max_frame");
}
END_TEST

START_TEST(cut_short)
{
	/* Half a header; a header and part of its body; then gone. */
	static const size_t cuts[] = {3, 8, 20};
	for (size_t i = 0; i < 3; i++) {
		dx_client *c = conn();
		uint8_t buf[64] = {0};
		dx_hbtp_header hd = {DX_HBTP_RPC_CALL,
				     DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE,
				     900, 50};
		dx_hbtp_header_encode(&hd, buf);
		put16(buf + 8, ROUTE_ECHO);
		ck_assert_int_eq(dx_client_send_raw(c, buf, cuts[i]), 0);
		ck_assert_int_eq(dx_client_flush(c, T_MS), 0);
		cl_close(c);
	}
	/* A frame cut short with a RST instead of a FIN. */
	dx_client *c = conn();
	uint8_t buf[20] = {0};
	dx_hbtp_header hd = {DX_HBTP_PING, 0, 901, 100};
	dx_hbtp_header_encode(&hd, buf);
	ck_assert_int_eq(dx_client_send_raw(c, buf, sizeof buf), 0);
	ck_assert_int_eq(dx_client_flush(c, T_MS), 0);
	struct linger lg = {1, 0};
	setsockopt(dx_client_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	cl_close(c);
	sleep_ms(100);
	after_case("frames cut short and the socket closed");
}
END_TEST

START_TEST(trickle)
{
	/* A header announcing 1000 bytes, sent one byte per 300 ms: the
	 * header timeout (1500 ms) closes it with Close 1001. */
	dx_client *c = conn();
	uint8_t buf[1008] = {0};
	dx_hbtp_header hd = {DX_HBTP_RPC_CALL,
			     DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE, 1000,
			     1000};
	dx_hbtp_header_encode(&hd, buf);
	put16(buf + 8, ROUTE_ECHO);
	uint64_t t0 = now_ms();
	size_t sent = 0;
	dx_client_msg m;
	int rc = -ETIMEDOUT;
	while (now_ms() - t0 < 6000 && sent < sizeof buf) {
		rc = dx_client_send_raw(c, buf + sent, 1);
		if (rc == 0)
			sent++;
		rc = dx_client_recv(c, &m, 300);
		if (rc != -ETIMEDOUT)
			break;
		after_case("a trickled byte (the trickler still open)");
	}
	uint64_t took = now_ms() - t0;
	ck_assert_msg(rc == 0,
		      "trickling 1 byte per 300 ms (%zu sent, %llu ms): expected "
		      "Close %u, got %s (%s)",
		      sent, (unsigned long long)took, DX_HBTP_CLOSE_IDLE,
		      dx_strerror(rc), dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_CLOSE && m.status == DX_HBTP_CLOSE_IDLE,
		      "trickling: expected Close %u, got %s", DX_HBTP_CLOSE_IDLE,
		      msg_str(&m));
	/* Not before the header timeout; the upper bound only tells it from
	 * the idle timeout (60 s) with room for a loaded machine. */
	ck_assert_msg(took >= HEADER_TIMEOUT_MS - 100 && took <= 6000,
		      "trickling: Close %u came after %llu ms; expected about "
		      "header_timeout_ms (%u) and within 6 s",
		      DX_HBTP_CLOSE_IDLE, (unsigned long long)took,
		      HEADER_TIMEOUT_MS);
	printf("  ok: 1 byte per 300 ms -> Close %u after %llu ms (%zu bytes "
	       "sent) \"%.*s\"\n",
	       m.status, (unsigned long long)took, sent, (int)m.len,
	       (const char *)m.payload);
	rc = dx_client_recv(c, &m, T_MS);
	ck_assert_msg(rc == -ECONNRESET || rc == -EPIPE,
		      "trickling: after Close the connection should end; recv "
		      "gave %s (%s)",
		      rc == 0 ? msg_str(&m) : dx_strerror(rc),
		      dx_client_error(c));
	cl_close(c);
	after_case("a trickling client");
}
END_TEST

START_TEST(out_of_order)
{
	dx_client *c = conn();
	uint16_t sa, sb, sc;
	uint64_t t0 = now_ms();
	ck_assert_int_eq(dx_client_call(c, ROUTE_DELAY, "300 a", 5, 0, &sa), 0);
	ck_assert_int_eq(dx_client_call(c, ROUTE_DELAY, "10 b", 4, 0, &sb), 0);
	ck_assert_int_eq(dx_client_call(c, ROUTE_ECHO, "c", 1, 0, &sc), 0);
	static const char want[] = "cba";
	const uint16_t seqs[] = {sc, sb, sa};
	for (int i = 0; i < 3; i++) {
		dx_client_msg m;
		int rc = dx_client_recv(c, &m, T_MS);
		ck_assert_msg(rc == 0,
			      "pipelined delay 300 a (seq %u), delay 10 b (seq "
			      "%u), echo c (seq %u): answer %d missing: %s (%s)",
			      sa, sb, sc, i + 1, dx_strerror(rc),
			      dx_client_error(c));
		ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE &&
				      m.seq == seqs[i] && m.len == 1 &&
				      m.payload[0] == (uint8_t)want[i],
			      "pipelined delay 300 a (seq %u), delay 10 b (seq "
			      "%u), echo c (seq %u): answer %d should be \"%c\" "
			      "seq %u, got %s",
			      sa, sb, sc, i + 1, want[i], seqs[i], msg_str(&m));
	}
	uint64_t took = now_ms() - t0;
	ck_assert_msg(took >= 290, "delay 300 answered after %llu ms",
		      (unsigned long long)took);
	cl_close(c);
	after_case("out-of-order completion");
}
END_TEST

START_TEST(ping)
{
	dx_client *c = conn();
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	static const size_t sizes[] = {0, 1, 1000};
	for (size_t k = 0; k < 3; k++) {
		uint16_t seq;
		ck_assert_int_eq(dx_client_ping(c, data, sizes[k], &seq), 0);
		dx_client_msg m;
		int rc = dx_client_wait(c, seq, &m, T_MS);
		ck_assert_msg(rc == 0, "Ping of %zu bytes: no answer: %s (%s)",
			      sizes[k], dx_strerror(rc), dx_client_error(c));
		ck_assert_msg(m.opcode == DX_HBTP_PONG && m.seq == seq &&
				      m.len == sizes[k] &&
				      (sizes[k] == 0 ||
				       memcmp(m.payload, data, sizes[k]) == 0),
			      "Ping of %zu bytes (seq %u): expected Pong with "
			      "the same seq and bytes, got %s",
			      sizes[k], seq, msg_str(&m));
	}
	/* Seq is echoed as is, including 0 and 0xFFFF. */
	static const uint16_t seqs[] = {0, 0xFFFF};
	for (size_t k = 0; k < 2; k++) {
		frame(c, DX_HBTP_PING, DX_HBTP_FINAL, seqs[k], NULL, 0, "s", 1);
		dx_client_msg m;
		int rc = dx_client_recv(c, &m, T_MS);
		ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_PONG &&
				      m.seq == seqs[k],
			      "Ping seq %u: expected Pong seq %u, got %s",
			      seqs[k], seqs[k],
			      rc ? dx_strerror(rc) : msg_str(&m));
	}
	/* HAS_META on a Ping: the Pong echoes the payload after the block;
	 * a malformed block is a 400 with the Ping's seq, and the
	 * connection goes on. */
	uint8_t good[64];
	dx_hbtp_meta_writer w;
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, good, sizeof good), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "x-request-id", "p1", 2), 0);
	ck_assert_int_eq(dx_hbtp_meta_end(&w), 0);
	frame(c, DX_HBTP_PING, DX_HBTP_FINAL, 77, good, w.len, "abc", 3);
	dx_client_msg m;
	int rc = dx_client_recv(c, &m, T_MS);
	ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_PONG && m.seq == 77 &&
			      m.len == 3 && memcmp(m.payload, "abc", 3) == 0,
		      "Ping with metadata and \"abc\": expected Pong \"abc\", "
		      "got %s",
		      rc ? dx_strerror(rc) : msg_str(&m));
	static const uint8_t too_long[] = {200, 0, 1, 'a', 1, 0, 'v'};
	frame(c, DX_HBTP_PING, DX_HBTP_FINAL, 78, too_long, sizeof too_long,
	      "abc", 3);
	expect_error(c, 78, 400, "Ping with metadata block_len 200");
	expect_next_is_pong(c, "a Ping with a bad metadata block");
	cl_close(c);
	after_case("Ping");
}
END_TEST

static const cJSON *find_route(const cJSON *arr, const char *name)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return e;
	}
	return NULL;
}

START_TEST(route_table)
{
	dx_client *c = conn();
	char *json = NULL;
	size_t len = 0;
	int rc = dx_client_routes(c, &json, &len, T_MS);
	ck_assert_msg(rc == 0, "route 0: %s (%s)", dx_strerror(rc),
		      dx_client_error(c));
	cJSON *arr = cJSON_Parse(json);
	ck_assert_msg(cJSON_IsArray(arr), "route 0 answered %zu bytes that are "
		      "not a JSON array: %s", len, json);
	static const struct {
		const char *name, *plugin;
		int id;
	} want[] = {{"hello", "routes_hello", ROUTE_HELLO},
		    {"echo", "routes_echo", ROUTE_ECHO},
		    {"delay", "routes_echo", ROUTE_DELAY}};
	for (size_t i = 0; i < 3; i++) {
		const cJSON *e = find_route(arr, want[i].name);
		ck_assert_msg(e, "route 0: no route \"%s\" in %s", want[i].name,
			      json);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
		const cJSON *pl = cJSON_GetObjectItemCaseSensitive(e, "plugin");
		ck_assert_msg(cJSON_IsNumber(id) && id->valueint == want[i].id,
			      "route 0: \"%s\" should have id %d: %s",
			      want[i].name, want[i].id, json);
		ck_assert_msg(cJSON_IsString(pl) &&
				      strcmp(pl->valuestring, want[i].plugin) == 0,
			      "route 0: \"%s\" should come from plugin %s: %s",
			      want[i].name, want[i].plugin, json);
	}
	printf("  ok: route 0 -> %s\n", json);
	cJSON_Delete(arr);
	free(json);
	/* And hello answers. */
	uint16_t seq;
	ck_assert_int_eq(dx_client_call(c, ROUTE_HELLO, NULL, 0, 0, &seq), 0);
	dx_client_msg m;
	rc = dx_client_wait(c, seq, &m, T_MS);
	ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_RPC_RESPONSE && m.len > 0,
		      "route 1 (hello): expected a non-empty RpcResponse, got "
		      "%s",
		      rc ? dx_strerror(rc) : msg_str(&m));
	cl_close(c);
	after_case("route 0");
}
END_TEST

/* Open n clients; exits the case on the first failure. */
static dx_client **open_many(int n)
{
	dx_client **cs = calloc((size_t)n, sizeof *cs);
	ck_assert(cs);
	for (int i = 0; i < n; i++) {
		char err[256] = "";
		int rc = dx_client_connect(g_addr, T_MS, &cs[i], err, sizeof err);
		ck_assert_msg(rc == 0, "connection %d of %d: %s", i + 1, n, err);
		track(cs[i]);
	}
	return cs;
}

static void close_many(dx_client **cs, int n)
{
	for (int i = 0; i < n; i++)
		cl_close(cs[i]);
	free(cs);
}

START_TEST(thousand_connections)
{
	settle_connections(1);
	enum { N = 1000 };
	dx_client **cs = open_many(N);
	uint16_t seqs[N];
	char arg[32];
	/* Every request goes out before any answer is read. */
	for (int i = 0; i < N; i++) {
		int k = snprintf(arg, sizeof arg, "conn-%d", i);
		ck_assert_int_eq(dx_client_call(cs[i], ROUTE_ECHO, arg, (size_t)k,
						0, &seqs[i]),
				 0);
		int rc = dx_client_flush(cs[i], T_MS);
		ck_assert_msg(rc == 0, "connection %d: flush: %s", i,
			      dx_client_error(cs[i]));
	}
	for (int i = 0; i < N; i++) {
		int k = snprintf(arg, sizeof arg, "conn-%d", i);
		char what[96];
		snprintf(what, sizeof what, "echo \"%s\" on connection %d of %d",
			 arg, i + 1, N);
		expect_response(cs[i], seqs[i], arg, (size_t)k, what);
	}
	uint64_t conns = 0;
	ck_assert(ctl_stats(NULL, NULL, &conns));
	ck_assert_msg(conns >= N + 1, "stats: %llu connections open with %d "
		      "clients and the witness",
		      (unsigned long long)conns, N);
	printf("  ok: %d connections at once, each answered (host counts "
	       "%llu open)\n",
	       N, (unsigned long long)conns);
	close_many(cs, N);
	settle_connections(1);
	after_case("1000 connections at once");
}
END_TEST

START_TEST(over_max_connections)
{
	settle_connections(1);
	uint64_t refused0 = 0, accepted0 = 0, open0 = 0;
	ck_assert(ctl_stats(&accepted0, &refused0, &open0));
	enum { N = 1150 };
	dx_client **cs = open_many(N);
	/* Wait until the host has taken every connection, one way or the
	 * other. */
	uint64_t acc = 0, ref = 0, open = 0, deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		ck_assert(ctl_stats(&acc, &ref, &open));
		if ((acc - accepted0) + (ref - refused0) >= N)
			break;
		sleep_ms(20);
	}
	ck_assert_msg((acc - accepted0) + (ref - refused0) >= N,
		      "after opening %d connections the host accepted %llu and "
		      "refused %llu",
		      N, (unsigned long long)(acc - accepted0),
		      (unsigned long long)(ref - refused0));
	/* The refused ones have a Close (or an EOF) to read. */
	struct pollfd *pf = calloc(N, sizeof *pf);
	ck_assert(pf);
	for (int i = 0; i < N; i++)
		pf[i] = (struct pollfd){dx_client_fd(cs[i]), POLLIN, 0};
	sleep_ms(200);
	ck_assert_int_ge(poll(pf, N, 0), 0);
	int refused = 0, served = 0, closes = 0;
	bool *is_refused = calloc(N, sizeof *is_refused);
	for (int i = 0; i < N; i++) {
		if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		dx_client_msg m;
		int rc = dx_client_recv(cs[i], &m, T_MS);
		ck_assert_msg(rc == -ECONNRESET ||
				      (rc == 0 && m.opcode == DX_HBTP_CLOSE &&
				       m.status == DX_HBTP_CLOSE_OVERLOADED),
			      "connection %d past max_connections: expected "
			      "Close %u or the end, got %s",
			      i + 1, DX_HBTP_CLOSE_OVERLOADED,
			      rc ? dx_strerror(rc) : msg_str(&m));
		closes += rc == 0;
		is_refused[i] = true;
		refused++;
	}
	/* The others are served. */
	uint16_t *seqs = calloc(N, sizeof *seqs);
	for (int i = 0; i < N; i++) {
		if (is_refused[i])
			continue;
		ck_assert_int_eq(dx_client_call(cs[i], ROUTE_ECHO, "over", 4, 0,
						&seqs[i]),
				 0);
		ck_assert_int_eq(dx_client_flush(cs[i], T_MS), 0);
	}
	for (int i = 0; i < N; i++) {
		if (is_refused[i])
			continue;
		char what[80];
		snprintf(what, sizeof what,
			 "echo on accepted connection %d of %d", i + 1, N);
		expect_response(cs[i], seqs[i], "over", 4, what);
		served++;
	}
	ck_assert(ctl_stats(&acc, &ref, &open));
	printf("  ok: %d connections with max_connections %d: %d served, %d "
	       "refused (%d read Close 1013); stats refused +%llu, open %llu\n",
	       N, MAX_CONNECTIONS, served, refused, closes,
	       (unsigned long long)(ref - refused0), (unsigned long long)open);
	ck_assert_msg(ref - refused0 >= 50,
		      "stats host.refused went from %llu to %llu with %d "
		      "connections over a limit of %d (witness open): expected "
		      "at least +50",
		      (unsigned long long)refused0, (unsigned long long)ref, N,
		      MAX_CONNECTIONS);
	ck_assert_msg(refused == (int)(ref - refused0),
		      "%d clients saw their connection refused, the host "
		      "counts %llu",
		      refused, (unsigned long long)(ref - refused0));
	ck_assert_msg(served + (int)open0 <= MAX_CONNECTIONS,
		      "%d served + %llu open before > max_connections %d",
		      served, (unsigned long long)open0, MAX_CONNECTIONS);
	ck_assert_msg(closes > 0, "no refused client read a Close %u frame",
		      DX_HBTP_CLOSE_OVERLOADED);
	free(seqs);
	free(is_refused);
	free(pf);
	close_many(cs, N);
	settle_connections(1);
	/* And new connections are served again. */
	dx_client *c = conn();
	expect_echo(c, "the connection storm ended");
	cl_close(c);
	after_case("more than max_connections");
}
END_TEST

START_TEST(shutdown_drains)
{
	after_case("all cases");
	/* A request in flight when SIGTERM comes is finished. */
	dx_client *c = conn();
	uint16_t seq;
	ck_assert_int_eq(dx_client_call(c, ROUTE_DELAY, "300 late", 8, 0, &seq),
			 0);
	ck_assert_int_eq(dx_client_flush(c, T_MS), 0);
	sleep_ms(50);
	pid_t pid = g_pid;
	/* Windows has no SIGTERM: wine turns SIGINT into CTRL_C_EVENT. */
	int stop = g_win ? SIGINT : SIGTERM;
	const char *stop_name = g_win ? "SIGINT" : "SIGTERM";
	ck_assert_int_eq(kill(pid, stop), 0);
	expect_response(c, seq, "late", 4,
			"delay \"300 late\", in flight at the stop signal");
	dx_client_msg m;
	int rc = dx_client_recv(c, &m, T_MS);
	ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_CLOSE &&
			      m.status == DX_HBTP_CLOSE_NORMAL,
		      "draining: the in-flight client should get Close %u after "
		      "its answer, got %s",
		      DX_HBTP_CLOSE_NORMAL, rc ? dx_strerror(rc) : msg_str(&m));
	rc = dx_client_recv(g_witness, &m, T_MS);
	ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_CLOSE &&
			      m.status == DX_HBTP_CLOSE_NORMAL,
		      "draining: the witness should get Close %u, got %s (%s)",
		      DX_HBTP_CLOSE_NORMAL, rc ? dx_strerror(rc) : msg_str(&m),
		      rc ? dx_client_error(g_witness) : "");
	cl_close(c);
	uint64_t deadline = now_ms() + 8000;
	while (host_alive() && now_ms() < deadline)
		sleep_ms(20);
	ck_assert_msg(g_pid < 0, "dx-host still running 8 s after %s; "
		      "log:\n%s", stop_name, log_tail());
	ck_assert_msg(WIFEXITED(g_status) && WEXITSTATUS(g_status) == 0,
		      "dx-host after %s: %s (expected exit status 0); "
		      "log:\n%s",
		      stop_name, describe_status(g_status), log_tail());
	/* Under ASan/UBSan the host reports to stderr, which is its log. */
	char *log = slurp(g_log);
	static const char *const bad[] = {"runtime error", "Sanitizer",
					  "ERROR: "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!strstr(log, bad[i]),
			      "dx-host's log holds \"%s\":\n%s", bad[i], log);
	free(log);
	printf("  ok: %s -> in-flight answered, Close 1000, exit 0\n",
	       stop_name);
}
END_TEST

/* ---- the host ---- */

static bool file_exists(const char *dir, const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s/%s.so", dir, name, name);
	if (access(p, R_OK) == 0)
		return true;
	snprintf(p, sizeof p, "%s/%s.so", dir, name);
	if (access(p, R_OK) == 0)
		return true;
	snprintf(p, sizeof p, "%s/%s/%s.dll", dir, name, name);
	return access(p, R_OK) == 0;
}

static void cleanup_dir(void)
{
	if (getenv("DX_SERVE_KEEP")) {
		fprintf(stderr, "test_serve: kept %s\n", g_dir);
		return;
	}
	char p[512];
	static const char *const files[] = {"manifest.json", "host.log",
					    "ctl.sock"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
		unlink(p);
	}
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

/* 0 started, 77 skip, 1 failure. */
static int start_host(void)
{
	const char *plugins = getenv("DX_PLUGINS");
	if (!plugins) {
		fprintf(stderr, "test_serve: DX_PLUGINS is not set\n");
		return 1;
	}
	const char *want_plugin = strcmp(g_backend, "epoll") == 0 ? "io_epoll"
				  : strcmp(g_backend, "io_uring") == 0
					  ? "io_uring"
				  : strcmp(g_backend, "kqueue") == 0
					  ? "io_kqueue"
				  : g_win ? "io_iocp"
					  : NULL;
	if (!want_plugin) {
		fprintf(stderr, "test_serve: unknown backend \"%s\"\n",
			g_backend);
		return 1;
	}
	const char *kq_file = getenv("DX_IO_KQUEUE");
	bool kqueue = strcmp(g_backend, "kqueue") == 0;
	if (kqueue && kq_file && access(kq_file, F_OK) != 0) {
		printf("SKIP: %s is not built\n", kq_file);
		return 77;
	}
	if (!(kqueue && kq_file) && !file_exists(plugins, want_plugin)) {
		printf("SKIP: plugin %s is not built in %s\n", want_plugin,
		       plugins);
		return 77;
	}
	bool have_uring = file_exists(plugins, "io_uring");
	char kq_entry[600] = "";
	if (kqueue)
		snprintf(kq_entry, sizeof kq_entry,
			 "{\"%s\": \"%s\", \"config\": {\"emulation\": true}}, ",
			 kq_file ? "path" : "name", kq_file ? kq_file : "io_kqueue");

	snprintf(g_dir, sizeof g_dir, "/tmp/dx-serve-%s-XXXXXX", g_backend);
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	char manifest[300];
	snprintf(manifest, sizeof manifest, "%s/manifest.json", g_dir);
	snprintf(g_log, sizeof g_log, "%s/host.log", g_dir);
	snprintf(g_ctl, sizeof g_ctl, "%s/ctl.sock", g_dir);
	FILE *f = fopen(manifest, "w");
	if (!f) {
		perror(manifest);
		return 1;
	}
	fprintf(f,
		"{\"dx\": 1, \"plugin_path\": [\"%s\"],\n"
		" \"listen\": [\"127.0.0.1:0\"], \"workers\": 2,\n"
		" \"io\": {\"backend\": \"%s\"},\n"
		" \"limits\": {\"max_frame\": %u, \"max_message\": %u,\n"
		"   \"max_connections\": %d, \"idle_timeout_ms\": 60000,\n"
		"   \"header_timeout_ms\": %d},\n"
		" \"control\": {\"socket\": \"%s\"},\n"
		" \"plugins\": [{\"name\": \"%s\"}, %s%s"
		"{\"name\": \"routes_hello\"}, {\"name\": \"routes_echo\"}]}\n",
		plugins, g_backend, MAX_FRAME, MAX_MESSAGE, MAX_CONNECTIONS,
		HEADER_TIMEOUT_MS, g_ctl, g_win ? "io_iocp" : "io_epoll",
		have_uring ? "{\"name\": \"io_uring\"}, " : "", kq_entry);
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
		execl(g_host_exe, "dx-host", "-m", manifest, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", g_host_exe, strerror(errno));
		_exit(127);
	}
	/* "listening on 127.0.0.1:PORT" says it serves. ASan is slow. */
	uint64_t deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		char *log = slurp(g_log);
		const char *at = strstr(log, "listening on 127.0.0.1:");
		if (at) {
			unsigned port = (unsigned)atoi(at + 23);
			free(log);
			if (!port)
				break;
			snprintf(g_addr, sizeof g_addr, "127.0.0.1:%u", port);
			printf("dx-host pid %d, backend %s, %s, control %s\n",
			       (int)g_pid, g_backend, g_addr, g_ctl);
			return 0;
		}
		free(log);
		if (!host_alive()) {
			log = slurp(g_log);
			int rc = 1;
			if (strstr(log, "not usable")) {
				printf("SKIP: backend %s is not usable here:\n%s",
				       g_backend, log);
				rc = 77;
			} else {
				fprintf(stderr,
					"test_serve: dx-host (backend %s) did "
					"not start: %s; log:\n%s",
					g_backend, describe_status(g_status),
					log);
			}
			free(log);
			return rc;
		}
		sleep_ms(20);
	}
	fprintf(stderr, "test_serve: dx-host did not say \"listening on\" in "
		"20 s; log:\n%s", log_tail());
	kill_host();
	return 1;
}

static Suite *serve_suite(void)
{
	Suite *s = suite_create("serve");
	TCase *t = tcase_create("bad_input");
	tcase_add_checked_fixture(t, close_leftovers, NULL);
	tcase_add_test(t, reserved_flags);
	tcase_add_test(t, unsupported_opcodes);
	tcase_add_test(t, encrypted);
	tcase_add_test(t, short_call);
	tcase_add_test(t, unknown_route);
	tcase_add_test(t, bad_metadata);
	tcase_add_test(t, compressed);
	tcase_add_test(t, split_message);
	tcase_add_test(t, frame_too_large);
	tcase_add_test(t, cut_short);
	tcase_add_test(t, trickle);
	suite_add_tcase(s, t);
	t = tcase_create("good_input");
	tcase_add_checked_fixture(t, close_leftovers, NULL);
	tcase_add_test(t, out_of_order);
	tcase_add_test(t, ping);
	tcase_add_test(t, route_table);
	suite_add_tcase(s, t);
	t = tcase_create("load");
	tcase_add_checked_fixture(t, close_leftovers, NULL);
	tcase_add_test(t, thousand_connections);
	tcase_add_test(t, over_max_connections);
	suite_add_tcase(s, t);
	t = tcase_create("shutdown");
	tcase_add_checked_fixture(t, close_leftovers, NULL);
	tcase_add_test(t, shutdown_drains);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr,
			"usage: test_serve epoll|io_uring|kqueue|iocp DX_HOST\n");
		return 2;
	}
	g_backend = argv[1];
	g_host_exe = argv[2];
	g_win = strcmp(g_backend, "iocp") == 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	/* 1150 clients here, 1100 connections there: raise the fd limit
	 * (the host inherits it). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2400) {
		printf("SKIP: RLIMIT_NOFILE is %llu; these cases need 2400\n",
		       (unsigned long long)rl.rlim_cur);
		return 77;
	}

	int rc = start_host();
	if (rc) {
		if (g_dir[0] && rc == 77)
			cleanup_dir();
		return rc;
	}
	char err[256] = "";
	if (dx_client_connect(g_addr, T_MS, &g_witness, err, sizeof err) < 0) {
		fprintf(stderr, "test_serve: witness: %s; log:\n%s", err,
			log_tail());
		kill_host();
		return 1;
	}

	SRunner *sr = srunner_create(serve_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	dx_client_close(g_witness);

	if (host_alive()) {
		fprintf(stderr, "test_serve: dx-host still running at the end "
			"(a case failed before shutdown): killing it\n");
		kill_host();
	}
	if (failed)
		fprintf(stderr, "---- dx-host log (%s) ----\n%s\n", g_log,
			log_tail());
	cleanup_dir();
	return failed ? 1 : 0;
}
