/* kqueue_emu_change.c - applying one change of a changelist: finding or
 * making the knote, EV_ADD/EV_DELETE/EV_ENABLE/EV_DISABLE, and each
 * filter's registration (epoll for fds, a timerfd per timer, nothing but
 * a flag for EVFILT_USER). All with kq->mu held.
 *
 * The order of the steps follows FreeBSD's kqueue_register: an absent
 * knote needs EV_ADD (else ENOENT); EV_DELETE drops it; otherwise udata
 * (unless EV_KEEPUDATA), fflags and data are updated (the flags stay
 * those of the EV_ADD that made it), the knote enabled or disabled, and,
 * if enabled, activated so that the next collection
 * checks its condition (an EV_ENABLE or a re-add reports a condition that
 * holds, even with EV_CLEAR, as the kernel's f_event check does).
 */
#include "kqueue_emu_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

static unsigned bucket(uintptr_t ident, short filter)
{
	uint64_t h = (uint64_t)ident * 0x9E3779B97F4A7C15ull;
	return (unsigned)((h >> 40) ^ (unsigned short)filter) % EMU_HASH;
}

static emu_knote *hash_find(emu_kq *kq, uintptr_t ident, short filter)
{
	for (emu_knote *kn = kq->hash[bucket(ident, filter)]; kn;
	     kn = kn->hnext)
		if (kn->ident == ident && kn->filter == filter)
			return kn;
	return NULL;
}

static void hash_remove(emu_kq *kq, emu_knote *kn)
{
	emu_knote **p = &kq->hash[bucket(kn->ident, kn->filter)];
	while (*p != kn)
		p = &(*p)->hnext;
	*p = kn->hnext;
}

static emu_knote *knote_new(const struct kevent *kev)
{
	emu_knote *kn = calloc(1, sizeof *kn);
	if (kn == NULL)
		return NULL;
	kn->ident = kev->ident;
	kn->filter = kev->filter;
	kn->flags = kev->flags & EMU_KEPT_FLAGS;
	kn->udata = kev->udata;
	kn->tfd = -1;
	kn->prev = kn->next = kn;
	return kn;
}

/* The epoll (rd_ep or wr_ep) of a read or write knote. */
static int fd_ep(emu_kq *kq, short filter)
{
	return filter == EVFILT_READ ? kq->rd_ep : kq->wr_ep;
}

static int fd_register(emu_kq *kq, emu_fd *f, short filter)
{
	struct epoll_event ev = {
		.events = filter == EVFILT_READ ?
				  EPOLLIN | EPOLLRDHUP | EPOLLET :
				  EPOLLOUT | EPOLLET,
		.data.u64 = (uint64_t)f->gen << 32 | (uint32_t)f->fd,
	};
	if (epoll_ctl(fd_ep(kq, filter), EPOLL_CTL_ADD, f->fd, &ev) == 0)
		return 0;
	/* EEXIST: the same file and fd, purged while it stayed open. */
	if (errno == EEXIST &&
	    epoll_ctl(fd_ep(kq, filter), EPOLL_CTL_MOD, f->fd, &ev) == 0)
		return 0;
	return errno;
}

static void fd_free(emu_kq *kq, emu_fd *f)
{
	kq->fds[f->fd] = NULL;
	free(f);
}

void emu_drop(emu_kq *kq, emu_knote *kn)
{
	emu_dequeue(kn);
	if (kn->fd != NULL) {
		emu_fd *f = kn->fd;
		/* Fails harmlessly when fd was closed or now names another
		 * file; that registration's gen no longer matches. */
		epoll_ctl(fd_ep(kq, kn->filter), EPOLL_CTL_DEL, f->fd, NULL);
		if (kn->filter == EVFILT_READ)
			f->rd = NULL;
		else
			f->wr = NULL;
		if (f->rd == NULL && f->wr == NULL)
			fd_free(kq, f);
	} else {
		hash_remove(kq, kn);
		if (kn->tfd >= 0)
			close(kn->tfd); /* leaves epfd with it */
	}
	free(kn);
}

void emu_fd_purge(emu_kq *kq, emu_fd *f)
{
	emu_knote *rd = f->rd, *wr = f->wr;
	if (rd != NULL && wr != NULL) {
		emu_drop(kq, rd);
		emu_drop(kq, wr); /* frees f */
	} else {
		emu_drop(kq, rd != NULL ? rd : wr);
	}
}

void emu_free_all(emu_kq *kq)
{
	for (size_t i = 0; i < kq->nfds; i++)
		if (kq->fds[i] != NULL)
			emu_fd_purge(kq, kq->fds[i]);
	for (unsigned b = 0; b < EMU_HASH; b++)
		while (kq->hash[b] != NULL)
			emu_drop(kq, kq->hash[b]);
}

