/* kqueue_emu_scan.c - collecting events: harvesting activations from the
 * epolls and timerfds onto the active list, checking each active knote's
 * condition (each filter's f_event) and delivering it. All with kq->mu
 * held. The model is in kqueue_emu_int.h.
 */
#include "kqueue_emu_int.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

void emu_enqueue(emu_kq *kq, emu_knote *kn)
{
	if (kn->queued)
		return;
	emu_knote *head = &kq->active;
	kn->prev = head->prev;
	kn->next = head;
	head->prev->next = kn;
	head->prev = kn;
	kn->queued = true;
}

void emu_dequeue(emu_knote *kn)
{
	if (!kn->queued)
		return;
	kn->prev->next = kn->next;
	kn->next->prev = kn->prev;
	kn->prev = kn->next = kn;
	kn->queued = false;
}

/* An edge from rd_ep or wr_ep: activate that fd's knote of filter. */
static void harvest_fds(emu_kq *kq, int ep, short filter)
{
	struct epoll_event evs[128];
	int n;
	do {
		n = epoll_wait(ep, evs, 128, 0);
		for (int i = 0; i < n; i++) {
			uint32_t fd = (uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			emu_fd *f = fd < kq->nfds ? kq->fds[fd] : NULL;
			if (f == NULL || f->gen != gen)
				continue; /* a closed fd's registration */
			emu_knote *kn = filter == EVFILT_READ ? f->rd : f->wr;
			if (kn != NULL && !kn->disabled)
				emu_enqueue(kq, kn);
		}
	} while (n == 128);
}

/* A timerfd is readable: count its expirations (a disabled timer keeps
 * counting, to be reported once enabled). */
static void harvest_timer(emu_kq *kq, emu_knote *kn)
{
	uint64_t n;
	if (read(kn->tfd, &n, sizeof n) != (ssize_t)sizeof n)
		return;
	kn->count += (int64_t)n;
	if (!kn->disabled)
		emu_enqueue(kq, kn);
}

void emu_harvest(emu_kq *kq)
{
	struct epoll_event evs[64];
	int n;
	do {
		n = epoll_wait(kq->epfd, evs, 64, 0);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == EMU_TAG_RD)
				harvest_fds(kq, kq->rd_ep, EVFILT_READ);
			else if (tag == EMU_TAG_WR)
				harvest_fds(kq, kq->wr_ep, EVFILT_WRITE);
			else if (tag != EMU_TAG_WAKE)
				harvest_timer(kq, evs[i].data.ptr);
		}
	} while (n == 64);
}

/* Whether f->fd still names the file registered; poll's revents in *rev
 * (0 when stale). */
static bool fd_poll(emu_fd *f, short events, short *rev)
{
	struct pollfd p = {.fd = f->fd, .events = events};
	struct stat st;
	*rev = 0;
	if (poll(&p, 1, 0) < 0 || (p.revents & POLLNVAL))
		return false;
	if (fstat(f->fd, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino)
		return false;
	*rev = p.revents;
	return true;
}

/* On EOF with an error pending, read (and so clear: Linux has no other
 * way) the socket's error, kept for both filters; see sys/event.h. */
static unsigned fd_eof_err(emu_fd *f, short rev)
{
	if (f->sock && (rev & POLLERR) && f->err == 0) {
		int e = 0;
		socklen_t len = sizeof e;
		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0)
			f->err = e;
	}
	return (unsigned)f->err;
}

/* A listening socket's data: connections waiting to be accepted. Linux
 * reports the accept queue's length of a TCP listener in tcpi_unacked;
 * for others, 1 while one is waiting. -1: not listening. */
