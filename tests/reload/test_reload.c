/* test_reload - live reload of a plugin in a real dx-host (issue 10):
 * {"cmd":"reload"} on the control socket, against the builds of
 * tests/plugins/reloadtest.c (v1, v2; v3 whose init fails; abi2 the loader
 * refuses).
 *
 * Every test case gets its own dx-host (an unchecked fixture, so the host
 * is stopped even when the test's fork dies): io_epoll, 2 workers, and
 * reloadtest_v1.so loaded by path with a "fini_file" in the case's temp
 * dir. The interface under test is the control socket's reload and
 * plugins commands (docs/architecture.md, section 8a); the cases:
 *   under_load  50 connections x 16 calls in flight while v1 and v2 take
 *               turns 50 times (and io_epoll, the backend, is reloaded
 *               five times): nothing fails, nothing closes, every
 *               answer is v1 or v2, and a call sent after a reload's answer
 *               runs on the build it loaded.
 *   deferred    a call deferred on v1 is answered by v1 after v2 is
 *               published; v1's fini runs after that, then v1 is unmapped.
 *   timer       a timer v1 armed (its call answered) fires before v1's fini.
 *   refusals    refused files, a failing init and an unknown name: v1
 *               serves on.
 *   plugins     what {"cmd":"plugins"} and the log say after a reload.
 *   load_unload routes_echo loaded and served, refusals with the manifest's
 *               messages, reloadtest unloaded while a call of it is
 *               deferred (answered, then fini), routes_echo unloaded.
 *   apply       under load, one manifest edit adds a middleware, lowers
 *               max_frame and moves reloadtest to v2 with another config;
 *               an edit with a bad
 *               entry and a restart-only key changes nothing.
 *   dependents  (a host of its own: rt_svc and rt_user, which looked up
 *               rt_svc's SERVICE facet) reloading rt_svc reloads rt_user
 *               with it; unloading rt_svc is refused while rt_user uses it.
 *   ratelimit   (a host of its own: routes_echo behind mw_ratelimit) a
 *               client that used its burst stays limited across reloads.
 * usage: test_reload DX_HOST OTHER_PLUGIN_SO (a plugin not named
 * reloadtest; DX_TEST_PLUGINS and DX_PLUGINS set). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <dx/client.h>
#include <dx/plugin.h>

#include "../serve/test_host.h"
#include "../unit/check_main.h"
#include "rt_apply.h"
#include "rt_ctl.h"
#include "rt_load.h"

/* The host's ABI as messages print it ("1.3"), from the SDK's macros. */
#define RT_STR_(x) #x
#define RT_STR(x) RT_STR_(x)
#define RT_HOST_ABI RT_STR(DX_ABI_MAJOR) "." RT_STR(DX_ABI_MINOR)

/* Under AddressSanitizer the host skips dlclose by design (so LeakSanitizer
 * can symbolise plugin frames): an old build stays mapped there. */
#if defined(__SANITIZE_ADDRESS__)
#define RT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_ASAN 1
#endif
#endif
#ifndef RT_ASAN
#define RT_ASAN 0
#endif

#define RT_NAME "reloadtest"
#define RT_ROUTE_VERSION 300
#define RT_ROUTE_ECHO 2 /* routes_echo's echo */
#define RT_ROUTE_SLOW 301
#define RT_ROUTE_LATER 302
#define RT_RAW 32768 /* room for a control answer */

#define LOAD_THREADS 4
#define LOAD_CONNS 50
#define RELOADS 50
#define RELOADS_LIMIT_MS 90000 /* all of them, or the test fails */

static const char *dx_host;
static char v1[PATH_MAX], v2[PATH_MAX], v3[PATH_MAX], abi2[PATH_MAX],
	echo[PATH_MAX], svc1[PATH_MAX], svc2[PATH_MAX], user[PATH_MAX];

/* The current case's host and temp dir (set by the fixture, in the parent:
 * the test's fork sees them as they were). */
static struct dx_test_host host;
static bool host_up;
static char work[64];
static char fini_path[128];
static bool teardown_failed;

/* --- fixture ---------------------------------------------------------- */

/* A temp dir of the case's own (work); false when it could not be made. */
static bool work_make(void)
{
	memset(&host, 0, sizeof host);
	host_up = false;
	snprintf(work, sizeof work, "/tmp/dx-reload.XXXXXX");
	if (mkdtemp(work))
		return true;
	perror("mkdtemp");
	work[0] = '\0';
	return false;
}

static void host_setup(void)
{
	if (!work_make())
		return;
	snprintf(fini_path, sizeof fini_path, "%s/fini.log", work);
	char extra[4 * PATH_MAX];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":2,\"io\":"
		 "{\"backend\":\"epoll\"},\"plugins\":[{\"name\":\"io_epoll\"},"
		 "{\"path\":\"%s\",\"config\":{\"fini_file\":\"%s\"}}]",
		 getenv("DX_PLUGINS"), v1, fini_path);
	host_up = dx_test_host_start(&host, dx_host, extra, NULL) == 0;
}

/* Stop the host (SIGTERM, 15 s, then SIGKILL); it must exit 0: fini of
 * every instance, retired or not, ran cleanly. The log is shown when the
 * case did not pass (no "passed" mark in its dir) or the host did not
 * stop well. */
static void host_teardown(void)
{
	(void)dx_test_host_stop; /* its wait has no bound: this one's has */
	bool passed = rt_marked_passed(work);
	if (host_up) {
		bool ok = rt_host_stop(host.pid);
		if (!ok || !passed)
			dx_test_host_dump(&host);
		teardown_failed |= !ok;
	}
	dx_test_host_clean(&host); /* its dir stays when it did not start */
	rt_work_remove(work);
}

/* The case's last step: tells the teardown not to show the log. */
static void rt_passed(void)
{
	rt_mark_passed(work);
}

/* --- helpers (in the test's fork: they assert) ------------------------ */

static dx_client *rt_connect(void)
{
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	char err[256];
	dx_client *c = NULL;
	int rc = dx_client_connect(host.addr, 5000, &c, err, sizeof err);
	ck_assert_msg(rc == 0, "connect %s: %s", host.addr, err);
	return c;
}

/* One call of route on c: 0 for an RpcResponse (its text in out), else
 * the RpcError status (1 for any other answer). */
static unsigned rt_call_status(dx_client *c, uint16_t route, const char *args,
			       char *out, size_t n)
{
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, route, args, strlen(args), 0, &seq),
			 0);
	ck_assert_msg(dx_client_wait(c, seq, &m, 10000) == 0, "route %u: %s",
		      route, dx_client_error(c));
	snprintf(out, n, "%.*s", (int)m.len, (const char *)m.payload);
	if (m.opcode == DX_HBTP_RPC_RESPONSE)
		return 0;
	return m.status ? m.status : 1; /* another opcode: never a pass */
}

/* Call route with args on c; the answer must be an RpcResponse, its text
 * goes to out. */
static void rt_call(dx_client *c, uint16_t route, const char *args,
		    char *out, size_t n)
{
	unsigned st = rt_call_status(c, route, args, out, n);
	ck_assert_msg(st == 0, "route %u: status %u \"%s\"", route, st, out);
}

/* rt_version on a connection of its own: which build answers now. */
static void rt_assert_version(const char *want, const char *when)
{
	dx_client *c = rt_connect();
	char got[64];
	rt_call(c, RT_ROUTE_VERSION, "", got, sizeof got);
	ck_assert_msg(strcmp(got, want) == 0,
		      "%s: rt_version answered \"%s\", wanted \"%s\"", when, got,
		      want);
	dx_client_close(c);
}

