/* lock.c - an advisory lock that dies with its holder (fx_util.h).
 *
 * flock rather than an O_EXCL file: the kernel drops the lock when its
 * holder dies (SIGKILL included), so a killed process never leaves a stale
 * lock behind. A lock may name its holder: the holder writes its pid into
 * the file only so a loser can say who to wait for. */
#include "fx_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int dx_fx_flock(int fd, char holder[DX_FX_PID_MAX])
{
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return -errno;
		if (holder) {
			ssize_t n = pread(fd, holder, DX_FX_PID_MAX - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
		}
		return -EBUSY;
	}
	if (holder) {
		char pid[DX_FX_PID_MAX];
		int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
			/* Only a loser's message suffers: keep going. */
			(void)0;
	}
	return 0;
}
