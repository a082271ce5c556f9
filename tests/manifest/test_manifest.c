/* test_manifest.c - host/src/manifest.c: every bad manifest is refused with
 * a message that names the JSON path (or LINE:COL) and says what was wrong;
 * good manifests give the values, defaults and absolute paths expected.
 *
 * Fixtures live in tests/manifest/cases (found through DX_SOURCE_ROOT);
 * cases that need absolute paths are written at run time into a temporary
 * directory. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dx/error.h>

#include "manifest.h"

#include "expect_msg.h"

typedef struct bad_case {
	const char *file; /* under tests/manifest/cases */
	expect want;
	size_t count; /* exact number of messages, or 0: any */
} bad_case;

/* snprintf that fails the test instead of cutting a path short. */
static void fmt(char *out, size_t n, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t n, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int r = vsnprintf(out, n, f, ap);
	va_end(ap);
	ck_assert_msg(r >= 0 && (size_t)r < n, "path too long: %s", out);
}

static const char *env_or_fail(const char *name)
{
	const char *v = getenv(name);
	ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
	return v;
}

static void case_path(char *out, size_t n, const char *name)
{
	fmt(out, n, "%s/tests/manifest/cases/%s", env_or_fail("DX_SOURCE_ROOT"),
	    name);
}

/* realpath of the cases directory plus rel, for comparing resolved paths. */
static void case_real(char *out, size_t n, const char *rel)
{
	char dir[PATH_MAX], real[PATH_MAX];
	case_path(dir, sizeof dir, "");
	ck_assert_ptr_nonnull(realpath(dir, real));
	fmt(out, n, "%s%s%s", real, *rel ? "/" : "", rel);
}

/* Load a fixture that must be refused; d gets its messages. */
static void load_bad(const char *name, dx_diag *d)
{
	char path[PATH_MAX];
	dx_manifest *m = (dx_manifest *)1;
	case_path(path, sizeof path, name);
	int rc = dx_manifest_load(path, &m, d);
	ck_assert_msg(rc == DX_ECONFIG, "%s: rc %d, expected DX_ECONFIG", name,
		      rc);
	ck_assert_ptr_null(m);
	ck_assert_uint_gt(d->count, 0);
}

/* Parse in-memory text that must be refused. */
static void parse_bad(const char *text, const char *dir, dx_diag *d)
{
	dx_manifest *m = (dx_manifest *)1;
	int rc = dx_manifest_parse(text, "mem.json", dir, &m, d);
	ck_assert_int_eq(rc, DX_ECONFIG);
	ck_assert_ptr_null(m);
}

static dx_manifest *parse_good(const char *text, const char *dir)
{
	dx_diag d = DX_DIAG_INIT;
	dx_manifest *m = NULL;
	int rc = dx_manifest_parse(text, "mem.json", dir, &m, &d);
	ck_assert_msg(rc == 0, "refused: %s", dx_diag_last(&d));
	ck_assert_ptr_nonnull(m);
	dx_diag_clear(&d);
	return m;
}

/* ---- one bad fixture per case ------------------------------------------ */

