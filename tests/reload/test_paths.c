/* test_paths - the error paths of live change (issue 10's machinery,
 * docs/architecture.md section 8a) against a real dx-host: a failed
 * change leaves the running host as it was, bad input gets a clear error
 * and harms nothing else.
 *
 * Every case gets its own dx-host (an unchecked fixture, so the host is
 * stopped even when the test's fork dies), driven through its control
 * socket; the cases:
 *   nolisten  a host with "listen": [] gets a listener by apply, serves
 *             on it, loses it again (connections refused), and gets
 *             another.
 *   backend   an apply that reloads a plugin, adds a listener and names
 *             an io.backend no plugin provides is refused whole, the
 *             reason under "io.backend" (the swap is the last step, so
 *             the others were made and must be undone); generation,
 *             plugins, listeners and backend are as they were.
 *   unixpath  an apply adding a unix listener where another process
 *             listens, or where a file that is no socket is, is refused
 *             and leaves that socket serving and that file as it was; a
 *             refused apply leaves no socket file of its own behind.
 *   cycle     rt_peer_a and rt_peer_b (tests/plugins/rtpeer.c) use each
 *             other from the start (every init sees every loaded
 *             plugin's facets); reloading either is refused in bounded
 *             time, naming the cycle and both plugins, twice, and plugins and answers are
 *             as they were; unloading one is refused while the other
 *             uses it.
 *   handback  reloadtest_h1 (a state handoff) moved to h2 in an apply that
 *             fails later: h1 gets its state back (it went through two
 *             imports); when h2's export fails, the host logs why, and h1
 *             serves on with its own state.
 *   export_fails  a reload from an instance whose export fails is
 *             refused with that instance's reason; it serves on.
 *   tmpdir    with TMPDIR unwritable the loader cannot make its private
 *             copy: plugins load from their own file, reloads still move
 *             between builds.
 * usage: test_paths DX_HOST (DX_TEST_PLUGINS and DX_PLUGINS set). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <dx/client.h>
#include <dx/plugin.h>

#include "../unit/check_main.h"
#include "rt_apply.h"
#include "rt_ctl.h"

#define TP_RAW 32768         /* room for a control answer */
#define TP_ROUTE_VERSION 300 /* reloadtest's rt_version */
#define TP_ROUTE_STATE 303   /* reloadtest's rt_state (RT_HANDOFF builds) */
#define TP_ROUTE_PEER_A 320
#define TP_ROUTE_PEER_B 321
#define TP_UP_MS 20000       /* the host answers status within this */

static int64_t rt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *dx_host;
static char v1[PATH_MAX], v2[PATH_MAX], h1[PATH_MAX], h2[PATH_MAX],
	peer_a[PATH_MAX], peer_b[PATH_MAX];

/* The current case's host (set by the fixture, in the parent: the test's
 * fork sees it as it was). */
static pid_t host_pid;
static bool host_up;
static char work[64];    /* the case's temp dir */
static char ctl[100];    /* its control socket (fits sun_path) */
static char log_path[128];   /* the host's stderr */
static char mpath[128];  /* the manifest it started with */
static bool teardown_failed;

/* --- fixture ---------------------------------------------------------- */

/* Start a host on a manifest of listen (JSON array text) and plugins
 * (JSON array text), with "name=value" in its environment when env is not
 * NULL; wait (bounded) until its control socket answers. */
