/* test_addr.c - libdx's address parser and connect (dx/addr.h): the
 * manifest's rules and wording, and connecting over TCP and Unix. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include <dx/addr.h>

#include "check_main.h"

static const struct {
	const char *text;
	int rc;
	dx_addr_kind kind;
	const char *host;
	unsigned port;
	bool bracketed;
} parse_cases[] = {
	{"127.0.0.1:7070", 0, DX_ADDR_TCP, "127.0.0.1", 7070, false},
	{"localhost:0", 0, DX_ADDR_TCP, "localhost", 0, false},
	{"*:65535", 0, DX_ADDR_TCP, "*", 65535, false},
	{"[::1]:80", 0, DX_ADDR_TCP, "::1", 80, true},
	{"example.org:443", 0, DX_ADDR_TCP, "example.org", 443, false},
	{"unix:/run/dx.sock", 0, DX_ADDR_UNIX, NULL, 0, false},
	{"unix:rel", 0, DX_ADDR_UNIX, NULL, 0, false},
	{"unix:", DX_ADDR_ENOPATH, DX_ADDR_UNIX, NULL, 0, false},
	{"127.0.0.1", DX_ADDR_ESHAPE, 0, NULL, 0, false},
	{":80", DX_ADDR_ESHAPE, 0, NULL, 0, false},
	{"[::1]80", DX_ADDR_ESHAPE, 0, NULL, 0, false},
	{"[::1", DX_ADDR_ESHAPE, 0, NULL, 0, false},
	{"[]:80", DX_ADDR_ESHAPE, 0, NULL, 0, false},
	{"", DX_ADDR_ESHAPE, 0, NULL, 0, false},
	{"127.0.0.1:", DX_ADDR_EPORT, DX_ADDR_TCP, "127.0.0.1", 0, false},
	{"127.0.0.1:70000", DX_ADDR_EPORT, DX_ADDR_TCP, "127.0.0.1", 0, false},
	{"127.0.0.1:007070", DX_ADDR_EPORT, DX_ADDR_TCP, "127.0.0.1", 0, false},
	{"127.0.0.1:+80", DX_ADDR_EPORT, DX_ADDR_TCP, "127.0.0.1", 0, false},
	{"::1:80", DX_ADDR_EUNBRACKETED, DX_ADDR_TCP, "::1", 80, false},
	/* The port is checked before the host, and the host still filled. */
	{"::1:99999", DX_ADDR_EPORT, DX_ADDR_TCP, "::1", 0, false},
};

START_TEST(test_addr_parse)
{
	dx_addr a;
	const char *t = parse_cases[_i].text;
	int rc = dx_addr_parse(t, &a);
	ck_assert_msg(rc == parse_cases[_i].rc, "%s: %d, want %d", t, rc,
		      parse_cases[_i].rc);
	ck_assert_ptr_eq(a.text, t);
	if (parse_cases[_i].kind)
		ck_assert_int_eq(a.kind, parse_cases[_i].kind);
	if (parse_cases[_i].host)
		ck_assert_str_eq(a.host, parse_cases[_i].host);
	if (parse_cases[_i].host && rc != DX_ADDR_EPORT)
		ck_assert_uint_eq(a.port, parse_cases[_i].port);
	if (rc != DX_ADDR_ESHAPE)
		ck_assert(a.bracketed == parse_cases[_i].bracketed);
	if (a.kind == DX_ADDR_UNIX)
		ck_assert_ptr_eq(a.path, t + 5);
}
END_TEST

START_TEST(test_addr_host_too_long)
{
	char t[300];
	memset(t, 'h', 255);
	strcpy(t + 255, ":80");
	dx_addr a;
	ck_assert_int_eq(dx_addr_parse(t, &a), 0);
	memset(t, 'h', 256);
	strcpy(t + 256, ":80");
	ck_assert_int_eq(dx_addr_parse(t, &a), DX_ADDR_ESHAPE);
}
END_TEST

static const struct {
	const char *text;
	int rc;
	const char *canon;
} numeric_cases[] = {
	{"127.0.0.1:1", 0, "127.0.0.1"},
	{"localhost:1", 0, "127.0.0.1"},
	{"*:1", 0, "0.0.0.0"},
	{"[::1]:1", 0, "::1"},
	{"[0:0:0:0:0:0:0:1]:1", 0, "::1"},
	{"300.1.2.3:80", DX_ADDR_EIPV4, NULL},
	{"example.org:80", DX_ADDR_EIPV4, NULL},
	{"[::g]:80", DX_ADDR_EIPV6, NULL},
	{"[127.0.0.1]:80", DX_ADDR_EIPV6, NULL},
	{"[localhost]:80", DX_ADDR_EIPV6, NULL},
	{"::1:80", DX_ADDR_EUNBRACKETED, NULL},
};

START_TEST(test_addr_numeric)
{
	dx_addr a;
	const char *t = numeric_cases[_i].text;
	int rc = dx_addr_parse(t, &a);
	ck_assert(rc == 0 || rc == DX_ADDR_EUNBRACKETED);
	rc = dx_addr_numeric(&a);
	ck_assert_msg(rc == numeric_cases[_i].rc, "%s: %d, want %d", t, rc,
		      numeric_cases[_i].rc);
	if (numeric_cases[_i].canon)
		ck_assert_str_eq(a.host, numeric_cases[_i].canon);
}
END_TEST

