/* gen_seeds - writes the seed corpus of every fuzz target with the SDK's
 * own writers: HBTP frames (dx_hbtp_frame_write, the metadata writer,
 * dx_hbtp_compress), teleport and rowset buffers (dx_tp_writer,
 * dx_rowset_writer), db.get bodies (dx_db_body_encode), JWTs (libjwt, as
 * the mw_auth tests make them), and the JSON texts the host and forge read.
 *
 * usage: fuzz_gen_seeds DIR     (DIR: tests/fuzz; writes DIR/TARGET/corpus/)
 *
 * Run once by hand; its output is committed. Seeds must not crash the
 * targets (CI runs every one): an answer the pipeline makes from a seed
 * stays within the fuzz manifest's max_frame of 256 bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dx/db_teleport.h>
#include <dx/hbtp.h>
#include <dx/teleport.h>
#ifdef FUZZ_HAVE_JWT
#include <jwt.h>
#endif

static const char *root;

typedef struct out {
	uint8_t b[65536];
	size_t n;
} out;

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "gen_seeds: %s\n", what);
	exit(1);
}

static void put(out *o, const void *p, size_t n)
{
	if (o->n + n > sizeof o->b)
		die("seed too large");
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void byte(out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void seed(const char *target, const char *name, const void *p,
		 size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/%s/corpus", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/%s/corpus/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f))
		die(path);
}

static void seed_out(const char *target, const char *name, const out *o)
{
	seed(target, name, o->b, o->n);
}

static void text(const char *target, const char *name, const char *s)
{
	seed(target, name, s, strlen(s));
}

/* One frame with body (and an optional metadata block in front). */
static void frame(out *o, uint8_t op, uint8_t flags, uint16_t seq,
		  const uint8_t *meta, size_t meta_len, const void *body,
		  size_t n)
{
	uint8_t buf[16384];
	uint8_t joined[16384];
	if (meta_len + n > sizeof joined)
		die("frame too large");
	if (meta_len)
		memcpy(joined, meta, meta_len);
	if (n)
		memcpy(joined + meta_len, body, n);
	long k = dx_hbtp_frame_write(buf, sizeof buf, op,
				     (uint8_t)(flags | (meta_len ? DX_HBTP_HAS_META
								 : 0)),
				     seq, joined, meta_len + n);
	if (k < 0)
		die("frame_write");
	put(o, buf, (size_t)k);
}

static size_t meta_block(uint8_t *b, size_t cap)
{
	dx_hbtp_meta_writer w;
	if (dx_hbtp_meta_begin(&w, b, cap) ||
	    dx_hbtp_meta_add(&w, "authorization", "Bearer x", 8) ||
	    dx_hbtp_meta_add(&w, "trace-id", "abc123", 6) ||
	    dx_hbtp_meta_end(&w))
		die("meta");
	return w.len;
}

static size_t compressed(const void *p, size_t n, uint8_t *z, size_t cap)
{
	long k = dx_hbtp_compress(p, n, z, cap);
	if (k < 0)
		die("compress");
	return (size_t)k;
}

/* An RpcCall body: u16 route, then args. */
static size_t call_body(uint8_t *b, uint16_t route, const char *args,
			size_t n)
{
	dx_hbtp_put_le16(b, route);
	memcpy(b + 2, args, n);
	return 2 + n;
}

