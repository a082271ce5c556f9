/* test_kqueue_emu_timer_user.c - the kqueue emulation's EVFILT_TIMER and
 * EVFILT_USER cases (test_kqueue_emu.c has the rest and the suite): real
 * timerfd-backed timers, and triggers and changes from other threads.
 * Timers are only bounded from below, where kqueue promises it (a timer
 * never fires early), and by the hang guard. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "test_kqueue_emu.h"

/* ---- EVFILT_TIMER ---- */

START_TEST(test_timer_periodic)
{
	int kq = new_kq();
	CHANGE_OK(kq, 1, EVFILT_TIMER, EV_ADD, 0, 10, NULL); /* 10 ms */
	struct kevent ev = wait_one(kq);
	ck_assert_int_eq(ev.filter, EVFILT_TIMER);
	ck_assert_int_ge(ev.data, 1);
	struct timespec d = {0, 100000000};
	nanosleep(&d, NULL);
	/* Expirations since the last delivery, at least 100 / 10 - slack. */
	ck_assert_int_ge(wait_one(kq).data, 2);
	ck_assert_int_ge(wait_one(kq).data, 1); /* still running */
	/* Re-adding restarts it with the new period. */
	CHANGE_OK(kq, 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600, NULL);
	expect_none(kq);
	CHANGE_OK(kq, 1, EVFILT_TIMER, EV_ADD, 0, 5, NULL);
	wait_one(kq);
	CHANGE_OK(kq, 1, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	close(kq);
}
END_TEST

START_TEST(test_timer_oneshot)
{
	int kq = new_kq();
	CHANGE_OK(kq, 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 20, NULL);
	ck_assert_int_eq(wait_one(kq).data, 1);
	struct kevent ev;
	ck_assert_int_eq(wait_ms(kq, &ev, 1, 100), 0);
	/* gone after delivery */
	CHANGE_FAILS(ENOENT, kq, 2, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	close(kq);
}
END_TEST

/* A one-shot timer that is already due when it is added (1 ns, or 0:
 * "fires at once") is delivered, every time: its expiry is not taken
 * for a leftover of an earlier setting. */
START_TEST(test_timer_due_at_once)
{
	int kq = new_kq();
	for (int i = 0; i < 200; i++) {
		CHANGE_OK(kq, 7, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
			  NOTE_NSECONDS, i % 2, NULL);
		struct kevent ev = wait_one(kq);
		ck_assert_int_eq((int)ev.ident, 7);
		ck_assert_int_eq(ev.data, 1);
	}
	close(kq);
}
END_TEST

/* The unit: milliseconds by default; a timer never fires early. */
START_TEST(test_timer_units)
{
	static const struct {
		unsigned fflags;
		int64_t data;
	} c[] = {
		{0, 150},
		{NOTE_MSECONDS, 150},
		{NOTE_USECONDS, 150000},
		{NOTE_NSECONDS, 150000000},
		{NOTE_SECONDS, 1},
	};
	int kq = new_kq();
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int64_t t0 = now_ms();
		CHANGE_OK(kq, 3, EVFILT_TIMER, EV_ADD | EV_ONESHOT, c[i].fflags,
			  c[i].data, NULL);
		wait_one(kq);
		int64_t want = c[i].fflags == NOTE_SECONDS ? 1000 : 150;
		ck_assert_int_ge(now_ms() - t0, want - 1);
	}
	unsigned bad[] = {NOTE_SECONDS | NOTE_USECONDS, NOTE_ABSTIME};
	for (size_t i = 0; i < 2; i++)
		CHANGE_FAILS(EINVAL, kq, 4, EVFILT_TIMER, EV_ADD, bad[i], 5, 0);
	CHANGE_FAILS(EINVAL, kq, 4, EVFILT_TIMER, EV_ADD, 0, -1, NULL);
	close(kq);
}
END_TEST

START_TEST(test_timer_dispatch_counts)
{
	int kq = new_kq();
	CHANGE_OK(kq, 5, EVFILT_TIMER, EV_ADD | EV_DISPATCH, 0, 5, NULL);
	wait_one(kq);
	struct kevent ev;
	ck_assert_int_eq(wait_ms(kq, &ev, 1, 60), 0); /* disabled */
	CHANGE_OK(kq, 5, EVFILT_TIMER, EV_ENABLE, 0, 0, NULL);
	/* It kept counting while disabled. */
	ck_assert_int_ge(wait_one(kq).data, 2);
	close(kq);
}
END_TEST

/* ---- EVFILT_USER ---- */

START_TEST(test_user_fflags)
{
	int kq = new_kq();
	CHANGE_OK(kq, 9, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	expect_none(kq);
	CHANGE_OK(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x5, 42,
		  NULL);
	struct kevent ev = wait_one(kq);
	ck_assert_int_eq(ev.filter, EVFILT_USER);
	ck_assert_uint_eq(ev.fflags, 0x5);
	ck_assert_int_eq(ev.data, 42);
	expect_none(kq); /* EV_CLEAR: reset after delivery */
	CHANGE_OK(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x2, 0,
		  NULL);
	ck_assert_uint_eq(wait_one(kq).fflags, 0x7);
	CHANGE_OK(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFAND | 0x3, 0,
		  NULL);
	ck_assert_uint_eq(wait_one(kq).fflags, 0x3);
	CHANGE_OK(kq, 9, EVFILT_USER, 0, NOTE_FFNOP | 0x8, 0, NULL);
	expect_none(kq); /* fflags without NOTE_TRIGGER fire nothing */
	close(kq);
}
END_TEST

START_TEST(test_user_level_and_udata)
{
	int kq = new_kq(), a, b;
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD, 0, 0, &a);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_KEEPUDATA, NOTE_TRIGGER, 0, NULL);
	ck_assert_ptr_eq(wait_one(kq).udata, &a); /* kept */
	ck_assert_ptr_eq(wait_one(kq).udata, &a); /* no EV_CLEAR: stays */
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, &b);
	ck_assert_ptr_eq(wait_one(kq).udata, &b); /* replaced, as FreeBSD */
	close(kq);
}
END_TEST

