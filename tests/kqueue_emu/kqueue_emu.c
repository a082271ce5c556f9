/* kqueue_emu.c - kqueue() and kevent() of the test-only kqueue emulation
 * (see include/sys/event.h for the subset and its divergences, and
 * kqueue_emu_int.h for the model).
 *
 * The table of kqueues, indexed by the epoll fd the caller holds, is the
 * emulation's stand-in for the kernel's file table: the one piece of
 * process-wide state, guarded by table_mu. The caller cannot tell us it
 * closed a kqueue (close() is the kernel's), so kqueue() sweeps the table
 * for entries whose fd no longer names their epoll and frees them.
 */
#include "kqueue_emu_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static emu_kq **table; /* indexed by epfd */
static size_t table_len;

static void kq_free(emu_kq *kq)
{
	emu_free_all(kq);
	close(kq->rd_ep);
	close(kq->wr_ep);
	close(kq->wake);
	/* epfd is the caller's and already closed (or never handed out). */
	pthread_mutex_destroy(&kq->mu);
	free(kq->fds);
	free(kq);
}

/* Free the entries whose fd was closed or now names another file. Every
 * epoll shares Linux's one anonymous inode, so a number reused by another
 * epoll (or eventfd...) is not seen here; table_put frees such an entry
 * when kqueue() gets that number. table_mu held. */
static void table_sweep(void)
{
	for (size_t i = 0; i < table_len; i++) {
		struct stat st;
		emu_kq *kq = table[i];
		if (kq == NULL)
			continue;
		if (fstat(kq->epfd, &st) == 0 && st.st_dev == kq->dev &&
		    st.st_ino == kq->ino)
			continue;
		table[i] = NULL;
		kq_free(kq);
	}
}

static int table_put(emu_kq *kq)
{
	size_t fd = (size_t)kq->epfd;
	if (fd >= table_len) {
		size_t n = table_len ? table_len : 64;
		while (n <= fd)
			n *= 2;
		emu_kq **t = realloc(table, n * sizeof *t);
		if (t == NULL)
			return -1;
		memset(t + table_len, 0, (n - table_len) * sizeof *t);
		table = t;
		table_len = n;
	}
	/* An entry already there is stale: its fd was closed, or the
	 * kernel could not have handed the number out again. */
	if (table[fd] != NULL)
		kq_free(table[fd]);
	table[fd] = kq;
	return 0;
}

static emu_kq *table_get(int fd)
{
	emu_kq *kq = NULL;
	pthread_mutex_lock(&table_mu);
	if (fd >= 0 && (size_t)fd < table_len)
		kq = table[fd];
	pthread_mutex_unlock(&table_mu);
	return kq;
}

/* Put fd into epfd, level-triggered, with data tag. */
static int ep_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static emu_kq *kq_new(void)
{
	emu_kq *kq = calloc(1, sizeof *kq);
	if (kq == NULL)
		return NULL;
	kq->epfd = kq->rd_ep = kq->wr_ep = kq->wake = -1;
	kq->active.next = kq->active.prev = &kq->active;
	pthread_mutex_init(&kq->mu, NULL);
	struct stat st;
	kq->epfd = epoll_create1(EPOLL_CLOEXEC);
	kq->rd_ep = epoll_create1(EPOLL_CLOEXEC);
	kq->wr_ep = epoll_create1(EPOLL_CLOEXEC);
	kq->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kq->epfd < 0 || kq->rd_ep < 0 || kq->wr_ep < 0 || kq->wake < 0 ||
	    ep_add(kq->epfd, kq->rd_ep, EMU_TAG_RD) < 0 ||
	    ep_add(kq->epfd, kq->wr_ep, EMU_TAG_WR) < 0 ||
	    ep_add(kq->epfd, kq->wake, EMU_TAG_WAKE) < 0 ||
	    fstat(kq->epfd, &st) < 0) {
		int e = errno;
		if (kq->epfd >= 0)
			close(kq->epfd);
		kq_free(kq);
		errno = e;
		return NULL;
	}
	kq->dev = st.st_dev;
	kq->ino = st.st_ino;
	return kq;
}

