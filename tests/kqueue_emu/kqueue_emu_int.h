/* kqueue_emu_int.h - the kqueue emulation's own state, shared by its
 * three files: kqueue_emu.c (the kqueue table, kqueue(), kevent()),
 * kqueue_emu_change.c (applying a change) and kqueue_emu_scan.c
 * (collecting events). What the emulation does and does not do is in
 * include/sys/event.h.
 *
 * Model: the kernel's. A knote is one (ident, filter) registration. Its
 * source (epoll for fds, a timerfd, a trigger) only *activates* it: puts
 * it on the kqueue's active list. At collection each active knote's
 * condition is checked afresh (the filter's f_event): not true, it leaves
 * the list; true, it is delivered, then deleted (EV_ONESHOT), disabled
 * (EV_DISPATCH), reset (EV_CLEAR, timers) or put back on the list to be
 * checked again next time (level-triggered).
 *
 * fds: one epoll per direction (rd_ep: EPOLLIN|EPOLLRDHUP|EPOLLET, wr_ep:
 * EPOLLOUT|EPOLLET), so a read edge never activates the write knote; the
 * kqueue's own fd (epfd, the one the caller sees) holds rd_ep, wr_ep,
 * every timerfd and the wake eventfd, all level-triggered. wake is
 * readable exactly while the active list is not empty, which makes epfd
 * readable while events are pending and wakes a thread blocked in kevent
 * when another thread activates a knote (NOTE_TRIGGER).
 *
 * Threads: kq->mu guards everything in a kq; it is dropped only around
 * the blocking epoll_wait, whose result is thrown away (events are
 * harvested again under mu), so no knote pointer outlives the lock.
 */
#ifndef DX_KQUEUE_EMU_INT_H
#define DX_KQUEUE_EMU_INT_H

#include <sys/event.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* epoll tags in epfd for what is not a timer knote's pointer. */
#define EMU_TAG_RD 1u
#define EMU_TAG_WR 2u
#define EMU_TAG_WAKE 3u

#define EMU_HASH 256u /* buckets for timer and user knotes */

/* The flags a knote keeps from the change that added it. */
#define EMU_KEPT_FLAGS (EV_ONESHOT | EV_CLEAR | EV_DISPATCH | EV_RECEIPT)

struct emu_fd;

typedef struct emu_knote {
	uintptr_t ident;
	short filter;
	unsigned short flags; /* EMU_KEPT_FLAGS */
	unsigned int sfflags; /* fflags as the caller set them */
	int64_t sdata;        /* data as the caller set it */
	void *udata;
	bool disabled;
	bool queued;                   /* on the active list */
	struct emu_knote *prev, *next; /* active list links */
	struct emu_knote *hnext;       /* timer/user hash chain */
	struct emu_fd *fd;             /* EVFILT_READ/WRITE: its fd's record */
	int tfd;                       /* EVFILT_TIMER: its timerfd */
	int64_t count;  /* EVFILT_TIMER: undelivered expirations */
	bool triggered; /* EVFILT_USER */
} emu_knote;

/* Per fd with a read or write knote: the file it named when registered
 * (dev, ino: a different file there means the fd was closed), its epoll
 * registrations and the socket error read on EOF. */
typedef struct emu_fd {
	int fd;
	dev_t dev;
	ino_t ino;
	bool sock;
	bool pipe;
	uint32_t gen; /* in the epoll data; stale events differ */
	int err;      /* SO_ERROR consumed at EOF, or 0 */
	emu_knote *rd, *wr;
} emu_fd;

typedef struct emu_kq {
	pthread_mutex_t mu;
	int epfd, rd_ep, wr_ep, wake;
	dev_t dev; /* epfd's identity, to see it was closed */
	ino_t ino;
	bool wake_set;
	uint32_t next_gen;
	emu_fd **fds; /* indexed by fd */
	size_t nfds;
	emu_knote *hash[EMU_HASH];
	emu_knote active; /* list head (circular) */
} emu_kq;

/* kqueue_emu_change.c */
int emu_apply(emu_kq *kq, const struct kevent *kev); /* 0 or errno */
void emu_drop(emu_kq *kq, emu_knote *kn);
void emu_fd_purge(emu_kq *kq, emu_fd *f);
void emu_free_all(emu_kq *kq);

/* kqueue_emu_scan.c */
void emu_enqueue(emu_kq *kq, emu_knote *kn);
void emu_dequeue(emu_knote *kn);
void emu_harvest(emu_kq *kq);
int emu_scan(emu_kq *kq, struct kevent *out, int max);

#endif