/* A control command that must be answered (ok or not); raw: RT_RAW. */
static cJSON *rt_cmd(const char *cmd, const char *name, const char *path,
		     char *raw)
{
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	cJSON *a = rt_ctl_cmd(host.ctl, cmd, name, path, raw, RT_RAW);
	ck_assert_msg(a != NULL, "{\"cmd\":\"%s\"}: %s", cmd, raw);
	return a;
}

static void rt_expect_error(cJSON *a, const char *raw, const char *want)
{
	const char *err = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && err && strstr(err, want),
		      "wanted an error with \"%s\": %s", want, raw);
	cJSON_Delete(a);
}

static cJSON *rt_reload(const char *path, char *raw)
{
	return rt_cmd("reload", RT_NAME, path, raw);
}

/* The reloadtest entry's "generation" in {"cmd":"plugins"}; its version
 * must be want. */
static double rt_plugin_generation(const char *want, const char *when)
{
	char *raw = malloc(RT_RAW);
	cJSON *p = rt_cmd("plugins", NULL, NULL, raw);
	const cJSON *e = rt_plugin_entry(p, RT_NAME);
	ck_assert_msg(e, "%s: no reloadtest in plugins: %s", when, raw);
	const char *v = rt_str(e, "version");
	ck_assert_msg(v && strcmp(v, want) == 0,
		      "%s: plugins shows reloadtest %s, wanted %s: %s", when,
		      v ? v : "(no version)", want, raw);
	double g = rt_num(e, "generation", -1);
	ck_assert_msg(g >= 0, "%s: reloadtest has no \"generation\": %s", when,
		      raw);
	cJSON_Delete(p);
	free(raw);
	return g;
}

/* The whole of a small text file (malloc'd, NUL-terminated; "" when it is
 * missing). */
static char *rt_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	while (f) {
		size_t k = fread(s + len, 1, cap - len - 1, f);
		len += k;
		if (len < cap - 1)
			break;
		cap *= 2;
		s = realloc(s, cap);
		ck_assert_ptr_nonnull(s);
	}
	s[len] = '\0';
	if (f)
		fclose(f);
	return s;
}