static void tp_start(const char *listen, const char *plugins, char *env)
{
	host_up = false;
	host_pid = 0;
	snprintf(work, sizeof work, "/tmp/dx-paths.XXXXXX");
	if (!mkdtemp(work)) {
		perror("mkdtemp");
		work[0] = '\0';
		return;
	}
	snprintf(ctl, sizeof ctl, "%s/ctl.sock", work);
	snprintf(log_path, sizeof log_path, "%s/host.log", work);
	snprintf(mpath, sizeof mpath, "%s/m.json", work);
	FILE *f = fopen(mpath, "w");
	if (!f)
		return;
	fprintf(f,
		"{\"dx\":1,\"listen\":%s,\"control\":{\"socket\":\"%s\"},"
		"\"plugin_path\":[\"%s\"],\"workers\":2,\"io\":{\"backend\":"
		"\"epoll\"},\"plugins\":%s}\n",
		listen, ctl, getenv("DX_PLUGINS"), plugins);
	fclose(f);
	host_pid = fork();
	if (host_pid == 0) {
		if (!freopen(log_path, "w", stderr))
			_exit(126);
		if (env)
			putenv(env);
		execl(dx_host, dx_host, "-m", mpath, "--log-level", "info",
		      (char *)NULL);
		_exit(127);
	}
	if (host_pid < 0)
		return;
	int64_t end = rt_now_ms() + TP_UP_MS;
	while (rt_now_ms() < end) {
		char raw[4096];
		cJSON *a = rt_ctl_cmd(ctl, "status", NULL, NULL, raw, sizeof raw);
		bool ok = a && rt_str(a, "backend");
		cJSON_Delete(a);
		if (ok) {
			host_up = true;
			return;
		}
		if (waitpid(host_pid, NULL, WNOHANG) == host_pid) {
			host_pid = 0;
			break;
		}
		usleep(25000);
	}
	fprintf(stderr, "dx-host did not come up\n");
}

