/* test_mw_auth_host.c - mw_auth in the real dx-host, over HBTP (issue 5).
 *
 *     test_mw_auth_host DX_HOST ROUTES_WHOAMI_SO
 *
 * Starts dx-host three times (fork/exec, a manifest in a mkdtemp dir,
 * listening on 127.0.0.1:0, the port read from the "listening on" line of
 * its log) with "middleware": ["mw_auth"] configured for HS256, RS256 and
 * ES256, plus routes_echo and routes_whoami (whoami answers jwt.sub,
 * claims answers jwt.claims, health is a public route). Tokens and keys
 * are made by the test (tokens.c). Every refusal must be RpcError 401 with
 * its reason; after each case a witness connection (opened first, with a
 * valid token) must still get its answer and the host must still run.
 *
 * Exit 77 when DX_PLUGINS lacks mw_auth or io_epoll. DX_MWAUTH_KEEP=1
 * keeps the temp dirs (manifest, host.log). */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <dx/client.h>
#include <dx/error.h>
#include <dx/hbtp.h>

#include "tokens.h"
#include "../unit/test_util.h"

#define T_MS 5000
#define ROUTE_ECHO 2
#define ROUTE_WHOAMI 50
#define ROUTE_CLAIMS 51
#define ROUTE_HEALTH 52

static const char *g_host_exe, *g_whoami_so, *g_plugins;
static tk_keys K;

/* ---- a dx-host child -------------------------------------------------- */

struct host {
	char dir[256], log[300], manifest[300], addr[64];
	pid_t pid;
	dx_client *witness;
	unsigned witness_n;
	const char *witness_sub;
};

static struct host H; /* the one the current case talks to */

static const char *log_tail(void)
{
	static char tail[3000];
	char *s = slurp(H.log);
	size_t n = strlen(s);
	snprintf(tail, sizeof tail, "%s",
		 n > sizeof tail - 1 ? s + n - (sizeof tail - 1) : s);
	free(s);
	return tail;
}

static bool host_alive(void)
{
	return H.pid > 0 && waitpid(H.pid, NULL, WNOHANG) == 0;
}

/* A metadata block with authorization: value into out; its length, or a
 * negative code. */
static long authz_block(uint8_t *out, size_t cap, const char *value)
{
	dx_hbtp_meta_writer w;
	int rc = dx_hbtp_meta_begin(&w, out, cap);
	if (rc == 0)
		rc = dx_hbtp_meta_add(&w, "authorization", value,
				      strlen(value));
	if (rc == 0)
		rc = dx_hbtp_meta_end(&w);
	if (rc < 0)
		fprintf(stderr, "metadata block of %zu bytes: %s\n",
			strlen(value), dx_strerror(rc));
	return rc < 0 ? rc : (long)w.len;
}

static int client_for(const char *authz, dx_client **out, char *err,
		      size_t errlen)
{
	int rc = dx_client_connect(H.addr, T_MS, out, err, errlen);
	if (rc < 0 || !authz)
		return rc;
	static uint8_t block[70000];
	long n = authz_block(block, sizeof block, authz);
	if (n < 0) {
		dx_client_close(*out);
		*out = NULL;
		snprintf(err, errlen, "metadata: %s", dx_strerror((int)n));
		return (int)n;
	}
	return dx_client_set_meta(*out, block, (size_t)n);
}

/* Start dx-host with mw_auth configured by auth_config (a JSON object). 0,
 * or -1 with the reason on stderr. */