/* How many times needle occurs in s. */
static int rt_count(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Wait up to ms for the file at path to hold needle at least times times:
 * the offset of its first occurrence then, or -1. */
static long rt_wait_for_lines(const char *path, const char *needle,
			      int times, int ms)
{
	int64_t end = rt_now_ms() + ms;
	for (;;) {
		char *s = rt_slurp(path);
		const char *at = strstr(s, needle);
		long off = at && rt_count(s, needle) >= times ? (long)(at - s)
							     : -1;
		free(s);
		if (off >= 0 || rt_now_ms() >= end)
			return off;
		usleep(20000);
	}
}

static long rt_wait_for_line(const char *path, const char *needle, int ms)
{
	return rt_wait_for_lines(path, needle, 1, ms);
}

static void rt_copy(const char *from, const char *to, mode_t mode)
{
	char *cmd = malloc(2 * PATH_MAX + 32);
	snprintf(cmd, 2 * PATH_MAX + 32, "cp '%s' '%s'", from, to);
	ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
	free(cmd);
	ck_assert_int_eq(chmod(to, mode), 0);
}

/* --- a: reload under load --------------------------------------------- */

/* The load's outcome, printed as what: nothing failed, nothing closed,
 * every call answered by v1 or v2, and both builds seen. */
static void rt_load_assert(const struct rt_loader *sum, const char *what,
			   char *counts, size_t n)
{
	snprintf(counts, n,
		 "%d connections: %lu sent, %lu answers (v1 %lu, v2 %lu), "
		 "%lu failed, %lu other, %lu closed, %lu stalled",
		 sum->nconn, sum->sent, sum->answers, sum->v1, sum->v2,
		 sum->failed, sum->bad, sum->closed, sum->stalled);
	printf("%s: %s\n", what, counts);
	fflush(stdout);
	ck_assert_msg(!sum->failure[0], "%s (%s)", sum->failure, counts);
	ck_assert_msg(sum->failed == 0 && sum->bad == 0 && sum->closed == 0 &&
			      sum->stalled == 0 && sum->answers == sum->sent,
		      "%s", counts);
	ck_assert_msg(sum->answers == sum->v1 + sum->v2, "%s", counts);
	ck_assert_msg(sum->v1 > 0 && sum->v2 > 0,
		      "the load never saw one of the builds: %s", counts);
}

START_TEST(test_reload_under_load)
{
	static struct rt_loader load[LOAD_THREADS];
	struct rt_loader sum;
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	ck_assert_int_eq(rt_load_start(load, LOAD_THREADS, LOAD_CONNS,
				       host.addr, RT_ROUTE_VERSION),
			 0);
	/* Reload into traffic, not before it. */
	int64_t t0 = rt_now_ms();
	while (atomic_load(&rt_load_answers) < 2000 && rt_now_ms() - t0 < 10000)
		usleep(10000);
	dx_client *probe = rt_connect();
	char *raw = malloc(RT_RAW);
	double last_gen = rt_plugin_generation("1.0.0", "before the reloads");
	int done = 0;
	for (int i = 0; i < RELOADS; i++) {
		bool to_v2 = i % 2 == 0;
		const char *from = to_v2 ? "1.0.0" : "2.0.0";
		const char *to = to_v2 ? "2.0.0" : "1.0.0";
		const char *tag = to_v2 ? "v2" : "v1";
		unsigned long before = atomic_load(&rt_load_answers);
		cJSON *a = rt_reload(to_v2 ? v2 : v1, raw);
		ck_assert_msg(rt_ok(a), "reload %d of %d (%s -> %s): %s", i + 1,
			      RELOADS, from, to, raw);
		const char *af = rt_str(a, "from"), *at = rt_str(a, "to");
		ck_assert_msg(af && at && !strcmp(af, from) && !strcmp(at, to),
			      "reload %d: wanted %s -> %s: %s", i + 1, from, to,
			      raw);
		double gen = rt_num(a, "generation", -1);
		ck_assert_msg(gen > last_gen,
			      "reload %d: generation %.0f after %.0f: %s", i + 1,
			      gen, last_gen, raw);
		last_gen = gen;
		cJSON_Delete(a);
		/* Every tenth time, the IO backend's plugin too: every worker
		 * moves its live connections onto the new build. */
		if (i % 10 == 5) {
			a = rt_cmd("reload", "io_epoll", NULL, raw);
			ck_assert_msg(rt_ok(a), "reload io_epoll (after %d): %s",
				      i + 1, raw);
			cJSON_Delete(a);
		}
		/* The guarantee: sent after the answer was read, it runs on
		 * the new build. */
		char got[64];
		rt_call(probe, RT_ROUTE_VERSION, "", got, sizeof got);
		ck_assert_msg(strcmp(got, tag) == 0,
			      "reload %d to %s: the next call answered \"%s\" "
			      "(load answers during this reload: %lu)",
			      i + 1, to, got,
			      atomic_load(&rt_load_answers) - before);
		done++;
		ck_assert_msg(rt_now_ms() - t0 < RELOADS_LIMIT_MS,
			      "only %d reloads of %d in %d s", done, RELOADS,
			      RELOADS_LIMIT_MS / 1000);
		usleep(20000); /* let the load run on this generation */
	}
	int64_t reload_ms = rt_now_ms() - t0;
	dx_client_close(probe);
	rt_load_stop(load, LOAD_THREADS, &sum);
	char what[64];
	snprintf(what, sizeof what, "reload under load (%d reloads in %lld ms)",
		 done, (long long)reload_ms);
	char counts[256];
	rt_load_assert(&sum, what, counts, sizeof counts);
	ck_assert_msg(sum.answers > 5000, "too little load: %s", counts);
	cJSON *st = rt_cmd("stats", NULL, NULL, raw);
	double closed = rt_num(cJSON_GetObjectItemCaseSensitive(st, "host"),
			       "closed_by_server", -1);
	ck_assert_msg(closed == 0, "the host closed connections (%s): %s",
		      counts, raw);
	cJSON_Delete(st);
	free(raw);
	rt_passed();
}
END_TEST

/* --- b: a deferred call outlives its build ---------------------------- */

/* Distinct mapped files of the host whose name (not directory) contains
 * "reloadtest", listed into list (a deleted copy counts by its path). */
static int rt_mapped_copies(char *list, size_t n)
{
	char path[64], line[PATH_MAX + 256], seen[16][PATH_MAX];
	int count = 0;
	size_t len = 0;
	list[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/maps", (int)host.pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f)) {
		char *file = strchr(line, '/');
		if (!file)
			continue;
		file[strcspn(file, "\n")] = '\0';
		char *del = strstr(file, " (deleted)");
		if (del)
			*del = '\0';
		/* The copy's name is the host's choice: "NAME.N.so" in the
		 * spec, "dx-reloadtest_v1.XXXXXX.so" elsewhere; both hold it. */
		if (!strstr(strrchr(file, '/') + 1, RT_NAME))
			continue;
		bool dup = false;
		for (int i = 0; i < count && !dup; i++)
			dup = strcmp(seen[i], file) == 0;
		if (dup || count == 16)
			continue;
		snprintf(seen[count++], PATH_MAX, "%s", file);
		if (len < n)
			len += (size_t)snprintf(list + len, n - len, "%s%s",
						len ? ", " : "", file);
	}
	fclose(f);
	return count;
}

START_TEST(test_deferred_across_reload)
{
	dx_client *c = rt_connect();
	char *raw = malloc(RT_RAW);
	int64_t t0 = rt_now_ms();
	uint16_t slow, ver;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, RT_ROUTE_SLOW, "300", 3, 0, &slow),
			 0);
	/* A call behind it on the same connection: once it is answered the
	 * worker has run rt_slow's handler, on v1, and it is deferred. */
	ck_assert_int_eq(dx_client_call(c, RT_ROUTE_VERSION, "", 0, 0, &ver), 0);
	ck_assert_int_eq(dx_client_wait(c, ver, &m, 5000), 0);
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.len == 2 &&
			      !memcmp(m.payload, "v1", 2),
		      "rt_version before the reload: opcode 0x%02x \"%.*s\"",
		      m.opcode, (int)m.len, (const char *)m.payload);
	cJSON *a = rt_reload(v2, raw);
	ck_assert_msg(rt_ok(a), "reload to v2: %s", raw);
	cJSON_Delete(a);
	int64_t reloaded = rt_now_ms() - t0;
	/* Before 300 ms the timer cannot have fired: nothing of v1's end may
	 * be in the file yet. Later (a slow machine) only the order below
	 * tells. */
	if (reloaded < 280) {
		char *s = rt_slurp(fini_path);
		ck_assert_msg(!strstr(s, "reloadtest 1.0.0"),
			      "%lld ms after rt_slow was sent, before its answer, "
			      "the fini file has: %s",
			      (long long)reloaded, s);
		free(s);
	} else {
		printf("deferred: the reload took %lld ms; the early check of "
		       "the fini file was skipped\n",
		       (long long)reloaded);
		fflush(stdout);
	}
	int rc = dx_client_wait(c, slow, &m, 10000);
	int64_t answered = rt_now_ms() - t0;
	ck_assert_msg(rc == 0, "rt_slow never answered (%lld ms): %s",
		      (long long)answered, dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.len == 7 &&
			      !memcmp(m.payload, "v1-slow", 7),
		      "rt_slow (reload at %lld ms, answer at %lld ms): opcode "
		      "0x%02x status %u \"%.*s\"",
		      (long long)reloaded, (long long)answered, m.opcode,
		      m.status, (int)m.len, (const char *)m.payload);
	ck_assert_msg(answered >= 300, "rt_slow 300 answered after %lld ms",
		      (long long)answered);
	dx_client_close(c);

	/* v1's fini comes, and after v1 completed what it owed. */
	long fini = rt_wait_for_line(fini_path, "reloadtest 1.0.0 fini\n", 5000);
	char *s = rt_slurp(fini_path);
	const char *ans = strstr(s, "reloadtest 1.0.0 rt_slow answering\n");
	ck_assert_msg(fini >= 0, "v1's fini did not run within 5 s of the "
				 "answer; fini file: \"%s\"",
		      s);
	ck_assert_msg(ans && ans - s < fini,
		      "v1's fini ran before it answered rt_slow: \"%s\"", s);
	ck_assert_msg(!strstr(s, "reloadtest 2.0.0"),
		      "v2 (serving) ended: \"%s\"", s);
	free(s);
	rt_assert_version("v2", "after v1 retired");

	/* The host lets it go: no longer retiring, logged, unmapped. */
	int64_t end = rt_now_ms() + 5000;
	int retiring = -1;
	do {
		if (retiring > 0)
			usleep(20000);
		cJSON *p = rt_cmd("plugins", NULL, NULL, raw);
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "retiring");
		ck_assert_msg(cJSON_IsArray(r), "no \"retiring\" in %s", raw);
		retiring = cJSON_GetArraySize(r);
		cJSON_Delete(p);
	} while (retiring > 0 && rt_now_ms() < end);
	ck_assert_msg(retiring == 0, "v1 is still retiring 5 s after its "
				     "fini: %s",
		      raw);
	ck_assert_msg(rt_wait_for_line(host.log, "retired reloadtest 1.0.0",
				       5000) >= 0,
		      "no \"retired reloadtest 1.0.0\" line in the host's log");
	if (RT_ASAN) {
		printf("deferred: AddressSanitizer build: the host keeps old "
		       "builds mapped, /proc/PID/maps not checked\n");
		fflush(stdout);
	} else {
		char list[4096];
		int copies;
		end = rt_now_ms() + 5000;
		while ((copies = rt_mapped_copies(list, sizeof list)) != 1 &&
		       rt_now_ms() < end)
			usleep(20000);
		ck_assert_msg(copies == 1,
			      "the host maps %d reloadtest files, wanted 1 (v2's "
			      "copy): %s",
			      copies, list);
	}
	free(raw);
	rt_passed();
}
END_TEST

/* A timer v1 armed for a call it already answered still fires on v1 after
 * v2 is published, and v1's fini waits for it: what the old instance holds
 * is more than its pending requests. */
START_TEST(test_timer_across_reload)
{
	dx_client *c = rt_connect();
	char *raw = malloc(RT_RAW), got[64];
	int64_t t0 = rt_now_ms();
	rt_call(c, RT_ROUTE_LATER, "300", got, sizeof got);
	ck_assert_msg(!strcmp(got, "v1"), "rt_later answered \"%s\"", got);
	dx_client_close(c);
	cJSON *a = rt_reload(v2, raw);
	ck_assert_msg(rt_ok(a), "reload to v2: %s", raw);
	cJSON_Delete(a);
	long fini = rt_wait_for_line(fini_path, "reloadtest 1.0.0 fini\n",
				     10000);
	int64_t waited = rt_now_ms() - t0;
	char *s = rt_slurp(fini_path);
	const char *fired = strstr(s, "reloadtest 1.0.0 rt_later fired\n");
	ck_assert_msg(fini >= 0, "v1's fini did not run within %lld ms of "
				 "rt_later 300: \"%s\"",
		      (long long)waited, s);
	ck_assert_msg(fired && fired - s < fini,
		      "v1's fini ran before the timer it armed fired: \"%s\"",
		      s);
	free(s);
	rt_assert_version("v2", "after v1 retired");
	free(raw);
	rt_passed();
}
END_TEST

/* --- c: refused reloads leave v1 serving ------------------------------ */