static const bad_case bad_cases[] = {
	/* JSON text */
	{"syntax.json", {"3:13: JSON syntax error: ", {"near '4'"}}, 1},
	{"trailing_comma.json",
	 {"4:1: JSON syntax error: ", {"trailing comma"}},
	 1},
	{"empty.json", {"1:1: JSON syntax error: ", {"empty"}}, 1},
	{"trailing_text.json",
	 {"1:25: JSON syntax error: ", {"after the top-level", "trailing"}},
	 1},
	{"bad_literal.json", {"3:", {"JSON syntax error", "tru}"}}, 1},
	{"top_array.json",
	 {"expected a JSON object at the top level", {"got an array"}},
	 1},
	/* dx */
	{"missing_dx.json", {"missing required key \"dx\"", {"\"dx\": 1"}}, 1},
	{"dx2.json",
	 {"dx: manifest version 2 is not supported", {"manifest version 1"}},
	 1},
	{"dx_string.json", {"dx: expected the integer 1", {"got \"1\""}}, 1},
	/* keys */
	{"unknown_top.json",
	 {"listn: unknown key; expected one of dx, ",
	  {"did you mean \"listen\""}},
	 1},
	{"unknown_nested.json",
	 {"io.backnd: unknown key; expected one of backend, queue_depth, sqpoll",
	  {NULL}},
	 1},
	{"dup_key.json", {"plugins[0].name: duplicate key", {NULL}}, 1},
	/* workers, pin_cpus, io, limits */
	{"workers_zero.json",
	 {"workers: expected \"auto\" or an integer in 1..1024", {"got 0"}},
	 1},
	{"workers_2000.json", {"workers: ", {"1..1024", "got 2000"}}, 1},
	{"workers_many.json", {"workers: ", {"got \"many\""}}, 1},
	{"workers_frac.json", {"workers: ", {"got 1.5"}}, 1},
	{"pin_cpus.json",
	 {"pin_cpus: expected true or false, got \"yes\"", {NULL}},
	 1},
	{"io_backend.json",
	 {"io.backend: expected \"auto\", an IO backend",
	  {"got \"IO-URING\""}},
	 1},
	{"queue_depth.json",
	 {"io.queue_depth: expected a power of two", {"got 100"}},
	 1},
	{"max_message.json",
	 {"limits.max_message: 1024 is less than limits.max_frame (2048)",
	  {NULL}},
	 1},
	{"max_frame.json",
	 {"limits.max_frame: expected an integer in 64..1073741824, got 5",
	  {NULL}},
	 1},
	{"max_frame_default_message.json",
	 {"limits.max_message: 16777216 (the default) is less", {"33554432"}},
	 1},
	/* listen, control */
	{"listen_port.json",
	 {"listen[0]: invalid port", {"127.0.0.1:70000", "0..65535"}},
	 1},
	{"listen_ipv4.json",
	 {"listen[0]: invalid IPv4 address", {"300.1.2.3:80"}},
	 1},
	{"listen_ipv6.json",
	 {"listen[0]: invalid IPv6 address", {"[::g]:80"}},
	 1},
	{"listen_ipv6_nobrackets.json",
	 {"listen[0]: invalid IPv4 address", {"brackets"}},
	 1},
	{"listen_unix_dir.json",
	 {"listen[0]: socket directory /",
	  {"cases/no_such_dir", "does not exist"}},
	 1},
	{"listen_not_array.json",
	 {"listen: expected an array", {"got \"127.0.0.1:7070\""}},
	 1},
	{"listen_dup.json",
	 {"listen[1]: \"localhost:8080\" is the same address as listen[0]",
	  {NULL}},
	 1},
	{"listen_no_port.json",
	 {"listen[0]: expected HOST:PORT, [IPV6]:PORT or unix:PATH",
	  {"got \"127.0.0.1\""}},
	 1},
	{"control_dir.json",
	 {"control.socket: socket directory /",
	  {"cases/missing", "does not exist"}},
	 1},
	/* plugins, middleware */
	{"plugins_not_array.json",
	 {"plugins: expected an array", {"got an object"}},
	 1},
	{"plugin_neither.json",
	 {"plugins[0]: needs \"name\" or \"path\"", {NULL}},
	 1},
	{"plugin_bad_name.json",
	 {"plugins[0].name: invalid plugin name \"Bad-Name\": use [a-z][a-z0-9_]*, at most 63 bytes",
	  {NULL}},
	 1},
	{"plugin_dup_name.json",
	 {"plugins[2].name: \"routes_a\" is also plugins[0]", {NULL}},
	 1},
	{"plugin_no_file.json",
	 {"plugins[0].path: no such file: /", {"cases/nope/x.so"}},
	 1},
	{"plugin_path_is_dir.json",
	 {"plugins[0].path: not a regular file: /", {"cases/lib"}},
	 1},
	{"plugin_not_found.json",
	 {"plugins[0].name: plugin \"routes_x\" not found; looked in: /",
	  {"/lib/routes_x.so, /", "/lib/routes_x/routes_x.so"}},
	 1},
	{"plugin_path_missing.json",
	 {"plugin_path[1]: no such directory: /", {"cases/no_such_plugins"}},
	 1},
	{"plugin_config.json",
	 {"plugins[0].config: expected an object, got an array", {NULL}},
	 1},
	{"middleware_unknown.json",
	 {"middleware[1]: \"mw_x\" is not a plugin in this manifest", {NULL}},
	 1},
	{"middleware_path_only.json",
	 {"middleware[0]: \"mw_auth\" is not a plugin in this manifest; add "
	  "it to plugins, or, if it is plugins[1] (given by path alone), give "
	  "that entry \"name\": \"mw_auth\" too",
	  {NULL}},
	 1},
	{"middleware_dup.json",
	 {"middleware[1]: \"mw_auth\" is also middleware[0]", {NULL}},
	 1},
};