static void tp_dump(void)
{
	FILE *f = fopen(log_path, "r");
	char line[1024];
	fprintf(stderr, "--- dx-host log (%s) ---\n", log_path);
	while (f && fgets(line, sizeof line, f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

/* Stop the host (SIGTERM, 15 s, then SIGKILL); it must exit 0. The log is
 * shown when the case did not pass or the host did not stop well. */
static void tp_teardown(void)
{
	bool passed = rt_marked_passed(work);
	bool ok = true;
	if (host_pid > 0) {
		ok = rt_host_stop(host_pid);
		teardown_failed |= !ok;
	}
	if (!ok || !passed)
		tp_dump();
	rt_work_remove(work);
}

static void tp_passed(void)
{
	rt_mark_passed(work);
}

/* io_epoll and reloadtest's file at path (with config, JSON text). */
static void tp_plugins(char *out, size_t n, const char *path,
		       const char *config)
{
	snprintf(out, n,
		 "[{\"name\":\"io_epoll\"},{\"path\":\"%s\",\"config\":%s}]",
		 path, config);
}

/* A host on listen (JSON array text) with io_epoll and the plugin at
 * so, no config. */
static void tp_start_one(const char *listen, const char *so)
{
	char p[2 * PATH_MAX];
	tp_plugins(p, sizeof p, so, "{}");
	tp_start(listen, p, NULL);
}

static void setup_nolisten(void)
{
	tp_start_one("[]", v1);
}

static void setup_tcp(void)
{
	tp_start_one("[\"127.0.0.1:0\"]", v1);
}

static void setup_handback(void)
{
	tp_start_one("[\"127.0.0.1:0\"]", h1);
}

/* h1 whose export fails: no reload can hand its state on. */
static void setup_export_fails(void)
{
	char p[2 * PATH_MAX];
	tp_plugins(p, sizeof p, h1, "{\"export_fails\":true}");
	tp_start("[\"127.0.0.1:0\"]", p, NULL);
}

static void setup_cycle(void)
{
	char p[3 * PATH_MAX];
	/* Each init finds the other: they use each other. */
	snprintf(p, sizeof p,
		 "[{\"name\":\"io_epoll\"},{\"path\":\"%s\"},{\"path\":\"%s\"}]",
		 peer_a, peer_b);
	tp_start("[\"127.0.0.1:0\"]", p, NULL);
}

/* TMPDIR for the tmpdir case: a directory under a regular file, which
 * nobody can create files in (root neither, unlike a mode 0500 dir). */
static char tmpdir_env[96], tmpdir_file[64];

static void setup_tmpdir(void)
{
	snprintf(tmpdir_file, sizeof tmpdir_file, "/tmp/dx-paths-file.%d",
		 (int)getpid());
	FILE *f = fopen(tmpdir_file, "w");
	if (f)
		fclose(f);
	else
		perror(tmpdir_file);
	snprintf(tmpdir_env, sizeof tmpdir_env, "TMPDIR=%s/tmp", tmpdir_file);
	char p[2 * PATH_MAX];
	tp_plugins(p, sizeof p, v1, "{}");
	tp_start("[\"127.0.0.1:0\"]", p, tmpdir_env);
}

static void teardown_tmpdir(void)
{
	tp_teardown();
	unlink(tmpdir_file);
}

/* --- helpers (in the test's fork: they assert) ------------------------ */

static cJSON *tp_cmd(const char *cmd, const char *name, const char *path,
		     char *raw)
{
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	cJSON *a = rt_ctl_cmd(ctl, cmd, name, path, raw, TP_RAW);
	ck_assert_msg(a != NULL, "{\"cmd\":\"%s\"}: %s", cmd, raw);
	return a;
}

/* The host's listeners (from status) into out, one a line; how many. */
static int tp_listeners(char *out, size_t n, char *raw)
{
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	int count = rt_ctl_listeners(ctl, out, n, raw, TP_RAW);
	ck_assert_msg(count >= 0, "{\"cmd\":\"status\"}: %s", raw);
	return count;
}

/* The first TCP listener's address (from status) into out. */
static void tp_tcp_addr(char *out, size_t n, char *raw)
{
	char list[1024];
	tp_listeners(list, sizeof list, raw);
	const char *p = strstr(list, "127.0.0.1:");
	ck_assert_msg(p, "no TCP listener in status: %s", list);
	snprintf(out, n, "%.*s", (int)strcspn(p, "\n"), p);
}

static void tp_backend(char *out, size_t n, char *raw)
{
	cJSON *st = tp_cmd("status", NULL, NULL, raw);
	const char *b = rt_str(st, "backend");
	ck_assert_msg(b, "status has no backend: %s", raw);
	snprintf(out, n, "%s", b);
	cJSON_Delete(st);
}

/* The plugins answer as text with each entry's name, version and
 * generation (what a refused change must leave as it was). */
static void tp_plugins_text(char *out, size_t n, char *raw)
{
	cJSON *p = tp_cmd("plugins", NULL, NULL, raw);
	const cJSON *e;
	size_t at = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "plugins"))
		if (at < n)
			at += (size_t)snprintf(
				out + at, n - at, "%s %s gen %.0f\n",
				rt_str(e, "name") ? rt_str(e, "name") : "?",
				rt_str(e, "version") ? rt_str(e, "version")
						     : "?",
				rt_num(e, "generation", -1));
	cJSON_Delete(p);
}

/* One call of route on a new connection to addr; its answer must be an
 * RpcResponse, whose text goes to out. */
static void tp_call_at(const char *addr, uint16_t route, char *out, size_t n)
{
	char err[256];
	dx_client *c = NULL;
	ck_assert_msg(dx_client_connect(addr, 5000, &c, err, sizeof err) == 0,
		      "connect %s: %s", addr, err);
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, route, "", 0, 0, &seq), 0);
	ck_assert_msg(dx_client_wait(c, seq, &m, 10000) == 0, "route %u: %s",
		      route, dx_client_error(c));
	snprintf(out, n, "%.*s", (int)m.len, (const char *)m.payload);
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE,
		      "route %u at %s: opcode 0x%02x status %u \"%s\"", route,
		      addr, m.opcode, m.status, out);
	dx_client_close(c);
}

static void tp_expect_at(const char *addr, uint16_t route, const char *want)
{
	char got[128];
	tp_call_at(addr, route, got, sizeof got);
	ck_assert_msg(strcmp(got, want) == 0,
		      "route %u at %s answered \"%s\", wanted \"%s\"", route,
		      addr, got, want);
}