START_TEST(test_refusals_keep_old)
{
	char wdir[96], wdir_so[128], wfile[96], wfile_so[128], missing[96];
	snprintf(wdir, sizeof wdir, "%s/wdir", work);
	snprintf(wdir_so, sizeof wdir_so, "%s/reloadtest_v2.so", wdir);
	snprintf(wfile, sizeof wfile, "%s/wfile", work);
	snprintf(wfile_so, sizeof wfile_so, "%s/reloadtest_v2.so", wfile);
	snprintf(missing, sizeof missing, "%s/no_such.so", work);
	ck_assert_int_eq(mkdir(wdir, 0700), 0);
	rt_copy(v2, wdir_so, 0755);
	ck_assert_int_eq(chmod(wdir, 0777), 0); /* not subject to umask */
	ck_assert_int_eq(mkdir(wfile, 0700), 0);
	rt_copy(v2, wfile_so, 0666);
	const struct {
		const char *what, *path, *must[3];
	} cases[] = {
		{"ABI 2", abi2, {"ABI 2.0", RT_HOST_ABI, "incompatible"}},
		{"init fails", v3, {"init failed", "refuses to start", "3.0.0"}},
		{"writable directory", wdir_so, {"writable by group or others"}},
		{"writable file", wfile_so, {"writable by group or others"}},
		{"another plugin", echo, {"not \"reloadtest\"", "routes_echo"}},
		{"missing file", missing, {"no_such.so"}},
	};
	char *raw = malloc(RT_RAW);
	double gen = rt_plugin_generation("1.0.0", "at start");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *a = rt_reload(cases[i].path, raw);
		ck_assert_msg(!rt_ok(a), "reload (%s, %s) was accepted: %s",
			      cases[i].what, cases[i].path, raw);
		const char *err = rt_str(a, "error");
		ck_assert_msg(err, "reload (%s): no \"error\": %s", cases[i].what,
			      raw);
		for (int k = 0; k < 3 && cases[i].must[k]; k++)
			ck_assert_msg(strstr(err, cases[i].must[k]),
				      "reload (%s): the error lacks \"%s\": %s",
				      cases[i].what, cases[i].must[k], raw);
		printf("refused (%s): %s\n", cases[i].what, err);
		fflush(stdout);
		cJSON_Delete(a);
		char when[96];
		snprintf(when, sizeof when, "after the refused reload (%s)",
			 cases[i].what);
		rt_assert_version("v1", when);
		double g = rt_plugin_generation("1.0.0", when);
		ck_assert_msg(g == gen,
			      "%s: reloadtest's generation went %.0f -> %.0f",
			      when, gen, g);
	}
	/* Requests without what the command needs. */
	static const struct {
		const char *line, *want;
	} malformed[] = {
		{"{\"cmd\":\"reload\"}", "reload needs a plugin name"},
		{"{\"cmd\":\"reload\",\"name\":\"reloadtest\",\"path\":7}",
		 "reload: \"path\" must be a string"},
		{"{\"cmd\":\"load\"}", "load needs a plugin entry"},
		{"{\"cmd\":\"unload\"}", "unload needs a plugin name"},
	};
	for (size_t k = 0; k < sizeof malformed / sizeof *malformed; k++) {
		cJSON *req = cJSON_Parse(malformed[k].line);
		cJSON *ans = rt_ctl(host.ctl, req, raw, RT_RAW);
		cJSON_Delete(req);
		ck_assert_msg(ans, "%s: %s", malformed[k].line, raw);
		rt_expect_error(ans, raw, malformed[k].want);
	}
	/* No such plugin. */
	cJSON *a = rt_cmd("reload", "no_such_plugin", NULL, raw);
	ck_assert_msg(!rt_ok(a) && rt_str(a, "error"),
		      "reload no_such_plugin: %s", raw);
	cJSON_Delete(a);
	rt_assert_version("v1", "after the refused reloads");
	ck_assert_msg(rt_plugin_generation("1.0.0", "at the end") == gen,
		      "reloadtest's generation changed");
	char *s = rt_slurp(fini_path);
	ck_assert_msg(!strstr(s, "reloadtest 1.0.0 fini"),
		      "v1's fini ran though every reload was refused: \"%s\"", s);
	free(s);
	free(raw);
	rt_passed();
}
END_TEST

/* --- d: what plugins and the log say ---------------------------------- */

/* A reload's answer must be ok, from -> to, path ending in file. */
static double rt_check_reload(const cJSON *a, const char *raw,
			      const char *from, const char *to,
			      const char *file, double after)
{
	ck_assert_msg(rt_ok(a), "reload %s -> %s: %s", from, to, raw);
	const char *n = rt_str(a, "name"), *f = rt_str(a, "from"),
		   *t = rt_str(a, "to"), *p = rt_str(a, "path");
	ck_assert_msg(n && !strcmp(n, RT_NAME), "name: %s", raw);
	ck_assert_msg(f && !strcmp(f, from) && t && !strcmp(t, to),
		      "wanted %s -> %s: %s", from, to, raw);
	ck_assert_msg(p && p[0] == '/' && rt_ends_with(p, file),
		      "path is not absolute or not %s: %s", file, raw);
	ck_assert_msg(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a,
								    "handoff")),
		      "handoff: reloadtest has no handoff hooks: %s", raw);
	ck_assert_msg(rt_num(a, "ms", -1) >= 0, "no \"ms\": %s", raw);
	double g = rt_num(a, "generation", -1);
	ck_assert_msg(g > after, "generation %.0f, not above %.0f: %s", g,
		      after, raw);
	return g;
}

START_TEST(test_plugins_after_reload)
{
	char *raw = malloc(RT_RAW);
	double g0 = rt_plugin_generation("1.0.0", "at start");

	/* No path: the same file again, a new instance of it. */
	cJSON *a = rt_reload(NULL, raw);
	double g1 = rt_check_reload(a, raw, "1.0.0", "1.0.0",
				    "/reloadtest_v1.so", g0);
	cJSON_Delete(a);
	rt_assert_version("v1", "after reloading v1 from its own path");
	ck_assert_msg(rt_plugin_generation("1.0.0", "after v1 -> v1") == g1,
		      "plugins' generation is not the reload's (%.0f)", g1);

	a = rt_reload(v2, raw);
	double g2 = rt_check_reload(a, raw, "1.0.0", "2.0.0",
				    "/reloadtest_v2.so", g1);
	cJSON_Delete(a);
	rt_assert_version("v2", "after the reload to v2");

	cJSON *p = rt_cmd("plugins", NULL, NULL, raw);
	const cJSON *e = rt_plugin_entry(p, RT_NAME);
	ck_assert_msg(e, "no reloadtest in plugins: %s", raw);
	const char *v = rt_str(e, "version");
	ck_assert_msg(v && !strcmp(v, "2.0.0"), "version: %s", raw);
	ck_assert_msg(rt_num(e, "generation", -1) == g2,
		      "the entry's generation is not the reload's (%.0f): %s",
		      g2, raw);
	ck_assert_msg(rt_num(p, "generation", -1) >= g2,
		      "the answer's generation is below %.0f: %s", g2, raw);
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(e, "file");
	ck_assert_msg(cJSON_IsObject(file), "no \"file\" object: %s", raw);
	ck_assert_msg(rt_ends_with(rt_str(file, "path"), "/reloadtest_v2.so"),
		      "file.path is not v2's: %s", raw);
	struct stat st;
	ck_assert_int_eq(stat(v2, &st), 0);
	ck_assert_msg(rt_num(file, "size", -1) == (double)st.st_size,
		      "file.size is not %lld: %s", (long long)st.st_size, raw);
	ck_assert_msg(cJSON_GetObjectItemCaseSensitive(file, "mtime"),
		      "no file.mtime: %s", raw);
	ck_assert_msg(cJSON_GetObjectItemCaseSensitive(e, "loaded_at"),
		      "no loaded_at: %s", raw);
	ck_assert_msg(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(
			      p, "retiring")),
		      "no \"retiring\" array: %s", raw);
	cJSON_Delete(p);

	/* The log says what changed. */
	char want[128];
	snprintf(want, sizeof want, "generation %.0f", g2);
	ck_assert_msg(rt_wait_for_line(host.log,
				       "reload reloadtest: 1.0.0 -> 2.0.0 (",
				       5000) >= 0,
		      "no \"reload reloadtest: 1.0.0 -> 2.0.0 (FILE)\" log line");
	char *log = rt_slurp(host.log);
	const char *line = strstr(log, "reload reloadtest: 1.0.0 -> 2.0.0 (");
	size_t line_len = strcspn(line, "\n");
	const char *g = strstr(line, want);
	ck_assert_msg(g && g < line + line_len && strstr(line, "reloadtest_v2.so") &&
			      strstr(line, "reloadtest_v2.so") < line + line_len,
		      "the reload's log line lacks the file or \"%s\": %.*s",
		      want, (int)line_len, line);
	free(log);
	/* Both 1.0.0 instances go: the first (v1 -> v1) and the second. */
	ck_assert_msg(rt_wait_for_lines(host.log, "retired reloadtest 1.0.0",
					2, 5000) >= 0,
		      "not two \"retired reloadtest 1.0.0\" log lines within 5 s");
	free(raw);
	rt_passed();
}
END_TEST