#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

START_TEST(test_bad_fixture)
{
	const bad_case *bc = &bad_cases[_i];
	dx_diag d = DX_DIAG_INIT;
	load_bad(bc->file, &d);
	expect_msg(&d, &bc->want, bc->file);
	if (bc->count)
		ck_assert_msg(d.count == bc->count,
			      "%s: %zu messages, "
			      "expected %zu; first: %s",
			      bc->file, d.count, bc->count, d.msgs[0]);
	dx_diag_clear(&d);
}
END_TEST

/* ---- several errors in one file ----------------------------------------- */

START_TEST(test_bad_several)
{
	static const expect want[] = {
		{"workers: ", {"got 0"}},
		{"listen[0]: invalid port", {"99999"}},
		{"io.queue_depth: expected a power of two", {"got 3"}},
		{"io.backnd: unknown key", {"did you mean \"backend\""}},
		{"plugins[0]: needs \"name\" or \"path\"", {NULL}},
		{"middleware[0]: \"mw_nope\" is not a plugin", {NULL}},
		{"colour: unknown key", {NULL}},
	};
	dx_diag d = DX_DIAG_INIT;
	load_bad("several.json", &d);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		expect_msg(&d, &want[i], "several.json");
	ck_assert_uint_eq(d.count, sizeof want / sizeof want[0]);
	dx_diag_clear(&d);
}
END_TEST

/* ---- in-memory bad cases (absolute paths, odd shapes) ------------------ */

static const struct {
	const char *text;
	expect want;
} bad_texts[] = {
	{"{\"dx\": 1, \"io\": {\"zero_copy\": \"sometimes\"}}",
	 {"io.zero_copy: expected \"auto\" (not to local peers)",
	  {"got \"sometimes\""}}},
	{"{\"dx\": 1, \"plugins\": [{\"path\": \"/bin/sh\", \"routes\": [1]}]}",
	 {"plugins[0].routes: expected an object of route name to id", {NULL}}},
	{"{\"dx\": 1, \"plugins\": [{\"path\": \"/bin/sh\", \"routes\": "
	 "{\"echo\": 0}}]}",
	 {"plugins[0].routes.echo: expected a route id in 1..65535", {"got 0"}}},
	{"{\"dx\": 1, \"plugins\": [{\"path\": \"/bin/sh\", \"routes\": "
	 "{\"a\": 5, \"b\": 5}}]}",
	 {"plugins[0].routes.b: id 5 is also given to \"a\"", {NULL}}},
	{"{\"dx\": 1, \"plugins\": [{\"path\": \"/nonexistent/dx/x.so\"}]}",
	 {"plugins[0].path: no such file: /nonexistent/dx/x.so", {NULL}}},
	{"{\"dx\": 1, \"plugin_path\": \"/nonexistent/dx\"}",
	 {"plugin_path: no such directory: /nonexistent/dx", {NULL}}},
	{"{\"dx\": 1, \"listen\": [\"unix:/nonexistent/dx/s.sock\"]}",
	 {"listen[0]: socket directory /nonexistent/dx", {"does not exist"}}},
	{"{\"dx\": 1, \"control\": {\"socket\": \"/tmp/\"}}",
	 {"control.socket: /tmp/ names a directory", {NULL}}},
	{"{\"dx\": 1, \"plugins\": [{\"path\": \"/tmp/x.so\", \"config\": "
	 "{\"a\": {\"b\": 1, \"b\": 2}}}]}",
	 {"plugins[0].config.a.b: duplicate key", {NULL}}},
	{"{\"dx\": 1, \"listen\": [\"[::1]:80\", \"[0:0::1]:80\"]}",
	 {"listen[1]: \"[0:0::1]:80\" is the same address as listen[0]",
	  {NULL}}},
	{"{\"dx\": 1, \"listen\": [\"unix:\"]}",
	 {"listen[0]: expected a socket path after unix:", {NULL}}},
	{"{\"dx\": 1, \"listen\": [7070]}",
	 {"listen[0]: expected an address (HOST:PORT", {"got 7070"}}},
	/* A top-level key is a plugin's section only when the plugin is
	 * listed. */
	{"{\"dx\": 1, \"forge\": {}}",
	 {"forge: unknown key; expected one of dx, ", {NULL}}},
	{"{\"dx\": 1, \"limits\": {\"max_message\": 4294967297}}",
	 {"limits.max_message: expected an integer in 64..4294967296",
	  {"got 4294967297"}}},
	{"{\"dx\": 1, \"limits\": {\"max_output\": 1024}}",
	 {"limits.max_output: expected an integer in 4096..1073741824",
	  {"got 1024"}}},
	{"{\"dx\": 1, \"limits\": {\"write_timeout_ms\": -1}}",
	 {"limits.write_timeout_ms: expected an integer in 0..86400000",
	  {"got -1"}}},
	{"{\"dx\": 1, \"limits\": {\"write_timeout\": 5}}",
	 {"limits.write_timeout: unknown key",
	  {"grace_ms, max_output, write_timeout_ms"}}},
	{"{\"dx\": 1, \"Workers\": 2}",
	 {"Workers: unknown key", {"did you mean \"workers\""}}},
	{"{\"dx\": 1, \"a\\nb\": 2}", {"a?b: unknown key", {NULL}}},
	{"{'dx': 1}",
	 {"1:2: JSON syntax error: strings need double quotes", {NULL}}},
	{"{\"dx\": 1, \"workers\": 2",
	 {"1:23: JSON syntax error: unexpected end of input", {NULL}}},
	{"{\"dx\": 1,\n \"io\": {\"a\": 1,}\n}\n",
	 {"2:16: JSON syntax error: trailing comma", {NULL}}},
	{"[1, 2,]", {"1:7: JSON syntax error: trailing comma", {NULL}}},
	{"{\"dx\": 1, workers: 2}",
	 {"1:11: JSON syntax error: expected a double-quoted key",
	  {"near 'workers: 2}'"}}},
	{"{\"dx\": 1 // one\n}",
	 {"1:10: JSON syntax error: JSON has no comments", {NULL}}},
};