static cJSON *tp_manifest(void)
{
	FILE *f = fopen(mpath, "r");
	ck_assert_msg(f, "%s: %s", mpath, strerror(errno));
	static char text[16384];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cJSON *m = cJSON_Parse(text);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* Write m to work/NAME and {"cmd":"apply","path":...} it; the answer
 * goes to the test's output too. */
static cJSON *tp_apply(const cJSON *m, const char *name, char *raw)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", work, name);
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	cJSON *a = rt_ctl_apply(ctl, path, m, raw, TP_RAW);
	ck_assert_msg(a != NULL, "apply %s: %s", path, raw);
	printf("apply %s: %s\n", name, raw);
	fflush(stdout);
	return a;
}

/* Whether the host's log holds needle (waiting up to ms for it). */
static bool tp_log_has(const char *needle, int ms)
{
	int64_t end = rt_now_ms() + ms;
	for (;;) {
		FILE *f = fopen(log_path, "r");
		char line[2048];
		bool found = false;
		while (f && !found && fgets(line, sizeof line, f))
			found = strstr(line, needle) != NULL;
		if (f)
			fclose(f);
		if (found || rt_now_ms() >= end)
			return found;
		usleep(20000);
	}
}

/* --- nolisten ---------------------------------------------------------- */

START_TEST(test_apply_from_no_listeners)
{
	char *raw = malloc(TP_RAW);
	char list[1024], addr[64], unix_addr[160];
	ck_assert_int_eq(tp_listeners(list, sizeof list, raw), 0);
	cJSON *m = tp_manifest();
	cJSON *ls = cJSON_GetObjectItemCaseSensitive(m, "listen");
	ck_assert_int_eq(cJSON_GetArraySize(ls), 0);

	/* A listener that is no address: refused by its JSON path, and the
	 * host still has none. */
	cJSON_AddItemToArray(ls, cJSON_CreateString("no-such-address"));
	cJSON *a = tp_apply(m, "l0.json", raw);
	const char *e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, "listen[0]"),
		      "apply with a bad listener: %s", raw);
	cJSON_Delete(a);
	ck_assert_int_eq(tp_listeners(list, sizeof list, raw), 0);
	cJSON_DeleteItemFromArray(ls, 0);

	/* Add one: served. */
	cJSON_AddItemToArray(ls, cJSON_CreateString("127.0.0.1:0"));
	a = tp_apply(m, "l1.json", raw);
	ck_assert_msg(rt_ok(a), "apply adding a listener: %s", raw);
	cJSON_Delete(a);
	ck_assert_int_eq(tp_listeners(list, sizeof list, raw), 1);
	tp_tcp_addr(addr, sizeof addr, raw);
	tp_expect_at(addr, TP_ROUTE_VERSION, "v1");

	/* Remove it again: none, and new connections are refused. */
	cJSON_DeleteItemFromArray(ls, 0);
	a = tp_apply(m, "l2.json", raw);
	ck_assert_msg(rt_ok(a), "apply removing the listener: %s", raw);
	cJSON_Delete(a);
	ck_assert_msg(tp_listeners(list, sizeof list, raw) == 0,
		      "listeners after removing the only one: %s", list);
	char err[256];
	dx_client *c = NULL;
	ck_assert_msg(dx_client_connect(addr, 2000, &c, err, sizeof err) < 0,
		      "%s still accepts after its listener left", addr);

	/* And another (a unix socket) after that: served. */
	snprintf(unix_addr, sizeof unix_addr, "unix:%s/dx.sock", work);
	cJSON_AddItemToArray(ls, cJSON_CreateString(unix_addr));
	a = tp_apply(m, "l3.json", raw);
	ck_assert_msg(rt_ok(a), "apply adding a unix listener: %s", raw);
	cJSON_Delete(a);
	ck_assert_int_eq(tp_listeners(list, sizeof list, raw), 1);
	ck_assert_msg(strstr(list, unix_addr), "status: %s", list);
	tp_expect_at(unix_addr, TP_ROUTE_VERSION, "v1");
	cJSON_Delete(m);
	free(raw);
	tp_passed();
}
END_TEST