/* --- e: load and unload ------------------------------------------------ */

/* {"cmd":"load","plugin":ENTRY} with ENTRY as JSON text. */
static cJSON *rt_load(const char *entry, char *raw)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "load");
	cJSON *pl = cJSON_Parse(entry);
	ck_assert_ptr_nonnull(pl);
	cJSON_AddItemToObject(req, "plugin", pl);
	cJSON *a = rt_ctl(host.ctl, req, raw, RT_RAW);
	cJSON_Delete(req);
	ck_assert_msg(a != NULL, "load %s: %s", entry, raw);
	return a;
}

START_TEST(test_load_unload)
{
	char *raw = malloc(RT_RAW);
	char got[128];
	dx_client *c = rt_connect();
	ck_assert_uint_eq(rt_call_status(c, RT_ROUTE_ECHO, "x", got, sizeof got),
			  404);
	cJSON *a = rt_load("{\"name\": \"routes_echo\"}", raw);
	ck_assert_msg(rt_ok(a), "load routes_echo: %s", raw);
	cJSON_Delete(a);
	/* Served on the connection that was open before the load. */
	ck_assert_uint_eq(rt_call_status(c, RT_ROUTE_ECHO, "x", got, sizeof got),
			  0);
	ck_assert_str_eq(got, "x");
	/* Refusals: the same messages as a manifest entry would get. */
	rt_expect_error(rt_load("{\"name\": \"routes_echo\"}", raw), raw,
			"already taken");
	rt_expect_error(rt_load("{\"name\": \"routes_hello\", \"config\": 5}",
				raw),
			raw, "plugin.config: expected an object, got 5");
	rt_expect_error(rt_load("{\"name\": \"no_such_plugin\"}", raw), raw,
			"plugin.name: plugin \"no_such_plugin\" not found");
	rt_expect_error(rt_cmd("unload", "io_epoll", NULL, raw), raw,
			"swap io to another backend first");
	rt_expect_error(rt_cmd("unload", "no_such_plugin", NULL, raw), raw,
			"unload no_such_plugin: no plugin of that name");
	/* Unload reloadtest while one of its calls is deferred: the call
	 * completes on it, then its fini runs, and new calls find no route. */
	uint16_t slow;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, RT_ROUTE_SLOW, "300", 3, 0, &slow),
			 0);
	ck_assert_uint_eq(
		rt_call_status(c, RT_ROUTE_VERSION, "", got, sizeof got), 0);
	a = rt_cmd("unload", RT_NAME, NULL, raw);
	ck_assert_msg(rt_ok(a), "unload reloadtest: %s", raw);
	cJSON_Delete(a);
	ck_assert_uint_eq(
		rt_call_status(c, RT_ROUTE_VERSION, "", got, sizeof got), 404);
	ck_assert_int_eq(dx_client_wait(c, slow, &m, 10000), 0);
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.len == 7 &&
			      !memcmp(m.payload, "v1-slow", 7),
		      "the deferred call: opcode 0x%02x \"%.*s\"", m.opcode,
		      (int)m.len, (const char *)m.payload);
	ck_assert_msg(rt_wait_for_line(fini_path, "reloadtest 1.0.0 fini",
				       5000) >= 0,
		      "reloadtest's fini did not run after its unload");
	ck_assert_msg(rt_wait_for_line(host.log, "retired reloadtest 1.0.0",
				       5000) >= 0,
		      "no \"retired reloadtest\" line in the log");
	a = rt_cmd("unload", "routes_echo", NULL, raw);
	ck_assert_msg(rt_ok(a), "unload routes_echo: %s", raw);
	cJSON_Delete(a);
	ck_assert_uint_eq(rt_call_status(c, RT_ROUTE_ECHO, "x", got, sizeof got),
			  404);
	dx_client_close(c);
	free(raw);
	rt_passed();
}
END_TEST

/* --- f: mw_ratelimit's buckets carry over ------------------------------ */

/* The host of this case serves routes_echo behind mw_ratelimit, with
 * room for two calls and no refill to speak of. */
static void host_setup_ratelimit(void)
{
	if (!work_make())
		return;
	char extra[2 * PATH_MAX];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":2,\"plugins\":"
		 "[{\"name\":\"io_epoll\"},{\"name\":\"routes_echo\"},"
		 "{\"name\":\"mw_ratelimit\",\"config\":{\"rate\":0.001,"
		 "\"burst\":2}}],\"middleware\":[\"mw_ratelimit\"]",
		 getenv("DX_PLUGINS"));
	host_up = dx_test_host_start(&host, dx_host, extra, NULL) == 0;
}

/* One echo call on c: its status (0: an RpcResponse). */
static unsigned rt_echo_status(dx_client *c)
{
	char got[128];
	return rt_call_status(c, RT_ROUTE_ECHO, "x", got, sizeof got);
}

START_TEST(test_ratelimit_keeps_buckets)
{
	dx_client *c = rt_connect();
	ck_assert_uint_eq(rt_echo_status(c), 0);
	ck_assert_uint_eq(rt_echo_status(c), 0);
	ck_assert_uint_eq(rt_echo_status(c), 429);
	char *raw = malloc(RT_RAW);
	cJSON *a = rt_cmd("reload", "mw_ratelimit", NULL, raw);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "ok")),
		      "reload mw_ratelimit: %s", raw);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a,
								    "handoff")),
		      "reload mw_ratelimit handed no state over: %s", raw);
	cJSON_Delete(a);
	/* The client used its burst before the reload: still limited. */
	ck_assert_uint_eq(rt_echo_status(c), 429);
	a = rt_cmd("reload", "mw_ratelimit", NULL, raw);
	ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "ok")),
		      "second reload: %s", raw);
	cJSON_Delete(a);
	ck_assert_uint_eq(rt_echo_status(c), 429);
	/* The manifest's middleware names it: it cannot go. */
	rt_expect_error(rt_cmd("unload", "mw_ratelimit", NULL, raw), raw,
			"unload mw_ratelimit: the manifest's middleware names it");
	free(raw);
	dx_client_close(c);
	rt_passed();
}
END_TEST

/* --- g: apply ---------------------------------------------------------- */

