/* test_kqueue_emu.c - the kqueue emulation (tests/kqueue_emu) against the
 * semantics kqueue(2) documents (FreeBSD; macOS where they agree): one
 * short case per filter and per flag it implements, on real pipes, real
 * sockets (AF_UNIX pairs, TCP on 127.0.0.1), real timers and
 * EVFILT_USER triggered from other threads. This file: the kqueue itself,
 * EVFILT_READ, EVFILT_WRITE, the flags and change errors;
 * test_kqueue_emu_timer_user.c: the timer and user filters.
 *
 * Durations are only bounded from below where kqueue promises it and
 * generously from above, to catch a hang. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "test_kqueue_emu.h"

#include "../unit/check_main.h"

/* ---- the kqueue itself ---- */

START_TEST(test_kq_is_fd)
{
	int p[2], kq = kq_pipe(p);
	struct pollfd pf = {.fd = kq, .events = POLLIN};
	ck_assert_int_eq(poll(&pf, 1, 0), 0); /* nothing pending */
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	put(p[1], 1);
	ck_assert_int_eq(poll(&pf, 1, HANG_MS), 1);
	/* Level-triggered and unread: still pending after delivery. */
	wait_one(kq);
	ck_assert_int_eq(poll(&pf, 1, 0), 1);
	ck_assert_int_eq(close(kq), 0);
	struct kevent ev;
	ck_assert_int_eq(wait_ms(kq, &ev, 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_timeout_arg)
{
	int kq = new_kq();
	struct kevent ev;
	struct timespec zero = {0, 0};
	ck_assert_int_eq(kevent(kq, NULL, 0, &ev, 1, &zero), 0);
	int64_t t0 = now_ms();
	ck_assert_int_eq(wait_ms(kq, &ev, 1, 50), 0);
	ck_assert_int_ge(now_ms() - t0, 50); /* a timeout never ends early */
	/* nevents 0: changes only, even with a NULL (forever) timeout. */
	ck_assert_int_eq(change(kq, 1, EVFILT_USER, EV_ADD, 0, 0, NULL), 0);
	struct timespec bad = {0, 1000000000};
	ck_assert_int_eq(kevent(kq, NULL, 0, &ev, 1, &bad), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(kq);
}
END_TEST

static void on_usr1(int sig)
{
	(void)sig;
}

typedef struct interrupter {
	pthread_t target;
	atomic_bool done;
} interrupter;

/* SIGUSR1 every 50 ms until done: one lands while kevent waits. */
static void *send_usr1(void *arg)
{
	interrupter *it = arg;
	struct timespec d = {0, 50000000};
	while (!atomic_load(&it->done)) {
		nanosleep(&d, NULL);
		pthread_kill(it->target, SIGUSR1);
	}
	return NULL;
}

START_TEST(test_eintr)
{
	struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	int kq = new_kq();
	interrupter it = {.target = pthread_self()};
	pthread_t t;
	pthread_create(&t, NULL, send_usr1, &it);
	struct kevent ev;
	int r = kevent(kq, NULL, 0, &ev, 1, NULL), e = errno;
	atomic_store(&it.done, true);
	pthread_join(t, NULL);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(e, EINTR);
	close(kq);
}
END_TEST

/* ---- EVFILT_READ ---- */

START_TEST(test_read_pipe_level)
{
	int p[2], kq = kq_pipe(p);
	int tag;
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, &tag);
	expect_none(kq);
	put(p[1], 5);
	struct kevent ev = wait_one(kq);
	ck_assert_uint_eq(ev.ident, (uintptr_t)p[0]);
	ck_assert_int_eq(ev.filter, EVFILT_READ);
	ck_assert_int_eq(ev.data, 5);
	ck_assert_ptr_eq(ev.udata, &tag);
	ck_assert_int_eq(ev.flags & (EV_EOF | EV_ERROR), 0);
	ev = wait_one(kq); /* level: again while unread */
	ck_assert_int_eq(ev.data, 5);
	char buf[8];
	ck_assert_int_eq(read(p[0], buf, sizeof buf), 5);
	expect_none(kq);
	put(p[1], 2);
	ck_assert_int_eq(wait_one(kq).data, 2);
	close(p[1]); /* the writers are gone: EOF, data still readable */
	ev = wait_one(kq);
	ck_assert(ev.flags & EV_EOF);
	ck_assert_int_eq(ev.data, 2);
	close(p[0]);
	close(kq);
}
END_TEST

START_TEST(test_read_socket_eof)
{
	int kq = new_kq(), s[2];
	nb_pair(s);
	CHANGE_OK(kq, s[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	put(s[1], 3);
	struct kevent ev = wait_one(kq);
	ck_assert_int_eq(ev.data, 3);
	ck_assert_int_eq(ev.flags & EV_EOF, 0);
	shutdown(s[1], SHUT_WR);
	ev = wait_one(kq);
	ck_assert(ev.flags & EV_EOF);
	ck_assert_int_eq(ev.data, 3);
	ck_assert_uint_eq(ev.fflags, 0); /* no error: a clean shutdown */
	close(s[0]);
	close(s[1]);
	close(kq);
}
END_TEST

START_TEST(test_read_listen_backlog)
{
	struct sockaddr_in a;
	int kq = new_kq(), l = tcp_listener(&a);
	CHANGE_OK(kq, l, EVFILT_READ, EV_ADD, 0, 0, NULL);
	expect_none(kq);
	int c[3];
	for (int i = 0; i < 3; i++)
		c[i] = tcp_connect(&a);
	/* Level-triggered: each report says how many wait to be accepted
	 * (the last handshake may still be on its way). */
	int64_t n, t0 = now_ms();
	while ((n = wait_one(kq).data) < 3 && now_ms() - t0 < HANG_MS) {
	}
	ck_assert_int_eq(n, 3);
	int fd = accept(l, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(wait_one(kq).data, 2);
	close(fd);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(l);
	close(kq);
}
END_TEST

/* The peer resets the connection: EV_EOF with the error in fflags, on
 * both filters. */
START_TEST(test_eof_fflags_error)
{
	struct sockaddr_in a;
	int kq = new_kq(), l = tcp_listener(&a);
	int c = tcp_connect(&a);
	int srv = accept(l, NULL, NULL);
	ck_assert_int_ge(srv, 0);
	CHANGE_OK(kq, c, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	expect_none(kq);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(srv); /* RST */
	struct kevent ev = wait_one(kq);
	ck_assert(ev.flags & EV_EOF);
	ck_assert_uint_eq(ev.fflags, ECONNRESET);
	CHANGE_OK(kq, c, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	ev = wait_one(kq);
	ck_assert_int_eq(ev.filter, EVFILT_WRITE);
	ck_assert(ev.flags & EV_EOF);
	ck_assert_uint_eq(ev.fflags, ECONNRESET);
	close(c);
	close(l);
	close(kq);
}
END_TEST

/* ---- EVFILT_WRITE ---- */

START_TEST(test_write_pipe)
{
	int p[2], kq = kq_pipe(p);
	int size = fcntl(p[1], F_GETPIPE_SZ);
	CHANGE_OK(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	struct kevent ev = wait_one(kq);
	ck_assert_int_eq(ev.filter, EVFILT_WRITE);
	ck_assert_int_eq(ev.data, size);
	put(p[1], 1000);
	ck_assert_int_eq(wait_one(kq).data, size - 1000);
	close(p[0]); /* the readers are gone */
	ev = wait_one(kq);
	ck_assert(ev.flags & EV_EOF);
	close(p[1]);
	close(kq);
}
END_TEST

START_TEST(test_write_socket_full)
{
	int kq = new_kq(), s[2];
	nb_pair(s);
	CHANGE_OK(kq, s[0], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	ck_assert_int_gt(wait_one(kq).data, 0);
	char buf[4096];
	memset(buf, 'y', sizeof buf);
	while (write(s[0], buf, sizeof buf) > 0) {
	}
	ck_assert_int_eq(errno, EAGAIN);
	expect_none(kq); /* full: not writable */
	while (read(s[1], buf, sizeof buf) > 0) {
	}
	ck_assert_int_gt(wait_one(kq).data, 0);
	close(s[1]); /* peer gone: can send no more */
	ck_assert(wait_one(kq).flags & EV_EOF);
	close(s[0]);
	close(kq);
}
END_TEST

/* ---- flags ---- */

START_TEST(test_clear)
{
	int p[2], kq = kq_pipe_read(p, EV_CLEAR);
	struct kevent ev = wait_one(kq);
	ck_assert_int_eq(ev.data, 1);
	ck_assert(ev.flags & EV_CLEAR);
	expect_none(kq); /* unread, but nothing changed */
	put(p[1], 1);
	ck_assert_int_eq(wait_one(kq).data, 2);
	expect_none(kq);
	/* A write knote on the same fd is not woken by read edges. */
	int s[2];
	nb_pair(s);
	CHANGE_OK(kq, s[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL);
	ck_assert_int_eq(wait_one(kq).filter, EVFILT_WRITE);
	CHANGE_OK(kq, s[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	put(s[1], 1);
	ck_assert_int_eq(wait_one(kq).filter, EVFILT_READ);
	expect_none(kq);
	close(s[0]);
	close(s[1]);
	close_all(kq, p);
}
END_TEST

START_TEST(test_oneshot)
{
	int p[2], kq = kq_pipe_read(p, EV_ONESHOT);
	ck_assert(wait_one(kq).flags & EV_ONESHOT);
	expect_none(kq); /* deleted after delivery */
	CHANGE_FAILS(ENOENT, kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	close_all(kq, p);
}
END_TEST

START_TEST(test_dispatch)
{
	int p[2], kq = kq_pipe_read(p, EV_DISPATCH);
	wait_one(kq);
	expect_none(kq); /* disabled after delivery */
	put(p[1], 1);
	expect_none(kq);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ck_assert_int_eq(wait_one(kq).data, 2);
	expect_none(kq);
	close_all(kq, p);
}
END_TEST

START_TEST(test_enable_disable)
{
	int p[2], kq = kq_pipe(p);
	put(p[1], 1);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, NULL);
	expect_none(kq); /* added disabled */
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	wait_one(kq);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	expect_none(kq);
	/* Re-adding modifies (udata) without enabling; no duplicate. */
	int tag;
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, &tag);
	expect_none(kq);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ENABLE | EV_KEEPUDATA, 0, 0, NULL);
	struct kevent ev[2];
	ck_assert_int_eq(wait_ms(kq, ev, 2, HANG_MS), 1);
	ck_assert_ptr_eq(ev[0].udata, &tag);
	close_all(kq, p);
}
END_TEST

START_TEST(test_delete)
{
	int p[2], kq = kq_pipe(p);
	CHANGE_FAILS(ENOENT, kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHANGE_FAILS(ENOENT, kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	put(p[1], 1);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	expect_none(kq);
	/* After close(), as on FreeBSD: EBADF (the knote went with it). */
	CHANGE_OK(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
	close(p[1]);
	CHANGE_FAILS(EBADF, kq, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	close(p[0]);
	close(kq);
}
END_TEST

/* A closed fd, a filter or flag not implemented, a bad kqueue. */
START_TEST(test_refused)
{
	int p[2], kq = kq_pipe(p);
	close(p[1]);
	CHANGE_FAILS(EBADF, kq, p[1], EVFILT_READ, EV_ADD, 0, 0, NULL);
	CHANGE_FAILS(EINVAL, kq, p[0], EVFILT_VNODE, EV_ADD, 0, 0, NULL);
	CHANGE_FAILS(EBADF, -1, 1, EVFILT_USER, EV_ADD, 0, 0, NULL);
	CHANGE_FAILS(EINVAL, kq, 1, EVFILT_USER, EV_ADD | EV_KEEPUDATA, 0, 0,
		     NULL);
	CHANGE_FAILS(EINVAL, kq, p[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 1, 0);
	CHANGE_FAILS(EINVAL, kq, p[0], EVFILT_READ, EV_ADD | EV_FORCEONESHOT, 0,
		     0, NULL);
	close(p[0]);
	close(kq);
}
END_TEST

/* Per-change errors go to the eventlist when it has room (EV_ERROR, errno
 * in data), the other changes still apply, and no events are collected
 * in that call; with no room kevent fails at the bad change. */
START_TEST(test_error_in_eventlist)
{
	int p[2], kq = kq_pipe(p);
	put(p[1], 1);
	struct kevent ch[3], ev[4];
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], 99, EVFILT_USER, EV_DELETE, 0, 0, &ch[1]);
	EV_SET(&ch[2], 5, EVFILT_USER, EV_ADD, 0, 0, NULL);
	ck_assert_int_eq(kevent(kq, ch, 3, ev, 4, NULL), 1);
	ck_assert(ev[0].flags & EV_ERROR);
	ck_assert_int_eq(ev[0].data, ENOENT);
	ck_assert_uint_eq(ev[0].ident, 99);
	ck_assert_ptr_eq(ev[0].udata, &ch[1]);
	CHANGE_OK(kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL); /* exists */
	ck_assert_int_eq(wait_ms(kq, ev, 4, HANG_MS), 2); /* pipe, user */

	EV_SET(&ch[2], 6, EVFILT_USER, EV_ADD, 0, 0, NULL);
	ck_assert_int_eq(kevent(kq, ch, 3, NULL, 0, NULL), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* the change after the bad one was not applied */
	CHANGE_FAILS(ENOENT, kq, 6, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	close_all(kq, p);
}
END_TEST

START_TEST(test_receipt)
{
	int p[2], kq = kq_pipe(p);
	put(p[1], 1);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL); /* pending */
	struct kevent ch[2], ev[4];
	EV_SET(&ch[0], 1, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[1], 2, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	ck_assert_int_eq(kevent(kq, ch, 2, ev, 4, NULL), 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(ev[i].flags, EV_ERROR);
		ck_assert_int_eq(ev[i].data, 0);
		ck_assert_uint_eq(ev[i].ident, (uintptr_t)i + 1);
	}
	/* The pending read was not drained by that call. */
	ck_assert_int_eq(wait_one(kq).filter, EVFILT_READ);
	/* A receipt with no room to report it ends the call quietly. */
	EV_SET(&ch[0], 3, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[1], 4, EVFILT_USER, EV_ADD, 0, 0, NULL);
	ck_assert_int_eq(kevent(kq, ch, 2, NULL, 0, NULL), 0);
	CHANGE_OK(kq, 3, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	CHANGE_FAILS(ENOENT, kq, 4, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	close_all(kq, p);
}
END_TEST

/* Changes apply in order and before events are collected. */
START_TEST(test_changes_first)
{
	int p[2], kq = kq_pipe(p);
	put(p[1], 1);
	struct kevent ch[3], ev[4];
	EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], 7, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
	EV_SET(&ch[2], 7, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	ck_assert_int_eq(kevent(kq, ch, 3, ev, 4, NULL), 1);
	ck_assert_int_eq(ev[0].filter, EVFILT_READ);
	close_all(kq, p);
}
END_TEST

/* A knote whose fd was closed is dropped, even when the number is reused
 * by a new file (what kqueue does at close()). */
START_TEST(test_closed_fd_dropped)
{
	int kq = new_kq(), p[2], q[2];
	nb_pipe(p);
	int tag;
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, &tag);
	put(p[1], 1);
	wait_one(kq);
	nb_pipe(q);
	ck_assert_int_eq(dup3(q[0], p[0], O_CLOEXEC), p[0]); /* reuse */
	put(q[1], 1);
	expect_none(kq);
	CHANGE_FAILS(ENOENT, kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	struct kevent ev = wait_one(kq);
	ck_assert_ptr_null(ev.udata);
	ck_assert_int_eq(ev.data, 1);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	close(kq);
}
END_TEST

static Suite *emu_suite(void)
{
	Suite *s = suite_create("kqueue emulation");
	TCase *tc = tcase_create("kqueue");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kq_is_fd);
	tcase_add_test(tc, test_timeout_arg);
	tcase_add_test(tc, test_eintr);
	tcase_add_test(tc, test_read_pipe_level);
	tcase_add_test(tc, test_read_socket_eof);
	tcase_add_test(tc, test_read_listen_backlog);
	tcase_add_test(tc, test_eof_fflags_error);
	tcase_add_test(tc, test_write_pipe);
	tcase_add_test(tc, test_write_socket_full);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_oneshot);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_enable_disable);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_error_in_eventlist);
	tcase_add_test(tc, test_receipt);
	tcase_add_test(tc, test_changes_first);
	tcase_add_test(tc, test_closed_fd_dropped);
	kqemu_add_timer_user_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return dx_check_run(emu_suite());
}
