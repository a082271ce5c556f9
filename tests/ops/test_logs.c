/* test_logs.c - the host's log lines: RFC 3339 UTC timestamps with
 * milliseconds on every line, --log-format json giving one object a line
 * that parses (cJSON here, and Python's strict json module when there is
 * a python3), escaping done right (quotes, backslashes, control bytes,
 * bytes that are not UTF-8), and a request's x-request-id on the lines
 * logged while it is handled: the plugin's own lines and the host's line
 * about its failure, and on no other request's lines.
 *
 * argv: the dx-host to run, the logtest plugin (logtest.c). The format
 * functions are also called directly (log.h). */
#include <signal.h>
#include <time.h>

#include <cJSON.h>
#include <check.h>

#include <dx/hbtp.h>
#include <dx/plugin.h>

#include "log.h"
#include "../unit/check_main.h"
#include "ops_host.h"

static const char *g_dx_host;
static const char *g_logtest;

/* The message logfail is sent: every class of byte JSON must escape. */
static const char k_nasty[] = "q\"b\\ \n\t\x01 \xc3\xa9 \xff end";
/* What it must decode to: the same, with the stray byte as U+FFFD. */
static const char k_nasty_decoded[] =
	"logtest said: q\"b\\ \n\t\x01 \xc3\xa9 \xef\xbf\xbd end";
static const char k_weird_id[] = "id \"7\"\n";

/* "2026-12-07T09:01:02.345Z" */
static bool is_ts(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	for (size_t i = 0; i < sizeof shape - 1; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') :
				      s[i] != shape[i])
			return false;
	return true;
}

/* ---- the formatter itself ---- */

START_TEST(timestamp_format)
{
	char ts[25];
	dx_log_timestamp(0, ts);
	ck_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
	dx_log_timestamp(1796634062345999999ull, ts);
	ck_assert_str_eq(ts, "2026-12-07T09:01:02.345Z");
	dx_log_timestamp(1796634062000000000ull + 7000000ull, ts);
	ck_assert_str_eq(ts, "2026-12-07T09:01:02.007Z");
}
END_TEST

static cJSON *parse_line(const char *line, size_t n)
{
	ck_assert_msg(n > 0 && line[n - 1] == '\n', "no newline: %s", line);
	ck_assert_msg(!memchr(line, '\n', n - 1), "two lines: %s", line);
	cJSON *o = cJSON_ParseWithLength(line, n);
	ck_assert_msg(cJSON_IsObject(o), "not a JSON object: %s", line);
	return o;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

START_TEST(json_escaping)
{
	char buf[4096];
	const uint8_t rid[] = "r\"\\\x02";
	size_t n = dx_log_line(buf, sizeof buf, DX_LOG_FORMAT_JSON,
			       1796634062345000000ull, DX_LOG_WARN, "logtest",
			       k_nasty, rid, sizeof rid - 1);
	cJSON *o = parse_line(buf, n);
	ck_assert_str_eq(str(o, "ts"), "2026-12-07T09:01:02.345Z");
	ck_assert_str_eq(str(o, "level"), "warn");
	ck_assert_str_eq(str(o, "plugin"), "logtest");
	ck_assert_str_eq(str(o, "request_id"), "r\"\\\x02");
	ck_assert_str_eq(str(o, "msg"), k_nasty_decoded + 14);
	cJSON_Delete(o);
	/* The host's own lines name no plugin; no request, no request_id. */
	n = dx_log_line(buf, sizeof buf, DX_LOG_FORMAT_JSON, 0, DX_LOG_INFO,
			"dx", "plain", NULL, 0);
	o = parse_line(buf, n);
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "plugin"));
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "request_id"));
	ck_assert_str_eq(str(o, "msg"), "plain");
	cJSON_Delete(o);
}
END_TEST