static void hbtp_streams(const char *target, uint8_t prefix, bool answers)
{
	uint8_t meta[256], body[4096], z[4096];
	size_t ml = meta_block(meta, sizeof meta);
	const uint8_t call = answers ? DX_HBTP_RPC_RESPONSE : DX_HBTP_RPC_CALL;
	const uint8_t fl = DX_HBTP_FINAL | DX_HBTP_EXPECTS_RESPONSE;
	out o;
	char name[64];
	int k = 0;
#define NEXT() (o.n = 0, byte(&o, prefix))
#define SAVE() (snprintf(name, sizeof name, "seed-%02x-%02d", prefix, k++), \
		seed_out(target, name, &o))
	/* echo "hello" (route 2), and the same from a server */
	NEXT();
	size_t n = answers ? 5 : call_body(body, 2, "hello", 5);
	frame(&o, call, fl, 1, NULL, 0, answers ? (const void *)"hello" : body,
	      n);
	SAVE();
	/* with metadata */
	NEXT();
	frame(&o, call, fl, 2, meta, ml, body, call_body(body, 2, "meta", 4));
	SAVE();
	/* compressed */
	NEXT();
	char big[180];
	memset(big, 'a', sizeof big);
	n = call_body(body, 2, big, sizeof big);
	frame(&o, call, fl | DX_HBTP_COMPRESSED, 3, NULL, 0, z,
	      compressed(body, n, z, sizeof z));
	SAVE();
	/* metadata and compressed */
	NEXT();
	frame(&o, call, fl | DX_HBTP_COMPRESSED, 4, meta, ml, z,
	      compressed(body, n, z, sizeof z));
	SAVE();
	/* a message split in three frames, a Ping between them */
	NEXT();
	n = call_body(body, 2, "split-message-body", 18);
	frame(&o, call, DX_HBTP_EXPECTS_RESPONSE, 5, NULL, 0, body, 6);
	frame(&o, DX_HBTP_PING, 0, 6, NULL, 0, "pi", 2);
	frame(&o, call, 0, 5, NULL, 0, body + 6, 6);
	frame(&o, call, DX_HBTP_FINAL, 5, NULL, 0, body + 12, n - 12);
	SAVE();
	/* Ping, Pong, Close */
	NEXT();
	frame(&o, DX_HBTP_PING, 0, 7, NULL, 0, "ping", 4);
	frame(&o, DX_HBTP_PONG, 0, 8, NULL, 0, "pong", 4);
	uint8_t close[16] = {0xE8, 0x03};
	memcpy(close + 2, "bye", 3);
	frame(&o, DX_HBTP_CLOSE, DX_HBTP_FINAL, 0, NULL, 0, close, 5);
	SAVE();
	/* RpcError with a status */
	NEXT();
	uint8_t err[32];
	dx_hbtp_put_le16(err, 404);
	memcpy(err + 2, "no route", 8);
	frame(&o, answers ? DX_HBTP_RPC_ERROR : DX_HBTP_CLIENT_EVENT,
	      DX_HBTP_FINAL, 9, NULL, 0, err, 10);
	SAVE();
	/* route 0 (discovery), delay (route 3), an unknown route */
	NEXT();
	frame(&o, call, fl, 10, NULL, 0, body, call_body(body, 0, "", 0));
	frame(&o, call, fl, 11, NULL, 0, body, call_body(body, 3, "0 later", 7));
	frame(&o, call, fl, 12, NULL, 0, body, call_body(body, 9, "x", 1));
	SAVE();
	/* a pipelined burst */
	NEXT();
	for (uint16_t s = 20; s < 30; s++)
		frame(&o, call, fl, s, NULL, 0, body,
		      call_body(body, 2, "burst", 5));
	SAVE();
	/* reserved flags, an undefined opcode without FINAL, StateSync */
	NEXT();
	frame(&o, call, fl | 0x20, 31, NULL, 0, body, call_body(body, 2, "r", 1));
	frame(&o, 0x77, 0, 32, NULL, 0, "??", 2);
	frame(&o, DX_HBTP_STATE_SYNC, DX_HBTP_FINAL, 33, NULL, 0, "s", 1);
	SAVE();
#undef NEXT
#undef SAVE
}

static void teleport_seeds(void)
{
	out o;
	/* users */
	dx_tp_writer w;
	dx_tp_user u = {.id = 42};
	uint8_t *buf;
	size_t len;
	if (dx_tp_writer_init(&w, &dx_tp_user_type) ||
	    dx_tp_add_string(&w, "Ann", 3, &u.name) ||
	    dx_tp_add_string(&w, "ann@example.org", 15, &u.email) ||
	    dx_tp_append(&w, &u))
		die("tp");
	u.id = 7;
	if (dx_tp_add_string(&w, "B\xc3\xa9la", 5, &u.name) ||
	    dx_tp_add_string(&w, "", 0, &u.email) || dx_tp_append(&w, &u) ||
	    dx_tp_writer_finish(&w, &buf, &len))
		die("tp");
	dx_tp_writer_free(&w);
	o.n = 0;
	byte(&o, 1);
	put(&o, buf, len);
	seed_out("teleport", "users", &o);
	free(buf);
	/* rowsets: 2 columns x 3 rows with a NULL and odd bytes; empty */
	for (int kind = 0; kind < 2; kind++) {
		dx_rowset_writer r;
		uint32_t nc = kind ? 0 : 2;
		if (dx_rowset_begin(&r, nc))
			die("rowset");
		if (!kind) {
			if (dx_rowset_column(&r, "id", 23) ||
			    dx_rowset_column(&r, "name", 25))
				die("rowset");
			const char *vals[3][2] = {{"1", "Ann"},
						  {"2", NULL},
						  {"3", "tab\there \xe2\x82\xac \xff"}};
			for (int i = 0; i < 3; i++) {
				if (dx_rowset_row(&r))
					die("rowset");
				for (int c = 0; c < 2; c++)
					if (dx_rowset_put(&r, vals[i][c],
							  vals[i][c]
								  ? strlen(vals[i][c])
								  : 0))
						die("rowset");
			}
		}
		if (dx_rowset_finish(&r, &buf, &len))
			die("rowset");
		dx_rowset_writer_free(&r);
		o.n = 0;
		byte(&o, 0);
		put(&o, buf, len);
		seed_out("teleport", kind ? "rowset-empty" : "rowset", &o);
		free(buf);
	}
}

