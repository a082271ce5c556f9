/* kq_compat.c - io_kqueue's platform differences (kq_compat.h says which
 * and why). Each function is the whole of one difference. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "kq_compat.h"

int kq_open(void)
{
	int kq = kqueue();
	if (kq < 0)
		return -errno;
	/* FreeBSD 14 has kqueuex(KQUEUE_CLOEXEC); neither older FreeBSD nor
	 * macOS has a flag, and a kqueue is not inherited by fork anyway. */
	if (fcntl(kq, F_SETFD, FD_CLOEXEC) < 0) {
		int rc = -errno;
		close(kq);
		return rc;
	}
	return kq;
}

void kq_timer_data(uint64_t ns, intptr_t *data, unsigned *fflags)
{
#ifdef NOTE_NSECONDS
	if (ns <= (uint64_t)INTPTR_MAX) {
		*data = (intptr_t)ns;
		*fflags = NOTE_NSECONDS;
		return;
	}
#endif
#ifdef NOTE_USECONDS
	uint64_t us = (ns + 999) / 1000; /* never early */
	if (us <= (uint64_t)INTPTR_MAX) {
		*data = (intptr_t)us;
		*fflags = NOTE_USECONDS;
		return;
	}
#endif
	/* Milliseconds: fflags 0 on FreeBSD and macOS alike. */
	uint64_t ms = (ns + 999999) / 1000000;
	*data = ms > (uint64_t)INTPTR_MAX ? INTPTR_MAX : (intptr_t)ms;
	*fflags = 0;
}