/* --- backend ----------------------------------------------------------- */

/* m with reloadtest moved to v2, a unix listener added and io.backend set
 * to backend: an apply of several changes, one of them the backend. */
static cJSON *tp_with_backend(const char *backend)
{
	cJSON *m = tp_manifest();
	cJSON *pl = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(m, "plugins"), 1);
	cJSON_ReplaceItemInObjectCaseSensitive(pl, "path",
					       cJSON_CreateString(v2));
	char unix_addr[160];
	snprintf(unix_addr, sizeof unix_addr, "unix:%s/b.sock", work);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(m, "listen"),
			     cJSON_CreateString(unix_addr));
	cJSON *io = cJSON_GetObjectItemCaseSensitive(m, "io");
	cJSON_ReplaceItemInObjectCaseSensitive(io, "backend",
					       cJSON_CreateString(backend));
	return m;
}

/* What a refused change must leave as it was. */
struct tp_snapshot {
	char plugins[2048], listen[1024], backend[64], addr[64];
};

static void tp_snap(struct tp_snapshot *s, char *raw)
{
	tp_plugins_text(s->plugins, sizeof s->plugins, raw);
	tp_listeners(s->listen, sizeof s->listen, raw);
	tp_backend(s->backend, sizeof s->backend, raw);
	tp_tcp_addr(s->addr, sizeof s->addr, raw);
}

static void tp_same(const struct tp_snapshot *was, const char *when,
		    char *raw)
{
	struct tp_snapshot is;
	tp_snap(&is, raw);
	ck_assert_msg(!strcmp(was->plugins, is.plugins),
		      "%s: plugins were\n%sand are\n%s", when, was->plugins,
		      is.plugins);
	ck_assert_msg(!strcmp(was->listen, is.listen),
		      "%s: listeners were\n%sand are\n%s", when, was->listen,
		      is.listen);
	ck_assert_msg(!strcmp(was->backend, is.backend),
		      "%s: backend was %s, is %s", when, was->backend,
		      is.backend);
	tp_expect_at(was->addr, TP_ROUTE_VERSION, "v1");
}

START_TEST(test_apply_backend_refused)
{
	char *raw = malloc(TP_RAW);
	struct tp_snapshot before;
	tp_snap(&before, raw);
	ck_assert_str_eq(before.backend, "epoll");

	/* A backend no plugin provides. */
	cJSON *m = tp_with_backend("nosuch");
	cJSON *a = tp_apply(m, "b1.json", raw);
	const char *e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, "io.backend") &&
			      strstr(e, "nosuch"),
		      "apply naming backend nosuch: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	tp_same(&before, "after the apply naming nosuch", raw);

	/* The same edits with the backend as it was go in. */
	m = tp_with_backend("epoll");
	a = tp_apply(m, "b3.json", raw);
	ck_assert_msg(rt_ok(a), "the same apply without the backend: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	tp_expect_at(before.addr, TP_ROUTE_VERSION, "v2");
	free(raw);
	tp_passed();
}
END_TEST

/* --- unixpath -------------------------------------------------------- */

/* m with "unix:PATH" added to its listeners. */
static cJSON *tp_with_unix(const char *path)
{
	cJSON *m = tp_manifest();
	char text[PATH_MAX + 8];
	snprintf(text, sizeof text, "unix:%s", path);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(m, "listen"),
			     cJSON_CreateString(text));
	return m;
}