static void db_body_seeds(void)
{
	uint8_t b[1024];
	const char *p1[] = {"42"};
	const char *p2[] = {NULL, "x", ""};
	long n = dx_db_body_encode(b, sizeof b, "users_by_id", p1, 1);
	if (n < 0)
		die("db body");
	seed("db_body", "one-param", b, (size_t)n);
	if ((n = dx_db_body_encode(b, sizeof b, "q", p2, 3)) < 0)
		die("db body");
	seed("db_body", "null-and-empty", b, (size_t)n);
	if ((n = dx_db_body_encode(b, sizeof b, "all_users", NULL, 0)) < 0)
		die("db body");
	seed("db_body", "no-params", b, (size_t)n);
}

static void manifest_seeds(void)
{
	/* Relative plugin paths resolve from the build's plugins directory
	 * (the target parses with it as the manifest's directory). */
	text("manifest", "minimal", "{\"dx\": 1, \"listen\": []}\n");
	text("manifest", "full",
	     "{\n  \"dx\": 1,\n  \"plugin_path\": [\".\"],\n"
	     "  \"listen\": [\"127.0.0.1:7070\", \"[::1]:7071\", \"unix:dx.sock\"],\n"
	     "  \"workers\": 2,\n  \"pin_cpus\": false,\n"
	     "  \"io\": {\"backend\": \"io_epoll\", \"queue_depth\": 128, "
	     "\"sqpoll\": false, \"zero_copy\": \"auto\"},\n"
	     "  \"limits\": {\"max_frame\": 65536, \"max_message\": 1048576, "
	     "\"max_connections\": 100, \"idle_timeout_ms\": 60000, "
	     "\"header_timeout_ms\": 5000, \"grace_ms\": 1000},\n"
	     "  \"control\": {\"socket\": \"dx.sock\"},\n"
	     "  \"background\": {\"threads\": 2, \"queue\": 64},\n"
	     "  \"plugins\": [\n"
	     "    {\"name\": \"io_epoll\", \"path\": \"io_epoll/io_epoll.so\"},\n"
	     "    {\"name\": \"routes_echo\", \"path\": \"routes_echo/routes_echo.so\", "
	     "\"routes\": {\"echo\": 12, \"delay\": 13}},\n"
	     "    {\"name\": \"mw_timing\", \"path\": \"mw_timing/mw_timing.so\"},\n"
	     "    {\"name\": \"mw_ratelimit\", \"path\": \"mw_ratelimit/mw_ratelimit.so\", "
	     "\"config\": {\"rate\": 100, \"burst\": 20, \"key\": \"peer\", "
	     "\"nested\": {\"list\": [1, \"two\", true, 3.5, null, {\"k\": \"v\"}]}}}\n"
	     "  ],\n"
	     "  \"middleware\": [\"mw_timing\", \"mw_ratelimit\"],\n"
	     "  \"route_middleware\": {\"echo\": [\"mw_timing\"]}\n}\n");
	text("manifest", "section",
	     "{\"dx\": 1, \"listen\": [], \"plugins\": [{\"name\": \"routes_echo\", "
	     "\"path\": \"routes_echo/routes_echo.so\", \"config\": {\"greeting\": "
	     "\"hi\", \"port\": 70000}}], \"routes_echo\": {\"port\": 8, "
	     "\"list\": [{\"a\": 1}, [2, 3]], \"flag\": true, \"ratio\": 0.25}}\n");
	text("manifest", "errors",
	     "{\"dx\": 2, \"listen\": [\"nowhere\"], \"workers\": -1, "
	     "\"limits\": {\"max_frame\": 10, \"max_message\": 5}, "
	     "\"plugins\": [{\"name\": \"no_such\"}], \"middleware\": [\"x\"], "
	     "\"unknown\": {}}\n");
}