START_TEST(cut_lines_stay_whole)
{
	char msg[3000];
	memset(msg, '"', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	const uint8_t rid[] = "abc";
	for (size_t cap = DX_LOG_LINE_MIN; cap <= 8192; cap += 401) {
		char buf[8192];
		size_t n = dx_log_line(buf, cap, DX_LOG_FORMAT_JSON, 0,
				       DX_LOG_ERROR, "p", msg, rid, 3);
		ck_assert_uint_lt(n, cap);
		cJSON *o = parse_line(buf, n);
		ck_assert_str_eq(str(o, "request_id"), "abc");
		cJSON_Delete(o);
		n = dx_log_line(buf, cap, DX_LOG_FORMAT_TEXT, 0, DX_LOG_ERROR,
				"p", msg, rid, 3);
		ck_assert_uint_lt(n, cap);
		ck_assert_msg(n > 16 && strcmp(buf + n - 16,
					       " request_id=abc\n") == 0,
			      "text line cut at %zu: %s", cap, buf);
	}
	/* A long id is cut to DX_LOG_RID_MAX bytes, and in text anything
	 * but printable ASCII shows as '?'. */
	uint8_t longid[300];
	memset(longid, 'i', sizeof longid);
	longid[0] = '\n';
	char buf[4096];
	size_t n = dx_log_line(buf, sizeof buf, DX_LOG_FORMAT_TEXT, 0,
			       DX_LOG_INFO, "dx", "m", longid, sizeof longid);
	ck_assert_uint_eq(n, strlen("1970-01-01T00:00:00.000Z info  dx: m "
				    "request_id=\n") +
				     DX_LOG_RID_MAX);
	ck_assert_ptr_nonnull(strstr(buf, "request_id=?iii"));
}
END_TEST

/* ---- a real dx-host ---- */

static void start(ops_host *h, const char *format)
{
	ck_assert_int_eq(ops_host_init(h), 0);
	char extra[600];
	snprintf(extra, sizeof extra, "{\"path\": \"%s\"}", g_logtest);
	ck_assert_int_eq(
		ops_host_manifest(h, "\"127.0.0.1:0\"", "epoll", extra), 0);
	char *argv[] = {(char *)g_dx_host, "-m",           h->manifest,
			"--log-format",    (char *)format, NULL};
	ck_assert_int_eq(ops_host_spawn(h, argv, NULL), 0);
}

/* Every later call on c carries x-request-id rid (NULL: none). */
static void set_request_id(dx_client *c, const char *rid, size_t len)
{
	uint8_t block[512];
	dx_hbtp_meta_writer w;
	if (!rid) {
		ck_assert_int_eq(dx_client_set_meta(c, NULL, 0), 0);
		return;
	}
	ck_assert_int_eq(dx_hbtp_meta_begin(&w, block, sizeof block), 0);
	ck_assert_int_eq(dx_hbtp_meta_add(&w, "x-request-id", rid, len), 0);
	ck_assert_int_eq(dx_hbtp_meta_end(&w), 0);
	ck_assert_int_eq(dx_client_set_meta(c, block, w.len), 0);
}

static dx_client *client(const ops_host *h, const char *rid, size_t rid_len)
{
	unsigned port = ops_log_port(h, 30000);
	ck_assert_msg(port, "dx-host did not come up");
	char addr[64], err[256];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
	dx_client *c;
	ck_assert_msg(dx_client_connect(addr, 5000, &c, err, sizeof err) == 0,
		      "%s", err);
	set_request_id(c, rid, rid_len);
	return c;
}

/* Call route with body; the answer's status (0: a response). */
static unsigned call(dx_client *c, uint16_t route, const char *body)
{
	uint16_t seq;
	dx_client_msg m;
	ck_assert_int_eq(dx_client_call(c, route, body, strlen(body), 0, &seq),
			 0);
	ck_assert_msg(dx_client_wait(c, seq, &m, 20000) == 0, "%s",
		      dx_client_error(c));
	return m.opcode == DX_HBTP_RPC_ERROR ? m.status : 0;
}

/* Stop the host (it must exit 0) and return its log. */
static char *stop(ops_host *h)
{
	kill(h->pid, SIGTERM);
	int st = ops_host_exit(h, 30000);
	char *log = slurp(h->log);
	if (st != 0)
		fprintf(stderr, "%s", log);
	ck_assert_msg(st == 0, "dx-host after SIGTERM: exit %d", st);
	return log;
}

START_TEST(json_lines_carry_the_request_id)
{
	ops_host h;
	start(&h, "json");
	dx_client *tagged = client(&h, "req-42", 6);
	dx_client *plain = client(&h, NULL, 0);
	dx_client *weird = client(&h, k_weird_id, strlen(k_weird_id));
	ck_assert_uint_eq(call(tagged, 61001, k_nasty), 500);
	ck_assert_uint_eq(call(tagged, 61002, "fine"), 0);
	ck_assert_uint_eq(call(plain, 61001, "plain"), 500);
	ck_assert_uint_eq(call(weird, 61002, "weird"), 0);
	dx_client_close(tagged);
	dx_client_close(plain);
	dx_client_close(weird);
	char *log = stop(&h);

	int lines = 0, fail_tagged = 0, fail_plain = 0, found = 0;
	time_t now = time(NULL);
	char today[11];
	strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
	for (char *l = log, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		ck_assert_msg(nl, "last line has no newline: %s", l);
		cJSON *o = parse_line(l, (size_t)(nl - l + 1));
		lines++;
		const char *ts = str(o, "ts"), *lvl = str(o, "level");
		const char *msg = str(o, "msg"), *plug = str(o, "plugin");
		const char *rid = str(o, "request_id");
		ck_assert_msg(ts && is_ts(ts), "ts: %.*s", (int)(nl - l), l);
		/* Around midnight UTC the first lines may be yesterday's. */
		ck_assert_msg(strncmp(ts, today, 10) == 0 || now % 86400 < 600,
			      "ts %s is not today (%s)", ts, today);
		ck_assert_msg(lvl && strstr("error warn info debug", lvl),
			      "level");
		ck_assert_ptr_nonnull(msg);
		if (strcmp(msg, k_nasty_decoded) == 0) {
			ck_assert_str_eq(lvl, "warn");
			ck_assert_str_eq(plug, "logtest");
			ck_assert_str_eq(rid, "req-42");
			found |= 1;
		} else if (strcmp(msg, "logtest ok: fine") == 0) {
			ck_assert_str_eq(rid, "req-42");
			found |= 2;
		} else if (strcmp(msg, "logtest said: plain") == 0) {
			ck_assert_ptr_null(rid);
			found |= 4;
		} else if (strcmp(msg, "logtest ok: weird") == 0) {
			ck_assert_str_eq(rid, k_weird_id);
			found |= 8;
		} else if (strncmp(msg, "route logfail (plugin logtest) failed",
				   37) == 0) {
			ck_assert_ptr_null(plug); /* the host's line */
			ck_assert_str_eq(lvl, "error");
			if (rid && strcmp(rid, "req-42") == 0)
				fail_tagged++;
			else if (!rid)
				fail_plain++;
		} else {
			/* Startup and shutdown: no request. */
			ck_assert_msg(!rid, "request_id on \"%s\"", msg);
		}
		cJSON_Delete(o);
	}
	ck_assert_int_eq(found, 15);
	ck_assert_int_eq(fail_tagged, 1);
	ck_assert_int_eq(fail_plain, 1);
	ck_assert_int_gt(lines, 5);
	/* Python's json is strict about UTF-8 too: every line must load. */
	if (system("command -v python3 >/dev/null 2>&1") == 0) {
		char cmd[400];
		snprintf(cmd, sizeof cmd,
			 "python3 -c 'import json,sys\n"
			 "for l in open(sys.argv[1], \"rb\"): "
			 "json.loads(l.decode(\"utf-8\"))' '%s'",
			 h.log);
		ck_assert_msg(system(cmd) == 0, "python3 json.loads refused %s",
			      h.log);
	}
	free(log);
	ops_host_done(&h, false);
}
END_TEST

/* The line that sums up the failures not logged in the last second is
 * about those requests, not the one running when it is written. */
START_TEST(summary_line_has_no_request_id)
{
	ops_host h;
	start(&h, "json");
	/* One connection, so one worker: untagged calls, then a tagged one. */
	dx_client *c = client(&h, NULL, 0);
	/* More than DX_FAIL_LOGS_PER_S (5) failures in one second, then,
	 * in a later second, the tagged one, while which the summary of
	 * the quiet ones is written. The host counts by CLOCK_MONOTONIC
	 * seconds: start the burst early in one, so it does not straddle
	 * two. */
	while (now_ms() % 1000 > 200)
		sleep_ms(10);
	for (int i = 0; i < 20; i++)
		ck_assert_uint_eq(call(c, 61001, "quiet"), 500);
	sleep_ms(1100);
	set_request_id(c, "req-9", 5);
	ck_assert_uint_eq(call(c, 61001, "loud"), 500);
	dx_client_close(c);
	char *log = stop(&h);
	int summaries = 0, loud = 0;
	for (char *l = log, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		ck_assert_ptr_nonnull(nl);
		cJSON *o = parse_line(l, (size_t)(nl - l + 1));
		const char *msg = str(o, "msg"), *rid = str(o, "request_id");
		if (strstr(msg, "more route failures not logged")) {
			ck_assert_msg(!rid, "summary carries %s", rid);
			summaries++;
		}
		if (strcmp(msg, "logtest said: loud") == 0) {
			ck_assert_str_eq(rid, "req-9");
			loud++;
		}
		cJSON_Delete(o);
	}
	ck_assert_int_gt(summaries, 0);
	ck_assert_int_eq(loud, 1);
	free(log);
	ops_host_done(&h, false);
}
END_TEST

START_TEST(text_lines_have_timestamps)
{
	ops_host h;
	start(&h, "text");
	dx_client *tagged = client(&h, "req-7", 5);
	ck_assert_uint_eq(call(tagged, 61001, "boom"), 500);
	dx_client_close(tagged);
	char *log = stop(&h);
	int tagged_lines = 0, lines = 0;
	for (char *l = log, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		lines++;
		/* "TS LEVEL who: message", the level padded to 5. */
		ck_assert_msg(is_ts(l) && l[24] == ' ', "no timestamp: %s", l);
		const char *lv = l + 25;
		ck_assert_msg(strncmp(lv, "error ", 6) == 0 ||
				      strncmp(lv, "warn  ", 6) == 0 ||
				      strncmp(lv, "info  ", 6) == 0 ||
				      strncmp(lv, "debug ", 6) == 0,
			      "level: %s", l);
		ck_assert_msg(strstr(lv + 6, ": "), "who: %s", l);
		if (strstr(l, "request_id=")) {
			ck_assert_msg(strcmp(nl - 17, " request_id=req-7") == 0,
				      "request id not last: %s", l);
			ck_assert_msg(strstr(l, " warn  logtest: logtest said: "
						"boom") ||
					      strstr(l,
						     " error dx: route logfail "
						     "(plugin logtest) failed"),
				      "tagged: %s", l);
			tagged_lines++;
		}
	}
	ck_assert_int_eq(tagged_lines, 2);
	ck_assert_int_gt(lines, 4);
	free(log);
	ops_host_done(&h, false);
}
END_TEST

START_TEST(bad_format_is_a_usage_error)
{
	ops_host h;
	ck_assert_int_eq(ops_host_init(&h), 0);
	char *argv[] = {(char *)g_dx_host, "-m",  h.manifest,
			"--log-format",    "xml", NULL};
	ck_assert_int_eq(ops_host_spawn(&h, argv, NULL), 0);
	int st = ops_host_exit(&h, 30000);
	ck_assert_msg(st == 2, "exit %d", st);
	ck_assert_msg(ops_log_has(&h, "--log-format: unknown format \"xml\"",
				  0),
		      "no reason given");
	ops_host_done(&h, false);
}
END_TEST

START_TEST(json_startup_errors_are_json)
{
	ops_host h;
	ck_assert_int_eq(ops_host_init(&h), 0);
	FILE *f = fopen(h.manifest, "w");
	fputs("{\"dx\": 1, \"listen\": [\"127.0.0.1:0\"], \"bogus\": 1}\n", f);
	fclose(f);
	char *argv[] = {(char *)g_dx_host, "-m",   h.manifest,
			"--log-format",    "json", NULL};
	ck_assert_int_eq(ops_host_spawn(&h, argv, NULL), 0);
	int st = ops_host_exit(&h, 30000);
	ck_assert_msg(st == 1, "exit %d", st);
	char *log = slurp(h.log);
	char *nl = strchr(log, '\n');
	ck_assert_ptr_nonnull(nl);
	cJSON *o = parse_line(log, (size_t)(nl - log + 1));
	ck_assert_str_eq(str(o, "level"), "error");
	ck_assert_msg(strstr(str(o, "msg"), "bogus"), "msg: %s", str(o, "msg"));
	cJSON_Delete(o);
	free(log);
	ops_host_done(&h, false);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_logs DX_HOST LOGTEST_SO\n");
		return 2;
	}
	g_dx_host = argv[1];
	g_logtest = argv[2];
	Suite *s = suite_create("logs");
	TCase *tc = tcase_create("logs");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, timestamp_format);
	tcase_add_test(tc, json_escaping);
	tcase_add_test(tc, cut_lines_stay_whole);
	tcase_add_test(tc, json_lines_carry_the_request_id);
	tcase_add_test(tc, summary_line_has_no_request_id);
	tcase_add_test(tc, text_lines_have_timestamps);
	tcase_add_test(tc, bad_format_is_a_usage_error);
	tcase_add_test(tc, json_startup_errors_are_json);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