/* The host's manifest, parsed (the caller edits and writes a copy). */
static cJSON *rt_manifest(void)
{
	char path[96];
	snprintf(path, sizeof path, "%s/m.json", host.dir);
	char *text = rt_slurp(path);
	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	cJSON *m = cJSON_Parse(text);
	free(text);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* Write m to work/NAME and {"cmd":"apply","path":...} it. */
static cJSON *rt_apply(const cJSON *m, const char *name, char *raw)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", work, name);
	cJSON *a = rt_ctl_apply(host.ctl, path, m, raw, RT_RAW);
	ck_assert_msg(a != NULL, "apply %s: %s", path, raw);
	return a;
}

/* How many metadata entries the answer to a call of rt_version has (the
 * version must be want): mw_timing adds x-response-time. */
static size_t rt_meta_of_version(dx_client *c, const char *want)
{
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, RT_ROUTE_VERSION, "", 0, 0, &seq), 0);
	ck_assert_msg(dx_client_wait(c, seq, &m, 10000) == 0, "%s",
		      dx_client_error(c));
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE &&
			      m.len == strlen(want) &&
			      !memcmp(m.payload, want, m.len),
		      "rt_version answered opcode 0x%02x \"%.*s\", wanted %s",
		      m.opcode, (int)m.len, (const char *)m.payload, want);
	return m.meta.count;
}

/* A call of rt_version with a 5,000-byte body on a connection of its own:
 * 0 when answered, else the Close code (its text into why). */
static unsigned rt_big_call(char *why, size_t n)
{
	static char body[5000];
	memset(body, 'x', sizeof body);
	dx_client *c = rt_connect();
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(
		dx_client_call(c, RT_ROUTE_VERSION, body, sizeof body, 0, &seq), 0);
	ck_assert_msg(dx_client_wait(c, seq, &m, 10000) == 0, "%s",
		      dx_client_error(c));
	snprintf(why, n, "%.*s", (int)m.len, (const char *)m.payload);
	unsigned st = m.opcode == DX_HBTP_CLOSE ? m.status : 0;
	dx_client_close(c);
	return st;
}

static bool rt_has_change(const cJSON *a, const char *want)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(a, "changes"))
		if (cJSON_IsString(c) && strcmp(c->valuestring, want) == 0)
			return true;
	return false;
}

/* Under load, a manifest edit adds mw_timing as middleware and moves
 * reloadtest to another file and another config, in one apply: nothing
 * fails, the next call runs on v2 through mw_timing, and the old instance
 * is finalised through its old config. Then an edit with one bad entry
 * (and a key only a restart changes) is refused whole, with every reason
 * and its JSON path, and changes nothing. */
START_TEST(test_apply_under_load)
{
	static struct rt_loader load[LOAD_THREADS];
	struct rt_loader sum;
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	char *raw = malloc(RT_RAW);
	char why[256];
	ck_assert_uint_eq(rt_big_call(why, sizeof why), 0);
	dx_client *probe = rt_connect();
	ck_assert_uint_eq(rt_meta_of_version(probe, "v1"), 0);
	ck_assert_int_eq(rt_load_start(load, LOAD_THREADS, LOAD_CONNS,
				       host.addr, RT_ROUTE_VERSION),
			 0);
	int64_t t0 = rt_now_ms();
	while (atomic_load(&rt_load_answers) < 2000 && rt_now_ms() - t0 < 10000)
		usleep(10000);

	/* The edit: mw_timing loaded and in the chain; reloadtest from v2,
	 * its fini_file elsewhere. */
	char fini2[160];
	snprintf(fini2, sizeof fini2, "%s/fini2.log", work);
	cJSON *m = rt_manifest();
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(m, "plugins");
	cJSON *rt = cJSON_GetArrayItem(plugins, 1);
	cJSON_ReplaceItemInObject(rt, "path", cJSON_CreateString(v2));
	cJSON_ReplaceItemInObject(
		cJSON_GetObjectItemCaseSensitive(rt, "config"), "fini_file",
		cJSON_CreateString(fini2));
	cJSON *timing = cJSON_CreateObject();
	cJSON_AddStringToObject(timing, "name", "mw_timing");
	cJSON_AddItemToArray(plugins, timing);
	cJSON *mw = cJSON_AddArrayToObject(m, "middleware");
	cJSON_AddItemToArray(mw, cJSON_CreateString("mw_timing"));
	cJSON *lim = cJSON_AddObjectToObject(m, "limits");
	cJSON_AddNumberToObject(lim, "max_frame", 4096);
	double gen_before = rt_plugin_generation("1.0.0", "before apply");
	cJSON *a = rt_apply(m, "m2.json", raw);
	ck_assert_msg(rt_ok(a), "apply: %s", raw);
	ck_assert_msg(rt_has_change(a, "load mw_timing") &&
			      rt_has_change(a, "reload reloadtest") &&
			      rt_has_change(a, "middleware") &&
			      rt_has_change(a, "limits"),
		      "apply's changes: %s", raw);
	double gen = rt_num(a, "generation", -1);
	ck_assert_msg(gen > gen_before, "generation %.0f after %.0f: %s", gen,
		      gen_before, raw);
	cJSON_Delete(a);
	/* Sent after the answer: v2, through mw_timing, and a frame over
	 * the new max_frame is refused. */
	ck_assert_uint_ge(rt_meta_of_version(probe, "v2"), 1);
	ck_assert_uint_eq(rt_big_call(why, sizeof why), DX_HBTP_CLOSE_TOO_LARGE);
	ck_assert_msg(strstr(why, "exceeds max_frame 4096"), "Close: %s", why);
	ck_assert_msg(rt_wait_for_line(fini_path, "reloadtest 1.0.0 fini",
				       10000) >= 0,
		      "v1's fini did not run (through its own fini_file)");

	/* One bad entry, one key only a restart changes: refused whole. */
	cJSON *bad = cJSON_Duplicate(m, 1);
	cJSON *echo_entry = cJSON_CreateObject();
	cJSON_AddStringToObject(echo_entry, "path", echo);
	cJSON *cfg = cJSON_AddObjectToObject(echo_entry, "config");
	cJSON_AddNumberToObject(cfg, "no_such_key", 1);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(bad, "plugins"),
			     echo_entry);
	cJSON_ReplaceItemInObject(bad, "workers", cJSON_CreateNumber(3));
	cJSON_ReplaceItemInObject(bad, "middleware", cJSON_CreateArray());
	a = rt_apply(bad, "m3.json", raw);
	const char *err = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && err &&
			      strstr(err, "plugins[3].config.no_such_key") &&
			      strstr(err, "workers: changed from 2 to 3") &&
			      strstr(err, "restart"),
		      "the bad apply's answer: %s", raw);
	ck_assert_int_eq(
		cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(a, "errors")),
		2);
	cJSON_Delete(a);
	cJSON_Delete(bad);
	/* Nothing changed: same generation, same plugins, still v2 through
	 * mw_timing, no routes_echo. */
	ck_assert_msg(rt_plugin_generation("2.0.0", "after the bad apply") ==
			      gen,
		      "the refused apply changed the generation");
	ck_assert_uint_ge(rt_meta_of_version(probe, "v2"), 1);
	char got[64];
	ck_assert_uint_eq(
		rt_call_status(probe, RT_ROUTE_ECHO, "x", got, sizeof got), 404);
	cJSON_Delete(m);

	dx_client_close(probe);
	rt_load_stop(load, LOAD_THREADS, &sum);
	char counts[256];
	rt_load_assert(&sum, "apply under load", counts, sizeof counts);
	free(raw);
	rt_passed();
}
END_TEST

/* The host's listeners, as {"cmd":"status"} lists them, into out (one
 * per line); how many. */
static int rt_listeners(char *out, size_t n, char *raw)
{
	ck_assert_msg(host_up, "the dx-host did not start (its log is above)");
	int count = rt_ctl_listeners(host.ctl, out, n, raw, RT_RAW);
	ck_assert_msg(count >= 0, "{\"cmd\":\"status\"}: %s", raw);
	return count;
}