/* The manifest's wording, word for word. */
START_TEST(test_addr_messages)
{
	char buf[256];
	const char *got = "\"x\"";
	ck_assert_str_eq(
		dx_addr_message(DX_ADDR_ESHAPE, got, buf, sizeof buf),
		"expected HOST:PORT, [IPV6]:PORT or unix:PATH, got \"x\"");
	ck_assert_str_eq(dx_addr_message(DX_ADDR_ENOPATH, got, buf, sizeof buf),
			 "expected a socket path after unix:, got \"x\"");
	ck_assert_str_eq(dx_addr_message(DX_ADDR_EPORT, got, buf, sizeof buf),
			 "invalid port in \"x\"; expected a decimal number in "
			 "0..65535 (0 lets the kernel choose)");
	ck_assert_str_eq(
		dx_addr_message(DX_ADDR_EIPV4, got, buf, sizeof buf),
		"invalid IPv4 address in \"x\"; expected a dotted quad such "
		"as 127.0.0.1, localhost or *");
	ck_assert_str_eq(
		dx_addr_message(DX_ADDR_EUNBRACKETED, got, buf, sizeof buf),
		"invalid IPv4 address in \"x\"; write IPv6 addresses in "
		"brackets, as in [::1]:7070");
	ck_assert_str_eq(dx_addr_message(DX_ADDR_EIPV6, got, buf, sizeof buf),
			 "invalid IPv6 address in \"x\"");
	/* Truncated, still terminated. */
	ck_assert_str_eq(dx_addr_message(DX_ADDR_EIPV6, got, buf, 8),
			 "invalid");
}
END_TEST

/* A listener on 127.0.0.1, port chosen by the kernel. */
static int tcp_listener(unsigned *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	socklen_t len = sizeof sin;
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

START_TEST(test_addr_connect_tcp)
{
	unsigned port;
	int l = tcp_listener(&port);
	char text[64], err[256] = "";
	snprintf(text, sizeof text, "localhost:%u", port);
	dx_addr a;
	ck_assert_int_eq(dx_addr_parse(text, &a), 0);
	int fd = dx_addr_connect(&a, 2000, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	close(fd);
	/* Resolve once, connect twice. */
	dx_sockaddr sa[4];
	int n = dx_addr_resolve(&a, sa, 4, err, sizeof err);
	ck_assert_int_ge(n, 1);
	for (int k = 0; k < 2; k++) {
		int f = -1;
		for (int i = 0; i < n && f < 0; i++)
			f = dx_sockaddr_connect(&sa[i], 2000);
		ck_assert_int_ge(f, 0);
		close(f);
	}
	close(l);
	/* Nobody listening now: refused, and the message names it. */
	snprintf(text, sizeof text, "127.0.0.1:%u", port);
	ck_assert_int_eq(dx_addr_parse(text, &a), 0);
	ck_assert_int_eq(dx_addr_connect(&a, 2000, err, sizeof err),
			 -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(err, "connect to 127.0.0.1:"));
}
END_TEST

START_TEST(test_addr_connect_unix)
{
	char dir[] = "/tmp/dx_addr_XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char text[160], path[100], err[256] = "";
	snprintf(path, sizeof path, "%s/s", dir);
	snprintf(text, sizeof text, "unix:%s", path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	dx_addr a;
	ck_assert_int_eq(dx_addr_parse(text, &a), 0);
	int fd = dx_addr_connect(&a, 2000, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	close(fd);
	close(l);
	unlink(path);
	ck_assert_int_lt(dx_addr_connect(&a, 2000, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, text));
	rmdir(dir);
	/* A path longer than sun_path is refused before any socket. */
	char longp[300] = "unix:";
	memset(longp + 5, 'p', 200);
	longp[205] = '\0';
	ck_assert_int_eq(dx_addr_parse(longp, &a), 0);
	ck_assert_int_eq(dx_addr_connect(&a, 2000, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "a Unix socket path must be"));
}
END_TEST

START_TEST(test_addr_resolve_fails)
{
	dx_addr a;
	char err[256];
	ck_assert_int_eq(dx_addr_parse("no-such-host.invalid:80", &a), 0);
	ck_assert_int_eq(dx_addr_connect(&a, 2000, err, sizeof err),
			 -EHOSTUNREACH);
	ck_assert_ptr_nonnull(strstr(err, "no-such-host.invalid:80: "));
}
END_TEST

static Suite *addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_addr_parse, 0,
			    sizeof parse_cases / sizeof parse_cases[0]);
	tcase_add_test(tc, test_addr_host_too_long);
	tcase_add_loop_test(tc, test_addr_numeric, 0,
			    sizeof numeric_cases / sizeof numeric_cases[0]);
	tcase_add_test(tc, test_addr_messages);
	suite_add_tcase(s, tc);
	tc = tcase_create("connect");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_addr_connect_tcp);
	tcase_add_test(tc, test_addr_connect_unix);
	tcase_add_test(tc, test_addr_resolve_fails);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(addr_suite());
}
