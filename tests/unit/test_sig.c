/* test_sig - signal delivery to the control loop (host/src/sig.h).
 *
 * Built once per implementation this system can build: test_sig_linux
 * (sig_linux.c, a signalfd) and test_sig_posix (sig_posix.c, the
 * self-pipe BSD and macOS use); both must pass the same cases. Real
 * signals, sent with kill() to the test's own process (Check forks one
 * per case), as dx-host gets SIGTERM and SIGHUP. Each case blocks the
 * signals first, as dx-host's main does before any thread starts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include "sig.h"

static const int taken[] = {SIGTERM, SIGINT, SIGHUP};
#define NTAKEN (sizeof taken / sizeof *taken)

/* Generous: only a hang may fail on time, never a slow machine. */
#define WAIT_MS 10000

static void block_taken(void)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < NTAKEN; i++)
		sigaddset(&set, taken[i]);
	sigaddset(&set, SIGUSR1);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
}

static dx_sig *open_taken(void)
{
	dx_sig *s = NULL;
	ck_assert_int_eq(dx_sig_open(taken, NTAKEN, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Wait (at most WAIT_MS) for the descriptor and take one signal. */
static int wait_next(dx_sig *s)
{
	struct pollfd p = {dx_sig_fd(s), POLLIN, 0};
	int n;
	do
		n = dx_sig_poll(s, &p, 1, WAIT_MS);
	while (n < 0 && errno == EINTR);
	ck_assert_msg(n == 1, "poll returned %d (%s) within %d ms", n,
		      n < 0 ? strerror(errno) : "timeout", WAIT_MS);
	ck_assert(p.revents & POLLIN);
	return dx_sig_next(s);
}

/* Nothing arrives within ms, and next answers 0 without blocking. */
static void expect_none(dx_sig *s, int ms)
{
	struct pollfd p = {dx_sig_fd(s), POLLIN, 0};
	ck_assert_int_eq(dx_sig_poll(s, &p, 1, ms), 0);
	ck_assert_int_eq(dx_sig_next(s), 0);
}

START_TEST(test_pending_before_open)
{
	/* A SIGTERM that came before the control loop started is not lost. */
	ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
	dx_sig *s = open_taken();
	ck_assert_int_eq(wait_next(s), SIGTERM);
	ck_assert_int_eq(dx_sig_next(s), 0);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_sent_between_polls)
{
	/* Sent while the thread is not polling: pending until the next. */
	dx_sig *s = open_taken();
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
	usleep(10000);
	ck_assert_int_eq(wait_next(s), SIGHUP);
	ck_assert_int_eq(dx_sig_next(s), 0);
	dx_sig_close(s);
}
END_TEST

static void *send_term(void *arg)
{
	(void)arg;
	usleep(50000); /* let the main thread wait first, most times */
	kill(getpid(), SIGTERM);
	return NULL;
}

START_TEST(test_from_another_thread)
{
	/* A process-directed signal reaches the thread that polls, though
	 * another thread sent it and every other thread blocks it. */
	dx_sig *s = open_taken();
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, send_term, NULL), 0);
	ck_assert_int_eq(wait_next(s), SIGTERM);
	pthread_join(t, NULL);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_two_kinds)
{
	dx_sig *s = open_taken();
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
	ck_assert_int_eq(kill(getpid(), SIGINT), 0);
	int got[2] = {0, 0};
	got[0] = wait_next(s);
	got[1] = dx_sig_next(s);
	if (got[1] == 0)
		got[1] = wait_next(s);
	ck_assert_msg((got[0] == SIGHUP && got[1] == SIGINT) ||
			      (got[0] == SIGINT && got[1] == SIGHUP),
		      "got %d and %d, expected SIGHUP and SIGINT", got[0],
		      got[1]);
	ck_assert_int_eq(dx_sig_next(s), 0);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_nothing_waits)
{
	/* No signal: the poll times out, next answers 0 without blocking. */
	dx_sig *s = open_taken();
	expect_none(s, 0);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_other_signal_not_taken)
{
	/* SIGUSR1 is blocked but not asked for: it stays pending, unseen. */
	dx_sig *s = open_taken();
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	expect_none(s, 100);
	sigset_t pend;
	ck_assert_int_eq(sigpending(&pend), 0);
	ck_assert_int_eq(sigismember(&pend, SIGUSR1), 1);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_mask_kept)
{
	/* After a poll that took a signal, the signals are blocked again in
	 * this thread, so threads it starts later (workers, a reload's
	 * helpers) never take them. */
	dx_sig *s = open_taken();
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
	ck_assert_int_eq(wait_next(s), SIGHUP);
	sigset_t cur;
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	for (size_t i = 0; i < NTAKEN; i++)
		ck_assert_msg(sigismember(&cur, taken[i]) == 1,
			      "signal %d unblocked after dx_sig_poll",
			      taken[i]);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_cloexec)
{
	dx_sig *s = open_taken();
	int fl = fcntl(dx_sig_fd(s), F_GETFD);
	ck_assert_int_ge(fl, 0);
	ck_assert(fl & FD_CLOEXEC);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_close_restores)
{
	/* Closing gives the signals back the disposition they had (the test
	 * runner may have set some to SIG_IGN), and a new dx_sig can be
	 * opened. */
	struct sigaction before[NTAKEN];
	for (size_t i = 0; i < NTAKEN; i++)
		ck_assert_int_eq(sigaction(taken[i], NULL, &before[i]), 0);
	dx_sig *s = open_taken();
	if (strcmp(dx_sig_how, "self-pipe") == 0) {
		dx_sig *again = NULL;
		ck_assert_int_eq(dx_sig_open(taken, NTAKEN, &again), -EBUSY);
	}
	dx_sig_close(s);
	for (size_t i = 0; i < NTAKEN; i++) {
		struct sigaction sa;
		ck_assert_int_eq(sigaction(taken[i], NULL, &sa), 0);
		ck_assert_msg(sa.sa_handler == before[i].sa_handler,
			      "signal %d's handler not restored", taken[i]);
	}
	s = open_taken();
	ck_assert_int_eq(kill(getpid(), SIGINT), 0);
	ck_assert_int_eq(wait_next(s), SIGINT);
	dx_sig_close(s);
}
END_TEST

START_TEST(test_bad_signal)
{
	static const int bad[] = {SIGTERM, 0};
	dx_sig *s = NULL;
	ck_assert_int_eq(dx_sig_open(bad, 2, &s), -EINVAL);
	ck_assert_ptr_null(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sig");
	TCase *tc = tcase_create(dx_sig_how);
	tcase_add_checked_fixture(tc, block_taken, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pending_before_open);
	tcase_add_test(tc, test_sent_between_polls);
	tcase_add_test(tc, test_from_another_thread);
	tcase_add_test(tc, test_two_kinds);
	tcase_add_test(tc, test_nothing_waits);
	tcase_add_test(tc, test_other_signal_not_taken);
	tcase_add_test(tc, test_mask_kept);
	tcase_add_test(tc, test_cloexec);
	tcase_add_test(tc, test_close_restores);
	tcase_add_test(tc, test_bad_signal);
	suite_add_tcase(su, tc);
	return dx_check_run(su);
}