#define N_BAD_TEXT (sizeof bad_texts / sizeof bad_texts[0])

START_TEST(test_bad_text)
{
	dx_diag d = DX_DIAG_INIT;
	parse_bad(bad_texts[_i].text, "/tmp", &d);
	expect_msg(&d, &bad_texts[_i].want, bad_texts[_i].text);
	dx_diag_clear(&d);
}
END_TEST

START_TEST(test_bad_socket_too_long)
{
	char text[512], name[121];
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	fmt(text, sizeof text, "{\"dx\": 1, \"listen\": [\"unix:%s\"]}", name);
	dx_diag d = DX_DIAG_INIT;
	parse_bad(text, "/tmp", &d);
	expect_msg(&d,
		   &(expect){"listen[0]: socket path /tmp/xxx",
			     {"must fit in 107 bytes"}},
		   "long socket");
	dx_diag_clear(&d);
}
END_TEST

START_TEST(test_bad_unreadable)
{
	dx_diag d = DX_DIAG_INIT;
	dx_manifest *m = (dx_manifest *)1;
	ck_assert_int_eq(dx_manifest_load("/nonexistent/dx.json", &m, &d),
			 DX_ECONFIG);
	ck_assert_ptr_null(m);
	expect_msg(&d,
		   &(expect){"cannot read /nonexistent/dx.json: ",
			     {"No such file"}},
		   "missing file");
	dx_diag_clear(&d);

	ck_assert_int_eq(dx_manifest_load("/tmp", &m, &d), DX_ECONFIG);
	expect_msg(&d, &(expect){"cannot read /tmp: ", {"directory"}}, "dir");
	dx_diag_clear(&d);
}
END_TEST

/* ---- good manifests ------------------------------------------------------ */

static void check_listen(const dx_listen *l, dx_listen_kind kind,
			 const char *text, const char *host, unsigned port)
{
	ck_assert_int_eq(l->kind, kind);
	ck_assert_str_eq(l->text, text);
	ck_assert_str_eq(l->host, host);
	ck_assert_uint_eq(l->port, port);
	ck_assert_ptr_null(l->path);
}