static int fds_grow(emu_kq *kq, int fd)
{
	if ((size_t)fd < kq->nfds)
		return 0;
	size_t n = kq->nfds ? kq->nfds : 64;
	while (n <= (size_t)fd)
		n *= 2;
	emu_fd **t = realloc(kq->fds, n * sizeof *t);
	if (t == NULL)
		return ENOMEM;
	memset(t + kq->nfds, 0, (n - kq->nfds) * sizeof *t);
	kq->fds = t;
	kq->nfds = n;
	return 0;
}

/* The record of fd if it still names the file it was registered for;
 * a stale one is purged (what close() would have done). */
static emu_fd *fd_lookup(emu_kq *kq, int fd, const struct stat *st)
{
	if ((size_t)fd >= kq->nfds || kq->fds[fd] == NULL)
		return NULL;
	emu_fd *f = kq->fds[fd];
	if (st != NULL && f->dev == st->st_dev && f->ino == st->st_ino)
		return f;
	emu_fd_purge(kq, f);
	return NULL;
}

static int fd_new(emu_kq *kq, int fd, const struct stat *st, emu_fd **out)
{
	int err = fds_grow(kq, fd);
	if (err != 0)
		return err;
	emu_fd *f = calloc(1, sizeof *f);
	if (f == NULL)
		return ENOMEM;
	f->fd = fd;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->sock = S_ISSOCK(st->st_mode);
	f->pipe = S_ISFIFO(st->st_mode);
	f->gen = ++kq->next_gen;
	kq->fds[fd] = f;
	*out = f;
	return 0;
}

/* The knote of an EVFILT_READ/WRITE change, made if EV_ADD asks. */
static int fd_knote(emu_kq *kq, const struct kevent *kev, emu_knote **out)
{
	*out = NULL;
	if (kev->ident > INT_MAX)
		return EBADF;
	int fd = (int)kev->ident;
	struct stat st;
	bool open = fstat(fd, &st) == 0;
	emu_fd *f = fd_lookup(kq, fd, open ? &st : NULL);
	if (!open)
		return EBADF;
	emu_knote *kn = NULL;
	if (f != NULL)
		kn = kev->filter == EVFILT_READ ? f->rd : f->wr;
	if (kn != NULL || !(kev->flags & EV_ADD)) {
		*out = kn;
		return kn != NULL ? 0 : ENOENT;
	}
	bool made = f == NULL;
	int err = made ? fd_new(kq, fd, &st, &f) : 0;
	if (err != 0)
		return err;
	kn = knote_new(kev);
	if (kn == NULL || (err = fd_register(kq, f, kev->filter)) != 0) {
		free(kn);
		if (made)
			fd_free(kq, f);
		return kn == NULL ? ENOMEM : err;
	}
	kn->fd = f;
	if (kev->filter == EVFILT_READ)
		f->rd = kn;
	else
		f->wr = kn;
	*out = kn;
	return 0;
}

/* The knote of an EVFILT_TIMER/USER change, made if EV_ADD asks. */
static int id_knote(emu_kq *kq, const struct kevent *kev, emu_knote **out)
{
	emu_knote *kn = hash_find(kq, kev->ident, kev->filter);
	*out = kn;
	if (kn != NULL)
		return 0;
	if (!(kev->flags & EV_ADD))
		return ENOENT;
	kn = knote_new(kev);
	if (kn == NULL)
		return ENOMEM;
	if (kev->filter == EVFILT_TIMER) {
		kn->flags |= EV_CLEAR; /* implied for timers */
		kn->tfd = timerfd_create(CLOCK_MONOTONIC,
					 TFD_NONBLOCK | TFD_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = kn};
		if (kn->tfd < 0 ||
		    epoll_ctl(kq->epfd, EPOLL_CTL_ADD, kn->tfd, &ev) < 0) {
			int err = errno;
			if (kn->tfd >= 0)
				close(kn->tfd);
			free(kn);
			return err;
		}
	}
	unsigned b = bucket(kn->ident, kn->filter);
	kn->hnext = kq->hash[b];
	kq->hash[b] = kn;
	*out = kn;
	return 0;
}

#define TIMER_UNITS                                                            \
	(NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS)

/* Check a timer's fflags and data before anything changes. */
static int timer_check(const struct kevent *kev)
{
	unsigned u = kev->fflags & TIMER_UNITS;
	if ((kev->fflags & ~TIMER_UNITS) != 0 || (u & (u - 1)) != 0 ||
	    kev->data < 0)
		return EINVAL; /* NOTE_ABSTIME and unknown bits included */
	return 0;
}

