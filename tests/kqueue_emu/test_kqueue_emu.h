/* test_kqueue_emu.h - what the kqueue emulation's two test files share:
 * changes and waits in one call each, pipes and sockets, and the hang
 * guard. Helpers fail the running Check test on a broken precondition.
 * static inline: each file uses some of them. */
#ifndef DX_TEST_KQUEUE_EMU_H
#define DX_TEST_KQUEUE_EMU_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#define HANG_MS 10000 /* "never came": far beyond any slow machine */

static inline int change(int kq, uintptr_t ident, short filter,
			 unsigned short flags, unsigned fflags, int64_t data,
			 void *udata)
{
	struct kevent kev;
	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	return kevent(kq, &kev, 1, NULL, 0, NULL);
}

#define CHANGE_OK(kq, id, filt, fl, ff, d, ud)                                 \
	ck_assert_int_eq(change(kq, id, filt, fl, ff, d, ud), 0)

/* Wait up to ms for events; their number. */
static inline int wait_ms(int kq, struct kevent *ev, int n, int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	return kevent(kq, NULL, 0, ev, n, &ts);
}

/* Exactly one event, within the hang guard. */
static inline struct kevent wait_one(int kq)
{
	struct kevent ev;
	memset(&ev, 0, sizeof ev);
	ck_assert_int_eq(wait_ms(kq, &ev, 1, HANG_MS), 1);
	return ev;
}

static inline void expect_none(int kq)
{
	struct kevent ev;
	ck_assert_int_eq(wait_ms(kq, &ev, 1, 0), 0);
}

static inline int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline int new_kq(void)
{
	int kq = kqueue();
	ck_assert_int_ge(kq, 0);
	return kq;
}

static inline void nb_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static inline void nb_pair(int s[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX,
				    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, s),
			 0);
}

static inline int tcp_listener(struct sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(l, 0);
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof *a;
	ck_assert_int_eq(bind(l, (struct sockaddr *)a, len), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)a, &len), 0);
	return l;
}

static inline int tcp_connect(const struct sockaddr_in *a)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(connect(c, (const struct sockaddr *)a, sizeof *a), 0);
	return c;
}

static inline void put(int fd, size_t n)
{
	char buf[4096];
	memset(buf, 'x', sizeof buf);
	ck_assert_uint_le(n, sizeof buf);
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
}

/* A kqueue and a non-blocking pipe. */
static inline int kq_pipe(int p[2])
{
	nb_pipe(p);
	return new_kq();
}

/* The same with an EVFILT_READ knote (EV_ADD | flags) on p[0] and one
 * byte written. */
static inline int kq_pipe_read(int p[2], unsigned short flags)
{
	int kq = kq_pipe(p);
	ck_assert_int_eq(
		change(kq, p[0], EVFILT_READ, EV_ADD | flags, 0, 0, NULL), 0);
	put(p[1], 1);
	return kq;
}

static inline void close_all(int kq, const int p[2])
{
	close(p[0]);
	close(p[1]);
	close(kq);
}

/* The change fails with errno err. */
#define CHANGE_FAILS(err, kq, id, filt, fl, ff, d, ud)                         \
	do {                                                                   \
		ck_assert_int_eq(change(kq, id, filt, fl, ff, d, ud), -1);     \
		ck_assert_int_eq(errno, err);                                  \
	} while (0)

/* test_kqueue_emu_timer_user.c: the EVFILT_TIMER and EVFILT_USER cases. */
void kqemu_add_timer_user_tests(TCase *tc);

#endif