START_TEST(test_apply_unix_path_taken)
{
	char *raw = malloc(TP_RAW);
	struct tp_snapshot before;
	tp_snap(&before, raw);

	/* Another process's live socket. */
	char theirs[96];
	snprintf(theirs, sizeof theirs, "%s/theirs.sock", work);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", theirs);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	cJSON *m = tp_with_unix(theirs);
	cJSON *a = tp_apply(m, "u1.json", raw);
	const char *e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, theirs),
		      "apply taking another process's socket: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	tp_same(&before, "after the apply taking a live socket", raw);
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(connect(c, (struct sockaddr *)&sa, sizeof sa) == 0,
		      "%s no longer reaches its listener: %s", theirs,
		      strerror(errno));
	close(c);
	close(fd);

	/* A file that is no socket. */
	char file[128];
	snprintf(file, sizeof file, "%s/notes.txt", work);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("keep me\n", f);
	fclose(f);
	m = tp_with_unix(file);
	a = tp_apply(m, "u2.json", raw);
	e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, file),
		      "apply binding over a regular file: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	struct stat st;
	ck_assert_msg(stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
			      st.st_size == 8,
		      "%s was removed or changed by a refused apply", file);
	tp_same(&before, "after the apply over a regular file", raw);

	/* A free path in an apply refused later (its backend): no socket
	 * file is left there. */
	char fresh[128];
	snprintf(fresh, sizeof fresh, "%s/fresh.sock", work);
	m = tp_with_unix(fresh);
	cJSON_ReplaceItemInObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(m, "io"), "backend",
		cJSON_CreateString("nosuch"));
	a = tp_apply(m, "u3.json", raw);
	ck_assert_msg(!rt_ok(a), "apply naming backend nosuch: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	ck_assert_msg(access(fresh, F_OK) < 0,
		      "a refused apply left %s behind", fresh);
	tp_same(&before, "after the refused apply with a free path", raw);
	free(raw);
	tp_passed();
}
END_TEST

/* --- cycle ------------------------------------------------------------- */

START_TEST(test_cascade_cycle)
{
	char *raw = malloc(TP_RAW);
	char addr[64], before[2048], after[2048];
	tp_tcp_addr(addr, sizeof addr, raw);
	/* Every plugin's facets are visible to every init at start: each
	 * found the other, and uses it. */
	tp_expect_at(addr, TP_ROUTE_PEER_A, "rt_peer_a->rt_peer_b");
	tp_expect_at(addr, TP_ROUTE_PEER_B, "rt_peer_b->rt_peer_a");

	/* Reloading a: b is reloaded as a user of a, its new instance uses
	 * the new a, whose user... The host must end this, refuse the
	 * reload (rt_ctl bounds the wait) and put everything back. Twice:
	 * the first refusal left the registry sound. */
	tp_plugins_text(before, sizeof before, raw);
	for (int round = 0; round < 2; round++) {
		cJSON *a = tp_cmd("reload", round ? "rt_peer_b" : "rt_peer_a",
				  NULL, raw);
		printf("reload in a cycle: %s\n", raw);
		const char *e = rt_str(a, "error");
		ck_assert_msg(!rt_ok(a) && e && strstr(e, "cycle") &&
				      strstr(e, "rt_peer_a") &&
				      strstr(e, "rt_peer_b"),
			      "reload of a plugin in a cycle (round %d): wanted "
			      "a refusal naming the cycle and both plugins: %s",
			      round, raw);
		cJSON_Delete(a);
		tp_plugins_text(after, sizeof after, raw);
		ck_assert_msg(!strcmp(before, after),
			      "a refused reload changed plugins: was\n%sis\n%s",
			      before, after);
		tp_expect_at(addr, TP_ROUTE_PEER_A, "rt_peer_a->rt_peer_b");
		tp_expect_at(addr, TP_ROUTE_PEER_B, "rt_peer_b->rt_peer_a");
	}
	/* Unloading either is refused while the other uses it. */
	cJSON *a = tp_cmd("unload", "rt_peer_b", NULL, raw);
	ck_assert_msg(!rt_ok(a), "unload of a used plugin went in: %s", raw);
	cJSON_Delete(a);
	tp_plugins_text(after, sizeof after, raw);
	ck_assert_msg(!strcmp(before, after), "a refused unload changed plugins");
	tp_expect_at(addr, TP_ROUTE_PEER_B, "rt_peer_b->rt_peer_a");
	free(raw);
	tp_passed();
}
END_TEST

