/* bgqueue.h - the host's background queue: bounded, never blocking the
 * caller, served by host-owned threads. */
#ifndef DX_HOST_BGQUEUE_H
#define DX_HOST_BGQUEUE_H

#include <stdint.h>

#include "diag.h"

typedef struct dx_bgqueue dx_bgqueue;

/* Called (outside the queue's lock) for every task dropped because the
 * queue was full, with the task's name: the host logs and counts it. */
typedef void (*dx_bg_dropped_fn)(void *ud, const char *name);

dx_bgqueue *dx_bgqueue_new(unsigned capacity, dx_bg_dropped_fn dropped,
			   void *ud);
/* Start threads (0: none yet; tasks wait). 0 or a negative errno. */
int dx_bgqueue_start(dx_bgqueue *q, unsigned threads);
/* Never blocks beyond a short critical section. 0 or -ENOMEM. */
int dx_bgqueue_push(dx_bgqueue *q, const char *name, void (*fn)(void *),
		    void (*drop)(void *), void *arg);
/* Stop: running tasks finish, queued ones are dropped (drop(arg)),
 * threads joined. Then free. */
void dx_bgqueue_free(dx_bgqueue *q);

typedef struct dx_bg_stats {
	uint64_t queued, done, dropped;
	unsigned length, capacity, threads;
} dx_bg_stats;
void dx_bgqueue_stats(dx_bgqueue *q, dx_bg_stats *out);

#endif