/* rt_version answers on a new connection to addr. */
static void rt_version_at(const char *addr, const char *want)
{
	char err[256], got[64];
	dx_client *c = NULL;
	ck_assert_msg(dx_client_connect(addr, 5000, &c, err, sizeof err) == 0,
		      "connect %s: %s", addr, err);
	rt_call(c, RT_ROUTE_VERSION, "", got, sizeof got);
	ck_assert_str_eq(got, want);
	dx_client_close(c);
}

/* apply changes the listeners: a unix socket added is served; the TCP
 * listener dropped refuses new connections while a connection it accepted
 * goes on; TCP added back gets a port of its own; a listener whose port
 * another process holds is refused, and nothing changes. */
START_TEST(test_apply_listen)
{
	char *raw = malloc(RT_RAW);
	char list[512], unix_addr[160];
	snprintf(unix_addr, sizeof unix_addr, "unix:%s/dx.sock", work);
	dx_client *old = rt_connect(); /* accepted by the TCP listener */
	ck_assert_int_eq(rt_listeners(list, sizeof list, raw), 1);
	cJSON *m = rt_manifest();
	cJSON *ls = cJSON_GetObjectItemCaseSensitive(m, "listen");
	cJSON_AddItemToArray(ls, cJSON_CreateString(unix_addr));
	cJSON *a = rt_apply(m, "l1.json", raw);
	ck_assert_msg(rt_ok(a) && rt_has_change(a, "listen"), "apply: %s", raw);
	cJSON_Delete(a);
	ck_assert_int_eq(rt_listeners(list, sizeof list, raw), 2);
	ck_assert_msg(strstr(list, unix_addr), "status: %s", list);
	rt_version_at(unix_addr, "v1");

	/* Drop TCP. */
	cJSON_DeleteItemFromArray(ls, 0);
	a = rt_apply(m, "l2.json", raw);
	ck_assert_msg(rt_ok(a), "apply: %s", raw);
	cJSON_Delete(a);
	ck_assert_int_eq(rt_listeners(list, sizeof list, raw), 1);
	char got[64];
	rt_call(old, RT_ROUTE_VERSION, "", got, sizeof got); /* goes on */
	ck_assert_str_eq(got, "v1");
	char err[256];
	dx_client *c = NULL;
	int rc = dx_client_connect(host.addr, 2000, &c, err, sizeof err);
	ck_assert_msg(rc < 0, "%s still accepts after its listener left",
		      host.addr);
	rt_version_at(unix_addr, "v1");

	/* TCP back, on a port of its own. */
	cJSON_AddItemToArray(ls, cJSON_CreateString("127.0.0.1:0"));
	a = rt_apply(m, "l3.json", raw);
	ck_assert_msg(rt_ok(a), "apply: %s", raw);
	cJSON_Delete(a);
	ck_assert_int_eq(rt_listeners(list, sizeof list, raw), 2);
	char tcp[64] = "";
	sscanf(strstr(list, "127.0.0.1:"), "%63s", tcp);
	rt_version_at(tcp, "v1");

	/* A port another process holds: refused whole. */
	char taken[64];
	int fd = rt_take_port(taken, sizeof taken);
	ck_assert_msg(fd >= 0, "a port of our own: %s", strerror(errno));
	cJSON_AddItemToArray(ls, cJSON_CreateString(taken));
	double gen = rt_plugin_generation("1.0.0", "before the refused apply");
	a = rt_apply(m, "l4.json", raw);
	const char *e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e && strstr(e, taken) &&
			      strstr(e, "already in use"),
		      "apply with a taken port: %s", raw);
	cJSON_Delete(a);
	close(fd);
	ck_assert_int_eq(rt_listeners(list, sizeof list, raw), 2);
	ck_assert_msg(rt_plugin_generation("1.0.0", "after") == gen,
		      "a refused apply published");
	rt_version_at(tcp, "v1");

	/* An IO plugin's entry changed: apply does not swap backends onto
	 * a new build; it says to reload it on its own. */
	cJSON_DeleteItemFromArray(ls, cJSON_GetArraySize(ls) - 1);
	cJSON *io = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(m, "plugins"), 0);
	cJSON_AddObjectToObject(io, "config");
	a = rt_apply(m, "l5.json", raw);
	e = rt_str(a, "error");
	ck_assert_msg(!rt_ok(a) && e &&
			      strstr(e, "plugins[0]: reload io_epoll: an IO "
					"plugin is reloaded on its own"),
		      "apply changing io_epoll's entry: %s", raw);
	cJSON_Delete(a);
	ck_assert_msg(rt_plugin_generation("1.0.0", "after") == gen,
		      "a refused apply published");
	cJSON_Delete(m);
	dx_client_close(old);
	free(raw);
	rt_passed();
}
END_TEST

/* --- h: a plugin others use ------------------------------------------- */

static void host_setup_dependents(void)
{
	if (!work_make())
		return;
	snprintf(fini_path, sizeof fini_path, "%s/fini.log", work);
	char extra[4 * PATH_MAX];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":2,\"plugins\":"
		 "[{\"name\":\"io_epoll\"},"
		 "{\"path\":\"%s\",\"config\":{\"fini_file\":\"%s\"}},"
		 "{\"path\":\"%s\",\"config\":{\"fini_file\":\"%s\"}}]",
		 getenv("DX_PLUGINS"), svc1, fini_path, user, fini_path);
	host_up = dx_test_host_start(&host, dx_host, extra, NULL) == 0;
}

#define RT_ROUTE_USER 310
#define RT_ROUTE_FAIL 313

/* A handler that fails (-EIO): the client gets a 500 that names the
 * route, not the errno; the host logs route, plugin and errno, at most
 * DX_FAIL_LOGS_PER_S (5) lines a second per worker and then how many it
 * did not log; stats counts the failures by route. */
START_TEST(test_handler_failure)
{
	char *raw = malloc(RT_RAW);
	char got[128];
	dx_client *c = rt_connect();
	int64_t t0 = rt_now_ms();
	for (int i = 0; i < 200; i++) {
		ck_assert_uint_eq(
			rt_call_status(c, RT_ROUTE_FAIL, "", got, sizeof got),
			500);
		ck_assert_str_eq(got, "route rt_user_fail failed (internal "
				      "error)");
	}
	int64_t secs = (rt_now_ms() - t0) / 1000;
	usleep(1100000); /* a new second: the next failure says the rest */
	ck_assert_uint_eq(rt_call_status(c, RT_ROUTE_FAIL, "", got, sizeof got),
			  500);
	ck_assert_msg(rt_wait_for_line(host.log, "route failures not logged",
				       5000) >= 0,
		      "no line says how many failures were not logged");
	char *log = rt_slurp(host.log);
	ck_assert_ptr_nonnull(log);
	int lines = rt_count(log, "route rt_user_fail (plugin rt_user) failed: "
				  "Input/output error; answered 500");
	ck_assert_msg(lines >= 1 && lines <= 5 * (secs + 3),
		      "%d failure lines in the log for 201 failures in %lld s",
		      lines, (long long)secs + 1);
	free(log);
	cJSON *st = rt_cmd("stats", NULL, NULL, raw);
	double n = rt_num(cJSON_GetObjectItemCaseSensitive(st, "route_failures"),
			  "rt_user_fail", -1);
	ck_assert_msg(n == 201, "route_failures.rt_user_fail %.0f: %s", n, raw);
	cJSON_Delete(st);
	/* A positive return is not success: 500, logged with the value. */
	ck_assert_uint_eq(rt_call_status(c, RT_ROUTE_FAIL + 1, "", got,
					 sizeof got),
			  500);
	ck_assert_str_eq(got, "route rt_user_positive failed (internal "
			      "error)");
	ck_assert_msg(rt_wait_for_line(host.log,
				       "route rt_user_positive (plugin rt_user) "
				       "returned 7, which is neither 0",
				       5000) >= 0,
		      "no line names the positive return");
	dx_client_close(c);
	free(raw);
	rt_passed();
}
END_TEST

