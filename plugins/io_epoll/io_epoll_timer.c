/* io_epoll_timer.c - io_epoll's timeouts over libdx's timer heap
 * (dx/timer_heap.h, indexed by udata): arming, cancelling, firing. */
#include "io_epoll_int.h"

int ep_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	uint64_t now = now_ns();
	uint64_t dl = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	int rc = dx_timer_heap_add(&io->timers, dl, udata, NULL, NULL);
	if (rc < 0)
		return rc;
	io->submitted++;
	return 0;
}

int ep_timeout_cancel(dx_io *io, uint64_t udata)
{
	if (!dx_timer_heap_has(&io->timers, udata))
		return -ENOENT;
	if (ring_room(io, 1) < 0)
		return -ENOMEM;
	dx_timer_heap_cancel(&io->timers, udata);
	post(io, DX_IO_TIMEOUT, -ECANCELED, udata, 0);
	return 0;
}

/* Complete every timer whose deadline has passed, earliest first. */
void timers_fire(dx_io *io, uint64_t now)
{
	dx_timer t;
	while (io->timers.count && dx_timer_heap_next(&io->timers) <= now) {
		if (ring_room(io, 1) < 0)
			return;
		dx_timer_heap_pop_due(&io->timers, now, &t);
		post(io, DX_IO_TIMEOUT, 0, t.udata, 0);
	}
}