static int host_start(const char *auth_config, const char *witness_token,
		      const char *witness_sub)
{
	memset(&H, 0, sizeof H);
	H.pid = -1;
	snprintf(H.dir, sizeof H.dir, "/tmp/dx-mwauth-host-XXXXXX");
	if (!mkdtemp(H.dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(H.manifest, sizeof H.manifest, "%s/manifest.json", H.dir);
	snprintf(H.log, sizeof H.log, "%s/host.log", H.dir);
	FILE *f = fopen(H.manifest, "w");
	if (!f)
		return -1;
	fprintf(f,
		"{\"dx\": 1, \"plugin_path\": [\"%s\"],\n"
		" \"listen\": [\"127.0.0.1:0\"], \"workers\": 2,\n"
		" \"io\": {\"backend\": \"epoll\"},\n"
		" \"limits\": {\"max_frame\": 262144, \"max_message\": 1048576},\n"
		" \"plugins\": [{\"name\": \"io_epoll\"},\n"
		"   {\"name\": \"routes_echo\"},\n"
		"   {\"path\": \"%s\"},\n"
		"   {\"name\": \"mw_auth\", \"config\": %s}],\n"
		" \"middleware\": [\"mw_auth\"]}\n",
		g_plugins, g_whoami_so, auth_config);
	fclose(f);
	H.pid = fork();
	if (H.pid < 0)
		return -1;
	if (H.pid == 0) {
		int fd = open(H.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		execl(g_host_exe, "dx-host", "-m", H.manifest, (char *)NULL);
		_exit(127);
	}
	uint64_t deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		char *log = slurp(H.log);
		const char *at = strstr(log, "listening on 127.0.0.1:");
		unsigned port = at ? (unsigned)atoi(at + 23) : 0;
		free(log);
		if (port) {
			snprintf(H.addr, sizeof H.addr, "127.0.0.1:%u", port);
			break;
		}
		if (!host_alive()) {
			fprintf(stderr, "dx-host did not start; log:\n%s\n",
				log_tail());
			return -1;
		}
		usleep(20 * 1000);
	}
	if (!H.addr[0]) {
		fprintf(stderr, "dx-host did not listen in 20 s:\n%s\n",
			log_tail());
		return -1;
	}
	char *authz = NULL;
	char err[256] = "";
	if (asprintf(&authz, "Bearer %s", witness_token) < 0 ||
	    client_for(authz, &H.witness, err, sizeof err) < 0) {
		fprintf(stderr, "witness: %s\n", err);
		free(authz);
		return -1;
	}
	free(authz);
	H.witness_sub = witness_sub;
	printf("dx-host pid %d on %s, mw_auth %s\n", (int)H.pid, H.addr,
	       auth_config);
	return 0;
}

static void host_stop(void)
{
	dx_client_close(H.witness);
	H.witness = NULL;
	if (H.pid > 0) {
		kill(H.pid, SIGTERM);
		uint64_t deadline = now_ms() + 5000;
		while (waitpid(H.pid, NULL, WNOHANG) == 0) {
			if (now_ms() > deadline) {
				kill(H.pid, SIGKILL);
				waitpid(H.pid, NULL, 0);
				break;
			}
			usleep(10 * 1000);
		}
		H.pid = -1;
	}
	if (getenv("DX_MWAUTH_KEEP")) {
		fprintf(stderr, "kept %s\n", H.dir);
		return;
	}
	unlink(H.manifest);
	unlink(H.log);
	rmdir(H.dir);
}

/* ---- calls ------------------------------------------------------------ */

struct answer {
	uint8_t opcode;
	uint16_t status;
	char text[1024];
};

/* One call on a fresh connection with "authorization: authz" (NULL: no
 * metadata). */
static struct answer call(const char *authz, uint16_t route, const char *arg)
{
	dx_client *c = NULL;
	char err[256] = "";
	int rc = client_for(authz, &c, err, sizeof err);
	ck_assert_msg(rc == 0, "connect %s: %s", H.addr, err);
	uint16_t seq;
	rc = dx_client_call(c, route, arg, strlen(arg), 0, &seq);
	ck_assert_msg(rc == 0, "call: %s", dx_strerror(rc));
	dx_client_msg m;
	rc = dx_client_wait(c, seq, &m, T_MS);
	ck_assert_msg(rc == 0, "route %u: no answer: %s (%s); log:\n%s", route,
		      dx_strerror(rc), dx_client_error(c), log_tail());
	struct answer a = {.opcode = m.opcode, .status = m.status};
	snprintf(a.text, sizeof a.text, "%.*s", (int)m.len,
		 m.payload ? (const char *)m.payload : "");
	dx_client_close(c);
	return a;
}

static struct answer call_tok(const char *token, uint16_t route)
{
	char *h = NULL;
	ck_assert_int_ge(asprintf(&h, "Bearer %s", token), 0);
	struct answer a = call(h, route, "x");
	free(h);
	return a;
}

/* The witness still gets its answer, and the host runs. */
static void witness(const char *after)
{
	ck_assert_msg(host_alive(), "after %s: dx-host is gone; log:\n%s",
		      after, log_tail());
	uint16_t seq;
	int rc = dx_client_call(H.witness, ROUTE_WHOAMI, "w", 1, 0, &seq);
	ck_assert_msg(rc == 0, "after %s: witness call: %s", after,
		      dx_strerror(rc));
	dx_client_msg m;
	rc = dx_client_wait(H.witness, seq, &m, T_MS);
	ck_assert_msg(rc == 0 && m.opcode == DX_HBTP_RPC_RESPONSE &&
			      m.len == strlen(H.witness_sub) &&
			      memcmp(m.payload, H.witness_sub, m.len) == 0,
		      "after %s: the witness (a valid token) did not get "
		      "\"%s\": rc %d opcode 0x%02x \"%.*s\"",
		      after, H.witness_sub, rc, m.opcode, (int)m.len,
		      (const char *)m.payload);
	H.witness_n++;
}

static void expect_401(struct answer a, const char *reason, const char *what)
{
	ck_assert_msg(a.opcode == DX_HBTP_RPC_ERROR && a.status == 401 &&
			      strcmp(a.text, reason) == 0,
		      "%s: expected RpcError 401 \"%s\", got opcode 0x%02x "
		      "status %u \"%s\"",
		      what, reason, a.opcode, a.status, a.text);
	printf("  ok: %s -> 401 \"%s\"\n", what, a.text);
	witness(what);
}

static void expect_ok(struct answer a, const char *want, const char *what)
{
	ck_assert_msg(a.opcode == DX_HBTP_RPC_RESPONSE &&
			      strcmp(a.text, want) == 0,
		      "%s: expected RpcResponse \"%s\", got opcode 0x%02x "
		      "status %u \"%s\"",
		      what, want, a.opcode, a.status, a.text);
	printf("  ok: %s -> \"%s\"\n", what, a.text);
	witness(what);
}

static char *std_token(jwt_alg_t alg, const void *key, size_t len,
		       const char *sub)
{
	long now = tk_now();
	char *t = tk_tokenf(alg, key, len,
			    "{\"sub\": \"%s\", \"iss\": \"dx-test\", "
			    "\"aud\": \"dx\", \"role\": \"admin\", "
			    "\"exp\": %ld}",
			    sub, now + 600);
	ck_assert_ptr_nonnull(t);
	return t;
}

static char *hs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *hs(const char *fmt, ...)
{
	char claims[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(claims, sizeof claims, fmt, ap);
	va_end(ap);
	char *t = tk_token(JWT_ALG_HS256, K.secret.pem, K.secret.len, claims);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* ---- the HS256 host --------------------------------------------------- */

START_TEST(hs256_valid)
{
	char *t = std_token(JWT_ALG_HS256, K.secret.pem, K.secret.len, "alice");
	expect_ok(call_tok(t, ROUTE_WHOAMI), "alice", "valid HS256 -> whoami");
	struct answer a = call_tok(t, ROUTE_CLAIMS);
	ck_assert_msg(a.opcode == DX_HBTP_RPC_RESPONSE &&
			      strstr(a.text, "\"sub\":\"alice\"") &&
			      strstr(a.text, "\"role\":\"admin\""),
		      "claims route: opcode 0x%02x \"%s\"", a.opcode, a.text);
	printf("  ok: valid HS256 -> claims %s\n", a.text);
	expect_ok(call_tok(t, ROUTE_ECHO), "x", "valid HS256 -> echo");
	free(t);
}
END_TEST

START_TEST(hs256_refusals)
{
	long now = tk_now();
	const char *base = "\"sub\": \"a\", \"role\": \"r\"";
	char *t;
	t = hs("{%s, \"iss\": \"dx-test\", \"aud\": \"dx\", \"exp\": %ld}",
	       base, now - 100);
	expect_401(call_tok(t, ROUTE_WHOAMI), "token expired", "expired");
	free(t);
	t = hs("{%s, \"iss\": \"dx-test\", \"aud\": \"dx\", \"nbf\": %ld}",
	       base, now + 100);
	expect_401(call_tok(t, ROUTE_WHOAMI), "token not yet valid",
		   "nbf in the future");
	free(t);
	t = hs("{%s, \"iss\": \"evil\", \"aud\": \"dx\"}", base);
	expect_401(call_tok(t, ROUTE_WHOAMI), "wrong issuer", "wrong issuer");
	free(t);
	t = hs("{%s, \"iss\": \"dx-test\", \"aud\": [\"other\"]}", base);
	expect_401(call_tok(t, ROUTE_WHOAMI), "wrong audience",
		   "wrong audience");
	free(t);
	t = hs("{\"sub\": \"a\", \"iss\": \"dx-test\", \"aud\": \"dx\"}");
	expect_401(call_tok(t, ROUTE_WHOAMI), "missing claim role",
		   "missing required claim");
	free(t);
	t = std_token(JWT_ALG_HS256, K.secret2.pem, K.secret2.len, "alice");
	expect_401(call_tok(t, ROUTE_WHOAMI), "bad signature",
		   "signed with another secret");
	free(t);
}
END_TEST

START_TEST(hs256_alg)
{
	char *t = tk_tokenf(JWT_ALG_NONE, NULL, 0,
			    "{\"sub\": \"a\", \"iss\": \"dx-test\", \"aud\": "
			    "\"dx\", \"role\": \"r\"}");
	char *t2 = NULL;
	ck_assert_int_ge(asprintf(&t2, "%sc2ln", t), 0);
	expect_401(call_tok(t2, ROUTE_WHOAMI), "algorithm not allowed",
		   "alg none (with a signature)");
	expect_401(call_tok(t, ROUTE_WHOAMI), "malformed token",
		   "alg none (empty signature)");
	free(t2);
	free(t);
	t = std_token(JWT_ALG_HS512, K.secret.pem, K.secret.len, "alice");
	expect_401(call_tok(t, ROUTE_WHOAMI), "algorithm not allowed",
		   "HS512 token on an HS256 host");
	free(t);
	if (K.have_pki) {
		t = std_token(JWT_ALG_RS256, K.rsa_priv.pem, K.rsa_priv.len,
			      "alice");
		expect_401(call_tok(t, ROUTE_WHOAMI), "algorithm not allowed",
			   "RS256 token on an HS256 host");
		free(t);
	}
}
END_TEST

START_TEST(hs256_shapes)
{
	expect_401(call(NULL, ROUTE_WHOAMI, "x"), "missing token",
		   "no authorization");
	expect_401(call("Basic YWxpY2U6c2VjcmV0", ROUTE_WHOAMI, "x"),
		   "malformed authorization header", "Basic authorization");
	expect_401(call("Bearer", ROUTE_WHOAMI, "x"), "missing token",
		   "Bearer without a token");
	expect_401(call("Bearer !!!.@@@.###", ROUTE_WHOAMI, "x"),
		   "malformed token", "garbage base64");
	expect_401(call("Bearer bm90IGpzb24.bm9wZQ.c2ln", ROUTE_WHOAMI, "x"),
		   "malformed token", "base64 of no JSON");
	/* 64 KiB (the most one metadata block holds: 65535 bytes with the
	 * key and the lengths). */
	size_t big = 65535 - (1 + 13 + 2) - 7;
	char *h = malloc(big + 8);
	memcpy(h, "Bearer ", 7);
	char *t = std_token(JWT_ALG_HS256, K.secret.pem, K.secret.len, "alice");
	size_t tl = strlen(t);
	memcpy(h + 7, t, tl);
	memset(h + 7 + tl, 'A', big - tl);
	h[7 + big] = '\0';
	expect_401(call(h, ROUTE_WHOAMI, "x"), "malformed token",
		   "a 64 KiB token");
	free(t);
	free(h);
}
END_TEST

START_TEST(hs256_public)
{
	expect_ok(call(NULL, ROUTE_HEALTH, "x"), "ok",
		  "public route without a token");
	expect_ok(call("Bearer bad.bad.bad", ROUTE_HEALTH, "x"), "ok",
		  "public route with a bad token");
	expect_401(call(NULL, ROUTE_WHOAMI, "x"), "missing token",
		   "non-public route without a token");
}
END_TEST

/* Many calls with the same token on one connection: answered from the
 * cache (the counters are the unit test's business; here: all pass). */
START_TEST(hs256_repeat)
{
	char *t = std_token(JWT_ALG_HS256, K.secret.pem, K.secret.len, "dave");
	char *h = NULL;
	ck_assert_int_ge(asprintf(&h, "Bearer %s", t), 0);
	dx_client *c = NULL;
	char err[256];
	ck_assert_int_eq(client_for(h, &c, err, sizeof err), 0);
	uint16_t seqs[200];
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(dx_client_call(c, ROUTE_WHOAMI, "", 0, 0,
						&seqs[i]),
				 0);
	for (int i = 0; i < 200; i++) {
		dx_client_msg m;
		ck_assert_int_eq(dx_client_wait(c, seqs[i], &m, T_MS), 0);
		ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.len == 4 &&
				      memcmp(m.payload, "dave", 4) == 0,
			      "call %d: opcode 0x%02x \"%.*s\"", i, m.opcode,
			      (int)m.len, (const char *)m.payload);
	}
	dx_client_close(c);
	printf("  ok: 200 pipelined calls with one token -> \"dave\"\n");
	witness("200 pipelined calls");
	free(h);
	free(t);
}
END_TEST

/* ---- the RS256 and ES256 hosts ---------------------------------------- */

START_TEST(rs256_host)
{
	char *t = std_token(JWT_ALG_RS256, K.rsa_priv.pem, K.rsa_priv.len,
			    "carol");
	expect_ok(call_tok(t, ROUTE_WHOAMI), "carol", "valid RS256 -> whoami");
	free(t);
	/* The algorithm-confusion attack: HS256 keyed with the public PEM. */
	t = std_token(JWT_ALG_HS256, K.rsa_pub.pem, K.rsa_pub.len, "mallory");
	expect_401(call_tok(t, ROUTE_WHOAMI), "algorithm not allowed",
		   "HS256 token keyed with the RS256 public key's PEM");
	free(t);
	t = std_token(JWT_ALG_HS256, K.secret.pem, K.secret.len, "alice");
	expect_401(call_tok(t, ROUTE_WHOAMI), "algorithm not allowed",
		   "HS256 token on an RS256 host");
	free(t);
	t = tk_tokenf(JWT_ALG_NONE, NULL, 0, "{\"sub\": \"root\"}");
	char *t2 = NULL;
	ck_assert_int_ge(asprintf(&t2, "%sc2ln", t), 0);
	expect_401(call_tok(t2, ROUTE_WHOAMI), "algorithm not allowed",
		   "alg none on an RS256 host");
	free(t2);
	free(t);
	t = std_token(JWT_ALG_ES256, K.ec_priv.pem, K.ec_priv.len, "erin");
	expect_401(call_tok(t, ROUTE_WHOAMI), "algorithm not allowed",
		   "ES256 token on an RS256 host");
	free(t);
}
END_TEST

START_TEST(es256_host)
{
	char *t = std_token(JWT_ALG_ES256, K.ec_priv.pem, K.ec_priv.len, "erin");
	expect_ok(call_tok(t, ROUTE_WHOAMI), "erin", "valid ES256 -> whoami");
	free(t);
	t = std_token(JWT_ALG_HS256, K.ec_pub.pem, K.ec_pub.len, "mallory");
	expect_401(call_tok(t, ROUTE_WHOAMI), "algorithm not allowed",
		   "HS256 token keyed with the ES256 public key's PEM");
	free(t);
}
END_TEST

/* ---- running ---------------------------------------------------------- */

static int run_suite(const char *name, TCase *tc)
{
	Suite *s = suite_create(name);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		fprintf(stderr, "---- dx-host log (%s) ----\n%s\n", H.log,
			log_tail());
	return failed;
}

static int with_host(const char *name, const char *config, jwt_alg_t alg,
		     const tk_pem *sign_key, TCase *tc)
{
	/* Outside a test: no ck_assert (Check's mark points need a run). */
	char *wt = tk_tokenf(alg, sign_key->pem, sign_key->len,
			     "{\"sub\": \"witness\", \"iss\": \"dx-test\", "
			     "\"aud\": \"dx\", \"role\": \"w\"}");
	int failed = 1;
	if (wt && host_start(config, wt, "witness") == 0)
		failed = run_suite(name, tc);
	else
		fprintf(stderr, "%s: could not start the host\n", name);
	host_stop();
	free(wt);
	return failed;
}

static bool built(const char *name)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s/%s.so", g_plugins, name, name);
	return access(p, R_OK) == 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_mw_auth_host DX_HOST WHOAMI_SO\n");
		return 2;
	}
	g_host_exe = argv[1];
	static char so[4096];
	g_whoami_so = realpath(argv[2], so) ? so : argv[2];
	g_plugins = getenv("DX_PLUGINS");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!g_plugins) {
		fprintf(stderr, "DX_PLUGINS is not set\n");
		return 2;
	}
	if (!built("mw_auth") || !built("io_epoll")) {
		printf("SKIP: mw_auth or io_epoll is not built\n");
		return 77;
	}
	if (tk_keys_make(&K) < 0)
		return 1;
	int failed = 0;
	char cfg[2048];
	snprintf(cfg, sizeof cfg,
		 "{\"alg\": \"HS256\", \"secret_file\": \"%s\", "
		 "\"issuer\": \"dx-test\", \"audience\": \"dx\", "
		 "\"require\": [\"role\"], \"public_routes\": [\"health\"]}",
		 K.secret.path);
	TCase *tc = tcase_create("hs256");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, hs256_valid);
	tcase_add_test(tc, hs256_refusals);
	tcase_add_test(tc, hs256_alg);
	tcase_add_test(tc, hs256_shapes);
	tcase_add_test(tc, hs256_public);
	tcase_add_test(tc, hs256_repeat);
	failed += with_host("mw_auth HS256 host", cfg, JWT_ALG_HS256,
			    &K.secret, tc);
	if (K.have_pki) {
		snprintf(cfg, sizeof cfg,
			 "{\"alg\": \"RS256\", \"public_key_file\": \"%s\"}",
			 K.rsa_pub.path);
		tc = tcase_create("rs256");
		tcase_add_test(tc, rs256_host);
		failed += with_host("mw_auth RS256 host", cfg, JWT_ALG_RS256,
				    &K.rsa_priv, tc);
		snprintf(cfg, sizeof cfg,
			 "{\"alg\": \"ES256\", \"public_key_file\": \"%s\"}",
			 K.ec_pub.path);
		tc = tcase_create("es256");
		tcase_add_test(tc, es256_host);
		failed += with_host("mw_auth ES256 host", cfg, JWT_ALG_ES256,
				    &K.ec_priv, tc);
	} else {
		printf("SKIP: RS256/ES256 hosts (no openssl command)\n");
	}
	tk_keys_remove(&K);
	return failed ? 1 : 0;
}