int kqueue(void)
{
	emu_kq *kq = kq_new();
	if (kq == NULL)
		return -1;
	pthread_mutex_lock(&table_mu);
	table_sweep();
	if (table_put(kq) < 0) {
		pthread_mutex_unlock(&table_mu);
		close(kq->epfd);
		kq_free(kq);
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_unlock(&table_mu);
	return kq->epfd;
}

/* Make wake readable exactly while the active list is not empty. mu held. */
static void wake_sync(emu_kq *kq)
{
	bool want = kq->active.next != &kq->active;
	uint64_t v = 1;
	if (want && !kq->wake_set) {
		if (write(kq->wake, &v, sizeof v) == (ssize_t)sizeof v)
			kq->wake_set = true;
	} else if (!want && kq->wake_set) {
		if (read(kq->wake, &v, sizeof v) == (ssize_t)sizeof v)
			kq->wake_set = false;
	}
}

/* Apply the changelist (FreeBSD's kern_kevent). The number of EV_ERROR
 * entries written to out, or -1 with errno when a change failed with no
 * room left to report it. mu held. */
static int apply_changes(emu_kq *kq, const struct kevent *ch, int n,
			 struct kevent *out, int *room)
{
	int nerr = 0;
	for (int i = 0; i < n; i++) {
		if (ch[i].filter == 0)
			continue; /* FreeBSD skips an empty slot */
		int err = emu_apply(kq, &ch[i]);
		if (err == 0 && !(ch[i].flags & EV_RECEIPT))
			continue;
		if (*room == 0) {
			/* No room: a failed change fails the call; a receipt
			 * stops it quietly. Later changes are not applied. */
			if (err == 0)
				return nerr;
			errno = err;
			return -1;
		}
		out[nerr] = ch[i];
		out[nerr].flags = EV_ERROR;
		out[nerr].data = err;
		nerr++;
		(*room)--;
	}
	return nerr;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Milliseconds left until deadline (-1: none), rounded up. */
static int ms_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ns();
	if (left <= 0)
		return 0;
	int64_t ms = (left + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int kevent(int kqfd, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout)
{
	emu_kq *kq = table_get(kqfd);
	struct stat st;
	if (kq == NULL || fstat(kqfd, &st) < 0 || st.st_dev != kq->dev ||
	    st.st_ino != kq->ino) {
		errno = EBADF;
		return -1;
	}
	if (nchanges < 0 || nevents < 0 ||
	    (nchanges > 0 && changelist == NULL) ||
	    (nevents > 0 && eventlist == NULL) ||
	    (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
				 timeout->tv_nsec >= 1000000000))) {
		errno = EINVAL;
		return -1;
	}
	int64_t deadline = -1;
	if (timeout != NULL) {
		int64_t t = timeout->tv_sec > INT64_MAX / 1000000000 - 1 ?
				    INT64_MAX / 2 :
				    (int64_t)timeout->tv_sec * 1000000000 +
					    timeout->tv_nsec;
		deadline = now_ns() + t;
	}

	pthread_mutex_lock(&kq->mu);
	int room = nevents;
	int n = apply_changes(kq, changelist, nchanges, eventlist, &room);
	if (n != 0 || nevents == 0) {
		int e = errno;
		wake_sync(kq);
		pthread_mutex_unlock(&kq->mu);
		errno = e;
		return n;
	}
	for (;;) {
		emu_harvest(kq);
		n = emu_scan(kq, eventlist, nevents);
		wake_sync(kq);
		int ms = ms_left(deadline);
		if (n > 0 || ms == 0)
			break;
		pthread_mutex_unlock(&kq->mu);
		/* Only a wait: what is ready is harvested under mu. */
		struct epoll_event ev;
		int r = epoll_wait(kq->epfd, &ev, 1, ms);
		int e = errno;
		pthread_mutex_lock(&kq->mu);
		if (r < 0) {
			pthread_mutex_unlock(&kq->mu);
			errno = e;
			return -1;
		}
	}
	pthread_mutex_unlock(&kq->mu);
	return n;
}