static int64_t listen_backlog(emu_fd *f, short rev)
{
	int on = 0;
	socklen_t len = sizeof on;
	if (!f->sock ||
	    getsockopt(f->fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
		return -1;
	struct tcp_info ti;
	len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(f->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_unacked) +
			    sizeof ti.tcpi_unacked)
		return ti.tcpi_unacked;
	return (rev & POLLIN) ? 1 : 0;
}

/* EVFILT_READ's f_event: 1 with *ev filled, 0 not ready, -1 stale. */
static int check_read(emu_fd *f, struct kevent *ev)
{
	short rev;
	if (!fd_poll(f, POLLIN | POLLRDHUP, &rev))
		return -1;
	int64_t backlog = listen_backlog(f, rev);
	if (backlog >= 0) {
		ev->data = backlog;
		return backlog > 0 || (rev & POLLIN);
	}
	int avail = 0;
	if (ioctl(f->fd, FIONREAD, &avail) < 0)
		avail = (rev & POLLIN) ? 1 : 0;
	ev->data = avail;
	/* A socket's POLLRDHUP is the peer's FIN; POLLHUP is both ways shut
	 * (or reset), or for a pipe no writer left. */
	if (rev & (POLLRDHUP | POLLHUP)) {
		ev->flags |= EV_EOF;
		ev->fflags = fd_eof_err(f, rev);
		return 1;
	}
	return (rev & (POLLIN | POLLERR)) != 0;
}

/* Free room: a socket's send buffer minus what is queued in it (Linux's
 * SO_SNDBUF counts bookkeeping too, so this is an upper bound), a pipe's
 * size minus its content. */
static int64_t write_room(emu_fd *f)
{
	int size = 0, used = 0;
	socklen_t len = sizeof size;
	if (f->sock) {
		if (getsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0 ||
		    ioctl(f->fd, SIOCOUTQ, &used) < 0)
			return 0;
	} else if (f->pipe) {
		size = fcntl(f->fd, F_GETPIPE_SZ);
		if (size < 0 || ioctl(f->fd, FIONREAD, &used) < 0)
			return 0;
	}
	return size > used ? size - used : 0;
}

/* EVFILT_WRITE's f_event: 1 with *ev filled, 0 not ready, -1 stale. */
static int check_write(emu_fd *f, struct kevent *ev)
{
	short rev;
	if (!fd_poll(f, POLLOUT, &rev))
		return -1;
	ev->data = write_room(f);
	/* A pipe whose readers are gone polls POLLERR; a socket that can
	 * send no more (reset, both sides shut) POLLHUP. */
	if ((rev & POLLHUP) || (f->pipe && (rev & POLLERR))) {
		ev->flags |= EV_EOF;
		ev->fflags = f->pipe ? 0 : fd_eof_err(f, rev);
		return 1;
	}
	return (rev & (POLLOUT | POLLERR)) != 0;
}

/* The filter's check: 1 with *ev filled, 0 not ready, -1 stale fd. */
static int check(emu_knote *kn, struct kevent *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->ident = kn->ident;
	ev->filter = kn->filter;
	ev->flags = kn->flags;
	ev->udata = kn->udata;
	switch (kn->filter) {
	case EVFILT_READ: return check_read(kn->fd, ev);
	case EVFILT_WRITE: return check_write(kn->fd, ev);
	case EVFILT_TIMER: ev->data = kn->count; return kn->count > 0;
	default: /* EVFILT_USER */
		ev->fflags = kn->sfflags;
		ev->data = kn->sdata;
		return kn->triggered;
	}
}

/* After delivery: EV_CLEAR's reset (always for timers). */
static void clear_state(emu_knote *kn)
{
	if (kn->filter == EVFILT_TIMER)
		kn->count = 0;
	else if (kn->filter == EVFILT_USER)
		kn->triggered = false;
	/* An fd's EV_CLEAR state is the edge itself: the knote leaves the
	 * active list and only the next epoll edge brings it back. */
}

int emu_scan(emu_kq *kq, struct kevent *out, int max)
{
	/* unseen: the active knotes this call has not looked at yet;
	 * again: level-triggered ones it delivered, checked next call. */
	emu_knote unseen, again;
	unseen.next = unseen.prev = &unseen;
	again.next = again.prev = &again;
	/* Take the list: level-triggered knotes go back at the end. */
	if (kq->active.next != &kq->active) {
		unseen.next = kq->active.next;
		unseen.prev = kq->active.prev;
		unseen.next->prev = &unseen;
		unseen.prev->next = &unseen;
		kq->active.next = kq->active.prev = &kq->active;
	}
	int n = 0;
	while (unseen.next != &unseen && n < max) {
		emu_knote *kn = unseen.next;
		kn->prev->next = kn->next;
		kn->next->prev = kn->prev;
		kn->prev = kn->next = kn;
		kn->queued = false;
		int r = check(kn, &out[n]);
		if (r < 0) {
			emu_fd_purge(kq, kn->fd); /* closed: dropped */
			continue;
		}
		if (r == 0)
			continue;
		n++;
		if (kn->flags & EV_ONESHOT) {
			emu_drop(kq, kn);
			continue;
		}
		if (kn->flags & EV_DISPATCH)
			kn->disabled = true;
		if (kn->flags & EV_CLEAR) {
			clear_state(kn);
			continue;
		}
		if (!kn->disabled) {
			/* level-triggered: checked again next time */
			kn->prev = again.prev;
			kn->next = &again;
			again.prev->next = kn;
			again.prev = kn;
			kn->queued = true;
		}
	}
	/* What was not looked at stays first, then the level-triggered. */
	while (unseen.next != &unseen) {
		emu_knote *kn = unseen.next;
		unseen.next = kn->next;
		kn->queued = false;
		emu_enqueue(kq, kn);
	}
	while (again.next != &again) {
		emu_knote *kn = again.next;
		again.next = kn->next;
		kn->queued = false;
		emu_enqueue(kq, kn);
	}
	return n;
}
