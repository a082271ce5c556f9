/* dx_bench_sys_posix.c - `dx bench`'s few system calls outside the
 * sockets (dx_bench.h, "the system") on Linux, the BSDs and macOS:
 * SIGPIPE, the terminal test, and poll() for dx_bench_wait_poll.c
 * (pinning is the host's pin.h, in dx_bench_loop.c). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "dx_bench.h"

void bench_sys_init(void)
{
	/* A send to a connection the server closed: EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
}

bool bench_sys_live(void)
{
	return isatty(STDOUT_FILENO);
}

int bench_sys_poll(struct pollfd *p, unsigned n, int timeout_ms)
{
	int k = poll(p, (nfds_t)n, timeout_ms);
	return k < 0 ? -errno : k;
}
