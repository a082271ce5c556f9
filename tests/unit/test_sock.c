/* test_sock - sockets born close-on-exec (sdk/src/sock.h).
 *
 * Built once per implementation this system can build: test_sock_accept4
 * (sock_accept4.c: SOCK_CLOEXEC and accept4) and test_sock_posix
 * (sock_posix.c: fcntl after socket and accept, as on macOS); both must
 * pass the same cases, on real unix and TCP sockets. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "sock.h"

static char dir[64];
static struct sockaddr_un addr = {.sun_family = AF_UNIX};

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/dx-test-sock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s/l", dir);
}

static void remove_dir(void)
{
	unlink(addr.sun_path);
	rmdir(dir);
}

static void check_flags(int fd, bool nonblock)
{
	int fd_fl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
	ck_assert_int_ge(fd_fl, 0);
	ck_assert_int_ge(fl, 0);
	ck_assert_msg(fd_fl & FD_CLOEXEC, "fd %d not close-on-exec", fd);
	ck_assert_msg(!!(fl & O_NONBLOCK) == nonblock, "fd %d is %sblocking",
		      fd, fl & O_NONBLOCK ? "non-" : "");
}

/* A non-blocking unix listener at addr, and a client connected to it. */
static int listen_unix(int *client)
{
	int l = dx_sock_open(AF_UNIX, SOCK_STREAM, DX_SOCK_NONBLOCK);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&addr, sizeof addr), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	*client = dx_sock_open(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(*client, 0);
	ck_assert_int_eq(
		connect(*client, (struct sockaddr *)&addr, sizeof addr), 0);
	return l;
}

START_TEST(test_open_flags)
{
	int families[] = {AF_UNIX, AF_INET, AF_INET6};
	for (size_t i = 0; i < 3; i++) {
		int a = dx_sock_open(families[i], SOCK_STREAM, 0);
		int b = dx_sock_open(families[i], SOCK_STREAM,
				     DX_SOCK_NONBLOCK);
		if (families[i] == AF_INET6 && a == -EAFNOSUPPORT)
			continue; /* a machine without IPv6 */
		ck_assert_int_ge(a, 0);
		ck_assert_int_ge(b, 0);
		check_flags(a, false);
		check_flags(b, true);
		close(a);
		close(b);
	}
}
END_TEST

START_TEST(test_open_error)
{
	/* The system's refusal comes back as a negative errno, not -1. */
	ck_assert_int_eq(dx_sock_open(AF_UNIX, 12345, 0), -EINVAL);
}
END_TEST

START_TEST(test_accept_blocking_from_nonblocking)
{
	/* The listener is non-blocking; what accept hands out is blocking
	 * unless asked (BSD's accept() would pass O_NONBLOCK on). */
	int c, l = listen_unix(&c);
	int a = dx_sock_accept(l, 0);
	ck_assert_int_ge(a, 0);
	check_flags(a, false);
	int c2 = dx_sock_open(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c2, (struct sockaddr *)&addr, sizeof addr), 0);
	int b = dx_sock_accept(l, DX_SOCK_NONBLOCK);
	ck_assert_int_ge(b, 0);
	check_flags(b, true);
	/* Nothing left to accept: the listener's EAGAIN, negated. */
	int none = dx_sock_accept(l, 0);
	ck_assert_msg(none == -EAGAIN || none == -EWOULDBLOCK,
		      "accept with nothing pending gave %d", none);
	close(a);
	close(b);
	close(c);
	close(c2);
	close(l);
}
END_TEST

START_TEST(test_no_sigpipe)
{
	/* A send to a closed peer fails with EPIPE instead of killing the
	 * process (SIGPIPE's default would end this forked case). */
	signal(SIGPIPE, SIG_DFL);
	int c, l = listen_unix(&c);
	int a = dx_sock_accept(l, 0);
	ck_assert_int_ge(a, 0);
	close(c);
	ssize_t n = 0;
	for (int i = 0; i < 4 && n >= 0; i++)
		n = send(a, "x", 1, DX_MSG_NOSIGNAL);
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, EPIPE);
	close(a);
	close(l);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sock");
	TCase *tc = tcase_create("sock");
	tcase_add_checked_fixture(tc, make_dir, remove_dir);
	tcase_add_test(tc, test_open_flags);
	tcase_add_test(tc, test_open_error);
	tcase_add_test(tc, test_accept_blocking_from_nonblocking);
	tcase_add_test(tc, test_no_sigpipe);
	suite_add_tcase(su, tc);
	return dx_check_run(su);
}
