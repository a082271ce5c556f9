/* dx_bench_wait_poll.c - `dx bench`'s readiness layer over poll(): the
 * BSDs, macOS, Windows (WSAPoll, through bench_sys_poll) and Linux built
 * with -Dportable_fallbacks. One pollfd per live connection of the bench
 * thread, packed: a connection that ends gives its slot to the last one
 * (bconn.wslot says where each is), so a wait never scans dead entries
 * and never passes WSAPoll a socket it must skip. Each wait costs time in
 * the number of connections the thread has, which is poll's price; the
 * thread's share of -c is what it scans. */
#include <stdio.h>
#include <stdlib.h>

#include "dx_bench.h"
#include "sock.h" /* struct pollfd: <poll.h>, or <winsock2.h>'s WSAPOLLFD */

struct bwait {
	struct pollfd *pfd;
	bconn **conn;  /* conn[i] is the connection pfd[i] watches */
	unsigned n;    /* watched */
	unsigned next; /* bench_wait_next's cursor into pfd */
	int left;      /* ready entries of the last wait not handed out */
};

const char bench_wait_name[] = "poll";

bwait *bench_wait_open(bthread *t)
{
	unsigned cap = t->nconns ? t->nconns : 1;
	bwait *w = calloc(1, sizeof *w);
	if (w) {
		w->pfd = calloc(cap, sizeof *w->pfd);
		w->conn = calloc(cap, sizeof *w->conn);
	}
	if (!w || !w->pfd || !w->conn) {
		snprintf(t->why, sizeof t->why, "out of memory");
		if (w) {
			free(w->pfd);
			free(w->conn);
			free(w);
		}
		return NULL;
	}
	for (unsigned i = 0; i < t->nconns; i++) {
		bconn *c = &t->conns[i];
		w->pfd[i].fd = c->fd; /* a SOCKET again on Windows */
		w->pfd[i].events = POLLIN;
		w->conn[i] = c;
		c->wslot = i;
	}
	w->n = w->next = t->nconns;
	return w;
}

void bench_wait_out(bwait *w, bconn *c, bool out)
{
	w->pfd[c->wslot].events = (short)(POLLIN | (out ? POLLOUT : 0));
}

void bench_wait_forget(bwait *w, bconn *c)
{
	unsigned i = c->wslot, last = --w->n;
	if (i == last)
		return;
	w->pfd[i] = w->pfd[last];
	w->conn[i] = w->conn[last];
	w->conn[i]->wslot = i;
	/* c is the entry bench_wait_next just handed out (i == next - 1):
	 * the one moved into its place, not visited yet, is visited next
	 * with the revents this wait gave it. */
	if (i + 1 == w->next && last >= w->next)
		w->next = i;
}

int bench_wait(bwait *w, int timeout_ms)
{
	int n = bench_sys_poll(w->pfd, w->n, timeout_ms);
	w->next = 0;
	w->left = n > 0 ? n : 0;
	return n;
}

bconn *bench_wait_next(bwait *w, bool *in)
{
	while (w->left > 0 && w->next < w->n) {
		unsigned i = w->next++;
		short r = w->pfd[i].revents;
		if (!r)
			continue;
		w->left--;
		*in = (r & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) != 0;
		return w->conn[i];
	}
	return NULL;
}

void bench_wait_close(bwait *w)
{
	free(w->pfd);
	free(w->conn);
	free(w);
}
