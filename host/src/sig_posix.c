/* sig_posix.c - sig.h over a self-pipe: POSIX only (BSD, macOS; Linux
 * with -Dportable_fallbacks=true).
 *
 * A sigaction handler writes each signal's number, one byte, to a pipe
 * whose read end the caller polls. The signals stay blocked in every
 * thread except inside dx_sig_poll, which unblocks them in the calling
 * thread for the length of the poll: a signal pending from before, or
 * arriving during the wait, is delivered there, its handler writes the
 * pipe, and the poll sees the pipe readable. A signal that comes while
 * the thread does something else stays pending until the next
 * dx_sig_poll, so no other thread and no other system call of this one
 * is ever interrupted. Signals of one number coalesce while pending, as
 * they do for a signalfd.
 *
 * The handler's pipe is this file's one mutable global: a handler gets no
 * argument to find it by (hence one dx_sig per process). kqueue's
 * EVFILT_SIGNAL could replace the pipe on BSD and macOS; the pipe is kept
 * because it runs everywhere, Linux included, where the tests run it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "sig.h"

#define DX_SIG_MAX 8

const char dx_sig_how[] = "self-pipe";

struct dx_sig {
	int rfd, wfd;
	sigset_t set;
	size_t n;
	int signos[DX_SIG_MAX];
	struct sigaction old[DX_SIG_MAX];
};

/* The write end for the handler; -1 while no dx_sig is open. */
static volatile sig_atomic_t dx_sig_wfd = -1;

static void dx_sig_handler(int signo)
{
	int e = errno;
	unsigned char b = (unsigned char)signo;
	/* A full pipe (never, in practice) loses this one: the bytes already
	 * in it keep the poll awake. */
	ssize_t w = write(dx_sig_wfd, &b, 1);
	(void)w;
	errno = e;
}

static int dx_sig_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(fds[i], F_GETFL);
		if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0 || fl < 0 ||
		    fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
			int e = errno;
			close(fds[0]);
			close(fds[1]);
			return -e;
		}
	}
	return 0;
}

/* Put back the dispositions of the first n signals. */
static void dx_sig_restore(dx_sig *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sigaction(s->signos[i], &s->old[i], NULL);
}

int dx_sig_open(const int *signos, size_t n, dx_sig **out)
{
	if (n > DX_SIG_MAX)
		return -EINVAL;
	if (dx_sig_wfd >= 0)
		return -EBUSY;
	dx_sig *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	sigemptyset(&s->set);
	for (size_t i = 0; i < n; i++) {
		if (signos[i] < 1 || signos[i] > 255 ||
		    sigaddset(&s->set, signos[i]) < 0) {
			free(s);
			return -EINVAL;
		}
		s->signos[i] = signos[i];
	}
	int fds[2], rc = dx_sig_pipe(fds);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->rfd = fds[0];
	s->wfd = fds[1];
	dx_sig_wfd = s->wfd;
	struct sigaction sa = {.sa_handler = dx_sig_handler};
	sa.sa_mask = s->set; /* one handler at a time */
	sa.sa_flags = SA_RESTART;
	for (; s->n < n; s->n++) {
		if (sigaction(signos[s->n], &sa, &s->old[s->n]) < 0) {
			rc = -errno;
			dx_sig_close(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

int dx_sig_fd(const dx_sig *s)
{
	return s->rfd;
}

int dx_sig_poll(dx_sig *s, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	sigset_t old;
	pthread_sigmask(SIG_UNBLOCK, &s->set, &old);
	int rc = poll(fds, n, timeout_ms);
	/* EINTR: a handler ran, so the pipe is readable now; look once
	 * more, without waiting, to report it. */
	if (rc < 0 && errno == EINTR)
		rc = poll(fds, n, 0);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return rc;
}

int dx_sig_next(dx_sig *s)
{
	unsigned char b;
	return read(s->rfd, &b, 1) == 1 ? (int)b : 0;
}

void dx_sig_close(dx_sig *s)
{
	if (!s)
		return;
	dx_sig_restore(s, s->n);
	dx_sig_wfd = -1;
	close(s->rfd);
	close(s->wfd);
	free(s);
}