/* --- handback ---------------------------------------------------------- */

/* m with reloadtest moved to h2 (with config) and a listener on taken
 * (a port another socket holds): the reload step goes in, binding the
 * listener fails after it, the apply is undone. */
static cJSON *tp_failing_move(const char *config, const char *taken)
{
	cJSON *m = tp_manifest();
	cJSON *pls = cJSON_GetObjectItemCaseSensitive(m, "plugins");
	cJSON *pl = cJSON_GetArrayItem(pls, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(pl, "path",
					       cJSON_CreateString(h2));
	cJSON_ReplaceItemInObjectCaseSensitive(pl, "config",
					       cJSON_Parse(config));
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(m, "listen"),
			     cJSON_CreateString(taken));
	return m;
}

START_TEST(test_handback_on_abort)
{
	char *raw = malloc(TP_RAW);
	char addr[64];
	tp_tcp_addr(addr, sizeof addr, raw);
	tp_expect_at(addr, TP_ROUTE_STATE, "h1 n=1 imports=0");
	tp_expect_at(addr, TP_ROUTE_STATE, "h1 n=2 imports=0");
	char taken[64];
	int fd = rt_take_port(taken, sizeof taken);
	ck_assert_msg(fd >= 0, "a port of our own: %s", strerror(errno));

	/* h2 imports h1's state, the apply fails after: h1 gets it back
	 * from h2 (a second import). */
	cJSON *m = tp_failing_move("{}", taken);
	cJSON *a = tp_apply(m, "h1.json", raw);
	const char *e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, "already in use"),
		      "apply with a taken port: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	tp_expect_at(addr, TP_ROUTE_STATE, "h1 n=3 imports=2");
	ck_assert_msg(!tp_log_has("giving the state back failed", 0),
		      "a handback that worked was logged as failed");

	/* h2's export fails: h1 cannot get the state back; the host says
	 * so, with h2's reason, and h1 serves on with the state it had. */
	m = tp_failing_move("{\"export_fails\":true}", taken);
	a = tp_apply(m, "h2.json", raw);
	e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, "already in use"),
		      "apply with a taken port: %s", raw);
	cJSON_Delete(a);
	cJSON_Delete(m);
	ck_assert_msg(tp_log_has("giving the state back failed: reloadtest "
				 "2.1.0 refuses to export (export_fails)",
				 5000),
		      "no log line says why the handback failed");
	tp_expect_at(addr, TP_ROUTE_STATE, "h1 n=4 imports=2");
	tp_expect_at(addr, TP_ROUTE_VERSION, "h1");
	close(fd);

	/* The handoff itself still works: a reload moves the state on. */
	a = tp_cmd("reload", "reloadtest", h2, raw);
	ck_assert_msg(rt_ok(a), "reload to h2: %s", raw);
	cJSON_Delete(a);
	tp_expect_at(addr, TP_ROUTE_STATE, "h2 n=5 imports=3");
	free(raw);
	tp_passed();
}
END_TEST

/* The old instance's export fails: the reload is refused with the
 * exporter's own reason, and h1 serves on with its state. */
START_TEST(test_handoff_export_refused)
{
	char *raw = malloc(TP_RAW);
	char addr[64];
	tp_tcp_addr(addr, sizeof addr, raw);
	tp_expect_at(addr, TP_ROUTE_STATE, "h1 n=1 imports=0");
	cJSON *a = tp_cmd("reload", "reloadtest", h2, raw);
	const char *e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e &&
			      strstr(e, "state handoff failed: reloadtest "
					"1.1.0 refuses to export"),
		      "reload from an instance whose export fails: %s", raw);
	cJSON_Delete(a);
	tp_expect_at(addr, TP_ROUTE_STATE, "h1 n=2 imports=0");
	free(raw);
	tp_passed();
}
END_TEST

/* --- tmpdir ------------------------------------------------------------ */

/* Whether the host maps a file whose path holds needle
 * (/proc/PID/maps). */
