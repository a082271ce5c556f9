/* dx_bench_wait_epoll.c - `dx bench`'s readiness layer over epoll (Linux):
 * one epoll instance per bench thread, each connection registered with
 * its bconn as the event's data, up to 256 events a wait. Level-triggered,
 * as the loop expects (a recv that filled its buffer leaves the rest for
 * the next wait). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dx_bench.h"

#define BWAIT_EVENTS 256

struct bwait {
	int ep;
	int n, next; /* events of the last wait, the next one to hand out */
	struct epoll_event evs[BWAIT_EVENTS];
};

const char bench_wait_name[] = "epoll_wait";

bwait *bench_wait_open(bthread *t)
{
	bwait *w = malloc(sizeof *w);
	if (!w) {
		snprintf(t->why, sizeof t->why, "out of memory");
		return NULL;
	}
	w->n = w->next = 0;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0) {
		snprintf(t->why, sizeof t->why, "epoll_create1: %s",
			 strerror(errno));
		free(w);
		return NULL;
	}
	for (unsigned i = 0; i < t->nconns; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.ptr = &t->conns[i]};
		epoll_ctl(w->ep, EPOLL_CTL_ADD, t->conns[i].fd, &ev);
	}
	return w;
}

void bench_wait_out(bwait *w, bconn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
				 .data.ptr = c};
	epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

void bench_wait_forget(bwait *w, bconn *c)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
}

int bench_wait(bwait *w, int timeout_ms)
{
	int n = epoll_wait(w->ep, w->evs, BWAIT_EVENTS, timeout_ms);
	w->next = 0;
	w->n = n > 0 ? n : 0;
	return n < 0 ? -errno : n;
}

bconn *bench_wait_next(bwait *w, bool *in)
{
	if (w->next >= w->n)
		return NULL;
	const struct epoll_event *ev = &w->evs[w->next++];
	*in = (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0;
	return ev->data.ptr;
}

void bench_wait_close(bwait *w)
{
	close(w->ep);
	free(w);
}
