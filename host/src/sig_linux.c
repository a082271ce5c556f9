/* sig_linux.c - sig.h over a signalfd (Linux). The signals stay blocked
 * in every thread; the kernel queues them for the descriptor. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "sig.h"

const char dx_sig_how[] = "signalfd";

struct dx_sig {
	int fd;
};

int dx_sig_open(const int *signos, size_t n, dx_sig **out)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		if (signos[i] < 1 || signos[i] > 255 ||
		    sigaddset(&set, signos[i]) < 0)
			return -EINVAL;
	dx_sig *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	/* Non-blocking: dx_sig_next answers 0 when nothing waits. */
	s->fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->fd < 0) {
		int e = errno;
		free(s);
		return -e;
	}
	*out = s;
	return 0;
}

int dx_sig_fd(const dx_sig *s)
{
	return s->fd;
}

int dx_sig_poll(dx_sig *s, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	(void)s;
	return poll(fds, n, timeout_ms);
}

int dx_sig_next(dx_sig *s)
{
	struct signalfd_siginfo si;
	if (read(s->fd, &si, sizeof si) != (ssize_t)sizeof si)
		return 0;
	return (int)si.ssi_signo;
}

void dx_sig_close(dx_sig *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}