typedef struct pingpong {
	int kq;
	atomic_int acked;
} pingpong;

enum { ROUNDS = 200 };

/* Trigger, wait for the waiter to see it, again. */
static void *trigger_rounds(void *arg)
{
	pingpong *pp = arg;
	for (int r = 1; r <= ROUNDS; r++) {
		struct kevent kev;
		EV_SET(&kev, 1, EVFILT_USER, 0, NOTE_TRIGGER, r, NULL);
		if (kevent(pp->kq, &kev, 1, NULL, 0, NULL) != 0)
			return NULL;
		int64_t t0 = now_ms();
		while (atomic_load(&pp->acked) < r && now_ms() - t0 < HANG_MS)
			sched_yield();
	}
	return NULL;
}

START_TEST(test_user_from_thread)
{
	pingpong pp = {.kq = new_kq()};
	CHANGE_OK(pp.kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	pthread_t t;
	pthread_create(&t, NULL, trigger_rounds, &pp);
	for (int r = 1; r <= ROUNDS; r++) {
		struct kevent ev;
		/* Blocks (NULL timeout) until the other thread triggers;
		 * Check's timeout is the hang guard. */
		ck_assert_int_eq(kevent(pp.kq, NULL, 0, &ev, 1, NULL), 1);
		ck_assert_int_eq(ev.data, r);
		atomic_store(&pp.acked, r);
	}
	pthread_join(t, NULL);
	close(pp.kq);
}
END_TEST

typedef struct adder {
	int kq, fd;
} adder;

static void *add_later(void *arg)
{
	adder *a = arg;
	struct timespec d = {0, 50000000};
	nanosleep(&d, NULL);
	struct kevent kev;
	EV_SET(&kev, a->fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	kevent(a->kq, &kev, 1, NULL, 0, NULL);
	return NULL;
}

/* A knote added (already ready) by another thread wakes a waiter. */
START_TEST(test_add_from_thread)
{
	int p[2];
	nb_pipe(p);
	put(p[1], 1);
	adder a = {.kq = new_kq(), .fd = p[0]};
	pthread_t t;
	pthread_create(&t, NULL, add_later, &a);
	struct kevent ev;
	ck_assert_int_eq(kevent(a.kq, NULL, 0, &ev, 1, NULL), 1);
	ck_assert_uint_eq(ev.ident, (uintptr_t)p[0]);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
	close(a.kq);
}
END_TEST

void kqemu_add_timer_user_tests(TCase *tc)
{
	tcase_add_test(tc, test_timer_periodic);
	tcase_add_test(tc, test_timer_oneshot);
	tcase_add_test(tc, test_timer_due_at_once);
	tcase_add_test(tc, test_timer_units);
	tcase_add_test(tc, test_timer_dispatch_counts);
	tcase_add_test(tc, test_user_fflags);
	tcase_add_test(tc, test_user_level_and_udata);
	tcase_add_test(tc, test_user_from_thread);
	tcase_add_test(tc, test_add_from_thread);
}