static void check_full_plugins(const dx_manifest *m)
{
	char want[PATH_MAX];
	ck_assert_uint_eq(m->plugin_count, 4);
	const dx_manifest_plugin *p = m->plugins;
	ck_assert_str_eq(p[0].name, "routes_a");
	case_real(want, sizeof want, "lib/routes_a.so");
	ck_assert_str_eq(p[0].path, want);
	ck_assert_str_eq(p[0].json_path, "plugins[0]");
	ck_assert_str_eq(p[0].config_path, "plugins[0].config");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(p[0].config,
							  "greeting")
				 ->valuestring,
			 "hi");
	ck_assert(!p[0].allow_writable);
	case_real(want, sizeof want, "lib/routes_nested/routes_nested.so");
	ck_assert_str_eq(p[1].path, want);
	ck_assert_ptr_null(p[1].config);
	case_real(want, sizeof want, "lib/mw_auth.so");
	ck_assert_ptr_null(p[2].name);
	ck_assert_str_eq(p[2].path, want);
	ck_assert(p[2].allow_writable);
	ck_assert_str_eq(p[3].name, "mw_auth");
	ck_assert_str_eq(p[3].path, want);
	ck_assert_str_eq(p[3].json_path, "plugins[3]");
	ck_assert_uint_eq(m->middleware_count, 1);
	ck_assert_str_eq(m->middleware[0], "mw_auth");
}

static void check_full(const dx_manifest *m)
{
	char want[PATH_MAX];
	case_real(want, sizeof want, "");
	ck_assert_str_eq(m->dir, want);
	ck_assert_uint_eq(m->plugin_path_count, 1);
	case_real(want, sizeof want, "lib");
	ck_assert_str_eq(m->plugin_path[0], want);
	ck_assert_uint_eq(m->listen_count, 5);
	check_listen(&m->listen[0], DX_LISTEN_TCP4, "127.0.0.1:7070",
		     "127.0.0.1", 7070);
	check_listen(&m->listen[1], DX_LISTEN_TCP6, "[::1]:7071", "::1", 7071);
	check_listen(&m->listen[2], DX_LISTEN_TCP4, "*:0", "0.0.0.0", 0);
	check_listen(&m->listen[3], DX_LISTEN_TCP4, "localhost:7072",
		     "127.0.0.1", 7072);
	ck_assert_int_eq(m->listen[4].kind, DX_LISTEN_UNIX);
	ck_assert_ptr_null(m->listen[4].host);
	case_real(want, sizeof want, "lib/listen.sock");
	ck_assert_str_eq(m->listen[4].path, want);
	case_real(want, sizeof want, "lib/dx.sock");
	ck_assert_str_eq(m->control_socket, want);
	ck_assert_uint_eq(m->workers, 4);
	ck_assert(m->pin_cpus);
	ck_assert_str_eq(m->io.backend, "io_epoll");
	ck_assert_uint_eq(m->io.queue_depth, 512);
	ck_assert(m->io.sqpoll);
	ck_assert_uint_eq(m->limits.max_frame, 65536);
	ck_assert_uint_eq(m->limits.max_message, 131072);
	ck_assert_uint_eq(m->limits.max_connections, 50);
	ck_assert_uint_eq(m->limits.idle_timeout_ms, 0);
	ck_assert_uint_eq(m->limits.header_timeout_ms, 2000);
	ck_assert_uint_eq(m->limits.grace_ms, 100);
	ck_assert_uint_eq(m->limits.max_output, 65536);
	ck_assert_uint_eq(m->limits.write_timeout_ms, 0);
	check_full_plugins(m);
}

/* Loaded by a relative name from another directory: every relative path
 * must come out relative to the manifest, not to the working directory. */