/* (Re)start a timer from kev: the period in its unit (milliseconds by
 * default); a periodic 0 is one unit, a one-shot 0 fires at once
 * (FreeBSD's filt_timerattach). Undelivered expirations are dropped. */
static int timer_arm(emu_knote *kn, const struct kevent *kev)
{
	int64_t unit = kev->fflags & NOTE_SECONDS  ? 1000000000 :
		       kev->fflags & NOTE_USECONDS ? 1000 :
		       kev->fflags & NOTE_NSECONDS ? 1 :
						     1000000;
	int64_t v = kev->data;
	if (v == 0 && !(kn->flags & EV_ONESHOT))
		v = 1;
	int64_t ns = v > INT64_MAX / unit ? INT64_MAX : v * unit;
	if (ns == 0)
		ns = 1; /* timerfd: 0 would disarm */
	struct itimerspec its = {
		.it_value = {.tv_sec = ns / 1000000000,
			     .tv_nsec = ns % 1000000000},
	};
	if (!(kn->flags & EV_ONESHOT))
		its.it_interval = its.it_value;
	/* Expirations of the old setting go first: drained after settime,
	 * a short new one that expired in between would be lost. */
	uint64_t drain;
	while (read(kn->tfd, &drain, sizeof drain) > 0) {
	}
	if (timerfd_settime(kn->tfd, 0, &its, NULL) < 0)
		return errno;
	kn->count = 0;
	kn->sfflags = kev->fflags;
	kn->sdata = kev->data;
	emu_dequeue(kn);
	return 0;
}

/* EVFILT_USER's f_touch (EVENT_REGISTER), as FreeBSD's filt_usertouch. */
static void user_touch(emu_knote *kn, const struct kevent *kev)
{
	unsigned ff = kev->fflags & NOTE_FFLAGSMASK;
	if (kev->fflags & NOTE_TRIGGER)
		kn->triggered = true;
	switch (kev->fflags & NOTE_FFCTRLMASK) {
	case NOTE_FFAND: kn->sfflags &= ff; break;
	case NOTE_FFOR: kn->sfflags |= ff; break;
	case NOTE_FFCOPY: kn->sfflags = ff; break;
	default: /* NOTE_FFNOP */ break;
	}
	kn->sdata = kev->data;
	/* FreeBSD resets on a change carrying EV_CLEAR, even with
	 * NOTE_TRIGGER in the same change. */
	if (kev->flags & EV_CLEAR)
		kn->triggered = false;
}

/* Refuse what is not implemented before any state changes. */
static int refuse(const struct kevent *kev)
{
	if ((kev->flags & EV_FORCEONESHOT) ||
	    (kev->flags & (EV_ADD | EV_KEEPUDATA)) == (EV_ADD | EV_KEEPUDATA))
		return EINVAL; /* the latter: kqueue(2), "not with EV_ADD" */
	switch (kev->filter) {
	case EVFILT_READ:
	case EVFILT_WRITE:
		return (kev->flags & EV_ADD) &&
				       (kev->fflags &
					(NOTE_LOWAT | NOTE_FILE_POLL)) ?
			       EINVAL :
			       0;
	case EVFILT_TIMER: return (kev->flags & EV_ADD) ? timer_check(kev) : 0;
	case EVFILT_USER: return 0;
	default: return EINVAL;
	}
}

int emu_apply(emu_kq *kq, const struct kevent *kev)
{
	int err = refuse(kev);
	if (err != 0)
		return err;
	emu_knote *kn;
	bool fdfilt = kev->filter == EVFILT_READ || kev->filter == EVFILT_WRITE;
	err = fdfilt ? fd_knote(kq, kev, &kn) : id_knote(kq, kev, &kn);
	if (err != 0)
		return err;
	if (kev->flags & EV_DELETE) {
		emu_drop(kq, kn);
		return 0;
	}
	if (!(kev->flags & EV_KEEPUDATA))
		kn->udata = kev->udata;
	if (kev->filter == EVFILT_USER) {
		user_touch(kn, kev);
	} else if (kev->filter == EVFILT_TIMER && (kev->flags & EV_ADD)) {
		if ((err = timer_arm(kn, kev)) != 0)
			return err;
	} else if (fdfilt) {
		kn->sfflags = kev->fflags;
		kn->sdata = kev->data;
	}
	/* A new knote starts enabled; afterwards only EV_ENABLE enables (a
	 * re-add leaves a disabled knote disabled) and EV_ENABLE wins over
	 * EV_DISABLE (FreeBSD's kqueue_register). */
	if (kev->flags & EV_ENABLE)
		kn->disabled = false;
	else if (kev->flags & EV_DISABLE)
		kn->disabled = true;
	if (kn->disabled)
		emu_dequeue(kn);
	else
		emu_enqueue(kq, kn);
	return 0;
}
