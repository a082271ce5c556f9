/* bgqueue.c - a ring of tasks under one mutex; full means the oldest goes.
 *
 * enqueue must never block its caller (a worker, mid-request): the lock is
 * held only to move a few words, and a full queue makes room by dropping
 * the oldest task rather than waiting. The dropped task's drop(arg) runs
 * after the lock is released. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bgqueue.h"

struct dx_bg_task {
	const char *name;
	void (*fn)(void *);
	void (*drop)(void *);
	void *arg;
};

struct dx_bgqueue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct dx_bg_task *ring;
	unsigned cap, head, len;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
	dx_bg_dropped_fn dropped;
	void *ud;
	uint64_t queued, done, ndropped;
};

dx_bgqueue *dx_bgqueue_new(unsigned capacity, dx_bg_dropped_fn dropped,
			   void *ud)
{
	dx_bgqueue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->cap = capacity ? capacity : 1;
	q->ring = calloc(q->cap, sizeof *q->ring);
	if (!q->ring) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	q->dropped = dropped;
	q->ud = ud;
	return q;
}

static void *dx_bg_main(void *arg)
{
	dx_bgqueue *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->len && !q->stopping)
			pthread_cond_wait(&q->ready, &q->lock);
		if (q->stopping)
			break;
		struct dx_bg_task t = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		pthread_mutex_unlock(&q->lock);
		t.fn(t.arg);
		pthread_mutex_lock(&q->lock);
		q->done++;
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int dx_bgqueue_start(dx_bgqueue *q, unsigned threads)
{
	q->threads = calloc(threads ? threads : 1, sizeof *q->threads);
	if (!q->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < threads; i++) {
		int rc = pthread_create(&q->threads[i], NULL, dx_bg_main, q);
		if (rc != 0)
			return -rc;
		q->nthreads = i + 1;
	}
	return 0;
}

int dx_bgqueue_push(dx_bgqueue *q, const char *name, void (*fn)(void *),
		    void (*drop)(void *), void *arg)
{
	struct dx_bg_task old = {0};
	bool evicted = false;
	pthread_mutex_lock(&q->lock);
	if (q->len == q->cap) {
		old = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		q->ndropped++;
		evicted = true;
	}
	q->ring[(q->head + q->len) % q->cap] =
		(struct dx_bg_task){name, fn, drop, arg};
	q->len++;
	q->queued++;
	pthread_cond_signal(&q->ready);
	pthread_mutex_unlock(&q->lock);
	if (evicted) {
		if (old.drop)
			old.drop(old.arg);
		if (q->dropped)
			q->dropped(q->ud, old.name);
	}
	return 0;
}

void dx_bgqueue_free(dx_bgqueue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	/* What never ran is dropped, so its memory is freed. */
	while (q->len) {
		struct dx_bg_task t = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		if (t.drop)
			t.drop(t.arg);
	}
	pthread_cond_destroy(&q->ready);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q->ring);
	free(q);
}

void dx_bgqueue_stats(dx_bgqueue *q, dx_bg_stats *out)
{
	pthread_mutex_lock(&q->lock);
	*out = (dx_bg_stats){q->queued, q->done, q->ndropped, q->len, q->cap,
			     q->nthreads};
	pthread_mutex_unlock(&q->lock);
}