/* rt_user calls rt_svc's facet: reloading rt_svc reloads rt_user in the
 * same publish (its new instance looks up the new build), the old pair
 * retires user first, and while rt_user uses rt_svc, rt_svc cannot be
 * unloaded; a reload of rt_svc that fails changes neither. */
START_TEST(test_dependents_reload_together)
{
	char *raw = malloc(RT_RAW);
	char got[64];
	dx_client *c = rt_connect();
	rt_call(c, RT_ROUTE_USER, "", got, sizeof got);
	ck_assert_str_eq(got, "user-v1");
	rt_expect_error(rt_cmd("unload", "rt_svc", NULL, raw), raw,
			"unload rt_svc: plugin \"rt_user\" uses its SERVICE "
			"facet \"rt_svc\"; unload those first");
	/* A failing reload (rt_user's file is not rt_svc) changes nothing. */
	rt_expect_error(rt_cmd("reload", "rt_svc", user, raw), raw,
			"is named \"rt_user\", not \"rt_svc\"");
	rt_call(c, RT_ROUTE_USER, "", got, sizeof got);
	ck_assert_str_eq(got, "user-v1");

	/* A call deferred on the old rt_user, answered after the reload
	 * through the old rt_svc: the old provider must still be there. */
	uint16_t slow;
	ck_assert_int_eq(dx_client_call(c, RT_ROUTE_USER + 1, "300", 3, 0,
					&slow),
			 0);
	rt_call(c, RT_ROUTE_USER, "", got, sizeof got); /* it is deferred */
	/* And a timer of the old rt_user that outlives every request: only
	 * the old user's hold on its provider keeps the old rt_svc loaded
	 * for it. */
	rt_call(c, RT_ROUTE_USER + 2, "600", got, sizeof got);
	ck_assert_str_eq(got, "user-later");
	cJSON *a = rt_cmd("reload", "rt_svc", svc2, raw);
	ck_assert_msg(rt_ok(a), "reload rt_svc: %s", raw);
	const cJSON *with = cJSON_GetObjectItemCaseSensitive(a, "reloaded_with");
	ck_assert_msg(cJSON_GetArraySize(with) == 1 &&
			      !strcmp(cJSON_GetArrayItem(with, 0)->valuestring,
				      "rt_user"),
		      "reloaded_with: %s", raw);
	ck_assert_str_eq(rt_str(a, "to"), "2.0.0");
	cJSON_Delete(a);
	/* Sent after the answer: the user's new instance, on the new build. */
	rt_call(c, RT_ROUTE_USER, "", got, sizeof got);
	ck_assert_str_eq(got, "user-v2");
	dx_client_msg m;
	ck_assert_int_eq(dx_client_wait(c, slow, &m, 10000), 0);
	ck_assert_msg(m.opcode == DX_HBTP_RPC_RESPONSE && m.len == 7 &&
			      !memcmp(m.payload, "slow-v1", 7),
		      "the deferred call: opcode 0x%02x \"%.*s\"", m.opcode,
		      (int)m.len, (const char *)m.payload);
	/* The old user holds the old provider: it goes first. */
	ck_assert_msg(rt_wait_for_line(fini_path, "rt_svc 1.0.0 fini", 10000) >=
			      0,
		      "the old rt_svc was not finalised");
	char *log = rt_slurp(fini_path);
	ck_assert_ptr_nonnull(log);
	const char *l = strstr(log, "rt_user later v1");
	const char *u = strstr(log, "rt_user 1.0.0 fini");
	const char *p = strstr(log, "rt_svc 1.0.0 fini");
	ck_assert_msg(l && u && p && l < u && u < p,
		      "the old rt_user's timer (through the old rt_svc), then "
		      "the old rt_user's fini, then the old rt_svc's:\n%s",
		      log);
	free(log);
	ck_assert_msg(rt_wait_for_line(host.log, "as it uses a reloaded plugin",
				       5000) >= 0,
		      "the log does not say why rt_user was reloaded");
	/* Once the user is gone, the provider may go too. */
	a = rt_cmd("unload", "rt_user", NULL, raw);
	ck_assert_msg(rt_ok(a), "unload rt_user: %s", raw);
	cJSON_Delete(a);
	a = rt_cmd("unload", "rt_svc", NULL, raw);
	ck_assert_msg(rt_ok(a), "unload rt_svc: %s", raw);
	cJSON_Delete(a);
	ck_assert_uint_eq(
		rt_call_status(c, RT_ROUTE_USER, "", got, sizeof got), 404);
	dx_client_close(c);
	free(raw);
	rt_passed();
}
END_TEST

/* dir/file into out, which must exist. */
static void rt_path(char *out, const char *dir, const char *file)
{
	snprintf(out, PATH_MAX, "%s/%s", dir ? dir : "", file);
	if (!dir || access(out, R_OK) != 0) {
		fprintf(stderr, "test_reload: %s: %s (set DX_TEST_PLUGINS; "
				"build the reloadtest plugins)\n",
			out, dir ? strerror(errno) : "no directory");
		exit(1);
	}
}

/* A case with a host of its own. */
static TCase *rt_case(Suite *s, const char *name, int timeout)
{
	TCase *tc = tcase_create(name);
	tcase_add_unchecked_fixture(tc, host_setup, host_teardown);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_reload DX_HOST OTHER_PLUGIN_SO\n");
		return 2;
	}
	dx_host = argv[1];
	const char *tp = getenv("DX_TEST_PLUGINS");
	rt_path(v1, tp, "reloadtest_v1.so");
	rt_path(v2, tp, "reloadtest_v2.so");
	rt_path(v3, tp, "reloadtest_v3.so");
	rt_path(abi2, tp, "reloadtest_abi2.so");
	rt_path(svc1, tp, "rtsvc_v1.so");
	rt_path(svc2, tp, "rtsvc_v2.so");
	rt_path(user, tp, "rtuser.so");
	if (!realpath(argv[2], echo)) {
		fprintf(stderr, "test_reload: %s: %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	/* A load thread writing to a connection the host dropped must see
	 * EPIPE, not die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("reload");
	tcase_add_test(rt_case(s, "under_load", 240), test_reload_under_load);
	tcase_add_test(rt_case(s, "deferred", 60), test_deferred_across_reload);
	tcase_add_test(rt_case(s, "timer", 60), test_timer_across_reload);
	tcase_add_test(rt_case(s, "refusals", 60), test_refusals_keep_old);
	tcase_add_test(rt_case(s, "plugins", 60), test_plugins_after_reload);
	tcase_add_test(rt_case(s, "load_unload", 60), test_load_unload);
	tcase_add_test(rt_case(s, "apply", 120), test_apply_under_load);
	tcase_add_test(rt_case(s, "apply_listen", 60), test_apply_listen);
	TCase *rl = tcase_create("ratelimit");
	tcase_add_unchecked_fixture(rl, host_setup_ratelimit, host_teardown);
	tcase_set_timeout(rl, 60);
	suite_add_tcase(s, rl);
	tcase_add_test(rl, test_ratelimit_keeps_buckets);
	TCase *dep = tcase_create("dependents");
	tcase_add_unchecked_fixture(dep, host_setup_dependents, host_teardown);
	tcase_set_timeout(dep, 60);
	suite_add_tcase(s, dep);
	tcase_add_test(dep, test_handler_failure);
	tcase_add_test(dep, test_dependents_reload_together);
	int rc = dx_check_run(s);
	return rc || teardown_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