START_TEST(test_good_full)
{
	char old[PATH_MAX], tests[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(old, sizeof old));
	fmt(tests, sizeof tests, "%s/tests", env_or_fail("DX_SOURCE_ROOT"));
	ck_assert_int_eq(chdir(tests), 0);

	dx_diag d = DX_DIAG_INIT;
	dx_manifest *m = NULL;
	int rc = dx_manifest_load("manifest/cases/good_full.json", &m, &d);
	ck_assert_int_eq(chdir(old), 0);
	ck_assert_msg(rc == 0, "refused: %s", dx_diag_last(&d));
	ck_assert_uint_eq(d.count, 0);
	ck_assert_str_eq(m->file, "manifest/cases/good_full.json");
	check_full(m);

	/* A plugin's section is kept as JSON, as written (its plugin reads
	 * and checks it: tests/forge_tools/test_forge_schema.c for forge). */
	const cJSON *sec = dx_manifest_section(m, "routes_a");
	ck_assert_ptr_nonnull(sec);
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(sec, "tools");
	ck_assert_int_eq(cJSON_GetArraySize(tools), 3);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetArrayItem(tools, 0), "cwd")
				 ->valuestring,
			 "lib");
	ck_assert_ptr_null(dx_manifest_section(m, "listen"));
	ck_assert_ptr_null(dx_manifest_section(m, "forge"));
	dx_manifest_free(m);
}
END_TEST

START_TEST(test_good_defaults)
{
	char cwd[PATH_MAX];
	dx_manifest *m = parse_good("{\"dx\": 1}", ".");
	ck_assert_ptr_nonnull(realpath(".", cwd));
	ck_assert_str_eq(m->dir, cwd);
	ck_assert_str_eq(m->file, "mem.json");
	ck_assert_uint_eq(m->plugin_path_count, 1);
	ck_assert_msg(m->plugin_path[0][0] == '/' &&
			      strstr(m->plugin_path[0], "dx/plugins"),
		      "default plugin_path %s", m->plugin_path[0]);
	ck_assert_uint_eq(m->listen_count, 1);
	check_listen(&m->listen[0], DX_LISTEN_TCP4, "127.0.0.1:7070",
		     "127.0.0.1", 7070);
	ck_assert_uint_eq(m->workers, 0);
	ck_assert(!m->pin_cpus);
	ck_assert_str_eq(m->io.backend, "auto");
	ck_assert_uint_eq(m->io.queue_depth, 256);
	ck_assert(!m->io.sqpoll);
	ck_assert_uint_eq(m->limits.max_frame, 1048576);
	ck_assert_uint_eq(m->limits.max_message, 16777216);
	ck_assert_uint_eq(m->limits.max_connections, 10000);
	ck_assert_uint_eq(m->limits.idle_timeout_ms, 60000);
	ck_assert_uint_eq(m->limits.header_timeout_ms, 10000);
	ck_assert_uint_eq(m->limits.grace_ms, 5000);
	ck_assert_uint_eq(m->limits.max_output, 4194304);
	ck_assert_uint_eq(m->limits.write_timeout_ms, 30000);
	ck_assert_ptr_null(m->control_socket);
	ck_assert_uint_eq(m->plugin_count, 0);
	ck_assert_uint_eq(m->middleware_count, 0);
	ck_assert_ptr_null(dx_manifest_section(m, "forge"));
	dx_manifest_free(m);
}
END_TEST

START_TEST(test_good_shapes)
{
	/* Empty lists, "auto" spelled out, port 0 twice (the kernel picks
	 * two ports), and a 64-bit limit at its top. */
	dx_manifest *m = parse_good(
		"{\"dx\": 1.0, \"listen\": [\"127.0.0.1:0\", \"127.0.0.1:0\","
		" \"[0:0::1]:65535\"], \"workers\": \"auto\","
		" \"plugins\": [{\"name\": \"forge\", \"path\": \"/bin/sh\"}],"
		" \"middleware\": [], \"plugin_path\": [],"
		" \"limits\": {\"max_message\": 4294967296, \"max_frame\": 64},"
		" \"io\": {\"queue_depth\": 32768, \"backend\": \"auto\"},"
		" \"forge\": {}}",
		"/tmp");
	ck_assert_uint_eq(m->listen_count, 3);
	check_listen(&m->listen[2], DX_LISTEN_TCP6, "[0:0::1]:65535", "::1",
		     65535);
	ck_assert_uint_eq(m->workers, 0);
	ck_assert_uint_eq(m->plugin_path_count, 0);
	ck_assert_uint_eq(m->limits.max_message, 4294967296ULL);
	ck_assert_uint_eq(m->io.queue_depth, 32768);
	ck_assert_ptr_nonnull(dx_manifest_section(m, "forge"));
	dx_manifest_free(m);
}
END_TEST