static bool tp_maps(const char *needle)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)host_pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The loader cannot make its private copy: it maps the plugin's own file
 * (what /proc/PID/maps shows), and loads and reloads work. */
START_TEST(test_unwritable_tmpdir)
{
	char *raw = malloc(TP_RAW);
	char addr[64];
	tp_tcp_addr(addr, sizeof addr, raw);
	tp_expect_at(addr, TP_ROUTE_VERSION, "v1");
	ck_assert_msg(tp_maps(v1), "the host does not map %s itself", v1);
	cJSON *a = tp_cmd("reload", "reloadtest", v2, raw);
	ck_assert_msg(rt_ok(a), "reload to v2 with TMPDIR unwritable: %s", raw);
	cJSON_Delete(a);
	tp_expect_at(addr, TP_ROUTE_VERSION, "v2");
	ck_assert_msg(tp_maps(v2), "the host does not map %s itself", v2);
	a = tp_cmd("reload", "reloadtest", v1, raw);
	ck_assert_msg(rt_ok(a), "reload back to v1: %s", raw);
	cJSON_Delete(a);
	tp_expect_at(addr, TP_ROUTE_VERSION, "v1");
	/* A reload of the same file (a new instance of the same mapping). */
	a = tp_cmd("reload", "reloadtest", NULL, raw);
	ck_assert_msg(rt_ok(a), "reload of v1 again: %s", raw);
	cJSON_Delete(a);
	tp_expect_at(addr, TP_ROUTE_VERSION, "v1");
	ck_assert_msg(!tp_maps("/dx-reloadtest"),
		      "a private copy is mapped though TMPDIR is unwritable");
	/* Not silently: each load says the file is mapped in place. */
	ck_assert_msg(tp_log_has("is mapped in place (no private copy: ", 0) &&
			      tp_log_has("install new builds by renaming", 0),
		      "no warning that the plugin is mapped in place");
	free(raw);
	tp_passed();
}
END_TEST

/* --- main -------------------------------------------------------------- */

static void tp_path(char *out, const char *dir, const char *file)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/%s", dir ? dir : ".", file);
	if (!dir || !realpath(p, out)) {
		fprintf(stderr, "test_paths: %s: %s (set DX_TEST_PLUGINS)\n", p,
			dir ? strerror(errno) : "no directory");
		exit(1);
	}
}

static void tp_case(Suite *s, const char *name, void (*setup)(void),
		    void (*teardown)(void), const TTest *test)
{
	TCase *tc = tcase_create(name);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_paths DX_HOST\n");
		return 2;
	}
	dx_host = argv[1];
	(void)rt_plugin_entry; /* rt_ctl.h's, for other tests */
	(void)rt_ends_with;
	const char *tp = getenv("DX_TEST_PLUGINS");
	tp_path(v1, tp, "reloadtest_v1.so");
	tp_path(v2, tp, "reloadtest_v2.so");
	tp_path(h1, tp, "reloadtest_h1.so");
	tp_path(h2, tp, "reloadtest_h2.so");
	tp_path(peer_a, tp, "rtpeer_a.so");
	tp_path(peer_b, tp, "rtpeer_b.so");
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("reload_paths");
	tp_case(s, "nolisten", setup_nolisten, tp_teardown,
		test_apply_from_no_listeners);
	tp_case(s, "backend", setup_tcp, tp_teardown,
		test_apply_backend_refused);
	tp_case(s, "unixpath", setup_tcp, tp_teardown,
		test_apply_unix_path_taken);
	tp_case(s, "cycle", setup_cycle, tp_teardown, test_cascade_cycle);
	tp_case(s, "handback", setup_handback, tp_teardown,
		test_handback_on_abort);
	tp_case(s, "export_fails", setup_export_fails, tp_teardown,
		test_handoff_export_refused);
	tp_case(s, "tmpdir", setup_tmpdir, teardown_tmpdir,
		test_unwritable_tmpdir);
	int rc = dx_check_run(s);
	return rc || teardown_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