static void control_seeds(void)
{
	text("control", "status", "{\"cmd\": \"status\"}\n");
	text("control", "all",
	     "{\"cmd\": \"status\"}\n{\"cmd\": \"plugins\"}\n{\"cmd\": \"stats\"}\n"
	     "{\"cmd\": \"swap\", \"kind\": \"io\", \"name\": \"io_epoll\"}\n"
	     "{\"cmd\": \"reload\", \"name\": \"routes_echo\", \"path\": \"x.so\"}\n"
	     "{\"cmd\": \"load\", \"plugin\": {\"name\": \"routes_hello\"}}\n"
	     "{\"cmd\": \"unload\", \"name\": \"routes_echo\"}\n"
	     "{\"cmd\": \"apply\", \"path\": \"m.json\"}\n"
	     "{\"cmd\": \"routes_echo\", \"x\": 1}\n");
	text("control", "bad", "not json\n{\"cmd\": 5}\n[]\n{\"cmd\": \"drain\"}\n");
	text("control", "partial", "{\"cmd\": \"plugins\"}\n{\"cmd\": \"sta");
}

static void forge_seeds(void)
{
	text("forge_pkg", "good",
	     "{\"name\": \"pkg\", \"version\": \"1.0\", \"files\": ["
	     "{\"from\": \"a.txt\", \"to\": \"src/a.txt\"}, "
	     "{\"from\": \"sub/b.txt\", \"to\": \"b.txt\"}], \"extra\": 1}\n");
	text("forge_pkg", "escapes",
	     "{\"name\": \"pkg\", \"version\": \"1.0\", \"files\": ["
	     "{\"from\": \"../../secret\", \"to\": \"x\"}, "
	     "{\"from\": \"out\", \"to\": \"../y\"}, "
	     "{\"from\": \"a.txt\", \"to\": \".dx/forge/installed.json\"}, "
	     "{\"from\": \"a.txt\", \"to\": \"/abs\"}, "
	     "{\"from\": \"a\\u0000.txt\", \"to\": \"z\"}]}\n");
	text("forge_pkg", "dup",
	     "{\"name\": \"pkg\", \"version\": \"1.0\", \"files\": ["
	     "{\"from\": \"a.txt\", \"to\": \"t\"}, {\"from\": \"sub/b.txt\", "
	     "\"to\": \"t\"}, {\"from\": \"sub\", \"to\": \"d\"}, {\"to\": 3}]}\n");
	text("forge_pkg", "wrong", "{\"name\": \"other\", \"version\": \"2\"}\n");
}

#ifdef FUZZ_HAVE_JWT
static void token(const char *name, uint8_t opt, jwt_alg_t alg,
		  const char *key, const char *iss, long exp)
{
	jwt_t *j;
	if (jwt_new(&j))
		die("jwt");
	jwt_add_grant(j, "sub", "user-1");
	if (iss)
		jwt_add_grant(j, "iss", iss);
	jwt_add_grant(j, "aud", "api");
	if (exp)
		jwt_add_grant_int(j, "exp", exp);
	jwt_add_grant_int(j, "nbf", 1700000000);
	if (jwt_set_alg(j, alg, (const unsigned char *)key,
			key ? (int)strlen(key) : 0))
		die("jwt alg");
	char *t = jwt_encode_str(j);
	if (!t)
		die("jwt encode");
	out o;
	o.n = 0;
	byte(&o, opt);
	put(&o, t, strlen(t));
	seed_out("mw_auth", name, &o);
	free(t);
	jwt_free(j);
}
#endif

static void mw_auth_seeds(void)
{
#ifdef FUZZ_HAVE_JWT
	static const char key[] = "fuzz-secret-0123456789abcdef";
	token("hs256", 0x1E, JWT_ALG_HS256, key, "dx-fuzz", 1900000000);
	token("hs384", 0x01, JWT_ALG_HS384, key, NULL, 0);
	token("expired", 0x00, JWT_ALG_HS256, key, "dx-fuzz", 1700000001);
	token("wrong-key", 0x00, JWT_ALG_HS256, "another key", "x", 0);
	token("alg-none", 0x00, JWT_ALG_NONE, NULL, NULL, 0);
#endif
	static const uint8_t junk[] = "\x00" "a.b.c";
	seed("mw_auth", "shape", junk, sizeof junk - 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR (tests/fuzz)\n", argv[0]);
		return 2;
	}
	root = argv[1];
	hbtp_streams("hbtp", 0x0D, false); /* max_frame 4096, message x8 */
	hbtp_streams("hbtp", 0x00, false); /* 64 bytes: most frames too big */
	hbtp_streams("pipeline", 0, false);
	hbtp_streams("client", 0x00, true);
	teleport_seeds();
	db_body_seeds();
	manifest_seeds();
	control_seeds();
	forge_seeds();
	mw_auth_seeds();
	return 0;
}