/* On Linux a backslash is a character of a file name: a control.socket
 * that names a Windows pipe (\\.\pipe\NAME) is a socket file of that
 * name in the manifest's directory, as any relative name is; even the
 * prefix alone, which Windows refuses as naming no pipe. */
START_TEST(test_good_pipe_name_is_a_path)
{
	/* JSON-escaped, and as the file's name. */
	static const char *const names[] = {
		"\\\\\\\\.\\\\pipe\\\\dx-test", "\\\\\\\\.\\\\pipe\\\\"};
	static const char *const files[] = {"\\\\.\\pipe\\dx-test",
					    "\\\\.\\pipe\\"};
	char text[256], want[PATH_MAX], tmp[PATH_MAX];
	ck_assert_ptr_nonnull(realpath("/tmp", tmp));
	for (size_t i = 0; i < 2; i++) {
		fmt(text, sizeof text,
		    "{\"dx\": 1, \"listen\": [],"
		    " \"control\": {\"socket\": \"%s\"}}",
		    names[i]);
		dx_manifest *m = parse_good(text, "/tmp");
		fmt(want, sizeof want, "%s/%s", tmp, files[i]);
		ck_assert_str_eq(m->control_socket, want);
		dx_manifest_free(m);
	}
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The real build: routes_hello found as plugins/routes_hello/routes_hello.so
 * along an absolute plugin_path, from a manifest in a temporary directory. */
START_TEST(test_good_real_plugin)
{
	char tmp[] = "/tmp/dx-manifest-XXXXXX", file[PATH_MAX], sub[PATH_MAX];
	char text[2 * PATH_MAX], want[PATH_MAX], so[PATH_MAX];
	const char *plugins = env_or_fail("DX_PLUGINS");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	fmt(sub, sizeof sub, "%s/run", tmp);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	fmt(file, sizeof file, "%s/dx.json", tmp);
	fmt(text, sizeof text,
	    "{\"dx\": 1, \"plugin_path\": [\"%s\"],\n"
	    " \"listen\": [\"unix:run/a.sock\"],\n"
	    " \"control\": {\"socket\": \"run/ctl.sock\"},\n"
	    " \"plugins\": [{\"name\": \"routes_hello\"}],\n"
	    " \"middleware\": []}\n",
	    plugins);
	write_file(file, text);

	dx_diag d = DX_DIAG_INIT;
	dx_manifest *m = NULL;
	int rc = dx_manifest_load(file, &m, &d);
	unlink(file);
	rmdir(sub);
	rmdir(tmp);
	ck_assert_msg(rc == 0, "refused: %s", dx_diag_last(&d));
	fmt(so, sizeof so, "%s/routes_hello/routes_hello.so", plugins);
	ck_assert_ptr_nonnull(realpath(so, want));
	ck_assert_str_eq(m->plugins[0].path, want);
	ck_assert_str_eq(m->plugins[0].name, "routes_hello");
	ck_assert_ptr_nonnull(realpath("/tmp", want));
	ck_assert_ptr_nonnull(strstr(m->listen[0].path, "/run/a.sock"));
	ck_assert_ptr_nonnull(strstr(m->control_socket, "/run/ctl.sock"));
	ck_assert_int_eq(strncmp(m->control_socket, want, strlen(want)), 0);
	dx_manifest_free(m);
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *bad = tcase_create("bad");
	tcase_set_timeout(bad, 30);
	tcase_add_loop_test(bad, test_bad_fixture, 0, N_BAD);
	tcase_add_loop_test(bad, test_bad_text, 0, N_BAD_TEXT);
	tcase_add_test(bad, test_bad_several);
	tcase_add_test(bad, test_bad_socket_too_long);
	tcase_add_test(bad, test_bad_unreadable);
	suite_add_tcase(s, bad);

	TCase *good = tcase_create("good");
	tcase_set_timeout(good, 30);
	tcase_add_test(good, test_good_full);
	tcase_add_test(good, test_good_defaults);
	tcase_add_test(good, test_good_shapes);
	tcase_add_test(good, test_good_real_plugin);
	tcase_add_test(good, test_good_pipe_name_is_a_path);
	suite_add_tcase(s, good);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(manifest_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
